//! Match fields: names (ovs-fields(7) names, their OpenFlow 1.0 aliases and
//! NXM/OXM names), widths, bit positions in [`Words`], prerequisites and
//! printing formats.

pub use crate::fieldref::{prereq_holds, FieldRef};
use crate::flowvec::*;

/// Every field the classifier can match and actions can read or write.
///
/// Several fields are *views* on the same bits, as in OVS: `arp_spa` is
/// `nw_src` when `dl_type=arp`, `icmp_type` is the low byte of `tp_src`,
/// `ip_dscp`/`nw_ecn` are bit ranges of `nw_tos`, `dl_vlan`/`dl_vlan_pcp`
/// are bit ranges of `vlan_tci` (ovs-fields(7)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    InPort,
    DlSrc,
    DlDst,
    DlType,
    VlanTci,
    DlVlan,
    DlVlanPcp,
    NwSrc,
    NwDst,
    NwProto,
    NwTos,
    IpDscp,
    NwEcn,
    NwTtl,
    NwFrag,
    TpSrc,
    TpDst,
    TcpFlags,
    IcmpType,
    IcmpCode,
    Icmpv6Type,
    Icmpv6Code,
    ArpOp,
    ArpSpa,
    ArpTpa,
    ArpSha,
    ArpTha,
    NdSll,
    NdTll,
    Ipv6Src,
    Ipv6Dst,
    Ipv6Label,
    NdTarget,
    TunId,
    TunSrc,
    TunDst,
    /// `tun_flags` (only `oam` is meaningful), see [`crate::tun_md`].
    TunFlags,
    /// `tun_metadataN`, N < 64, see [`crate::tun_md`].
    TunMetadata(u8),
    Metadata,
    Reg(u8),
    CtState,
    CtZone,
    CtMark,
    CtLabel,
    PktMark,
    RecircId,
    ConjId,
    CtNwSrc,
    CtNwDst,
    CtIpv6Src,
    CtIpv6Dst,
    CtNwProto,
    CtTpSrc,
    CtTpDst,
}

/// What must hold before a field may be matched or set (ovs-fields(7),
/// "Field Prerequisites").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prereq {
    None,
    /// IPv4 or IPv6.
    Ip,
    Ipv4,
    Ipv6,
    Arp,
    /// TCP, UDP or SCTP over IPv4 or IPv6.
    L4,
    Tcp,
    Icmp,
    Icmpv6,
    /// ICMPv6 neighbor solicitation or advertisement.
    Nd,
}

/// How a field's value is written (ovs-fields(7) "formatting").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fmt {
    Dec,
    Hex,
    Mac,
    Ipv4,
    Ipv6,
    Port,
    CtState,
    TcpFlags,
    Frag,
    /// `tun_flags`: `+oam` / `-oam` or a number.
    TunFlags,
}

/// Static description of one field.
#[derive(Clone, Copy, Debug)]
pub struct FieldInfo {
    /// The ovs-fields(7) name used when printing.
    pub name: &'static str,
    /// NXM/OXM name, used when printing field references (`NXM_OF_ETH_SRC[]`).
    pub nxm: &'static str,
    /// First word in [`Words`] (the high word for 128-bit fields).
    pub word: u8,
    /// Bit offset inside the word (0 for 128-bit fields).
    pub shift: u8,
    /// Width in bits.
    pub bits: u8,
    /// Whether an arbitrary bitwise mask is allowed in a match.
    pub maskable: bool,
    /// Whether `set_field`/`load`/`move` may write it.
    pub writable: bool,
    pub prereq: Prereq,
    pub fmt: Fmt,
}

#[allow(clippy::too_many_arguments)]
pub(crate) const fn fi(
    name: &'static str,
    nxm: &'static str,
    word: usize,
    shift: u8,
    bits: u8,
    maskable: bool,
    prereq: Prereq,
    fmt: Fmt,
) -> FieldInfo {
    FieldInfo {
        name,
        nxm,
        word: word as u8,
        shift,
        bits,
        maskable,
        writable: true,
        prereq,
        fmt,
    }
}

/// A field actions may not write.
pub(crate) const fn ro(i: FieldInfo) -> FieldInfo {
    FieldInfo {
        writable: false,
        ..i
    }
}

