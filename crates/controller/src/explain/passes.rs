//! Reading the switch's `ofproto/trace` text (the `flow` crate's
//! `TraceReport::render` layout) into [`Pass`]es, and following `ct()`
//! recirculations the way `ofproto/trace --ct-next` does (ovs-vswitchd(8)):
//! the packet re-enters at the recirculation's table with the assumed
//! `ct_state`, the zone of the `ct` action, and an explicit
//! `nat(src=…)`/`nat(dst=…)` applied to a new connection.

use super::microflow::Microflow;
use super::verdict::split_actions;
use super::{CtAssume, Hit, Pass};

/// OVS limits recirculations too; a pipeline that needs more is looping.
pub const MAX_PASSES: usize = 8;

/// Leading spaces of a line.
fn indent(l: &str) -> usize {
    l.len() - l.trim_start().len()
}

/// `NN. rest` → (table, rest).
fn table_line(l: &str) -> Option<(u8, &str)> {
    let t = l.trim_start();
    let (n, rest) = t.split_once(". ")?;
    Some((n.parse().ok()?, rest))
}

/// A table line's hit (`match, priority P, cookie C…` or `No match.`).
fn hit(table: u8, rest: &str) -> Hit {
    if rest.starts_with("No match") {
        return Hit {
            table,
            ..Hit::default()
        };
    }
    let (matches, tail) = match rest.split_once(", priority ") {
        Some((m, t)) => (m, t),
        None => ("", rest.trim_start_matches("priority ")),
    };
    let mut parts = tail.split(", ");
    let priority = parts
        .next()
        .and_then(|p| p.split_whitespace().next())
        .and_then(|p| p.parse().ok());
    let cookie = parts
        .find_map(|p| p.strip_prefix("cookie 0x"))
        .and_then(|c| u64::from_str_radix(c.split_whitespace().next().unwrap_or(""), 16).ok())
        .unwrap_or(0);
    Hit {
        table,
        priority,
        cookie,
        matches: matches.to_string(),
        actions: Vec::new(),
    }
}

/// One `ofproto/trace` output → a pass, and the final flow text.
pub fn parse_pass(text: &str, flow: &str, ct: Option<String>) -> (Pass, String) {
    let mut pass = Pass {
        flow: flow.to_string(),
        ct,
        ..Pass::default()
    };
    let mut final_flow = String::new();
    // (depth of the table line's actions, index in hits)
    let mut open: Vec<(usize, usize)> = Vec::new();
    for l in text.lines() {
        if let Some(v) = l.strip_prefix("Datapath actions: ") {
            pass.datapath_actions = v.trim().to_string();
            continue;
        }
        if let Some(v) = l.strip_prefix("Final flow: ") {
            final_flow = v.trim().to_string();
            continue;
        }
        if l.trim().is_empty() || !l.starts_with(' ') && table_line(l).is_none() {
            continue;
        }
        let ind = indent(l);
        if let Some((table, rest)) = table_line(l) {
            // The table field is two wide: one pad space below table 10.
            let pad = usize::from(table < 10);
            let depth = ind.saturating_sub(pad) / 4;
            open.retain(|(d, _)| *d <= depth);
            pass.hits.push(hit(table, rest));
            open.push((depth + 1, pass.hits.len() - 1));
            continue;
        }
        let depth = ind / 4;
        if let Some(&(_, i)) = open.iter().rev().find(|(d, _)| *d == depth) {
            pass.hits[i].actions.push(l.trim().to_string());
        }
    }
    (pass, final_flow)
}

/// `nat(dst=A)` / `nat(src=A)` of the `ct(…,table=…)` action that
/// recirculated, if any: (is source, address).
fn nat_of(pass: &Pass) -> Option<(bool, String)> {
    let ct = pass
        .hits
        .iter()
        .flat_map(|h| &h.actions)
        .find(|a| a.starts_with("ct(") && a.contains("table="))?;
    for (key, src) in [("nat(dst=", false), ("nat(src=", true)] {
        if let Some(i) = ct.find(key) {
            let a: String = ct[i + key.len()..]
                .chars()
                .take_while(|c| c.is_ascii_hexdigit() || *c == '.' || *c == ':')
                .collect();
            // A port range after the address (`A:P-Q`) is not part of it
            // for IPv4.
            let a = a.split(':').next().unwrap_or("").to_string();
            return Some((src, a));
        }
    }
    None
}

