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
//! With `table=T` the answer is not sent out of the input port: it enters
//! the pipeline at table `T` carrying the packet-in's registers and
//! `metadata` (a router's ARP request for an unknown next hop goes out of
//! the router port onto its network this way, as OVN's `pinctrl` resumes
//! the `arp { ...; output; }` it builds).
//!
//! Buffers are allocated once per patch depth; a reply costs one copy of
//! the frame only when a VLAN tag has to be removed first.

use flow::actions::{port, ControllerAction, ControllerReason};
use responder::dhcp::MAX_REPLY_LEN;
use responder::icmp_error::{self, ErrorSource, Quote};
use responder::nd::NdConfig;
use responder::{arp, echo, nd, L2Addrs, NoReply};

use super::ct::Recirc;
use super::local_op::{self, LocalOp};
use super::port::{Pieces, VlanEdit, BUF_LEN, HDR};
use super::stats::DropReason;
use super::{Datapath, MAX_PATCH_DEPTH};

/// A `controller()` datapath action: the action and the pipeline state it
/// froze (registers and `metadata`, as OVS's NXT_PACKET_IN2 carries them).
#[derive(Clone, Copy, Debug)]
pub(super) struct PacketIn<'a> {
    pub action: &'a ControllerAction,
    pub regs: &'a [u32; 16],
    pub metadata: u64,
}

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
/// into `out`, returning its length; `regs` are the packet-in's registers.
pub fn respond(
    op: &LocalOp,
    frame: &[u8],
    regs: &[u32; 16],
    out: &mut [u8],
) -> Result<usize, NoReply> {
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
        LocalOp::ArpRequest { spa, sha, tpa } => arp::request(*sha, *spa, tpa.get(regs), out),
        LocalOp::NdNs { sip, sha, target } => nd::request(*sha, *sip, target.get(regs), out),
        LocalOp::NdRa(cfg) => responder::ra::respond(frame, cfg, out),
        LocalOp::Dhcp6(cfg) => responder::dhcp6::respond(frame, cfg, out),
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
        pin: PacketIn<'_>,
        depth: usize,
    ) {
        let c = pin.action;
        let la = match local_op::parse(&c.userdata) {
            None if c.reason == ControllerReason::InvalidTtl => {
                return self.count(bi, DropReason::InvalidTtl);
            }
            None => return self.count(bi, DropReason::NoController),
            Some(Err(e)) => {
                tracing::debug!("local action: {e}");
                return self.count(bi, DropReason::LocalActionError);
            }
            Some(Ok(la)) => la,
        };
        let op = &la.op;
        if la.resume.is_some() && depth >= MAX_PATCH_DEPTH {
            return self.count(bi, DropReason::LocalLoop);
        }
        let Some(mut bufs) = self.local.get_mut(depth).map(std::mem::take) else {
            return;
        };
        let partial = frame.first().is_some_and(|f| f & NEEDS_CSUM != 0);
        let input = match Pieces::new(frame, VlanEdit::Pop) {
            Some(p) => {
                p.copy_into(&mut bufs.untagged);
                finish_partial_csum(&mut bufs.untagged);
                &bufs.untagged[..]
            }
            None if partial => {
                bufs.untagged.clear();
                bufs.untagged.extend_from_slice(frame);
                finish_partial_csum(&mut bufs.untagged);
                &bufs.untagged[..]
            }
            None => frame,
        };
        let eth = input.get(HDR..).unwrap_or(&[]);
        let (hdr, out) = bufs.reply.split_at_mut(HDR);
        hdr.fill(0);
        match (respond(op, eth, pin.regs, out), la.resume) {
            (Ok(len), None) => {
                let edit = vlan.map_or(VlanEdit::Keep, VlanEdit::Push);
                self.transmit(bi, slot, slot, &bufs.reply[..HDR + len], edit, depth);
            }
            (Ok(len), Some(table)) => {
                // A packet-out into the tables: from the controller port
                // (no output is skipped as "the input port"), with the
                // frozen state, starting at `table`.
                let meta = flow::Metadata {
                    in_port: port::CONTROLLER,
                    regs: *pin.regs,
                    metadata: pin.metadata,
                    recirc_id: flow::recirc_id_for_table(table),
                    ..flow::Metadata::default()
                };
                let (tun, egress) = (self.tx_tun, self.egress_meta);
                let frame = &mut bufs.reply[..HDR + len];
                self.pipeline(bi, slot, frame, &meta, depth + 1, Recirc::default());
                self.tx_tun = tun;
                self.egress_meta = egress;
            }
            (Err(e), _) => {
                tracing::debug!("local action {:?}: no reply: {e}", op_name(op));
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

/// `VIRTIO_NET_HDR_F_NEEDS_CSUM` in the first byte of the virtio header.
const NEEDS_CSUM: u8 = 1;

/// Completes the checksum a guest left partial (`NEEDS_CSUM`: the field
/// holds the pseudo-header sum, virtio 1.x §5.1.6.2) in `buf` (virtio
/// header first), as the NIC would: the responders verify checksums and a
/// kernel's UDP over a TAP with offloads (a DHCPv6 client's socket) sends
/// them partial. A zero UDP result is sent as 0xffff (RFC 768), which
/// verifies the same for TCP.
fn finish_partial_csum(buf: &mut [u8]) {
    if buf.first().is_none_or(|f| f & NEEDS_CSUM == 0) {
        return;
    }
    let le16 = |b: &[u8], i: usize| {
        b.get(i..i + 2)
            .map(|x| usize::from(u16::from_le_bytes([x[0], x[1]])))
    };
    let (Some(start), Some(off)) = (le16(buf, 6), le16(buf, 8)) else {
        return;
    };
    let start = HDR + start;
    let Some(data) = buf.get(start..) else {
        return;
    };
    if off + 2 > data.len() {
        return;
    }
    let c = match packet::checksum::checksum(data) {
        0 => 0xffff,
        c => c,
    };
    buf[start + off..start + off + 2].copy_from_slice(&c.to_be_bytes());
    buf[0] &= !NEEDS_CSUM;
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
        LocalOp::ArpRequest { .. } => "arp-request",
        LocalOp::NdNs { .. } => "nd-ns",
        LocalOp::NdRa(_) => "nd-ra",
        LocalOp::Dhcp6(_) => "dhcp6",
    }
}

#[cfg(test)]
#[path = "local_tests.rs"]
mod tests;
