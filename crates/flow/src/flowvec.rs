//! The packet as the pipeline sees it: the frame-derived [`FlowKey`] plus the
//! switch's pipeline [`Metadata`], and their flat word form [`Words`].
//!
//! The classifier, the flow cache and the translator all work on `Words`: a
//! fixed array of `u64`s into which every matchable field has a fixed bit
//! position (see [`crate::fields`]). A match is then a `(value, mask)` pair
//! of such arrays, a masked lookup is a word-wise AND, and the megaflow mask
//! of a translation is the OR of the masks it consulted — the same layout
//! trick as OVS's `struct flow` / `struct flow_wildcards`.

use packet::FlowKey;

/// Number of 64-bit words of the flat flow layout.
pub const NW: usize = 45;

/// The flat flow layout: one fixed bit range per field ([`crate::fields`]).
pub type Words = [u64; NW];

// Word indices. Fields narrower than 64 bits are packed; the table in
// `fields.rs` is the single source of truth for shifts and widths.
pub(crate) const W_DL_DST: usize = 0; // dl_dst:48 | dl_type:16<<48
pub(crate) const W_DL_SRC: usize = 1; // dl_src:48 | vlan_tci:16<<48
pub(crate) const W_NW_ADDR: usize = 2; // nw_src:32 | nw_dst:32<<32
pub(crate) const W_NW_MISC: usize = 3; // proto | tos<<8 | ttl<<16 | frag<<24 | label<<32
pub(crate) const W_TP: usize = 4; // tp_src | tp_dst<<16 | tcp_flags<<32 | vlan_tci_inner<<48
pub(crate) const W_IPV6_SRC: usize = 5; // 5,6
pub(crate) const W_IPV6_DST: usize = 7; // 7,8
pub(crate) const W_ND_TARGET: usize = 9; // 9,10
pub(crate) const W_ARP_SHA: usize = 11;
pub(crate) const W_ARP_THA: usize = 12;
pub(crate) const W_PORT_MARK: usize = 13; // in_port:32 | pkt_mark:32<<32
pub(crate) const W_TUN_ID: usize = 14;
pub(crate) const W_TUN_ADDR: usize = 15; // tun_src | tun_dst<<32
pub(crate) const W_METADATA: usize = 16;
pub(crate) const W_REGS: usize = 17; // 17..=24, two registers per word
pub(crate) const W_CT: usize = 25; // ct_state:32 | ct_mark:32<<32
pub(crate) const W_CT_ZONE: usize = 26; // ct_zone:16 | recirc_id:32<<16 | tun_flags:16<<48
pub(crate) const W_CT_LABEL: usize = 27; // 27,28
/// `conj_id` (ovs-fields(7), "Conjunctive Match Fields"): always 0 in a
/// packet; the classifier sets it on a copy for the second lookup of a
/// conjunctive match.
pub(crate) const W_CONJ_ID: usize = 29;
pub(crate) const W_CT_NW: usize = 30; // ct_nw_src:32 | ct_nw_dst:32<<32
pub(crate) const W_CT_TP: usize = 31; // ct_tp_src | ct_tp_dst<<16 | ct_nw_proto<<32
pub(crate) const W_CT_IPV6_SRC: usize = 32; // 32,33
pub(crate) const W_CT_IPV6_DST: usize = 34; // 34,35
/// `tun_metadata` present bitmap (bit N: `tun_metadataN`), [`crate::tun_md`].
pub(crate) const W_TUN_MD_PRESENT: usize = 36;
/// `tun_metadata` value slots: 37..=44.
pub(crate) const W_TUN_MD: usize = 37;

