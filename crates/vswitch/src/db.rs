//! The switch's persistent database: a redb file in the run directory.
//!
//! redb commits are atomic and durable (copy-on-write B-trees with a
//! checksummed commit slot), so a daemon killed mid-write comes back with
//! either the old or the new configuration, never a mix. The whole
//! [`Config`] is one JSON record: it is small, and writing it whole keeps
//! every vsctl transaction a single commit. Flows are stored per bridge only
//! with `--persist-flows` (OVS leaves them to the controller).

use std::path::{Path, PathBuf};

use redb::{Database, TableDefinition};

use crate::error::DbError;
use crate::schema::Config;

const CONFIG: TableDefinition<&str, &[u8]> = TableDefinition::new("config");
const FLOWS: TableDefinition<&str, &[u8]> = TableDefinition::new("flows");
const CONFIG_KEY: &str = "config.v1";

/// The database handle.
pub struct Db {
    db: Database,
    path: PathBuf,
}

impl Db {
    /// Open (or create) the database file at `path`.
    pub fn open(path: &Path) -> Result<Db, DbError> {
        let db = Database::create(path).map_err(|e| redb_err(path, e))?;
        let me = Db {
            db,
            path: path.to_owned(),
        };
        // Create the tables so that readers never meet a missing table.
        let tx = me.db.begin_write().map_err(|e| me.err(e))?;
        {
            tx.open_table(CONFIG).map_err(|e| me.err(e))?;
            tx.open_table(FLOWS).map_err(|e| me.err(e))?;
        }
        tx.commit().map_err(|e| me.err(e))?;
        Ok(me)
    }

    fn err(&self, e: impl Into<redb::Error>) -> DbError {
        redb_err(&self.path, e)
    }

    /// The stored configuration (empty on a fresh database).
    pub fn load_config(&self) -> Result<Config, DbError> {
        match self.get(CONFIG, CONFIG_KEY)? {
            None => Ok(Config::default()),
            Some(bytes) => serde_json::from_slice(&bytes).map_err(|source| DbError::Decode {
                path: self.path.display().to_string(),
                key: CONFIG_KEY.to_owned(),
                source,
            }),
        }
    }

    /// Store the configuration (one durable commit).
    pub fn save_config(&self, cfg: &Config) -> Result<(), DbError> {
        // Serializing plain structs with string keys cannot fail.
        let bytes = serde_json::to_vec(cfg).unwrap_or_default();
        self.put(CONFIG, CONFIG_KEY, Some(&bytes))
    }

    /// The flows stored for `bridge`, in ovs-ofctl text, one per line.
    pub fn load_flows(&self, bridge: &str) -> Result<Vec<String>, DbError> {
        match self.get(FLOWS, bridge)? {
            None => Ok(Vec::new()),
            Some(bytes) => serde_json::from_slice(&bytes).map_err(|source| DbError::Decode {
                path: self.path.display().to_string(),
                key: bridge.to_owned(),
                source,
            }),
        }
    }

    /// Replace the stored flows of `bridge` (`None` removes them).
    pub fn save_flows(&self, bridge: &str, flows: Option<&[String]>) -> Result<(), DbError> {
        let bytes = flows.map(|f| serde_json::to_vec(f).unwrap_or_default());
        self.put(FLOWS, bridge, bytes.as_deref())
    }

    fn get(&self, t: TableDefinition<&str, &[u8]>, key: &str) -> Result<Option<Vec<u8>>, DbError> {
        let tx = self.db.begin_read().map_err(|e| self.err(e))?;
        let table = tx.open_table(t).map_err(|e| self.err(e))?;
        let v = table.get(key).map_err(|e| self.err(e))?;
        Ok(v.map(|g| g.value().to_vec()))
    }

    fn put(
        &self,
        t: TableDefinition<&str, &[u8]>,
        key: &str,
        val: Option<&[u8]>,
    ) -> Result<(), DbError> {
        let tx = self.db.begin_write().map_err(|e| self.err(e))?;
        {
            let mut table = tx.open_table(t).map_err(|e| self.err(e))?;
            match val {
                Some(v) => {
                    table.insert(key, v).map_err(|e| self.err(e))?;
                }
                None => {
                    table.remove(key).map_err(|e| self.err(e))?;
                }
            }
        }
        tx.commit().map_err(|e| self.err(e))
    }
}

fn redb_err(path: &Path, e: impl Into<redb::Error>) -> DbError {
    DbError::Redb {
        path: path.display().to_string(),
        source: Box::new(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Bridge;

    #[test]
    fn config_and_flows_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("conf.db");
        let mut cfg = Config::default();
        cfg.bridges.insert(
            "br0".into(),
            Bridge {
                name: "br0".into(),
                ..Default::default()
            },
        );
        {
            let db = Db::open(&path).unwrap();
            assert_eq!(db.load_config().unwrap(), Config::default());
            db.save_config(&cfg).unwrap();
            db.save_flows("br0", Some(&["priority=0 actions=NORMAL".into()]))
                .unwrap();
        }
        let db = Db::open(&path).unwrap();
        assert_eq!(db.load_config().unwrap(), cfg);
        assert_eq!(
            db.load_flows("br0").unwrap(),
            vec!["priority=0 actions=NORMAL"]
        );
        db.save_flows("br0", None).unwrap();
        assert!(db.load_flows("br0").unwrap().is_empty());
    }
}
