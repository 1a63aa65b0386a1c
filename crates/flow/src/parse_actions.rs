//! Parsing action lists (ovs-actions(7)).

use crate::actions::*;
use crate::error::ParseError;
use crate::fields::Field;
use crate::parse::{parse_field_ref, parse_field_value, parse_port, parse_uint, tokens};
use std::net::IpAddr;

/// Parses the text after `actions=`. An empty list and `drop` both mean
/// "drop" (ovs-actions(7): "drop ... may not be combined with any other").
pub fn parse_actions(s: &str) -> Result<Vec<Action>, ParseError> {
    let toks = tokens(s)?;
    let mut out = Vec::new();
    let n = toks.len();
    for (i, (k, v)) in toks.into_iter().enumerate() {
        let tok = match &v {
            Some(v) => format!("{k}:{v}"),
            None => k.clone(),
        };
        if k == "drop" {
            if n != 1 {
                return Err(ParseError::new(
                    tok,
                    "drop must not be combined with other actions",
                ));
            }
            continue;
        }
        let a = parse_action(&k, v.as_deref()).map_err(|e| {
            if e.token.is_empty() {
                ParseError::new(tok.clone(), e.reason)
            } else {
                e
            }
        })?;
        if matches!(a, Action::GotoTable(_)) && i + 1 != n {
            return Err(ParseError::new(tok, "goto_table must be the last action"));
        }
        out.push(a);
    }
    crate::conj::check_flow(&crate::Match::catchall(), &out)
        .map_err(|reason| ParseError::new("conjunction", reason))?;
    Ok(out)
}

fn err(reason: impl Into<String>) -> ParseError {
    ParseError::new("", reason)
}

fn need<'a>(k: &str, v: Option<&'a str>) -> Result<&'a str, ParseError> {
    v.filter(|v| !v.is_empty())
        .ok_or_else(|| err(format!("{k} needs an argument")))
}

fn num(s: &str, bits: u8) -> Result<u128, ParseError> {
    parse_uint(s, bits).map_err(err)
}

fn mac(s: &str) -> Result<[u8; 6], ParseError> {
    let (v, _) = parse_field_value(Field::DlSrc, s).map_err(err)?;
    let b = (v as u64).to_be_bytes();
    Ok([b[2], b[3], b[4], b[5], b[6], b[7]])
}

fn ipv4(s: &str) -> Result<u32, ParseError> {
    s.parse::<std::net::Ipv4Addr>()
        .map(u32::from)
        .map_err(|_| err(format!("{s:?} is not an IPv4 address")))
}

