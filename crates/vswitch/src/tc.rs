//! `cloudnet tc`: the subset of tc(8) the seed uses, applied to the
//! switch's own ports (not the kernel): an HTB tree with leaf pfifo / SFQ
//! qdiscs and u32 filters, or a single root SFQ / TBF / pfifo_fast.
//!
//! ```text
//! tc qdisc add dev PORT root handle 1: htb [default MINOR] [r2q N]
//! tc qdisc add dev PORT root [handle 1:] (sfq [perturb S] [quantum B] [limit N]
//!                            | tbf rate R burst B (latency T | limit B) | pfifo_fast)
//! tc qdisc add dev PORT parent 1:MINOR [handle H:] (pfifo [limit N] | sfq [...])
//! tc qdisc del dev PORT root
//! tc class add|change dev PORT parent 1:[MINOR] classid 1:MINOR htb rate R
//!          [ceil R] [burst B] [cburst B] [prio P] [quantum B]
//! tc filter add dev PORT [protocol ip] parent 1:[0] [prio N] u32
//!          (match ip (src|dst) A[/LEN] | match ip (sport|dport|protocol|tos) V M)...
//!          (flowid|classid) 1:MINOR
//! tc [-s] (qdisc|class|filter) show dev PORT
//! ```
//!
//! Units follow tc(8) (`100kbps` is 100 kilobytes/s; see `qos::units`);
//! class minors are hexadecimal as in tc (`1:10` is 0x10, `default 12` is
//! class 1:12). A port's tree is stored in the switch database as the list
//! of commands that built it, replayed (and so validated) on every change;
//! when a port has a tree it takes precedence over its OVS QoS row.

use std::fmt::Write as _;
use std::net::Ipv4Addr;

use qos::tbf::TbfLimit;
use qos::units::{parse_rate, parse_size, parse_time};
use qos::{ClassConfig, SfqConfig, TbfConfig};
use serde::{Deserialize, Serialize};

use crate::qos_spec::{ClassSpec, EgressSpec, Filter, HtbSpec, LeafSpec};

/// A port's tc tree: the commands that built it, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TcTree {
    /// Each an argument list after `tc` (`qdisc add dev P root ...`).
    pub commands: Vec<Vec<String>>,
}

/// A tc command that cannot be applied; names the offending token.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TcError {
    /// Wrong or missing word.
    #[error("tc: expected {want} {at}")]
    Expected {
        /// What was expected.
        want: &'static str,
        /// Where (the token seen, or "at the end").
        at: String,
    },
    /// A value that does not parse.
    #[error("tc: invalid {what} {token:?}: {why}")]
    Bad {
        /// What the value is.
        what: &'static str,
        /// The token.
        token: String,
        /// Why.
        why: String,
    },
    /// An operation the tree does not allow (missing parent, …).
    #[error("tc: {0}")]
    Tree(String),
}

fn expected(want: &'static str, tok: Option<&str>) -> TcError {
    TcError::Expected {
        want,
        at: tok.map_or_else(|| "at the end".to_owned(), |t| format!("at {t:?}")),
    }
}

fn bad(what: &'static str, token: &str, why: impl ToString) -> TcError {
    TcError::Bad {
        what,
        token: token.to_owned(),
        why: why.to_string(),
    }
}

/// What a parsed tc command line asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TcCommand {
    /// add / change / del: the port and the words after `dev PORT`.
    Change {
        /// The port.
        dev: String,
        /// The full argument list (stored in the tree).
        args: Vec<String>,
        /// `qdisc del dev P root`.
        delete_root: bool,
    },
    /// `[-s] OBJECT show dev PORT`.
    Show {
        /// `qdisc`, `class` or `filter`.
        object: String,
        /// The port.
        dev: String,
        /// `-s`.
        stats: bool,
    },
}

