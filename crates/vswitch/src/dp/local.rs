//! The local responder: `controller()` actions executed inside the switch.
//!
//! A `controller(userdata=...)` whose userdata starts with `cloudnet:` is a
//! local action ([`super::local_op`], LOCAL_ACTIONS.md): the switch builds
//! the answer with the `responder` crate — an ICMP error, an ARP reply, a
//! Neighbor Advertisement, an echo reply, a DHCPv4 reply — and sends it
//! back out of the packet's input port, as OVN's `pinctrl` does with
//! `icmp4 {...}; output;` towards `inport`, without running the reply
//! through the tables. The packet itself is consumed, as a packet-in is.
//!
//! Any other `controller()` action is a packet-in for an OpenFlow
//! controller, and cloudnet has none on the data path: it is counted
//! (`no_controller`, or `invalid_ttl` for `dec_ttl` expiry) and the rest of
//! the flow's actions still run, as in OVS.
//!
//! Buffers are allocated once per patch depth; a reply costs one copy of
//! the frame only when a VLAN tag has to be removed first.

use flow::actions::{ControllerAction, ControllerReason};
use responder::dhcp::MAX_REPLY_LEN;
use responder::icmp_error::{self, ErrorSource, Quote};
use responder::nd::NdConfig;
use responder::{arp, echo, nd, L2Addrs, NoReply};

use super::local_op::{self, LocalOp};
use super::port::{Pieces, VlanEdit, BUF_LEN, HDR};
use super::stats::DropReason;
use super::Datapath;

/// Per-depth buffers of the local responder.
#[derive(Debug)]
pub(super) struct Bufs {
    /// The input frame without its VLAN tag (virtio header included).
    untagged: Vec<u8>,
    /// The reply (virtio header included).
    reply: Vec<u8>,
}

impl Default for Bufs {
    fn default() -> Self {
        Bufs {
            untagged: Vec::with_capacity(BUF_LEN),
            reply: vec![0; HDR + MAX_REPLY_LEN],
        }
    }
}

/// Writes the answer `op` gives to `frame` (an untagged Ethernet frame)
/// into `out`, returning its length.
pub fn respond(op: &LocalOp, frame: &[u8], out: &mut [u8]) -> Result<usize, NoReply> {
    match op {
        LocalOp::Icmp4Error { src, kind } => {
            let from = ErrorSource {
                addr: *src,
                l2: L2Addrs::Swap,
                ttl: echo::DEFAULT_TTL,
            };
            icmp_error::icmpv4_error(frame, *kind, &from, Quote::Rfc1812, out)
        }
        LocalOp::Icmp6Error { src, kind } => {
            let from = ErrorSource {
                addr: *src,
                l2: L2Addrs::Swap,
                ttl: echo::DEFAULT_TTL,
            };
            icmp_error::icmpv6_error(frame, *kind, &from, out)
        }
        LocalOp::ArpReply { mac } => arp::respond(frame, &|_| Some(*mac), out),
        LocalOp::NdNa { mac, router } => {
            nd::respond(frame, &|_| Some(*mac), NdConfig { router: *router }, out)
        }
        // The flow matched the router address; the op answers whatever
        // echo request of its family reached it.
        LocalOp::Icmp4Echo => echo::respond(frame, |ip| ip.is_ipv4(), out),
        LocalOp::Icmp6Echo => echo::respond(frame, |ip| ip.is_ipv6(), out),
        LocalOp::Dhcp4(binding) => responder::dhcp::respond_for(frame, binding, out),
    }
}

impl Datapath {
    /// Executes a `controller()` action on `frame` (as modified so far,
    /// virtio header included) received on `slot`; `vlan` is the packet's
    /// VLAN TCI now (the reply leaves with it). VLAN edits are applied on
    /// output, so the bytes still carry the tag the frame arrived with, if
    /// any: the responders get the frame without it.
    pub(super) fn controller(
        &mut self,
        bi: usize,
        slot: usize,
        frame: &[u8],
        vlan: Option<u16>,
        c: &ControllerAction,
        depth: usize,
    ) {
        let op = match local_op::parse(&c.userdata) {
            None if c.reason == ControllerReason::InvalidTtl => {
                return self.count(bi, DropReason::InvalidTtl);
            }
            None => return self.count(bi, DropReason::NoController),
            Some(Err(e)) => {
                tracing::debug!("local action: {e}");
                return self.count(bi, DropReason::LocalActionError);
            }
            Some(Ok(op)) => op,
        };
        let Some(mut bufs) = self.local.get_mut(depth).map(std::mem::take) else {
            return;
        };
        let input = match Pieces::new(frame, VlanEdit::Pop) {
            Some(p) => {
                p.copy_into(&mut bufs.untagged);
                &bufs.untagged[..]
            }
            None => frame,
        };
        let eth = input.get(HDR..).unwrap_or(&[]);
        let (hdr, out) = bufs.reply.split_at_mut(HDR);
        hdr.fill(0);
        match respond(&op, eth, out) {
            Ok(len) => {
                let edit = vlan.map_or(VlanEdit::Keep, VlanEdit::Push);
                self.transmit(bi, slot, slot, &bufs.reply[..HDR + len], edit, depth);
            }
            Err(e) => {
                tracing::debug!("local action {:?}: no reply: {e}", op_name(&op));
                self.count(bi, DropReason::LocalNoReply);
            }
        }
        self.local[depth] = bufs;
    }

    fn count(&mut self, bi: usize, why: DropReason) {
        if let Some(Some(b)) = self.bridges.get_mut(bi) {
            b.drops.bump(why);
        }
    }
}

fn op_name(op: &LocalOp) -> &'static str {
    match op {
        LocalOp::Icmp4Error { .. } => "icmp4 error",
        LocalOp::Icmp6Error { .. } => "icmp6 error",
        LocalOp::ArpReply { .. } => "arp-reply",
        LocalOp::NdNa { .. } => "nd-na",
        LocalOp::Icmp4Echo => "icmp4-echo-reply",
        LocalOp::Icmp6Echo => "icmp6-echo-reply",
        LocalOp::Dhcp4(_) => "dhcp4",
    }
}

#[cfg(test)]
#[path = "local_tests.rs"]
mod tests;
