//! Two datapath threads (`--dp-threads 2`): ports are spread over the
//! threads, and frames cross from a port polled by one thread to a port
//! polled by the other — flooding and MAC learning (NORMAL), `learn()`
//! flows, patch ports to a second bridge, and conntrack with replies
//! processed by the other thread than the one that committed.
//!
//! Run: `cargo test --release -p vswitch --test dp_threads` (as root).

mod common;
mod ct_support;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{pings, vm, Daemon};
use ct_support::{tcp_blocked, tcp_ok};
use lab::Lab;
use vswitch::stats_report::{self, PortReport};
use vswitch::Request;

/// Port counters and threads from the `stats` method, by port name.
fn ports(dir: &std::path::Path) -> BTreeMap<String, PortReport> {
    let out = vswitch::call(dir, &Request::Stats, Duration::from_secs(10)).expect("stats");
    let r = stats_report::parse(&out).expect("stats JSON");
    r.ports.into_iter().map(|p| (p.name.clone(), p)).collect()
}

fn replace_flows(sw: &Daemon, bridge: &str, flows: &[&str]) {
    sw.of(Request::DelFlows {
        bridge: bridge.into(),
        matches: None,
        strict: false,
    });
    sw.of(Request::AddFlows {
        bridge: bridge.into(),
        flows: flows.iter().map(|f| f.to_string()).collect(),
    });
}

#[test]
fn two_threads_forward_between_their_ports() {
    let Some(lab) = Lab::new_or_skip("vsw_threads") else {
        return;
    };
    let host = lab.netns("h").expect("host netns");
    let dir = tempfile::tempdir().expect("tempdir");
    let sw = Daemon::start(&host, dir.path(), &["--dp-threads", "2"]);
    sw.vs("add-br br0 -- add-br br1");
    sw.vs(
        "add-port br0 p01 -- set Interface p01 type=patch options:peer=p10 \
         -- add-port br1 p10 -- set Interface p10 type=patch options:peer=p01",
    );
    let a = vm(&lab, &sw, "br0", "a", "10.0.9.1/24", "");
    let b = vm(&lab, &sw, "br0", "b", "10.0.9.2/24", "");
    let c = vm(&lab, &sw, "br1", "c", "10.0.9.3/24", "");
    let (na, nb, nc) = (
        lab.name("a").unwrap(),
        lab.name("b").unwrap(),
        lab.name("c").unwrap(),
    );

    // Each port's receive side belongs to one thread; a and b to different
    // ones, and both threads poll something.
    let p = ports(dir.path());
    let thread = |n: &str| {
        p[n].dp_thread
            .unwrap_or_else(|| panic!("{n} has no thread"))
    };
    assert_ne!(thread(&na), thread(&nb), "a and b on one thread: {p:?}");
    assert!(p["p01"].dp_thread.is_none(), "a patch port is not polled");
    let mut used: Vec<usize> = p.values().filter_map(|r| r.dp_thread).collect();
    used.sort_unstable();
    used.dedup();
    assert_eq!(used, vec![0, 1], "{p:?}");

    // NORMAL: ARP floods, then unicast to what was learned — across
    // threads and over the patch ports to br1.
    assert!(pings(&a, "10.0.9.2"), "a cannot ping b");
    assert!(
        pings(&b, "10.0.9.3"),
        "b cannot reach c over the patch ports"
    );
    let before = ports(dir.path())[&nc].stats.tx_packets;
    lab::tcp_check(&a, &b, "10.0.9.2:5001".parse().unwrap(), 4 << 20).expect("tcp a->b");
    let after = ports(dir.path());
    // 4 MB is thousands of frames each way: flooded, c would see them.
    let leaked = after[&nc].stats.tx_packets - before;
    assert!(
        leaked < 20,
        "{leaked} frames of a->b reached c: not learned"
    );
    assert!(after[&na].stats.rx_packets > 100 && after[&nb].stats.tx_packets > 100);
    lab::tcp_check(&c, &a, "10.0.9.1:5002".parse().unwrap(), 1 << 20).expect("tcp c->a");

    // learn(): table 0 learns "to this MAC, out of this port" into table
    // 1, whose default floods; both directions get learned flows.
    replace_flows(
        &sw,
        "br0",
        &[
            "table=0,priority=10,actions=learn(table=1,priority=10,\
             NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],output:NXM_OF_IN_PORT[]),resubmit(,1)",
            "table=1,priority=0,actions=flood",
        ],
    );
    assert!(pings(&a, "10.0.9.2"), "ping over learn() flows");
    assert!(pings(&a, "10.0.9.3"), "learn() flows and the patch port");
    let learned = sw.of(Request::DumpFlows {
        bridge: "br0".into(),
        matches: Some("table=1".into()),
    });
    let outputs = learned.matches("actions=output:").count();
    assert!(
        outputs >= 3,
        "expected flows learned for a, b and p01:\n{learned}"
    );

    // Conntrack shared by the threads: a may open connections to b (a's
    // thread commits them), b's replies are established on b's thread;
    // b may not open any to a.
    let pa = sw
        .vs(&format!("get Interface {na} ofport"))
        .trim()
        .to_owned();
    let ct_rules = [
        "table=0,priority=10,arp,actions=NORMAL".to_string(),
        "table=0,priority=100,ip,actions=ct(table=1,zone=3)".into(),
        "table=1,priority=100,ct_state=+trk+est,ip,actions=NORMAL".into(),
        format!("table=1,priority=50,ct_state=+trk+new,tcp,in_port={pa},actions=ct(commit,zone=3),NORMAL"),
        "table=1,priority=0,actions=drop".into(),
    ];
    let ct_rules: Vec<&str> = ct_rules.iter().map(String::as_str).collect();
    replace_flows(&sw, "br0", &ct_rules);
    assert!(tcp_ok(&a, &b, "10.0.9.2:5003"), "a->b refused");
    assert!(
        lab::tcp_check(&a, &b, "10.0.9.2:5004".parse().unwrap(), 4 << 20).is_ok(),
        "bulk a->b through conntrack"
    );
    assert!(tcp_blocked(&b, &a, "10.0.9.1:5005"), "b->a got through");
}