const REG_NAMES: [&str; 16] = [
    "reg0", "reg1", "reg2", "reg3", "reg4", "reg5", "reg6", "reg7", "reg8", "reg9", "reg10",
    "reg11", "reg12", "reg13", "reg14", "reg15",
];
const REG_NXM: [&str; 16] = [
    "NXM_NX_REG0",
    "NXM_NX_REG1",
    "NXM_NX_REG2",
    "NXM_NX_REG3",
    "NXM_NX_REG4",
    "NXM_NX_REG5",
    "NXM_NX_REG6",
    "NXM_NX_REG7",
    "NXM_NX_REG8",
    "NXM_NX_REG9",
    "NXM_NX_REG10",
    "NXM_NX_REG11",
    "NXM_NX_REG12",
    "NXM_NX_REG13",
    "NXM_NX_REG14",
    "NXM_NX_REG15",
];

/// The ct_state flag bits (ovs-fields(7), "Connection Tracking Fields").
pub mod ct_state {
    pub const NEW: u32 = 0x01;
    pub const EST: u32 = 0x02;
    pub const REL: u32 = 0x04;
    pub const RPL: u32 = 0x08;
    pub const INV: u32 = 0x10;
    pub const TRK: u32 = 0x20;
    pub const SNAT: u32 = 0x40;
    pub const DNAT: u32 = 0x80;
    /// Names in bit order, as OVS prints them.
    pub const NAMES: [(&str, u32); 8] = [
        ("new", NEW),
        ("est", EST),
        ("rel", REL),
        ("rpl", RPL),
        ("inv", INV),
        ("trk", TRK),
        ("snat", SNAT),
        ("dnat", DNAT),
    ];
}

/// TCP flag names in bit order (ovs-fields(7), `tcp_flags`).
pub const TCP_FLAG_NAMES: [(&str, u32); 9] = [
    ("fin", 0x001),
    ("syn", 0x002),
    ("rst", 0x004),
    ("psh", 0x008),
    ("ack", 0x010),
    ("urg", 0x020),
    ("ece", 0x040),
    ("cwr", 0x080),
    ("ns", 0x100),
];

