//! Router Advertisements from a router port (RFC 4861 §4.2, §6.2), as
//! OVN's `put_nd_ra_opts` / `nd_ra` and Neutron's radvd do for subnets with
//! an `ipv6_ra_mode`:
//!
//! | Neutron mode | M | O | prefix A flag | the host gets its address by |
//! |---|---|---|---|---|
//! | `slaac` | 0 | 0 | 1 | SLAAC (RFC 4862) |
//! | `dhcpv6-stateful` | 1 | 1 | 0 | DHCPv6 IA_NA (RFC 8415) |
//! | `dhcpv6-stateless` | 0 | 1 | 1 | SLAAC, other configuration by DHCPv6 |
//!
//! (radvd's template in Neutron and OVN's `ipv6_ra_configs:address_mode`
//! agree on these flags.) Every advertisement carries the router's
//! link-layer address, the link MTU when known, and one Prefix Information
//! option with the on-link (L) flag, from the router port's link-local
//! address (RFC 4861 §4.2: "MUST be the link-local address").
//!
//! [`respond`] answers a Router Solicitation (§6.2.6); [`advertise`]
//! builds an unsolicited advertisement to all-nodes, for periodic sending.

use core::net::Ipv6Addr;

use ipnet::Ipv6Net;
use packet::flowkey::ethertype;
use packet::icmpv6::{msg_type, nd_opt, Icmpv6Packet, NdOptions};
use packet::ip_proto;
use packet::ipv6::{self, Ipv6Repr};

use crate::frame::{need, write_eth, ETH_LEN};
use crate::nd::{link_local, multicast_mac, nd_message};
use crate::{Mac, NoReply};

/// How hosts on the link get their addresses (Neutron's `ipv6_ra_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RaMode {
    /// Stateless address autoconfiguration only.
    Slaac,
    /// Addresses and other configuration from DHCPv6.
    Dhcpv6Stateful,
    /// SLAAC addresses, other configuration (DNS) from DHCPv6.
    Dhcpv6Stateless,
}

impl RaMode {
    /// The Neutron name (`slaac`, `dhcpv6-stateful`, `dhcpv6-stateless`).
    pub fn from_neutron(s: &str) -> Option<Self> {
        match s {
            "slaac" => Some(RaMode::Slaac),
            "dhcpv6-stateful" => Some(RaMode::Dhcpv6Stateful),
            "dhcpv6-stateless" => Some(RaMode::Dhcpv6Stateless),
            _ => None,
        }
    }

    /// The M and O flag byte of the advertisement (RFC 4861 §4.2).
    fn flags(self) -> u8 {
        match self {
            RaMode::Slaac => 0,
            RaMode::Dhcpv6Stateful => flag::MANAGED | flag::OTHER,
            RaMode::Dhcpv6Stateless => flag::OTHER,
        }
    }

    /// Whether hosts may form addresses from the prefix (the A flag).
    fn autonomous(self) -> bool {
        !matches!(self, RaMode::Dhcpv6Stateful)
    }
}

mod flag {
    pub const MANAGED: u8 = 0x80;
    pub const OTHER: u8 = 0x40;
    pub const ON_LINK: u8 = 0x80;
    pub const AUTONOMOUS: u8 = 0x40;
}

/// What one router port advertises on one subnet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RaConfig {
    /// The router port's MAC: the Ethernet source, the SLL option and
    /// (EUI-64) the link-local source address.
    pub mac: Mac,
    /// The subnet's prefix (a /64 for SLAAC, RFC 4862 §5.5.3).
    pub prefix: Ipv6Net,
    /// The subnet's address mode.
    pub mode: RaMode,
    /// The link MTU option, when the network's MTU is known (≥ 1280).
    pub mtu: Option<u32>,
    /// Router lifetime in seconds (0: not a default router).
    pub lifetime: u16,
}

/// Defaults of RFC 4861 §6.2.1 and OVN's `ipv6_ra_configs`.
pub mod defaults {
    /// Router lifetime: 3 × MaxRtrAdvInterval (600 s).
    pub const ROUTER_LIFETIME: u16 = 1800;
    /// Prefix valid lifetime (AdvValidLifetime: 30 days).
    pub const VALID_LIFETIME: u32 = 2_592_000;
    /// Prefix preferred lifetime (AdvPreferredLifetime: 7 days).
    pub const PREFERRED_LIFETIME: u32 = 604_800;
    /// Hop limit hosts should use (AdvCurHopLimit).
    pub const CUR_HOP_LIMIT: u8 = 64;
}

/// Fixed part of an RA (type, code, checksum, hop limit, flags, router
/// lifetime, reachable time, retrans timer).
const RA_LEN: usize = 16;
const SLL_LEN: usize = 8;
const MTU_LEN: usize = 8;
const PREFIX_LEN: usize = 32;

