//! Checksum tests: the fast sum against a naive RFC 1071 loop, RFC 1071's
//! worked example, and RFC 1624 incremental updates against recomputation.

use std::net::Ipv4Addr;

use packet::checksum::{self, add, sum, update128, update16, update32};
use packet::ipv4::Ipv4Packet;
use proptest::prelude::*;

fn naive_sum(data: &[u8]) -> u16 {
    let mut s: u64 = 0;
    for w in data.chunks(2) {
        s += (u64::from(w[0]) << 8) | w.get(1).map_or(0, |&b| u64::from(b));
    }
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}

#[test]
fn rfc1071_example() {
    // RFC 1071 §3: bytes 00 01 f2 03 f4 f5 f6 f7 sum to 0xddf2.
    let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
    assert_eq!(sum(&data), 0xddf2);
    assert_eq!(checksum::checksum(&data), !0xddf2);
}

#[test]
fn every_length_and_alignment_matches_naive() {
    let data: Vec<u8> = (0..300u32).map(|i| (i * 131 + 7) as u8).collect();
    for start in 0..8 {
        for end in start..data.len() {
            assert_eq!(
                sum(&data[start..end]),
                naive_sum(&data[start..end]),
                "{start}..{end}"
            );
        }
    }
    assert_eq!(sum(&[0xff; 1500]), naive_sum(&[0xff; 1500]));
}

#[test]
fn ttl_decrement_update_matches_recompute() {
    let mut h = [
        0x45, 0x00, 0x00, 0x14, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ];
    let mut p = Ipv4Packet::new_checked(&mut h[..]).unwrap();
    p.fill_checksum();
    for _ in 0..64 {
        let old_word = u16::from_be_bytes([p.ttl(), p.protocol()]);
        let ttl = p.ttl() - 1;
        p.set_ttl(ttl);
        let new_word = u16::from_be_bytes([ttl, p.protocol()]);
        let c = update16(p.checksum(), old_word, new_word);
        p.set_checksum(c);
        assert!(p.verify_checksum(), "ttl {ttl}");
    }
}

proptest! {
    #[test]
    fn fast_sum_equals_naive(data in proptest::collection::vec(any::<u8>(), 0..2000)) {
        prop_assert_eq!(sum(&data), naive_sum(&data));
    }

    /// RFC 1624 eqn. 3 agrees with a full recomputation for any 16-bit field
    /// change at any even offset.
    #[test]
    fn update16_equals_recompute(
        mut data in proptest::collection::vec(any::<u8>(), 2..200),
        idx in any::<prop::sample::Index>(),
        new in any::<u16>(),
    ) {
        data.truncate(data.len() & !1);
        let at = idx.index(data.len() / 2) * 2;
        let before = checksum::checksum(&data);
        let old = u16::from_be_bytes([data[at], data[at + 1]]);
        data[at..at + 2].copy_from_slice(&new.to_be_bytes());
        let after = checksum::checksum(&data);
        let inc = update16(before, old, new);
        // 0x0000 and 0xffff are both representations of zero in one's
        // complement; the incremental form may pick the other one only for
        // an all-zero sum.
        prop_assert!(inc == after || (sum(&data) == 0 || sum(&data) == 0xffff) && (inc | after) == 0xffff,
            "inc {:#x} full {:#x}", inc, after);
    }

    /// NAT rewrite of an IPv4 address in a TCP checksum (pseudo-header).
    #[test]
    fn update32_nat_equals_recompute(
        seg in proptest::collection::vec(any::<u8>(), 20..100),
        old_src in any::<u32>(),
        new_src in any::<u32>(),
        dst in any::<u32>(),
    ) {
        let dst = Ipv4Addr::from(dst);
        let before = checksum::l4_ipv4(Ipv4Addr::from(old_src), dst, 6, &seg);
        let after = checksum::l4_ipv4(Ipv4Addr::from(new_src), dst, 6, &seg);
        let inc = update32(before, old_src, new_src);
        prop_assert!(inc == after || (inc | after) == 0xffff);
    }

    #[test]
    fn update128_equals_recompute(
        seg in proptest::collection::vec(any::<u8>(), 8..64),
        old in any::<[u8; 16]>(),
        new in any::<[u8; 16]>(),
    ) {
        let dst = std::net::Ipv6Addr::LOCALHOST;
        let before = checksum::l4_ipv6(&old.into(), &dst, 17, &seg);
        let after = checksum::l4_ipv6(&new.into(), &dst, 17, &seg);
        let inc = update128(before, &old, &new);
        prop_assert!(inc == after || (inc | after) == 0xffff);
    }

    #[test]
    fn add_is_ones_complement(a in any::<u16>(), b in any::<u16>()) {
        let joined = [a.to_be_bytes(), b.to_be_bytes()].concat();
        prop_assert_eq!(add(a, b), naive_sum(&joined));
    }
}

/// The view helpers the switch uses for dec_ttl, DSCP rewrite and NAT keep
/// the IPv4 header checksum and (with update32) the TCP checksum valid.
#[test]
fn ipv4_rewrite_helpers_keep_checksums_valid() {
    use packet::tcp::TcpPacket;
    let (src, dst) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
    let mut pkt = vec![0u8; 40];
    packet::ipv4::Ipv4Repr {
        src,
        dst,
        protocol: 6,
        tos: 0,
        ttl: 64,
        ident: 1,
        dont_frag: true,
        more_frags: false,
        frag_offset: 0,
        payload_len: 20,
    }
    .emit(&mut pkt)
    .unwrap();
    packet::tcp::TcpRepr {
        src_port: 1,
        dst_port: 2,
        seq: 3,
        ack: 4,
        flags: packet::tcp::flags::SYN,
        window: 5,
        urgent: 0,
    }
    .emit(&mut pkt[20..])
    .unwrap();
    TcpPacket::new_checked(&mut pkt[20..])
        .unwrap()
        .fill_checksum_v4(src, dst);

    let new_src = Ipv4Addr::new(203, 0, 113, 9);
    let mut ip = Ipv4Packet::new_checked(&mut pkt[..]).unwrap();
    ip.set_ttl_update_checksum(63);
    ip.set_tos_update_checksum(0xb8);
    ip.set_src_update_checksum(new_src);
    ip.set_dst_update_checksum(Ipv4Addr::new(198, 51, 100, 7));
    assert!(ip.verify_checksum());
    assert_eq!((ip.ttl(), ip.tos(), ip.src()), (63, 0xb8, new_src));
    let new_dst = ip.dst();
    let mut tcp = TcpPacket::new_checked(&mut pkt[20..]).unwrap();
    let c = update32(tcp.checksum(), u32::from(src), u32::from(new_src));
    let c = update32(c, u32::from(dst), u32::from(new_dst));
    tcp.set_checksum(c);
    assert!(tcp.verify_checksum_v4(new_src, new_dst));
}
