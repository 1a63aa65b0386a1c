//! Receive-side coalescing of decapsulated TCP segments (software GRO).
//!
//! A sender's 64 KB TSO super-frame crosses the underlay as ~45 wire-sized
//! segments. Handing each to the receiving VM's TAP costs one pipeline pass
//! and one `write(2)` per MSS; the kernel avoids that with GRO (Linux
//! `tcp_gro_receive`, and `udp_tunnel` GRO for VXLAN/Geneve), and so does
//! OVS's userspace datapath. [`Coalescer`] does the same for the switch:
//! in-order segments of one flow, seen within one receive batch, are merged
//! into one frame with a `virtio_net_hdr` of `gso_type` TCPv4/TCPv6,
//! `gso_size` = the MSS and `NEEDS_CSUM` (virtio 1.x §5.1.6.2), which the
//! switch passes through whole: to a TAP in one write, to another tunnel
//! through [`Segmenter`](crate::Segmenter), which restores the segments
//! byte for byte.
//!
//! The merge rules are Linux's (`tcp_gro_receive`, `inet_gro_receive`,
//! `ipv6_gro_receive`), so that no information a receiver uses is lost:
//!
//! * same context (the caller's: port and tunnel metadata), same Ethernet
//!   (and VLAN) header, IPv4 without options and not a fragment, or IPv6
//!   with TCP as the next header; same addresses and ports;
//! * equal TOS / traffic class and flow label, TTL / hop limit and DF;
//!   IPv4 identification incrementing by one per segment (what TSO senders
//!   emit; [`Segmenter`](crate::Segmenter) regenerates it that way);
//! * the sequence number continuing the held data, equal acknowledgement,
//!   window, urgent pointer and option bytes (timestamps included, RFC 7323:
//!   equal values only), equal flags except PSH;
//! * no SYN, FIN, RST, URG or CWR (those go alone, after the held data of
//!   their flow, so order within a flow is kept), a payload of at most the
//!   first segment's; a shorter one or one with PSH ends the frame, which
//!   then carries PSH (RFC 9293 §3.9.1: PSH marks the end of a push);
//! * a valid TCP checksum (RFC 9293 §3.1): the merged frame's checksum is
//!   left partial, so a corrupted segment must not hide in it;
//! * at most 65535 bytes of IP packet, as the IPv4 total length allows.
//!
//! Up to [`MAX_FLOWS`] flows are held at once (Linux keeps 8 per NAPI
//! poll); a new flow beyond that flushes the oldest. The caller flushes
//! everything at the end of each receive batch ([`Coalescer::flush`]), so
//! nothing waits for later traffic. Buffers are allocated once, in
//! [`Coalescer::new`]; pushing and flushing allocate nothing.

use netio::vnet::{GsoType, VirtioNetHdr, VnetHdrLen};
use packet::flowkey::ethertype;
use packet::ip_proto;
use packet::tcp::flags;

use crate::gso::l3_offset;

/// Flows held at once.
pub const MAX_FLOWS: usize = 8;

/// Largest IP packet (header included) a merged frame may become.
const MAX_IP_LEN: usize = 65535;

/// Room for an Ethernet header with two VLAN tags in front of the IP packet.
const MAX_L2: usize = 14 + 8;

/// TCP flags a segment that is held or merged must not carry.
const NO_MERGE: u16 = flags::SYN | flags::FIN | flags::RST | flags::URG | flags::CWR;

/// Coalescing counters (`ofctl dump-tables`-style diagnostics).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GroStats {
    /// Frames emitted that hold more than one segment.
    pub coalesced: u64,
    /// Segments merged into a held frame (not counting each frame's first).
    pub merged: u64,
    /// TCP segments passed on alone because their checksum is wrong.
    pub bad_checksum: u64,
}

/// Where the headers of a TCP segment lie.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Layout {
    v6: bool,
    /// IP header offset.
    l3: usize,
    /// TCP header offset.
    l4: usize,
    /// Payload offset (after the TCP options).
    data: usize,
    /// Frame length (the end of the IP packet; no trailing padding).
    end: usize,
}