/// Parses the command line just enough to route it.
pub fn parse(args: &[String]) -> Result<TcCommand, TcError> {
    let mut it = args.iter().map(String::as_str).peekable();
    let mut stats = false;
    while let Some(o) = it.peek().filter(|a| a.starts_with('-')) {
        match *o {
            "-s" | "-stats" | "-statistics" => stats = true,
            other => return Err(bad("option", other, "only -s is supported")),
        }
        it.next();
    }
    let rest: Vec<String> = it.map(str::to_owned).collect();
    let object = rest.first().map(String::as_str);
    if !matches!(object, Some("qdisc" | "class" | "filter")) {
        return Err(expected("qdisc, class or filter", object));
    }
    let verb = rest.get(1).map(String::as_str);
    let dev = match (rest.get(2).map(String::as_str), rest.get(3)) {
        (Some("dev"), Some(d)) => d.clone(),
        (t, _) => return Err(expected("dev PORT", t)),
    };
    match verb {
        Some("show" | "list" | "ls") => Ok(TcCommand::Show {
            object: rest[0].clone(),
            dev,
            stats,
        }),
        Some("add" | "change" | "replace" | "del" | "delete") => Ok(TcCommand::Change {
            delete_root: rest[0] == "qdisc"
                && matches!(verb, Some("del" | "delete"))
                && rest.get(4).map(String::as_str) == Some("root"),
            dev,
            args: rest,
        }),
        v => Err(expected("add, change, del or show", v)),
    }
}

/// `MAJOR:MINOR` (hex) → minor; `1:` → 0.
fn handle(tok: &str) -> Result<u32, TcError> {
    let (maj, min) = tok
        .split_once(':')
        .ok_or_else(|| bad("handle", tok, "expected MAJOR:MINOR"))?;
    if maj.is_empty() || u16::from_str_radix(maj, 16).is_err() {
        return Err(bad("handle", tok, "major must be hexadecimal"));
    }
    if min.is_empty() {
        return Ok(0);
    }
    u32::from_str_radix(min, 16)
        .ok()
        .filter(|m| *m <= 0xffff)
        .ok_or_else(|| bad("handle", tok, "minor must be hexadecimal 0..ffff"))
}

#[derive(Default)]
enum Root {
    #[default]
    None,
    Htb {
        default: Option<u32>,
        r2q: Option<u64>,
    },
    Single(EgressSpec),
}

/// The tree being replayed.
#[derive(Default)]
struct Model {
    root: Root,
    classes: Vec<ClassSpec>,
    filters: Vec<Filter>,
}

/// Key/value words after a keyword: `rate 1mbit ceil 2mbit`.
fn pairs(words: &[String]) -> Result<Vec<(&str, &str)>, TcError> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let k = words[i].as_str();
        let v = words
            .get(i + 1)
            .ok_or_else(|| expected("a value", Some(k)))?;
        out.push((k, v.as_str()));
        i += 2;
    }
    Ok(out)
}

fn num<T: std::str::FromStr>(what: &'static str, v: &str) -> Result<T, TcError> {
    v.parse().map_err(|_| bad(what, v, "not a number in range"))
}

fn sfq(words: &[String]) -> Result<SfqConfig, TcError> {
    let mut c = SfqConfig::default();
    for (k, v) in pairs(words)? {
        match k {
            "perturb" => c.perturb = num::<u64>("perturb", v)?.saturating_mul(1_000_000_000),
            "quantum" => c.quantum = parse_size(v).map_err(|e| bad("quantum", v, e))? as u32,
            "limit" => c.limit = num("limit", v)?,
            "depth" => c.depth = num("depth", v)?,
            "divisor" => c.divisor = num("divisor", v)?,
            "flows" => c.flows = num("flows", v)?,
            _ => {
                return Err(expected(
                    "perturb, quantum, limit, depth, divisor or flows",
                    Some(k),
                ))
            }
        }
    }
    Ok(c)
}

fn tbf(words: &[String]) -> Result<TbfConfig, TcError> {
    let (mut rate, mut burst, mut limit) = (None, None, None);
    for (k, v) in pairs(words)? {
        match k {
            "rate" => rate = Some(parse_rate(v).map_err(|e| bad("rate", v, e))?.bps()),
            "burst" | "buffer" | "maxburst" => {
                burst = Some(parse_size(v).map_err(|e| bad("burst", v, e))?)
            }
            "limit" => {
                limit = Some(TbfLimit::Bytes(
                    parse_size(v).map_err(|e| bad("limit", v, e))?,
                ))
            }
            "latency" => {
                limit = Some(TbfLimit::Latency(
                    parse_time(v).map_err(|e| bad("latency", v, e))?,
                ))
            }
            _ => return Err(expected("rate, burst, limit or latency", Some(k))),
        }
    }
    Ok(TbfConfig {
        rate_bps: rate.ok_or_else(|| expected("rate", None))?,
        burst: burst.ok_or_else(|| expected("burst", None))?,
        limit: limit.ok_or_else(|| expected("limit or latency", None))?,
    })
}

