//! Prometheus metrics of a host: the agent's own timings
//! ([`AgentMetrics`]) and the local switch's counters, read through the
//! `stats` control method (PROTOCOL.md 1.3) at each scrape
//! ([`SwitchCollector`]), so the datapath pays nothing per packet.
//! [`serve_metrics`] exposes a registry over HTTP for a process without an
//! HTTP server of its own (a standalone agent); `cloudnet serve` adds the
//! same collectors to its API server's `/metrics` instead.
//!
//! Text is the OpenMetrics exposition (prometheus-client's encoder), which
//! Prometheus scrapes natively.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use vswitch::stats_report::{self, StatsReport};

use crate::switch::SwitchClient;

/// Content type of the exposition.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// How long a scrape waits for the switch.
const SWITCH_TIMEOUT: Duration = Duration::from_secs(2);

type KindLabel = [(&'static str, &'static str); 1];

fn latency_histogram() -> Histogram {
    // 100 µs .. ~13 s: a small incremental compile to a full one of a big
    // cloud.
    Histogram::new(exponential_buckets(0.0001, 2.0, 18))
}

/// The agent's timings. Cloning shares the metrics.
#[derive(Clone, Debug)]
pub struct AgentMetrics {
    compile: Family<KindLabel, Histogram, fn() -> Histogram>,
    apply: Histogram,
}

impl Default for AgentMetrics {
    fn default() -> Self {
        AgentMetrics {
            compile: Family::new_with_constructor(latency_histogram),
            apply: latency_histogram(),
        }
    }
}

impl AgentMetrics {
    /// Record a controller compile; `full` for a whole recompile (start),
    /// otherwise an incremental update.
    pub fn observe_compile(&self, full: bool, d: Duration) {
        let kind = if full { "full" } else { "incremental" };
        self.compile
            .get_or_create(&[("kind", kind)])
            .observe(d.as_secs_f64());
    }

    /// Record how long applying a delta to the switch took.
    pub fn observe_apply(&self, d: Duration) {
        self.apply.observe(d.as_secs_f64());
    }

    /// Register under `reg` (names start `cloudnet_agent_`).
    pub fn register(&self, reg: &mut Registry) {
        let sub = reg.sub_registry_with_prefix("cloudnet_agent");
        sub.register(
            "compile_seconds",
            "Controller compile latency (kind=full|incremental)",
            self.compile.clone(),
        );
        sub.register(
            "flow_apply_seconds",
            "Time to apply a flow delta to the local switch",
            self.apply.clone(),
        );
    }
}

/// The local switch's counters, fetched at each scrape.
#[derive(Debug)]
pub struct SwitchCollector {
    sw: SwitchClient,
}

impl SwitchCollector {
    pub fn new(sw: SwitchClient) -> SwitchCollector {
        SwitchCollector { sw }
    }

    fn fetch(&self) -> Option<StatsReport> {
        let out = vswitch::call(&self.sw.run_dir, &vswitch::Request::Stats, SWITCH_TIMEOUT)
            .map_err(|e| tracing::warn!("metrics: switch stats: {e}"))
            .ok()?;
        stats_report::parse(&out)
            .map_err(|e| tracing::warn!("metrics: switch stats: {e}"))
            .ok()
    }
}

