//! The contract shared by every scheduler: a packet handle type and the
//! `Qdisc` trait (enqueue / dequeue / next_ready), after the kernel's
//! `struct Qdisc_ops` (enqueue, dequeue, peek) with the watchdog timer made
//! explicit as [`Qdisc::next_ready`].

use crate::clock::Nanos;
use std::fmt;

/// What a scheduler needs to know about a packet. The switch implements it
/// for its buffer handle; the schedulers never look at packet bytes.
pub trait Packet {
    /// Length in bytes that is charged against rates and limits (the frame
    /// length on the wire, as `qdisc_pkt_len()` in Linux).
    fn len(&self) -> usize;

    /// True for a zero-length packet (never produced by a real switch).
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A hash of the flow (e.g. of the 5-tuple) the packet belongs to; SFQ
    /// mixes it with its perturbation seed to pick a per-flow queue.
    fn flow_hash(&self) -> u32;

    /// The IPv4 TOS byte / IPv6 traffic class (0 for non-IP). Used by
    /// [`PrioBands`](crate::PrioBands) through the priomap.
    fn tos(&self) -> u8 {
        0
    }

    /// The OpenFlow queue chosen by `set_queue` / `enqueue:PORT:QUEUE`
    /// (ovs-actions(7)), if any. [`Htb`](crate::Htb) maps it to a class.
    fn queue_id(&self) -> Option<u32> {
        None
    }
}

/// Why a packet was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// The queue (or the whole qdisc) was at its limit.
    Limit,
    /// The packet's flow queue was at its per-flow limit (SFQ `depth`).
    FlowLimit,
    /// No free flow slot (SFQ `flows`).
    NoSlot,
    /// The packet is larger than the bucket and could never be sent
    /// (tc-tbf(8): a packet bigger than `burst` is dropped).
    Oversize,
    /// The offered packet was queued, but this older packet was dropped to
    /// make room (SFQ drops from the longest flow, tc-sfq(8)).
    Evicted,
    /// The policer found the packet above the configured rate.
    Policed,
    /// HTB found no class for the packet and has no direct queue room.
    Unclassified,
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DropReason::Limit => "queue limit reached",
            DropReason::FlowLimit => "per-flow limit reached",
            DropReason::NoSlot => "no free flow slot",
            DropReason::Oversize => "packet larger than the bucket",
            DropReason::Evicted => "evicted from the longest flow",
            DropReason::Policed => "above the policing rate",
            DropReason::Unclassified => "no class for the packet",
        })
    }
}

/// A dropped packet handed back to the caller (to free or recycle its
/// buffer). With [`DropReason::Evicted`] the offered packet was queued and
/// `packet` is an older one that made room for it.
#[derive(Debug, thiserror::Error)]
#[error("packet of {len} bytes dropped: {reason}")]
pub struct Dropped<P> {
    /// The packet that was dropped.
    pub packet: P,
    /// Why.
    pub reason: DropReason,
    /// Its length (kept so the error prints without needing `P: Packet`).
    pub len: usize,
}

impl<P: Packet> Dropped<P> {
    /// Wraps `packet` with `reason`.
    pub fn new(packet: P, reason: DropReason) -> Self {
        let len = packet.len();
        Self {
            packet,
            reason,
            len,
        }
    }
}

/// Counters every qdisc keeps (what `tc -s qdisc show` prints).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QdiscStats {
    /// Packets accepted by enqueue.
    pub enqueued_packets: u64,
    /// Bytes accepted by enqueue.
    pub enqueued_bytes: u64,
    /// Packets handed out by dequeue.
    pub sent_packets: u64,
    /// Bytes handed out by dequeue.
    pub sent_bytes: u64,
    /// Packets dropped (refused or evicted).
    pub dropped_packets: u64,
    /// Bytes dropped.
    pub dropped_bytes: u64,
    /// Times dequeue had packets but was held back by a rate.
    pub overlimits: u64,
}

impl QdiscStats {
    pub(crate) fn on_enqueue(&mut self, len: usize) {
        self.enqueued_packets += 1;
        self.enqueued_bytes += len as u64;
    }

    pub(crate) fn on_send(&mut self, len: usize) {
        self.sent_packets += 1;
        self.sent_bytes += len as u64;
    }

    pub(crate) fn on_drop(&mut self, len: usize) {
        self.dropped_packets += 1;
        self.dropped_bytes += len as u64;
    }
}

/// A queueing discipline: packets go in with `enqueue`, come out with
/// `dequeue` when the discipline allows, and `next_ready` tells the caller
/// when to try again so it can sleep on a timer instead of spinning.
pub trait Qdisc<P: Packet> {
    /// Offers a packet at time `now`. On `Err` the returned packet was
    /// dropped and counted (see [`Dropped`] for eviction).
    fn enqueue(&mut self, pkt: P, now: Nanos) -> Result<(), Dropped<P>>;

    /// The next packet allowed out at `now`, if any.
    fn dequeue(&mut self, now: Nanos) -> Option<P>;

    /// `None` when nothing is queued; otherwise the earliest time at which
    /// `dequeue` may return a packet (`<= now` means "now"). The time is a
    /// lower bound: a dequeue then may still return `None` (e.g. an HTB
    /// class regained tokens but its parent has not), after which the
    /// caller asks again.
    fn next_ready(&mut self, now: Nanos) -> Option<Nanos>;

    /// Packets queued.
    fn len(&self) -> usize;

    /// True when nothing is queued.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes queued.
    fn backlog_bytes(&self) -> usize;

    /// Counters since creation.
    fn stats(&self) -> QdiscStats;
}