fn class_cfg(words: &[String], old: Option<ClassConfig>) -> Result<ClassConfig, TcError> {
    let mut rate = old.map(|c| c.rate);
    let mut c = old.unwrap_or(ClassConfig::new(qos::Rate::from_bps(1).expect("1 > 0")));
    for (k, v) in pairs(words)? {
        let r = || parse_rate(v).map_err(|e| bad("rate", v, e));
        let s = || parse_size(v).map_err(|e| bad("size", v, e));
        match k {
            "rate" => rate = Some(r()?),
            "ceil" => c.ceil = Some(r()?),
            "burst" | "buffer" | "maxburst" => c.burst = Some(s()?),
            "cburst" | "cbuffer" => c.cburst = Some(s()?),
            "quantum" => c.quantum = Some(s()?),
            "prio" => c.prio = num("prio", v)?,
            _ => {
                return Err(expected(
                    "rate, ceil, burst, cburst, prio or quantum",
                    Some(k),
                ))
            }
        }
    }
    c.rate = rate.ok_or_else(|| expected("rate", None))?;
    if let Some(ceil) = c.ceil {
        if ceil.bps() < c.rate.bps() {
            return Err(TcError::Tree(format!(
                "ceil {ceil} is below rate {}",
                c.rate
            )));
        }
    }
    if c.prio > 7 {
        return Err(bad("prio", &c.prio.to_string(), "must be 0..7"));
    }
    Ok(c)
}

fn ip_prefix(v: &str) -> Result<(u32, u32), TcError> {
    let (a, len) = v.split_once('/').unwrap_or((v, "32"));
    let a: Ipv4Addr = a
        .parse()
        .map_err(|_| bad("address", v, "not an IPv4 address"))?;
    let len: u32 = len
        .parse()
        .ok()
        .filter(|l| *l <= 32)
        .ok_or_else(|| bad("prefix length", v, "must be 0..32"))?;
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    Ok((u32::from(a) & mask, mask))
}

fn int(v: &str) -> Result<u32, TcError> {
    match v.strip_prefix("0x") {
        Some(h) => u32::from_str_radix(h, 16),
        None => v.parse(),
    }
    .map_err(|_| bad("value", v, "not a number"))
}

fn filter(words: &[String]) -> Result<Filter, TcError> {
    let mut f = Filter::default();
    let mut flowid = None;
    let mut i = 0;
    let w = |i: usize| words.get(i).map(String::as_str);
    while let Some(k) = w(i) {
        match k {
            "protocol" => {
                if w(i + 1) != Some("ip") {
                    return Err(expected("protocol ip", w(i + 1)));
                }
                i += 2;
            }
            "parent" => {
                handle(w(i + 1).ok_or_else(|| expected("parent HANDLE", None))?)?;
                i += 2;
            }
            "prio" | "pref" | "priority" => {
                f.prio = num("prio", w(i + 1).unwrap_or(""))?;
                i += 2;
            }
            "u32" => i += 1,
            "flowid" | "classid" => {
                flowid = Some(handle(
                    w(i + 1).ok_or_else(|| expected("flowid 1:MINOR", None))?,
                )?);
                i += 2;
            }
            "match" => {
                if w(i + 1) != Some("ip") {
                    return Err(expected("match ip", w(i + 1)));
                }
                let field = w(i + 2).ok_or_else(|| expected("a field after match ip", None))?;
                let v = w(i + 3).ok_or_else(|| expected("a value", Some(field)))?;
                match field {
                    "src" | "dst" => {
                        let p = Some(ip_prefix(v)?);
                        if field == "src" {
                            f.src = p
                        } else {
                            f.dst = p
                        }
                        i += 4;
                    }
                    "sport" | "dport" | "protocol" | "tos" | "dsfield" => {
                        let m = w(i + 4).ok_or_else(|| expected("a mask", Some(v)))?;
                        let (v, m) = (int(v)?, int(m)?);
                        let small = |max: u32, what| {
                            if v > max || m > max {
                                Err(bad(what, &format!("{v} {m}"), format!("above {max}")))
                            } else {
                                Ok(())
                            }
                        };
                        match field {
                            "sport" => {
                                small(0xffff, "sport")?;
                                f.sport = Some((v as u16, m as u16));
                            }
                            "dport" => {
                                small(0xffff, "dport")?;
                                f.dport = Some((v as u16, m as u16));
                            }
                            "protocol" => {
                                small(0xff, "protocol")?;
                                f.proto = Some((v as u8, m as u8));
                            }
                            _ => {
                                small(0xff, "tos")?;
                                f.tos = Some((v as u8, m as u8));
                            }
                        }
                        i += 5;
                    }
                    other => {
                        return Err(expected(
                            "src, dst, sport, dport, protocol or tos",
                            Some(other),
                        ))
                    }
                }
            }
            other => {
                return Err(expected(
                    "protocol, parent, prio, u32, match or flowid",
                    Some(other),
                ))
            }
        }
    }
    f.flowid = flowid.ok_or_else(|| expected("flowid 1:MINOR", None))?;
    Ok(f)
}