/// Pipeline metadata that does not come from the frame (ovs-fields(7):
/// "Metadata fields", "Register fields", "Tunnel fields", "Connection
/// tracking fields").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Metadata {
    /// OpenFlow ingress port (`in_port`), OpenFlow 1.1+ 32-bit numbering.
    pub in_port: u32,
    /// General-purpose registers `reg0`..`reg15`.
    pub regs: [u32; 16],
    /// OpenFlow `metadata` (64 bits, carried between tables).
    pub metadata: u64,
    /// Tunnel ID / VNI / GRE key (`tun_id`).
    pub tun_id: u64,
    /// Outer IPv4 source of the tunnel (`tun_src`), host order.
    pub tun_src: u32,
    /// Outer IPv4 destination of the tunnel (`tun_dst`), host order.
    pub tun_dst: u32,
    /// Tunnel flags (`tun_flags`, [`crate::tun_md::TUN_FLAG_OAM`]).
    pub tun_flags: u16,
    /// Geneve option values (`tun_metadataN`, [`crate::tun_md`]).
    pub tun_md: crate::tun_md::TunMetadata,
    /// Connection tracking state bits (`ct_state`, [`crate::fields::ct_state`]).
    pub ct_state: u32,
    /// Conntrack zone (`ct_zone`).
    pub ct_zone: u16,
    /// Conntrack mark (`ct_mark`).
    pub ct_mark: u32,
    /// Conntrack label (`ct_label`, 128 bits).
    pub ct_label: u128,
    /// Packet mark (`pkt_mark`, Linux skb mark).
    pub pkt_mark: u32,
    /// Recirculation ID (`recirc_id`): 0 for a packet fresh from a port;
    /// set by the switch when it re-enters the pipeline after `ct(table=T)`.
    pub recirc_id: u32,
    /// Original-direction IPv4 source of the tracked connection
    /// (`ct_nw_src`, ovs-fields(7)), host order; set after `ct`.
    pub ct_nw_src: u32,
    /// Original-direction IPv4 destination (`ct_nw_dst`).
    pub ct_nw_dst: u32,
    /// Original-direction IPv6 source (`ct_ipv6_src`).
    pub ct_ipv6_src: [u8; 16],
    /// Original-direction IPv6 destination (`ct_ipv6_dst`).
    pub ct_ipv6_dst: [u8; 16],
    /// Original-direction IP protocol (`ct_nw_proto`).
    pub ct_nw_proto: u8,
    /// Original-direction source port (`ct_tp_src`).
    pub ct_tp_src: u16,
    /// Original-direction destination port (`ct_tp_dst`).
    pub ct_tp_dst: u16,
}

/// A packet in the pipeline: frame fields plus metadata. The classifier
/// matches on both.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Packet {
    /// Fields extracted from the frame by [`packet::extract`].
    pub key: FlowKey,
    /// Pipeline metadata.
    pub meta: Metadata,
}

#[inline]
fn mac_to_u64(m: [u8; 6]) -> u64 {
    u64::from_be_bytes([0, 0, m[0], m[1], m[2], m[3], m[4], m[5]])
}

#[inline]
fn u64_to_mac(v: u64) -> [u8; 6] {
    let b = v.to_be_bytes();
    [b[2], b[3], b[4], b[5], b[6], b[7]]
}

#[inline]
fn split128(v: u128) -> (u64, u64) {
    ((v >> 64) as u64, v as u64)
}

