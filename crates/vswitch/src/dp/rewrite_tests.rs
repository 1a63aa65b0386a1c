//! Rewrites on hand-built frames, every checksum verified afterwards by a
//! full computation with the packet crate.

use std::net::{Ipv4Addr, Ipv6Addr};

use flow::DpAction;
use packet::checksum;
use proptest::prelude::*;

use super::*;

const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 100);
const C: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

/// Virtio header + Ethernet + IPv4 (checksummed) + `l4` (proto `proto`),
/// with the L4 checksum filled in fully, or left partial as a TAP hands it
/// over when `partial`.
fn v4(proto: u8, l4: &[u8], partial: bool) -> Vec<u8> {
    let mut f = vec![0u8; HDR];
    f.extend_from_slice(&[2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00]);
    let total = (20 + l4.len()) as u16;
    let mut ip = [0u8; 20];
    ip[0] = 0x45;
    ip[1] = 0xb9; // DSCP 46, ECN 1
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    ip[8] = 64;
    ip[9] = proto;
    ip[12..16].copy_from_slice(&A.octets());
    ip[16..20].copy_from_slice(&B.octets());
    let c = checksum::ipv4_header(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(l4);
    let l4_at = HDR + 34;
    if let Some(field) = csum_field(proto) {
        let c = if partial {
            f[0] = NEEDS_CSUM;
            f[6..8].copy_from_slice(&34u16.to_le_bytes());
            f[8..10].copy_from_slice(&(field as u16).to_le_bytes());
            checksum::pseudo_header_v4(A, B, proto, l4.len() as u16)
        } else if proto == ICMP {
            checksum::icmpv4(&f[l4_at..])
        } else {
            checksum::l4_ipv4(A, B, proto, &f[l4_at..])
        };
        f[l4_at + field..l4_at + field + 2].copy_from_slice(&c.to_be_bytes());
    }
    f
}

fn csum_field(proto: u8) -> Option<usize> {
    match proto {
        TCP => Some(16),
        UDP => Some(6),
        ICMP | ICMPV6 => Some(2),
        _ => None,
    }
}

fn tcp() -> Vec<u8> {
    let mut t = vec![0u8; 20];
    t[0..2].copy_from_slice(&40000u16.to_be_bytes());
    t[2..4].copy_from_slice(&5001u16.to_be_bytes());
    t[12] = 5 << 4;
    t[13] = 0x18;
    t.extend_from_slice(b"hello, rewritten world");
    t
}

fn udp() -> Vec<u8> {
    let mut u = vec![0u8; 8];
    u[0..2].copy_from_slice(&5353u16.to_be_bytes());
    u[2..4].copy_from_slice(&53u16.to_be_bytes());
    u[4..6].copy_from_slice(&(8u16 + 5).to_be_bytes());
    u.extend_from_slice(b"query");
    u
}

fn layout(f: &[u8]) -> Layout {
    let mut k = packet::FlowKey::default();
    let off = packet::extract(&f[HDR..], &mut k).expect("test frame parses");
    Layout::new(&off, k.dl_type, k.nw_proto)
}

fn run(f: &mut [u8], acts: &[DpAction]) {
    let lay = layout(f);
    for a in acts {
        apply(f, &lay, a).expect("rewrite");
    }
}

/// Whether the IPv4 header checksum verifies.
fn ip_ok(f: &[u8]) -> bool {
    checksum::sum(&f[HDR + 14..HDR + 34]) == 0xffff
}

fn addrs(f: &[u8]) -> (Ipv4Addr, Ipv4Addr) {
    let a = |o: usize| Ipv4Addr::new(f[o], f[o + 1], f[o + 2], f[o + 3]);
    (a(HDR + 26), a(HDR + 30))
}

/// The L4 checksum a receiver computes, the field zeroed.
fn l4_expected(f: &[u8], proto: u8) -> u16 {
    let (s, d) = addrs(f);
    let mut seg = f[HDR + 34..].to_vec();
    let field = csum_field(proto).unwrap();
    seg[field..field + 2].fill(0);
    if proto == ICMP {
        return checksum::icmpv4(&seg);
    }
    checksum::l4_ipv4(s, d, proto, &seg)
}

fn l4_field(f: &[u8], proto: u8) -> u16 {
    let at = HDR + 34 + csum_field(proto).unwrap();
    u16::from_be_bytes([f[at], f[at + 1]])
}

/// What the kernel or NIC does with a partial checksum: sum from
/// `csum_start` to the end (the partial field included), complement.
fn finish_partial(f: &mut [u8]) {
    let start = HDR + usize::from(u16::from_le_bytes([f[6], f[7]]));
    let at = start + usize::from(u16::from_le_bytes([f[8], f[9]]));
    let c = checksum::checksum(&f[start..]);
    f[at..at + 2].copy_from_slice(&c.to_be_bytes());
}

#[test]
fn tcp_nat_like_rewrite_full_checksum() {
    let mut f = v4(TCP, &tcp(), false);
    run(
        &mut f,
        &[
            DpAction::SetEthDst([2, 0, 0, 0, 0, 9]),
            DpAction::SetIpv4Dst(u32::from(C)),
            DpAction::SetIpv4Src(u32::from(B)),
            DpAction::SetTpDst(80),
            DpAction::SetTpSrc(1234),
        ],
    );
    assert_eq!(&f[HDR..HDR + 6], &[2, 0, 0, 0, 0, 9]);
    assert_eq!(addrs(&f), (B, C));
    assert_eq!(&f[HDR + 34..HDR + 38], &[0x04, 0xd2, 0, 80]);
    assert!(ip_ok(&f));
    assert_eq!(l4_field(&f, TCP), l4_expected(&f, TCP));
}

#[test]
fn tcp_partial_checksum_moves_with_the_addresses_only() {
    let mut f = v4(TCP, &tcp(), true);
    run(
        &mut f,
        &[
            DpAction::SetIpv4Dst(u32::from(C)),
            DpAction::SetIpv4Src(u32::from(B)),
            DpAction::SetTpDst(80),
        ],
    );
    let len = (f.len() - HDR - 34) as u16;
    assert_eq!(
        l4_field(&f, TCP),
        checksum::pseudo_header_v4(B, C, TCP, len),
        "partial field is the new pseudo-header sum"
    );
    assert!(ip_ok(&f));
    finish_partial(&mut f);
    assert_eq!(l4_field(&f, TCP), l4_expected(&f, TCP));
}

#[test]
fn udp_checksum_full_partial_and_absent() {
    for partial in [false, true] {
        let mut f = v4(UDP, &udp(), partial);
        run(
            &mut f,
            &[DpAction::SetIpv4Dst(u32::from(C)), DpAction::SetTpSrc(7)],
        );
        if partial {
            finish_partial(&mut f);
        }
        assert_eq!(l4_field(&f, UDP), l4_expected(&f, UDP), "partial={partial}");
    }
    let mut f = v4(UDP, &udp(), false);
    f[HDR + 34 + 6..HDR + 34 + 8].fill(0);
    run(
        &mut f,
        &[DpAction::SetIpv4Dst(u32::from(C)), DpAction::SetTpDst(99)],
    );
    assert_eq!(l4_field(&f, UDP), 0, "no checksum stays no checksum");
    assert!(ip_ok(&f));
}

#[test]
fn tos_keeps_ecn_and_ttl_patch_ip_checksum() {
    let mut f = v4(TCP, &tcp(), false);
    // mod_nw_tos:8 on a packet with ECN 1: translation emits 8|1.
    run(&mut f, &[DpAction::SetIpTos(0x09), DpAction::SetIpTtl(3)]);
    assert_eq!(f[HDR + 15], 0x09);
    assert_eq!(f[HDR + 22], 3);
    assert!(ip_ok(&f));
    assert_eq!(l4_field(&f, TCP), l4_expected(&f, TCP), "L4 untouched");
}

#[test]
fn icmp_type_code_and_address() {
    let mut echo = vec![8, 0, 0, 0, 0, 1, 0, 1];
    echo.extend_from_slice(b"ping");
    let mut f = v4(ICMP, &echo, false);
    run(
        &mut f,
        &[
            DpAction::SetIpv4Dst(u32::from(C)),
            DpAction::SetTpSrc(0),
            DpAction::SetTpDst(3),
        ],
    );
    assert_eq!(&f[HDR + 34..HDR + 36], &[0, 3]);
    assert_eq!(l4_field(&f, ICMP), l4_expected(&f, ICMP));
    assert!(ip_ok(&f));
}

#[test]
fn ipv6_udp_addresses_and_traffic_class() {
    let src: Ipv6Addr = "fd00::1".parse().unwrap();
    let dst: Ipv6Addr = "fd00::64".parse().unwrap();
    let new: Ipv6Addr = "fd00::2".parse().unwrap();
    let u = udp();
    let mut f = vec![0u8; HDR];
    f.extend_from_slice(&[2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x86, 0xdd]);
    f.extend_from_slice(&[0x60, 0, 0, 0]);
    f.extend_from_slice(&(u.len() as u16).to_be_bytes());
    f.extend_from_slice(&[UDP, 64]);
    f.extend_from_slice(&src.octets());
    f.extend_from_slice(&dst.octets());
    let l4 = f.len();
    f.extend_from_slice(&u);
    let c = checksum::l4_ipv6(&src, &dst, UDP, &f[l4..]);
    f[l4 + 6..l4 + 8].copy_from_slice(&c.to_be_bytes());
    run(
        &mut f,
        &[
            DpAction::SetIpv6Dst(new.octets()),
            DpAction::SetIpTos(0xb8),
            DpAction::SetIpTtl(9),
        ],
    );
    assert_eq!(&f[HDR + 14..HDR + 16], &[0x6b, 0x80], "traffic class 0xb8");
    assert_eq!(f[HDR + 21], 9);
    let mut seg = f[l4..].to_vec();
    let got = u16::from_be_bytes([seg[6], seg[7]]);
    seg[6..8].fill(0);
    assert_eq!(got, checksum::l4_ipv6(&src, &new, UDP, &seg));
}

#[test]
fn arp_request_turned_into_reply_in_place() {
    let asker = [2, 0, 0, 0, 0, 5];
    let mut f = vec![0u8; HDR];
    f.extend_from_slice(&[0xff; 6]);
    f.extend_from_slice(&asker);
    f.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1]);
    f.extend_from_slice(&asker);
    f.extend_from_slice(&C.octets());
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&A.octets());
    let gw = [2, 0, 0, 0, 0, 1];
    run(
        &mut f,
        &[DpAction::SetArp {
            op: 2,
            sha: gw,
            spa: u32::from(A),
            tha: asker,
            tpa: u32::from(C),
        }],
    );
    let arp = packet::arp::ArpPacket::new_checked(&f[HDR + 14..]).expect("still ARP");
    let r = packet::arp::ArpRepr::parse(&arp);
    assert_eq!(r.operation, packet::arp::OP_REPLY);
    assert_eq!((r.sha, r.spa, r.tha, r.tpa), (gw, A, asker, C));
}