impl Model {
    fn class_mut(&mut self, minor: u32) -> Option<&mut ClassSpec> {
        self.classes.iter_mut().find(|c| c.id == minor)
    }

    fn apply(&mut self, a: &[String]) -> Result<(), TcError> {
        // a = [object, verb, "dev", PORT, ...]
        let obj = a[0].as_str();
        let verb = a[1].as_str();
        let rest = &a[4..];
        let w = |i: usize| rest.get(i).map(String::as_str);
        match (obj, verb) {
            ("qdisc", "del" | "delete") => {
                if w(0) != Some("root") {
                    return Err(expected("root (only the whole tree can be deleted)", w(0)));
                }
                *self = Model::default();
            }
            ("qdisc", "add" | "replace") => {
                let (parent, mut i) = match w(0) {
                    Some("root") => (None, 1),
                    Some("parent") => (Some(handle(w(1).unwrap_or(""))?), 2),
                    t => return Err(expected("root or parent", t)),
                };
                if w(i) == Some("handle") {
                    handle(w(i + 1).unwrap_or(""))?;
                    i += 2;
                }
                let kind = w(i).ok_or_else(|| expected("a qdisc kind", None))?;
                let opts = &rest[i + 1..];
                match parent {
                    None => {
                        if !matches!(self.root, Root::None) && verb == "add" {
                            return Err(TcError::Tree(
                                "the port already has a root qdisc (qdisc del dev PORT root)"
                                    .into(),
                            ));
                        }
                        *self = Model::default();
                        self.root = match kind {
                            "htb" => {
                                let mut default = None;
                                let mut r2q = None;
                                for (k, v) in pairs(opts)? {
                                    match k {
                                        "default" => {
                                            default = Some(
                                                u32::from_str_radix(v, 16)
                                                    .map_err(|_| bad("default", v, "hex minor"))?,
                                            )
                                        }
                                        "r2q" => r2q = Some(num("r2q", v)?),
                                        _ => return Err(expected("default or r2q", Some(k))),
                                    }
                                }
                                Root::Htb { default, r2q }
                            }
                            "sfq" => Root::Single(EgressSpec::Sfq(sfq(opts)?)),
                            "tbf" => Root::Single(EgressSpec::Tbf(tbf(opts)?)),
                            "pfifo_fast" => Root::Single(EgressSpec::PfifoFast { limit: 1000 }),
                            k => return Err(expected("htb, sfq, tbf or pfifo_fast", Some(k))),
                        };
                    }
                    Some(minor) => {
                        let leaf = match kind {
                            "pfifo" => {
                                let mut n = qos::fifo::DEFAULT_LIMIT;
                                for (k, v) in pairs(opts)? {
                                    match k {
                                        "limit" => n = num("limit", v)?,
                                        _ => return Err(expected("limit", Some(k))),
                                    }
                                }
                                LeafSpec::Pfifo(n.max(1))
                            }
                            "sfq" => LeafSpec::Sfq(sfq(opts)?),
                            k => return Err(expected("pfifo or sfq (leaf qdiscs)", Some(k))),
                        };
                        let c = self.class_mut(minor).ok_or_else(|| {
                            TcError::Tree(format!("parent 1:{minor:x}: no such class"))
                        })?;
                        c.leaf = leaf;
                    }
                }
            }
            ("class", "add" | "change" | "replace") => {
                if !matches!(self.root, Root::Htb { .. }) {
                    return Err(TcError::Tree("classes need a root htb qdisc".into()));
                }
                let (mut parent, mut classid, mut i) = (None, None, 0);
                while let Some(k) = w(i) {
                    match k {
                        "parent" => parent = Some(handle(w(i + 1).unwrap_or(""))?),
                        "classid" => classid = Some(handle(w(i + 1).unwrap_or(""))?),
                        "htb" => break,
                        t => return Err(expected("parent, classid or htb", Some(t))),
                    }
                    i += 2;
                }
                if w(i) != Some("htb") {
                    return Err(expected("htb", w(i)));
                }
                let id = classid
                    .filter(|c| *c != 0)
                    .ok_or_else(|| expected("classid 1:MINOR", None))?;
                let parent = parent.ok_or_else(|| expected("parent", None))?;
                let parent = (parent != 0).then_some(parent);
                if let Some(p) = parent {
                    if !self.classes.iter().any(|c| c.id == p) {
                        return Err(TcError::Tree(format!("parent 1:{p:x}: no such class")));
                    }
                }
                let old = self.classes.iter().position(|c| c.id == id);
                match (verb, old) {
                    ("add", Some(_)) => {
                        return Err(TcError::Tree(format!("class 1:{id:x} already exists")))
                    }
                    ("change", None) => {
                        return Err(TcError::Tree(format!("class 1:{id:x} does not exist")))
                    }
                    _ => {}
                }
                let cfg = class_cfg(&rest[i + 1..], old.map(|o| self.classes[o].cfg))?;
                match old {
                    Some(o) => self.classes[o].cfg = cfg,
                    None => self.classes.push(ClassSpec {
                        id,
                        parent,
                        cfg,
                        leaf: LeafSpec::Default,
                    }),
                }
            }
            ("filter", "add" | "replace") => {
                if !matches!(self.root, Root::Htb { .. }) {
                    return Err(TcError::Tree("filters need a root htb qdisc".into()));
                }
                let f = filter(rest)?;
                if !self.classes.iter().any(|c| c.id == f.flowid) {
                    return Err(TcError::Tree(format!(
                        "flowid 1:{:x}: no such class",
                        f.flowid
                    )));
                }
                let at = self.filters.partition_point(|g| g.prio <= f.prio);
                self.filters.insert(at, f);
            }
            (o, v) => return Err(TcError::Tree(format!("{o} {v} is not supported"))),
        }
        Ok(())
    }

