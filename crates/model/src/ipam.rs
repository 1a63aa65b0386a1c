//! IP address management: allocation pools inside a subnet's CIDR, the next
//! free address, MAC addresses under a configurable prefix (Neutron's
//! `base_mac`, default fa:16:3e:00:00:00) and segmentation IDs from ranges
//! configured per network type (ML2's `network_vlan_ranges`, `vni_ranges`,
//! `tunnel_id_ranges`).

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use rand::RngCore;

use crate::resources::Pool;
use crate::{ModelError, Result};

/// Operator configuration of IPAM and segmentation.
#[derive(Debug, Clone)]
pub struct IpamConfig {
    /// The first three octets of every generated MAC.
    pub mac_prefix: [u8; 3],
    /// Type given to tenant networks created without provider attributes.
    pub tenant_network_type: String,
    /// `(physical_network, min, max)` VLAN ranges.
    pub vlan_ranges: Vec<(String, u32, u32)>,
    pub vxlan_ranges: Vec<(u32, u32)>,
    pub gre_ranges: Vec<(u32, u32)>,
    pub geneve_ranges: Vec<(u32, u32)>,
    /// MTU of the underlay; overlay networks subtract their header.
    pub physical_mtu: u32,
}

impl Default for IpamConfig {
    fn default() -> Self {
        IpamConfig {
            mac_prefix: [0xfa, 0x16, 0x3e],
            tenant_network_type: "vxlan".into(),
            vlan_ranges: vec![("physnet1".into(), 100, 4094)],
            vxlan_ranges: vec![(1, 65535)],
            gre_ranges: vec![(1, 65535)],
            geneve_ranges: vec![(1, 65535)],
            physical_mtu: 1500,
        }
    }
}

/// Network types Neutron's ML2 knows.
pub const NETWORK_TYPES: [&str; 6] = ["flat", "vlan", "vxlan", "gre", "geneve", "local"];

/// Valid segmentation IDs per type: 802.1Q VIDs 1–4094 (IEEE 802.1Q, 0 and
/// 4095 reserved), 24-bit VXLAN/Geneve VNIs (RFC 7348, RFC 8926), 32-bit
/// GRE keys (RFC 2890).
pub fn segmentation_bounds(network_type: &str) -> Option<(u32, u32)> {
    match network_type {
        "vlan" => Some((1, 4094)),
        "vxlan" | "geneve" => Some((1, 16_777_215)),
        "gre" => Some((1, u32::MAX)),
        _ => None,
    }
}

impl IpamConfig {
    /// MTU of a new network of this type: the underlay's minus the
    /// encapsulation (VXLAN 50, GRE 42, Geneve 58 bytes over IPv4, as Neutron
    /// computes it).
    pub fn mtu_for(&self, network_type: &str) -> u32 {
        let overhead = match network_type {
            "vxlan" => 50,
            "gre" => 42,
            "geneve" => 58,
            _ => 0,
        };
        self.physical_mtu.saturating_sub(overhead)
    }

    /// First free segmentation ID of a type (and physical network for VLAN).
    pub fn allocate_segment(
        &self,
        network_type: &str,
        physnet: Option<&str>,
        used: &HashSet<u32>,
    ) -> Result<(Option<String>, u32)> {
        let ranges: Vec<(Option<String>, u32, u32)> = match network_type {
            "vlan" => self
                .vlan_ranges
                .iter()
                .filter(|(p, _, _)| physnet.is_none_or(|want| want == p))
                .map(|(p, a, b)| (Some(p.clone()), *a, *b))
                .collect(),
            "vxlan" => self
                .vxlan_ranges
                .iter()
                .map(|(a, b)| (None, *a, *b))
                .collect(),
            "gre" => self
                .gre_ranges
                .iter()
                .map(|(a, b)| (None, *a, *b))
                .collect(),
            "geneve" => self
                .geneve_ranges
                .iter()
                .map(|(a, b)| (None, *a, *b))
                .collect(),
            _ => Vec::new(),
        };
        for (p, lo, hi) in ranges {
            if let Some(id) = (lo..=hi).find(|id| !used.contains(id)) {
                return Ok((p, id));
            }
        }
        Err(ModelError::conflict(
            "NoNetworkAvailable",
            "Unable to create the network. No tenant network is available for allocation.",
        ))
    }

