//! Echo replies from router addresses: ICMP echo (RFC 792, type 8 → 0)
//! and ICMPv6 echo (RFC 4443 §4, type 128 → 129). OVN answers these with
//! flows in `lr_in_ip_input` (ovn-northd(8), "ICMP echo reply"); cloudnet
//! answers them here, reached by a `controller()` action.
//!
//! The reply reuses the request's identifier, sequence and data unchanged
//! (RFC 792: "The data received in the echo message must be returned in
//! the echo reply message"); the checksum is updated incrementally for the
//! type change (RFC 1624), as the data is copied byte for byte.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use packet::checksum;
use packet::ethernet::EthernetFrame;
use packet::flowkey::ethertype;
use packet::icmpv4::{self, Icmpv4Packet};
use packet::icmpv6::{self, Icmpv6Packet};
use packet::ip_proto;
use packet::ipv4::{self, Ipv4Packet, Ipv4Repr};
use packet::ipv6::{self, Ipv6Packet, Ipv6Repr};

use crate::frame::{is_group_mac, need, write_eth, ETH_LEN};
use crate::NoReply;

/// TTL / hop limit of generated replies (Linux's default, and RFC 1700's
/// recommended 64).
pub const DEFAULT_TTL: u8 = 64;

/// Answers an ICMP or ICMPv6 echo request in `frame` whose destination
/// `is_router(dst)` accepts. Ethernet addresses are swapped, IP addresses
/// swapped, TTL / hop limit set to [`DEFAULT_TTL`].
#[inline]
pub fn respond(
    frame: &[u8],
    is_router: impl Fn(IpAddr) -> bool,
    out: &mut [u8],
) -> Result<usize, NoReply> {
    let eth = EthernetFrame::new_checked(frame)?;
    match eth.ethertype() {
        ethertype::IPV4 => respond_v4(&eth, is_router, out),
        ethertype::IPV6 => respond_v6(&eth, is_router, out),
        _ => Err(NoReply::NotForUs),
    }
}

/// `true` when an IPv4 source can be answered: a unicast host address
/// (RFC 1122 §3.2.1.3: not 0.0.0.0, broadcast, multicast, loopback, class E).
#[inline]
pub(crate) fn is_unicast_v4(ip: Ipv4Addr) -> bool {
    !(ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_loopback()
        || ip.octets()[0] >= 240)
}

fn respond_v4(
    eth: &EthernetFrame<&[u8]>,
    is_router: impl Fn(IpAddr) -> bool,
    out: &mut [u8],
) -> Result<usize, NoReply> {
    let ip = Ipv4Packet::new_checked(eth.payload())?;
    if ip.protocol() != ip_proto::ICMP {
        return Err(NoReply::NotForUs);
    }
    let (src, dst) = (ip.src(), ip.dst());
    if !is_router(IpAddr::V4(dst)) {
        return Err(NoReply::UnknownTarget);
    }
    if ip.is_fragment() {
        return Err(NoReply::Fragment);
    }
    if !is_unicast_v4(src) || is_group_mac(&eth.src()) {
        return Err(NoReply::NotForUs);
    }
    if !ip.verify_checksum() {
        return Err(NoReply::BadChecksum("ipv4"));
    }
    let msg = ip.payload();
    let icmp = Icmpv4Packet::new_checked(msg)?;
    if icmp.msg_type() != icmpv4::msg_type::ECHO_REQUEST || icmp.code() != 0 {
        return Err(NoReply::NotForUs);
    }
    if !icmp.verify_checksum() {
        return Err(NoReply::BadChecksum("icmp"));
    }
    let ip_len = ipv4::MIN_HEADER_LEN + msg.len();
    let total = ETH_LEN + ip_len;
    need(out, total)?;
    write_eth(out, eth.dst(), eth.src(), ethertype::IPV4)?;
    let ip_out = &mut out[ETH_LEN..total];
    let icmp_out = &mut ip_out[ipv4::MIN_HEADER_LEN..];
    icmp_out.copy_from_slice(msg);
    let mut reply = Icmpv4Packet::new_checked(&mut *icmp_out)?;
    reply.set_msg_type(icmpv4::msg_type::ECHO_REPLY);
    let old = u16::from(icmpv4::msg_type::ECHO_REQUEST) << 8;
    let new = u16::from(icmpv4::msg_type::ECHO_REPLY) << 8;
    reply.set_checksum(checksum::update16(icmp.checksum(), old, new));
    Ipv4Repr {
        src: dst,
        dst: src,
        protocol: ip_proto::ICMP,
        tos: ip.tos(),
        ttl: DEFAULT_TTL,
        ident: ip.ident(),
        dont_frag: false,
        more_frags: false,
        frag_offset: 0,
        payload_len: msg.len() as u16,
    }
    .emit(ip_out)?;
    Ok(total)
}

fn respond_v6(
    eth: &EthernetFrame<&[u8]>,
    is_router: impl Fn(IpAddr) -> bool,
    out: &mut [u8],
) -> Result<usize, NoReply> {
    let ip = Ipv6Packet::new_checked(eth.payload())?;
    if ip.next_header() != ip_proto::ICMPV6 {
        return Err(NoReply::NotForUs);
    }
    let (src, dst): (Ipv6Addr, Ipv6Addr) = (ip.src(), ip.dst());
    if !is_router(IpAddr::V6(dst)) {
        return Err(NoReply::UnknownTarget);
    }
    if src.is_unspecified() || src.is_multicast() || is_group_mac(&eth.src()) {
        return Err(NoReply::NotForUs);
    }
    let msg = ip.payload();
    let icmp = Icmpv6Packet::new_checked(msg)?;
    if icmp.msg_type() != icmpv6::msg_type::ECHO_REQUEST || icmp.code() != 0 {
        return Err(NoReply::NotForUs);
    }
    if msg.len() < 8 {
        return Err(NoReply::Malformed(packet::Error::Truncated {
            layer: "icmpv6-echo",
            need: 8,
            have: msg.len(),
        }));
    }
    if !icmp.verify_checksum(&src, &dst) {
        return Err(NoReply::BadChecksum("icmpv6"));
    }
    let ip_len = ipv6::HEADER_LEN + msg.len();
    let total = ETH_LEN + ip_len;
    need(out, total)?;
    write_eth(out, eth.dst(), eth.src(), ethertype::IPV6)?;
    let ip_out = &mut out[ETH_LEN..total];
    Ipv6Repr {
        src: dst,
        dst: src,
        next_header: ip_proto::ICMPV6,
        traffic_class: ip.traffic_class(),
        flow_label: 0,
        hop_limit: DEFAULT_TTL,
        payload_len: msg.len() as u16,
    }
    .emit(ip_out)?;
    let icmp_out = &mut ip_out[ipv6::HEADER_LEN..];
    icmp_out.copy_from_slice(msg);
    let mut reply = Icmpv6Packet::new_checked(&mut *icmp_out)?;
    reply.set_msg_type(icmpv6::msg_type::ECHO_REPLY);
    // The pseudo-header sums the same two addresses in either order.
    let old = u16::from(icmpv6::msg_type::ECHO_REQUEST) << 8;
    let new = u16::from(icmpv6::msg_type::ECHO_REPLY) << 8;
    reply.set_checksum(checksum::update16(icmp.checksum(), old, new));
    Ok(total)
}
