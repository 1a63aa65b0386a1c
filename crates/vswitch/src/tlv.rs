//! A bridge's Geneve TLV map: which Geneve option `{class,type,len}`
//! (RFC 8926 §3.5) each `tun_metadataN` field stands for, as ovs-ofctl(8)
//! `add-tlv-map`, `del-tlv-map` and `dump-tlv-map` manage it in OVS.
//!
//! * **Receive** ([`TlvMap::decode`]): every option whose class, type and
//!   length are mapped fills its field; an option that is not mapped and
//!   has the critical bit (the high bit of the type) set makes the packet
//!   undeliverable — RFC 8926 §3.5: "If a tunnel endpoint receives a
//!   Geneve packet with an unrecognized option that has the critical bit
//!   set, it MUST drop the packet". Non-critical unknown options are
//!   skipped.
//! * **Send** ([`TlvMap::encode`]): the fields present after the actions
//!   become options in field order.
//! * **Bounds**: cloudnet keeps `tun_metadata` in a fixed inline area
//!   (see `flow::tun_md`): option data of 4 or 8 bytes, and at most one
//!   mapped field per slot (`N mod 8`). OVS allows up to 124 bytes per
//!   option and 256 in all; the errors below name the entry that exceeds
//!   cloudnet's bounds.
//!
//! The map is part of the bridge's configuration and is stored with it,
//! so it survives a vswitchd restart (OVS keeps it only in memory and
//! leaves it to the controller).

use std::fmt::Write as _;

use flow::tun_md::{self, TunMetadata, MAX_FIELD_BYTES};
use serde::{Deserialize, Serialize};
use tunnel::GeneveOptsBuf;

/// One mapping: option `{class,type,len}` ↔ `tun_metadata<field>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlvEntry {
    /// Option class.
    pub class: u16,
    /// Option type (high bit: critical).
    #[serde(rename = "type")]
    pub kind: u8,
    /// Option data length in bytes.
    pub len: u8,
    /// N of `tun_metadataN`.
    pub field: u8,
}

impl std::fmt::Display for TlvEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{{class={},type={},len={}}}->tun_metadata{}",
            c_hex(self.class.into()),
            c_hex(self.kind.into()),
            self.len,
            self.field
        )
    }
}

/// Errors of the TLV map commands, named after OVS's `NXTTMFC_*` errors
/// where one exists (lib/ofp-errors.h).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TlvError {
    /// The text does not parse.
    #[error("{token:?}: {why} (expected {{class=C,type=T,len=L}}->tun_metadataN)")]
    Syntax {
        /// The offending token.
        token: String,
        /// What is wrong.
        why: &'static str,
    },
    /// `NXTTMFC_BAD_OPT_LEN`, or longer than cloudnet's inline slot.
    #[error("{entry}: option length must be 4 or {MAX_FIELD_BYTES} bytes here (OVS: a multiple of 4 up to 124; cloudnet keeps each tun_metadata field in an 8-byte slot)")]
    BadLength {
        /// The entry.
        entry: String,
    },
    /// `NXTTMFC_ALREADY_MAPPED`: the field is mapped already.
    #[error("{entry}: tun_metadata{field} is already mapped")]
    AlreadyMapped {
        /// The entry.
        entry: String,
        /// The field.
        field: u8,
    },
    /// `NXTTMFC_DUP_ENTRY`: the option is mapped already.
    #[error("{entry}: option class={class:#x},type={kind:#x} is already mapped")]
    DuplicateOption {
        /// The entry.
        entry: String,
        /// Class.
        class: u16,
        /// Type.
        kind: u8,
    },
    /// Two fields sharing one inline slot (cloudnet's bound).
    #[error("{entry}: tun_metadata{field} shares inline slot {} with mapped tun_metadata{other} (N mod 8)", tun_md::slot_of(*field))]
    SlotTaken {
        /// The entry.
        entry: String,
        /// The field asked for.
        field: u8,
        /// The field holding the slot.
        other: u8,
    },
    /// `NXTTMFC_INVALID_TLV_DEL`: no such mapping.
    #[error("{entry}: no such mapping")]
    NoSuchMapping {
        /// The entry.
        entry: String,
    },
    /// Flows still use the field (cloudnet refuses rather than leave
    /// flows that can never match).
    #[error("{entry}: tun_metadata{field} is in use by {flows} flow(s); delete them first")]
    InUse {
        /// The entry.
        entry: String,
        /// The field.
        field: u8,
        /// How many flows use it.
        flows: usize,
    },
}

