//! What the switch hands the tracker for one packet.
//!
//! The switch parses headers with the `packet` crate and fills a
//! [`CtPacket`]: a few dozen bytes, `Copy`, built on the stack, so that
//! conntrack never sees packet buffers and never does I/O.

use std::net::IpAddr;

use crate::tuple::{proto, Tuple};

bitflags::bitflags! {
    /// TCP header flags (RFC 9293 §3.1), in their wire bit positions.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct TcpFlags: u8 {
        /// No more data from sender.
        const FIN = 0x01;
        /// Synchronize sequence numbers.
        const SYN = 0x02;
        /// Reset the connection.
        const RST = 0x04;
        /// Push function.
        const PSH = 0x08;
        /// Acknowledgment field is significant.
        const ACK = 0x10;
        /// Urgent pointer field is significant.
        const URG = 0x20;
        /// ECN-Echo (RFC 3168).
        const ECE = 0x40;
        /// Congestion Window Reduced (RFC 3168).
        const CWR = 0x80;
    }
}

/// The TCP fields that state and window tracking need.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpInfo {
    /// Source port.
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
    /// Header flags.
    pub flags: TcpFlags,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number.
    pub ack: u32,
    /// Raw (unscaled) window field.
    pub window: u16,
    /// Bytes of TCP payload (IP payload length minus the TCP header).
    pub payload_len: u32,
    /// Window-scale option shift (RFC 7323 §2), only looked at on SYNs.
    pub wscale: Option<u8>,
}

/// Layer-4 summary of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum L4 {
    /// A TCP segment.
    Tcp(TcpInfo),
    /// A UDP datagram.
    Udp {
        /// Source port.
        sport: u16,
        /// Destination port.
        dport: u16,
    },
    /// An ICMP or ICMPv6 message that is not an error (echo, etc.).
    Icmp {
        /// ICMP type.
        ty: u8,
        /// ICMP code.
        code: u8,
        /// Echo identifier (0 for types without one).
        id: u16,
    },
    /// An ICMP / ICMPv6 error (see [`icmp_is_error`]) with the tuple of the
    /// packet it quotes, exactly as quoted (RFC 792, RFC 4443 §2.4(c)).
    IcmpError {
        /// ICMP type.
        ty: u8,
        /// ICMP code.
        code: u8,
        /// Tuple of the quoted (inner) packet, in the inner packet's own
        /// direction: its source is the host the error is about. For a
        /// quoted ICMP echo both ports hold the echo identifier, matching
        /// [`Tuple`]'s convention; for other protocols without ports both
        /// are 0.
        inner: Tuple,
    },
    /// Any other IP protocol, tracked by addresses only.
    Other,
}

/// One packet as conntrack sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CtPacket {
    /// IP source.
    pub src: IpAddr,
    /// IP destination.
    pub dst: IpAddr,
    /// IP protocol number (IPv4 protocol / IPv6 last next-header).
    pub proto: u8,
    /// Layer-4 summary.
    pub l4: L4,
}

/// True when an ICMP (`v6 == false`) or ICMPv6 type is an error message
/// that quotes an offending packet: destination unreachable, source quench,
/// redirect, time exceeded, parameter problem (RFC 792); ICMPv6 types 1–4
/// (RFC 4443 §2.1: error messages have types 0–127, of which 1–4 defined).
pub fn icmp_is_error(v6: bool, ty: u8) -> bool {
    if v6 {
        (1..=4).contains(&ty)
    } else {
        matches!(ty, 3 | 4 | 5 | 11 | 12)
    }
}

/// Echo request / reply types: (request, reply) for ICMP and ICMPv6
/// (RFC 792, RFC 4443 §4).
pub(crate) fn echo_types(v6: bool) -> (u8, u8) {
    if v6 {
        (128, 129)
    } else {
        (8, 0)
    }
}

impl CtPacket {
    /// Convenience constructor for a TCP segment.
    pub fn tcp(src: IpAddr, dst: IpAddr, tcp: TcpInfo) -> Self {
        CtPacket {
            src,
            dst,
            proto: proto::TCP,
            l4: L4::Tcp(tcp),
        }
    }

    /// Convenience constructor for a UDP datagram.
    pub fn udp(src: IpAddr, dst: IpAddr, sport: u16, dport: u16) -> Self {
        CtPacket {
            src,
            dst,
            proto: proto::UDP,
            l4: L4::Udp { sport, dport },
        }
    }

    /// Convenience constructor for an ICMP(v6) echo request or reply.
    pub fn echo(src: IpAddr, dst: IpAddr, request: bool, id: u16) -> Self {
        let v6 = src.is_ipv6();
        let (req, rep) = echo_types(v6);
        let proto = if v6 { proto::ICMPV6 } else { proto::ICMP };
        CtPacket {
            src,
            dst,
            proto,
            l4: L4::Icmp {
                ty: if request { req } else { rep },
                code: 0,
                id,
            },
        }
    }

    /// The packet's own tuple, or `None` when the addresses mix families.
    /// ICMP errors yield the outer tuple with zero ports (they are never
    /// looked up by it).
    pub(crate) fn tuple(&self) -> Option<Tuple> {
        let (sport, dport) = match self.l4 {
            L4::Tcp(t) => (t.sport, t.dport),
            L4::Udp { sport, dport } => (sport, dport),
            L4::Icmp { id, .. } => (id, id),
            L4::IcmpError { .. } | L4::Other => (0, 0),
        };
        Tuple::new(self.src, self.dst, self.proto, sport, dport)
    }
}
