//! Bit ranges of fields (NXM `field[a..b]` notation) and prerequisite
//! checks on packets.

use crate::fields::{ones, Field, Prereq};
use crate::flowvec::Words;

/// A bit range of a field, `field[ofs..ofs+nbits-1]` in NXM notation
/// (ovs-actions(7), "Field Specifications").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FieldRef {
    pub field: Field,
    pub ofs: u8,
    pub nbits: u8,
}

impl FieldRef {
    /// The whole field (`NXM_OF_ETH_SRC[]`).
    pub fn whole(field: Field) -> FieldRef {
        FieldRef {
            field,
            ofs: 0,
            nbits: field.bits(),
        }
    }

    /// Whether the reference covers the whole field.
    pub fn is_whole(&self) -> bool {
        self.ofs == 0 && self.nbits == self.field.bits()
    }

    /// Mask of the referenced bits, in field coordinates.
    pub fn mask(&self) -> u128 {
        ones(self.nbits) << self.ofs
    }

    /// Reads the referenced bits, shifted down to bit 0.
    #[inline]
    pub fn read(&self, w: &Words) -> u128 {
        (self.field.get(w) >> self.ofs) & ones(self.nbits)
    }

    /// Writes `value`'s low `nbits` bits into the referenced range.
    #[inline]
    pub fn write(&self, w: &mut Words, value: u128) {
        // `set_masked` keeps only the bits under the mask.
        self.field.set_masked(w, value << self.ofs, self.mask());
    }
}

/// Whether the prerequisite holds for the values in `w`, unwildcarding in
/// `consulted` the bits it looked at (for the megaflow mask).
pub fn prereq_holds(p: Prereq, w: &Words, consulted: &mut Words) -> bool {
    use packet::flowkey::ethertype as et;
    let dl_type = Field::DlType.get(w) as u16;
    if p != Prereq::None {
        Field::DlType.unwildcard(consulted, 0xffff);
    }
    let proto = || Field::NwProto.get(w) as u8;
    let mut proto_check = |want: &[u8]| {
        Field::NwProto.unwildcard(consulted, 0xff);
        want.contains(&proto())
    };
    match p {
        Prereq::None => true,
        Prereq::Ip => dl_type == et::IPV4 || dl_type == et::IPV6,
        Prereq::Ipv4 => dl_type == et::IPV4,
        Prereq::Ipv6 => dl_type == et::IPV6,
        Prereq::Arp => dl_type == et::ARP || dl_type == 0x8035,
        Prereq::L4 => (dl_type == et::IPV4 || dl_type == et::IPV6) && proto_check(&[6, 17, 132]),
        Prereq::Tcp => (dl_type == et::IPV4 || dl_type == et::IPV6) && proto_check(&[6]),
        Prereq::Icmp => dl_type == et::IPV4 && proto_check(&[1]),
        Prereq::Icmpv6 => dl_type == et::IPV6 && proto_check(&[58]),
        Prereq::Nd => {
            dl_type == et::IPV6 && proto_check(&[58]) && {
                Field::Icmpv6Type.unwildcard(consulted, 0xff);
                matches!(Field::Icmpv6Type.get(w), 135 | 136)
            }
        }
    }
}