fn parse_action(k: &str, v: Option<&str>) -> Result<Action, ParseError> {
    let lower = k.to_ascii_lowercase();
    Ok(match lower.as_str() {
        "output" => {
            let v = need(k, v)?;
            if v.contains('[') {
                Action::OutputReg(parse_field_ref(v, false)?)
            } else {
                Action::Output(parse_port(v).map_err(err)?)
            }
        }
        "in_port" => Action::Output(port::IN_PORT),
        "normal" => Action::Output(port::NORMAL),
        "flood" => Action::Output(port::FLOOD),
        "all" => Action::Output(port::ALL),
        "local" => Action::Output(port::LOCAL),
        "controller" => Action::Controller(parse_controller(v)?),
        "enqueue" => {
            let v = need(k, v)?;
            let (p, q) = v
                .split_once([':', ','])
                .ok_or_else(|| err("enqueue takes PORT:QUEUE"))?;
            Action::Enqueue {
                port: parse_port(p).map_err(err)?,
                queue: num(q, 32)? as u32,
            }
        }
        "resubmit" => parse_resubmit(need(k, v)?)?,
        "goto_table" => Action::GotoTable(num(need(k, v)?, 8)? as u8),
        "mod_vlan_vid" => {
            let vid = num(need(k, v)?, 16)?;
            if vid > 0xfff {
                return Err(err(format!("{vid} is not a VLAN ID (0..4095)")));
            }
            Action::ModVlanVid(vid as u16)
        }
        "mod_vlan_pcp" => Action::ModVlanPcp(num(need(k, v)?, 3)? as u8),
        "push_vlan" => {
            let t = num(need(k, v)?, 16)? as u16;
            if t != 0x8100 && t != 0x88a8 {
                return Err(err(format!("push_vlan takes 0x8100 or 0x88a8, not {t:#x}")));
            }
            Action::PushVlan(t)
        }
        "strip_vlan" | "pop_vlan" => Action::StripVlan,
        "set_tunnel" => {
            // OVS turns a set_tunnel that needs more than 32 bits into set_tunnel64.
            let id = num(need(k, v)?, 64)? as u64;
            Action::SetTunnel {
                id,
                is64: id > u32::MAX as u64,
            }
        }
        "set_tunnel64" => Action::SetTunnel {
            id: num(need(k, v)?, 64)? as u64,
            is64: true,
        },
        "set_field" => {
            let v = need(k, v)?;
            let (val, dst) = v
                .rsplit_once("->")
                .ok_or_else(|| err("set_field takes VALUE->FIELD"))?;
            let field =
                Field::from_name(dst).ok_or_else(|| err(format!("unknown field {dst:?}")))?;
            check_writable(field)?;
            let (value, mask) = match field {
                Field::DlVlan | Field::DlVlanPcp => (num(val, field.bits())?, field.full_mask()),
                _ => parse_field_value(field, val).map_err(err)?,
            };
            Action::SetField { field, value, mask }
        }
        "load" => {
            let v = need(k, v)?;
            let (val, dst) = v
                .split_once("->")
                .ok_or_else(|| err("load takes VALUE->FIELD[..]"))?;
            let dst = parse_field_ref(dst, false)?;
            check_writable(dst.field)?;
            let value = num(val, 128)?;
            if value >> dst.nbits != 0 {
                return Err(err(format!("{val} does not fit in {} bits", dst.nbits)));
            }
            Action::Load { dst, value }
        }
        "move" => {
            let v = need(k, v)?;
            let (src, dst) = v
                .split_once("->")
                .ok_or_else(|| err("move takes SRC[..]->DST[..]"))?;
            let (src, dst) = (parse_field_ref(src, false)?, parse_field_ref(dst, false)?);
            check_writable(dst.field)?;
            if src.nbits != dst.nbits {
                return Err(err(format!(
                    "source is {} bits but destination is {} bits",
                    src.nbits, dst.nbits
                )));
            }
            Action::Move { src, dst }
        }
        "mod_dl_src" => Action::ModDlSrc(mac(need(k, v)?)?),
        "mod_dl_dst" => Action::ModDlDst(mac(need(k, v)?)?),
        "mod_nw_src" => Action::ModNwSrc(ipv4(need(k, v)?)?),
        "mod_nw_dst" => Action::ModNwDst(ipv4(need(k, v)?)?),
        "mod_nw_tos" => {
            let t = num(need(k, v)?, 8)? as u8;
            if t & 3 != 0 {
                return Err(err(
                    "mod_nw_tos takes a DSCP in the upper 6 bits (a multiple of 4)",
                ));
            }
            Action::ModNwTos(t)
        }
        "mod_tp_src" => Action::ModTpSrc(num(need(k, v)?, 16)? as u16),
        "mod_tp_dst" => Action::ModTpDst(num(need(k, v)?, 16)? as u16),
        "dec_ttl" => Action::DecTtl,
        "learn" => Action::Learn(Box::new(parse_learn(v.unwrap_or(""))?)),
        "set_queue" => Action::SetQueue(num(need(k, v)?, 32)? as u32),
        "meter" => Action::Meter(num(need(k, v)?, 32)? as u32),
        "note" => Action::Note(parse_hex_bytes(v.unwrap_or(""))?),
        "ct" => Action::Ct(Box::new(parse_ct(v.unwrap_or(""))?)),
        "ct_clear" => Action::CtClear,
        "conjunction" => Action::Conjunction(parse_conjunction(need(k, v)?)?),
        _ if v.is_none() && k.bytes().all(|c| c.is_ascii_digit()) => {
            Action::Output(parse_port(k).map_err(err)?)
        }
        _ => return Err(err("unknown action")),
    })
}

/// `conjunction(id, k/n)` (ovs-fields(7), "Conjunctive Match Fields").
fn parse_conjunction(v: &str) -> Result<Conjunction, ParseError> {
    let form = "conjunction takes (ID,K/N)";
    let (id, kn) = v.split_once(',').ok_or_else(|| err(form))?;
    let (k, n) = kn.split_once('/').ok_or_else(|| err(form))?;
    let c = Conjunction {
        id: num(id.trim(), 32)? as u32,
        clause: num(k.trim(), 8)? as u8,
        n_clauses: num(n.trim(), 8)? as u8,
    };
    crate::conj::check_conjunction(&c).map_err(err)?;
    Ok(c)
}

fn check_writable(f: Field) -> Result<(), ParseError> {
    if f.info().writable {
        Ok(())
    } else {
        Err(err(format!("field {} is read-only", f.info().name)))
    }
}

fn parse_hex_bytes(s: &str) -> Result<Vec<u8>, ParseError> {
    let clean: String = s.chars().filter(|c| *c != '.').collect();
    if !clean.is_ascii() || !clean.len().is_multiple_of(2) {
        return Err(err(format!("{s:?}: hex bytes must come in pairs")));
    }
    (0..clean.len())
        .step_by(2)
        .map(|i| {
            u8::from_str_radix(&clean[i..i + 2], 16)
                .map_err(|_| err(format!("{s:?} is not hex bytes")))
        })
        .collect()
}

