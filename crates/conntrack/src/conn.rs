//! One tracked connection as stored in the table.

use crate::config::TimeoutClass;
use crate::tcp::{Dir, TcpConn};
use crate::tuple::Tuple;

/// Reply direction seen (netfilter `IPS_SEEN_REPLY`).
pub(crate) const ST_SEEN_REPLY: u8 = 0x01;
/// Connection assured (netfilter `IPS_ASSURED`).
pub(crate) const ST_ASSURED: u8 = 0x02;
/// Source translated in the original direction.
pub(crate) const ST_SNAT: u8 = 0x04;
/// Destination translated in the original direction.
pub(crate) const ST_DNAT: u8 = 0x08;

/// Protocol-specific tracking state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProtoState {
    Tcp(TcpConn),
    Udp,
    /// ICMP echo; holds the request type for the dump.
    Icmp,
    Other,
}

/// A connection. Both tuples are stored (as netfilter's `tuplehash[2]`) so
/// either direction's lookup lands here and NAT needs no recomputation.
#[derive(Debug, Clone)]
pub(crate) struct Conn {
    /// `[original, reply]`; the reply tuple is what reply packets carry,
    /// i.e. after NAT.
    pub tuples: [Tuple; 2],
    pub label: u128,
    /// Expiry time in nanoseconds of the tracker's clock.
    pub expires: u64,
    /// The expiry the entry had when it was last moved to its list's
    /// tail: the list is sorted by this, and `expires - listed` stays below
    /// [`crate::table::REQUEUE_GRAIN`].
    pub listed: u64,
    pub mark: u32,
    /// Intrusive expiry-list links (slot indices, [`NIL`] for none).
    pub prev: u32,
    pub next: u32,
    pub zone: u16,
    pub class: TimeoutClass,
    pub status: u8,
    pub proto: ProtoState,
}

/// No link.
pub(crate) const NIL: u32 = u32::MAX;

impl Conn {
    #[inline]
    pub fn tuple(&self, d: Dir) -> &Tuple {
        &self.tuples[d.idx()]
    }

    #[inline]
    pub fn has(&self, bit: u8) -> bool {
        self.status & bit != 0
    }
}