/// A bridge's TLV map (at most one entry per slot, so at most
/// [`tun_md::SLOTS`] entries).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlvMap {
    /// Mappings, in the order they were added.
    pub entries: Vec<TlvEntry>,
}

/// Why a received packet's options cannot be delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnknownCritical {
    /// Option class.
    pub class: u16,
    /// Option type.
    pub kind: u8,
}

/// C's `%#x`, as OVS prints option classes and types: `0` for zero.
fn c_hex(v: u32) -> String {
    if v == 0 {
        "0".into()
    } else {
        format!("{v:#x}")
    }
}

fn syntax(token: &str, why: &'static str) -> TlvError {
    TlvError::Syntax {
        token: token.to_owned(),
        why,
    }
}

fn num<T: TryFrom<u64>>(token: &str, s: &str) -> Result<T, TlvError> {
    let v = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16),
        None => s.parse(),
    }
    .map_err(|_| syntax(token, "not a number"))?;
    T::try_from(v).map_err(|_| syntax(token, "number out of range"))
}

/// Parses `{class=0xffff,type=0,len=4}->tun_metadata0[,...]`
/// (ovs-ofctl(8), "Option Syntax").
pub fn parse_entries(text: &str) -> Result<Vec<TlvEntry>, TlvError> {
    let mut out = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let body_end = rest.find('}').ok_or_else(|| syntax(rest, "missing '}'"))?;
        let item_end = rest[body_end..]
            .find(',')
            .map(|i| body_end + i)
            .unwrap_or(rest.len());
        let token = rest[..item_end].trim();
        rest = rest.get(item_end + 1..).unwrap_or("").trim_start();
        let body = token
            .strip_prefix('{')
            .ok_or_else(|| syntax(token, "missing '{'"))?;
        let (opt, target) = body
            .split_once("}->")
            .ok_or_else(|| syntax(token, "missing '}->'"))?;
        let field = match flow::Field::from_name(target.trim()) {
            Some(flow::Field::TunMetadata(n)) => n,
            _ => return Err(syntax(token, "target is not tun_metadata0..63")),
        };
        let (mut class, mut kind, mut len) = (None, None, None);
        for kv in opt.split(',') {
            let (k, v) = kv
                .split_once('=')
                .ok_or_else(|| syntax(token, "expected key=value"))?;
            match k.trim() {
                "class" => class = Some(num::<u16>(token, v.trim())?),
                "type" => kind = Some(num::<u8>(token, v.trim())?),
                "len" => len = Some(num::<u8>(token, v.trim())?),
                _ => return Err(syntax(token, "unknown key (class, type, len)")),
            }
        }
        let (Some(class), Some(kind), Some(len)) = (class, kind, len) else {
            return Err(syntax(token, "class, type and len are all required"));
        };
        out.push(TlvEntry {
            class,
            kind,
            len,
            field,
        });
    }
    if out.is_empty() {
        return Err(syntax(text, "no mapping given"));
    }
    Ok(out)
}

impl TlvMap {
    /// `add-tlv-map`: adds all of `new` or nothing.
    pub fn add(&mut self, new: &[TlvEntry]) -> Result<(), TlvError> {
        let mut work = self.clone();
        for e in new {
            let entry = e.to_string();
            if e.len == 0 || !e.len.is_multiple_of(4) || usize::from(e.len) > MAX_FIELD_BYTES {
                return Err(TlvError::BadLength { entry });
            }
            for old in &work.entries {
                if old.field == e.field {
                    return Err(TlvError::AlreadyMapped {
                        entry,
                        field: e.field,
                    });
                }
                if (old.class, old.kind) == (e.class, e.kind) {
                    return Err(TlvError::DuplicateOption {
                        entry,
                        class: e.class,
                        kind: e.kind,
                    });
                }
                if tun_md::slot_of(old.field) == tun_md::slot_of(e.field) {
                    return Err(TlvError::SlotTaken {
                        entry,
                        field: e.field,
                        other: old.field,
                    });
                }
            }
            work.entries.push(*e);
        }
        *self = work;
        Ok(())
    }

    /// `del-tlv-map`: removes the given mappings (all when `None`), all or
    /// nothing. `users(field)` counts the flows using a field.
    pub fn del(
        &mut self,
        which: Option<&[TlvEntry]>,
        users: impl Fn(u8) -> usize,
    ) -> Result<(), TlvError> {
        let gone: Vec<TlvEntry> = match which {
            None => self.entries.clone(),
            Some(list) => {
                for e in list {
                    if !self.entries.contains(e) {
                        return Err(TlvError::NoSuchMapping {
                            entry: e.to_string(),
                        });
                    }
                }
                list.to_vec()
            }
        };
        for e in &gone {
            let flows = users(e.field);
            if flows > 0 {
                return Err(TlvError::InUse {
                    entry: e.to_string(),
                    field: e.field,
                    flows,
                });
            }
        }
        self.entries.retain(|e| !gone.contains(e));
        Ok(())
    }

