//! Small values kept beside the data: the engine revision of the last scan, the
//! feature space of each model's clustering, the signature of each stored map.

use super::Catalogue;
use anyhow::Result;
use rusqlite::OptionalExtension;

impl Catalogue {
    pub fn meta(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()?)
    }

    pub fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        self.conn.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
            [key, value],
        )?;
        Ok(())
    }
}