/// The packet of the next pass, if `pass` recirculated.
pub fn next_flow(pass: &Pass, final_flow: &str, ct: CtAssume) -> Option<(String, String)> {
    let acts = split_actions(&pass.datapath_actions);
    let pos = acts.iter().position(|a| a.starts_with("recirc("))?;
    let recirc = acts[pos]
        .trim_start_matches("recirc(")
        .trim_end_matches(')');
    let zone = acts[..pos]
        .iter()
        .rev()
        .find(|a| a.starts_with("ct("))
        .and_then(|a| {
            a.split(['(', ',', ')'])
                .find_map(|p| p.strip_prefix("zone="))
        })
        .unwrap_or("0")
        .to_string();
    let mut m = Microflow::parse(final_flow);
    m.set("recirc_id", recirc);
    m.set("ct_state", ct.flags());
    m.set("ct_zone", zone.as_str());
    if ct == CtAssume::Est {
        reply_tuple(&mut m);
    }
    if ct == CtAssume::New {
        if let Some((src, a)) = nat_of(pass) {
            m.set(if src { "nw_src" } else { "nw_dst" }, a);
        }
    }
    Some((m.to_string(), format!("{} in zone {zone}", ct.flags())))
}

/// An established packet is traced as a reply: the connection's original
/// tuple (`ct_nw_src`…, ovs-fields(7) "Connection Tracking Fields") is the
/// packet's reversed, which is what the ACL stages check replies by
/// (crate::acl).
fn reply_tuple(m: &mut Microflow) {
    let v6 =
        m.has("ipv6_src") || m.has("ipv6_dst") || m.protocol().is_some_and(|p| p.ends_with('6'));
    let (src, dst, cs, cd) = if v6 {
        ("ipv6_src", "ipv6_dst", "ct_ipv6_src", "ct_ipv6_dst")
    } else {
        ("nw_src", "nw_dst", "ct_nw_src", "ct_nw_dst")
    };
    let proto = match m.protocol() {
        Some("tcp" | "tcp6") => Some("6"),
        Some("udp" | "udp6") => Some("17"),
        Some("sctp" | "sctp6") => Some("132"),
        Some("icmp") => Some("1"),
        Some("icmp6") => Some("58"),
        _ => None,
    };
    let pairs = [
        (dst, cs),
        (src, cd),
        ("tp_dst", "ct_tp_src"),
        ("tp_src", "ct_tp_dst"),
    ];
    let vals: Vec<(&str, String)> = pairs
        .iter()
        .filter_map(|(f, c)| m.get(f).map(|v| (*c, v.to_string())))
        .collect();
    for (c, v) in vals {
        m.set(c, v);
    }
    if let Some(p) = proto
        .map(str::to_string)
        .or_else(|| m.get("nw_proto").map(str::to_string))
    {
        m.set("ct_nw_proto", p);
    }
}

/// Trace `flow` through the switch (`trace` runs `ofproto/trace` on the
/// bridge), following recirculations.
pub fn run<E>(
    flow: &str,
    ct: CtAssume,
    mut trace: impl FnMut(&str) -> Result<String, E>,
) -> Result<Vec<Pass>, E> {
    let mut passes = Vec::new();
    let (mut cur, mut note) = (flow.to_string(), None);
    for _ in 0..MAX_PASSES {
        let text = trace(&cur)?;
        let (pass, fin) = parse_pass(&text, &cur, note.take());
        let next = next_flow(&pass, &fin, ct);
        passes.push(pass);
        match next {
            Some((f, n)) => {
                cur = f;
                note = Some(n);
            }
            None => break,
        }
    }
    Ok(passes)
}
