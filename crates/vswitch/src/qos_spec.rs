//! What a port's egress scheduler should be, as plain data: built from a
//! QoS row (and its Queue rows) or from a `cloudnet tc` tree, compared by
//! the datapath to decide whether to rebuild, and turned into a running
//! `qos` scheduler by `dp::egress`.
//!
//! QoS types (ovs-vswitchd.conf.db(5), QoS `type`):
//!
//! * `linux-htb` — as OVS's netdev-linux builds it: a root class `1:fffe`
//!   at `other-config:max-rate` (rate = ceil; default [`LINK_RATE_BPS`]),
//!   queue *N* as class `1:N+1` with `min-rate` (default and floor: one MTU
//!   per second, 12 000 bit/s, capped at max-rate), `max-rate` (default
//!   the QoS max-rate), `burst` (bits) and `priority` (0–7). Packets with
//!   no queue, or a queue without a row, go to queue 0 (class `1:1`),
//!   which is created with the defaults when the QoS lists no queue 0.
//! * `linux-sfq` — `other-config:quantum` (bytes), `perturb` (seconds).
//! * `linux-tbf` (cloudnet's own) — `max-rate` (bit/s, required),
//!   `burst` (bits; default 10 ms of max-rate, at least two MTUs),
//!   `limit` (bytes; default 50 ms of queueing).
//! * `linux-pfifo-fast` (cloudnet's own) — the three TOS bands of
//!   pfifo_fast, `other-config:limit` packets per band (default 1000).
//! * `linux-noop` (or an empty type) — no scheduler: the port keeps the
//!   unshaped fast path.

use std::collections::BTreeMap;

use qos::tbf::TbfLimit;
use qos::{ClassConfig, Rate, SfqConfig, TbfConfig};

use crate::qos_table::Qos;
use crate::schema::Config;

/// The "link speed" of a virtual port: the default QoS `max-rate`.
pub const LINK_RATE_BPS: u64 = 10_000_000_000;

/// OVS's smallest `min-rate`: one 1500-byte MTU per second.
pub const MIN_RATE_BPS: u64 = 12_000;

/// Class id (tc minor number) of OVS's HTB root class, `1:fffe`.
pub const OVS_ROOT_CLASS: u32 = 0xfffe;

/// A port's egress scheduler.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EgressSpec {
    /// HTB tree.
    Htb(HtbSpec),
    /// SFQ.
    Sfq(SfqConfig),
    /// TBF.
    Tbf(TbfConfig),
    /// pfifo_fast bands, `limit` packets each.
    PfifoFast {
        /// Packets per band.
        limit: usize,
    },
}

/// An HTB tree; classes are named by their tc minor number (hexadecimal
/// in tc's syntax: `classid 1:10` is minor 0x10).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct HtbSpec {
    /// Classes, every parent before its children.
    pub classes: Vec<ClassSpec>,
    /// Default class (tc-htb(8) `default`).
    pub default: Option<u32>,
    /// OpenFlow queue → class.
    pub queues: Vec<(u32, u32)>,
    /// Filters, tried in order (sorted by `prio`).
    pub filters: Vec<Filter>,
    /// `r2q`.
    pub r2q: Option<u64>,
}

/// One HTB class.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClassSpec {
    /// Minor number.
    pub id: u32,
    /// Parent's minor number (`None`: a root class, `parent 1:`).
    pub parent: Option<u32>,
    /// Rates, bursts, prio.
    pub cfg: ClassConfig,
    /// The leaf's qdisc.
    pub leaf: LeafSpec,
}

/// The qdisc inside a leaf class.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum LeafSpec {
    /// pfifo of the default length (1000 packets).
    #[default]
    Default,
    /// `pfifo limit N`.
    Pfifo(usize),
    /// `sfq [perturb S] [quantum B] [limit N]`.
    Sfq(SfqConfig),
}

/// A u32-style classifier (tc-u32(8) `match ip src A/L`, `match ip dport
/// P 0xffff`, …): every field given must match; the packet goes to
/// `flowid`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Filter {
    /// `prio` (lower is tried first).
    pub prio: u32,
    /// IPv4 source (address, mask).
    pub src: Option<(u32, u32)>,
    /// IPv4 destination (address, mask).
    pub dst: Option<(u32, u32)>,
    /// IP protocol (value, mask).
    pub proto: Option<(u8, u8)>,
    /// TCP/UDP source port (value, mask).
    pub sport: Option<(u16, u16)>,
    /// TCP/UDP destination port (value, mask).
    pub dport: Option<(u16, u16)>,
    /// IPv4 TOS (value, mask).
    pub tos: Option<(u8, u8)>,
    /// Target class minor number.
    pub flowid: u32,
}

fn num(m: &BTreeMap<String, String>, key: &str) -> Result<Option<u64>, String> {
    m.get(key)
        .map(|v| {
            v.trim()
                .parse::<u64>()
                .map_err(|_| format!("other_config:{key} {v:?} is not a non-negative integer"))
        })
        .transpose()
}