impl Field {
    /// Static description of the field.
    #[inline(always)]
    pub fn info(self) -> FieldInfo {
        use Fmt::*;
        use Prereq as P;
        match self {
            Field::InPort => fi(
                "in_port",
                "NXM_OF_IN_PORT",
                W_PORT_MARK,
                0,
                32,
                false,
                P::None,
                Port,
            ),
            Field::DlSrc => fi(
                "dl_src",
                "NXM_OF_ETH_SRC",
                W_DL_SRC,
                0,
                48,
                true,
                P::None,
                Mac,
            ),
            Field::DlDst => fi(
                "dl_dst",
                "NXM_OF_ETH_DST",
                W_DL_DST,
                0,
                48,
                true,
                P::None,
                Mac,
            ),
            Field::DlType => FieldInfo {
                writable: false,
                ..fi(
                    "dl_type",
                    "NXM_OF_ETH_TYPE",
                    W_DL_DST,
                    48,
                    16,
                    false,
                    P::None,
                    Hex,
                )
            },
            Field::VlanTci => fi(
                "vlan_tci",
                "NXM_OF_VLAN_TCI",
                W_DL_SRC,
                48,
                16,
                true,
                P::None,
                Hex,
            ),
            Field::DlVlan => fi(
                "dl_vlan",
                "OXM_OF_VLAN_VID",
                W_DL_SRC,
                48,
                12,
                false,
                P::None,
                Dec,
            ),
            Field::DlVlanPcp => fi(
                "dl_vlan_pcp",
                "OXM_OF_VLAN_PCP",
                W_DL_SRC,
                61,
                3,
                false,
                P::None,
                Dec,
            ),
            Field::NwSrc => fi(
                "nw_src",
                "NXM_OF_IP_SRC",
                W_NW_ADDR,
                0,
                32,
                true,
                P::Ipv4,
                Ipv4,
            ),
            Field::NwDst => fi(
                "nw_dst",
                "NXM_OF_IP_DST",
                W_NW_ADDR,
                32,
                32,
                true,
                P::Ipv4,
                Ipv4,
            ),
            Field::NwProto => FieldInfo {
                writable: false,
                ..fi(
                    "nw_proto",
                    "NXM_OF_IP_PROTO",
                    W_NW_MISC,
                    0,
                    8,
                    false,
                    P::Ip,
                    Dec,
                )
            },
            Field::NwTos => fi(
                "nw_tos",
                "NXM_OF_IP_TOS",
                W_NW_MISC,
                8,
                8,
                false,
                P::Ip,
                Dec,
            ),
            Field::IpDscp => fi(
                "ip_dscp",
                "OXM_OF_IP_DSCP",
                W_NW_MISC,
                10,
                6,
                false,
                P::Ip,
                Dec,
            ),
            Field::NwEcn => fi(
                "nw_ecn",
                "NXM_NX_IP_ECN",
                W_NW_MISC,
                8,
                2,
                false,
                P::Ip,
                Dec,
            ),
            Field::NwTtl => fi(
                "nw_ttl",
                "NXM_NX_IP_TTL",
                W_NW_MISC,
                16,
                8,
                false,
                P::Ip,
                Dec,
            ),
            Field::NwFrag => FieldInfo {
                writable: false,
                ..fi(
                    "nw_frag",
                    "NXM_NX_IP_FRAG",
                    W_NW_MISC,
                    24,
                    2,
                    true,
                    P::Ip,
                    Frag,
                )
            },
            Field::Ipv6Label => fi(
                "ipv6_label",
                "NXM_NX_IPV6_LABEL",
                W_NW_MISC,
                32,
                20,
                true,
                P::Ipv6,
                Hex,
            ),
            Field::TpSrc => fi("tp_src", "OXM_OF_TP_SRC", W_TP, 0, 16, true, P::L4, Dec),
            Field::TpDst => fi("tp_dst", "OXM_OF_TP_DST", W_TP, 16, 16, true, P::L4, Dec),
            Field::TcpFlags => FieldInfo {
                writable: false,
                ..fi(
                    "tcp_flags",
                    "NXM_NX_TCP_FLAGS",
                    W_TP,
                    32,
                    12,
                    true,
                    P::Tcp,
                    TcpFlags,
                )
            },
            Field::IcmpType => fi(
                "icmp_type",
                "NXM_OF_ICMP_TYPE",
                W_TP,
                0,
                8,
                false,
                P::Icmp,
                Dec,
            ),
            Field::IcmpCode => fi(
                "icmp_code",
                "NXM_OF_ICMP_CODE",
                W_TP,
                16,
                8,
                false,
                P::Icmp,
                Dec,
            ),
            Field::Icmpv6Type => fi(
                "icmpv6_type",
                "NXM_NX_ICMPV6_TYPE",
                W_TP,
                0,
                8,
                false,
                P::Icmpv6,
                Dec,
            ),
            Field::Icmpv6Code => fi(
                "icmpv6_code",
                "NXM_NX_ICMPV6_CODE",
                W_TP,
                16,
                8,
                false,
                P::Icmpv6,
                Dec,
            ),
            Field::ArpOp => fi(
                "arp_op",
                "NXM_OF_ARP_OP",
                W_NW_MISC,
                0,
                8,
                false,
                P::Arp,
                Dec,
            ),
            Field::ArpSpa => fi(
                "arp_spa",
                "NXM_OF_ARP_SPA",
                W_NW_ADDR,
                0,
                32,
                true,
                P::Arp,
                Ipv4,
            ),
            Field::ArpTpa => fi(
                "arp_tpa",
                "NXM_OF_ARP_TPA",
                W_NW_ADDR,
                32,
                32,
                true,
                P::Arp,
                Ipv4,
            ),
            Field::ArpSha => fi(
                "arp_sha",
                "NXM_NX_ARP_SHA",
                W_ARP_SHA,
                0,
                48,
                true,
                P::Arp,
                Mac,
            ),
            Field::ArpTha => fi(
                "arp_tha",
                "NXM_NX_ARP_THA",
                W_ARP_THA,
                0,
                48,
                true,
                P::Arp,
                Mac,
            ),
            Field::NdSll => fi(
                "nd_sll",
                "NXM_NX_ND_SLL",
                W_ARP_SHA,
                0,
                48,
                true,
                P::Nd,
                Mac,
            ),
            Field::NdTll => fi(
                "nd_tll",
                "NXM_NX_ND_TLL",
                W_ARP_THA,
                0,
                48,
                true,
                P::Nd,
                Mac,
            ),
            Field::Ipv6Src => fi(
                "ipv6_src",
                "NXM_NX_IPV6_SRC",
                W_IPV6_SRC,
                0,
                128,
                true,
                P::Ipv6,
                Ipv6,
            ),
            Field::Ipv6Dst => fi(
                "ipv6_dst",
                "NXM_NX_IPV6_DST",
                W_IPV6_DST,
                0,
                128,
                true,
                P::Ipv6,
                Ipv6,
            ),
            Field::NdTarget => fi(
                "nd_target",
                "NXM_NX_ND_TARGET",
                W_ND_TARGET,
                0,
                128,
                true,
                P::Nd,
                Ipv6,
            ),
            Field::TunId => fi(
                "tun_id",
                "NXM_NX_TUN_ID",
                W_TUN_ID,
                0,
                64,
                true,
                P::None,
                Hex,
            ),
            Field::TunSrc => fi(
                "tun_src",
                "NXM_NX_TUN_IPV4_SRC",
                W_TUN_ADDR,
                0,
                32,
                true,
                P::None,
                Ipv4,
            ),
            Field::TunDst => fi(
                "tun_dst",
                "NXM_NX_TUN_IPV4_DST",
                W_TUN_ADDR,
                32,
                32,
                true,
                P::None,
                Ipv4,
            ),
            Field::Metadata => fi(
                "metadata",
                "OXM_OF_METADATA",
                W_METADATA,
                0,
                64,
                true,
                P::None,
                Hex,
            ),
            Field::Reg(n) => {
                let n = (n & 15) as usize;
                fi(
                    REG_NAMES[n],
                    REG_NXM[n],
                    W_REGS + n / 2,
                    (n as u8 % 2) * 32,
                    32,
                    true,
                    P::None,
                    Hex,
                )
            }
            Field::CtState => FieldInfo {
                writable: false,
                ..fi(
                    "ct_state",
                    "NXM_NX_CT_STATE",
                    W_CT,
                    0,
                    32,
                    true,
                    P::None,
                    CtState,
                )
            },
            Field::CtZone => FieldInfo {
                writable: false,
                ..fi(
                    "ct_zone",
                    "NXM_NX_CT_ZONE",
                    W_CT_ZONE,
                    0,
                    16,
                    false,
                    P::None,
                    Dec,
                )
            },
            Field::CtMark => fi(
                "ct_mark",
                "NXM_NX_CT_MARK",
                W_CT,
                32,
                32,
                true,
                P::None,
                Hex,
            ),
            Field::CtLabel => fi(
                "ct_label",
                "NXM_NX_CT_LABEL",
                W_CT_LABEL,
                0,
                128,
                true,
                P::None,
                Hex,
            ),
            Field::PktMark => fi(
                "pkt_mark",
                "NXM_NX_PKT_MARK",
                W_PORT_MARK,
                32,
                32,
                true,
                P::None,
                Hex,
            ),
            Field::RecircId => FieldInfo {
                writable: false,
                ..fi(
                    "recirc_id",
                    "NXM_NX_RECIRC_ID",
                    W_CT_ZONE,
                    16,
                    32,
                    false,
                    P::None,
                    Dec,
                )
            },
            // ovs-fields(7), "Conjunctive Match Fields": matchable only,
            // never written by actions.
            Field::ConjId => FieldInfo {
                writable: false,
                ..fi(
                    "conj_id",
                    "NXM_NX_CONJ_ID",
                    W_CONJ_ID,
                    0,
                    32,
                    false,
                    P::None,
                    Dec,
                )
            },
            Field::CtNwSrc
            | Field::CtNwDst
            | Field::CtIpv6Src
            | Field::CtIpv6Dst
            | Field::CtNwProto
            | Field::CtTpSrc
            | Field::CtTpDst => crate::ct_fields::info(self),
            Field::TunFlags | Field::TunMetadata(_) => crate::tun_md::info(self),
        }
    }

