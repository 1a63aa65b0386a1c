//! The embedded back end on redb: one file; every commit is one redb write
//! transaction (copy-on-write B-trees with a checksummed, fsynced commit), so
//! a crash leaves either the whole transaction or none of it.
//!
//! Layout: `objects` maps `kind/id` to `mod_revision | version | value`;
//! `events` maps each revision to the changes it made (the watch history,
//! trimmed to the last [`HISTORY`] revisions); `meta` holds the revision.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use redb::{Database, ReadableTable, TableDefinition};

use crate::lease::{Key, Leases};
use crate::watch::{Item, Watch};
use crate::{check_key, Compare, Event, LeaseId, Op, Record, Result, Store, StoreError};

const OBJECTS: TableDefinition<&str, &[u8]> = TableDefinition::new("objects");
const EVENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("events");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// Keys put under a lease (`kind/id` → lease ID), so that a reopened store
/// deletes them: their leases died with the process that held them.
const LEASED: TableDefinition<&str, i64> = TableDefinition::new("leased");

/// How often the reaper looks for expired leases at most.
const REAP_TICK: Duration = Duration::from_millis(50);

/// Revisions of history kept for watchers that resume from the past.
pub const HISTORY: u64 = 10_000;

fn be<E: std::fmt::Display>(e: E) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// Embedded store in one redb file.
pub struct RedbStore {
    inner: Arc<Inner>,
    /// The lease reaper, started by the first grant, joined on drop so that
    /// the file is closed when the store is dropped.
    reaper: Mutex<Option<std::thread::JoinHandle<()>>>,
}

struct Inner {
    db: Database,
    /// Live watchers. Held for the whole of a commit so that a watcher
    /// registering concurrently sees each event exactly once.
    watchers: Mutex<Vec<Sender<Item>>>,
    /// Taken before `watchers` by every write, so that a lease's keys and
    /// its bookkeeping change together.
    leases: Mutex<Leases>,
    /// Tells the reaper to end.
    stop: AtomicBool,
}

fn encode_obj(mod_rev: u64, version: u64, value: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(16 + value.len());
    v.extend_from_slice(&mod_rev.to_le_bytes());
    v.extend_from_slice(&version.to_le_bytes());
    v.extend_from_slice(value);
    v
}

fn decode_obj(key: &str, raw: &[u8]) -> Result<Record> {
    let (kind, id) = key
        .split_once('/')
        .ok_or_else(|| StoreError::Corrupt(key.to_string()))?;
    if raw.len() < 16 {
        return Err(StoreError::Corrupt(key.to_string()));
    }
    let mut a = [0u8; 8];
    a.copy_from_slice(&raw[..8]);
    let mut b = [0u8; 8];
    b.copy_from_slice(&raw[8..16]);
    Ok(Record {
        kind: kind.to_string(),
        id: id.to_string(),
        mod_revision: u64::from_le_bytes(a),
        version: u64::from_le_bytes(b),
        value: raw[16..].to_vec(),
    })
}

/// Events of one revision: repeated `len(u32) key | tag(u8) | len(u32) value`.
fn encode_events(ops: &[Op]) -> Vec<u8> {
    let mut out = Vec::new();
    for op in ops {
        let (key, val) = match op {
            Op::Put { kind, id, value } => (format!("{kind}/{id}"), Some(value)),
            Op::Delete { kind, id } => (format!("{kind}/{id}"), None),
        };
        out.extend_from_slice(&(key.len() as u32).to_le_bytes());
        out.extend_from_slice(key.as_bytes());
        match val {
            Some(v) => {
                out.push(1);
                out.extend_from_slice(&(v.len() as u32).to_le_bytes());
                out.extend_from_slice(v);
            }
            None => out.push(0),
        }
    }
    out
}

fn decode_events(revision: u64, mut raw: &[u8]) -> Result<Vec<Event>> {
    let corrupt = || StoreError::Corrupt(format!("events at revision {revision}"));
    let take = |raw: &mut &[u8], n: usize| -> Result<Vec<u8>> {
        if raw.len() < n {
            return Err(corrupt());
        }
        let (a, b) = raw.split_at(n);
        *raw = b;
        Ok(a.to_vec())
    };
    let mut out = Vec::new();
    while !raw.is_empty() {
        let len =
            u32::from_le_bytes(take(&mut raw, 4)?.try_into().map_err(|_| corrupt())?) as usize;
        let key = String::from_utf8(take(&mut raw, len)?).map_err(|_| corrupt())?;
        let (kind, id) = key.split_once('/').ok_or_else(corrupt)?;
        let tag = take(&mut raw, 1)?[0];
        let value = if tag == 1 {
            let len =
                u32::from_le_bytes(take(&mut raw, 4)?.try_into().map_err(|_| corrupt())?) as usize;
            Some(take(&mut raw, len)?)
        } else {
            None
        };
        out.push(Event {
            revision,
            kind: kind.into(),
            id: id.into(),
            value,
        });
    }
    Ok(out)
}

