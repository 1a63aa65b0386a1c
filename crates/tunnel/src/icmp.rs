//! ICMP "too big" replies for a frame that does not fit the tunnel: ICMPv4
//! Destination Unreachable / Fragmentation Needed with the next-hop MTU
//! (RFC 792, RFC 1191 §4) and ICMPv6 Packet Too Big (RFC 4443 §3.2,
//! RFC 8201), sent back to the VM so that path MTU discovery works instead
//! of a silent drop.
//!
//! The reply goes back on the port the frame came from: its Ethernet
//! addresses are the original's swapped (the VM's gateway MAC, or the MAC
//! the VM addressed, becomes the source), VLAN tags kept. Its IP source is
//! the original destination unless the caller names one (e.g. the router
//! port's address): on a pure L2 overlay there is no router, and the
//! destination is the address the sender will accept it from, as Linux's
//! `iptunnel_pmtud_build_icmp` does.
//!
//! The checks that give this module's typed errors are made here; the IP
//! datagram itself (quote, headers, checksums) is built by the
//! `responder` crate's ICMP error builder, shared with the switch's local
//! responder.

use core::net::{Ipv4Addr, Ipv6Addr};

use packet::flowkey::ethertype;
use packet::ip_proto;
use packet::ipv4::Ipv4Packet;
use packet::ipv6::Ipv6Packet;
use packet::vlan;
use responder::icmp_error::{self, Icmpv4Error, Icmpv6Error, Quote};
use responder::NoReply;

use crate::error::IcmpError;

/// RFC 1812 §4.3.2.3: an ICMP error quotes as much of the original as fits
/// without the ICMP datagram exceeding 576 bytes.
pub const ICMPV4_MAX_DATAGRAM: usize = 576;
/// RFC 4443 §2.4(c): as much of the original as fits without the ICMPv6
/// packet exceeding the minimum IPv6 MTU.
pub const ICMPV6_MAX_PACKET: usize = 1280;
/// ICMPv4 code "fragmentation needed and DF set" (RFC 792).
pub const CODE_FRAG_NEEDED: u8 = 4;
/// Hop limit / TTL of the replies.
pub const REPLY_TTL: u8 = 64;
/// TOS of ICMPv4 errors: precedence "internetwork control" (RFC 1812
/// §4.3.2.5 and Linux's `icmp_send`).
pub const REPLY_TOS: u8 = 0xc0;

/// Builds the reply for an IPv4 or IPv6 frame, whichever `orig` is:
/// [`frag_needed_v4`] or [`packet_too_big_v6`] with no explicit source.
pub fn too_big_reply(orig: &[u8], mtu: u32, out: &mut [u8]) -> Result<usize, IcmpError> {
    let (et, _) = l2(orig)?;
    match et {
        ethertype::IPV4 => frag_needed_v4(orig, mtu.min(u32::from(u16::MAX)) as u16, None, out),
        ethertype::IPV6 => packet_too_big_v6(orig, mtu, None, out),
        other => Err(IcmpError::NotIp { ethertype: other }),
    }
}

/// Writes into `out` an Ethernet frame carrying ICMPv4 type 3 code 4 with
/// `next_hop_mtu` (RFC 1191 §4), quoting the original IP packet up to the
/// 576-byte limit. Returns the frame length.
///
/// Refuses (RFC 1812 §4.3.2.7) originals without DF, ICMP errors,
/// non-first fragments, non-unicast sources and link-layer broadcasts.
pub fn frag_needed_v4(
    orig: &[u8],
    next_hop_mtu: u16,
    src: Option<Ipv4Addr>,
    out: &mut [u8],
) -> Result<usize, IcmpError> {
    let (et, l3) = l2(orig)?;
    if et != ethertype::IPV4 {
        return Err(IcmpError::NotIp { ethertype: et });
    }
    if orig[0] & 1 != 0 {
        return Err(IcmpError::LinkBroadcast);
    }
    let ip = Ipv4Packet::new_checked(&orig[l3..])?;
    if !ip.dont_frag() {
        return Err(IcmpError::DfNotSet);
    }
    if ip.frag_offset() != 0 {
        return Err(IcmpError::LaterFragment);
    }
    let s = ip.src();
    if s.is_unspecified() || s.is_broadcast() || s.is_multicast() || s.is_loopback() {
        return Err(IcmpError::SourceNotUnicast);
    }
    if ip.protocol() == ip_proto::ICMP {
        if let Some(&t) = ip.payload().first() {
            // Errors: unreachable, source quench, redirect, time exceeded,
            // parameter problem (RFC 792).
            if matches!(t, 3 | 4 | 5 | 11 | 12) {
                return Err(IcmpError::AboutIcmpError);
            }
        }
    }
    let reply_src = match src {
        Some(a) => a,
        None => {
            let d = ip.dst();
            if d.is_multicast() || d.is_broadcast() || d.is_unspecified() {
                return Err(IcmpError::NoSource);
            }
            d
        }
    };
    if out.len() < l3 {
        return Err(IcmpError::BufferTooSmall {
            need: l3,
            have: out.len(),
        });
    }
    let kind = Icmpv4Error::FragmentationNeeded { mtu: next_hop_mtu };
    let len = icmp_error::icmpv4_error_l3(
        &orig[l3..],
        kind,
        reply_src,
        REPLY_TTL,
        Quote::Rfc1812,
        &mut out[l3..],
    )
    .map_err(|e| from_responder(e, l3))?;
    swap_l2(orig, l3, out);
    Ok(l3 + len)
}