    /// Width in bits.
    #[inline]
    pub fn bits(self) -> u8 {
        self.info().bits
    }

    /// All-ones mask of the field's width.
    pub fn full_mask(self) -> u128 {
        ones(self.bits())
    }

    /// Reads the field's value from a word array.
    #[inline]
    pub fn get(self, w: &Words) -> u128 {
        let i = self.info();
        if i.bits == 128 {
            (w[i.word as usize] as u128) << 64 | w[i.word as usize + 1] as u128
        } else {
            ((w[i.word as usize] >> i.shift) as u128) & ones(i.bits)
        }
    }

    /// Writes `value` (truncated to the field's width) into a word array.
    #[inline]
    pub fn set(self, w: &mut Words, value: u128) {
        self.set_masked(w, value, self.full_mask());
    }

    /// Writes the bits of `value` selected by `mask` into a word array.
    #[inline]
    pub fn set_masked(self, w: &mut Words, value: u128, mask: u128) {
        let i = self.info();
        let a = i.word as usize;
        if i.bits == 128 {
            let value = value & mask;
            w[a] = (w[a] & !((mask >> 64) as u64)) | (value >> 64) as u64;
            w[a + 1] = (w[a + 1] & !(mask as u64)) | value as u64;
        } else {
            // Every other field fits in one word: u64 arithmetic only (this
            // runs for every load, set_field and move of a translation).
            let m = (mask as u64 & ones64(i.bits)) << i.shift;
            w[a] = (w[a] & !m) | (((value as u64) << i.shift) & m);
        }
        // Writing a tunnel metadata field makes it present (and matching
        // one matches its presence), as in OVS.
        if let Field::TunMetadata(n) = self {
            if mask & ones(i.bits) != 0 {
                crate::tun_md::mark_present(w, n);
            }
        }
    }