    fn spec(&self) -> Option<EgressSpec> {
        match &self.root {
            Root::None => None,
            Root::Single(s) => Some(s.clone()),
            Root::Htb { default, r2q } => Some(EgressSpec::Htb(HtbSpec {
                classes: self.classes.clone(),
                default: *default,
                queues: Vec::new(),
                filters: self.filters.clone(),
                r2q: *r2q,
            })),
        }
    }
}

impl TcTree {
    /// The scheduler the commands describe (`None`: no root qdisc).
    pub fn spec(&self) -> Option<EgressSpec> {
        self.replay().ok().and_then(|m| m.spec())
    }

    fn replay(&self) -> Result<Model, TcError> {
        let mut m = Model::default();
        for c in &self.commands {
            m.apply(c)?;
        }
        Ok(m)
    }

    /// Applies `args` (validated against the tree so far); a `qdisc del
    /// root` empties the tree.
    pub fn apply(&mut self, args: &[String]) -> Result<Option<EgressSpec>, TcError> {
        if args.len() < 4 {
            return Err(expected("OBJECT VERB dev PORT", None));
        }
        let mut m = self.replay()?;
        m.apply(args)?;
        if matches!(m.root, Root::None) {
            self.commands.clear();
        } else {
            self.commands.push(args.to_vec());
        }
        Ok(m.spec())
    }

    /// `tc filter show` lines.
    pub fn show_filters(&self, dev: &str) -> String {
        let mut out = String::new();
        let Ok(m) = self.replay() else {
            return out;
        };
        for f in &m.filters {
            let _ = write!(
                out,
                "filter parent 1: protocol ip pref {} u32 flowid 1:{:x}",
                f.prio, f.flowid
            );
            if let Some((a, m)) = f.src {
                let _ = write!(
                    out,
                    " match ip src {}/{}",
                    Ipv4Addr::from(a),
                    m.count_ones()
                );
            }
            if let Some((a, m)) = f.dst {
                let _ = write!(
                    out,
                    " match ip dst {}/{}",
                    Ipv4Addr::from(a),
                    m.count_ones()
                );
            }
            for (n, v) in [("sport", f.sport), ("dport", f.dport)] {
                if let Some((v, m)) = v {
                    let _ = write!(out, " match ip {n} {v} 0x{m:04x}");
                }
            }
            if let Some((v, m)) = f.proto {
                let _ = write!(out, " match ip protocol {v} 0x{m:02x}");
            }
            if let Some((v, m)) = f.tos {
                let _ = write!(out, " match ip tos 0x{v:02x} 0x{m:02x}");
            }
            let _ = writeln!(out, " (dev {dev})");
        }
        out
    }
}

