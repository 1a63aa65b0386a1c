//! Parsing ovs-ofctl flow strings (ovs-ofctl(8), "Flow Syntax"; field
//! values as ovs-fields(7) describes them).
//!
//! A flow is a list of `key=value` (or bare `key`) tokens separated by
//! commas and/or white space, followed by `actions=...` which takes the rest
//! of the string. As in OVS, the statistics that `dump-flows` prints
//! (`duration`, `n_packets`, `n_bytes`, `idle_age`, `hard_age`) are accepted
//! and ignored so that dump output can be fed back.

use crate::actions::{port, FlowMod};
use crate::error::ParseError;
use crate::fields::{ct_state, ones, prefix_mask, Field, FieldRef, Fmt, TCP_FLAG_NAMES};
use crate::matching::{Match, SHORTHANDS};
use packet::flowkey::VLAN_CFI;
use std::net::{Ipv4Addr, Ipv6Addr};

/// A parsed flow plus the normalization warnings (fields dropped because
/// their prerequisites are missing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub flow: FlowMod,
    pub warnings: Vec<String>,
}

/// Parses an `add-flow` string (actions required).
pub fn parse_flow(s: &str) -> Result<Parsed, ParseError> {
    parse_flow_inner(s, true)
}

/// Parses a flow filter (`del-flows`, `dump-flows`): actions not allowed.
pub fn parse_filter(s: &str) -> Result<Parsed, ParseError> {
    parse_flow_inner(s, false)
}

/// Parses a packet description as `ofproto/trace` takes it (a flow string of
/// exact field values, e.g. `in_port=1,dl_src=...,dl_dst=...`).
pub fn parse_packet(s: &str) -> Result<crate::Packet, ParseError> {
    let (m, _) = parse_match_tokens(s, false)?;
    if let Some(tok) = masked_token(s) {
        return Err(ParseError::new(
            tok,
            "a packet takes exact values, not masks",
        ));
    }
    // A field whose prerequisites the packet lacks (e.g. `tp_dst` without
    // `tcp`) cannot be in the frame (ovs-fields(7) "Field Prerequisites"):
    // reject it rather than trace a packet no extraction could produce.
    let mut norm = m;
    if let Some(why) = norm.normalize().into_iter().next() {
        let tok = tokens(s)?
            .into_iter()
            .find(|(k, _)| Field::from_name(k).is_some_and(|f| m.has(f) && !norm.has(f)))
            .map_or_else(
                || s.to_string(),
                |(k, v)| format!("{k}={}", v.unwrap_or_default()),
            );
        return Err(ParseError::new(tok, why));
    }
    Ok(crate::Packet::from_words(&m.as_packet_words()))
}

fn masked_token(s: &str) -> Option<String> {
    tokens(s).ok()?.into_iter().find_map(|(k, v)| {
        let v = v?;
        (v.contains('/') && k != "cookie").then(|| format!("{k}={v}"))
    })
}

/// Splits `key=value` tokens separated by commas or white space. Values may
/// contain balanced parentheses and brackets. Returns `(key, value)`.
pub(crate) fn tokens(s: &str) -> Result<Vec<(String, Option<String>)>, ParseError> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let is_delim = |c: u8| c == b',' || c.is_ascii_whitespace();
    while i < b.len() {
        while i < b.len() && is_delim(b[i]) {
            i += 1;
        }
        if i >= b.len() {
            break;
        }
        let ks = i;
        while i < b.len() && !is_delim(b[i]) && !matches!(b[i], b'=' | b':' | b'(') {
            i += 1;
        }
        let key = s[ks..i].to_string();
        if key.is_empty() {
            return Err(ParseError::new(
                &s[ks..],
                "missing key before '=', ':' or '('",
            ));
        }
        if i < b.len() && b[i] == b'(' {
            let (inner, end) = balanced(s, i).map_err(|e| ParseError::new(&s[ks..], e.reason))?;
            out.push((key, Some(inner.to_string())));
            i = end;
            continue;
        }
        if i < b.len() && (b[i] == b'=' || b[i] == b':') {
            i += 1;
            let vs = i;
            let mut depth = 0i32;
            while i < b.len() && !(depth == 0 && is_delim(b[i])) {
                match b[i] {
                    b'(' | b'[' => depth += 1,
                    b')' | b']' => depth -= 1,
                    _ => {}
                }
                i += 1;
            }
            if depth != 0 {
                return Err(ParseError::new(
                    &s[ks..i],
                    "unbalanced parentheses or brackets",
                ));
            }
            out.push((key, Some(s[vs..i].to_string())));
        } else {
            out.push((key, None));
        }
    }
    Ok(out)
}