    /// Whether `tun_metadataN` is mapped.
    pub fn is_mapped(&self, field: u8) -> bool {
        self.entries.iter().any(|e| e.field == field)
    }

    /// `dump-tlv-map` output, as ovs-ofctl prints NXT_TLV_TABLE_REPLY.
    pub fn dump(&self) -> String {
        let space: usize = self.entries.iter().map(|e| usize::from(e.len)).sum();
        let mut s = String::from("NXT_TLV_TABLE_REPLY:\n");
        let _ = writeln!(
            s,
            " max option space={} max fields={}",
            tun_md::SLOTS * MAX_FIELD_BYTES,
            tun_md::FIELDS
        );
        let _ = writeln!(s, " allocated option space={space}\n");
        s.push_str(" mapping table:\n class\ttype\tlength\tmatch field\n -----\t----\t------\t-----------\n");
        for e in &self.entries {
            let _ = writeln!(
                s,
                " {}\t{}\t{}\ttun_metadata{}",
                c_hex(e.class.into()),
                c_hex(e.kind.into()),
                e.len,
                e.field
            );
        }
        s
    }

    /// The `tun_metadata` of received Geneve options `raw` (already
    /// validated by decapsulation). Allocation-free.
    pub fn decode(&self, raw: &[u8]) -> Result<TunMetadata, UnknownCritical> {
        let mut md = TunMetadata::default();
        let mut rest = raw;
        while let (Some(hdr), true) = (rest.get(..4), rest.len() >= 4) {
            let class = u16::from_be_bytes([hdr[0], hdr[1]]);
            let (kind, words) = (hdr[2], usize::from(hdr[3] & 0x1f));
            let Some(data) = rest.get(4..4 + words * 4) else {
                break;
            };
            rest = &rest[4 + data.len()..];
            let hit = self
                .entries
                .iter()
                .find(|e| (e.class, e.kind) == (class, kind) && usize::from(e.len) == data.len());
            match hit {
                Some(e) => {
                    let mut v = [0u8; 8];
                    v[8 - data.len()..].copy_from_slice(data);
                    md.set(e.field, u64::from_be_bytes(v));
                }
                None if kind & 0x80 != 0 => return Err(UnknownCritical { class, kind }),
                None => {}
            }
        }
        Ok(md)
    }

    /// Geneve options for the fields present in `md`, in field order;
    /// a present field without a mapping is left out (flows may only use
    /// mapped fields, so that is a field the packet arrived with before
    /// its mapping was deleted).
    pub fn encode(&self, md: &TunMetadata) -> GeneveOptsBuf {
        let mut out = GeneveOptsBuf::default();
        for (n, v) in md.iter() {
            let Some(e) = self.entries.iter().find(|e| e.field == n) else {
                continue;
            };
            let bytes = v.to_be_bytes();
            // Lengths are 4 or 8 (checked by `add`): always room.
            let _ = out.push(e.class, e.kind, &bytes[8 - usize::from(e.len)..]);
        }
        out
    }
}

