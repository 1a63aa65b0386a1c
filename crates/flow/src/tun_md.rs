//! Tunnel metadata fields (ovs-fields(7), "Tunnel Fields"):
//! `tun_metadata0`..`tun_metadata63`, the values of Geneve options
//! (RFC 8926 §3.5) that the bridge's TLV map (ovs-ofctl(8)
//! `add-tlv-map`) binds to them, and `tun_flags` (only `oam` matchable).
//!
//! **Storage bound.** OVS keeps up to 256 bytes of option data per packet
//! and up to 124 per field, placed where the TLV map says. cloudnet keeps
//! the per-packet key fixed and small instead: an inline area of
//! [`SLOTS`] 8-byte slots plus a 64-bit *present* bitmap (one bit per
//! field, as OVS's `tun_metadata.present.map`). `tun_metadataN` lives in
//! slot `N % 8`, so a bridge maps at most one field per slot, and an
//! option's data is 4 or 8 bytes ([`MAX_FIELD_BYTES`]); the TLV map
//! rejects anything else with an error naming the entry. A packet thus
//! carries at most 64 bytes of mapped option data.
//!
//! **Presence.** Writing a field (set_field, load, move, a decapsulated
//! option) marks it present; matching a field also matches its present
//! bit, so `tun_metadata0=0` does not match a packet without the option,
//! as in OVS. The flow caches see these words only in the megaflow masks
//! of flows that consult them; a packet without options has them zero.

use crate::fields::{fi, Field, FieldInfo, Fmt, Prereq};
use crate::flowvec::{Words, W_CT_ZONE, W_TUN_MD, W_TUN_MD_PRESENT};

/// Number of `tun_metadataN` fields (ovs-fields(7)).
pub const FIELDS: u8 = 64;
/// Inline 8-byte value slots per packet; `tun_metadataN` uses slot `N % SLOTS`.
pub const SLOTS: usize = 8;
/// The longest option data a field holds (bytes).
pub const MAX_FIELD_BYTES: usize = 8;

/// The `oam` flag of `tun_flags` (ovs-fields(7)): the Geneve O bit.
pub const TUN_FLAG_OAM: u32 = 1;
/// Flag names of `tun_flags`, as OVS prints them.
pub const TUN_FLAG_NAMES: [(&str, u32); 1] = [("oam", TUN_FLAG_OAM)];

