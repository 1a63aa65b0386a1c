//! Choosing a back end from one string, as `--store` takes it:
//! `etcd://HOST:PORT[,HOST:PORT…][/PREFIX]` for an etcd cluster (keys under
//! `/PREFIX/`, default [`crate::DEFAULT_PREFIX`]), `redb:PATH` or a plain
//! path for the embedded file (a directory means its `cloudnet.redb`).

use std::path::PathBuf;
use std::sync::Arc;

use crate::{EtcdStore, RedbStore, Result, Store, StoreError, DEFAULT_PREFIX};

/// File name of the embedded store inside a data directory.
pub const REDB_FILE: &str = "cloudnet.redb";

/// A parsed store spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Spec {
    Etcd {
        /// `host:port` of each member.
        endpoints: Vec<String>,
        prefix: String,
    },
    Redb(PathBuf),
}

impl Spec {
    pub fn parse(spec: &str) -> Result<Spec> {
        let bad = |why| StoreError::BadSpec(spec.to_string(), why);
        if let Some(rest) = spec.strip_prefix("etcd://") {
            let (hosts, prefix) = match rest.split_once('/') {
                Some((h, p)) => (h, p.trim_end_matches('/')),
                None => (rest, DEFAULT_PREFIX),
            };
            if prefix.is_empty() || prefix.contains('/') {
                return Err(bad("the prefix is one non-empty path segment"));
            }
            let endpoints: Vec<String> = hosts.split(',').map(str::to_string).collect();
            for e in &endpoints {
                let ok = e
                    .rsplit_once(':')
                    .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok());
                if !ok {
                    return Err(bad("each endpoint is HOST:PORT"));
                }
            }
            return Ok(Spec::Etcd {
                endpoints,
                prefix: prefix.to_string(),
            });
        }
        if spec.contains("://") {
            return Err(bad("unknown scheme; expected etcd://, redb: or a path"));
        }
        let path = spec.strip_prefix("redb:").unwrap_or(spec);
        if path.is_empty() {
            return Err(bad("empty path"));
        }
        Ok(Spec::Redb(PathBuf::from(path)))
    }

    /// Open the back end the spec names. For a path that is a directory
    /// (created if it does not exist and ends in `/`), the file
    /// [`REDB_FILE`] inside it.
    pub fn open(&self) -> Result<Arc<dyn Store>> {
        match self {
            Spec::Etcd { endpoints, prefix } => {
                Ok(Arc::new(EtcdStore::connect(endpoints, prefix)?))
            }
            Spec::Redb(path) => {
                let file = if path.is_dir() {
                    path.join(REDB_FILE)
                } else {
                    path.clone()
                };
                Ok(Arc::new(RedbStore::open(file)?))
            }
        }
    }
}

/// Open the store `spec` names (see the module doc).
pub fn open(spec: &str) -> Result<Arc<dyn Store>> {
    Spec::parse(spec)?.open()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs() {
        assert_eq!(
            Spec::parse("etcd://127.0.0.1:2379,10.0.0.2:2379/dev").unwrap(),
            Spec::Etcd {
                endpoints: vec!["127.0.0.1:2379".into(), "10.0.0.2:2379".into()],
                prefix: "dev".into()
            }
        );
        assert_eq!(
            Spec::parse("etcd://h:1").unwrap(),
            Spec::Etcd {
                endpoints: vec!["h:1".into()],
                prefix: DEFAULT_PREFIX.into()
            }
        );
        assert_eq!(
            Spec::parse("redb:/x/y.redb").unwrap(),
            Spec::Redb("/x/y.redb".into())
        );
        assert_eq!(
            Spec::parse("/var/lib/c").unwrap(),
            Spec::Redb("/var/lib/c".into())
        );
        for bad in [
            "etcd://h",
            "etcd://h:x",
            "etcd://:1",
            "etcd://h:1/a/b",
            "http://h:1",
            "redb:",
        ] {
            assert!(
                matches!(Spec::parse(bad), Err(StoreError::BadSpec(..))),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_directory_means_its_redb_file() {
        let dir = tempfile::tempdir().unwrap();
        let s = open(dir.path().to_str().unwrap()).unwrap();
        s.commit(
            &[],
            &[crate::Op::Put {
                kind: "k".into(),
                id: "i".into(),
                value: vec![1],
            }],
        )
        .unwrap();
        assert!(dir.path().join(REDB_FILE).exists());
    }
}
