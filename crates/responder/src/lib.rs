//! The switch's local responders, pure and I/O-free.
//!
//! OVN answers a few kinds of frames inside the switch rather than flooding
//! them or sending them to a real host (ovn-northd(8), "ARP/ND responder",
//! "DHCP options"; OpenStack's "L2 population"): ARP and Neighbor
//! Solicitations for known addresses, DHCP for known ports, ICMP echo to a
//! router's own addresses, and ICMP errors a router must send (TTL exceeded
//! after `dec_ttl`, unreachable). This crate builds those replies.
//!
//! Every responder takes the received frame (`&[u8]`, an untagged Ethernet
//! II frame: the switch pops/pushes VLAN tags per port, ovs-actions(7)
//! `pop_vlan`/`push_vlan`) and a caller-provided output buffer, and returns
//! either the length of the reply it wrote there or a [`NoReply`] saying why
//! there is none. The ARP, ND and ICMP paths allocate nothing; the DHCP
//! server (rare traffic) encodes through `dhcproto` and allocates.
//!
//! | module | answers | standard |
//! |---|---|---|
//! | [`arp`] | ARP requests for addresses in a table | RFC 826, RFC 5227 |
//! | [`nd`] | Neighbor Solicitations → Advertisements with a TLL option | RFC 4861 §7.2 |
//! | [`ra`] | Router Solicitations → Advertisements (M/O flags, prefix, MTU) | RFC 4861 §6.2 |
//! | [`dhcp6`] | DHCPv6 Solicit/Request/Renew/Rebind/Confirm/Release/Information-request for one port | RFC 8415, RFC 3646 |
//! | [`echo`] | ICMP / ICMPv6 echo requests to router addresses | RFC 792, RFC 4443 §4 |
//! | [`icmp_error`] | time exceeded, destination unreachable, too big | RFC 792, RFC 1812 §4.3, RFC 4443 §3 |
//! | [`dhcp`] | DHCPv4 DISCOVER/REQUEST/INFORM/RELEASE/DECLINE for known MACs | RFC 2131, RFC 2132, RFC 3442 |
//!
//! ```
//! use std::net::Ipv4Addr;
//! use responder::{arp, NoReply};
//!
//! // An ARP request "who has 10.0.0.1? tell 10.0.0.5" from 02:00:00:00:00:05.
//! let asker = [2, 0, 0, 0, 0, 5];
//! let mut req = [0u8; 42];
//! req[0..6].copy_from_slice(&[0xff; 6]);
//! req[6..12].copy_from_slice(&asker);
//! req[12..14].copy_from_slice(&[0x08, 0x06]);
//! packet::arp::ArpRepr {
//!     operation: packet::arp::OP_REQUEST,
//!     sha: asker,
//!     spa: Ipv4Addr::new(10, 0, 0, 5),
//!     tha: [0; 6],
//!     tpa: Ipv4Addr::new(10, 0, 0, 1),
//! }
//! .emit(&mut req[14..])
//! .unwrap();
//!
//! let router_mac = [2, 0, 0, 0, 0, 1];
//! let table = |ip: Ipv4Addr| (ip == Ipv4Addr::new(10, 0, 0, 1)).then_some(router_mac);
//! let mut out = [0u8; 64];
//! let len = arp::respond(&req, &table, &mut out).unwrap();
//! assert_eq!(&out[0..6], &asker); // unicast back to the asker
//! assert_eq!(&out[6..12], &router_mac);
//! assert_eq!(len, 42);
//!
//! // Nobody answers for unknown addresses: the switch floods or drops.
//! let none = |_: Ipv4Addr| None;
//! assert_eq!(arp::respond(&req, &none, &mut out), Err(NoReply::UnknownTarget));
//! ```
#![forbid(unsafe_code)]

pub mod arp;
pub mod dhcp;
pub mod dhcp6;
pub mod echo;
mod error;
mod frame;
#[doc(hidden)]
pub mod fuzzing;
#[doc(hidden)]
pub mod fuzzing6;
pub mod icmp_error;
pub mod nd;
pub mod ra;

pub use error::{Counters, NoReply, NoReplyKind};
pub use frame::L2Addrs;

/// A 48-bit Ethernet MAC address in wire order.
pub type Mac = packet::Mac;

/// Where a responder looks up the link-layer address for an IPv4 address
/// (the switch's ARP table of known ports and router interfaces).
///
/// Any `Fn(Ipv4Addr) -> Option<Mac>` is one.
pub trait Ipv4Table {
    /// The MAC that owns `ip`, if the switch knows it.
    fn lookup_v4(&self, ip: std::net::Ipv4Addr) -> Option<Mac>;
}

impl<F: Fn(std::net::Ipv4Addr) -> Option<Mac>> Ipv4Table for F {
    #[inline]
    fn lookup_v4(&self, ip: std::net::Ipv4Addr) -> Option<Mac> {
        self(ip)
    }
}

/// The IPv6 counterpart of [`Ipv4Table`] (the switch's ND table).
///
/// Any `Fn(Ipv6Addr) -> Option<Mac>` is one.
pub trait Ipv6Table {
    /// The MAC that owns `ip`, if the switch knows it.
    fn lookup_v6(&self, ip: std::net::Ipv6Addr) -> Option<Mac>;
}

impl<F: Fn(std::net::Ipv6Addr) -> Option<Mac>> Ipv6Table for F {
    #[inline]
    fn lookup_v6(&self, ip: std::net::Ipv6Addr) -> Option<Mac> {
        self(ip)
    }
}