const NAMES: [&str; 64] = [
    "tun_metadata0",
    "tun_metadata1",
    "tun_metadata2",
    "tun_metadata3",
    "tun_metadata4",
    "tun_metadata5",
    "tun_metadata6",
    "tun_metadata7",
    "tun_metadata8",
    "tun_metadata9",
    "tun_metadata10",
    "tun_metadata11",
    "tun_metadata12",
    "tun_metadata13",
    "tun_metadata14",
    "tun_metadata15",
    "tun_metadata16",
    "tun_metadata17",
    "tun_metadata18",
    "tun_metadata19",
    "tun_metadata20",
    "tun_metadata21",
    "tun_metadata22",
    "tun_metadata23",
    "tun_metadata24",
    "tun_metadata25",
    "tun_metadata26",
    "tun_metadata27",
    "tun_metadata28",
    "tun_metadata29",
    "tun_metadata30",
    "tun_metadata31",
    "tun_metadata32",
    "tun_metadata33",
    "tun_metadata34",
    "tun_metadata35",
    "tun_metadata36",
    "tun_metadata37",
    "tun_metadata38",
    "tun_metadata39",
    "tun_metadata40",
    "tun_metadata41",
    "tun_metadata42",
    "tun_metadata43",
    "tun_metadata44",
    "tun_metadata45",
    "tun_metadata46",
    "tun_metadata47",
    "tun_metadata48",
    "tun_metadata49",
    "tun_metadata50",
    "tun_metadata51",
    "tun_metadata52",
    "tun_metadata53",
    "tun_metadata54",
    "tun_metadata55",
    "tun_metadata56",
    "tun_metadata57",
    "tun_metadata58",
    "tun_metadata59",
    "tun_metadata60",
    "tun_metadata61",
    "tun_metadata62",
    "tun_metadata63",
];
const NXM: [&str; 64] = [
    "NXM_NX_TUN_METADATA0",
    "NXM_NX_TUN_METADATA1",
    "NXM_NX_TUN_METADATA2",
    "NXM_NX_TUN_METADATA3",
    "NXM_NX_TUN_METADATA4",
    "NXM_NX_TUN_METADATA5",
    "NXM_NX_TUN_METADATA6",
    "NXM_NX_TUN_METADATA7",
    "NXM_NX_TUN_METADATA8",
    "NXM_NX_TUN_METADATA9",
    "NXM_NX_TUN_METADATA10",
    "NXM_NX_TUN_METADATA11",
    "NXM_NX_TUN_METADATA12",
    "NXM_NX_TUN_METADATA13",
    "NXM_NX_TUN_METADATA14",
    "NXM_NX_TUN_METADATA15",
    "NXM_NX_TUN_METADATA16",
    "NXM_NX_TUN_METADATA17",
    "NXM_NX_TUN_METADATA18",
    "NXM_NX_TUN_METADATA19",
    "NXM_NX_TUN_METADATA20",
    "NXM_NX_TUN_METADATA21",
    "NXM_NX_TUN_METADATA22",
    "NXM_NX_TUN_METADATA23",
    "NXM_NX_TUN_METADATA24",
    "NXM_NX_TUN_METADATA25",
    "NXM_NX_TUN_METADATA26",
    "NXM_NX_TUN_METADATA27",
    "NXM_NX_TUN_METADATA28",
    "NXM_NX_TUN_METADATA29",
    "NXM_NX_TUN_METADATA30",
    "NXM_NX_TUN_METADATA31",
    "NXM_NX_TUN_METADATA32",
    "NXM_NX_TUN_METADATA33",
    "NXM_NX_TUN_METADATA34",
    "NXM_NX_TUN_METADATA35",
    "NXM_NX_TUN_METADATA36",
    "NXM_NX_TUN_METADATA37",
    "NXM_NX_TUN_METADATA38",
    "NXM_NX_TUN_METADATA39",
    "NXM_NX_TUN_METADATA40",
    "NXM_NX_TUN_METADATA41",
    "NXM_NX_TUN_METADATA42",
    "NXM_NX_TUN_METADATA43",
    "NXM_NX_TUN_METADATA44",
    "NXM_NX_TUN_METADATA45",
    "NXM_NX_TUN_METADATA46",
    "NXM_NX_TUN_METADATA47",
    "NXM_NX_TUN_METADATA48",
    "NXM_NX_TUN_METADATA49",
    "NXM_NX_TUN_METADATA50",
    "NXM_NX_TUN_METADATA51",
    "NXM_NX_TUN_METADATA52",
    "NXM_NX_TUN_METADATA53",
    "NXM_NX_TUN_METADATA54",
    "NXM_NX_TUN_METADATA55",
    "NXM_NX_TUN_METADATA56",
    "NXM_NX_TUN_METADATA57",
    "NXM_NX_TUN_METADATA58",
    "NXM_NX_TUN_METADATA59",
    "NXM_NX_TUN_METADATA60",
    "NXM_NX_TUN_METADATA61",
    "NXM_NX_TUN_METADATA62",
    "NXM_NX_TUN_METADATA63",
];

/// The slot holding `tun_metadataN`.
#[inline(always)]
pub const fn slot_of(n: u8) -> usize {
    (n as usize) % SLOTS
}

/// Description of `tun_metadataN` or `tun_flags`.
pub(crate) fn info(f: Field) -> FieldInfo {
    match f {
        Field::TunMetadata(n) => {
            let n = n % FIELDS;
            fi(
                NAMES[n as usize],
                NXM[n as usize],
                W_TUN_MD + slot_of(n),
                0,
                64,
                true,
                Prereq::None,
                Fmt::Hex,
            )
        }
        _ => fi(
            "tun_flags",
            "NXM_NX_TUN_FLAGS",
            W_CT_ZONE,
            48,
            16,
            true,
            Prereq::None,
            Fmt::TunFlags,
        ),
    }
}

/// Parses `tun_metadataN` / `NXM_NX_TUN_METADATAN` (no leading zeros).
pub(crate) fn from_name(name: &str) -> Option<Field> {
    let n = name
        .strip_prefix("tun_metadata")
        .or_else(|| name.strip_prefix("NXM_NX_TUN_METADATA"))?;
    if n.is_empty() || (n.len() > 1 && n.starts_with('0')) {
        return None;
    }
    let n: u8 = n.parse().ok()?;
    (n < FIELDS).then_some(Field::TunMetadata(n))
}

/// Marks `tun_metadataN` present in `w` (a packet or a mask).
#[inline(always)]
pub(crate) fn mark_present(w: &mut Words, n: u8) {
    w[W_TUN_MD_PRESENT] |= 1u64 << (n % FIELDS);
}

/// Unmarks `tun_metadataN`.
#[inline(always)]
pub(crate) fn clear_present(w: &mut Words, n: u8) {
    w[W_TUN_MD_PRESENT] &= !(1u64 << (n % FIELDS));
}

/// Whether `tun_metadataN` is present in `w`.
#[inline(always)]
pub(crate) fn is_present(w: &Words, n: u8) -> bool {
    w[W_TUN_MD_PRESENT] >> (n % FIELDS) & 1 != 0
}

