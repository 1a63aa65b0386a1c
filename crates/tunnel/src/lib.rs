//! Overlay tunnels on byte buffers: everything between a frame and the
//! underlay for VXLAN (RFC 7348), Geneve (RFC 8926) and GRE with key and
//! sequence number (RFC 2784/2890), plus the software offloads a userspace
//! datapath needs when a TAP hands it TSO super-frames.
//!
//! * [`FrameBuf`]: a packet with headroom; [`encap`] prepends outer
//!   headers in place, decapsulation gives the inner frame's range so the
//!   buffer can [`pull_front`](FrameBuf::pull_front) it without a copy.
//! * [`encap`] with [`TunnelParams`] (what `options:` of an OVS tunnel port
//!   say, or a flow's `set_tunnel` / `tun_dst`) in a [`Layout`]: UDP socket
//!   payload, raw IPv4 (`IP_HDRINCL`, needed for GRE: the kernel has no GRE
//!   module), or a whole Ethernet frame for AF_PACKET.
//! * [`decap_udp_payload`], [`decap_ipv4`], [`decap_ethernet`] →
//!   [`Decapped`]: [`TunnelMeta`] (`tun_id`, `tun_src`, `tun_dst`, ...,
//!   ovs-fields(7)) plus Geneve options and the inner frame; anything
//!   malformed is a [`DecapError`] with a [`drop_reason`](DecapError::drop_reason).
//! * [`gso`]: [`Segmenter`] splits TCP (TSO) and UDP (USO) super-frames
//!   described by a [`VirtioNetHdr`](netio::vnet::VirtioNetHdr) into
//!   caller-provided buffers; [`complete_checksum`] finishes `NEEDS_CSUM`
//!   frames.
//! * [`gro`]: [`Coalescer`] merges in-order received TCP segments of a flow
//!   back into one GSO frame (software GRO), so a receiving TAP gets one
//!   write per burst instead of one per MSS.
//! * [`mtu`]: overheads (VXLAN 50, Geneve 50 + options, GRE with key 28 +
//!   inner Ethernet) and [`icmp`]: frag-needed / Packet Too Big replies.
//!
//! Nothing allocates per packet; nothing panics on input.
//!
//! # Example: VXLAN out and back
//!
//! ```
//! use std::net::Ipv4Addr;
//! use tunnel::{decap_ethernet, encap, DecapConfig, FrameBuf, Layout, PerPacket, TunnelParams};
//!
//! // An inner frame from a VM, placed after enough headroom.
//! let inner = [0x02u8; 60];
//! let mut buf = FrameBuf::with_frame(vec![0u8; 2048], tunnel::DEFAULT_HEADROOM, &inner)?;
//!
//! // Port options:remote_ip=192.0.2.2 options:key=101, sent via AF_PACKET.
//! let params = TunnelParams::vxlan(Ipv4Addr::new(192, 0, 2, 1), Ipv4Addr::new(192, 0, 2, 2), 101);
//! params.validate()?;
//! let layout = Layout::Ethernet { src: [0x02, 0, 0, 0, 0, 1], dst: [0x02, 0, 0, 0, 0, 2] };
//! let info = encap(&mut buf, &params, &layout, PerPacket::default())?;
//! // Outer Ethernet 14 + IPv4 20 + UDP 8 + VXLAN 8 in front of the 60 bytes.
//! assert_eq!(buf.len(), 14 + 20 + 8 + 8 + 60);
//! assert!((49152..=65535).contains(&info.src_port));
//!
//! // The receiving host parses it back.
//! let rx = decap_ethernet(buf.data(), &DecapConfig::default())?;
//! assert_eq!(rx.meta.tun_id, 101);
//! assert_eq!(rx.meta.tun_src, Ipv4Addr::new(192, 0, 2, 1));
//! assert_eq!(rx.inner, &inner[..]);
//! let range = rx.inner_range.clone();
//! buf.pull_front(range.start)?;
//! buf.truncate(range.len());
//! assert_eq!(buf.data(), &inner[..]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Example: a TSO super-frame out of a tunnel
//!
//! ```no_run
//! # use tunnel::*;
//! # fn send(_: &[u8]) {}
//! # let (frame, vnet, params, layout): (&[u8], netio::vnet::VirtioNetHdr, TunnelParams, Layout) = todo!();
//! let mut seg = Segmenter::new(frame, &vnet)?;
//! let mut out = FrameBuf::new(vec![0u8; DEFAULT_HEADROOM + 9216], DEFAULT_HEADROOM)?;
//! loop {
//!     out.reset(DEFAULT_HEADROOM)?;
//!     let Some(len) = seg.next_into(out.tail_mut()) else { break };
//!     out.set_len(len?)?;
//!     encap(&mut out, &params, &layout, PerPacket::default())?;
//!     send(out.data());
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

mod buf;
mod decap;
mod encap;
mod error;
pub mod gro;
pub mod gso;
pub mod icmp;
mod inner;
pub mod mtu;
mod params;

pub use buf::{FrameBuf, DEFAULT_HEADROOM, MAX_HEADROOM};
pub use decap::{
    decap_ethernet, decap_ipv4, decap_udp_payload, propagate_ecn, tun_flags, DecapConfig, Decapped,
    TunnelMeta, UdpOrigin,
};
pub use encap::encap;
pub use error::{BufError, DecapError, EncapError, GsoError, IcmpError};
pub use gro::{Coalescer, GroStats};
pub use gso::{complete_checksum, Segmenter};
pub use inner::{inspect as inspect_inner, src_port, InnerInfo, SRC_PORT_MAX, SRC_PORT_MIN};
pub use params::{
    validate_geneve_options, EncapInfo, GeneveOptsBuf, GreFlags, Layout, PerPacket, Tos, Ttl,
    TunnelKind, TunnelParams,
};
