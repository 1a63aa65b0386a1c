//! The etcd back end: the [`Store`] trait on an etcd v3 cluster, so that
//! several API servers and an agent per host share one intent (as Calico
//! and Cilium keep theirs in etcd).
//!
//! Mapping (etcd API reference, "KV", "Watch", "Lease" services):
//! - a record is the key `/<prefix>/<kind>/<id>`; its `mod_revision` and
//!   `version` are etcd's own, [`Store::revision`] the header revision;
//! - [`Store::commit`] is one `Txn`: each [`Compare`] is `version == N`
//!   (0: the key must not exist), the ops are its success branch, and its
//!   failure branch reads the compared keys, so a
//!   [`StoreError::Conflict`] names the version found at that very revision;
//! - [`Store::list`] is one prefix range read, in key order;
//! - [`Store::watch`] is a prefix watch from `after + 1`, fed into the
//!   same [`Watch`] channel by a task that reconnects (see [`watch`]);
//! - leases are etcd leases.
//!
//! Writes whose answer is lost (a leader killed mid-proposal) are re-read
//! before being sent again, never resent blindly: see [`txn`].

mod rpc;
mod txn;
mod watch;

use std::sync::Arc;
use std::time::Duration;

use etcd_client::{Client, ConnectOptions, GetOptions, KeyValue, KvClient, PutOptions, Txn, TxnOp};

use crate::watch::Watch;
use crate::{check_key, Compare, LeaseId, Op, Record, Result, Store, StoreError};
use rpc::{backend, Bridge, RetryError, Safety};

/// Largest answer accepted from etcd (a full list of 20,000 ports is tens
/// of MB; tonic's default is 4 MiB).
const MAX_MESSAGE: usize = 256 << 20;
/// Default key prefix.
pub const DEFAULT_PREFIX: &str = "cloudnet";

/// A [`Store`] on an etcd v3 cluster.
pub struct EtcdStore {
    inner: Arc<Shared>,
    // Declared last: dropped after every client handle above.
    bridge: Bridge,
}

/// What the runtime's tasks need.
pub(crate) struct Shared {
    client: Client,
    kv: KvClient,
    /// `/<prefix>/`, with both slashes.
    root: String,
}

impl Shared {
    fn key(&self, kind: &str, id: &str) -> String {
        format!("{}{kind}/{id}", self.root)
    }

    /// `(kind, id)` of a key under the root, or `None` for a foreign key.
    pub(crate) fn split<'a>(&self, key: &'a [u8]) -> Option<(&'a str, &'a str)> {
        let rest = std::str::from_utf8(key)
            .ok()?
            .strip_prefix(self.root.as_str())?;
        let (kind, id) = rest.split_once('/')?;
        (!kind.is_empty() && !id.is_empty() && !id.contains('/')).then_some((kind, id))
    }

    fn record(&self, kv: &KeyValue) -> Result<Record> {
        let (kind, id) = self
            .split(kv.key())
            .ok_or_else(|| StoreError::Corrupt(String::from_utf8_lossy(kv.key()).into_owned()))?;
        Ok(Record {
            kind: kind.to_string(),
            id: id.to_string(),
            value: kv.value().to_vec(),
            mod_revision: to_u64(kv.mod_revision()),
            version: to_u64(kv.version()),
        })
    }
}

/// etcd's revisions and versions are non-negative `int64`s.
fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn header_revision(h: Option<&etcd_client::ResponseHeader>) -> Result<u64> {
    h.map(|h| to_u64(h.revision()))
        .ok_or_else(|| StoreError::Backend("etcd answer without a header".into()))
}

