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
