//! The flow key: every field an OpenFlow / Open vSwitch flow can match on that
//! comes from the frame itself (ovs-fields(7)), extracted in one pass.
//!
//! Pipeline metadata (in_port, registers, tunnel metadata, conntrack state,
//! pkt_mark) is *not* here: it belongs to the switch and the `flow` crate keeps
//! it beside this key. The layout follows OVS's `struct flow` conventions so
//! that matching code can treat fields uniformly:
//!
//! * ARP reuses `nw_src`/`nw_dst` for SPA/TPA and `nw_proto` for the low byte of
//!   the opcode, exactly as OVS does (ovs-fields(7), "ARP fields").
//! * ICMP/ICMPv6 type and code live in `tp_src`/`tp_dst` (as in OVS's `struct
//!   flow`); `icmp_type()`/`icmp_code()` read them back.
//! * Neighbor Discovery SLL/TLL reuse `arp_sha`/`arp_tha` (OVS does the same).
//! * `vlan_tci` carries the VLAN_CFI bit (0x1000) when a tag is present, so
//!   `vlan_tci == 0` means "no tag" and VID 0 priority-tagged frames differ
//!   from untagged ones (ovs-fields(7), "VLAN fields").
//!
//! The struct is plain-old-data, `Copy`, and hashes cheaply; the classifier
//! masks it word by word.

/// `nw_frag` bit: the packet is an IP fragment (first or later).
pub const FRAG_ANY: u8 = 1;
/// `nw_frag` bit: the packet is a non-first fragment (offset != 0).
pub const FRAG_LATER: u8 = 2;

/// The CFI/DEI bit that OVS sets in `vlan_tci` to mark "a tag is present".
pub const VLAN_CFI: u16 = 0x1000;

/// Ethertypes the extractor understands.
pub mod ethertype {
    pub const IPV4: u16 = 0x0800;
    pub const ARP: u16 = 0x0806;
    pub const VLAN: u16 = 0x8100;
    pub const QINQ: u16 = 0x88a8;
    pub const IPV6: u16 = 0x86dd;
}

/// Frame-derived match fields, laid out as OVS's `struct flow` does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[repr(C)]
pub struct FlowKey {
    /// Ethernet destination (`dl_dst`).
    pub dl_dst: [u8; 6],
    /// Ethernet source (`dl_src`).
    pub dl_src: [u8; 6],
    /// Ethertype after all VLAN tags (`dl_type`); 0x05ff for 802.3 frames
    /// without a SNAP header, as OVS reports them.
    pub dl_type: u16,
    /// Outer 802.1Q/802.1ad TCI with [`VLAN_CFI`] set when present (`vlan_tci`).
    pub vlan_tci: u16,
    /// Inner TCI of a QinQ frame, same encoding (0 when single-tagged).
    pub vlan_tci_inner: u16,
    /// IPv4 source or ARP SPA (`nw_src`, `arp_spa`), host byte order.
    pub nw_src: u32,
    /// IPv4 destination or ARP TPA (`nw_dst`, `arp_tpa`), host byte order.
    pub nw_dst: u32,
    /// IP protocol / IPv6 upper-layer next header; ARP opcode low byte.
    pub nw_proto: u8,
    /// The whole TOS / traffic-class byte: DSCP in the upper six bits, ECN below.
    pub nw_tos: u8,
    /// IPv4 TTL / IPv6 hop limit.
    pub nw_ttl: u8,
    /// Fragment bits: [`FRAG_ANY`], [`FRAG_LATER`].
    pub nw_frag: u8,
    /// IPv6 flow label (20 bits).
    pub ipv6_label: u32,
    /// IPv6 source (`ipv6_src`).
    pub ipv6_src: [u8; 16],
    /// IPv6 destination (`ipv6_dst`).
    pub ipv6_dst: [u8; 16],
    /// ND target address (`nd_target`).
    pub nd_target: [u8; 16],
    /// ARP SHA, or ND source link-layer address (`arp_sha`, `nd_sll`).
    pub arp_sha: [u8; 6],
    /// ARP THA, or ND target link-layer address (`arp_tha`, `nd_tll`).
    pub arp_tha: [u8; 6],
    /// TCP/UDP source port, or ICMP type (`tp_src`, `icmp_type`).
    pub tp_src: u16,
    /// TCP/UDP destination port, or ICMP code (`tp_dst`, `icmp_code`).
    pub tp_dst: u16,
    /// TCP flags, 12 bits (`tcp_flags`).
    pub tcp_flags: u16,
    /// Explicit padding so that the struct has no uninitialised bytes.
    pub _pad: u16,
}

impl FlowKey {
    /// The all-zero key (equal to `FlowKey::default()`), as a constant so
    /// that resetting a key compiles to plain zero stores into it rather
    /// than building a temporary and copying it.
    pub const ZERO: FlowKey = FlowKey {
        dl_dst: [0; 6],
        dl_src: [0; 6],
        dl_type: 0,
        vlan_tci: 0,
        vlan_tci_inner: 0,
        nw_src: 0,
        nw_dst: 0,
        nw_proto: 0,
        nw_tos: 0,
        nw_ttl: 0,
        nw_frag: 0,
        ipv6_label: 0,
        ipv6_src: [0; 16],
        ipv6_dst: [0; 16],
        nd_target: [0; 16],
        arp_sha: [0; 6],
        arp_tha: [0; 6],
        tp_src: 0,
        tp_dst: 0,
        tcp_flags: 0,
        _pad: 0,
    };

    /// ICMP / ICMPv6 type (stored in `tp_src`).
    #[inline]
    pub fn icmp_type(&self) -> u8 {
        self.tp_src as u8
    }

    /// ICMP / ICMPv6 code (stored in `tp_dst`).
    #[inline]
    pub fn icmp_code(&self) -> u8 {
        self.tp_dst as u8
    }

    /// 802.1Q VLAN ID of the outer tag, if the frame carries one.
    #[inline]
    pub fn dl_vlan(&self) -> Option<u16> {
        (self.vlan_tci & VLAN_CFI != 0).then_some(self.vlan_tci & 0x0fff)
    }

    /// 802.1Q priority code point of the outer tag.
    #[inline]
    pub fn dl_vlan_pcp(&self) -> u8 {
        (self.vlan_tci >> 13) as u8
    }

    /// DSCP: the upper six bits of `nw_tos` (`ip_dscp`).
    #[inline]
    pub fn ip_dscp(&self) -> u8 {
        self.nw_tos >> 2
    }

    /// ECN: the lower two bits of `nw_tos` (`nw_ecn`).
    #[inline]
    pub fn nw_ecn(&self) -> u8 {
        self.nw_tos & 3
    }
}
