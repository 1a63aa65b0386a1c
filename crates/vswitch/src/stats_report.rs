//! The `stats` method (protocol 1.3): every counter a metrics exporter
//! wants, in one JSON document, read from the counters the datapath already
//! keeps (port counters, per-bridge drop reasons, flow-cache hits, the
//! conntrack table's per-zone counts). Nothing is added to the per-packet
//! path; a scrape costs one pass over ports, bridges and tables under the
//! datapath lock.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::dp::port::PortIo;
use crate::dp::stats::{DropReason, PortStats};
use crate::dp::Datapath;
use crate::schema::Config;

/// Counters of one port.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortReport {
    /// Interface name.
    pub name: String,
    /// Bridge it is on.
    pub bridge: String,
    /// OpenFlow port number.
    pub ofport: u16,
    /// The Interface's `external_ids:iface-id` (a Neutron port ID when a
    /// cloudnet agent bound it), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iface_id: Option<String>,
    /// The datapath thread polling its receive side (`--dp-threads`);
    /// none for ports without one (patch, tunnel, down).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dp_thread: Option<usize>,
    /// Receive queues of a multi-queue TAP (`options:n_rxq`, see
    /// `dp::rxq`): the thread polling each and the frames it received;
    /// empty for single-queue ports.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rxq: Vec<QueueReport>,
    /// Its counters (rx/tx packets, bytes, dropped, errors).
    #[serde(flatten)]
    pub stats: PortStats,
}

/// One receive queue of a port.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueReport {
    /// Queue number (0 is the port's first fd).
    pub queue: usize,
    /// The datapath thread polling it.
    pub dp_thread: usize,
    /// Frames received on it.
    pub rx_packets: u64,
}

/// Counters of one bridge.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BridgeReport {
    /// Bridge name.
    pub name: String,
    /// Frames dropped, by `DropReason` name (every reason, zeros included).
    pub drops: BTreeMap<String, u64>,
    /// Flows per OpenFlow table (tables without flows are left out).
    pub flows: BTreeMap<u8, usize>,
    /// Flow-cache lookups answered by the exact-match cache.
    pub emc_hits: u64,
    /// Flow-cache lookups answered by a megaflow.
    pub megaflow_hits: u64,
    /// Lookups that went to the classifier.
    pub cache_misses: u64,
    /// Megaflows installed now.
    pub megaflows: usize,
}

/// Connection counts of one conntrack zone.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZoneReport {
    /// Zone.
    pub zone: u16,
    /// Live connections.
    pub count: u32,
    /// Effective limit; `None` is unlimited.
    pub limit: Option<u32>,
    /// New connections refused.
    pub refused: u64,
}

/// The conntrack table.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CtReport {
    /// Live connections.
    pub total: u32,
    /// Tracker-wide maximum.
    pub max_conns: u32,
    /// Zones with connections, a limit or refusals.
    pub zones: Vec<ZoneReport>,
}

/// The reply of `stats`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatsReport {
    pub ports: Vec<PortReport>,
    pub bridges: Vec<BridgeReport>,
    pub ct: CtReport,
    /// Capture taps active now (`cloudnet capture` clients).
    #[serde(default)]
    pub captures: usize,
}

/// The queues of a multi-queue port (none for a single-queue one).
fn queue_reports(p: &crate::dp::DpPort) -> Vec<QueueReport> {
    if p.queues.is_empty() {
        return Vec::new();
    }
    std::iter::once(p.thread)
        .chain(p.queues.iter().map(|q| q.thread))
        .enumerate()
        .map(|(queue, dp_thread)| QueueReport {
            queue,
            dp_thread,
            rx_packets: p.rxq_packets.0.get(queue).copied().unwrap_or(0),
        })
        .collect()
}

/// Collect the report (under the datapath lock the caller holds).
pub fn collect(cfg: &Config, dp: &Datapath) -> StatsReport {
    let bridge_name = |i: usize| {
        dp.bridges
            .get(i)
            .and_then(Option::as_ref)
            .map_or("", |b| b.name.as_str())
    };
    let ports = dp
        .ports
        .iter()
        .flatten()
        .map(|p| {
            let iface_id = cfg
                .interfaces
                .get(&p.name)
                .and_then(|i| i.external_ids.get("iface-id"))
                .cloned();
            PortReport {
                name: p.name.clone(),
                bridge: bridge_name(p.bridge).to_owned(),
                ofport: p.ofport,
                iface_id,
                dp_thread: matches!(p.io, PortIo::Tap(_) | PortIo::Packet(_)).then_some(p.thread),
                rxq: queue_reports(p),
                stats: p.stats,
            }
        })
        .collect();
    let bridges = dp
        .bridges
        .iter()
        .flatten()
        .map(|b| {
            let set = b.tables.read();
            let flows = (0..flow::classifier::N_TABLES as u8)
                .map(|t| (t, set.table(t).len()))
                .filter(|&(_, n)| n > 0)
                .collect();
            let c = &b.cache.stats();
            BridgeReport {
                name: b.name.clone(),
                drops: DropReason::ALL
                    .iter()
                    .map(|r| (r.name().to_owned(), b.drops.get(*r)))
                    .collect(),
                flows,
                emc_hits: c.emc_hits,
                megaflow_hits: c.megaflow_hits,
                cache_misses: c.misses,
                megaflows: b.cache.megaflows(),
            }
        })
        .collect();
    let s = dp.ct.table.stats();
    let ct = CtReport {
        total: s.total,
        max_conns: s.max_conns,
        zones: s
            .zones
            .iter()
            .map(|(z, zs)| ZoneReport {
                zone: *z,
                count: zs.count,
                limit: zs.limit,
                refused: zs.drops.total(),
            })
            .collect(),
    };
    StatsReport {
        ports,
        bridges,
        ct,
        captures: dp.captures.len(),
    }
}

/// The report as the reply's output text (one line of JSON).
pub fn to_output(r: &StatsReport) -> String {
    serde_json::to_string(r).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

/// Parse a `stats` reply's output.
pub fn parse(output: &str) -> Result<StatsReport, serde_json::Error> {
    serde_json::from_str(output)
}