/// A Neighbor Solicitation for `target` with a Source Link-Layer Address
/// option, checksummed.
fn ns(target: &Ipv6Addr, sll: [u8; 6]) -> (Vec<u8>, usize) {
    let (src, dst): (Ipv6Addr, Ipv6Addr) = (
        "fe80::5".parse().unwrap(),
        "ff02::1:ff00:1".parse().unwrap(),
    );
    let mut m = vec![135, 0, 0, 0, 0, 0, 0, 0];
    m.extend_from_slice(&target.octets());
    m.extend_from_slice(&[1, 1]);
    m.extend_from_slice(&sll);
    let mut f = vec![0u8; HDR];
    f.extend_from_slice(&[0x33, 0x33, 0xff, 0, 0, 1, 2, 0, 0, 0, 0, 5, 0x86, 0xdd]);
    f.extend_from_slice(&[0x60, 0, 0, 0]);
    f.extend_from_slice(&(m.len() as u16).to_be_bytes());
    f.extend_from_slice(&[ICMPV6, 255]);
    f.extend_from_slice(&src.octets());
    f.extend_from_slice(&dst.octets());
    let l4 = f.len();
    let c = checksum::l4_ipv6(&src, &dst, ICMPV6, &m);
    m[2..4].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&m);
    (f, l4)
}

