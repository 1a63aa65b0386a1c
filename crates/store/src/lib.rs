//! The intent store: one trait, [`Store`], with a global revision, a
//! per-key version, compare-and-swap transactions and watch from a
//! revision — the model of etcd v3 (revisions, `mod_revision`, `version`,
//! txn compare), so that an etcd back end can sit behind the same trait.
//! [`RedbStore`] is the embedded back end: one file, crash-safe (redb commits
//! are durable and atomic), each [`Store::commit`] one write transaction.
//! [`EtcdStore`] is the shared back end on an etcd v3 cluster, for several
//! stateless API servers and an agent per host. [`open`] picks one from a
//! spec (`etcd://host:port,…/prefix` or a file path).
#![forbid(unsafe_code)]

mod etcd;
mod lease;
mod open;
mod redb_store;
mod watch;

pub use etcd::{EtcdStore, DEFAULT_PREFIX};
pub use open::{open, Spec, REDB_FILE};
pub use redb_store::RedbStore;
pub use watch::Watch;

/// A lease's ID, as etcd numbers them (a positive 64-bit integer).
pub type LeaseId = i64;

/// One stored object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Collection (e.g. `networks`).
    pub kind: String,
    pub id: String,
    pub value: Vec<u8>,
    /// Global revision of the last change to this key.
    pub mod_revision: u64,
    /// Number of puts since the key was created (1 after creation).
    pub version: u64,
}

/// One write inside a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Put {
        kind: String,
        id: String,
        value: Vec<u8>,
    },
    Delete {
        kind: String,
        id: String,
    },
}

/// A condition a transaction needs to hold, checked atomically with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compare {
    pub kind: String,
    pub id: String,
    /// Expected `version` of the key; 0 means "must not exist".
    pub version: u64,
}

/// What a watcher receives: every change, in revision order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub revision: u64,
    pub kind: String,
    pub id: String,
    /// `None` for a delete.
    pub value: Option<Vec<u8>>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A [`Compare`] failed: someone else changed the key first.
    #[error("conflict on {kind}/{id}: expected version {expected}, found {found}")]
    Conflict {
        kind: String,
        id: String,
        expected: u64,
        found: u64,
    },
    /// Watch from a revision older than the retained history.
    #[error("revision {0} has been compacted")]
    Compacted(u64),
    #[error("invalid key component {0:?}: must be non-empty and contain no '/'")]
    InvalidKey(String),
    #[error("corrupt record {0}")]
    Corrupt(String),
    /// The lease expired, was revoked, or never existed.
    #[error("lease {0} not found (expired or revoked)")]
    LeaseNotFound(LeaseId),
    #[error("store back end: {0}")]
    Backend(String),
    /// A store spec (`--store`) that names no back end.
    #[error("bad store spec {0:?}: {1}")]
    BadSpec(String, &'static str),
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// The intent store. Implementations are safe to share between threads.
pub trait Store: Send + Sync {
    /// One object, or `None`.
    fn get(&self, kind: &str, id: &str) -> Result<Option<Record>>;
    /// Every object of a collection, in ID order.
    fn list(&self, kind: &str) -> Result<Vec<Record>>;
    /// Current global revision (0 for an empty store).
    fn revision(&self) -> Result<u64>;
    /// Check `compares`, then apply `ops`, atomically and durably. Returns
    /// the new revision (unchanged if `ops` is empty).
    fn commit(&self, compares: &[Compare], ops: &[Op]) -> Result<u64>;
    /// Events with revision > `after`, then every later one as committed.
    fn watch(&self, after: u64) -> Result<Watch>;

    /// Grant a lease of `ttl` (etcd's `LeaseGrant`). Keys put under it
    /// ([`Store::put_leased`]) are deleted, with ordinary delete events, when
    /// it is revoked or not kept alive within `ttl`: how a host publishes
    /// that it is alive (a chassis record), as Calico and Cilium do on etcd.
    fn lease_grant(&self, ttl: std::time::Duration) -> Result<LeaseId> {
        let _ = ttl;
        Err(StoreError::Backend("this store has no leases".into()))
    }
    /// Renew a lease for another TTL; [`StoreError::LeaseNotFound`] once
    /// it has expired (its keys are gone: grant a new one and put again).
    fn lease_keep_alive(&self, lease: LeaseId) -> Result<()> {
        Err(StoreError::LeaseNotFound(lease))
    }
    /// End a lease now, deleting its keys.
    fn lease_revoke(&self, lease: LeaseId) -> Result<()> {
        Err(StoreError::LeaseNotFound(lease))
    }
    /// Put one key attached to `lease` (etcd's put with a lease). A later
    /// plain put or delete of the key detaches it. Returns the revision.
    fn put_leased(&self, kind: &str, id: &str, value: Vec<u8>, lease: LeaseId) -> Result<u64> {
        let _ = (kind, id, value);
        Err(StoreError::LeaseNotFound(lease))
    }

    /// [`Store::put_leased`] of several keys of `kind`, in as few
    /// transactions as the back end allows (an agent claiming the ports
    /// of its host at start: one commit, not one per port). Returns the
    /// revision of the last write; 0 when `items` is empty.
    fn put_leased_many(
        &self,
        kind: &str,
        items: &[(String, Vec<u8>)],
        lease: LeaseId,
    ) -> Result<u64> {
        let mut rev = 0;
        for (id, v) in items {
            rev = self.put_leased(kind, id, v.clone(), lease)?;
        }
        Ok(rev)
    }
}

pub(crate) fn check_key(s: &str) -> Result<()> {
    if s.is_empty() || s.contains('/') {
        return Err(StoreError::InvalidKey(s.to_string()));
    }
    Ok(())
}