impl RedbStore {
    /// Open (or create) the store file. Keys that were under a lease when
    /// the file was last used are deleted (with events): no lease outlives
    /// the process that granted it.
    pub fn open(path: impl AsRef<Path>) -> Result<RedbStore> {
        let db = Database::create(path.as_ref()).map_err(be)?;
        let tx = db.begin_write().map_err(be)?;
        {
            tx.open_table(OBJECTS).map_err(be)?;
            tx.open_table(EVENTS).map_err(be)?;
            tx.open_table(META).map_err(be)?;
            tx.open_table(LEASED).map_err(be)?;
        }
        tx.commit().map_err(be)?;
        let inner = Inner {
            db,
            watchers: Mutex::new(Vec::new()),
            leases: Mutex::new(Leases::default()),
            stop: AtomicBool::new(false),
        };
        let stale = inner.leased_keys()?;
        if !stale.is_empty() {
            inner.commit_raw(&[], &deletes(&stale), None)?;
        }
        Ok(RedbStore {
            inner: Arc::new(inner),
            reaper: Mutex::new(None),
        })
    }

    fn leases(&self) -> Result<MutexGuard<'_, Leases>> {
        lock_leases(&self.inner)
    }

    /// Start the thread that deletes the keys of expired leases; it holds
    /// only a weak reference and ends with the store.
    fn start_reaper(&self) -> Result<()> {
        let mut slot = self
            .reaper
            .lock()
            .map_err(|_| StoreError::Backend("reaper lock poisoned".into()))?;
        if slot.is_none() {
            let weak: Weak<Inner> = Arc::downgrade(&self.inner);
            let handle = std::thread::Builder::new()
                .name("store-leases".into())
                .spawn(move || reap(weak))
                .map_err(be)?;
            *slot = Some(handle);
        }
        Ok(())
    }
}

impl Drop for RedbStore {
    fn drop(&mut self) {
        self.inner.stop.store(true, Ordering::Release);
        if let Ok(mut slot) = self.reaper.lock() {
            if let Some(h) = slot.take() {
                h.thread().unpark();
                let _ = h.join();
            }
        }
    }
}

fn lock_leases(inner: &Inner) -> Result<MutexGuard<'_, Leases>> {
    inner
        .leases
        .lock()
        .map_err(|_| StoreError::Backend("lease lock poisoned".into()))
}

fn deletes(keys: &[Key]) -> Vec<Op> {
    keys.iter()
        .map(|(kind, id)| Op::Delete {
            kind: kind.clone(),
            id: id.clone(),
        })
        .collect()
}

/// The reaper's loop: expire what is due, sleep until the next deadline
/// (at most [`REAP_TICK`], so new leases are seen soon).
fn reap(weak: Weak<Inner>) {
    loop {
        let Some(inner) = weak.upgrade() else { return };
        if inner.stop.load(Ordering::Acquire) {
            return;
        }
        let now = Instant::now();
        let next = match lock_leases(&inner) {
            Ok(mut ls) => {
                for id in ls.expired(now) {
                    if let Some(keys) = ls.remove(id) {
                        // A failed delete is retried by nobody; log-free
                        // crate, so surface it on the next write instead.
                        let _ = inner.commit_raw(&[], &deletes(&keys), None);
                    }
                }
                ls.next_deadline()
            }
            Err(_) => return,
        };
        drop(inner);
        let wait = next
            .map(|d| d.saturating_duration_since(Instant::now()))
            .unwrap_or(REAP_TICK)
            .min(REAP_TICK);
        std::thread::park_timeout(wait);
    }
}

impl Inner {
    fn leased_keys(&self) -> Result<Vec<Key>> {
        let tx = self.db.begin_read().map_err(be)?;
        let t = tx.open_table(LEASED).map_err(be)?;
        let mut out = Vec::new();
        for item in t.iter().map_err(be)? {
            let (k, _) = item.map_err(be)?;
            let (kind, id) = k
                .value()
                .split_once('/')
                .ok_or_else(|| StoreError::Corrupt(k.value().to_string()))?;
            out.push((kind.to_string(), id.to_string()));
        }
        Ok(out)
    }

