//! Applying conntrack's NAT verdict ([`conntrack::Rewrite`]) to a frame in
//! place, as netfilter's `nf_nat_manip_pkt` and OVS's `ct(nat)` do.
//!
//! Outer addresses and TCP/UDP ports go through the same in-place rewrites
//! as `set_field` (`rewrite.rs`), so checksums are patched incrementally
//! (RFC 1624) and offloaded (partial) checksums are handled once. The ICMP
//! echo identifier is patched the same way.
//!
//! ICMP errors quoting a translated packet get their inner header
//! translated too (RFC 5508 §4.2, RFC 5382 §8): inner addresses with the
//! inner IPv4 header checksum and inner ports or echo identifier, each with
//! an incremental update of the inner L4 checksum when the quoted part
//! holds it. The outer ICMP checksum is then computed afresh over the whole
//! message, as `nf_nat_icmp_reply_translation` does (errors are rare and at
//! most a few hundred bytes).

use std::net::IpAddr;

use conntrack::{InnerRewrite, Rewrite};
use flow::DpAction;
use packet::checksum;

use super::rewrite::{self, fix_l4, Layout, RewriteError};

const TCP: u8 = 6;
const UDP: u8 = 17;
const ICMP: u8 = 1;
const ICMPV6: u8 = 58;

fn be16(f: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*f.get(at)?, *f.get(at + 1)?]))
}

fn no(layer: &'static str) -> RewriteError {
    RewriteError::NoHeader {
        action: "ct(nat)",
        layer,
    }
}

/// End of the IP packet at `l3` by its length field, clamped to the frame
/// (bytes past it are Ethernet padding).
pub(super) fn ip_end(f: &[u8], l3: usize, v6: bool) -> usize {
    let end = if v6 {
        be16(f, l3 + 4).map(|l| l3 + 40 + usize::from(l))
    } else {
        be16(f, l3 + 2).map(|l| l3 + usize::from(l))
    };
    end.unwrap_or(f.len()).min(f.len())
}

fn addr_action(ip: IpAddr, src: bool) -> DpAction {
    match (ip, src) {
        (IpAddr::V4(a), true) => DpAction::SetIpv4Src(a.into()),
        (IpAddr::V4(a), false) => DpAction::SetIpv4Dst(a.into()),
        (IpAddr::V6(a), true) => DpAction::SetIpv6Src(a.octets()),
        (IpAddr::V6(a), false) => DpAction::SetIpv6Dst(a.octets()),
    }
}

/// Translate frame `f` (virtio header included) as `rw` says.
pub(super) fn apply(f: &mut [u8], lay: &Layout, rw: &Rewrite) -> Result<(), RewriteError> {
    if let Some(ip) = rw.src {
        rewrite::apply(f, lay, &addr_action(ip, true))?;
    }
    if let Some(ip) = rw.dst {
        rewrite::apply(f, lay, &addr_action(ip, false))?;
    }
    if let Some(p) = rw.sport {
        rewrite::apply(f, lay, &DpAction::SetTpSrc(p))?;
    }
    if let Some(p) = rw.dport {
        rewrite::apply(f, lay, &DpAction::SetTpDst(p))?;
    }
    if let Some(id) = rw.icmp_id {
        let (l4, _) = lay.l4().ok_or(no("ICMP"))?;
        let old = be16(f, l4 + 4).ok_or(no("ICMP"))?;
        f[l4 + 4..l4 + 6].copy_from_slice(&id.to_be_bytes());
        fix_l4(f, lay, false, |c| checksum::update16(c, old, id));
    }
    if let Some(inner) = rw.inner {
        inner_rewrite(f, lay, &inner)?;
    }
    Ok(())
}

/// Replace the 16-bit words at `at` with `new`, updating the checksum
/// fields at `sums` (frame offsets, `None` skipped) incrementally.
fn patch(f: &mut [u8], at: usize, new: &[u8], sums: &[Option<usize>]) -> Option<()> {
    for (i, w) in new.chunks_exact(2).enumerate() {
        let old = be16(f, at + 2 * i)?;
        let nw = u16::from_be_bytes([w[0], w[1]]);
        if old == nw {
            continue;
        }
        f.get_mut(at + 2 * i..at + 2 * i + 2)?.copy_from_slice(w);
        for &s in sums.iter().flatten() {
            let c = be16(f, s)?;
            f[s..s + 2].copy_from_slice(&checksum::update16(c, old, nw).to_be_bytes());
        }
    }
    Some(())
}