/// Given `s[open] == '('`, returns the inside and the index after `)`.
pub(crate) fn balanced(s: &str, open: usize) -> Result<(&str, usize), ParseError> {
    let b = s.as_bytes();
    let mut depth = 0;
    for (j, &c) in b.iter().enumerate().skip(open) {
        match c {
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth == 0 {
                    return Ok((&s[open + 1..j], j + 1));
                }
            }
            _ => {}
        }
    }
    Err(ParseError::new(&s[open..], "missing ')'"))
}

/// Parses an unsigned integer in decimal or `0x` hex, up to `bits` bits.
pub fn parse_uint(s: &str, bits: u8) -> Result<u128, String> {
    let v = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u128::from_str_radix(h, 16)
    } else {
        s.parse::<u128>()
    }
    .map_err(|_| format!("{s:?} is not a number"))?;
    if v > ones(bits) {
        return Err(format!("{s} does not fit in {bits} bits"));
    }
    Ok(v)
}

fn parse_mac(s: &str) -> Result<u128, String> {
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != 6 {
        return Err(format!(
            "{s:?} is not an Ethernet address (xx:xx:xx:xx:xx:xx)"
        ));
    }
    let mut v = 0u128;
    for p in parts {
        let o = u8::from_str_radix(p, 16).map_err(|_| format!("{s:?}: bad octet {p:?}"))?;
        if p.is_empty() || p.len() > 2 {
            return Err(format!("{s:?}: bad octet {p:?}"));
        }
        v = v << 8 | o as u128;
    }
    Ok(v)
}

/// Parses a port number or a reserved port name (ovs-ofctl(8) "in_port").
pub fn parse_port(s: &str) -> Result<u32, String> {
    let named = match s.to_ascii_uppercase().as_str() {
        "IN_PORT" => Some(port::IN_PORT),
        "TABLE" => Some(port::TABLE),
        "NORMAL" => Some(port::NORMAL),
        "FLOOD" => Some(port::FLOOD),
        "ALL" => Some(port::ALL),
        "CONTROLLER" => Some(port::CONTROLLER),
        "LOCAL" => Some(port::LOCAL),
        "NONE" | "ANY" => Some(port::NONE),
        _ => None,
    };
    if let Some(p) = named {
        return Ok(p);
    }
    let v = parse_uint(s, 32)? as u32;
    Ok(v)
}

fn parse_flags(s: &str, names: &[(&str, u32)], field: &str) -> Result<(u128, u128), String> {
    // "+a-b+c" form (also accepts a single "a" or "a|b" meaning all +).
    let mut v = 0u32;
    let mut m = 0u32;
    let mut rest = s;
    if !s.starts_with('+') && !s.starts_with('-') {
        for n in s.split('|') {
            let bit = names
                .iter()
                .find(|(x, _)| *x == n)
                .map(|(_, b)| *b)
                .ok_or_else(|| format!("unknown {field} flag {n:?}"))?;
            v |= bit;
            m |= bit;
        }
        return Ok((v as u128, m as u128));
    }
    while !rest.is_empty() {
        let sign = rest.as_bytes()[0];
        if sign != b'+' && sign != b'-' {
            return Err(format!("{s:?}: expected '+' or '-' before each flag"));
        }
        let end = rest[1..]
            .find(['+', '-'])
            .map(|e| e + 1)
            .unwrap_or(rest.len());
        let n = &rest[1..end];
        let bit = names
            .iter()
            .find(|(x, _)| *x == n)
            .map(|(_, b)| *b)
            .ok_or_else(|| format!("unknown {field} flag {n:?}"))?;
        if m & bit != 0 {
            return Err(format!("{field} flag {n:?} given twice"));
        }
        m |= bit;
        if sign == b'+' {
            v |= bit;
        }
        rest = &rest[end..];
    }
    Ok((v as u128, m as u128))
}

