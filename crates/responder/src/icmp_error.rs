//! ICMP errors a router sends back to the source of a packet it cannot
//! deliver: time exceeded after `dec_ttl` (ovs-actions(7): "dec_ttl ... sends
//! the packet to the controller" when the TTL expires), destination
//! unreachable, fragmentation needed / packet too big.
//!
//! IPv4 (RFC 792, RFC 1812 §4.3.2): the error quotes the offending IP header
//! and at least 8 bytes of its data; RFC 1812 §4.3.2.3 lets a router quote
//! as much as keeps the error within 576 bytes, which gives the source its
//! transport header even behind IP options. IPv6 (RFC 4443 §2.4(c)): quote
//! as much as keeps the error within the minimum MTU, 1280 bytes.
//!
//! Suppression rules (RFC 1122 §3.2.2, RFC 1812 §4.3.2.7, RFC 4443 §2.4(e)):
//! no error about an ICMP error, about a non-first IPv4 fragment, about a
//! packet sent to a broadcast/multicast address (IPv6: except Packet Too
//! Big), or about a packet whose source is not a unicast host.

use core::net::{Ipv4Addr, Ipv6Addr};

use packet::ethernet::EthernetFrame;
use packet::flowkey::ethertype;
use packet::icmpv4::{self, Icmpv4Repr};
use packet::icmpv6::Icmpv6Repr;
use packet::ip_proto;
use packet::ipv4::{self, Ipv4Packet, Ipv4Repr};
use packet::ipv6::{self, Ipv6Packet, Ipv6Repr};

use crate::echo::is_unicast_v4;
use crate::frame::{is_group_mac, need, write_eth, ETH_LEN};
use crate::{L2Addrs, NoReply};

/// An ICMPv4 error (RFC 792 types 3 and 11, codes from RFC 792 and
/// RFC 1812 §5.2.7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Icmpv4Error {
    /// Type 11 code 0: TTL exceeded in transit.
    TimeExceeded,
    /// Type 3 code 0: no route to the network.
    NetUnreachable,
    /// Type 3 code 1: host unreachable (no ARP answer).
    HostUnreachable,
    /// Type 3 code 2: protocol unreachable.
    ProtocolUnreachable,
    /// Type 3 code 3: port unreachable.
    PortUnreachable,
    /// Type 3 code 4 with the next-hop MTU (RFC 1191 §4).
    FragmentationNeeded { mtu: u16 },
    /// Type 3 code 13: communication administratively prohibited
    /// (RFC 1812 §5.2.7.1; a security-group reject).
    AdminProhibited,
}

impl Icmpv4Error {
    /// The ICMP header: type, code and the rest-of-header word.
    pub fn repr(self) -> Icmpv4Repr {
        let unreach = |code| Icmpv4Repr {
            msg_type: icmpv4::msg_type::DEST_UNREACHABLE,
            code,
            rest_of_header: 0,
        };
        match self {
            Icmpv4Error::TimeExceeded => Icmpv4Repr {
                msg_type: icmpv4::msg_type::TIME_EXCEEDED,
                code: 0,
                rest_of_header: 0,
            },
            Icmpv4Error::NetUnreachable => unreach(0),
            Icmpv4Error::HostUnreachable => unreach(1),
            Icmpv4Error::ProtocolUnreachable => unreach(2),
            Icmpv4Error::PortUnreachable => unreach(3),
            Icmpv4Error::FragmentationNeeded { mtu } => Icmpv4Repr {
                rest_of_header: u32::from(mtu),
                ..unreach(4)
            },
            Icmpv4Error::AdminProhibited => unreach(13),
        }
    }
}

/// How much of the offending IPv4 packet an error quotes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Quote {
    /// The IP header and the first 8 bytes of data (RFC 792).
    Rfc792,
    /// As much as keeps the error within 576 bytes (RFC 1812 §4.3.2.3).
    #[default]
    Rfc1812,
}

/// Largest IPv4 error datagram under [`Quote::Rfc1812`].
pub const RFC1812_MAX: usize = 576;
/// Largest IPv6 error packet (RFC 4443 §2.4(c): the IPv6 minimum MTU).
pub const IPV6_MIN_MTU: usize = 1280;

/// Where an error comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ErrorSource<A> {
    /// The router interface address the error is sent from.
    pub addr: A,
    /// Ethernet addresses of the error frame.
    pub l2: L2Addrs,
    /// TTL / hop limit of the error.
    pub ttl: u8,
}