    /// A MAC under the prefix not in `used` (lower-case, colon separated).
    /// `in_use` tells whether a MAC is taken (on the port's network).
    pub fn generate_mac(
        &self,
        rng: &mut dyn RngCore,
        in_use: &dyn Fn(&str) -> bool,
    ) -> Result<String> {
        for _ in 0..64 {
            let mut b = [0u8; 3];
            rng.fill_bytes(&mut b);
            let p = self.mac_prefix;
            let mac = format!(
                "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
                p[0], p[1], p[2], b[0], b[1], b[2]
            );
            if !in_use(&mac) {
                return Ok(mac);
            }
        }
        Err(ModelError::conflict(
            "MacAddressGenerationFailure",
            "Unable to generate unique mac",
        ))
    }
}

/// Parse and normalize a MAC (`aa:bb:cc:dd:ee:ff`, `-` also accepted).
pub fn normalize_mac(s: &str) -> Option<String> {
    let parts: Vec<&str> = s.split([':', '-']).collect();
    if parts.len() != 6 {
        return None;
    }
    let mut out = Vec::with_capacity(6);
    for p in parts {
        if p.len() != 2 {
            return None;
        }
        out.push(u8::from_str_radix(p, 16).ok()?);
    }
    if out.iter().all(|b| *b == 0) || out[0] & 1 == 1 {
        // All-zero and multicast addresses are not valid port MACs.
        return None;
    }
    Some(
        out.iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":"),
    )
}

pub(crate) fn ip_to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u32::from(a) as u128,
        IpAddr::V6(a) => u128::from(a),
    }
}

pub(crate) fn u128_to_ip(v: u128, v6: bool) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::from(v))
    } else {
        IpAddr::V4(Ipv4Addr::from(v as u32))
    }
}

/// Parse a CIDR whose host bits are clear (Neutron rejects `10.0.0.5/24`).
pub fn parse_cidr(s: &str) -> Result<IpNet> {
    let net: IpNet = s
        .parse()
        .map_err(|_| ModelError::attr("cidr", format!("'{s}' is not a valid IP subnet")))?;
    if net.trunc() != net {
        return Err(ModelError::attr(
            "cidr",
            format!(
                "'{s}' isn't a recognized IP subnet cidr, '{}' is recommended",
                net.trunc()
            ),
        ));
    }
    Ok(net)
}

pub fn parse_ip(attr: &str, s: &str) -> Result<IpAddr> {
    s.parse()
        .map_err(|_| ModelError::attr(attr, format!("'{s}' is not a valid IP address")))
}

/// The usable host range of a CIDR: IPv4 excludes the network and broadcast
/// addresses (except /31 and /32), IPv6 excludes the subnet-router anycast
/// address (RFC 4291 §2.6.1), as Neutron's default pools do.
pub fn host_range(net: &IpNet) -> (u128, u128) {
    let first = ip_to_u128(net.network());
    let last = ip_to_u128(net.broadcast());
    match net {
        IpNet::V4(n) if n.prefix_len() >= 31 => (first, last),
        IpNet::V4(_) => (first + 1, last - 1),
        IpNet::V6(n) if n.prefix_len() == 128 => (first, last),
        IpNet::V6(_) => (first + 1, last),
    }
}

/// Default allocation pools: the host range minus the gateway.
pub fn default_pools(net: &IpNet, gateway: Option<IpAddr>) -> Vec<Pool> {
    let v6 = matches!(net, IpNet::V6(_));
    let (lo, hi) = host_range(net);
    let mut ranges = vec![(lo, hi)];
    if let Some(gw) = gateway.map(ip_to_u128) {
        ranges = ranges
            .into_iter()
            .flat_map(|(a, b)| {
                if gw < a || gw > b {
                    vec![(a, b)]
                } else {
                    let mut v = Vec::new();
                    if gw > a {
                        v.push((a, gw - 1));
                    }
                    if gw < b {
                        v.push((gw + 1, b));
                    }
                    v
                }
            })
            .collect();
    }
    ranges
        .into_iter()
        .map(|(a, b)| Pool {
            start: u128_to_ip(a, v6).to_string(),
            end: u128_to_ip(b, v6).to_string(),
        })
        .collect()
}