    /// [`Self::set_masked`] on `w` and [`Self::unwildcard`] on `written`
    /// in one: what every write of a translation does, with one look at
    /// the field's position instead of two.
    #[inline]
    pub(crate) fn write_marking(self, w: &mut Words, written: &mut Words, value: u128, mask: u128) {
        let i = self.info();
        let a = i.word as usize;
        if i.bits == 128 {
            let value = value & mask;
            let (hi, lo) = ((mask >> 64) as u64, mask as u64);
            w[a] = (w[a] & !hi) | (value >> 64) as u64;
            w[a + 1] = (w[a + 1] & !lo) | value as u64;
            written[a] |= hi;
            written[a + 1] |= lo;
        } else {
            let m = (mask as u64 & ones64(i.bits)) << i.shift;
            w[a] = (w[a] & !m) | (((value as u64) << i.shift) & m);
            written[a] |= m;
        }
        if let Field::TunMetadata(n) = self {
            if mask & ones(i.bits) != 0 {
                crate::tun_md::mark_present(w, n);
            }
            crate::tun_md::mark_present(written, n);
        }
    }

    /// [`Self::set_masked`] for register `reg{n}` (`n` taken mod 16, as
    /// [`Field::Reg`] does): a miss loads or sets a register in most
    /// tables of a pipeline, and the position is two operations on `n`
    /// instead of a look into the field table.
    #[inline]
    pub(crate) fn write_reg(n: u8, w: &mut Words, value: u128, mask: u128) {
        let n = usize::from(n & 15);
        let (a, shift) = (W_REGS + n / 2, (n % 2) * 32);
        let m = (mask as u64 & 0xffff_ffff) << shift;
        w[a] = (w[a] & !m) | (((value as u64) << shift) & m);
    }

    /// ORs the field's bits selected by `mask` into a mask word array.
    #[inline]
    pub fn unwildcard(self, w: &mut Words, mask: u128) {
        let i = self.info();
        let a = i.word as usize;
        if i.bits == 128 {
            w[a] |= (mask >> 64) as u64;
            w[a + 1] |= mask as u64;
        } else {
            w[a] |= (mask as u64 & ones64(i.bits)) << i.shift;
        }
        // As a write of the field does: consulting a tunnel metadata field
        // consults its presence.
        if let Field::TunMetadata(n) = self {
            crate::tun_md::mark_present(w, n);
        }
    }
}

/// [`ones`] for widths up to 64.
#[inline]
const fn ones64(n: u8) -> u64 {
    if n >= 64 {
        u64::MAX
    } else {
        (1u64 << n) - 1
    }
}

/// A mask of `n` low-order one bits (`n` ≤ 128).
#[inline]
pub const fn ones(n: u8) -> u128 {
    if n >= 128 {
        u128::MAX
    } else {
        (1u128 << n) - 1
    }
}

/// A CIDR-style mask: the `n` high-order bits of a `bits`-wide field
/// (`n` ≤ `bits` ≤ 128). `/0` is the empty mask — written as a shift it
/// would be `ones(0) << 128`, which overflows for 128-bit fields (found by
/// the `parse_flow` fuzz target with `ipv6_src=…/0`).
#[inline]
pub const fn prefix_mask(n: u8, bits: u8) -> u128 {
    if n == 0 {
        0
    } else {
        ones(n) << (bits - n)
    }
}

#[cfg(test)]
#[path = "fields_tests.rs"]
mod tests;