#[test]
fn nd_target_and_sll_rewrite_patch_icmpv6_checksum() {
    let (mut f, l4) = ns(&"fe80::1".parse().unwrap(), [2, 0, 0, 0, 0, 5]);
    let new: Ipv6Addr = "fe80::99".parse().unwrap();
    run(
        &mut f,
        &[DpAction::SetNd {
            target: new.octets(),
            sll: [2, 0, 0, 0, 0, 9],
            tll: [2, 0, 0, 0, 0, 7],
        }],
    );
    assert_eq!(&f[l4 + 8..l4 + 24], &new.octets());
    assert_eq!(
        &f[l4 + 24..l4 + 32],
        &[1, 1, 2, 0, 0, 0, 0, 9],
        "SLL rewritten, no TLL added"
    );
    let (src, dst) = (
        Ipv6Addr::from(<[u8; 16]>::try_from(&f[HDR + 22..HDR + 38]).unwrap()),
        Ipv6Addr::from(<[u8; 16]>::try_from(&f[HDR + 38..HDR + 54]).unwrap()),
    );
    let mut seg = f[l4..].to_vec();
    let got = u16::from_be_bytes([seg[2], seg[3]]);
    seg[2..4].fill(0);
    assert_eq!(got, checksum::l4_ipv6(&src, &dst, ICMPV6, &seg));
    // Not an NS/NA: an error, the frame untouched.
    let mut echo = f.clone();
    echo[l4] = 128;
    let lay = layout(&echo);
    let before = echo.clone();
    let act = DpAction::SetNd {
        target: [0; 16],
        sll: [0; 6],
        tll: [0; 6],
    };
    assert!(apply(&mut echo, &lay, &act).is_err());
    assert_eq!(echo, before);
}

