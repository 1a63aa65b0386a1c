//! The feeder of an etcd watch: one task per [`Watch`] that follows a
//! prefix watch and survives members going away.
//!
//! It remembers the revision after the last one it delivered and, whenever
//! the stream breaks (member killed, connection reset, watch canceled by a
//! member that lost its leader), opens a new watch from exactly there after
//! a backoff: events are delivered once each, in revision order, across
//! reconnects. If that revision has been compacted meanwhile, the stream
//! ends with [`StoreError::Compacted`] (etcd API reference, "Watch API":
//! `compact_revision` is set and the watcher canceled), and the watcher
//! reloads a snapshot.

use std::sync::mpsc::{channel, Sender};
use std::sync::Arc;

use etcd_client::{EventType, WatchOptions};
use tokio::sync::oneshot;

use super::rpc::{Backoff, Bridge};
use super::{to_i64, to_u64, Shared, MAX_MESSAGE};
use crate::watch::{Item, Watch};
use crate::{Event, Result, StoreError};

/// Start feeding a [`Watch`] with the events after revision `after`.
pub(super) fn start(bridge: &Bridge, shared: Arc<Shared>, after: u64) -> Result<Watch> {
    let (tx, rx) = channel();
    // Dropping the Watch drops `stop_tx`, which ends the task.
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    bridge
        .handle()
        .spawn(follow(shared, after + 1, tx, stop_rx));
    Ok(Watch::new(rx, Some(Box::new(stop_tx))))
}

/// How a watch session ended.
enum End {
    /// The watcher is gone, or the history it needs is: stop for good.
    Done,
    /// The stream broke or was canceled: reconnect from `next`.
    Broken,
}

async fn follow(s: Arc<Shared>, mut next: u64, tx: Sender<Item>, mut stop: oneshot::Receiver<()>) {
    let mut backoff = Backoff::new();
    loop {
        let mut delivered = false;
        let end = tokio::select! {
            _ = &mut stop => return,
            end = session(&s, &mut next, &tx, &mut delivered) => end,
        };
        match end {
            End::Done => return,
            End::Broken => {
                if delivered {
                    backoff.reset();
                }
                let pause = backoff.step();
                tokio::select! {
                    _ = &mut stop => return,
                    _ = tokio::time::sleep(pause) => {}
                }
            }
        }
    }
}

/// One watch stream from `next`, until it breaks or ends.
async fn session(s: &Shared, next: &mut u64, tx: &Sender<Item>, delivered: &mut bool) -> End {
    let mut wc = s
        .client
        .watch_client()
        .max_decoding_message_size(MAX_MESSAGE);
    let opts = WatchOptions::new()
        .with_prefix()
        .with_start_revision(to_i64(*next))
        // Progress notifications keep an idle stream visibly alive.
        .with_progress_notify();
    let mut stream = match wc.watch(s.root.clone(), Some(opts)).await {
        Ok(st) => st,
        Err(_) => return End::Broken,
    };
    loop {
        let resp = match stream.message().await {
            Ok(Some(r)) => r,
            Ok(None) => return End::Broken,
            Err(_) => return End::Broken,
        };
        if resp.compact_revision() > 0 {
            let _ = tx.send(Err(StoreError::Compacted(next.saturating_sub(1))));
            return End::Done;
        }
        for ev in resp.events() {
            let Some(kv) = ev.kv() else { continue };
            let revision = to_u64(kv.mod_revision());
            if revision < *next {
                // Already delivered before a reconnect.
                continue;
            }
            let Some((kind, id)) = s.split(kv.key()) else {
                continue;
            };
            let value = match ev.event_type() {
                EventType::Put => Some(kv.value().to_vec()),
                EventType::Delete => None,
            };
            let event = Event {
                revision,
                kind: kind.to_string(),
                id: id.to_string(),
                value,
            };
            if tx.send(Ok(event)).is_err() {
                return End::Done;
            }
            *delivered = true;
        }
        // Every event of a revision comes in one response, so the next
        // revision to ask for is the one after the last delivered.
        if let Some(last) = resp.events().iter().filter_map(|e| e.kv()).next_back() {
            *next = (*next).max(to_u64(last.mod_revision()) + 1);
        }
        if resp.canceled() {
            return End::Broken;
        }
    }
}
