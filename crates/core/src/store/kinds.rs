//! The states and kinds the catalogue records, as types: stored as the short texts
//! the schema's CHECK constraints allow, compared as enums everywhere else.

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};

/// An enum stored as one of a fixed set of texts.
macro_rules! stored_text {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        #[cfg_attr(feature = "ts", derive(ts_rs::TS))]
        pub enum $name {
            $($(#[$vdoc])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            /// The text stored in the catalogue (and shown in JSON).
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            pub fn parse(s: &str) -> Option<$name> {
                match s {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(self.as_str()))
            }
        }

        impl FromSql for $name {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                let text = value.as_str()?;
                $name::parse(text).ok_or_else(|| {
                    FromSqlError::Other(format!("{text:?} is not a {}", stringify!($name)).into())
                })
            }
        }
    };
}

stored_text!(
    /// Whether a video can be used.
    VideoStatus {
        Ok = "ok",
        /// A stage could not use it (the reason is stored with it).
        Failed = "failed",
        /// The file is no longer there.
        Gone = "gone",
    }
);

stored_text!(
    /// Who chose something: the clustering, or the person (kept by re-clustering).
    Source {
        Auto = "auto",
        User = "user",
    }
);

stored_text!(
    /// A cluster of similar videos, or the bin of videos that fit none.
    ClusterKind {
        Normal = "normal",
        Unsorted = "unsorted",
    }
);

stored_text!(
    /// How an apply puts videos into their folders.
    Mode {
        /// Rename on the same filesystem; copy + verify + delete across filesystems.
        Move = "move",
        /// Hard links (symbolic links where hard links are impossible); originals stay.
        Link = "link",
        /// Independent copies; originals stay.
        Copy = "copy",
    }
);

stored_text!(
    /// Where a batch of file operations is.
    BatchState {
        Running = "running",
        Done = "done",
        Undoing = "undoing",
        Undone = "undone",
    }
);

stored_text!(
    /// One file operation of a batch.
    OpKind {
        Mkdir = "mkdir",
        Move = "move",
        Link = "link",
        Copy = "copy",
    }
);

stored_text!(
    /// Where one file operation is.
    OpState {
        Pending = "pending",
        Done = "done",
        Failed = "failed",
        Undone = "undone",
        UndoFailed = "undo_failed",
    }
);

impl From<Mode> for OpKind {
    fn from(m: Mode) -> OpKind {
        match m {
            Mode::Move => OpKind::Move,
            Mode::Link => OpKind::Link,
            Mode::Copy => OpKind::Copy,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_round_trip_and_unknown_texts_are_refused() {
        for s in [VideoStatus::Ok, VideoStatus::Failed, VideoStatus::Gone] {
            assert_eq!(VideoStatus::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{s}\""));
        }
        assert_eq!(OpState::parse("undo_failed"), Some(OpState::UndoFailed));
        assert_eq!(Source::parse("robot"), None);
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let got: ClusterKind = conn
            .query_row("SELECT ?1", [ClusterKind::Unsorted], |r| r.get(0))
            .unwrap();
        assert_eq!(got, ClusterKind::Unsorted);
        let bad: rusqlite::Result<Mode> = conn.query_row("SELECT 'teleport'", [], |r| r.get(0));
        assert!(bad.is_err());
    }
}