fn ip_bytes(ip: IpAddr, buf: &mut [u8; 16]) -> &[u8] {
    match ip {
        IpAddr::V4(a) => {
            buf[..4].copy_from_slice(&a.octets());
            &buf[..4]
        }
        IpAddr::V6(a) => {
            *buf = a.octets();
            &buf[..]
        }
    }
}

/// Translate the packet quoted by an ICMP(v6) error, then recompute the
/// outer ICMP checksum.
fn inner_rewrite(f: &mut [u8], lay: &Layout, inner: &InnerRewrite) -> Result<(), RewriteError> {
    let (l3, v6) = lay.l3().ok_or(no("IP"))?;
    let (icmp, _) = lay.l4().ok_or(no("ICMP"))?;
    let end = ip_end(f, l3, v6);
    // ICMP and ICMPv6 error headers are 8 bytes (RFC 792, RFC 4443 §3).
    let il3 = icmp + 8;
    let (il4, proto, src_at, dst_at, ip_sum) = if v6 {
        let nh = *f.get(il3 + 6).ok_or(no("inner IPv6"))?;
        (il3 + 40, nh, il3 + 8, il3 + 24, None)
    } else {
        let ihl = usize::from(f.get(il3).ok_or(no("inner IPv4"))? & 0x0f) * 4;
        let p = *f.get(il3 + 9).ok_or(no("inner IPv4"))?;
        (il3 + ihl, p, il3 + 12, il3 + 16, Some(il3 + 10))
    };
    if src_at + if v6 { 16 } else { 4 } > end || dst_at > end {
        return Err(no("inner IP"));
    }
    // The inner L4 checksum, when the quote holds it; it covers the
    // pseudo-header for TCP, UDP and ICMPv6.
    let l4_sum = match proto {
        TCP => Some((il4 + 16, true)),
        UDP if be16(f, il4 + 6).is_some_and(|c| c != 0) => Some((il4 + 6, true)),
        ICMP => Some((il4 + 2, false)),
        ICMPV6 => Some((il4 + 2, true)),
        _ => None,
    }
    .filter(|(at, _)| at + 2 <= end);
    let pseudo_sum = l4_sum.filter(|s| s.1).map(|s| s.0);
    let mut buf = [0u8; 16];
    patch(
        f,
        src_at,
        ip_bytes(inner.src, &mut buf),
        &[ip_sum, pseudo_sum],
    )
    .ok_or(no("inner IP"))?;
    patch(
        f,
        dst_at,
        ip_bytes(inner.dst, &mut buf),
        &[ip_sum, pseudo_sum],
    )
    .ok_or(no("inner IP"))?;
    let port_sum = l4_sum.map(|s| s.0);
    match proto {
        TCP | UDP if il4 + 4 <= end => {
            let mut p = [0u8; 4];
            p[..2].copy_from_slice(&inner.sport.to_be_bytes());
            p[2..].copy_from_slice(&inner.dport.to_be_bytes());
            patch(f, il4, &p, &[port_sum]).ok_or(no("inner L4"))?;
        }
        ICMP | ICMPV6 if il4 + 6 <= end => {
            patch(f, il4 + 4, &inner.sport.to_be_bytes(), &[port_sum]).ok_or(no("inner ICMP"))?;
        }
        _ => {}
    }
    // Outer ICMP checksum over the whole message.
    let msg = f.get_mut(icmp..end).ok_or(no("ICMP"))?;
    msg[2..4].copy_from_slice(&[0, 0]);
    let c = if v6 {
        let (mut s, mut d) = ([0u8; 16], [0u8; 16]);
        s.copy_from_slice(&f[l3 + 8..l3 + 24]);
        d.copy_from_slice(&f[l3 + 24..l3 + 40]);
        checksum::l4_ipv6(&s.into(), &d.into(), ICMPV6, &f[icmp..end])
    } else {
        checksum::icmpv4(&f[icmp..end])
    };
    f[icmp + 2..icmp + 4].copy_from_slice(&c.to_be_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::super::port::HDR;
    use super::*;

    const VM: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 5);
    const NET: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);
    const UPLINK: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);

    /// Virtio header, Ethernet, IPv4 `src`→`dst` carrying `l4` (checksums
    /// left for the caller), and the frame's layout.
    fn frame(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, l4: &[u8]) -> (Vec<u8>, Layout) {
        let mut f = vec![0u8; HDR];
        f.extend_from_slice(&[2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00]);
        f.extend_from_slice(&ipv4(src, dst, proto, l4.len()));
        f.extend_from_slice(l4);
        let mut key = packet::FlowKey::default();
        let off = packet::extract(&f[HDR..], &mut key).expect("frame parses");
        let lay = Layout::new(&off, key.dl_type, key.nw_proto);
        (f, lay)
    }

    fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, payload: usize) -> [u8; 20] {
        let mut ip = [0u8; 20];
        ip[0] = 0x45;
        ip[2..4].copy_from_slice(&((20 + payload) as u16).to_be_bytes());
        ip[8] = 64;
        ip[9] = proto;
        ip[12..16].copy_from_slice(&src.octets());
        ip[16..20].copy_from_slice(&dst.octets());
        let c = checksum::ipv4_header(&ip);
        ip[10..12].copy_from_slice(&c.to_be_bytes());
        ip
    }

    fn udp(sport: u16, dport: u16, src: Ipv4Addr, dst: Ipv4Addr) -> Vec<u8> {
        let mut u = vec![0u8; 8];
        u[0..2].copy_from_slice(&sport.to_be_bytes());
        u[2..4].copy_from_slice(&dport.to_be_bytes());
        u[4..6].copy_from_slice(&13u16.to_be_bytes());
        u.extend_from_slice(b"hello");
        let c = checksum::l4_ipv4(src, dst, UDP, &u);
        u[6..8].copy_from_slice(&c.to_be_bytes());
        u
    }

    fn ip_ok(f: &[u8], at: usize) -> bool {
        checksum::sum(&f[at..at + 20]) == 0xffff
    }

    #[test]
    fn snat_rewrites_address_and_port_with_valid_checksums() {
        let (mut f, lay) = frame(VM, NET, UDP, &udp(40000, 53, VM, NET));
        let rw = Rewrite {
            src: Some(UPLINK.into()),
            sport: Some(1024),
            ..Rewrite::default()
        };
        apply(&mut f, &lay, &rw).unwrap();
        let l3 = HDR + 14;
        assert_eq!(&f[l3 + 12..l3 + 16], &UPLINK.octets());
        assert_eq!(&f[l3 + 20..l3 + 22], &1024u16.to_be_bytes());
        assert!(ip_ok(&f, l3));
        let mut seg = f[l3 + 20..].to_vec();
        let got = u16::from_be_bytes([seg[6], seg[7]]);
        seg[6..8].copy_from_slice(&[0, 0]);
        assert_eq!(got, checksum::l4_ipv4(UPLINK, NET, UDP, &seg));
    }

    #[test]
    fn icmp_error_inner_header_is_translated_back() {
        // NET answers the SNATed datagram UPLINK:1024 -> NET:53 with a port
        // unreachable; the VM must see its own VM:40000 quoted.
        let quoted_udp = udp(1024, 53, UPLINK, NET);
        let mut icmp = vec![3, 3, 0, 0, 0, 0, 0, 0];
        icmp.extend_from_slice(&ipv4(UPLINK, NET, UDP, quoted_udp.len()));
        icmp.extend_from_slice(&quoted_udp);
        let c = checksum::icmpv4(&icmp);
        icmp[2..4].copy_from_slice(&c.to_be_bytes());
        let (mut f, lay) = frame(NET, UPLINK, ICMP, &icmp);
        let rw = Rewrite {
            dst: Some(VM.into()),
            inner: Some(InnerRewrite {
                src: VM.into(),
                dst: NET.into(),
                sport: 40000,
                dport: 53,
            }),
            ..Rewrite::default()
        };
        apply(&mut f, &lay, &rw).unwrap();
        let l3 = HDR + 14;
        let icmp_at = l3 + 20;
        let il3 = icmp_at + 8;
        assert!(ip_ok(&f, l3), "outer IPv4 checksum");
        assert_eq!(checksum::sum(&f[icmp_at..]), 0xffff, "ICMP checksum");
        assert!(ip_ok(&f, il3), "inner IPv4 checksum");
        assert_eq!(&f[il3 + 12..il3 + 16], &VM.octets());
        assert_eq!(&f[il3 + 20..il3 + 22], &40000u16.to_be_bytes());
        let mut seg = f[il3 + 20..].to_vec();
        let got = u16::from_be_bytes([seg[6], seg[7]]);
        seg[6..8].copy_from_slice(&[0, 0]);
        assert_eq!(
            got,
            checksum::l4_ipv4(VM, NET, UDP, &seg),
            "inner UDP checksum"
        );
    }
}
