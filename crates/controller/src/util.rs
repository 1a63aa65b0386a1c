//! Parsing of stored values and small formatting helpers.

use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;

use crate::CompileError;

/// A MAC as stored by the API, validated and lower-cased.
pub fn mac(kind: &'static str, id: &str, s: &str) -> Result<String, CompileError> {
    let parts: Vec<&str> = s.split(':').collect();
    let ok = parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()));
    if ok {
        Ok(s.to_ascii_lowercase())
    } else {
        Err(CompileError::bad(kind, id, "MAC", s))
    }
}

pub fn ip(kind: &'static str, id: &str, s: &str) -> Result<IpAddr, CompileError> {
    s.parse()
        .map_err(|_| CompileError::bad(kind, id, "IP address", s))
}

pub fn ipv4(kind: &'static str, id: &str, s: &str) -> Result<Ipv4Addr, CompileError> {
    s.parse()
        .map_err(|_| CompileError::bad(kind, id, "IPv4 address", s))
}

/// A CIDR, or a plain address as a host prefix (allowed_address_pairs take
/// both).
pub fn net(kind: &'static str, id: &str, s: &str) -> Result<IpNet, CompileError> {
    s.parse::<IpNet>()
        .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
        .map(|n| n.trunc())
        .map_err(|_| CompileError::bad(kind, id, "CIDR", s))
}

/// `ip,nw_src=...` or `ipv6,ipv6_src=...` for a source/destination prefix.
pub fn addr_match(n: &IpNet, src: bool) -> String {
    let (proto, field) = match (n, src) {
        (IpNet::V4(_), true) => ("ip", "nw_src"),
        (IpNet::V4(_), false) => ("ip", "nw_dst"),
        (IpNet::V6(_), true) => ("ipv6", "ipv6_src"),
        (IpNet::V6(_), false) => ("ipv6", "ipv6_dst"),
    };
    if n.prefix_len() == n.max_prefix_len() {
        format!("{proto},{field}={}", n.addr())
    } else {
        format!("{proto},{field}={n}")
    }
}

/// Userdata of a `controller()` action as ovs-ofctl(8) writes it: hex
/// bytes separated by dots.
pub fn userdata(text: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    const HEAD: &str = "controller(userdata=";
    // Written byte by byte into one allocation: every port carries a few
    // of these (ARP, DHCP), so at scale they are not negligible.
    let mut s = String::with_capacity(HEAD.len() + text.len() * 3 + 1);
    s.push_str(HEAD);
    for (i, b) in text.bytes().enumerate() {
        if i > 0 {
            s.push('.');
        }
        s.push(HEX[usize::from(b >> 4)] as char);
        s.push(HEX[usize::from(b & 0xf)] as char);
    }
    s.push(')');
    s
}

/// The value/mask pairs covering the inclusive range `lo..=hi` of a 16-bit
/// field (the classic range-to-prefix split, as Neutron's OVS firewall
/// driver does for port ranges).
pub fn port_masks(lo: u16, hi: u16) -> Vec<(u16, u16)> {
    let mut out = Vec::new();
    let mut start = lo as u32;
    let end = hi as u32;
    while start <= end {
        // Largest aligned block starting at `start` that fits.
        let mut size = 1u32;
        while start.is_multiple_of(size * 2) && start + size * 2 - 1 <= end && size * 2 <= 0x10000 {
            size *= 2;
        }
        out.push((start as u16, (0x10000 - size) as u16));
        start += size;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_masks_cover_exactly_the_range() {
        for (lo, hi) in [(22, 22), (1000, 1999), (0, 65535), (1, 65535), (8080, 8089)] {
            let m = port_masks(lo, hi);
            for p in 0..=65535u16 {
                let hit = m.iter().any(|&(v, mask)| p & mask == v);
                assert_eq!(hit, (lo..=hi).contains(&p), "{lo}-{hi} port {p}");
            }
        }
        assert_eq!(port_masks(0, 65535), vec![(0, 0)]);
        assert_eq!(port_masks(22, 22), vec![(22, 0xffff)]);
    }

    #[test]
    fn bad_values_are_named() {
        let e = mac("port", "p1", "zz:00").unwrap_err();
        assert!(e.to_string().contains("zz:00") && e.to_string().contains("p1"));
        assert!(net("rule", "r", "10.0.0.0/33").is_err());
        assert_eq!(
            net("rule", "r", "10.0.0.5/24").unwrap().to_string(),
            "10.0.0.0/24"
        );
    }

    #[test]
    fn userdata_is_dotted_hex() {
        assert_eq!(userdata("ab"), "controller(userdata=61.62)");
        assert_eq!(userdata("\u{ff}"), "controller(userdata=c3.bf)");
        assert_eq!(userdata(""), "controller(userdata=)");
    }
}