type Labels = Vec<(&'static str, String)>;

/// One metric family from `(labels, value)` pairs.
fn family<M: EncodeMetric>(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    rows: impl IntoIterator<Item = (Labels, M)>,
) -> std::fmt::Result {
    let mut rows = rows.into_iter().peekable();
    let Some((_, first)) = rows.peek() else {
        return Ok(());
    };
    let mut f = enc.encode_descriptor(name, help, None, first.metric_type())?;
    for (labels, m) in rows {
        m.encode(f.encode_family(&labels)?)?;
    }
    Ok(())
}

/// One metric without labels.
fn single<M: EncodeMetric>(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    m: M,
) -> std::fmt::Result {
    m.encode(enc.encode_descriptor(name, help, None, m.metric_type())?)
}

fn counter(v: u64) -> ConstCounter<u64> {
    ConstCounter::new(v)
}

fn gauge(v: u64) -> ConstGauge<i64> {
    ConstGauge::new(i64::try_from(v).unwrap_or(i64::MAX))
}

/// Encode a switch report as metric families (prefix `cloudnet_`).
pub fn encode_report(r: &StatsReport, enc: &mut DescriptorEncoder) -> std::fmt::Result {
    let port_labels = |p: &stats_report::PortReport| -> Labels {
        let mut l = vec![("port", p.name.clone()), ("bridge", p.bridge.clone())];
        if let Some(id) = &p.iface_id {
            l.push(("port_id", id.clone()));
        }
        l
    };
    type PortField = fn(&stats_report::PortReport) -> u64;
    let port_counters: [(&str, &str, PortField); 8] = [
        (
            "cloudnet_port_rx_packets",
            "Frames received from the port",
            |p| p.stats.rx_packets,
        ),
        (
            "cloudnet_port_rx_bytes",
            "Bytes received from the port",
            |p| p.stats.rx_bytes,
        ),
        (
            "cloudnet_port_rx_dropped",
            "Received frames the datapath dropped",
            |p| p.stats.rx_dropped,
        ),
        ("cloudnet_port_rx_errors", "Receive errors", |p| {
            p.stats.rx_errors
        }),
        ("cloudnet_port_tx_packets", "Frames sent to the port", |p| {
            p.stats.tx_packets
        }),
        ("cloudnet_port_tx_bytes", "Bytes sent to the port", |p| {
            p.stats.tx_bytes
        }),
        (
            "cloudnet_port_tx_dropped",
            "Frames not sent (queue full, port down)",
            |p| p.stats.tx_dropped,
        ),
        ("cloudnet_port_tx_errors", "Send errors", |p| {
            p.stats.tx_errors
        }),
    ];
    for (name, help, get) in port_counters {
        let rows = r.ports.iter().map(|p| (port_labels(p), counter(get(p))));
        family(enc, name, help, rows)?;
    }
    let br = |b: &stats_report::BridgeReport| vec![("bridge", b.name.clone())];
    family(
        enc,
        "cloudnet_datapath_drops",
        "Frames the datapath dropped, by reason (DropReason)",
        r.bridges.iter().flat_map(|b| {
            b.drops.iter().map(|(reason, n)| {
                let mut l = br(b);
                l.push(("reason", reason.clone()));
                (l, counter(*n))
            })
        }),
    )?;
    family(
        enc,
        "cloudnet_flows",
        "OpenFlow flows per table",
        r.bridges.iter().flat_map(|b| {
            b.flows.iter().map(|(t, n)| {
                let mut l = br(b);
                l.push(("table", t.to_string()));
                (l, gauge(*n as u64))
            })
        }),
    )?;
    family(
        enc,
        "cloudnet_flow_cache_hits",
        "Flow-cache lookups answered by the cache (cache=emc|megaflow)",
        r.bridges.iter().flat_map(|b| {
            [("emc", b.emc_hits), ("megaflow", b.megaflow_hits)].map(|(c, n)| {
                let mut l = br(b);
                l.push(("cache", c.to_owned()));
                (l, counter(n))
            })
        }),
    )?;
    family(
        enc,
        "cloudnet_flow_cache_misses",
        "Flow-cache lookups that went to the classifier",
        r.bridges.iter().map(|b| (br(b), counter(b.cache_misses))),
    )?;
    family(
        enc,
        "cloudnet_megaflows",
        "Megaflows cached",
        r.bridges.iter().map(|b| (br(b), gauge(b.megaflows as u64))),
    )?;
    single(
        enc,
        "cloudnet_captures_active",
        "Capture taps active on the switch (cloudnet capture clients)",
        gauge(r.captures as u64),
    )?;
    single(
        enc,
        "cloudnet_conntrack_connections",
        "Tracked connections (all zones)",
        gauge(u64::from(r.ct.total)),
    )?;
    single(
        enc,
        "cloudnet_conntrack_max_connections",
        "Tracker-wide connection limit",
        gauge(u64::from(r.ct.max_conns)),
    )?;
    let zone = |z: u16| vec![("zone", z.to_string())];
    family(
        enc,
        "cloudnet_conntrack_zone_connections",
        "Tracked connections per conntrack zone",
        r.ct.zones
            .iter()
            .map(|z| (zone(z.zone), gauge(u64::from(z.count)))),
    )?;
    family(
        enc,
        "cloudnet_conntrack_zone_limit",
        "Connection limit per zone (zones without a limit are left out)",
        r.ct.zones
            .iter()
            .filter_map(|z| z.limit.map(|l| (zone(z.zone), gauge(u64::from(l))))),
    )?;
    family(
        enc,
        "cloudnet_conntrack_zone_refused",
        "New connections refused per zone (limit reached, NAT clash)",
        r.ct.zones
            .iter()
            .map(|z| (zone(z.zone), counter(z.refused))),
    )
}

impl Collector for SwitchCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> std::fmt::Result {
        let report = self.fetch();
        single(
            &mut enc,
            "cloudnet_switch_up",
            "1 when the local switch answered the stats request of this scrape",
            gauge(u64::from(report.is_some())),
        )?;
        match report {
            Some(r) => encode_report(&r, &mut enc),
            None => Ok(()),
        }
    }
}

/// A registry with the agent's metrics and the switch's counters.
pub fn registry(m: &AgentMetrics, sw: &SwitchClient) -> Registry {
    let mut reg = Registry::default();
    m.register(&mut reg);
    reg.register_collector(Box::new(SwitchCollector::new(sw.clone())));
    reg
}

/// Encode `reg` as exposition text.
pub fn encode(reg: &Registry) -> Result<String, std::fmt::Error> {
    let mut s = String::new();
    prometheus_client::encoding::text::encode(&mut s, reg)?;
    Ok(s)
}