fn rate(bps: u64, what: &str) -> Result<Rate, String> {
    Rate::from_bps(bps).ok_or_else(|| format!("{what} must be greater than 0"))
}

/// The spec for QoS row `q`; `Ok(None)` for `linux-noop`.
pub fn from_ovs(cfg: &Config, q: &Qos) -> Result<Option<EgressSpec>, String> {
    let oc = &q.other_config;
    Ok(Some(match q.kind.as_str() {
        "" | "linux-noop" => return Ok(None),
        "linux-htb" => EgressSpec::Htb(ovs_htb(cfg, q)?),
        "linux-sfq" => {
            let mut s = SfqConfig::default();
            if let Some(qu) = num(oc, "quantum")? {
                s.quantum = u32::try_from(qu)
                    .ok()
                    .filter(|q| *q > 0)
                    .ok_or("other_config:quantum must be 1..4294967295 bytes")?;
            }
            if let Some(p) = num(oc, "perturb")? {
                s.perturb = p.saturating_mul(1_000_000_000);
            }
            EgressSpec::Sfq(s)
        }
        "linux-tbf" => {
            let r = num(oc, "max-rate")?.ok_or("linux-tbf needs other_config:max-rate")?;
            rate(r, "other_config:max-rate")?;
            let burst = match num(oc, "burst")? {
                Some(b) => (b / 8).max(1),
                None => (r / 8 / 100).max(2 * 1514),
            };
            let limit = match num(oc, "limit")? {
                Some(l) => TbfLimit::Bytes(l.max(1)),
                None => TbfLimit::Latency(50_000_000),
            };
            EgressSpec::Tbf(TbfConfig {
                rate_bps: r,
                burst,
                limit,
            })
        }
        "linux-pfifo-fast" => EgressSpec::PfifoFast {
            limit: num(oc, "limit")?.map_or(1000, |l| l.clamp(1, 1 << 20) as usize),
        },
        other => {
            return Err(format!(
                "type {other:?} is not supported (linux-htb, linux-sfq, linux-tbf, \
                 linux-pfifo-fast, linux-noop)"
            ))
        }
    }))
}

fn ovs_htb(cfg: &Config, q: &Qos) -> Result<HtbSpec, String> {
    let max = num(&q.other_config, "max-rate")?.unwrap_or(LINK_RATE_BPS);
    let root_rate = rate(max, "other_config:max-rate")?;
    let mut spec = HtbSpec {
        classes: vec![ClassSpec {
            id: OVS_ROOT_CLASS,
            parent: None,
            cfg: ClassConfig::new(root_rate).ceil(root_rate),
            leaf: LeafSpec::Default,
        }],
        default: Some(1),
        ..HtbSpec::default()
    };
    let mut queues: Vec<(u32, Option<&crate::qos_table::Queue>)> = q
        .queues
        .iter()
        .map(|(n, u)| (*n, cfg.queues.get(u)))
        .collect();
    if !q.queues.contains_key(&0) {
        queues.insert(0, (0, None));
    }
    for (n, row) in queues {
        let id = n
            .checked_add(1)
            .filter(|id| *id < OVS_ROOT_CLASS)
            .ok_or_else(|| format!("queue {n} is above the highest queue number 65532"))?;
        let empty = BTreeMap::new();
        let oc = row.map_or(&empty, |r| &r.other_config);
        let ctx = |e: String| format!("queue {n}: {e}");
        let min = num(oc, "min-rate").map_err(ctx)?.unwrap_or(0);
        let min = min.max(MIN_RATE_BPS).min(max);
        let ceil = num(oc, "max-rate")
            .map_err(ctx)?
            .unwrap_or(max)
            .clamp(min, max);
        let mut c = ClassConfig::new(rate(min, "min-rate").map_err(ctx)?)
            .ceil(rate(ceil, "max-rate").map_err(ctx)?);
        if let Some(b) = num(oc, "burst").map_err(ctx)? {
            let bytes = (b / 8).max(1);
            c = c.bursts(bytes, bytes);
        }
        if let Some(p) = num(oc, "priority").map_err(ctx)? {
            let p = u8::try_from(p)
                .ok()
                .filter(|p| *p < 8)
                .ok_or_else(|| ctx(format!("other_config:priority {p} is above 7")))?;
            c = c.prio(p);
        }
        spec.classes.push(ClassSpec {
            id,
            parent: Some(OVS_ROOT_CLASS),
            cfg: c,
            leaf: LeafSpec::Default,
        });
        spec.queues.push((n, id));
    }
    Ok(spec)
}

/// The scheduler port `port` should have: its `cloudnet tc` tree if it has
/// one, else its QoS row's, else none.
pub fn for_port(cfg: &Config, port: &str) -> Option<EgressSpec> {
    if let Some(t) = cfg.tc.get(port) {
        return t.spec();
    }
    let u = cfg.ports.get(port)?.qos.as_ref()?;
    let q = cfg.qos.get(u)?;
    // Rows were checked when written; a bad one shapes nothing.
    from_ovs(cfg, q).ok().flatten()
}