/// A rate as tc prints it (`800Kbit`, `10Mbit`).
pub fn fmt_rate(bps: u64) -> String {
    if bps >= 1_000_000 && bps.is_multiple_of(1_000_000) {
        format!("{}Mbit", bps / 1_000_000)
    } else if bps >= 1000 && bps.is_multiple_of(1000) {
        format!("{}Kbit", bps / 1000)
    } else {
        format!("{bps}bit")
    }
}

fn kind(s: &EgressSpec) -> &'static str {
    match s {
        EgressSpec::Htb(_) => "htb",
        EgressSpec::Sfq(_) => "sfq",
        EgressSpec::Tbf(_) => "tbf",
        EgressSpec::PfifoFast { .. } => "pfifo_fast",
    }
}

/// `tc [-s] (qdisc|class|filter) show dev PORT` for the port's running
/// scheduler (`egress`), whether it came from tc or from an OVS QoS row.
pub fn show(
    cfg: &crate::schema::Config,
    egress: Option<&crate::dp::egress::Egress>,
    object: &str,
    dev: &str,
    stats: bool,
) -> String {
    let mut out = String::new();
    if object == "filter" {
        return cfg
            .tc
            .get(dev)
            .map(|t| t.show_filters(dev))
            .unwrap_or_default();
    }
    let Some(eg) = egress else {
        if object == "qdisc" {
            let _ = writeln!(out, "qdisc noqueue 0: dev {dev} root refcnt 2");
        }
        return out;
    };
    let spec = eg.spec();
    if object == "qdisc" {
        let _ = write!(out, "qdisc {} 1: dev {dev} root refcnt 2", kind(spec));
        match spec {
            EgressSpec::Htb(h) => {
                let _ = write!(out, " r2q {}", h.r2q.unwrap_or(10));
                if let Some(d) = h.default {
                    let _ = write!(out, " default 0x{d:x}");
                }
            }
            EgressSpec::Tbf(t) => {
                let _ = write!(out, " rate {} burst {}b", fmt_rate(t.rate_bps), t.burst);
            }
            EgressSpec::Sfq(s) => {
                let _ = write!(
                    out,
                    " limit {}p quantum {}b perturb {}sec",
                    s.limit,
                    s.quantum,
                    s.perturb / 1_000_000_000
                );
            }
            EgressSpec::PfifoFast { .. } => {
                let _ = write!(out, " bands 3 priomap 1 2 2 2 1 2 0 0 1 1 1 1 1 1 1 1");
            }
        }
        out.push('\n');
        if stats {
            let s = eg.stats();
            let _ = writeln!(
                out,
                " Sent {} bytes {} pkt (dropped {}, overlimits {} requeues 0)\n backlog {}p requeues 0\n pool drops: limit {} no_buffer {}",
                s.sent_bytes,
                s.sent_packets,
                s.dropped_packets + eg.dropped_nobuf,
                s.overlimits,
                eg.backlog(),
                eg.dropped_limit,
                eg.dropped_nobuf
            );
        }
        return out;
    }
    let EgressSpec::Htb(h) = spec else {
        return out;
    };
    for (minor, c, st) in eg.class_stats() {
        let parent = h
            .classes
            .iter()
            .find(|k| k.id == minor)
            .and_then(|k| k.parent)
            .map_or_else(|| "root".to_owned(), |p| format!("parent 1:{p:x}"));
        let _ = writeln!(
            out,
            "class htb 1:{minor:x} {parent} prio {} rate {} ceil {}",
            c.prio,
            fmt_rate(c.rate.bps()),
            fmt_rate(c.ceil.unwrap_or(c.rate).bps())
        );
        if stats {
            let _ = writeln!(
                out,
                " Sent {} bytes {} pkt (dropped {}, overlimits {} requeues 0)\n backlog {}p requeues 0\n lended: {} borrowed: {} giants: 0",
                st.sent_bytes,
                st.sent_packets,
                st.dropped_packets,
                st.overlimits,
                st.backlog_packets,
                st.lends,
                st.borrows
            );
        }
    }
    out
}

#[cfg(test)]
#[path = "tc_tests.rs"]
mod tests;
