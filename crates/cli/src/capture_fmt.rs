//! One-line summaries of captured frames for `cloudnet capture` without
//! `-w`, in the spirit of `tcpdump -e -n`: time (UTC), direction, MACs, and
//! an ARP / IPv4 / IPv6 / TCP / UDP / ICMP summary from the flow key the
//! `packet` crate extracts (ARP opcode in `nw_proto`, ICMP type and code in
//! `tp_src`/`tp_dst`, as ovs-fields(7) defines them).

use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};

use packet::FlowKey;

const ETH_ARP: u16 = 0x0806;
const ETH_IP: u16 = 0x0800;
const ETH_IPV6: u16 = 0x86dd;

fn mac(m: &[u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// `HH:MM:SS.uuuuuu` of a Unix time in nanoseconds (UTC).
fn clock(ns: u64) -> String {
    let s = ns / 1_000_000_000;
    let us = (ns % 1_000_000_000) / 1_000;
    let d = s % 86_400;
    format!("{:02}:{:02}:{:02}.{us:06}", d / 3600, (d / 60) % 60, d % 60)
}

fn l4(k: &FlowKey, src: String, dst: String, out: &mut String) {
    let _ = match k.nw_proto {
        6 => write!(
            out,
            "{src}.{} > {dst}.{}: TCP flags {:#05x}",
            k.tp_src, k.tp_dst, k.tcp_flags
        ),
        17 => write!(out, "{src}.{} > {dst}.{}: UDP", k.tp_src, k.tp_dst),
        1 | 58 => {
            let what = match (k.nw_proto, k.tp_src) {
                (1, 8) | (58, 128) => "echo request".to_owned(),
                (1, 0) | (58, 129) => "echo reply".to_owned(),
                (_, t) => format!("type {t} code {}", k.tp_dst),
            };
            let v = if k.nw_proto == 1 { "ICMP" } else { "ICMP6" };
            write!(out, "{src} > {dst}: {v} {what}")
        }
        p => write!(out, "{src} > {dst}: proto {p}"),
    };
}

/// The summary line of a frame.
pub fn line(time_ns: u64, dir: &str, frame: &[u8]) -> String {
    let mut k = FlowKey::default();
    let parsed = packet::extract(frame, &mut k).is_ok();
    let mut out = format!("{} {dir} ", clock(time_ns));
    if frame.len() < 14 {
        let _ = write!(out, "truncated frame, {} bytes", frame.len());
        return out;
    }
    let _ = write!(out, "{} > {}, ", mac(&k.dl_src), mac(&k.dl_dst));
    match k.dl_type {
        ETH_ARP => {
            let (spa, tpa) = (Ipv4Addr::from(k.nw_src), Ipv4Addr::from(k.nw_dst));
            let _ = match k.nw_proto {
                1 => write!(out, "ARP who-has {tpa} tell {spa}"),
                2 => write!(out, "ARP {spa} is-at {}", mac(&k.arp_sha)),
                op => write!(out, "ARP op {op}"),
            };
        }
        ETH_IP => {
            let (s, d) = (Ipv4Addr::from(k.nw_src), Ipv4Addr::from(k.nw_dst));
            l4(&k, s.to_string(), d.to_string(), &mut out);
        }
        ETH_IPV6 => {
            let (s, d) = (Ipv6Addr::from(k.ipv6_src), Ipv6Addr::from(k.ipv6_dst));
            l4(&k, s.to_string(), d.to_string(), &mut out);
        }
        t => {
            let _ = write!(out, "ethertype {t:#06x}");
        }
    }
    if !parsed {
        out.push_str(" [malformed]");
    }
    let _ = write!(out, ", length {}", frame.len());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes of a hex string (spaces ignored).
    fn hex(s: &str) -> Vec<u8> {
        let h: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        h.chunks(2)
            .map(|c| u8::from_str_radix(std::str::from_utf8(c).unwrap(), 16).unwrap())
            .collect()
    }

    #[test]
    fn icmp_and_arp_lines() {
        // Ethernet, IPv4 10.0.0.1 -> 10.0.0.2, ICMP echo request.
        let f = hex("020000000002 020000000001 0800 \
             4500 001c 0000 0000 4001 0000 0a000001 0a000002 \
             0800 0000 0000 0000");
        let l = line(3_723_000_001_000, "rx", &f);
        assert_eq!(
            l,
            "01:02:03.000001 rx 02:00:00:00:00:01 > 02:00:00:00:00:02, 10.0.0.1 > 10.0.0.2: ICMP echo request, length 42"
        );
        // ARP request: who has 10.0.0.2, tell 10.0.0.1.
        let a = hex("ffffffffffff 020000000001 0806 \
             0001 0800 06 04 0001 020000000001 0a000001 000000000000 0a000002");
        let l = line(0, "tx", &a);
        assert!(l.contains("ARP who-has 10.0.0.2 tell 10.0.0.1"), "{l}");
        assert!(line(0, "rx", &[1, 2, 3]).contains("truncated"));
    }
}