/// `true` for ICMPv4 types that are queries (echo, timestamp, information,
/// address mask); errors are not sent about anything else (RFC 1812
/// §4.3.2.7: "an ICMP error message").
fn is_icmpv4_query(t: u8) -> bool {
    matches!(t, 0 | 8 | 13 | 14 | 15 | 16 | 17 | 18)
}

/// Writes an ICMPv4 error about the IPv4 packet in `frame` into `out`.
pub fn icmpv4_error(
    frame: &[u8],
    kind: Icmpv4Error,
    from: &ErrorSource<Ipv4Addr>,
    quote: Quote,
    out: &mut [u8],
) -> Result<usize, NoReply> {
    let eth = EthernetFrame::new_checked(frame)?;
    if eth.ethertype() != ethertype::IPV4 {
        return Err(NoReply::NotForUs);
    }
    if is_group_mac(&eth.dst()) {
        return Err(NoReply::ErrorSuppressed(
            "broadcast or multicast destination",
        ));
    }
    if is_group_mac(&eth.src()) {
        return Err(NoReply::ErrorSuppressed("source not a unicast host"));
    }
    need(out, ETH_LEN)?;
    let (l2_src, l2_dst) = from.l2.resolve(&eth);
    let len = icmpv4_error_l3(
        eth.payload(),
        kind,
        from.addr,
        from.ttl,
        quote,
        &mut out[ETH_LEN..],
    )?;
    write_eth(out, l2_src, l2_dst, ethertype::IPV4)?;
    Ok(ETH_LEN + len)
}

/// The IP part of [`icmpv4_error`]: writes the error datagram (IPv4 header
/// from `src` with `ttl`, ICMP header, quote) about the IPv4 packet `ip`
/// into `out` and returns its length, for callers that frame it
/// themselves (e.g. behind VLAN tags).
pub fn icmpv4_error_l3(
    pkt: &[u8],
    kind: Icmpv4Error,
    src: Ipv4Addr,
    ttl: u8,
    quote: Quote,
    out: &mut [u8],
) -> Result<usize, NoReply> {
    let ip = Ipv4Packet::new_checked(pkt)?;
    if !ip.verify_checksum() {
        return Err(NoReply::BadChecksum("ipv4"));
    }
    if ip.frag_offset() != 0 {
        return Err(NoReply::ErrorSuppressed("non-first fragment"));
    }
    let dst = ip.dst();
    if dst.is_broadcast() || dst.is_multicast() {
        return Err(NoReply::ErrorSuppressed(
            "broadcast or multicast destination",
        ));
    }
    if !is_unicast_v4(ip.src()) {
        return Err(NoReply::ErrorSuppressed("source not a unicast host"));
    }
    if ip.protocol() == ip_proto::ICMP {
        match ip.payload().first() {
            Some(t) if is_icmpv4_query(*t) => {}
            Some(_) => return Err(NoReply::ErrorSuppressed("about an ICMP error")),
            None => return Err(NoReply::ErrorSuppressed("truncated ICMP message")),
        }
    }
    let packet_len = usize::from(ip.total_len());
    let quoted = match quote {
        Quote::Rfc792 => (ip.header_len() + 8).min(packet_len),
        Quote::Rfc1812 => packet_len.min(RFC1812_MAX - ipv4::MIN_HEADER_LEN - icmpv4::HEADER_LEN),
    };
    let icmp_len = icmpv4::HEADER_LEN + quoted;
    let total = ipv4::MIN_HEADER_LEN + icmp_len;
    need(out, total)?;
    let ip_out = &mut out[..total];
    let icmp_out = &mut ip_out[ipv4::MIN_HEADER_LEN..];
    icmp_out[icmpv4::HEADER_LEN..].copy_from_slice(&pkt[..quoted]);
    kind.repr().emit(icmp_out)?;
    Ipv4Repr {
        src,
        dst: ip.src(),
        protocol: ip_proto::ICMP,
        // RFC 1812 §4.3.2.5: errors carry precedence 6 (internetwork control).
        tos: 0xc0,
        ttl,
        ident: 0,
        dont_frag: false,
        more_frags: false,
        frag_offset: 0,
        payload_len: icmp_len as u16,
    }
    .emit(ip_out)?;
    Ok(total)
}

/// An ICMPv6 error (RFC 4443 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Icmpv6Error {
    /// Type 3 code 0: hop limit exceeded in transit.
    TimeExceeded,
    /// Type 1 code 0: no route to destination.
    NoRoute,
    /// Type 1 code 1: communication administratively prohibited.
    AdminProhibited,
    /// Type 1 code 3: address unreachable.
    AddressUnreachable,
    /// Type 1 code 4: port unreachable.
    PortUnreachable,
    /// Type 2: packet too big, with the next-hop MTU.
    PacketTooBig { mtu: u32 },
}