#[test]
fn missing_headers_are_errors_not_panics() {
    let mut arp = vec![0u8; HDR];
    arp.extend_from_slice(&[0xff; 6]);
    arp.extend_from_slice(&[2, 0, 0, 0, 0, 1, 0x08, 0x06]);
    arp.extend_from_slice(&[0u8; 28]);
    let lay = layout(&arp);
    for a in [
        DpAction::SetIpv4Dst(1),
        DpAction::SetIpTtl(1),
        DpAction::SetTpDst(1),
        DpAction::SetIpv6Src([0; 16]),
    ] {
        assert!(
            matches!(
                apply(&mut arp, &lay, &a),
                Err(RewriteError::NoHeader { .. })
            ),
            "{a:?}"
        );
    }
    // A layout that claims more than the buffer holds.
    let mut short = v4(TCP, &tcp(), false);
    let lay = layout(&short);
    short.truncate(HDR + 30);
    assert!(apply(&mut short, &lay, &DpAction::SetIpv4Dst(1)).is_err());
    assert!(apply(&mut short, &lay, &DpAction::SetTpDst(1)).is_err());
    // A later fragment has no ports: the L3 rewrite applies, the L4 one
    // is skipped (and the frame still forwarded).
    let mut frag = v4(UDP, &udp(), false);
    frag[HDR + 20] = 0x00;
    frag[HDR + 21] = 0x10; // offset 16 * 8 bytes
    let c = checksum::ipv4_header(&{
        let mut h = frag[HDR + 14..HDR + 34].to_vec();
        h[10..12].fill(0);
        h
    });
    frag[HDR + 24..HDR + 26].copy_from_slice(&c.to_be_bytes());
    let before = frag[HDR + 34..].to_vec();
    run(
        &mut frag,
        &[DpAction::SetIpv4Dst(u32::from(C)), DpAction::SetTpDst(1)],
    );
    assert_eq!(frag[HDR + 34..], before[..], "fragment payload untouched");
    assert_eq!(addrs(&frag).1, C);
    assert!(ip_ok(&frag));
    let mut sctp = v4(SCTP, &[0u8; 16], false);
    let lay = layout(&sctp);
    assert_eq!(
        apply(&mut sctp, &lay, &DpAction::SetTpDst(1)),
        Err(RewriteError::Sctp)
    );
}

proptest! {
    /// Any address/port rewrite of any TCP/UDP payload, offloaded or not,
    /// leaves checksums a receiver accepts.
    #[test]
    fn checksums_survive(
        udp_proto in any::<bool>(),
        partial in any::<bool>(),
        payload in proptest::collection::vec(any::<u8>(), 0..64),
        s in any::<u32>(), d in any::<u32>(), sp in any::<u16>(), dp in any::<u16>(),
        ttl in any::<u8>(),
    ) {
        let (proto, mut l4) = if udp_proto { (UDP, udp()) } else { (TCP, tcp()) };
        l4.extend_from_slice(&payload);
        if udp_proto {
            let len = l4.len() as u16;
            l4[4..6].copy_from_slice(&len.to_be_bytes());
        }
        let mut f = v4(proto, &l4, partial);
        run(&mut f, &[
            DpAction::SetIpv4Src(s), DpAction::SetIpv4Dst(d),
            DpAction::SetTpSrc(sp), DpAction::SetTpDst(dp), DpAction::SetIpTtl(ttl),
        ]);
        prop_assert!(ip_ok(&f));
        if partial {
            finish_partial(&mut f);
        }
        // UDP sends a computed 0 as 0xffff (RFC 768).
        let norm = |c: u16| if c == 0 && proto == UDP { 0xffff } else { c };
        prop_assert_eq!(norm(l4_field(&f, proto)), norm(l4_expected(&f, proto)));
    }
}
