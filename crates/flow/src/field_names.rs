//! Field names: the ovs-fields(7) names, their OpenFlow 1.0 aliases and the
//! NXM/OXM names, all resolving to one [`Field`].

use crate::fields::Field;

impl Field {
    /// Looks a field up by any name OVS accepts for it: the ovs-fields(7)
    /// name, the OpenFlow 1.0 alias (`dl_src` / `eth_src`), or the NXM/OXM
    /// name (`NXM_OF_ETH_SRC`). Case-sensitive for NXM names, as OVS.
    pub fn from_name(name: &str) -> Option<Field> {
        use Field::*;
        let f = match name {
            "in_port" | "NXM_OF_IN_PORT" | "OXM_OF_IN_PORT" => InPort,
            "dl_src" | "eth_src" | "NXM_OF_ETH_SRC" | "OXM_OF_ETH_SRC" => DlSrc,
            "dl_dst" | "eth_dst" | "NXM_OF_ETH_DST" | "OXM_OF_ETH_DST" => DlDst,
            "dl_type" | "eth_type" | "NXM_OF_ETH_TYPE" | "OXM_OF_ETH_TYPE" => DlType,
            "vlan_tci" | "NXM_OF_VLAN_TCI" => VlanTci,
            "dl_vlan" | "vlan_vid" | "OXM_OF_VLAN_VID" => DlVlan,
            "dl_vlan_pcp" | "vlan_pcp" | "OXM_OF_VLAN_PCP" => DlVlanPcp,
            "nw_src" | "ip_src" | "NXM_OF_IP_SRC" | "OXM_OF_IPV4_SRC" => NwSrc,
            "nw_dst" | "ip_dst" | "NXM_OF_IP_DST" | "OXM_OF_IPV4_DST" => NwDst,
            "nw_proto" | "ip_proto" | "NXM_OF_IP_PROTO" | "OXM_OF_IP_PROTO" => NwProto,
            "nw_tos" | "NXM_OF_IP_TOS" => NwTos,
            "ip_dscp" | "OXM_OF_IP_DSCP" => IpDscp,
            "nw_ecn" | "ip_ecn" | "NXM_NX_IP_ECN" | "OXM_OF_IP_ECN" => NwEcn,
            "nw_ttl" | "NXM_NX_IP_TTL" => NwTtl,
            "nw_frag" | "ip_frag" | "NXM_NX_IP_FRAG" => NwFrag,
            "tp_src" | "tcp_src" | "udp_src" | "sctp_src" | "NXM_OF_TCP_SRC" | "NXM_OF_UDP_SRC"
            | "OXM_OF_TP_SRC" | "OXM_OF_TCP_SRC" | "OXM_OF_UDP_SRC" => TpSrc,
            "tp_dst" | "tcp_dst" | "udp_dst" | "sctp_dst" | "NXM_OF_TCP_DST" | "NXM_OF_UDP_DST"
            | "OXM_OF_TP_DST" | "OXM_OF_TCP_DST" | "OXM_OF_UDP_DST" => TpDst,
            "tcp_flags" | "NXM_NX_TCP_FLAGS" | "OXM_OF_TCP_FLAGS" => TcpFlags,
            "icmp_type" | "icmpv4_type" | "NXM_OF_ICMP_TYPE" | "OXM_OF_ICMPV4_TYPE" => IcmpType,
            "icmp_code" | "icmpv4_code" | "NXM_OF_ICMP_CODE" | "OXM_OF_ICMPV4_CODE" => IcmpCode,
            "icmpv6_type" | "NXM_NX_ICMPV6_TYPE" | "OXM_OF_ICMPV6_TYPE" => Icmpv6Type,
            "icmpv6_code" | "NXM_NX_ICMPV6_CODE" | "OXM_OF_ICMPV6_CODE" => Icmpv6Code,
            "arp_op" | "NXM_OF_ARP_OP" | "OXM_OF_ARP_OP" => ArpOp,
            "arp_spa" | "NXM_OF_ARP_SPA" | "OXM_OF_ARP_SPA" => ArpSpa,
            "arp_tpa" | "NXM_OF_ARP_TPA" | "OXM_OF_ARP_TPA" => ArpTpa,
            "arp_sha" | "NXM_NX_ARP_SHA" | "OXM_OF_ARP_SHA" => ArpSha,
            "arp_tha" | "NXM_NX_ARP_THA" | "OXM_OF_ARP_THA" => ArpTha,
            "nd_sll" | "NXM_NX_ND_SLL" | "OXM_OF_IPV6_ND_SLL" => NdSll,
            "nd_tll" | "NXM_NX_ND_TLL" | "OXM_OF_IPV6_ND_TLL" => NdTll,
            "ipv6_src" | "NXM_NX_IPV6_SRC" | "OXM_OF_IPV6_SRC" => Ipv6Src,
            "ipv6_dst" | "NXM_NX_IPV6_DST" | "OXM_OF_IPV6_DST" => Ipv6Dst,
            "ipv6_label" | "NXM_NX_IPV6_LABEL" | "OXM_OF_IPV6_FLABEL" => Ipv6Label,
            "nd_target" | "NXM_NX_ND_TARGET" | "OXM_OF_IPV6_ND_TARGET" => NdTarget,
            "tun_id" | "tunnel_id" | "NXM_NX_TUN_ID" | "OXM_OF_TUNNEL_ID" => TunId,
            "tun_src" | "NXM_NX_TUN_IPV4_SRC" => TunSrc,
            "tun_dst" | "NXM_NX_TUN_IPV4_DST" => TunDst,
            "tun_flags" | "NXM_NX_TUN_FLAGS" => TunFlags,
            "metadata" | "OXM_OF_METADATA" => Metadata,
            "ct_state" | "NXM_NX_CT_STATE" => CtState,
            "ct_zone" | "NXM_NX_CT_ZONE" => CtZone,
            "ct_mark" | "NXM_NX_CT_MARK" => CtMark,
            "ct_label" | "NXM_NX_CT_LABEL" => CtLabel,
            "pkt_mark" | "NXM_NX_PKT_MARK" => PktMark,
            "recirc_id" | "NXM_NX_RECIRC_ID" => RecircId,
            "conj_id" | "NXM_NX_CONJ_ID" => ConjId,
            "ct_nw_src" | "NXM_NX_CT_NW_SRC" => CtNwSrc,
            "ct_nw_dst" | "NXM_NX_CT_NW_DST" => CtNwDst,
            "ct_ipv6_src" | "NXM_NX_CT_IPV6_SRC" => CtIpv6Src,
            "ct_ipv6_dst" | "NXM_NX_CT_IPV6_DST" => CtIpv6Dst,
            "ct_nw_proto" | "NXM_NX_CT_NW_PROTO" => CtNwProto,
            "ct_tp_src" | "NXM_NX_CT_TP_SRC" => CtTpSrc,
            "ct_tp_dst" | "NXM_NX_CT_TP_DST" => CtTpDst,
            _ if name.starts_with("tun_metadata") || name.starts_with("NXM_NX_TUN_METADATA") => {
                return crate::tun_md::from_name(name);
            }
            _ => {
                let n = name
                    .strip_prefix("reg")
                    .or_else(|| name.strip_prefix("NXM_NX_REG"))?;
                if n.is_empty() || (n.len() > 1 && n.starts_with('0')) {
                    return None;
                }
                let n: u8 = n.parse().ok()?;
                if n > 15 {
                    return None;
                }
                Reg(n)
            }
        };
        Some(f)
    }
}
