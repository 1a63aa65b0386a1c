//! Tunnel overhead and the MTU a VM behind a tunnel should use.
//!
//! The figures are what the encapsulated frame adds to the VM's IP packet
//! on the underlay's IP MTU: outer IPv4 (20), outer UDP (8, VXLAN/Geneve),
//! the tunnel header, and the inner Ethernet header (14) the tunnel carries.
//!
//! The outer Ethernet header an AF_PACKET sender writes is not counted
//! against the MTU (the underlay's MTU is an IP MTU), but it is part of the
//! frame: [`OUTER_ETHERNET`].

use crate::params::{Layout, TunnelParams};

/// The inner frame's Ethernet header, carried inside every tunnel.
pub const INNER_ETHERNET: usize = 14;
/// The outer Ethernet header (AF_PACKET layout only; not part of the MTU).
pub const OUTER_ETHERNET: usize = 14;
/// VXLAN: 20 + 8 + 8 + 14 (RFC 7348 §4 / the 50 bytes every VXLAN guide
/// quotes).
pub const VXLAN_OVERHEAD: usize = 50;
/// Geneve without options: 20 + 8 + 8 + 14; add the option bytes.
pub const GENEVE_BASE_OVERHEAD: usize = 50;
/// Outer IPv4 + GRE with the key field (RFC 2890): 20 + 8.
pub const GRE_KEY_HEADER: usize = 28;
/// GRE with key, counting the inner Ethernet header: 28 + 14.
pub const GRE_KEY_OVERHEAD: usize = GRE_KEY_HEADER + INNER_ETHERNET;
/// What the sequence number (or the checksum) adds to GRE.
pub const GRE_OPTIONAL_FIELD: usize = 4;
/// The MTU most underlays have.
pub const ETHERNET_MTU: usize = 1500;

/// Bytes a tunnel with `params` adds to the VM's IP packet on the underlay.
pub fn overhead(params: &TunnelParams<'_>) -> usize {
    params.ip_overhead() + INNER_ETHERNET
}

/// The largest VM (inner IP) MTU that fits an underlay IP MTU: the
/// recommended MTU for VM interfaces on this tunnel (e.g. 1450 for VXLAN on
/// a 1500 underlay).
pub fn inner_mtu(underlay_mtu: usize, params: &TunnelParams<'_>) -> usize {
    underlay_mtu.saturating_sub(overhead(params))
}

/// `true` when an inner Ethernet frame of `inner_frame_len` bytes (header
/// included, no FCS) still fits `underlay_mtu` once encapsulated.
pub fn fits(inner_frame_len: usize, underlay_mtu: usize, params: &TunnelParams<'_>) -> bool {
    inner_frame_len + params.ip_overhead() <= underlay_mtu
}

/// Bytes the whole outgoing frame will have for `layout` (what the send
/// buffer must hold).
pub fn wire_len(inner_frame_len: usize, params: &TunnelParams<'_>, layout: &Layout) -> usize {
    inner_frame_len + params.header_len(layout)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::{GreFlags, TunnelParams};
    use core::net::Ipv4Addr;

    const A: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
    const B: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);

    #[test]
    fn overheads_match_the_issue() {
        assert_eq!(overhead(&TunnelParams::vxlan(A, B, 1)), VXLAN_OVERHEAD);
        assert_eq!(inner_mtu(1500, &TunnelParams::vxlan(A, B, 1)), 1450);
        let opts = [0u8; 8];
        assert_eq!(
            overhead(&TunnelParams::geneve(A, B, 1, &opts)),
            GENEVE_BASE_OVERHEAD + 8
        );
        let mut gre = TunnelParams::gre(A, B, Some(5));
        assert_eq!(gre.ip_overhead(), GRE_KEY_HEADER);
        assert_eq!(overhead(&gre), GRE_KEY_OVERHEAD);
        gre.gre = GreFlags {
            key: true,
            seq: true,
            csum: false,
        };
        assert_eq!(gre.ip_overhead(), GRE_KEY_HEADER + GRE_OPTIONAL_FIELD);
        assert!(fits(1464, 1500, &TunnelParams::vxlan(A, B, 1)));
        assert!(!fits(1465, 1500, &TunnelParams::vxlan(A, B, 1)));
        let eth = Layout::Ethernet {
            src: [0; 6],
            dst: [0; 6],
        };
        assert_eq!(
            wire_len(1464, &TunnelParams::vxlan(A, B, 1), &eth),
            1464 + 36 + OUTER_ETHERNET
        );
    }
}
