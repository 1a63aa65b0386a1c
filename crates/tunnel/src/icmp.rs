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

use core::net::{Ipv4Addr, Ipv6Addr};

use packet::flowkey::ethertype;
use packet::icmpv4::{self, Icmpv4Repr};
use packet::icmpv6::{self, Icmpv6Packet};
use packet::ip_proto;
use packet::ipv4::{Ipv4Packet, Ipv4Repr};
use packet::ipv6::{Ipv6Packet, Ipv6Repr};
use packet::vlan;

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
    let hdr = packet::ipv4::MIN_HEADER_LEN + icmpv4::HEADER_LEN;
    let quote_len = usize::from(ip.total_len()).min(ICMPV4_MAX_DATAGRAM - hdr);
    let total = l3 + hdr + quote_len;
    if out.len() < total {
        return Err(IcmpError::BufferTooSmall {
            need: total,
            have: out.len(),
        });
    }
    let out = &mut out[..total];
    swap_l2(orig, l3, out);
    let icmp_at = l3 + packet::ipv4::MIN_HEADER_LEN;
    out[icmp_at + icmpv4::HEADER_LEN..].copy_from_slice(&orig[l3..l3 + quote_len]);
    Icmpv4Repr {
        msg_type: icmpv4::msg_type::DEST_UNREACHABLE,
        code: CODE_FRAG_NEEDED,
        rest_of_header: u32::from(next_hop_mtu),
    }
    .emit(&mut out[icmp_at..])?;
    Ipv4Repr {
        src: reply_src,
        dst: s,
        protocol: ip_proto::ICMP,
        tos: REPLY_TOS,
        ttl: REPLY_TTL,
        ident: 0,
        dont_frag: false,
        more_frags: false,
        frag_offset: 0,
        payload_len: (icmpv4::HEADER_LEN + quote_len) as u16,
    }
    .emit(&mut out[l3..])?;
    Ok(total)
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
    let hdr = packet::ipv6::HEADER_LEN + 8;
    let orig_len = packet::ipv6::HEADER_LEN + usize::from(ip.payload_len());
    let quote_len = orig_len.min(ICMPV6_MAX_PACKET - hdr);
    let total = l3 + hdr + quote_len;
    if out.len() < total {
        return Err(IcmpError::BufferTooSmall {
            need: total,
            have: out.len(),
        });
    }
    let out = &mut out[..total];
    swap_l2(orig, l3, out);
    let icmp_at = l3 + packet::ipv6::HEADER_LEN;
    Ipv6Repr {
        src: reply_src,
        dst: s,
        next_header: ip_proto::ICMPV6,
        traffic_class: 0,
        flow_label: 0,
        hop_limit: REPLY_TTL,
        payload_len: (8 + quote_len) as u16,
    }
    .emit(&mut out[l3..])?;
    out[icmp_at + 8..].copy_from_slice(&orig[l3..l3 + quote_len]);
    let mut msg = Icmpv6Packet::new_checked(&mut out[icmp_at..])?;
    msg.set_msg_type(icmpv6::msg_type::PACKET_TOO_BIG);
    msg.set_code(0);
    msg.body_mut()[..4].copy_from_slice(&mtu.to_be_bytes());
    msg.fill_checksum(&reply_src, &s);
    Ok(total)
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
