//! Errors a person can act on, typed so that front ends can tell them apart (the
//! HTTP API answers 404, 409 or 422 for them, 500 for anything else). They travel
//! inside `anyhow::Error` like every other error of the engine, with their context;
//! [`kind_of`] finds them again.

/// What a person asked for cannot be done as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// There is no such video, cluster, frame...
    #[error("{0}")]
    NotFound(String),
    /// It clashes with the current state: a name already taken, a job already
    /// running, nothing left to undo.
    #[error("{0}")]
    Conflict(String),
    /// The request itself is wrong: an empty name, an unknown mode, not a folder.
    #[error("{0}")]
    Invalid(String),
}

impl Error {
    pub fn not_found(msg: impl Into<String>) -> anyhow::Error {
        Error::NotFound(msg.into()).into()
    }

    pub fn conflict(msg: impl Into<String>) -> anyhow::Error {
        Error::Conflict(msg.into()).into()
    }

    pub fn invalid(msg: impl Into<String>) -> anyhow::Error {
        Error::Invalid(msg.into()).into()
    }
}

/// The typed error somewhere in `e`'s chain, if there is one.
pub fn kind_of(e: &anyhow::Error) -> Option<&Error> {
    e.chain().find_map(|c| c.downcast_ref::<Error>())
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn the_kind_survives_added_context() {
        let e: anyhow::Result<()> = Err(Error::conflict("taken"));
        let e = e.context("renaming").unwrap_err();
        assert_eq!(kind_of(&e), Some(&Error::Conflict("taken".into())));
        assert_eq!(kind_of(&anyhow::anyhow!("disk on fire")), None);
        assert_eq!(format!("{e:#}"), "renaming: taken");
    }
}
