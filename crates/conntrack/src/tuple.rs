//! Connection tuples: the (addresses, protocol, ports) that key a connection.
//!
//! A tuple is stored compactly (addresses as 16 bytes, IPv4 in the low 4
//! bytes of an otherwise zero array) so that a connection entry stays far
//! below the 256-byte budget of issue 6. For ICMP echo the "ports" are both
//! the echo identifier, as netfilter's ICMP tuple keys echo by id
//! (nf_conntrack_proto_icmp.c): a request and its reply then have mutually
//! inverse tuples like any other protocol.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// IANA protocol numbers the tracker understands specially.
pub mod proto {
    /// ICMP (RFC 792).
    pub const ICMP: u8 = 1;
    /// TCP (RFC 9293).
    pub const TCP: u8 = 6;
    /// UDP (RFC 768).
    pub const UDP: u8 = 17;
    /// ICMPv6 (RFC 4443).
    pub const ICMPV6: u8 = 58;
}

/// Address family of a tuple.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

/// A compact IP address: 16 bytes plus the family held by the tuple.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Addr(pub [u8; 16]);

impl Addr {
    /// Converts from a std address.
    pub fn from_ip(ip: IpAddr) -> (Self, Family) {
        match ip {
            IpAddr::V4(v4) => {
                let mut b = [0u8; 16];
                b[..4].copy_from_slice(&v4.octets());
                (Addr(b), Family::V4)
            }
            IpAddr::V6(v6) => (Addr(v6.octets()), Family::V6),
        }
    }

    /// Converts back to a std address for `family`.
    pub fn to_ip(self, family: Family) -> IpAddr {
        match family {
            Family::V4 => IpAddr::V4(Ipv4Addr::new(self.0[0], self.0[1], self.0[2], self.0[3])),
            Family::V6 => IpAddr::V6(Ipv6Addr::from(self.0)),
        }
    }
}

/// One direction of a connection: what a packet travelling that way carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tuple {
    /// Source address.
    pub src: Addr,
    /// Destination address.
    pub dst: Addr,
    /// Source port (TCP/UDP), echo identifier (ICMP), 0 otherwise.
    pub sport: u16,
    /// Destination port (TCP/UDP), echo identifier (ICMP), 0 otherwise.
    pub dport: u16,
    /// IP protocol number.
    pub proto: u8,
    /// Address family.
    pub family: Family,
}

impl Tuple {
    /// Builds a tuple from std addresses. Mixed families are rejected.
    pub fn new(src: IpAddr, dst: IpAddr, proto: u8, sport: u16, dport: u16) -> Option<Self> {
        let (s, fs) = Addr::from_ip(src);
        let (d, fd) = Addr::from_ip(dst);
        (fs == fd).then_some(Tuple {
            src: s,
            dst: d,
            sport,
            dport,
            proto,
            family: fs,
        })
    }

    /// The tuple a packet of the opposite direction carries.
    #[inline]
    pub fn inverse(&self) -> Self {
        Tuple {
            src: self.dst,
            dst: self.src,
            sport: self.dport,
            dport: self.sport,
            proto: self.proto,
            family: self.family,
        }
    }

    /// Source address as a std address (for `ct_nw_src` / `ct_ipv6_src`).
    pub fn src_ip(&self) -> IpAddr {
        self.src.to_ip(self.family)
    }

    /// Destination address as a std address.
    pub fn dst_ip(&self) -> IpAddr {
        self.dst.to_ip(self.family)
    }

    /// True for ICMP / ICMPv6 tuples (ports hold the echo identifier).
    pub fn is_icmp(&self) -> bool {
        matches!(
            (self.family, self.proto),
            (Family::V4, proto::ICMP) | (Family::V6, proto::ICMPV6)
        )
    }

    /// True when the protocol has ports (TCP, UDP).
    pub fn has_ports(&self) -> bool {
        matches!(self.proto, proto::TCP | proto::UDP)
    }
}

/// Key of the connection index: the zone partitions the tuple space
/// (ovs-fields(7) `ct_zone`: "independent connection tracking contexts").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Key {
    pub zone: u16,
    pub tuple: Tuple,
}

impl std::hash::Hash for Key {
    /// Three wide writes instead of one per field: the hash runs for every
    /// packet, and fewer hasher rounds are measurably cheaper. Covers every
    /// field compared by `Eq`.
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        let t = &self.tuple;
        h.write_u128(u128::from_ne_bytes(t.src.0));
        h.write_u128(u128::from_ne_bytes(t.dst.0));
        let fam = match t.family {
            Family::V4 => 4u64,
            Family::V6 => 6u64,
        };
        h.write_u64(
            u64::from(self.zone) << 48
                | u64::from(t.sport) << 32
                | u64::from(t.dport) << 16
                | u64::from(t.proto) << 8
                | fam,
        );
    }
}

impl fmt::Display for Tuple {
    /// Prints `src=…,dst=…,sport=…,dport=…` as ovs-appctl
    /// `dpctl/dump-conntrack` does inside `orig=(…)` / `reply=(…)`; ICMP
    /// type/code are added by the caller, who knows the direction.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "src={},dst={}", self.src_ip(), self.dst_ip())?;
        if self.is_icmp() {
            write!(f, ",id={}", self.sport)
        } else if self.has_ports() {
            write!(f, ",sport={},dport={}", self.sport, self.dport)
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inverse_is_involution_and_swaps() {
        let t = Tuple::new(
            "10.0.0.1".parse().unwrap(),
            "10.0.0.2".parse().unwrap(),
            proto::TCP,
            1000,
            80,
        )
        .unwrap();
        let r = t.inverse();
        assert_eq!(r.src_ip(), "10.0.0.2".parse::<IpAddr>().unwrap());
        assert_eq!((r.sport, r.dport), (80, 1000));
        assert_eq!(r.inverse(), t);
    }

    #[test]
    fn mixed_families_rejected() {
        assert!(Tuple::new(
            "10.0.0.1".parse().unwrap(),
            "::1".parse().unwrap(),
            proto::UDP,
            1,
            2
        )
        .is_none());
    }

    #[test]
    fn display_matches_dpctl() {
        let t = Tuple::new(
            "10.0.0.1".parse().unwrap(),
            "10.0.0.2".parse().unwrap(),
            proto::UDP,
            5,
            53,
        )
        .unwrap();
        assert_eq!(t.to_string(), "src=10.0.0.1,dst=10.0.0.2,sport=5,dport=53");
        let v6 = Tuple::new(
            "fd00::1".parse().unwrap(),
            "fd00::2".parse().unwrap(),
            proto::ICMPV6,
            7,
            7,
        )
        .unwrap();
        assert_eq!(v6.to_string(), "src=fd00::1,dst=fd00::2,id=7");
    }
}
