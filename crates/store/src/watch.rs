//! Watch streams: a channel of [`Event`]s in revision order.

use std::sync::mpsc::Receiver;
use std::time::Duration;

use crate::Event;

/// A stream of events. Dropping it unsubscribes (the sender side notices
/// the closed channel at the next commit).
pub struct Watch {
    pub(crate) rx: Receiver<Event>,
}

impl Watch {
    /// Next event, waiting at most `timeout`; `None` on timeout or when the
    /// store is gone.
    pub fn next_timeout(&self, timeout: Duration) -> Option<Event> {
        self.rx.recv_timeout(timeout).ok()
    }

    /// Next event if one is already queued.
    pub fn try_next(&self) -> Option<Event> {
        self.rx.try_recv().ok()
    }

    /// Blocking iterator over events.
    pub fn iter(&self) -> impl Iterator<Item = Event> + '_ {
        self.rx.iter()
    }
}