    fn history(&self, after: u64) -> Result<Vec<Event>> {
        let tx = self.db.begin_read().map_err(be)?;
        let events = tx.open_table(EVENTS).map_err(be)?;
        let meta = tx.open_table(META).map_err(be)?;
        let compacted = meta
            .get("compacted")
            .map_err(be)?
            .map(|v| v.value())
            .unwrap_or(0);
        if after < compacted {
            return Err(StoreError::Compacted(after));
        }
        let mut out = Vec::new();
        for item in events.range(after + 1..).map_err(be)? {
            let (k, v) = item.map_err(be)?;
            out.extend(decode_events(k.value(), v.value())?);
        }
        Ok(out)
    }
}

impl Store for RedbStore {
    fn get(&self, kind: &str, id: &str) -> Result<Option<Record>> {
        self.inner.get(kind, id)
    }

    fn list(&self, kind: &str) -> Result<Vec<Record>> {
        self.inner.list(kind)
    }

    fn revision(&self) -> Result<u64> {
        self.inner.revision()
    }

    fn commit(&self, compares: &[Compare], ops: &[Op]) -> Result<u64> {
        let mut ls = self.leases()?;
        let rev = self.inner.commit_raw(compares, ops, None)?;
        for op in ops {
            let (Op::Put { kind, id, .. } | Op::Delete { kind, id }) = op;
            ls.detach(&(kind.clone(), id.clone()));
        }
        Ok(rev)
    }

    fn watch(&self, after: u64) -> Result<Watch> {
        self.inner.watch(after)
    }

    fn lease_grant(&self, ttl: Duration) -> Result<LeaseId> {
        self.start_reaper()?;
        Ok(self.leases()?.grant(ttl, Instant::now()))
    }

    fn lease_keep_alive(&self, lease: LeaseId) -> Result<()> {
        if self.leases()?.keep_alive(lease, Instant::now()) {
            Ok(())
        } else {
            Err(StoreError::LeaseNotFound(lease))
        }
    }

    fn lease_revoke(&self, lease: LeaseId) -> Result<()> {
        let mut ls = self.leases()?;
        let keys = ls.remove(lease).ok_or(StoreError::LeaseNotFound(lease))?;
        if !keys.is_empty() {
            self.inner.commit_raw(&[], &deletes(&keys), None)?;
        }
        Ok(())
    }

    fn put_leased(&self, kind: &str, id: &str, value: Vec<u8>, lease: LeaseId) -> Result<u64> {
        let mut ls = self.leases()?;
        if !ls.is_live(lease, Instant::now()) {
            return Err(StoreError::LeaseNotFound(lease));
        }
        let op = Op::Put {
            kind: kind.to_string(),
            id: id.to_string(),
            value,
        };
        let rev = self.inner.commit_raw(&[], &[op], Some(lease))?;
        ls.attach((kind.to_string(), id.to_string()), lease);
        Ok(rev)
    }

    fn put_leased_many(
        &self,
        kind: &str,
        items: &[(String, Vec<u8>)],
        lease: LeaseId,
    ) -> Result<u64> {
        if items.is_empty() {
            return Ok(0);
        }
        let mut ls = self.leases()?;
        if !ls.is_live(lease, Instant::now()) {
            return Err(StoreError::LeaseNotFound(lease));
        }
        let ops: Vec<Op> = items
            .iter()
            .map(|(id, value)| Op::Put {
                kind: kind.to_string(),
                id: id.clone(),
                value: value.clone(),
            })
            .collect();
        let rev = self.inner.commit_raw(&[], &ops, Some(lease))?;
        for (id, _) in items {
            ls.attach((kind.to_string(), id.clone()), lease);
        }
        Ok(rev)
    }
}

impl Inner {
    fn get(&self, kind: &str, id: &str) -> Result<Option<Record>> {
        let key = format!("{kind}/{id}");
        let tx = self.db.begin_read().map_err(be)?;
        let t = tx.open_table(OBJECTS).map_err(be)?;
        let v = t.get(key.as_str()).map_err(be)?;
        v.map(|v| decode_obj(&key, v.value())).transpose()
    }

    fn list(&self, kind: &str) -> Result<Vec<Record>> {
        let lo = format!("{kind}/");
        let hi = format!("{kind}0"); // '0' sorts right after '/'
        let tx = self.db.begin_read().map_err(be)?;
        let t = tx.open_table(OBJECTS).map_err(be)?;
        let mut out = Vec::new();
        for item in t.range(lo.as_str()..hi.as_str()).map_err(be)? {
            let (k, v) = item.map_err(be)?;
            out.push(decode_obj(k.value(), v.value())?);
        }
        Ok(out)
    }

