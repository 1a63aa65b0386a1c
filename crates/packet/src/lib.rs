//! Zero-copy packet views, emitters, checksums and flow-key extraction.
//!
//! Every protocol module follows the same shape (smoltcp `wire` style):
//!
//! * a view `Foo<T>` over any `T: AsRef<[u8]>`, built once with
//!   [`Foo::new_checked`](ethernet::EthernetFrame::new_checked), which checks
//!   the length (and the few invariants that length depends on, such as the
//!   IPv4 IHL); afterwards every getter is infallible, and with
//!   `T: AsMut<[u8]>` every setter is too;
//! * an owned `FooRepr` (small, `Copy`) with `parse` and `emit`, meant for
//!   control-plane code and tests, never needed on the per-packet hot path.
//!
//! [`extract::extract`] fills a [`FlowKey`] in one pass without allocating;
//! [`checksum`] holds the RFC 1071 sum and the RFC 1624 incremental update.
//!
//! ```
//! use packet::{extract, FlowKey};
//! use packet::ipv4::Ipv4Packet;
//!
//! // Ethernet + IPv4/UDP 10.0.0.1:5000 -> 10.0.0.2:53, no payload.
//! let mut frame = [0u8; 42];
//! frame[12..14].copy_from_slice(&[0x08, 0x00]);
//! frame[14..34].copy_from_slice(&[
//!     0x45, 0, 0, 28, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
//! ]);
//! frame[34..42].copy_from_slice(&[0x13, 0x88, 0, 53, 0, 8, 0, 0]);
//!
//! let mut key = FlowKey::default();
//! let off = extract(&frame, &mut key).expect("well-formed frame");
//! assert_eq!((key.nw_proto, key.tp_src, key.tp_dst), (17, 5000, 53));
//!
//! // Rewrite in place through a view, at the offset the extractor found.
//! let l3 = off.l3.unwrap() as usize;
//! let mut ip = Ipv4Packet::new_checked(&mut frame[l3..]).unwrap();
//! ip.fill_checksum();
//! ip.set_ttl_update_checksum(63);
//! assert!(ip.verify_checksum());
//! ```
#![forbid(unsafe_code)]

pub mod arp;
pub mod checksum;
mod error;
pub mod ethernet;
pub mod extract;
mod field;
pub mod flowkey;
#[doc(hidden)]
pub mod fuzzing;
pub mod geneve;
pub mod gre;
pub mod icmpv4;
pub mod icmpv6;
pub mod ipv4;
pub mod ipv6;
pub mod tcp;
pub mod udp;
pub mod vlan;
pub mod vxlan;

pub use error::Error;
pub use extract::{extract, ExtractError, Offsets};
pub use flowkey::FlowKey;

/// A 48-bit Ethernet MAC address in wire order.
pub type Mac = [u8; 6];

/// IP protocol numbers (IANA "Assigned Internet Protocol Numbers").
pub mod ip_proto {
    pub const HOPOPTS: u8 = 0;
    pub const ICMP: u8 = 1;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    pub const ROUTING: u8 = 43;
    pub const FRAGMENT: u8 = 44;
    pub const GRE: u8 = 47;
    pub const ESP: u8 = 50;
    pub const AH: u8 = 51;
    pub const ICMPV6: u8 = 58;
    pub const NONE: u8 = 59;
    pub const DSTOPTS: u8 = 60;
    pub const SCTP: u8 = 132;
}