/// Parses a field value with an optional `/mask` (ovs-fields(7) formats).
pub fn parse_field_value(field: Field, s: &str) -> Result<(u128, u128), String> {
    let info = field.info();
    let full = field.full_mask();
    match info.fmt {
        Fmt::CtState => {
            if s.starts_with("0x") || s.as_bytes().first().is_some_and(u8::is_ascii_digit) {
                return parse_num_masked(s, 32);
            }
            let names: Vec<(&str, u32)> = ct_state::NAMES.to_vec();
            return parse_flags(s, &names, "ct_state");
        }
        Fmt::TcpFlags => {
            if s.starts_with("0x") || s.as_bytes().first().is_some_and(u8::is_ascii_digit) {
                return parse_num_masked(s, 12);
            }
            return parse_flags(s, &TCP_FLAG_NAMES, "tcp_flags");
        }
        Fmt::TunFlags => {
            if s.starts_with("0x") || s.as_bytes().first().is_some_and(u8::is_ascii_digit) {
                return parse_num_masked(s, 16);
            }
            return parse_flags(s, &crate::tun_md::TUN_FLAG_NAMES, "tun_flags");
        }
        Fmt::Frag => {
            use packet::flowkey::{FRAG_ANY, FRAG_LATER};
            let (a, l) = (FRAG_ANY as u128, FRAG_LATER as u128);
            return Ok(match s {
                "no" => (0, a),
                "yes" => (a, a),
                "first" => (a, a | l),
                "later" => (a | l, a | l),
                "not_later" => (0, l),
                _ => {
                    return Err(format!(
                        "{s:?}: expected no, yes, first, later or not_later"
                    ))
                }
            });
        }
        _ => {}
    }
    let (vs, ms) = match s.split_once('/') {
        Some((v, m)) => (v, Some(m)),
        None => (s, None),
    };
    if ms.is_some() && !info.maskable {
        return Err(format!("{} does not take a mask", info.name));
    }
    let parse_one = |x: &str| -> Result<u128, String> {
        match info.fmt {
            Fmt::Mac => parse_mac(x),
            Fmt::Ipv4 => x
                .parse::<Ipv4Addr>()
                .map(|a| u32::from(a) as u128)
                .map_err(|_| format!("{x:?} is not an IPv4 address")),
            Fmt::Ipv6 => x
                .parse::<Ipv6Addr>()
                .map(u128::from)
                .map_err(|_| format!("{x:?} is not an IPv6 address")),
            Fmt::Port => parse_port(x).map(|p| p as u128),
            _ => parse_uint(x, info.bits),
        }
    };
    let v = parse_one(vs)?;
    let m = match ms {
        None => full,
        Some(m) => match info.fmt {
            Fmt::Ipv4 | Fmt::Ipv6 if !m.contains(['.', ':']) => {
                let n: u8 = m.parse().map_err(|_| format!("bad prefix length {m:?}"))?;
                if n > info.bits {
                    return Err(format!("prefix length {n} is longer than {}", info.bits));
                }
                prefix_mask(n, info.bits)
            }
            _ => parse_one(m)?,
        },
    };
    Ok((v & m, m))
}

fn parse_num_masked(s: &str, bits: u8) -> Result<(u128, u128), String> {
    match s.split_once('/') {
        Some((v, m)) => {
            let (v, m) = (parse_uint(v, bits)?, parse_uint(m, bits)?);
            Ok((v & m, m))
        }
        None => Ok((parse_uint(s, bits)?, ones(bits))),
    }
}

/// Applies one `field=value` to a match, handling the VLAN views the way
/// ovs-fields(7) describes (`dl_vlan=N` also requires a tag to be present;
/// `dl_vlan=0xffff` means "no tag").
pub(crate) fn set_match_field(m: &mut Match, field: Field, s: &str) -> Result<(), String> {
    match field {
        Field::DlVlan => {
            let v = parse_uint(s, 16)?;
            if v == 0xffff {
                m.set_masked(Field::VlanTci, 0, 0xffff);
            } else if v > 0xfff {
                return Err(format!(
                    "{v} is not a VLAN ID (0..4095, or 0xffff for none)"
                ));
            } else {
                m.set_masked(Field::VlanTci, VLAN_CFI as u128 | v, 0x1fff);
            }
        }
        Field::DlVlanPcp => {
            let v = parse_uint(s, 3)?;
            m.set_masked(Field::VlanTci, VLAN_CFI as u128 | v << 13, 0xf000);
        }
        Field::NwTos => {
            // ovs-fields(7): nw_tos matches the DSCP bits only (ECN is nw_ecn).
            let v = parse_uint(s, 8)?;
            if v & 3 != 0 {
                return Err(format!(
                    "{v}: nw_tos takes the DSCP bits only (a multiple of 4)"
                ));
            }
            m.set_masked(Field::NwTos, v, 0xfc);
        }
        Field::TunMetadata(n) => {
            let (v, mask) = parse_field_value(field, s)?;
            crate::tun_md::check_slot_free(&m.mask, n)?;
            m.set_masked(field, v, mask);
        }
        _ => {
            let (v, mask) = parse_field_value(field, s)?;
            m.set_masked(field, v, mask);
        }
    }
    Ok(())
}

