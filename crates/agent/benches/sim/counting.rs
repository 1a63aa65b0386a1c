//! A store that counts what the agents read from it: the simulation's
//! measure of the store traffic a change causes besides the watch (an
//! etcd back end would serve each of these as a range request).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use store::{Compare, LeaseId, Op, Record, Result, Store, Watch};

/// Reads so far: requests, records returned, value bytes returned.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Reads {
    pub requests: u64,
    pub records: u64,
    pub bytes: u64,
}

impl std::ops::Sub for Reads {
    type Output = Reads;
    fn sub(self, o: Reads) -> Reads {
        Reads {
            requests: self.requests - o.requests,
            records: self.records - o.records,
            bytes: self.bytes - o.bytes,
        }
    }
}

/// [`Store`] around another, counting `get` and `list`.
pub struct Counting<S> {
    inner: S,
    requests: AtomicU64,
    records: AtomicU64,
    bytes: AtomicU64,
}

impl<S: Store> Counting<S> {
    pub fn new(inner: S) -> Self {
        Counting {
            inner,
            requests: AtomicU64::new(0),
            records: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
        }
    }

    pub fn reads(&self) -> Reads {
        Reads {
            requests: self.requests.load(Ordering::Relaxed),
            records: self.records.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
        }
    }

    fn count<'a>(&self, recs: impl Iterator<Item = &'a Record>) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        for r in recs {
            self.records.fetch_add(1, Ordering::Relaxed);
            self.bytes
                .fetch_add(r.value.len() as u64, Ordering::Relaxed);
        }
    }
}

impl<S: Store> Store for Counting<S> {
    fn get(&self, kind: &str, id: &str) -> Result<Option<Record>> {
        let r = self.inner.get(kind, id)?;
        self.count(r.iter());
        Ok(r)
    }
    fn list(&self, kind: &str) -> Result<Vec<Record>> {
        let v = self.inner.list(kind)?;
        self.count(v.iter());
        Ok(v)
    }
    fn revision(&self) -> Result<u64> {
        self.inner.revision()
    }
    fn commit(&self, compares: &[Compare], ops: &[Op]) -> Result<u64> {
        self.inner.commit(compares, ops)
    }
    fn watch(&self, after: u64) -> Result<Watch> {
        self.inner.watch(after)
    }
    fn lease_grant(&self, ttl: Duration) -> Result<LeaseId> {
        self.inner.lease_grant(ttl)
    }
    fn lease_keep_alive(&self, lease: LeaseId) -> Result<()> {
        self.inner.lease_keep_alive(lease)
    }
    fn lease_revoke(&self, lease: LeaseId) -> Result<()> {
        self.inner.lease_revoke(lease)
    }
    fn put_leased(&self, kind: &str, id: &str, value: Vec<u8>, lease: LeaseId) -> Result<u64> {
        self.inner.put_leased(kind, id, value, lease)
    }
    fn put_leased_many(
        &self,
        kind: &str,
        items: &[(String, Vec<u8>)],
        lease: LeaseId,
    ) -> Result<u64> {
        self.inner.put_leased_many(kind, items, lease)
    }
}