    fn revision(&self) -> Result<u64> {
        let tx = self.db.begin_read().map_err(be)?;
        let t = tx.open_table(META).map_err(be)?;
        Ok(t.get("revision")
            .map_err(be)?
            .map(|v| v.value())
            .unwrap_or(0))
    }

    /// One write transaction; `lease` marks the puts as leased (else
    /// they, and deletes, clear the mark).
    fn commit_raw(&self, compares: &[Compare], ops: &[Op], lease: Option<LeaseId>) -> Result<u64> {
        for op in ops {
            let (Op::Put { kind, id, .. } | Op::Delete { kind, id }) = op;
            check_key(kind)?;
            check_key(id)?;
        }
        let mut watchers = self
            .watchers
            .lock()
            .map_err(|_| StoreError::Backend("watcher lock poisoned".into()))?;
        let tx = self.db.begin_write().map_err(be)?;
        let revision;
        {
            let mut objects = tx.open_table(OBJECTS).map_err(be)?;
            for c in compares {
                let key = format!("{}/{}", c.kind, c.id);
                let found = match objects.get(key.as_str()).map_err(be)? {
                    Some(v) => decode_obj(&key, v.value())?.version,
                    None => 0,
                };
                if found != c.version {
                    // Dropping `tx` without commit aborts it.
                    return Err(StoreError::Conflict {
                        kind: c.kind.clone(),
                        id: c.id.clone(),
                        expected: c.version,
                        found,
                    });
                }
            }
            let mut meta = tx.open_table(META).map_err(be)?;
            let current = meta
                .get("revision")
                .map_err(be)?
                .map(|v| v.value())
                .unwrap_or(0);
            if ops.is_empty() {
                return Ok(current);
            }
            revision = current + 1;
            for op in ops {
                match op {
                    Op::Put { kind, id, value } => {
                        let key = format!("{kind}/{id}");
                        let version = match objects.get(key.as_str()).map_err(be)? {
                            Some(v) => decode_obj(&key, v.value())?.version + 1,
                            None => 1,
                        };
                        objects
                            .insert(
                                key.as_str(),
                                encode_obj(revision, version, value).as_slice(),
                            )
                            .map_err(be)?;
                    }
                    Op::Delete { kind, id } => {
                        objects
                            .remove(format!("{kind}/{id}").as_str())
                            .map_err(be)?;
                    }
                }
            }
            meta.insert("revision", revision).map_err(be)?;
            let mut leased = tx.open_table(LEASED).map_err(be)?;
            for op in ops {
                let (Op::Put { kind, id, .. } | Op::Delete { kind, id }) = op;
                let key = format!("{kind}/{id}");
                match (lease, op) {
                    (Some(l), Op::Put { .. }) => {
                        leased.insert(key.as_str(), l).map_err(be)?;
                    }
                    _ => {
                        leased.remove(key.as_str()).map_err(be)?;
                    }
                }
            }
            let mut events = tx.open_table(EVENTS).map_err(be)?;
            events
                .insert(revision, encode_events(ops).as_slice())
                .map_err(be)?;
            if revision > HISTORY {
                let floor = revision - HISTORY;
                let compacted = meta
                    .get("compacted")
                    .map_err(be)?
                    .map(|v| v.value())
                    .unwrap_or(0);
                if floor > compacted {
                    events
                        .retain_in(compacted..floor, |_, _| false)
                        .map_err(be)?;
                    meta.insert("compacted", floor).map_err(be)?;
                }
            }
        }
        tx.commit().map_err(be)?;
        let evs: Vec<Event> = ops
            .iter()
            .map(|op| match op {
                Op::Put { kind, id, value } => Event {
                    revision,
                    kind: kind.clone(),
                    id: id.clone(),
                    value: Some(value.clone()),
                },
                Op::Delete { kind, id } => Event {
                    revision,
                    kind: kind.clone(),
                    id: id.clone(),
                    value: None,
                },
            })
            .collect();
        watchers.retain(|w| evs.iter().all(|e| w.send(Ok(e.clone())).is_ok()));
        Ok(revision)
    }

    fn watch(&self, after: u64) -> Result<Watch> {
        let mut watchers = self
            .watchers
            .lock()
            .map_err(|_| StoreError::Backend("watcher lock poisoned".into()))?;
        let (tx, rx) = channel();
        for e in self.history(after)? {
            // The receiver is alive: it is still in this function.
            let _ = tx.send(Ok(e));
        }
        watchers.push(tx);
        Ok(Watch::new(rx, None))
    }
}