fn parse_match_tokens(s: &str, allow_attrs: bool) -> Result<(Match, FlowMod), ParseError> {
    let mut m = Match::catchall();
    let mut fm = FlowMod::default();
    for (k, v) in tokens(s)? {
        let tok = match &v {
            Some(v) => format!("{k}={v}"),
            None => k.clone(),
        };
        let bad = |r: String| ParseError::new(tok.clone(), r);
        if let Some((_, dl_type, proto)) = SHORTHANDS.iter().find(|(n, _, _)| *n == k) {
            if v.is_some() {
                return Err(bad(format!("{k} is a shorthand and takes no value")));
            }
            m.set(Field::DlType, *dl_type as u128);
            if let Some(p) = proto {
                m.set(Field::NwProto, *p as u128);
            }
            continue;
        }
        if k == "rarp" {
            m.set(Field::DlType, 0x8035);
            continue;
        }
        let attr_num = |bits: u8| -> Result<u128, ParseError> {
            let v = v
                .as_deref()
                .ok_or_else(|| bad(format!("{k} needs a value")))?;
            parse_uint(v, bits).map_err(bad)
        };
        match k.as_str() {
            "table" if allow_attrs => fm.table = attr_num(8)? as u8,
            "priority" if allow_attrs => fm.priority = attr_num(16)? as u16,
            "idle_timeout" if allow_attrs => fm.idle_timeout = attr_num(16)? as u16,
            "hard_timeout" if allow_attrs => fm.hard_timeout = attr_num(16)? as u16,
            "importance" if allow_attrs => fm.importance = attr_num(16)? as u16,
            "cookie" if allow_attrs => {
                let v = v
                    .as_deref()
                    .ok_or_else(|| bad("cookie needs a value".into()))?;
                let (c, cm) = match v.split_once('/') {
                    Some((c, "-1")) => (parse_uint(c, 64).map_err(bad)?, u64::MAX as u128),
                    Some((c, cm)) => (
                        parse_uint(c, 64).map_err(bad)?,
                        parse_uint(cm, 64).map_err(bad)?,
                    ),
                    None => (parse_uint(v, 64).map_err(bad)?, 0),
                };
                fm.cookie = c as u64;
                fm.cookie_mask = cm as u64;
            }
            "out_port" if allow_attrs => {
                let v = v
                    .as_deref()
                    .ok_or_else(|| bad("out_port needs a value".into()))?;
                fm.out_port = Some(parse_port(v).map_err(bad)?);
            }
            "send_flow_rem" if allow_attrs => fm.flags.send_flow_rem = true,
            "check_overlap" if allow_attrs => fm.flags.check_overlap = true,
            "reset_counts" if allow_attrs => fm.flags.reset_counts = true,
            "no_packet_counts" if allow_attrs => fm.flags.no_packet_counts = true,
            "no_byte_counts" if allow_attrs => fm.flags.no_byte_counts = true,
            "duration" | "n_packets" | "n_bytes" | "idle_age" | "hard_age" if allow_attrs => {}
            _ => {
                let field =
                    Field::from_name(&k).ok_or_else(|| bad("unknown field or keyword".into()))?;
                let v = v
                    .as_deref()
                    .ok_or_else(|| bad(format!("{k} needs a value")))?;
                set_match_field(&mut m, field, v).map_err(bad)?;
            }
        }
    }
    Ok((m, fm))
}

/// Finds where `actions=` starts (OVS's `ofp_extract_actions`): the first
/// `actions` key at token start, followed by `=` or `:`.
fn split_actions(s: &str) -> Option<(&str, &str)> {
    let mut search = 0;
    while let Some(pos) = s[search..].find("actions") {
        let at = search + pos;
        let before_ok =
            at == 0 || s.as_bytes()[at - 1] == b',' || s.as_bytes()[at - 1].is_ascii_whitespace();
        let after = s.as_bytes().get(at + 7);
        if before_ok && matches!(after, Some(b'=') | Some(b':')) {
            return Some((&s[..at], &s[at + 8..]));
        }
        search = at + 7;
    }
    None
}

