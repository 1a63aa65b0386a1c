//! Token Bucket Filter, tc-tbf(8): packets queue (up to `limit` bytes) and
//! leave only with tokens; tokens arrive at `rate` and accumulate up to
//! `burst` bytes, so after idling the qdisc sends a burst and then the rate.
//! `latency` is the alternative to `limit`: the queue may hold what the
//! bucket drains in that time, `limit = rate * latency + burst` (as tc
//! computes it). The optional second bucket (`peakrate`/`mtu`) is not
//! implemented; a packet larger than `burst` can never get tokens and is
//! dropped on enqueue, as the kernel does for non-GSO packets.

use crate::bucket::Bucket;
use crate::clock::Nanos;
use crate::fifo::{Fifo, FifoLimit};
use crate::qdisc::{DropReason, Dropped, Packet, Qdisc, QdiscStats};
use crate::rate::Rate;

/// How the queue is bounded (tc-tbf(8): exactly one of the two).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TbfLimit {
    /// Bytes that may wait for tokens.
    Bytes(u64),
    /// Longest time a packet may wait, in ns.
    Latency(Nanos),
}

/// TBF parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TbfConfig {
    /// Token rate in bit/s.
    pub rate_bps: u64,
    /// Bucket size in bytes.
    pub burst: u64,
    /// Queue bound.
    pub limit: TbfLimit,
}

/// A TBF configuration that cannot work; names the bad parameter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TbfError {
    /// `rate` is 0.
    #[error("tbf: rate must be greater than 0")]
    ZeroRate,
    /// `burst` is 0.
    #[error("tbf: burst must be greater than 0 bytes")]
    ZeroBurst,
}

/// The TBF qdisc.
#[derive(Debug)]
pub struct Tbf<P> {
    bucket: Bucket,
    queue: Fifo<P>,
    stats: QdiscStats,
}

impl<P: Packet> Tbf<P> {
    /// A TBF with a full bucket at `now`.
    pub fn new(cfg: TbfConfig, now: Nanos) -> Result<Self, TbfError> {
        let rate = Rate::from_bps(cfg.rate_bps).ok_or(TbfError::ZeroRate)?;
        if cfg.burst == 0 {
            return Err(TbfError::ZeroBurst);
        }
        let limit = match cfg.limit {
            TbfLimit::Bytes(b) => b,
            TbfLimit::Latency(ns) => rate.bytes_in(ns).saturating_add(cfg.burst),
        };
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        Ok(Self {
            bucket: Bucket::new(rate, cfg.burst, now),
            queue: Fifo::new(FifoLimit::Bytes(limit)),
            stats: QdiscStats::default(),
        })
    }

    /// The byte limit in force (derived from `latency` if that was given).
    pub fn limit_bytes(&self) -> usize {
        match self.queue.limit() {
            FifoLimit::Bytes(b) | FifoLimit::Packets(b) => b,
        }
    }
}

impl<P: Packet> Qdisc<P> for Tbf<P> {
    fn enqueue(&mut self, pkt: P, _now: Nanos) -> Result<(), Dropped<P>> {
        let len = pkt.len();
        if !self.bucket.fits(len) {
            self.stats.on_drop(len);
            return Err(Dropped::new(pkt, DropReason::Oversize));
        }
        match self.queue.push(pkt) {
            Ok(()) => {
                self.stats.on_enqueue(len);
                Ok(())
            }
            Err(e) => {
                self.stats.on_drop(len);
                Err(e)
            }
        }
    }

    fn dequeue(&mut self, now: Nanos) -> Option<P> {
        let len = self.queue.peek()?.len();
        if !self.bucket.try_take(len, now) {
            self.stats.overlimits += 1;
            return None;
        }
        let pkt = self.queue.pop()?;
        self.stats.on_send(len);
        Some(pkt)
    }

    fn next_ready(&mut self, now: Nanos) -> Option<Nanos> {
        let len = self.queue.peek()?.len();
        Some(self.bucket.ready_at(len, now))
    }

    fn len(&self) -> usize {
        self.queue.len()
    }

    fn backlog_bytes(&self) -> usize {
        self.queue.backlog_bytes()
    }

    fn stats(&self) -> QdiscStats {
        self.stats
    }
}