/// Validate requested pools: well-formed, inside the CIDR, start ≤ end, no
/// overlap between them, gateway not inside any (neutron `ipam/utils.py`).
pub fn validate_pools(
    net: &IpNet,
    pools: &[Pool],
    gateway: Option<IpAddr>,
) -> Result<Vec<(u128, u128)>> {
    let mut ranges = Vec::with_capacity(pools.len());
    for p in pools {
        let s = parse_ip("allocation_pools", &p.start)?;
        let e = parse_ip("allocation_pools", &p.end)?;
        if s.is_ipv4() != net.addr().is_ipv4() || e.is_ipv4() != net.addr().is_ipv4() {
            return Err(ModelError::invalid(format!(
                "The allocation pool {}-{} does not match the IP version of the subnet",
                p.start, p.end
            )));
        }
        if !net.contains(&s) || !net.contains(&e) {
            return Err(ModelError::new(
                400,
                "OutOfBoundsAllocationPool",
                format!(
                    "The allocation pool {}-{} spans beyond the subnet cidr {net}.",
                    p.start, p.end
                ),
            ));
        }
        let (a, b) = (ip_to_u128(s), ip_to_u128(e));
        if a > b {
            return Err(ModelError::new(
                400,
                "InvalidAllocationPool",
                format!("The allocation pool {}-{} is not valid.", p.start, p.end),
            ));
        }
        ranges.push((a, b));
    }
    let mut sorted = ranges.clone();
    sorted.sort_unstable();
    for w in sorted.windows(2) {
        if w[1].0 <= w[0].1 {
            return Err(ModelError::new(
                400,
                "OverlappingAllocationPools",
                format!("Found overlapping allocation pools for subnet {net}."),
            ));
        }
    }
    if let Some(gw) = gateway {
        let g = ip_to_u128(gw);
        if ranges.iter().any(|(a, b)| *a <= g && g <= *b) {
            return Err(ModelError::conflict(
                "GatewayConflictWithAllocationPools",
                format!("Gateway ip {gw} conflicts with allocation pool"),
            ));
        }
    }
    Ok(ranges)
}

/// The first address of the pools not `in_use`, in pool order.
pub fn next_free(pools: &[Pool], v6: bool, in_use: impl Fn(&IpAddr) -> bool) -> Option<IpAddr> {
    for p in pools {
        let (Ok(s), Ok(e)) = (p.start.parse::<IpAddr>(), p.end.parse::<IpAddr>()) else {
            continue;
        };
        let (a, b) = (ip_to_u128(s), ip_to_u128(e));
        let mut x = a;
        // Bounded by (used addresses + 1) steps: each step skips one.
        while x <= b {
            let ip = u128_to_ip(x, v6);
            if !in_use(&ip) {
                return Some(ip);
            }
            if x == u128::MAX {
                break;
            }
            x += 1;
        }
    }
    None
}

/// Neutron's `ipv6_address_mode`s whose hosts form their own addresses
/// (`ipv6_utils.is_auto_address_subnet`): SLAAC, with or without DHCPv6
/// for other configuration.
pub fn is_auto_address(s: &crate::Subnet) -> bool {
    s.ip_version == 6
        && matches!(
            s.ipv6_address_mode.as_deref(),
            Some("slaac" | "dhcpv6-stateless")
        )
}

