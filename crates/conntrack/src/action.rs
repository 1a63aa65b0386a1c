//! The `ct` action's inputs and the per-packet result.

use std::net::IpAddr;

use crate::nat::NatSpec;
use crate::state::CtState;
use crate::stats::DropReason;
use crate::tuple::Tuple;

/// A value and the bits of it to set (`set_field:V/M->ct_mark`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Masked<T> {
    /// New bits.
    pub value: T,
    /// Which bits to change.
    pub mask: T,
}

/// Integer types usable in [`Masked`].
pub trait MaskBits:
    Copy
    + std::ops::Not<Output = Self>
    + std::ops::BitAnd<Output = Self>
    + std::ops::BitOr<Output = Self>
{
    /// All bits set.
    const ALL: Self;
}

impl MaskBits for u32 {
    const ALL: Self = u32::MAX;
}

impl MaskBits for u128 {
    const ALL: Self = u128::MAX;
}

impl<T: MaskBits> Masked<T> {
    /// Sets every bit.
    pub fn exact(value: T) -> Self {
        Masked {
            value,
            mask: T::ALL,
        }
    }

    pub(crate) fn apply(&self, old: T) -> T {
        (old & !self.mask) | (self.value & self.mask)
    }
}

/// Parameters of one `ct(...)` execution (ovs-actions(7) "The ct action").
/// The flow layer resolves `zone=REG[range]` to a number before calling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CtAction<'a> {
    /// `zone=N`.
    pub zone: u16,
    /// `commit`: create the entry for a new connection (and run `exec`).
    pub commit: bool,
    /// `force`: a committed connection seen in the reply direction is
    /// deleted and committed afresh with this packet as original.
    pub force: bool,
    /// `nat[(…)]`: translate (and, with a range on commit, bind).
    pub nat: Option<&'a NatSpec>,
    /// `exec(set_field:…->ct_mark)`, applied on commit.
    pub set_mark: Option<Masked<u32>>,
    /// `exec(set_field:…->ct_label)`, applied on commit.
    pub set_label: Option<Masked<u128>>,
}

/// New values for the inner (quoted) header of an ICMP error, so the host
/// the error is for recognises its own packet (RFC 5508 §4.2 for NAT).
/// For quoted ICMP echo the ports are the echo identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InnerRewrite {
    /// Inner source address.
    pub src: IpAddr,
    /// Inner destination address.
    pub dst: IpAddr,
    /// Inner source port / echo id.
    pub sport: u16,
    /// Inner destination port / echo id.
    pub dport: u16,
}

/// Header fields the switch must rewrite (with incremental checksum
/// updates, RFC 1624). Only changed fields are `Some`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rewrite {
    /// New IP source.
    pub src: Option<IpAddr>,
    /// New IP destination.
    pub dst: Option<IpAddr>,
    /// New TCP/UDP source port.
    pub sport: Option<u16>,
    /// New TCP/UDP destination port.
    pub dport: Option<u16>,
    /// New ICMP echo identifier.
    pub icmp_id: Option<u16>,
    /// New inner header of an ICMP error.
    pub inner: Option<InnerRewrite>,
}

impl Rewrite {
    /// True when nothing changes.
    pub fn is_empty(&self) -> bool {
        *self == Rewrite::default()
    }
}

/// What conntrack tells the switch about one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CtResult {
    /// `ct_state`.
    pub state: CtState,
    /// `ct_zone`.
    pub zone: u16,
    /// `ct_mark`.
    pub mark: u32,
    /// `ct_label`.
    pub label: u128,
    /// Original-direction tuple, before NAT: `ct_nw_src/dst`,
    /// `ct_ipv6_src/dst`, `ct_nw_proto`, `ct_tp_src/dst`. `None` for
    /// untracked or invalid packets.
    pub orig: Option<Tuple>,
    /// Translation to apply (only when the action had `nat`).
    pub rewrite: Option<Rewrite>,
    /// Set when a new connection could not be committed.
    pub refused: Option<DropReason>,
}

impl CtResult {
    pub(crate) fn bare(state: CtState, zone: u16) -> Self {
        CtResult {
            state,
            zone,
            mark: 0,
            label: 0,
            orig: None,
            rewrite: None,
            refused: None,
        }
    }
}