/// Errors of [`serve_metrics`].
#[derive(Debug, thiserror::Error)]
#[error("metrics listener {addr}: {message}")]
pub struct ServeMetricsError {
    pub addr: SocketAddr,
    pub message: String,
}

/// Serve `GET /metrics` from `reg` on `addr` in a background thread (for a
/// process without its own HTTP server, e.g. `cloudnet agent
/// --metrics-addr`). Returns the bound address (useful with port 0).
pub fn serve_metrics(
    addr: SocketAddr,
    reg: Arc<Registry>,
) -> Result<SocketAddr, ServeMetricsError> {
    let (server, bound) =
        crate::http::listen(addr).map_err(|message| ServeMetricsError { addr, message })?;
    let content_type = tiny_http::Header::from_bytes(&b"Content-Type"[..], CONTENT_TYPE).ok();
    std::thread::Builder::new()
        .name("metrics".into())
        .spawn(move || {
            for req in server.incoming_requests() {
                let resp = if req.url() != "/metrics" {
                    tiny_http::Response::from_string("not found\n").with_status_code(404)
                } else {
                    match encode(&reg) {
                        Ok(body) => {
                            let mut r = tiny_http::Response::from_string(body);
                            if let Some(h) = &content_type {
                                r = r.with_header(h.clone());
                            }
                            r
                        }
                        Err(_) => tiny_http::Response::from_string("encoding failed\n")
                            .with_status_code(500),
                    }
                };
                let _ = req.respond(resp);
            }
        })
        .map_err(|e| ServeMetricsError {
            addr,
            message: e.to_string(),
        })?;
    Ok(bound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_encodes_with_labels() {
        let r = StatsReport {
            ports: vec![stats_report::PortReport {
                name: "tap1".into(),
                bridge: "br-int".into(),
                ofport: 1,
                iface_id: Some("p-1".into()),
                dp_thread: None,
                rxq: Vec::new(),
                stats: vswitch::dp::stats::PortStats {
                    rx_packets: 7,
                    ..Default::default()
                },
            }],
            bridges: vec![stats_report::BridgeReport {
                name: "br-int".into(),
                drops: [("table_miss".to_owned(), 3)].into_iter().collect(),
                flows: [(0u8, 5usize)].into_iter().collect(),
                ..Default::default()
            }],
            ct: stats_report::CtReport {
                total: 2,
                max_conns: 100,
                zones: vec![stats_report::ZoneReport {
                    zone: 5,
                    count: 2,
                    limit: Some(10),
                    refused: 0,
                }],
            },
            captures: 1,
        };
        #[derive(Debug)]
        struct Fixed(StatsReport);
        impl Collector for Fixed {
            fn encode(&self, mut enc: DescriptorEncoder) -> std::fmt::Result {
                encode_report(&self.0, &mut enc)
            }
        }
        let mut reg = Registry::default();
        reg.register_collector(Box::new(Fixed(r)));
        let m = AgentMetrics::default();
        m.observe_compile(true, Duration::from_millis(3));
        m.register(&mut reg);
        let text = encode(&reg).unwrap();
        for want in [
            r#"cloudnet_port_rx_packets_total{port="tap1",bridge="br-int",port_id="p-1"} 7"#,
            r#"cloudnet_datapath_drops_total{bridge="br-int",reason="table_miss"} 3"#,
            r#"cloudnet_flows{bridge="br-int",table="0"} 5"#,
            r#"cloudnet_conntrack_zone_limit{zone="5"} 10"#,
            r#"cloudnet_agent_compile_seconds_count{kind="full"} 1"#,
            "cloudnet_captures_active 1",
        ] {
            assert!(text.contains(want), "{want} missing in\n{text}");
        }
    }

    #[test]
    fn serve_metrics_answers_with_switch_down() {
        use std::io::{Read, Write};
        let dir = std::env::temp_dir().join(format!("cloudnet-metrics-{}", std::process::id()));
        let sw = SwitchClient::new(&dir, "br-int");
        let m = AgentMetrics::default();
        m.observe_apply(Duration::from_millis(1));
        let reg = Arc::new(registry(&m, &sw));
        let addr = serve_metrics("127.0.0.1:0".parse().unwrap(), reg).unwrap();
        let get = |path: &str| {
            let mut c = std::net::TcpStream::connect(addr).unwrap();
            c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            write!(c, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
            let mut s = String::new();
            c.read_to_string(&mut s).unwrap();
            s
        };
        let resp = get("/metrics");
        assert!(
            resp.starts_with("HTTP/1.0 200") || resp.starts_with("HTTP/1.1 200"),
            "{resp}"
        );
        assert!(resp.contains("openmetrics-text"), "{resp}");
        // No switch listens in that run dir: the scrape still answers.
        assert!(resp.contains("cloudnet_switch_up 0"), "{resp}");
        assert!(
            resp.contains("cloudnet_agent_flow_apply_seconds_count 1"),
            "{resp}"
        );
        assert!(get("/other").contains(" 404 "));
    }
}
