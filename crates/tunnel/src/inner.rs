//! A light look at the inner frame: where its IP header is, its TOS/TTL,
//! and a flow hash for the outer UDP source port. Cheaper than a full flow
//! extraction and never fails: whatever cannot be parsed hashes as L2.

use packet::flowkey::ethertype;
use packet::ip_proto;

/// Range of UDP source ports for tunnel entropy (RFC 7348 §5 "it is
/// RECOMMENDED that the UDP source port number be calculated using a hash
/// of fields from the inner packet ... within the dynamic/private port range
/// 49152-65535"; RFC 8926 §3.3 says the same for Geneve).
pub const SRC_PORT_MIN: u16 = 49152;
/// Upper end of the source-port range (inclusive).
pub const SRC_PORT_MAX: u16 = 65535;

/// What encapsulation needs from the inner frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct InnerInfo {
    /// TOS / traffic class, 0 for non-IP.
    pub tos: u8,
    /// TTL / hop limit, `None` for non-IP.
    pub ttl: Option<u8>,
    /// Flow hash over MACs, IP addresses, protocol and ports.
    pub hash: u32,
}

#[inline(always)]
fn mix(h: u64, v: u64) -> u64 {
    (h ^ v).wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(29)
}

#[inline(always)]
fn finish(h: u64) -> u32 {
    // murmur3 fmix64, folded to 32 bits.
    let mut h = h;
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 33;
    (h as u32) ^ ((h >> 32) as u32)
}

#[inline(always)]
fn word(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    if let Some(s) = b.get(at..) {
        let n = s.len().min(8);
        w[..n].copy_from_slice(&s[..n]);
    }
    u64::from_le_bytes(w)
}

/// Reads TOS, TTL and a flow hash from an Ethernet frame (up to two VLAN
/// tags, IPv4 or IPv6 without walking extension headers).
pub fn inspect(frame: &[u8]) -> InnerInfo {
    let mut h = mix(word(frame, 0), word(frame, 6) & 0xffff_ffff);
    let mut at = 12;
    let mut et = be16(frame, at);
    let mut tags = 0;
    while (et == ethertype::VLAN || et == ethertype::QINQ) && tags < 2 {
        at += 4;
        tags += 1;
        et = be16(frame, at);
    }
    let l3 = at + 2;
    let mut info = InnerInfo::default();
    let (proto, l4) = match et {
        ethertype::IPV4 if frame.len() >= l3 + 20 => {
            let ip = &frame[l3..];
            info.tos = ip[1];
            info.ttl = Some(ip[8]);
            h = mix(h, word(ip, 12));
            let frag = be16(ip, 6) & 0x3fff != 0;
            let ihl = usize::from(ip[0] & 0x0f) * 4;
            (if frag { 0 } else { ip[9] }, l3 + ihl)
        }
        ethertype::IPV6 if frame.len() >= l3 + 40 => {
            let ip = &frame[l3..];
            info.tos = ((be16(ip, 0) >> 4) & 0xff) as u8;
            info.ttl = Some(ip[7]);
            h = mix(h, word(ip, 8));
            h = mix(h, word(ip, 16));
            h = mix(h, word(ip, 24));
            h = mix(h, word(ip, 32));
            (ip[6], l3 + 40)
        }
        _ => (0, 0),
    };
    if matches!(proto, ip_proto::TCP | ip_proto::UDP | ip_proto::SCTP) && frame.len() >= l4 + 4 {
        h = mix(h, word(frame, l4) & 0xffff_ffff);
    }
    info.hash = finish(mix(h, u64::from(proto)));
    info
}

/// Maps a flow hash onto [`SRC_PORT_MIN`]..=[`SRC_PORT_MAX`] (multiply and
/// shift as Linux's `udp_flow_src_port` does, which avoids modulo bias).
#[inline]
pub fn src_port(hash: u32) -> u16 {
    let range = u64::from(SRC_PORT_MAX - SRC_PORT_MIN) + 1;
    SRC_PORT_MIN + ((u64::from(hash) * range) >> 32) as u16
}

#[inline(always)]
fn be16(b: &[u8], at: usize) -> u16 {
    match b.get(at..at + 2) {
        Some(s) => u16::from_be_bytes([s[0], s[1]]),
        None => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_range_ends() {
        assert_eq!(src_port(0), SRC_PORT_MIN);
        assert_eq!(src_port(u32::MAX), SRC_PORT_MAX);
    }

    #[test]
    fn hash_depends_on_ports_and_survives_garbage() {
        let mut f = [0u8; 64];
        f[12] = 0x08;
        f[14] = 0x45;
        f[15] = 0xb8;
        f[22] = 17;
        f[23] = ip_proto::TCP;
        f[34] = 1;
        let a = inspect(&f);
        assert_eq!(a.tos, 0xb8);
        assert_eq!(a.ttl, Some(17));
        f[35] = 2;
        assert_ne!(a.hash, inspect(&f).hash);
        for n in 0..f.len() {
            let _ = inspect(&f[..n]);
        }
    }

    /// RFC 7348 §5: the source port gives entropy for ECMP, so distinct
    /// flows must spread over the range while one flow keeps one port.
    #[test]
    fn flows_spread_over_the_port_range() {
        let mut f = [0u8; 64];
        f[12] = 0x08;
        f[14] = 0x45;
        f[23] = ip_proto::UDP;
        let mut ports = std::collections::HashSet::new();
        for sport in 0..1000u16 {
            f[34..36].copy_from_slice(&sport.to_be_bytes());
            let p = src_port(inspect(&f).hash);
            assert_eq!(p, src_port(inspect(&f).hash));
            ports.insert(p);
        }
        // 1000 flows into 16384 ports: ~30 collisions expected.
        assert!(ports.len() > 900, "only {} distinct ports", ports.len());
    }
}