impl Icmpv6Error {
    /// The ICMPv6 header: type, code, word.
    pub fn repr(self) -> Icmpv6Repr {
        let unreach = |code| Icmpv6Repr {
            msg_type: packet::icmpv6::msg_type::DEST_UNREACHABLE,
            code,
            word: 0,
        };
        match self {
            Icmpv6Error::TimeExceeded => Icmpv6Repr {
                msg_type: 3,
                code: 0,
                word: 0,
            },
            Icmpv6Error::NoRoute => unreach(0),
            Icmpv6Error::AdminProhibited => unreach(1),
            Icmpv6Error::AddressUnreachable => unreach(3),
            Icmpv6Error::PortUnreachable => unreach(4),
            Icmpv6Error::PacketTooBig { mtu } => Icmpv6Repr {
                msg_type: packet::icmpv6::msg_type::PACKET_TOO_BIG,
                code: 0,
                word: mtu,
            },
        }
    }
}

/// Writes an ICMPv6 error about the IPv6 packet in `frame` into `out`.
pub fn icmpv6_error(
    frame: &[u8],
    kind: Icmpv6Error,
    from: &ErrorSource<Ipv6Addr>,
    out: &mut [u8],
) -> Result<usize, NoReply> {
    let eth = EthernetFrame::new_checked(frame)?;
    if eth.ethertype() != ethertype::IPV6 {
        return Err(NoReply::NotForUs);
    }
    let too_big = matches!(kind, Icmpv6Error::PacketTooBig { .. });
    if is_group_mac(&eth.dst()) && !too_big {
        return Err(NoReply::ErrorSuppressed("multicast destination"));
    }
    if is_group_mac(&eth.src()) {
        return Err(NoReply::ErrorSuppressed("source not a unicast host"));
    }
    need(out, ETH_LEN)?;
    let (l2_src, l2_dst) = from.l2.resolve(&eth);
    let len = icmpv6_error_l3(
        eth.payload(),
        kind,
        from.addr,
        from.ttl,
        &mut out[ETH_LEN..],
    )?;
    write_eth(out, l2_src, l2_dst, ethertype::IPV6)?;
    Ok(ETH_LEN + len)
}

/// The IP part of [`icmpv6_error`]: writes the error packet (IPv6 header
/// from `src` with `hop_limit`, ICMPv6 message, quote) about the IPv6
/// packet `ip` into `out` and returns its length.
pub fn icmpv6_error_l3(
    pkt: &[u8],
    kind: Icmpv6Error,
    src: Ipv6Addr,
    hop_limit: u8,
    out: &mut [u8],
) -> Result<usize, NoReply> {
    let ip = Ipv6Packet::new_checked(pkt)?;
    let (orig_src, orig_dst) = (ip.src(), ip.dst());
    let too_big = matches!(kind, Icmpv6Error::PacketTooBig { .. });
    if orig_dst.is_multicast() && !too_big {
        return Err(NoReply::ErrorSuppressed("multicast destination"));
    }
    if orig_src.is_unspecified() || orig_src.is_multicast() {
        return Err(NoReply::ErrorSuppressed("source not a unicast host"));
    }
    let upper = ipv6::walk(ip.next_header(), ip.payload())?;
    if upper.protocol == ip_proto::ICMPV6 && !upper.later_fragment {
        match ip.payload().get(upper.offset) {
            // RFC 4443 §2.1: types below 128 are errors.
            Some(t) if *t >= 128 => {}
            Some(_) => return Err(NoReply::ErrorSuppressed("about an ICMPv6 error")),
            None => return Err(NoReply::ErrorSuppressed("truncated ICMPv6 message")),
        }
    }
    let packet_len = ipv6::HEADER_LEN + usize::from(ip.payload_len());
    let quoted = packet_len.min(IPV6_MIN_MTU - ipv6::HEADER_LEN - 8);
    let icmp_len = 8 + quoted;
    let total = ipv6::HEADER_LEN + icmp_len;
    need(out, total)?;
    let ip_out = &mut out[..total];
    Ipv6Repr {
        src,
        dst: orig_src,
        next_header: ip_proto::ICMPV6,
        traffic_class: 0,
        flow_label: 0,
        hop_limit,
        payload_len: icmp_len as u16,
    }
    .emit(ip_out)?;
    let icmp_out = &mut ip_out[ipv6::HEADER_LEN..];
    icmp_out[8..].copy_from_slice(&pkt[..quoted]);
    kind.repr().emit(icmp_out, &src, &orig_src)?;
    Ok(total)
}