impl EtcdStore {
    /// Connect to `endpoints` (`host:port` or `http://host:port`), keys
    /// under `/<prefix>/`. Waits (bounded) until a member answers.
    pub fn connect(endpoints: &[String], prefix: &str) -> Result<EtcdStore> {
        check_key(prefix)?;
        let bridge = Bridge::new()?;
        let eps: Vec<String> = endpoints
            .iter()
            .map(|e| {
                if e.contains("://") {
                    e.clone()
                } else {
                    format!("http://{e}")
                }
            })
            .collect();
        let opts = ConnectOptions::new()
            .with_connect_timeout(Duration::from_secs(2))
            // HTTP/2 pings notice a member that went away without a FIN.
            .with_keep_alive(Duration::from_secs(2), Duration::from_secs(2))
            .with_keep_alive_while_idle(true)
            // A member cut off from the quorum refuses, so the retry goes
            // to one that can answer (and a watch moves over).
            .with_require_leader(true);
        let client = bridge
            .run(async move { Client::connect(eps, Some(opts)).await })?
            .map_err(|e| backend("connect", e))?;
        let kv = client.kv_client().max_decoding_message_size(MAX_MESSAGE);
        let store = EtcdStore {
            inner: Arc::new(Shared {
                client,
                kv,
                root: format!("/{prefix}/"),
            }),
            bridge,
        };
        store.revision()?;
        Ok(store)
    }

    /// Run `f(shared)` on the runtime.
    fn call<T, F, Fut>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(Arc<Shared>) -> Fut,
        Fut: std::future::Future<Output = Result<T>> + Send + 'static,
    {
        self.bridge.run(f(self.inner.clone()))?
    }

    /// Compact the history up to `revision` (etcd's `Compact`): watches
    /// from before it end with [`StoreError::Compacted`]. For tests and
    /// operators; etcd's `--auto-compaction-*` does it in production.
    pub fn compact(&self, revision: u64) -> Result<()> {
        self.call(move |s| async move {
            rpc::retry("compact", Safety::Idempotent, || {
                let mut kv = s.kv.clone();
                async move { kv.compact(to_i64(revision), None).await }
            })
            .await
            .map(|_| ())
            .map_err(|e| e.into_store("compact"))
        })
    }
}

async fn range(s: &Shared, key: String, opts: GetOptions) -> Result<etcd_client::GetResponse> {
    rpc::retry("range", Safety::Idempotent, || {
        let (mut kv, key, opts) = (s.kv.clone(), key.clone(), opts.clone());
        async move { kv.get(key, Some(opts)).await }
    })
    .await
    .map_err(|e| match e {
        RetryError::Etcd(e) if rpc::compacted(&e) => StoreError::Compacted(0),
        e => e.into_store("range"),
    })
}

fn lease_err(lease: LeaseId, what: &str) -> impl Fn(RetryError) -> StoreError + '_ {
    move |e| match e {
        RetryError::Etcd(e) if rpc::lease_not_found(&e) => StoreError::LeaseNotFound(lease),
        e => e.into_store(what),
    }
}

impl Store for EtcdStore {
    fn get(&self, kind: &str, id: &str) -> Result<Option<Record>> {
        check_key(kind)?;
        check_key(id)?;
        let key = self.inner.key(kind, id);
        self.call(move |s| async move {
            let r = range(&s, key, GetOptions::new()).await?;
            r.kvs().first().map(|kv| s.record(kv)).transpose()
        })
    }

    fn list(&self, kind: &str) -> Result<Vec<Record>> {
        check_key(kind)?;
        let key = format!("{}{kind}/", self.inner.root);
        self.call(move |s| async move {
            // A range is returned in key order (etcd sorts by key).
            let r = range(&s, key, GetOptions::new().with_prefix()).await?;
            r.kvs().iter().map(|kv| s.record(kv)).collect()
        })
    }

    fn revision(&self) -> Result<u64> {
        let key = self.inner.root.clone();
        self.call(move |s| async move {
            let opts = GetOptions::new().with_prefix().with_count_only();
            header_revision(range(&s, key, opts).await?.header())
        })
    }

    fn commit(&self, compares: &[Compare], ops: &[Op]) -> Result<u64> {
        let (compares, ops) = (compares.to_vec(), ops.to_vec());
        self.call(move |s| txn::commit(s, compares, ops))
    }