fn parse_flow_inner(s: &str, want_actions: bool) -> Result<Parsed, ParseError> {
    let (match_part, act_part) = match split_actions(s) {
        Some((m, a)) => (m, Some(a)),
        None => (s, None),
    };
    let (mut m, mut fm) = parse_match_tokens(match_part, true)?;
    if want_actions {
        // ovs-ofctl(8): `out_port` and a cookie mask select flows for
        // del-flows/dump-flows; an added flow has neither (OVS: "flow
        // additions cannot use a cookie mask").
        let filter_only = |key: &str, why: &str| -> ParseError {
            let tok = tokens(match_part)
                .ok()
                .and_then(|t| t.into_iter().rev().find(|(k, _)| k == key))
                .map_or_else(
                    || key.to_string(),
                    |(k, v)| format!("{k}={}", v.unwrap_or_default()),
                );
            ParseError::new(tok, why)
        };
        if fm.out_port.is_some() {
            return Err(filter_only(
                "out_port",
                "out_port only filters del-flows/dump-flows; an added flow has none",
            ));
        }
        if fm.cookie_mask != 0 {
            return Err(filter_only(
                "cookie",
                "flow additions cannot use a cookie mask",
            ));
        }
    }
    match (want_actions, act_part) {
        (true, None) => return Err(ParseError::new(s, "must specify an action (actions=...)")),
        (false, Some(_)) => return Err(ParseError::new("actions", "actions are not allowed here")),
        (true, Some(a)) => fm.actions = crate::parse_actions::parse_actions(a)?,
        (false, None) => {}
    }
    let warnings = m.normalize();
    fm.matches = m;
    Ok(Parsed { flow: fm, warnings })
}

/// Parses a field reference `NAME[]`, `NAME[i]` or `NAME[a..b]`
/// (ovs-actions(7), "Field Specifications"). A bare name means the whole
/// field when `bare_ok`.
pub fn parse_field_ref(s: &str, bare_ok: bool) -> Result<FieldRef, ParseError> {
    let (name, range) = match s.find('[') {
        Some(i) => {
            let r = s[i + 1..]
                .strip_suffix(']')
                .ok_or_else(|| ParseError::new(s, "missing ']'"))?;
            (&s[..i], Some(r))
        }
        None if bare_ok => (s, None),
        None => {
            return Err(ParseError::new(
                s,
                "expected a field reference like NAME[] or NAME[0..11]",
            ))
        }
    };
    let field = Field::from_name(name)
        .ok_or_else(|| ParseError::new(s, format!("unknown field {name:?}")))?;
    let bits = field.bits();
    let (ofs, end) = match range {
        None | Some("") => (0u32, bits as u32 - 1),
        Some(r) => {
            let num = |x: &str| {
                x.parse::<u32>()
                    .map_err(|_| ParseError::new(s, format!("bad bit index {x:?}")))
            };
            match r.split_once("..") {
                Some((a, b)) => (num(a)?, num(b)?),
                None => {
                    let a = num(r)?;
                    (a, a)
                }
            }
        }
    };
    if ofs > end || end >= bits as u32 {
        return Err(ParseError::new(
            s,
            format!("bit range {ofs}..{end} is outside the {bits}-bit field"),
        ));
    }
    Ok(FieldRef {
        field,
        ofs: ofs as u8,
        nbits: (end - ofs + 1) as u8,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_split_on_commas_spaces_and_keep_parens() {
        let t = tokens("a=1, b  c:2,d(x,y),e=f(g,h)").unwrap();
        let keys: Vec<_> = t.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["a", "b", "c", "d", "e"]);
        assert_eq!(t[3].1.as_deref(), Some("x,y"));
        assert_eq!(t[4].1.as_deref(), Some("f(g,h)"));
    }

    #[test]
    fn unspaced_seed_line_is_rejected_naming_the_token() {
        let e =
            parse_flow("hard_timeout=0 idle_timeout=0 priority=1table=21dl_vlan=1 actions=drop")
                .unwrap_err();
        assert_eq!(e.token, "priority=1table=21dl_vlan=1");
    }

    #[test]
    fn masks_and_prefixes() {
        let (v, m) = parse_field_value(Field::NwSrc, "10.1.2.3/24").unwrap();
        assert_eq!((v, m), (0x0a01_0200, 0xffff_ff00));
        let (v, m) = parse_field_value(Field::NwSrc, "10.1.2.3/255.0.255.0").unwrap();
        assert_eq!((v, m), (0x0a00_0200, 0xff00_ff00));
        assert!(parse_field_value(Field::NwSrc, "10.1.2.3/33").is_err());
        assert!(parse_field_value(Field::NwProto, "6/7").is_err());
        let (v, m) = parse_field_value(Field::CtState, "+trk-new").unwrap();
        assert_eq!((v, m), (0x20, 0x21));
    }

    #[test]
    fn field_refs() {
        let r = parse_field_ref("NXM_OF_VLAN_TCI[0..11]", false).unwrap();
        assert_eq!((r.field, r.ofs, r.nbits), (Field::VlanTci, 0, 12));
        assert!(parse_field_ref("NXM_OF_VLAN_TCI[0..16]", false).is_err());
        assert!(parse_field_ref("NXM_BOGUS[]", false).is_err());
    }
}
