//! The operator's tools on a running `cloudnet serve`, with real traffic
//! between namespace VMs: `GET /metrics` (the families exist, parse, and
//! the per-port counters move with a ping) and `cloudnet capture` (a pcap
//! that tcpdump reads back with the echo request and reply in it, a filter
//! that keeps TCP out while TCP flows, a one-line-per-frame print, and a
//! detached client ending its capture in the switch).

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{bench, tcp, vm, Serve};
use lab::Netns;

/// What this test asks of a running `cloudnet serve` beyond the CLI.
trait Observe {
    fn stats(&self) -> vswitch::stats_report::StatsReport;
    fn scrape(&self, host: &Netns) -> String;
}

impl Observe for Serve {
    /// The switch's `stats` report.
    fn stats(&self) -> vswitch::stats_report::StatsReport {
        let out = vswitch::call(
            &self.run_dir,
            &vswitch::Request::Stats,
            Duration::from_secs(5),
        )
        .expect("stats");
        vswitch::stats_report::parse(&out).expect("stats JSON")
    }

    /// `GET /metrics` from inside the host namespace.
    fn scrape(&self, host: &Netns) -> String {
        let addr: SocketAddr = self
            .endpoint
            .trim_start_matches("http://")
            .parse()
            .expect("endpoint address");
        let mut c = host
            .tcp_connect(addr, Duration::from_secs(5))
            .expect("connect to the API");
        c.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        c.write_all(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n")
            .expect("request");
        let mut resp = String::new();
        c.read_to_string(&mut resp).expect("response");
        let (head, body) = resp.split_once("\r\n\r\n").expect("HTTP response");
        assert!(head.starts_with("HTTP/1.0 200"), "{head}");
        assert!(head.contains("openmetrics-text"), "{head}");
        body.to_string()
    }
}

/// A tiny exposition-format parser: every sample line is
/// `name{label="v",...} value`, comments start with `#`, and the text ends
/// with `# EOF`. Returns the samples by `name{labels}`.
fn parse_metrics(text: &str) -> BTreeMap<String, f64> {
    assert_eq!(
        text.lines().last(),
        Some("# EOF"),
        "exposition ends in # EOF"
    );
    let mut m = BTreeMap::new();
    for l in text.lines().filter(|l| !l.starts_with('#')) {
        let (series, value) = l
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("bad line {l:?}"));
        let name_end = series.find('{').unwrap_or(series.len());
        let name = &series[..name_end];
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad metric name in {l:?}"
        );
        if name_end < series.len() {
            assert!(series.ends_with('}'), "unclosed labels in {l:?}");
            for kv in series[name_end + 1..series.len() - 1].split("\",") {
                let (k, v) = kv
                    .split_once("=\"")
                    .unwrap_or_else(|| panic!("label in {l:?}"));
                assert!(!k.is_empty() && !v.contains('\n'), "label in {l:?}");
            }
        }
        let v: f64 = match value {
            "+Inf" => f64::INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("bad value in {l:?}")),
        };
        m.insert(series.to_string(), v);
    }
    m
}

/// The value of the one sample of `name` whose labels contain `label`.
fn sample(m: &BTreeMap<String, f64>, name: &str, label: &str) -> f64 {
    let hits: Vec<f64> = m
        .iter()
        .filter(|(k, _)| k.starts_with(&format!("{name}{{")) && k.contains(label))
        .map(|(_, v)| *v)
        .collect();
    assert_eq!(hits.len(), 1, "one {name} with {label}: {hits:?}");
    hits[0]
}

/// A running `cloudnet capture`, killed when dropped; ready once it said
/// so on stderr.
struct Capture(Child);

impl Capture {
    fn start(s: &Serve, args: &[&str]) -> Capture {
        let mut a = vec!["capture"];
        a.extend(args);
        let mut child = s
            .command(&a)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn capture");
        let mut err = BufReader::new(child.stderr.take().expect("piped"));
        let mut first = String::new();
        err.read_line(&mut first).expect("capture stderr");
        assert!(
            first.starts_with("capturing on tap"),
            "capture said {first:?}"
        );
        child.stderr = Some(err.into_inner());
        Capture(child)
    }

