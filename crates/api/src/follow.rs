//! Following the store, so that several API servers can share one (etcd):
//! each applies to its in-memory state the changes the others commit, as
//! read from the store's watch, and reloads a snapshot when the history it
//! needs has been compacted.
//!
//! Changes reach a server's state from two sides — its own commits and the
//! watch — in no fixed order. [`Revisions`] makes the order not matter: it
//! remembers, per resource, the store revision of the last change applied
//! (deletes too), and a change older than that is dropped. So the state of
//! each resource only moves forward in revision order, a replayed event is
//! harmless, and the watch may be resumed from a revision already seen.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use model::{Change, Kind, Resource};
use store::{Event, Store, StoreError};

use crate::app::App;
use crate::error::ApiError;

/// Per resource, the revision of the last change applied.
#[derive(Default)]
pub(crate) struct Revisions(HashMap<(Kind, String), u64>);

fn key(c: &Change) -> (Kind, String) {
    match c {
        Change::Put(r) => (r.kind(), r.id().to_string()),
        Change::Delete(k, id) => (*k, id.clone()),
    }
}

impl Revisions {
    /// The changes of revision `rev` that are not older than what their
    /// resource has seen, recording `rev` for them. Changes of one
    /// revision apply in order (a group commit may touch a key twice).
    pub fn newer(&mut self, rev: u64, changes: &[Change]) -> Vec<Change> {
        let mut out = Vec::new();
        for c in changes {
            let seen = self.0.entry(key(c)).or_insert(0);
            if *seen <= rev {
                *seen = rev;
                out.push(c.clone());
            }
        }
        out
    }

    /// The revision `c`'s resource is at (0: never seen).
    pub fn seen(&self, c: &Change) -> u64 {
        self.0.get(&key(c)).copied().unwrap_or(0)
    }

    /// Record a resource loaded from a snapshot.
    pub fn loaded(&mut self, kind: Kind, id: &str, rev: u64) {
        self.0.insert((kind, id.to_string()), rev);
    }
}

/// The model change of a store event; `None` for a collection that is
/// not an API resource (e.g. agents' chassis records).
pub(crate) fn change_of(ev: &Event) -> Result<Option<Change>, ApiError> {
    let Some(kind) = Kind::from_store_name(&ev.kind) else {
        return Ok(None);
    };
    Ok(Some(match &ev.value {
        // The stored JSON carries revision_number (= the key's version).
        Some(v) => Change::Put(
            Resource::from_json(kind, v)
                .map_err(|e| ApiError::internal(format!("decoding {}/{}: {e}", ev.kind, ev.id)))?,
        ),
        None => Change::Delete(kind, ev.id.clone()),
    }))
}

/// Pause before watching again after the store failed.
const RETRY: Duration = Duration::from_millis(500);
/// How often the follower checks whether the server is gone.
const TICK: Duration = Duration::from_millis(200);

/// Start following `store` from the revision `app` was loaded at, on a
/// thread that ends when the last reference to `app` is dropped.
pub fn start(app: &Arc<App>, store: Arc<dyn Store>) -> std::io::Result<()> {
    let weak = Arc::downgrade(app);
    let from = app.loaded_revision();
    std::thread::Builder::new()
        .name("api-follow".into())
        .spawn(move || run(weak, store, from))
        .map(|_| ())
}

fn run(app: Weak<App>, store: Arc<dyn Store>, mut after: u64) {
    loop {
        let watch = match store.watch(after) {
            Ok(w) => w,
            Err(StoreError::Compacted(_)) => {
                match app.upgrade().map(|a| a.reload()) {
                    None => return,
                    Some(Ok(rev)) => after = rev,
                    Some(Err(e)) => tracing::warn!("reloading after compaction: {e}"),
                }
                continue;
            }
            Err(e) => {
                tracing::warn!("watching the store: {e}; retrying");
                std::thread::sleep(RETRY);
                if app.strong_count() == 0 {
                    return;
                }
                continue;
            }
        };
        loop {
            match watch.recv_timeout(TICK) {
                Ok(Some(ev)) => {
                    let Some(a) = app.upgrade() else { return };
                    if let Err(e) = a.apply_event(&ev) {
                        tracing::warn!("applying store event: {e}");
                    }
                    // Resume from the revision before: its other events, if
                    // the stream broke among them, are replayed harmlessly.
                    after = ev.revision.saturating_sub(1);
                }
                Ok(None) if app.strong_count() == 0 => return,
                Ok(None) => {}
                Err(StoreError::Compacted(_)) => {
                    match app.upgrade().map(|a| a.reload()) {
                        None => return,
                        Some(Ok(rev)) => after = rev,
                        Some(Err(e)) => tracing::warn!("reloading after compaction: {e}"),
                    }
                    break;
                }
                Err(e) => {
                    tracing::warn!("store watch ended: {e}; watching again");
                    std::thread::sleep(RETRY);
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn older_changes_are_dropped_equal_ones_kept() {
        let mut r = Revisions::default();
        let del = |id: &str| Change::Delete(Kind::Port, id.into());
        assert_eq!(r.newer(5, &[del("a")]).len(), 1);
        assert_eq!(r.newer(4, &[del("a")]).len(), 0, "older than seen");
        assert_eq!(r.newer(5, &[del("a"), del("a")]).len(), 2, "same revision");
        assert_eq!(r.newer(3, &[del("b")]).len(), 1, "another key");
        r.loaded(Kind::Port, "c", 9);
        assert_eq!(r.newer(8, &[del("c")]).len(), 0);
    }
}
