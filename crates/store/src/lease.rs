//! Leases of the embedded store, kept in memory: the embedded store lives
//! in one process, so a lease cannot outlive it, and keys that were leased
//! when the process ended are deleted when the file is opened again.
//!
//! The bookkeeping is pure (every call takes `now`), so expiry is tested
//! without waiting; [`crate::RedbStore`] drives it from a reaper thread.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use crate::LeaseId;

/// One key, as `(kind, id)`.
pub(crate) type Key = (String, String);

struct Lease {
    ttl: Duration,
    deadline: Instant,
    keys: BTreeSet<Key>,
}

/// The live leases and the keys attached to them.
#[derive(Default)]
pub(crate) struct Leases {
    next: LeaseId,
    leases: BTreeMap<LeaseId, Lease>,
    /// Key → the lease it is attached to.
    owner: BTreeMap<Key, LeaseId>,
}

impl Leases {
    pub fn grant(&mut self, ttl: Duration, now: Instant) -> LeaseId {
        self.next += 1;
        self.leases.insert(
            self.next,
            Lease {
                ttl,
                deadline: now + ttl,
                keys: BTreeSet::new(),
            },
        );
        self.next
    }

    /// Renew; false when the lease is unknown or already past its deadline.
    pub fn keep_alive(&mut self, id: LeaseId, now: Instant) -> bool {
        match self.leases.get_mut(&id) {
            Some(l) if l.deadline > now => {
                l.deadline = now + l.ttl;
                true
            }
            _ => false,
        }
    }

    pub fn is_live(&self, id: LeaseId, now: Instant) -> bool {
        self.leases.get(&id).is_some_and(|l| l.deadline > now)
    }

    /// Attach `key` to `id` (detaching it from any other lease).
    pub fn attach(&mut self, key: Key, id: LeaseId) {
        self.detach(&key);
        if let Some(l) = self.leases.get_mut(&id) {
            l.keys.insert(key.clone());
            self.owner.insert(key, id);
        }
    }

    /// A plain put or a delete of `key` ends its attachment.
    pub fn detach(&mut self, key: &Key) {
        if let Some(id) = self.owner.remove(key) {
            if let Some(l) = self.leases.get_mut(&id) {
                l.keys.remove(key);
            }
        }
    }

    /// Remove a lease, returning the keys to delete.
    pub fn remove(&mut self, id: LeaseId) -> Option<Vec<Key>> {
        let l = self.leases.remove(&id)?;
        for k in &l.keys {
            self.owner.remove(k);
        }
        Some(l.keys.into_iter().collect())
    }

    /// Leases past their deadline at `now`.
    pub fn expired(&self, now: Instant) -> Vec<LeaseId> {
        self.leases
            .iter()
            .filter(|(_, l)| l.deadline <= now)
            .map(|(id, _)| *id)
            .collect()
    }

    /// The earliest deadline, for the reaper's sleep.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.leases.values().map(|l| l.deadline).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: &str) -> Key {
        ("chassis".into(), id.into())
    }

    #[test]
    fn expiry_follows_keep_alive() {
        let t0 = Instant::now();
        let mut ls = Leases::default();
        let id = ls.grant(Duration::from_secs(2), t0);
        ls.attach(key("a"), id);
        assert!(ls.expired(t0 + Duration::from_secs(1)).is_empty());
        assert!(ls.keep_alive(id, t0 + Duration::from_secs(1)));
        assert!(ls.expired(t0 + Duration::from_millis(2500)).is_empty());
        assert_eq!(ls.expired(t0 + Duration::from_secs(3)), vec![id]);
        assert!(!ls.keep_alive(id, t0 + Duration::from_secs(3)));
        assert_eq!(ls.remove(id), Some(vec![key("a")]));
        assert_eq!(ls.remove(id), None);
    }

    #[test]
    fn plain_put_detaches() {
        let t0 = Instant::now();
        let mut ls = Leases::default();
        let id = ls.grant(Duration::from_secs(1), t0);
        ls.attach(key("a"), id);
        ls.attach(key("b"), id);
        ls.detach(&key("a"));
        assert_eq!(ls.remove(id), Some(vec![key("b")]));
    }
}