impl Packet {
    /// Flattens the packet into the word layout (once per packet).
    #[inline(always)]
    pub fn to_words(&self) -> Words {
        let k = &self.key;
        let m = &self.meta;
        let mut w = [0u64; NW];
        w[W_DL_DST] = mac_to_u64(k.dl_dst) | (k.dl_type as u64) << 48;
        w[W_DL_SRC] = mac_to_u64(k.dl_src) | (k.vlan_tci as u64) << 48;
        w[W_NW_ADDR] = k.nw_src as u64 | (k.nw_dst as u64) << 32;
        w[W_NW_MISC] = k.nw_proto as u64
            | (k.nw_tos as u64) << 8
            | (k.nw_ttl as u64) << 16
            | (k.nw_frag as u64) << 24
            | (k.ipv6_label as u64) << 32;
        w[W_TP] = k.tp_src as u64
            | (k.tp_dst as u64) << 16
            | (k.tcp_flags as u64) << 32
            | (k.vlan_tci_inner as u64) << 48;
        let (a, b) = split128(u128::from_be_bytes(k.ipv6_src));
        w[W_IPV6_SRC] = a;
        w[W_IPV6_SRC + 1] = b;
        let (a, b) = split128(u128::from_be_bytes(k.ipv6_dst));
        w[W_IPV6_DST] = a;
        w[W_IPV6_DST + 1] = b;
        let (a, b) = split128(u128::from_be_bytes(k.nd_target));
        w[W_ND_TARGET] = a;
        w[W_ND_TARGET + 1] = b;
        w[W_ARP_SHA] = mac_to_u64(k.arp_sha);
        w[W_ARP_THA] = mac_to_u64(k.arp_tha);
        w[W_PORT_MARK] = m.in_port as u64 | (m.pkt_mark as u64) << 32;
        w[W_TUN_ID] = m.tun_id;
        w[W_TUN_ADDR] = m.tun_src as u64 | (m.tun_dst as u64) << 32;
        w[W_METADATA] = m.metadata;
        for i in 0..8 {
            w[W_REGS + i] = m.regs[2 * i] as u64 | (m.regs[2 * i + 1] as u64) << 32;
        }
        w[W_CT] = m.ct_state as u64 | (m.ct_mark as u64) << 32;
        w[W_CT_ZONE] = m.ct_zone as u64 | (m.recirc_id as u64) << 16 | (m.tun_flags as u64) << 48;
        if m.tun_md.present != 0 {
            m.tun_md.to_words(&mut w);
        }
        let (a, b) = split128(m.ct_label);
        w[W_CT_LABEL] = a;
        w[W_CT_LABEL + 1] = b;
        w[W_CT_NW] = m.ct_nw_src as u64 | (m.ct_nw_dst as u64) << 32;
        w[W_CT_TP] = m.ct_tp_src as u64 | (m.ct_tp_dst as u64) << 16 | (m.ct_nw_proto as u64) << 32;
        let (a, b) = split128(u128::from_be_bytes(m.ct_ipv6_src));
        w[W_CT_IPV6_SRC] = a;
        w[W_CT_IPV6_SRC + 1] = b;
        let (a, b) = split128(u128::from_be_bytes(m.ct_ipv6_dst));
        w[W_CT_IPV6_DST] = a;
        w[W_CT_IPV6_DST + 1] = b;
        w
    }

    /// Rebuilds a packet from the word layout (inverse of [`Self::to_words`]).
    pub fn from_words(w: &Words) -> Packet {
        let j128 = |i: usize| ((w[i] as u128) << 64 | w[i + 1] as u128).to_be_bytes();
        let key = FlowKey {
            dl_dst: u64_to_mac(w[W_DL_DST]),
            dl_type: (w[W_DL_DST] >> 48) as u16,
            dl_src: u64_to_mac(w[W_DL_SRC]),
            vlan_tci: (w[W_DL_SRC] >> 48) as u16,
            nw_src: w[W_NW_ADDR] as u32,
            nw_dst: (w[W_NW_ADDR] >> 32) as u32,
            nw_proto: w[W_NW_MISC] as u8,
            nw_tos: (w[W_NW_MISC] >> 8) as u8,
            nw_ttl: (w[W_NW_MISC] >> 16) as u8,
            nw_frag: (w[W_NW_MISC] >> 24) as u8,
            ipv6_label: (w[W_NW_MISC] >> 32) as u32,
            tp_src: w[W_TP] as u16,
            tp_dst: (w[W_TP] >> 16) as u16,
            tcp_flags: (w[W_TP] >> 32) as u16,
            vlan_tci_inner: (w[W_TP] >> 48) as u16,
            ipv6_src: j128(W_IPV6_SRC),
            ipv6_dst: j128(W_IPV6_DST),
            nd_target: j128(W_ND_TARGET),
            arp_sha: u64_to_mac(w[W_ARP_SHA]),
            arp_tha: u64_to_mac(w[W_ARP_THA]),
            _pad: 0,
        };
        let mut regs = [0u32; 16];
        for i in 0..8 {
            regs[2 * i] = w[W_REGS + i] as u32;
            regs[2 * i + 1] = (w[W_REGS + i] >> 32) as u32;
        }
        let meta = Metadata {
            in_port: w[W_PORT_MARK] as u32,
            pkt_mark: (w[W_PORT_MARK] >> 32) as u32,
            tun_id: w[W_TUN_ID],
            tun_src: w[W_TUN_ADDR] as u32,
            tun_dst: (w[W_TUN_ADDR] >> 32) as u32,
            metadata: w[W_METADATA],
            regs,
            ct_state: w[W_CT] as u32,
            ct_mark: (w[W_CT] >> 32) as u32,
            ct_zone: w[W_CT_ZONE] as u16,
            recirc_id: (w[W_CT_ZONE] >> 16) as u32,
            tun_flags: (w[W_CT_ZONE] >> 48) as u16,
            tun_md: crate::tun_md::TunMetadata::from_words(w),
            ct_label: (w[W_CT_LABEL] as u128) << 64 | w[W_CT_LABEL + 1] as u128,
            ct_nw_src: w[W_CT_NW] as u32,
            ct_nw_dst: (w[W_CT_NW] >> 32) as u32,
            ct_tp_src: w[W_CT_TP] as u16,
            ct_tp_dst: (w[W_CT_TP] >> 16) as u16,
            ct_nw_proto: (w[W_CT_TP] >> 32) as u8,
            ct_ipv6_src: j128(W_CT_IPV6_SRC),
            ct_ipv6_dst: j128(W_CT_IPV6_DST),
        };
        Packet { key, meta }
    }
}