/// Bytes of the advertisement for `cfg`, Ethernet header included.
pub fn reply_len(cfg: &RaConfig) -> usize {
    let mtu = if cfg.mtu.is_some() { MTU_LEN } else { 0 };
    ETH_LEN + ipv6::HEADER_LEN + RA_LEN + SLL_LEN + mtu + PREFIX_LEN
}

/// Answers a Router Solicitation in `frame` with the advertisement `cfg`
/// describes.
///
/// Checks RFC 4861 §6.1.1 validity: hop limit 255, ICMPv6 checksum, code 0,
/// length ≥ 8, well-formed options, no SLL option from the unspecified
/// address. The answer goes to the solicitor's address and MAC (§6.2.6
/// allows unicast), or to all-nodes when it solicited from `::`.
pub fn respond(frame: &[u8], cfg: &RaConfig, out: &mut [u8]) -> Result<usize, NoReply> {
    let (eth, ip) = nd_message(frame, msg_type::ROUTER_SOLICIT, "rs")?;
    let icmp = ip.payload();
    let (src, dst) = (ip.src(), ip.dst());
    let malformed = |field| NoReply::Malformed(packet::Error::Malformed { layer: "rs", field });
    if icmp.len() < 8 || icmp.get(1) != Some(&0) {
        return Err(malformed("length or code"));
    }
    if !Icmpv6Packet::new_checked(icmp)?.verify_checksum(&src, &dst) {
        return Err(NoReply::BadChecksum("icmpv6"));
    }
    let mut sll = None;
    for opt in NdOptions::new(&icmp[8..]) {
        let opt = opt?;
        if opt.kind == nd_opt::SOURCE_LL_ADDR {
            sll = opt.ll_addr();
        }
    }
    if src.is_unspecified() {
        if sll.is_some() {
            return Err(malformed("sll option"));
        }
        return advertise(cfg, out);
    }
    write(cfg, src, sll.unwrap_or(eth.src()), out)
}

/// An unsolicited advertisement to all-nodes (RFC 4861 §6.2.4).
pub fn advertise(cfg: &RaConfig, out: &mut [u8]) -> Result<usize, NoReply> {
    let all_nodes = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
    write(cfg, all_nodes, multicast_mac(&all_nodes), out)
}

fn write(cfg: &RaConfig, ip_dst: Ipv6Addr, eth_dst: Mac, out: &mut [u8]) -> Result<usize, NoReply> {
    let total = reply_len(cfg);
    need(out, total)?;
    let src = link_local(cfg.mac);
    write_eth(out, cfg.mac, eth_dst, ethertype::IPV6)?;
    let icmp_len = total - ETH_LEN - ipv6::HEADER_LEN;
    let ip_out = &mut out[ETH_LEN..total];
    Ipv6Repr {
        src,
        dst: ip_dst,
        next_header: ip_proto::ICMPV6,
        traffic_class: 0,
        flow_label: 0,
        hop_limit: 255,
        payload_len: icmp_len as u16,
    }
    .emit(ip_out)?;
    let m = &mut ip_out[ipv6::HEADER_LEN..];
    m.fill(0);
    m[0] = msg_type::ROUTER_ADVERT;
    m[4] = defaults::CUR_HOP_LIMIT;
    m[5] = cfg.mode.flags();
    m[6..8].copy_from_slice(&cfg.lifetime.to_be_bytes());
    // Reachable time and retrans timer 0: unspecified by this router.
    let mut at = RA_LEN;
    m[at] = nd_opt::SOURCE_LL_ADDR;
    m[at + 1] = 1;
    m[at + 2..at + 8].copy_from_slice(&cfg.mac);
    at += SLL_LEN;
    if let Some(mtu) = cfg.mtu {
        m[at] = nd_opt::MTU;
        m[at + 1] = 1;
        m[at + 4..at + 8].copy_from_slice(&mtu.to_be_bytes());
        at += MTU_LEN;
    }
    // Prefix Information (RFC 4861 §4.6.2).
    let p = &mut m[at..at + PREFIX_LEN];
    p[0] = nd_opt::PREFIX_INFO;
    p[1] = 4;
    p[2] = cfg.prefix.prefix_len();
    p[3] = flag::ON_LINK
        | if cfg.mode.autonomous() {
            flag::AUTONOMOUS
        } else {
            0
        };
    p[4..8].copy_from_slice(&defaults::VALID_LIFETIME.to_be_bytes());
    p[8..12].copy_from_slice(&defaults::PREFERRED_LIFETIME.to_be_bytes());
    p[16..32].copy_from_slice(&cfg.prefix.network().octets());
    Icmpv6Packet::new_checked(m)?.fill_checksum(&src, &ip_dst);
    Ok(total)
}