/// Whether any word of the tunnel metadata area has a bit set in `w`.
#[inline]
pub(crate) fn touched(w: &Words) -> bool {
    w[W_TUN_MD_PRESENT..W_TUN_MD + SLOTS]
        .iter()
        .any(|&x| x != 0)
}

/// Makes the whole area (present bitmap and slots) part of a mask: a
/// datapath action carrying every field's value depends on all of them.
#[inline]
pub(crate) fn unwildcard_all(mask: &mut Words) {
    mask[W_TUN_MD_PRESENT..W_TUN_MD + SLOTS].fill(u64::MAX);
}

/// Whether `tun_metadataN` may join the fields present in `w` (a match's
/// mask) without sharing a slot with another one.
pub(crate) fn check_slot_free(w: &Words, n: u8) -> Result<(), String> {
    let others = w[W_TUN_MD_PRESENT] & !(1u64 << (n % FIELDS));
    match slot_conflict(others | 1u64 << (n % FIELDS)) {
        Some((a, b)) => Err(format!(
            "tun_metadata{a} and tun_metadata{b} share inline slot {} (N mod {SLOTS}); \
             a flow may use only one of them",
            slot_of(n)
        )),
        None => Ok(()),
    }
}

/// Two fields a flow uses that share a slot, if any (their storage
/// would alias): `(first, second)` field numbers.
pub fn slot_conflict(present: u64) -> Option<(u8, u8)> {
    let mut owner = [None::<u8>; SLOTS];
    for n in 0..FIELDS {
        if present >> n & 1 == 0 {
            continue;
        }
        match owner[slot_of(n)] {
            Some(first) => return Some((first, n)),
            None => owner[slot_of(n)] = Some(n),
        }
    }
    None
}

/// The tunnel metadata of a packet: which `tun_metadataN` are present and
/// the slot values (right-aligned: a 4-byte option is the low 32 bits).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TunMetadata {
    /// Bit N set: `tun_metadataN` is present.
    pub present: u64,
    /// Slot values; `tun_metadataN` is `vals[N % SLOTS]`.
    pub vals: [u64; SLOTS],
}

impl TunMetadata {
    /// The value of `tun_metadataN`, if present.
    #[inline]
    pub fn get(&self, n: u8) -> Option<u64> {
        (n < FIELDS && self.present >> n & 1 != 0).then(|| self.vals[slot_of(n)])
    }

    /// Sets `tun_metadataN` (ignored for N ≥ 64) and marks it present.
    #[inline]
    pub fn set(&mut self, n: u8, v: u64) {
        if n < FIELDS {
            self.present |= 1 << n;
            self.vals[slot_of(n)] = v;
        }
    }

    /// The present fields in field order, with their values.
    pub fn iter(&self) -> impl Iterator<Item = (u8, u64)> + '_ {
        (0..FIELDS).filter_map(|n| self.get(n).map(|v| (n, v)))
    }

    pub(crate) fn to_words(self, w: &mut Words) {
        w[W_TUN_MD_PRESENT] = self.present;
        w[W_TUN_MD..W_TUN_MD + SLOTS].copy_from_slice(&self.vals);
    }

    pub(crate) fn from_words(w: &Words) -> TunMetadata {
        let mut vals = [0; SLOTS];
        vals.copy_from_slice(&w[W_TUN_MD..W_TUN_MD + SLOTS]);
        TunMetadata {
            present: w[W_TUN_MD_PRESENT],
            vals,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flowvec::NW;

    #[test]
    fn names_parse_and_bound() {
        assert_eq!(from_name("tun_metadata0"), Some(Field::TunMetadata(0)));
        assert_eq!(
            from_name("NXM_NX_TUN_METADATA63"),
            Some(Field::TunMetadata(63))
        );
        assert_eq!(from_name("tun_metadata64"), None);
        assert_eq!(from_name("tun_metadata01"), None);
        assert_eq!(from_name("tun_metadata"), None);
        assert_eq!(Field::TunMetadata(9).info().name, "tun_metadata9");
        assert_eq!(Field::TunMetadata(9).info().nxm, "NXM_NX_TUN_METADATA9");
    }

    #[test]
    fn writing_marks_present_and_slots_alias_by_design() {
        let mut w = [0u64; NW];
        Field::TunMetadata(10).set(&mut w, 0xabcd);
        assert!(is_present(&w, 10));
        assert!(!is_present(&w, 2));
        let md = TunMetadata::from_words(&w);
        assert_eq!(md.get(10), Some(0xabcd));
        assert_eq!(md.get(2), None);
        assert_eq!(md.iter().collect::<Vec<_>>(), vec![(10, 0xabcd)]);
        assert_eq!(slot_conflict(md.present), None);
        assert_eq!(slot_conflict(1 << 2 | 1 << 10), Some((2, 10)));
    }
}