/// The address a host with `mac` forms on the /64 `net` by SLAAC: the
/// prefix and the modified EUI-64 interface identifier (RFC 4862 §5.5.3,
/// RFC 4291 §2.5.1 and appendix A) — what Neutron records as the port's
/// fixed IP on an auto-address subnet. `None` for an invalid MAC.
pub fn eui64_address(net: &ipnet::Ipv6Net, mac: &str) -> Option<std::net::Ipv6Addr> {
    let m = normalize_mac(mac)?;
    let b: Vec<u8> = m
        .split(':')
        .map(|p| u8::from_str_radix(p, 16))
        .collect::<std::result::Result<_, _>>()
        .ok()?;
    let iid = [b[0] ^ 2, b[1], b[2], 0xff, 0xfe, b[3], b[4], b[5]];
    let mut o = net.network().octets();
    o[8..].copy_from_slice(&iid);
    Some(std::net::Ipv6Addr::from(o))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn default_pools_skip_network_broadcast_and_gateway() {
        let p = default_pools(&net("10.0.0.0/24"), Some("10.0.0.1".parse().unwrap()));
        assert_eq!(
            p,
            vec![Pool {
                start: "10.0.0.2".into(),
                end: "10.0.0.254".into()
            }]
        );
        let p = default_pools(&net("10.0.0.0/24"), Some("10.0.0.100".parse().unwrap()));
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].end, "10.0.0.99");
        assert_eq!(p[1].start, "10.0.0.101");
        let p = default_pools(&net("2001:db8::/64"), Some("2001:db8::1".parse().unwrap()));
        assert_eq!(p[0].start, "2001:db8::2");
        assert_eq!(p[0].end, "2001:db8::ffff:ffff:ffff:ffff");
    }

    #[test]
    fn cidr_with_host_bits_is_rejected() {
        let e = parse_cidr("10.0.0.5/24").unwrap_err();
        assert!(e.message.contains("10.0.0.0/24"), "{}", e.message);
        assert!(parse_cidr("nonsense").is_err());
        assert!(parse_cidr("10.0.0.0/24").is_ok());
    }

    #[test]
    fn pool_validation_cases() {
        let n = net("10.0.0.0/24");
        let pool = |a: &str, b: &str| Pool {
            start: a.into(),
            end: b.into(),
        };
        let e = validate_pools(&n, &[pool("10.0.0.10", "10.0.1.5")], None).unwrap_err();
        assert_eq!(e.kind, "OutOfBoundsAllocationPool");
        let e = validate_pools(&n, &[pool("10.0.0.20", "10.0.0.10")], None).unwrap_err();
        assert_eq!(e.kind, "InvalidAllocationPool");
        let e = validate_pools(
            &n,
            &[
                pool("10.0.0.10", "10.0.0.20"),
                pool("10.0.0.15", "10.0.0.30"),
            ],
            None,
        )
        .unwrap_err();
        assert_eq!(e.kind, "OverlappingAllocationPools");
        let e = validate_pools(
            &n,
            &[pool("10.0.0.1", "10.0.0.20")],
            Some("10.0.0.1".parse().unwrap()),
        )
        .unwrap_err();
        assert_eq!(
            (e.status, e.kind.as_str()),
            (409, "GatewayConflictWithAllocationPools")
        );
        assert!(validate_pools(
            &n,
            &[pool("10.0.0.10", "10.0.0.20")],
            Some("10.0.0.1".parse().unwrap())
        )
        .is_ok());
    }

    #[test]
    fn next_free_skips_used_and_exhausts() {
        let pools = vec![Pool {
            start: "10.0.0.2".into(),
            end: "10.0.0.3".into(),
        }];
        let mut used: HashSet<IpAddr> = HashSet::new();
        assert_eq!(
            next_free(&pools, false, |ip| used.contains(ip)),
            Some("10.0.0.2".parse().unwrap())
        );
        used.insert("10.0.0.2".parse().unwrap());
        assert_eq!(
            next_free(&pools, false, |ip| used.contains(ip)),
            Some("10.0.0.3".parse().unwrap())
        );
        used.insert("10.0.0.3".parse().unwrap());
        assert_eq!(next_free(&pools, false, |ip| used.contains(ip)), None);
    }

    #[test]
    fn macs_use_prefix_and_avoid_used() {
        let cfg = IpamConfig {
            mac_prefix: [0x02, 0xaa, 0xbb],
            ..Default::default()
        };
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let m = cfg.generate_mac(&mut rng, &|_| false).unwrap();
        assert!(m.starts_with("02:aa:bb:"), "{m}");
        let mut rng2 = rand::rngs::StdRng::seed_from_u64(7);
        let used: HashSet<&str> = [m.as_str()].into();
        let m2 = cfg.generate_mac(&mut rng2, &|m| used.contains(m)).unwrap();
        assert_ne!(m, m2);
    }

    #[test]
    fn mac_normalization() {
        assert_eq!(
            normalize_mac("FA-16-3E-00-00-01").as_deref(),
            Some("fa:16:3e:00:00:01")
        );
        assert_eq!(normalize_mac("01:00:5e:00:00:01"), None, "multicast");
        assert_eq!(normalize_mac("00:00:00:00:00:00"), None);
        assert_eq!(normalize_mac("zz:00:00:00:00:01"), None);
    }

    #[test]
    fn segments_come_from_ranges() {
        let cfg = IpamConfig {
            vlan_ranges: vec![("p".into(), 10, 11)],
            ..Default::default()
        };
        let mut used = HashSet::new();
        assert_eq!(
            cfg.allocate_segment("vlan", None, &used).unwrap(),
            (Some("p".into()), 10)
        );
        used.insert(10);
        assert_eq!(
            cfg.allocate_segment("vlan", Some("p"), &used).unwrap().1,
            11
        );
        used.insert(11);
        assert_eq!(
            cfg.allocate_segment("vlan", None, &used)
                .unwrap_err()
                .status,
            409
        );
        assert!(cfg
            .allocate_segment("vlan", Some("other"), &HashSet::new())
            .is_err());
        assert_eq!(segmentation_bounds("vxlan"), Some((1, 16_777_215)));
        assert_eq!(segmentation_bounds("vlan"), Some((1, 4094)));
    }
}