fn parse_resubmit(v: &str) -> Result<Action, ParseError> {
    if !v.contains(',') {
        return Ok(Action::Resubmit {
            port: Some(parse_port(v).map_err(err)?),
            table: None,
            ct: false,
        });
    }
    let parts: Vec<&str> = v.split(',').map(str::trim).collect();
    if parts.len() > 3 {
        return Err(err("resubmit takes ([port],[table][,ct])"));
    }
    let port = match parts[0] {
        "" => None,
        p => Some(parse_port(p).map_err(err)?),
    };
    let table = match parts.get(1).copied().unwrap_or("") {
        "" | "255" => None,
        t => Some(num(t, 8)? as u8),
    };
    let ct = match parts.get(2) {
        None => false,
        Some(&"ct") => true,
        Some(x) => return Err(err(format!("unknown resubmit option {x:?}"))),
    };
    if port.is_none() && table.is_none() {
        return Err(err("resubmit needs a port or a table"));
    }
    Ok(Action::Resubmit { port, table, ct })
}

fn parse_controller(v: Option<&str>) -> Result<ControllerAction, ParseError> {
    let mut c = ControllerAction::default();
    let Some(v) = v else { return Ok(c) };
    if v.bytes().all(|b| b.is_ascii_digit()) && !v.is_empty() {
        c.max_len = num(v, 16)? as u16;
        return Ok(c);
    }
    for (k, val) in tokens(v)? {
        match (k.as_str(), val.as_deref()) {
            ("max_len", Some(x)) => c.max_len = num(x, 16)? as u16,
            ("id", Some(x)) => c.controller_id = num(x, 16)? as u16,
            ("userdata", Some(x)) => c.userdata = parse_hex_bytes(x)?,
            ("pause", None) => c.pause = true,
            ("reason", Some(x)) => {
                c.reason = match x {
                    "action" => ControllerReason::Action,
                    "no_match" => ControllerReason::NoMatch,
                    "invalid_ttl" => ControllerReason::InvalidTtl,
                    _ => return Err(err(format!("unknown controller reason {x:?}"))),
                }
            }
            _ => return Err(err(format!("unknown controller option {k:?}"))),
        }
    }
    Ok(c)
}

/// `learn(...)` (ovs-actions(7), "The learn action").
fn parse_learn(s: &str) -> Result<LearnAction, ParseError> {
    let mut l = LearnAction::default();
    for (k, v) in tokens(s)? {
        let tok = match &v {
            Some(v) => format!("{k}={v}"),
            None => k.clone(),
        };
        let wrap = |e: ParseError| ParseError::new(tok.clone(), e.reason);
        let n = |bits| num(v.as_deref().unwrap_or(""), bits).map_err(wrap);
        match k.as_str() {
            "table" => l.table = n(8)? as u8,
            "priority" => l.priority = n(16)? as u16,
            "idle_timeout" => l.idle_timeout = n(16)? as u16,
            "hard_timeout" => l.hard_timeout = n(16)? as u16,
            "fin_idle_timeout" => l.fin_idle_timeout = n(16)? as u16,
            "fin_hard_timeout" => l.fin_hard_timeout = n(16)? as u16,
            "cookie" => l.cookie = n(64)? as u64,
            "send_flow_rem" => l.send_flow_rem = true,
            "delete_learned" => l.delete_learned = true,
            "limit" => l.limit = n(32)? as u32,
            "load" => {
                let v = v.as_deref().unwrap_or("");
                let (src, dst) = v
                    .split_once("->")
                    .ok_or_else(|| err("load takes SRC->DST[..]"))
                    .map_err(wrap)?;
                let dst = parse_field_ref(dst, false).map_err(wrap)?;
                let src = learn_src(src, dst.nbits).map_err(wrap)?;
                l.specs.push(LearnSpec::Load { dst, src });
            }
            "output" => {
                let src = parse_field_ref(v.as_deref().unwrap_or(""), false).map_err(wrap)?;
                l.specs.push(LearnSpec::Output { src });
            }
            _ => {
                // `dst[..]` alone, `dst[..]=src[..]` or `field=value`.
                let full = match &v {
                    Some(v) => format!("{k}={v}"),
                    None => k.clone(),
                };
                let (d, src) = match full.split_once('=') {
                    Some((d, s)) => (d.to_string(), Some(s.to_string())),
                    None => (full.clone(), None),
                };
                let dst = parse_field_ref(&d, true).map_err(wrap)?;
                let src = match src {
                    None => Src::Field(dst),
                    Some(s) => learn_src(&s, dst.nbits).map_err(wrap)?,
                };
                l.specs.push(LearnSpec::Match { dst, src });
            }
        }
    }
    Ok(l)
}