/// The `tun_metadataN` fields a flow refers to (its match and the fields
/// its actions read or write), as a bitmap.
pub fn fields_used(f: &flow::FlowMod) -> u64 {
    use flow::actions::Action;
    let mut used = 0u64;
    for n in 0..tun_md::FIELDS {
        if f.matches.has(flow::Field::TunMetadata(n)) {
            used |= 1 << n;
        }
    }
    let mut note = |fld: flow::Field| {
        if let flow::Field::TunMetadata(n) = fld {
            used |= 1 << n;
        }
    };
    for a in &f.actions {
        match a {
            Action::SetField { field, .. } => note(*field),
            Action::Load { dst, .. } => note(dst.field),
            Action::Move { src, dst } => {
                note(src.field);
                note(dst.field);
            }
            Action::OutputReg(r) => note(r.field),
            _ => {}
        }
    }
    used
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(text: &str) -> TlvMap {
        let mut m = TlvMap::default();
        m.add(&parse_entries(text).unwrap()).unwrap();
        m
    }

    #[test]
    fn parses_the_ovs_syntax() {
        let e = parse_entries("{class=0xffff,type=0,len=4}->tun_metadata0,{class=0x102,type=0x80,len=8}->tun_metadata1").unwrap();
        assert_eq!(e.len(), 2);
        assert_eq!(
            (e[1].class, e[1].kind, e[1].len, e[1].field),
            (0x102, 0x80, 8, 1)
        );
        for bad in [
            "{class=0xffff,type=0,len=4}->reg0",
            "{class=0xffff,type=0}->tun_metadata0",
            "{class=0x1ffff,type=0,len=4}->tun_metadata0",
            "class=1,type=0,len=4}->tun_metadata0",
            "{class=1,type=0,len=4,color=red}->tun_metadata0",
            "",
        ] {
            let err = parse_entries(bad).unwrap_err().to_string();
            assert!(err.contains("expected {class"), "{bad}: {err}");
        }
    }

    #[test]
    fn add_refuses_conflicts_naming_the_entry() {
        let mut m = map("{class=0xffff,type=0,len=4}->tun_metadata0");
        let e = |t: &str| parse_entries(t).unwrap();
        let err = m
            .add(&e("{class=0xffff,type=1,len=4}->tun_metadata0"))
            .unwrap_err();
        assert!(matches!(err, TlvError::AlreadyMapped { field: 0, .. }));
        let err = m
            .add(&e("{class=0xffff,type=0,len=4}->tun_metadata1"))
            .unwrap_err();
        assert!(matches!(err, TlvError::DuplicateOption { .. }), "{err}");
        let err = m
            .add(&e("{class=1,type=0,len=12}->tun_metadata1"))
            .unwrap_err();
        assert!(err.to_string().contains("len=12"), "{err}");
        let err = m
            .add(&e("{class=1,type=0,len=4}->tun_metadata8"))
            .unwrap_err();
        assert!(matches!(
            err,
            TlvError::SlotTaken {
                field: 8,
                other: 0,
                ..
            }
        ));
        // All or nothing.
        let err = m.add(&e(
            "{class=1,type=0,len=4}->tun_metadata1,{class=1,type=0,len=4}->tun_metadata2",
        ));
        assert!(err.is_err());
        assert_eq!(m.entries.len(), 1);
    }

    #[test]
    fn del_checks_existence_and_use() {
        let mut m = map(
            "{class=0xffff,type=0,len=4}->tun_metadata0,{class=0xffff,type=1,len=8}->tun_metadata1",
        );
        let one = parse_entries("{class=0xffff,type=1,len=8}->tun_metadata1").unwrap();
        let err = m.del(Some(&one), |f| usize::from(f == 1)).unwrap_err();
        assert!(
            matches!(
                err,
                TlvError::InUse {
                    field: 1,
                    flows: 1,
                    ..
                }
            ),
            "{err}"
        );
        m.del(Some(&one), |_| 0).unwrap();
        let err = m.del(Some(&one), |_| 0).unwrap_err();
        assert!(matches!(err, TlvError::NoSuchMapping { .. }));
        m.del(None, |_| 0).unwrap();
        assert!(m.entries.is_empty());
        assert!(m.dump().contains("allocated option space=0"));
    }

    #[test]
    fn options_round_trip_and_unknown_critical_ones_are_refused() {
        let m = map("{class=0xffff,type=0,len=4}->tun_metadata0,{class=0x102,type=0x80,len=8}->tun_metadata3");
        let mut md = TunMetadata::default();
        md.set(3, 0x0102_0304_0506_0708);
        md.set(0, 0x1234);
        let opts = m.encode(&md);
        // Field order: tun_metadata0's option first.
        assert_eq!(&opts.as_bytes()[..8], &[0xff, 0xff, 0, 1, 0, 0, 0x12, 0x34]);
        assert_eq!(m.decode(opts.as_bytes()), Ok(md));
        // A map without tun_metadata3's option: it is critical (0x80).
        let other = map("{class=0xffff,type=0,len=4}->tun_metadata0");
        assert_eq!(
            other.decode(opts.as_bytes()),
            Err(UnknownCritical {
                class: 0x102,
                kind: 0x80
            })
        );
        // A non-critical unknown option is skipped.
        let mut plain = GeneveOptsBuf::default();
        plain.push(0x999, 0x01, &[0, 0, 0, 1]).unwrap();
        plain.push(0xffff, 0, &[0, 0, 0, 7]).unwrap();
        let got = other.decode(plain.as_bytes()).unwrap();
        assert_eq!(got.iter().collect::<Vec<_>>(), vec![(0, 7)]);
        // Same class and type with another length is not the mapped option.
        let mut wrong = GeneveOptsBuf::default();
        wrong.push(0xffff, 0, &[0; 8]).unwrap();
        assert_eq!(other.decode(wrong.as_bytes()).unwrap().present, 0);
    }
}