    /// Wait for the capture to end by itself; its stdout and stderr.
    fn finish(mut self) -> (String, String) {
        lab::wait_until("capture ends", Duration::from_secs(20), || {
            self.0.try_wait().ok().flatten().is_some()
        })
        .expect("capture stops after -c frames");
        let mut out = String::new();
        let mut err = String::new();
        if let Some(mut o) = self.0.stdout.take() {
            o.read_to_string(&mut out).expect("stdout");
        }
        if let Some(mut e) = self.0.stderr.take() {
            e.read_to_string(&mut err).expect("stderr");
        }
        let ok = self.0.wait().expect("wait").success();
        assert!(ok, "capture failed: {err}");
        (out, err)
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn metrics_and_capture() {
    let Some((lab, bb, tmp, host)) = bench("metrics_and_capture") else {
        return;
    };
    let s = Serve::start(&host, &tmp.path().join("data"));
    s.create(&["network", "create", "net"]);
    s.subnet("sub", "net", "10.0.0.0/24", &[]);
    let p1 = s.create(&["port", "create", "p1", "--network", "net"]);
    let p2 = s.create(&["port", "create", "p2", "--network", "net"]);
    let (vm1, _ip1) = vm(&lab, &s, &bb, "vm1", &p1, tmp.path());
    let (vm2, ip2) = vm(&lab, &s, &bb, "vm2", &p2, tmp.path());
    lab::wait_until("ping", Duration::from_secs(10), || {
        lab::ping(&vm1, ip2, 1).is_ok_and(|p| p.all_received())
    })
    .expect("vm1 reaches vm2");

    // Metrics: every family parses; the port counters move with traffic.
    let port_label = format!("port_id=\"{p1}\"");
    let before = parse_metrics(&s.scrape(&host));
    let rx0 = sample(&before, "cloudnet_port_rx_packets_total", &port_label);
    let tx0 = sample(&before, "cloudnet_port_tx_packets_total", &port_label);
    let st = lab::ping(&vm1, ip2, 3).expect("ping");
    assert!(st.all_received(), "3 pings");
    let after = parse_metrics(&s.scrape(&host));
    let rx1 = sample(&after, "cloudnet_port_rx_packets_total", &port_label);
    let tx1 = sample(&after, "cloudnet_port_tx_packets_total", &port_label);
    assert!(
        rx1 >= rx0 + 3.0,
        "3 echo requests received from vm1: {rx0} -> {rx1}"
    );
    assert!(
        tx1 >= tx0 + 3.0,
        "3 echo replies sent to vm1: {tx0} -> {tx1}"
    );
    assert_eq!(
        after.get("cloudnet_switch_up"),
        Some(&1.0),
        "switch answered"
    );
    for (name, label) in [
        ("cloudnet_api_requests_total", "route=\"/v2.0/ports\""),
        (
            "cloudnet_api_request_duration_seconds_count",
            "route=\"/v2.0/ports\"",
        ),
        ("cloudnet_datapath_drops_total", "reason=\"table_miss\""),
        ("cloudnet_flows", "table=\"0\""),
        ("cloudnet_flow_cache_hits_total", "cache=\"emc\""),
        ("cloudnet_flow_cache_misses_total", "bridge=\"br-int\""),
        ("cloudnet_agent_compile_seconds_count", "kind=\"full\""),
        (
            "cloudnet_agent_compile_seconds_count",
            "kind=\"incremental\"",
        ),
    ] {
        let hits = after
            .keys()
            .filter(|k| k.starts_with(&format!("{name}{{")) && k.contains(label))
            .count();
        assert!(hits >= 1, "{name} with {label} in the exposition");
    }
    for name in [
        "cloudnet_api_store_commit_seconds_count",
        "cloudnet_agent_flow_apply_seconds_count",
        "cloudnet_conntrack_connections",
        "cloudnet_conntrack_max_connections",
    ] {
        assert!(after.contains_key(name), "{name} in the exposition");
    }
    assert!(
        after
            .keys()
            .all(|k| !k.contains(&p2) || k.contains("port_id")),
        "IDs appear only as port labels, never in routes"
    );

    // Capture by port name, ICMP only, to a pcap, while TCP flows too.
    let pcap = tmp.path().join("icmp.pcap");
    let pcap_s = pcap.to_str().expect("utf-8 path");
    let cap = Capture::start(&s, &["p1", "icmp", "-w", pcap_s, "-c", "4"]);
    assert!(tcp(&vm1, &vm2, ip2, 8080), "TCP flows while capturing");
    let st = lab::ping(&vm1, ip2, 2).expect("ping");
    assert!(st.all_received(), "pings while capturing");
    let (_, err) = cap.finish();
    assert!(err.contains("4 frames captured"), "{err}");
    let out = Command::new("tcpdump")
        .args(["-n", "-r", pcap_s])
        .output()
        .expect("tcpdump (scripts/deps.sh installs it)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "tcpdump -r: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(text.lines().count(), 4, "4 frames in the pcap:\n{text}");
    assert!(text.contains("ICMP echo request"), "{text}");
    assert!(text.contains("ICMP echo reply"), "{text}");
    assert!(
        !text.contains("Flags ["),
        "no TCP passes the icmp filter:\n{text}"
    );

    // Printed lines, capture by Neutron port ID, both directions.
    let cap = Capture::start(&s, &[&p2, "icmp", "-c", "2"]);
    lab::ping(&vm1, ip2, 1).expect("ping");
    let (out, _) = cap.finish();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(
        lines[0].contains(" tx ") && lines[0].contains("ICMP echo request"),
        "{out}"
    );
    assert!(
        lines[1].contains(" rx ") && lines[1].contains("ICMP echo reply"),
        "{out}"
    );

    // A bad filter is refused naming the token.
    let out = s
        .command(&["capture", "p1", "tcp,tp_dts=80"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("tp_dts"));

    // A client that goes away ends its capture in the switch (the ones
    // above ended by themselves after -c frames).
    lab::wait_until("earlier captures removed", Duration::from_secs(5), || {
        s.stats().captures == 0
    })
    .expect("captures that ended are removed");
    let cap = Capture::start(&s, &["p1"]);
    assert_eq!(s.stats().captures, 1, "one capture running");
    drop(cap);
    lab::wait_until("capture removed", Duration::from_secs(5), || {
        s.stats().captures == 0
    })
    .expect("the switch removes a detached client's capture");

    // Ctrl-C ends a capture cleanly, with its summary.
    let pcap = tmp.path().join("int.pcap");
    let cap = Capture::start(&s, &["p1", "icmp", "-w", pcap.to_str().expect("utf-8")]);
    lab::ping(&vm1, ip2, 1).expect("ping");
    // pcap header (24 bytes), then 16 + 98 bytes per echo frame.
    lab::wait_until("two frames written", Duration::from_secs(5), || {
        std::fs::metadata(&pcap).is_ok_and(|m| m.len() >= 24 + 2 * (16 + 98))
    })
    .expect("echo request and reply written");
    let pid = cap.0.id().to_string();
    let st = Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("kill");
    assert!(st.success());
    let (_, err) = cap.finish();
    assert!(err.contains("2 frames captured"), "{err}");
}
