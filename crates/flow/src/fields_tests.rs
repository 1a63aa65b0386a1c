//! Tests of `fields.rs`: masks, names, views sharing bits.

use super::*;

#[test]
fn prefix_masks_cover_zero_and_full_lengths() {
    assert_eq!(prefix_mask(0, 128), 0);
    assert_eq!(prefix_mask(0, 32), 0);
    assert_eq!(prefix_mask(128, 128), u128::MAX);
    assert_eq!(prefix_mask(24, 32), 0xffff_ff00);
    assert_eq!(prefix_mask(1, 128), 1 << 127);
}

#[test]
fn names_resolve_to_the_same_field() {
    assert_eq!(Field::from_name("NXM_OF_ETH_SRC"), Some(Field::DlSrc));
    assert_eq!(Field::from_name("eth_src"), Some(Field::DlSrc));
    assert_eq!(Field::from_name("NXM_NX_REG13"), Some(Field::Reg(13)));
    assert_eq!(Field::from_name("reg16"), None);
    assert_eq!(Field::from_name("reg01"), None);
    assert_eq!(Field::from_name("bogus"), None);
}

#[test]
fn field_views_share_bits() {
    let mut w = [0u64; NW];
    Field::VlanTci.set(&mut w, 0x3005);
    assert_eq!(Field::DlVlan.get(&w), 5);
    assert_eq!(Field::DlVlanPcp.get(&w), 1);
    Field::NwTos.set(&mut w, 0xb9);
    assert_eq!(Field::IpDscp.get(&w), 0xb9 >> 2);
    assert_eq!(Field::NwEcn.get(&w), 1);
    Field::Ipv6Src.set(&mut w, u128::MAX - 1);
    assert_eq!(Field::Ipv6Src.get(&w), u128::MAX - 1);
    let r = FieldRef {
        field: Field::Reg(3),
        ofs: 4,
        nbits: 8,
    };
    r.write(&mut w, 0x1ab);
    assert_eq!(Field::Reg(3).get(&w), 0xab0);
    assert_eq!(r.read(&w), 0xab);
}

/// The word-level writes as they were first written (through u128 and
/// `get`/`set`), against which the u64 fast paths are checked.
fn reference_set_masked(f: Field, w: &mut Words, value: u128, mask: u128) {
    let i = f.info();
    let mask = mask & ones(i.bits);
    let value = value & mask;
    let a = i.word as usize;
    if i.bits == 128 {
        w[a] = (w[a] & !((mask >> 64) as u64)) | (value >> 64) as u64;
        w[a + 1] = (w[a + 1] & !(mask as u64)) | value as u64;
    } else {
        let m = (mask as u64) << i.shift;
        w[a] = (w[a] & !m) | ((value as u64) << i.shift);
    }
    if let Field::TunMetadata(n) = f {
        if mask != 0 {
            crate::tun_md::mark_present(w, n);
        }
    }
}

#[test]
fn fast_word_writes_equal_the_reference() {
    let names = [
        "in_port",
        "dl_src",
        "dl_type",
        "vlan_tci",
        "dl_vlan",
        "dl_vlan_pcp",
        "nw_src",
        "nw_dst",
        "nw_proto",
        "ip_dscp",
        "nw_ecn",
        "nw_ttl",
        "ipv6_src",
        "ipv6_label",
        "tp_src",
        "tp_dst",
        "tcp_flags",
        "metadata",
        "tun_id",
        "tun_src",
        "pkt_mark",
        "ct_state",
        "ct_zone",
        "ct_mark",
        "ct_label",
        "reg0",
        "reg1",
        "reg14",
        "reg15",
        "tun_metadata0",
        "tun_metadata5",
    ];
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for name in names {
        let f = Field::from_name(name).unwrap_or_else(|| panic!("{name}"));
        for _ in 0..200 {
            let w0: Words = std::array::from_fn(|_| next());
            let value = (next() as u128) << 64 | next() as u128;
            let mut mask = (next() as u128) << 64 | next() as u128;
            if next() % 4 == 0 {
                mask = 0;
            }
            let (mut a, mut b) = (w0, w0);
            f.set_masked(&mut a, value, mask);
            reference_set_masked(f, &mut b, value, mask);
            assert_eq!(a, b, "set_masked {name}");
            let (mut a, mut b) = (w0, w0);
            let mut written = w0;
            f.write_marking(&mut a, &mut written, value, mask);
            reference_set_masked(f, &mut b, value, mask);
            assert_eq!(a, b, "write_marking {name}");
            let mut b = w0;
            let cur = f.get(&b);
            reference_set_masked(f, &mut b, cur | mask, u128::MAX);
            assert_eq!(written, b, "write_marking's mark {name}");
            let (mut a, mut b) = (w0, w0);
            f.unwildcard(&mut a, mask);
            let cur = f.get(&b);
            reference_set_masked(f, &mut b, cur | mask, u128::MAX);
            assert_eq!(a, b, "unwildcard {name}");
        }
    }
}

proptest::proptest! {
    /// The register shortcut writes what the general path does.
    #[test]
    fn register_writes_match_the_general_path(
        n in 0u8..32,
        value in proptest::num::u128::ANY,
        mask in proptest::num::u128::ANY,
        start in proptest::num::u64::ANY,
    ) {
        let (mut w1, mut marks) = ([start; NW], [0; NW]);
        let mut w2 = w1;
        Field::Reg(n).write_marking(&mut w1, &mut marks, value, mask);
        Field::write_reg(n, &mut w2, value, mask);
        proptest::prop_assert_eq!(w1, w2);
        // Registers are never committed: nothing else needs the marks.
        let mut regs = [0; NW];
        for i in 0..16 {
            Field::Reg(i).unwildcard(&mut regs, u32::MAX as u128);
        }
        proptest::prop_assert!(marks.iter().zip(regs.iter()).all(|(m, r)| m & !r == 0));
    }
}