impl Layout {
    /// The layout of `frame` if it is a TCP segment with payload that the
    /// rules allow to be coalesced at all (see the module doc).
    fn parse(frame: &[u8]) -> Option<Layout> {
        let (et, l3) = l3_offset(frame).ok()?;
        let ip = frame.get(l3..)?;
        let (v6, l4, ip_len) = match et {
            ethertype::IPV4 => {
                let h = ip.get(..20)?;
                // Version 4, no options; MF clear and offset 0.
                let frag = u16::from_be_bytes([h[6], h[7]]) & 0x3fff;
                if h[0] != 0x45 || frag != 0 || h[9] != ip_proto::TCP {
                    return None;
                }
                (
                    false,
                    l3 + 20,
                    usize::from(u16::from_be_bytes([h[2], h[3]])),
                )
            }
            ethertype::IPV6 => {
                let h = ip.get(..40)?;
                if h[0] >> 4 != 6 || h[6] != ip_proto::TCP {
                    return None;
                }
                let payload = usize::from(u16::from_be_bytes([h[4], h[5]]));
                (true, l3 + 40, 40 + payload)
            }
            _ => return None,
        };
        // Padded frames (the IP packet shorter than the frame) are left
        // alone: the padding must not end up inside the merged payload.
        let end = l3 + ip_len;
        if end != frame.len() || l4 + 20 > end {
            return None;
        }
        let data = l4 + usize::from(frame[l4 + 12] >> 4) * 4;
        if data <= l4 + 19 || data >= end {
            return None;
        }
        Some(Layout {
            v6,
            l3,
            l4,
            data,
            end,
        })
    }

    fn payload(&self) -> usize {
        self.end - self.data
    }

    fn flags(&self, frame: &[u8]) -> u16 {
        u16::from(frame[self.l4 + 13])
    }

    fn seq(&self, frame: &[u8]) -> u32 {
        be32(&frame[self.l4 + 4..])
    }

    /// The bytes that identify the flow: Ethernet/VLAN header, addresses,
    /// ports.
    fn same_flow(&self, a: &[u8], other: &Layout, b: &[u8]) -> bool {
        let addrs = if self.v6 { 8..40 } else { 12..20 };
        self.v6 == other.v6
            && self.l3 == other.l3
            && self.l4 == other.l4
            && a[..self.l3] == b[..other.l3]
            && a[self.l3 + addrs.start..self.l3 + addrs.end]
                == b[other.l3 + addrs.start..other.l3 + addrs.end]
            && a[self.l4..self.l4 + 4] == b[other.l4..other.l4 + 4]
    }

    /// Whether a checksum over the segment as received is valid.
    fn checksum_ok(&self, frame: &[u8]) -> bool {
        let seg = &frame[self.l4..self.end];
        let pseudo = self.pseudo(frame, seg.len());
        packet::checksum::add(pseudo, packet::checksum::sum(seg)) == 0xffff
    }