fn learn_src(s: &str, nbits: u8) -> Result<Src, ParseError> {
    if s.contains('[') || Field::from_name(s).is_some() {
        let r = parse_field_ref(s, true)?;
        if r.nbits != nbits {
            return Err(err(format!(
                "source is {} bits but destination is {nbits}",
                r.nbits
            )));
        }
        return Ok(Src::Field(r));
    }
    // An immediate: a number, or a MAC / IP written as such.
    let v = parse_uint(s, nbits)
        .or_else(|_| parse_field_value(Field::DlSrc, s).map(|x| x.0))
        .or_else(|_| parse_field_value(Field::NwSrc, s).map(|x| x.0))
        .map_err(|_| {
            err(format!(
                "{s:?} is neither a field nor a value of {nbits} bits"
            ))
        })?;
    Ok(Src::Imm(v))
}

/// `ct(...)` (ovs-actions(7), "The ct action").
fn parse_ct(s: &str) -> Result<CtAction, ParseError> {
    let mut c = CtAction::default();
    for (k, v) in tokens(s)? {
        let tok = match &v {
            Some(v) => format!("{k}={v}"),
            None => k.clone(),
        };
        let wrap = |e: ParseError| ParseError::new(tok.clone(), e.reason);
        match (k.as_str(), v.as_deref()) {
            ("commit", None) => c.commit = true,
            ("force", None) => c.force = true,
            ("table", Some(t)) => c.table = Some(num(t, 8).map_err(wrap)? as u8),
            ("zone", Some(z)) => {
                c.zone = Some(if z.contains('[') {
                    let r = parse_field_ref(z, false).map_err(wrap)?;
                    if r.nbits != 16 {
                        return Err(ParseError::new(tok, "zone field must be 16 bits wide"));
                    }
                    CtZone::Field(r)
                } else {
                    CtZone::Imm(num(z, 16).map_err(wrap)? as u16)
                })
            }
            ("alg", Some(a)) => c.alg = Some(a.to_string()),
            ("exec", Some(e)) => {
                let acts = parse_actions(e)?;
                for a in &acts {
                    let ok = match a {
                        Action::SetField { field, .. } => {
                            matches!(field, Field::CtMark | Field::CtLabel)
                        }
                        Action::Load { dst, .. } => {
                            matches!(dst.field, Field::CtMark | Field::CtLabel)
                        }
                        _ => false,
                    };
                    if !ok {
                        return Err(ParseError::new(
                            tok,
                            "exec may only set ct_mark or ct_label",
                        ));
                    }
                }
                c.exec = acts;
            }
            ("nat", x) => c.nat = Some(parse_nat(x.unwrap_or("")).map_err(wrap)?),
            _ => return Err(ParseError::new(tok, "unknown ct option")),
        }
    }
    Ok(c)
}

fn parse_nat(s: &str) -> Result<NatSpec, ParseError> {
    let mut n = NatSpec::default();
    for (k, v) in tokens(s)? {
        match (k.as_str(), v.as_deref()) {
            ("src", r) | ("dst", r) => {
                n.src = Some(k == "src");
                if let Some(r) = r {
                    parse_nat_range(r, &mut n)?;
                }
            }
            ("persistent", None) => n.persistent = true,
            ("random", None) => n.random = true,
            ("hash", None) => n.hash = true,
            _ => return Err(err(format!("unknown nat option {k:?}"))),
        }
    }
    Ok(n)
}

fn parse_nat_range(r: &str, n: &mut NatSpec) -> Result<(), ParseError> {
    // ADDR[-ADDR][:PORT[-PORT]]; IPv6 addresses in brackets.
    let (addrs, ports) = if let Some(rest) = r.strip_prefix('[') {
        let (a, after) = rest
            .split_once(']')
            .ok_or_else(|| err("missing ']' in IPv6 range"))?;
        let a = a.replace("]-[", "-");
        (a, after.strip_prefix(':'))
    } else {
        match r.split_once(':') {
            Some((a, p)) => (a.to_string(), Some(p)),
            None => (r.to_string(), None),
        }
    };
    let (lo, hi) = match addrs.split_once('-') {
        Some((a, b)) => (a.trim_matches(['[', ']']), Some(b.trim_matches(['[', ']']))),
        None => (addrs.as_str(), None),
    };
    let ip = |x: &str| {
        x.parse::<IpAddr>()
            .map_err(|_| err(format!("{x:?} is not an IP address")))
    };
    n.addr_min = Some(ip(lo)?);
    n.addr_max = hi.map(ip).transpose()?;
    if let Some(p) = ports {
        let (a, b) = match p.split_once('-') {
            Some((a, b)) => (a, Some(b)),
            None => (p, None),
        };
        n.port_min = Some(num(a, 16)? as u16);
        n.port_max = b.map(|b| num(b, 16).map(|x| x as u16)).transpose()?;
    }
    Ok(())
}
