//! Watch streams: a channel of [`Event`]s in revision order, ended by an
//! error when the back end can no longer continue it (the revision to
//! resume from was compacted: the watcher reloads a snapshot).

use std::any::Any;
use std::cell::RefCell;
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError};
use std::time::Duration;

use crate::{Event, Result, StoreError};

/// One item of a watch channel: an event, or why the stream ended.
pub(crate) type Item = Result<Event>;

/// A stream of events. Dropping it unsubscribes (the embedded store notices
/// the closed channel at the next commit; the etcd store's feeder task ends
/// with the guard).
pub struct Watch {
    pub(crate) rx: Receiver<Item>,
    /// Keeps a back end's feeder alive while the watch lives.
    pub(crate) _guard: Option<Box<dyn Any + Send>>,
    /// Why the stream ended, once an item said so.
    failed: RefCell<Option<StoreError>>,
}

impl Watch {
    pub(crate) fn new(rx: Receiver<Item>, guard: Option<Box<dyn Any + Send>>) -> Watch {
        Watch {
            rx,
            _guard: guard,
            failed: RefCell::new(None),
        }
    }

    /// Next event, waiting at most `timeout`: `Ok(None)` on timeout; an
    /// error once the stream has ended — [`StoreError::Compacted`] when the
    /// history it needed is gone (reload a snapshot and watch again), or
    /// [`StoreError::Backend`] when the store is gone.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Option<Event>> {
        if let Some(e) = self.failed.borrow().as_ref() {
            return Err(clone_err(e));
        }
        match self.rx.recv_timeout(timeout) {
            Ok(item) => self.keep(item),
            Err(RecvTimeoutError::Timeout) => Ok(None),
            Err(RecvTimeoutError::Disconnected) => self.keep(Err(gone())),
        }
    }

    fn keep(&self, item: Item) -> Result<Option<Event>> {
        match item {
            Ok(e) => Ok(Some(e)),
            Err(e) => {
                *self.failed.borrow_mut() = Some(clone_err(&e));
                Err(e)
            }
        }
    }

    /// Next event, waiting at most `timeout`; `None` on timeout or when the
    /// stream has ended ([`Watch::recv_timeout`] tells the two apart).
    pub fn next_timeout(&self, timeout: Duration) -> Option<Event> {
        self.recv_timeout(timeout).ok().flatten()
    }

    /// Next event if one is already queued.
    pub fn try_next(&self) -> Option<Event> {
        if self.failed.borrow().is_some() {
            return None;
        }
        match self.rx.try_recv() {
            Ok(item) => self.keep(item).ok().flatten(),
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Disconnected) => {
                let _ = self.keep(Err(gone()));
                None
            }
        }
    }

    /// Blocking iterator over events; ends with the stream.
    pub fn iter(&self) -> impl Iterator<Item = Event> + '_ {
        std::iter::from_fn(move || loop {
            match self.recv_timeout(Duration::from_secs(3600)) {
                Ok(Some(e)) => return Some(e),
                Ok(None) => continue,
                Err(_) => return None,
            }
        })
    }
}

fn gone() -> StoreError {
    StoreError::Backend("watch ended: the store is gone".into())
}

fn clone_err(e: &StoreError) -> StoreError {
    match e {
        StoreError::Compacted(r) => StoreError::Compacted(*r),
        other => StoreError::Backend(other.to_string()),
    }
}