    /// The pseudo-header sum for `len` bytes of TCP (RFC 9293 §3.1, RFC
    /// 8200 §8.1).
    fn pseudo(&self, frame: &[u8], len: usize) -> u16 {
        let ip = &frame[self.l3..];
        if self.v6 {
            let mut s = [0u8; 16];
            let mut d = [0u8; 16];
            s.copy_from_slice(&ip[8..24]);
            d.copy_from_slice(&ip[24..40]);
            packet::checksum::pseudo_header_v6(&s.into(), &d.into(), ip_proto::TCP, len as u32)
        } else {
            let s = [ip[12], ip[13], ip[14], ip[15]];
            let d = [ip[16], ip[17], ip[18], ip[19]];
            packet::checksum::pseudo_header_v4(s.into(), d.into(), ip_proto::TCP, len as u16)
        }
    }
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// One held flow: a frame being built at `buf[hdr..hdr + len]`.
#[derive(Debug)]
struct Slot<C> {
    buf: Box<[u8]>,
    /// The caller's context; `None` while the slot is free.
    ctx: Option<C>,
    /// Layout of the first segment, which the merged frame keeps.
    at: Layout,
    len: usize,
    segs: u16,
    mss: usize,
    next_seq: u32,
    psh: bool,
    /// When the flow was opened (for evicting the oldest).
    born: u64,
}

/// Merges in-order TCP segments of a flow into GSO frames; see the module
/// documentation. `C` is the caller's context that must be equal for two
/// segments to merge (for the switch: input port and tunnel metadata) and
/// is handed back with each frame.
#[derive(Debug)]
pub struct Coalescer<C> {
    slots: Vec<Slot<C>>,
    hdr: VnetHdrLen,
    clock: u64,
    stats: GroStats,
}

impl<C> Default for Coalescer<C> {
    /// A coalescer with no flow slots: every [`push`](Self::push) is
    /// refused. Allocates nothing (a placeholder while the real one is
    /// borrowed out with `std::mem::take`).
    fn default() -> Self {
        Coalescer {
            slots: Vec::new(),
            hdr: VnetHdrLen::V10,
            clock: 0,
            stats: GroStats::default(),
        }
    }
}

impl<C: Copy + PartialEq> Coalescer<C> {
    /// A coalescer holding up to `flows` flows (at most [`MAX_FLOWS`]),
    /// whose frames are emitted behind a `virtio_net_hdr` of length `hdr`.
    pub fn new(flows: usize, hdr: VnetHdrLen) -> Self {
        let cap = hdr.bytes() + MAX_L2 + MAX_IP_LEN;
        let slots = (0..flows.min(MAX_FLOWS))
            .map(|_| Slot {
                buf: vec![0u8; cap].into_boxed_slice(),
                ctx: None,
                at: Layout::default(),
                len: 0,
                segs: 0,
                mss: 0,
                next_seq: 0,
                psh: false,
                born: 0,
            })
            .collect();
        Coalescer {
            slots,
            hdr,
            clock: 0,
            stats: GroStats::default(),
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> GroStats {
        self.stats
    }

    /// Whether a flow is held.
    pub fn is_empty(&self) -> bool {
        self.slots.iter().all(|s| s.ctx.is_none())
    }

    /// Offers the Ethernet `frame` received in `ctx`. Returns `true` when
    /// the coalescer took it (copied; it comes back inside a frame passed
    /// to `emit`, now or at a later [`flush`](Self::flush)), `false` when
    /// the caller must pass it on itself — after this call, which first
    /// emits any held data of the same flow, so order within a flow holds.
    ///
    /// `emit` gets the context and a frame with the virtio header in
    /// front: all zeros for a lone segment (its bytes unchanged), a TCP GSO
    /// header for merged ones.
    pub fn push<F: FnMut(C, &mut [u8])>(&mut self, ctx: C, frame: &[u8], emit: &mut F) -> bool {
        let Some(at) = Layout::parse(frame) else {
            return false;
        };
        let fl = at.flags(frame);
        let flow = self.slots.iter().position(|s| {
            s.ctx == Some(ctx) && s.at.same_flow(&s.buf[self.hdr.bytes()..], &at, frame)
        });
        let csum_ok = at.checksum_ok(frame);
        if !csum_ok {
            self.stats.bad_checksum += 1;
        }
        if let Some(i) = flow {
            if csum_ok && self.mergeable(i, &at, frame) {
                self.append(i, &at, frame);
                let s = &self.slots[i];
                if s.psh || at.payload() < s.mss {
                    self.flush_slot(i, emit);
                }
                return true;
            }
            self.flush_slot(i, emit);
        }
        // A segment that starts a frame: data, no PSH (it would end the
        // frame at once) and none of the flags that never merge.
        if !csum_ok || fl & (NO_MERGE | flags::PSH) != 0 || fl & flags::ACK == 0 {
            return false;
        }
        let Some(i) = self.free_slot(emit) else {
            return false;
        };
        self.open(i, ctx, at, frame);
        true
    }

    /// Emits every held frame, oldest first.
    pub fn flush<F: FnMut(C, &mut [u8])>(&mut self, emit: &mut F) {
        while let Some(i) = self.oldest() {
            self.flush_slot(i, emit);
        }
    }

    fn oldest(&self) -> Option<usize> {
        (0..self.slots.len())
            .filter(|&i| self.slots[i].ctx.is_some())
            .min_by_key(|&i| self.slots[i].born)
    }

    /// A free slot, evicting (emitting) the oldest flow if all are taken.
    fn free_slot<F: FnMut(C, &mut [u8])>(&mut self, emit: &mut F) -> Option<usize> {
        if let Some(i) = self.slots.iter().position(|s| s.ctx.is_none()) {
            return Some(i);
        }
        let i = self.oldest()?;
        self.flush_slot(i, emit);
        Some(i)
    }

    fn open(&mut self, i: usize, ctx: C, at: Layout, frame: &[u8]) {
        let h = self.hdr.bytes();
        self.clock += 1;
        let s = &mut self.slots[i];
        s.buf[h..h + frame.len()].copy_from_slice(frame);
        s.ctx = Some(ctx);
        s.at = at;
        s.len = frame.len();
        s.segs = 1;
        s.mss = at.payload();
        s.next_seq = at.seq(frame).wrapping_add(at.payload() as u32);
        s.psh = false;
        s.born = self.clock;
    }

    /// Whether `frame` (of the slot's flow) continues slot `i`'s frame.
    fn mergeable(&self, i: usize, at: &Layout, frame: &[u8]) -> bool {
        let s = &self.slots[i];
        let held = &s.buf[self.hdr.bytes()..];
        let (l3, l4) = (at.l3, at.l4);
        let ip_ok = if at.v6 {
            // Version, traffic class, flow label; hop limit.
            frame[l3..l3 + 4] == held[l3..l3 + 4] && frame[l3 + 7] == held[l3 + 7]
        } else {
            let id = u16::from_be_bytes([frame[l3 + 4], frame[l3 + 5]]);
            let first = u16::from_be_bytes([held[l3 + 4], held[l3 + 5]]);
            // TOS; flags (DF); TTL.
            frame[l3 + 1] == held[l3 + 1]
                && frame[l3 + 6] == held[l3 + 6]
                && frame[l3 + 8] == held[l3 + 8]
                && id == first.wrapping_add(s.segs)
        };
        // Acknowledgement; data offset, flags but PSH, window; urgent
        // pointer; options.
        let fl = at.flags(frame);
        ip_ok
            && fl & NO_MERGE == 0
            && at.data == s.at.data
            && at.seq(frame) == s.next_seq
            && at.payload() <= s.mss
            && frame[l4 + 8..l4 + 13] == held[l4 + 8..l4 + 13]
            && frame[l4 + 13] & !(flags::PSH as u8) == held[l4 + 13]
            && frame[l4 + 14..l4 + 16] == held[l4 + 14..l4 + 16]
            && frame[l4 + 18..at.data] == held[l4 + 18..at.data]
            && s.len - l3 + at.payload() <= MAX_IP_LEN
            && s.segs < u16::MAX
    }

    fn append(&mut self, i: usize, at: &Layout, frame: &[u8]) {
        let h = self.hdr.bytes();
        let s = &mut self.slots[i];
        let payload = &frame[at.data..at.end];
        s.buf[h + s.len..h + s.len + payload.len()].copy_from_slice(payload);
        s.len += payload.len();
        s.segs += 1;
        s.next_seq = s.next_seq.wrapping_add(payload.len() as u32);
        s.psh |= at.flags(frame) & flags::PSH != 0;
        self.stats.merged += 1;
    }

    /// Finishes slot `i`'s frame, hands it to `emit` and frees the slot.
    fn flush_slot<F: FnMut(C, &mut [u8])>(&mut self, i: usize, emit: &mut F) {
        let h = self.hdr.bytes();
        let hdr = self.hdr;
        let s = &mut self.slots[i];
        let Some(ctx) = s.ctx.take() else { return };
        let at = s.at;
        let frame = &mut s.buf[h..h + s.len];
        let mut vnet = VirtioNetHdr::default();
        if s.segs > 1 {
            let ip_len = s.len - at.l3;
            if at.v6 {
                let payload = (ip_len - 40) as u16;
                frame[at.l3 + 4..at.l3 + 6].copy_from_slice(&payload.to_be_bytes());
            } else {
                frame[at.l3 + 2..at.l3 + 4].copy_from_slice(&(ip_len as u16).to_be_bytes());
                frame[at.l3 + 10..at.l3 + 12].fill(0);
                let c = packet::checksum::ipv4_header(&frame[at.l3..at.l4]);
                frame[at.l3 + 10..at.l3 + 12].copy_from_slice(&c.to_be_bytes());
            }
            if s.psh {
                frame[at.l4 + 13] |= flags::PSH as u8;
            }
            // NEEDS_CSUM: the field holds the pseudo-header sum, the rest
            // is summed by whoever completes it (virtio 1.x §5.1.6.2).
            let pseudo = at.pseudo(frame, s.len - at.l4);
            frame[at.l4 + 16..at.l4 + 18].copy_from_slice(&pseudo.to_be_bytes());
            vnet = VirtioNetHdr {
                flags: VirtioNetHdr::F_NEEDS_CSUM,
                gso_type: if at.v6 {
                    GsoType::TcpV6
                } else {
                    GsoType::TcpV4
                },
                gso_ecn: false,
                hdr_len: at.data as u16,
                gso_size: s.mss as u16,
                csum_start: at.l4 as u16,
                csum_offset: 16,
                num_buffers: 0,
            };
            self.stats.coalesced += 1;
        }
        // The buffer always has `h` bytes in front of the frame.
        if vnet.emit(&mut s.buf[..h], hdr).is_ok() {
            emit(ctx, &mut s.buf[..h + s.len]);
        }
    }
}

#[cfg(test)]
#[path = "gro_tests.rs"]
mod tests;
