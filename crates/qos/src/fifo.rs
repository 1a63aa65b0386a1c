//! pfifo / bfifo (tc-pfifo(8)): one FIFO with a limit in packets or bytes;
//! a packet that does not fit is dropped at the tail. Also the building
//! block of the other qdiscs.

use crate::clock::Nanos;
use crate::qdisc::{DropReason, Dropped, Packet, Qdisc, QdiscStats};
use std::collections::VecDeque;

/// Default pfifo limit: Linux's default `txqueuelen`.
pub const DEFAULT_LIMIT: usize = 1000;

/// The limit of a [`Fifo`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FifoLimit {
    /// pfifo: at most this many packets.
    Packets(usize),
    /// bfifo: at most this many bytes.
    Bytes(usize),
}

/// A bounded FIFO queue.
#[derive(Debug)]
pub struct Fifo<P> {
    queue: VecDeque<P>,
    limit: FifoLimit,
    bytes: usize,
    stats: QdiscStats,
}

impl<P: Packet> Fifo<P> {
    /// A FIFO with `limit`. Room for a packet-limited queue is reserved up
    /// front (bounded by the limit), so enqueue does not allocate later.
    pub fn new(limit: FifoLimit) -> Self {
        let reserve = match limit {
            FifoLimit::Packets(n) => n.min(65_536),
            FifoLimit::Bytes(_) => 64,
        };
        Self {
            queue: VecDeque::with_capacity(reserve),
            limit,
            bytes: 0,
            stats: QdiscStats::default(),
        }
    }

    /// pfifo with `limit` packets (the seed's `pfifo limit 5`).
    pub fn pfifo(limit: usize) -> Self {
        Self::new(FifoLimit::Packets(limit))
    }

    /// The limit.
    pub fn limit(&self) -> FifoLimit {
        self.limit
    }

    /// The head packet, without taking it.
    pub fn peek(&self) -> Option<&P> {
        self.queue.front()
    }

    fn has_room(&self, len: usize) -> bool {
        match self.limit {
            FifoLimit::Packets(n) => self.queue.len() < n,
            FifoLimit::Bytes(n) => self.bytes + len <= n,
        }
    }

    /// Enqueue without a timestamp (a FIFO does not care about time).
    pub fn push(&mut self, pkt: P) -> Result<(), Dropped<P>> {
        let len = pkt.len();
        if !self.has_room(len) {
            self.stats.on_drop(len);
            return Err(Dropped::new(pkt, DropReason::Limit));
        }
        self.bytes += len;
        self.stats.on_enqueue(len);
        self.queue.push_back(pkt);
        Ok(())
    }

    /// Dequeue without a timestamp.
    pub fn pop(&mut self) -> Option<P> {
        let pkt = self.queue.pop_front()?;
        let len = pkt.len();
        self.bytes -= len;
        self.stats.on_send(len);
        Some(pkt)
    }
}

impl<P: Packet> Qdisc<P> for Fifo<P> {
    fn enqueue(&mut self, pkt: P, _now: Nanos) -> Result<(), Dropped<P>> {
        self.push(pkt)
    }

    fn dequeue(&mut self, _now: Nanos) -> Option<P> {
        self.pop()
    }

    fn next_ready(&mut self, now: Nanos) -> Option<Nanos> {
        (!self.queue.is_empty()).then_some(now)
    }

    fn len(&self) -> usize {
        self.queue.len()
    }

    fn backlog_bytes(&self) -> usize {
        self.bytes
    }

    fn stats(&self) -> QdiscStats {
        self.stats
    }
}