    fn watch(&self, after: u64) -> Result<Watch> {
        // A start revision that is already compacted is reported now, as
        // the embedded store does; one compacted later, through the watch.
        let current = self.revision()?;
        if after < current {
            let key = self.inner.root.clone();
            let opts = GetOptions::new()
                .with_prefix()
                .with_count_only()
                .with_revision(to_i64(after + 1));
            self.call(move |s| async move {
                match range(&s, key, opts).await {
                    Err(StoreError::Compacted(_)) => Err(StoreError::Compacted(after)),
                    r => r.map(|_| ()),
                }
            })?;
        }
        watch::start(&self.bridge, self.inner.clone(), after)
    }

    fn lease_grant(&self, ttl: Duration) -> Result<LeaseId> {
        // etcd counts TTLs in whole seconds (and raises very short ones to
        // its minimum, about 1.5 election timeouts).
        let secs = to_i64(ttl.as_millis().div_ceil(1000).max(1) as u64);
        self.call(move |s| async move {
            let r = rpc::retry("lease grant", Safety::Mutation, || {
                let mut lc = s.client.lease_client();
                async move { lc.grant(secs, None).await }
            })
            .await
            .map_err(|e| e.into_store("lease grant"))?;
            Ok(r.id())
        })
    }

    fn lease_keep_alive(&self, lease: LeaseId) -> Result<()> {
        self.call(move |s| async move {
            // One request on a keep-alive stream: a renewal is idempotent.
            rpc::retry("lease keep-alive", Safety::Idempotent, || {
                let mut lc = s.client.lease_client();
                async move { lc.keep_alive(lease).await }
            })
            .await
            .map(|_| ())
            .map_err(lease_err(lease, "lease keep-alive"))
        })
    }

    fn lease_revoke(&self, lease: LeaseId) -> Result<()> {
        self.call(move |s| async move {
            rpc::retry("lease revoke", Safety::Idempotent, || {
                let mut lc = s.client.lease_client();
                async move { lc.revoke(lease).await }
            })
            .await
            .map(|_| ())
            .map_err(lease_err(lease, "lease revoke"))
        })
    }

    fn put_leased(&self, kind: &str, id: &str, value: Vec<u8>, lease: LeaseId) -> Result<u64> {
        check_key(kind)?;
        check_key(id)?;
        let key = self.inner.key(kind, id);
        self.call(move |s| async move {
            let opts = PutOptions::new().with_lease(lease);
            let r = rpc::retry("put", Safety::Mutation, || {
                let (mut kv, key, value) = (s.kv.clone(), key.clone(), value.clone());
                let opts = opts.clone();
                async move { kv.put(key, value, Some(opts)).await }
            })
            .await
            .map_err(lease_err(lease, "put"))?;
            header_revision(r.header())
        })
    }

    /// One `Txn` of leased puts per [`MAX_TXN_OPS`] keys. Resent like a
    /// single put: writing the same values under the same lease twice
    /// leaves the same keys.
    fn put_leased_many(
        &self,
        kind: &str,
        items: &[(String, Vec<u8>)],
        lease: LeaseId,
    ) -> Result<u64> {
        check_key(kind)?;
        let mut kvs = Vec::with_capacity(items.len());
        for (id, v) in items {
            check_key(id)?;
            kvs.push((self.inner.key(kind, id), v.clone()));
        }
        let mut rev = 0;
        for chunk in kvs.chunks(MAX_TXN_OPS) {
            let chunk = chunk.to_vec();
            rev = self.call(move |s| async move {
                let r = rpc::retry("put", Safety::Mutation, || {
                    let mut kv = s.kv.clone();
                    let then: Vec<TxnOp> = chunk
                        .iter()
                        .map(|(k, v)| {
                            let opts = PutOptions::new().with_lease(lease);
                            TxnOp::put(k.clone(), v.clone(), Some(opts))
                        })
                        .collect();
                    async move { kv.txn(Txn::new().and_then(then)).await }
                })
                .await
                .map_err(lease_err(lease, "put"))?;
                header_revision(r.header())
            })?;
        }
        Ok(rev)
    }
}

/// etcd's default `--max-txn-ops`.
const MAX_TXN_OPS: usize = 128;