/// Writes into `out` an Ethernet frame carrying ICMPv6 Packet Too Big with
/// `mtu` (RFC 4443 §3.2), quoting the original up to the 1280-byte limit.
/// Sent even when the original went to a multicast group (RFC 4443
/// §2.4(e.3)), in which case `src` must be given.
pub fn packet_too_big_v6(
    orig: &[u8],
    mtu: u32,
    src: Option<Ipv6Addr>,
    out: &mut [u8],
) -> Result<usize, IcmpError> {
    let (et, l3) = l2(orig)?;
    if et != ethertype::IPV6 {
        return Err(IcmpError::NotIp { ethertype: et });
    }
    let ip = Ipv6Packet::new_checked(&orig[l3..])?;
    let s = ip.src();
    if s.is_unspecified() || s.is_multicast() || s.is_loopback() {
        return Err(IcmpError::SourceNotUnicast);
    }
    if let Ok(upper) = packet::ipv6::walk(ip.next_header(), ip.payload()) {
        if upper.protocol == ip_proto::ICMPV6 && !upper.later_fragment {
            if let Some(&t) = ip.payload().get(upper.offset) {
                // RFC 4443 §2.4(e.1): types below 128 are errors.
                if t < 128 {
                    return Err(IcmpError::AboutIcmpError);
                }
            }
        }
    }
    let reply_src = match src {
        Some(a) => a,
        None => {
            let d = ip.dst();
            if d.is_multicast() || d.is_unspecified() {
                return Err(IcmpError::NoSource);
            }
            d
        }
    };
    if out.len() < l3 {
        return Err(IcmpError::BufferTooSmall {
            need: l3,
            have: out.len(),
        });
    }
    let kind = Icmpv6Error::PacketTooBig { mtu };
    let len = icmp_error::icmpv6_error_l3(&orig[l3..], kind, reply_src, REPLY_TTL, &mut out[l3..])
        .map_err(|e| from_responder(e, l3))?;
    swap_l2(orig, l3, out);
    Ok(l3 + len)
}

/// The responder's reason as this module's error. The checks above run
/// first, so what remains is a bad IPv4 header checksum, a broadcast or
/// multicast IP destination behind a unicast MAC (RFC 1812 §4.3.2.7), or a
/// short buffer (whose sizes count the L2 header here).
fn from_responder(e: NoReply, l3: usize) -> IcmpError {
    match e {
        NoReply::Malformed(h) => IcmpError::Header(h),
        NoReply::BufferTooSmall { need, have } => IcmpError::BufferTooSmall {
            need: need + l3,
            have: have + l3,
        },
        NoReply::ErrorSuppressed(_) => IcmpError::LinkBroadcast,
        NoReply::BadChecksum(layer) => IcmpError::Header(packet::Error::Malformed {
            layer,
            field: "header checksum",
        }),
        _ => IcmpError::Header(packet::Error::Malformed {
            layer: "icmp",
            field: "original packet",
        }),
    }
}

/// Ethertype after up to two VLAN tags, and the L3 offset.
fn l2(frame: &[u8]) -> Result<(u16, usize), IcmpError> {
    let eth = packet::ethernet::EthernetFrame::new_checked(frame)?;
    let mut et = eth.ethertype();
    let mut at = packet::ethernet::HEADER_LEN;
    for _ in 0..2 {
        if !vlan::is_tpid(et) {
            break;
        }
        let tag = vlan::VlanTag::new_checked(&frame[at..])?;
        et = tag.ethertype();
        at += vlan::HEADER_LEN;
    }
    Ok((et, at))
}

/// Copies the L2 header (tags included) with the MACs swapped.
fn swap_l2(orig: &[u8], l3: usize, out: &mut [u8]) {
    out[..l3].copy_from_slice(&orig[..l3]);
    out[0..6].copy_from_slice(&orig[6..12]);
    out[6..12].copy_from_slice(&orig[0..6]);
}