/// Hash of a whole word array (exact-match cache): one multiply per pair of
/// words and a final avalanche; collisions only cost an EMC miss. The
/// tunnel metadata slots are all zero when no field is present (see
/// [`crate::tun_md`]), so they are hashed only when one is: a packet
/// without Geneve options costs what it did before they existed.
#[inline]
pub(crate) fn hash_words(words: &Words) -> u64 {
    // Constant bounds, so that both loops unroll.
    const _: () = assert!(W_TUN_MD_PRESENT.is_multiple_of(2) && (NW - W_TUN_MD).is_multiple_of(2));
    #[inline(always)]
    fn pairs<const A: usize, const B: usize>(mut h: u64, w: &Words) -> u64 {
        let mut i = A;
        while i < B {
            h = (h ^ w[i].rotate_left(23) ^ w[i + 1]).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
            i += 2;
        }
        h
    }
    let mut h = pairs::<0, W_TUN_MD_PRESENT>(0x9e37_79b9_7f4a_7c15, words);
    let present = words[W_TUN_MD_PRESENT];
    h ^= present;
    if present != 0 {
        h = pairs::<W_TUN_MD, NW>(h, words);
    }
    crate::tuple::fmix(h)
}

/// Packet equality for the exact-match cache: the tunnel metadata slots
/// are compared only when a field is present (they are zero otherwise).
#[inline]
pub(crate) fn words_eq(a: &Words, b: &Words) -> bool {
    a[..W_TUN_MD] == b[..W_TUN_MD] && (a[W_TUN_MD_PRESENT] == 0 || a[W_TUN_MD..] == b[W_TUN_MD..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip() {
        let mut p = Packet::default();
        p.key.dl_src = [1, 2, 3, 4, 5, 6];
        p.key.dl_dst = [0xff; 6];
        p.key.vlan_tci = 0x1005;
        p.key.ipv6_src[0] = 0xfe;
        p.key.ipv6_src[15] = 1;
        p.key.tcp_flags = 0x12;
        p.meta.regs[15] = 0xdead_beef;
        p.meta.regs[0] = 7;
        p.meta.ct_label = u128::MAX - 5;
        p.meta.recirc_id = 9;
        p.meta.in_port = 0xffff_fffe;
        p.meta.ct_nw_src = 0x0a00_0001;
        p.meta.ct_ipv6_dst[15] = 2;
        p.meta.ct_tp_dst = 80;
        p.meta.ct_nw_proto = 6;
        p.meta.tun_flags = 1;
        p.meta.tun_md.set(3, 0x1234);
        p.meta.tun_md.set(12, u64::MAX);
        assert_eq!(Packet::from_words(&p.to_words()), p);
    }

    #[test]
    fn emc_hash_and_equality_cover_present_metadata() {
        let plain = Packet::default().to_words();
        let mut p = Packet::default();
        p.meta.tun_md.set(0, 5);
        let a = p.to_words();
        p.meta.tun_md.set(0, 6);
        let b = p.to_words();
        assert!(!words_eq(&a, &b));
        assert!(!words_eq(&a, &plain));
        assert!(words_eq(&a, &a));
        assert_ne!(hash_words(&a), hash_words(&b));
        assert_ne!(hash_words(&a), hash_words(&plain));
    }
}
