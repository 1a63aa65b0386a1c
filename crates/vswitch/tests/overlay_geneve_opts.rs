//! Geneve options as `tun_metadata` (ovs-fields(7) "Tunnel Fields",
//! ovs-ofctl(8) `add-tlv-map`, RFC 8926 §3.5), with real traffic: two host
//! namespaces on the underlay, each with its own vswitchd, one VM each.
//! Host A tags what its VM sends with `tun_metadata0`; host B admits only
//! `tun_metadata0=0x1234` to its VM. An option B has no mapping for and
//! whose type has the critical bit is dropped with its own reason.

mod common;

use std::time::Duration;

use common::overlay::{host_ip, vm_ip};
use common::{pings, vm, Daemon};
use vswitch::{call, Request};

/// The option tun_metadata0 stands for on both hosts.
const MAP0: &str = "{class=0xffff,type=0,len=4}->tun_metadata0";
/// A critical option (type bit 0x80) only host A maps.
const MAP1_CRIT: &str = "{class=0x102,type=0x80,len=4}->tun_metadata1";

struct Host {
    vm: lab::Netns,
    sw: Daemon,
    dir: tempfile::TempDir,
    host: lab::Host,
}

fn host(lab: &lab::Lab, i: usize) -> Host {
    let mut host = lab.host(&format!("g{i}")).expect("host");
    host.set_underlay_ip(format!("{}/24", host_ip(i)).parse().expect("ip"))
        .expect("underlay ip");
    let dir = tempfile::tempdir().expect("run dir");
    let sw = Daemon::start(&host, dir.path(), &[]);
    sw.vs("add-br br0");
    let vm = vm(
        lab,
        &sw,
        "br0",
        &format!("g{i}vm"),
        &format!("{}/24", vm_ip(0, i)),
        "",
    );
    sw.vs(&format!(
        "add-port br0 gnv0 -- set Interface gnv0 type=geneve options:remote_ip={} options:key=100 ofport_request=2",
        host_ip(1 - i)
    ));
    Host { vm, sw, dir, host }
}

fn try_of(sw: &Host, req: Request) -> Result<String, String> {
    call(sw.dir.path(), &req, Duration::from_secs(10)).map_err(|e| e.to_string())
}

fn flows(sw: &Daemon, flows: &[&str]) {
    sw.of(Request::DelFlows {
        bridge: "br0".into(),
        matches: None,
        strict: false,
    });
    sw.of(Request::AddFlows {
        bridge: "br0".into(),
        flows: flows.iter().map(|f| f.to_string()).collect(),
    });
}

/// `n_packets` of the flow whose dump line contains `needle`.
fn n_packets(sw: &Daemon, needle: &str) -> u64 {
    let dump = sw.of(Request::DumpFlows {
        bridge: "br0".into(),
        matches: None,
    });
    let line = dump
        .lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no flow with {needle:?}:\n{dump}"));
    line.split("n_packets=")
        .nth(1)
        .and_then(|r| r.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no n_packets in {line}"))
}

/// A drop counter of `dump-tables`.
fn drops(sw: &Daemon, reason: &str) -> u64 {
    let t = sw.of(Request::DumpTables {
        bridge: "br0".into(),
    });
    t.split_whitespace()
        .find_map(|w| w.strip_prefix(&format!("{reason}=")))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no {reason} counter:\n{t}"))
}

fn add_map(h: &Host, map: &str) {
    h.sw.of(Request::AddTlvMap {
        bridge: "br0".into(),
        map: map.into(),
    });
}

#[test]
fn tun_metadata_admits_tags_and_critical_unknown_options_drop() {
    let Some(lab) = lab::Lab::new_or_skip("geneve_opts") else {
        return;
    };
    // The VM's port is the bridge's first (ofport 1), the tunnel ofport 2.
    let hosts: Vec<Host> = (0..2).map(|i| host(&lab, i)).collect();
    let (a, b) = (&hosts[0], &hosts[1]);

    // Flows may not use an unmapped field.
    let e = try_of(
        a,
        Request::AddFlows {
            bridge: "br0".into(),
            flows: vec!["in_port=1 actions=set_field:0x1->tun_metadata0,output:2".into()],
        },
    )
    .unwrap_err();
    assert!(e.contains("tun_metadata0 is not mapped"), "{e}");
    for h in [a, b] {
        add_map(h, MAP0);
    }
    let e = try_of(
        a,
        Request::AddTlvMap {
            bridge: "br0".into(),
            map: "{class=0xffff,type=0,len=4}->tun_metadata2".into(),
        },
    )
    .unwrap_err();
    assert!(e.contains("already mapped"), "{e}");

    let tag = |v: &str| format!("in_port=1 actions=set_field:{v}->tun_metadata0,output:2");
    flows(&a.sw, &[&tag("0x1234"), "in_port=2 actions=output:1"]);
    flows(
        &b.sw,
        &[
            "in_port=1 actions=output:2",
            "priority=10,in_port=2,tun_metadata0=0x1234 actions=output:1",
            "priority=5,in_port=2 actions=drop",
        ],
    );
    let dump = b.sw.of(Request::DumpFlows {
        bridge: "br0".into(),
        matches: None,
    });
    assert!(dump.contains("tun_metadata0=0x1234,in_port=2"), "{dump}");
    let to_b = vm_ip(0, 1);
    assert!(pings(&a.vm, &to_b), "tagged 0x1234: A's VM reaches B's");
    // The option is part of the overhead: a full-size DF frame from the
    // VM (MTU 1500) gets frag-needed with 1500 - 50 - 8 (RFC 8926 §3.4:
    // a 4-byte option and its 4-byte header).
    let out =
        a.vm.exec_output(
            &[
                "ping", "-M", "do", "-s", "1472", "-c", "1", "-W", "2", &to_b,
            ],
            Duration::from_secs(5),
        )
        .expect("ping runs");
    let text = format!("{}{}", out.stdout, out.stderr);
    assert!(
        text.contains("mtu = 1442") || text.contains("mtu=1442"),
        "no frag-needed with mtu 1442:\n{text}"
    );
    let admitted = n_packets(&b.sw, "tun_metadata0=0x1234");
    assert!(admitted >= 3, "B admitted {admitted} tagged packets");

    // ofproto/trace takes the field in the packet description.
    let trace = |md: &str| {
        b.sw.of(Request::Trace {
            bridge: "br0".into(),
            flow: format!("in_port=2,tun_metadata0={md}"),
        })
    };
    let (ok, bad) = (trace("0x1234"), trace("0x9999"));
    assert!(
        ok.contains("tun_metadata0=0x1234") && ok.contains("output:1"),
        "{ok}"
    );
    assert!(!bad.contains("output:1"), "{bad}");

    // Another tag: B's table drops it, and its drop flow counts it.
    flows(&a.sw, &[&tag("0x9999"), "in_port=2 actions=output:1"]);
    let dropped_before = n_packets(&b.sw, "priority=5");
    assert!(!pings(&a.vm, &to_b), "0x9999 must not be admitted");
    let dropped = n_packets(&b.sw, "priority=5") - dropped_before;
    assert!(dropped >= 3, "B's drop flow counted {dropped}");
    assert_eq!(n_packets(&b.sw, "tun_metadata0=0x1234"), admitted);

    // A critical option B does not know: dropped before the tables.
    add_map(a, MAP1_CRIT);
    flows(
        &a.sw,
        &[
            "in_port=1 actions=set_field:0x1234->tun_metadata0,set_field:0x7->tun_metadata1,output:2",
            "in_port=2 actions=output:1",
        ],
    );
    let crit_before = drops(&b.sw, "geneve_critical_option");
    assert!(!pings(&a.vm, &to_b), "an unknown critical option must drop");
    let crit = drops(&b.sw, "geneve_critical_option") - crit_before;
    assert!(crit >= 3, "geneve_critical_option counted {crit}");
    assert_eq!(n_packets(&b.sw, "tun_metadata0=0x1234"), admitted);
    // Once B maps it too, the packets are delivered again.
    add_map(b, MAP1_CRIT);
    assert!(pings(&a.vm, &to_b), "mapped critical option is understood");

    // A mapping in use cannot go; the map survives a restart of B.
    let e = try_of(
        b,
        Request::DelTlvMap {
            bridge: "br0".into(),
            map: Some(MAP0.into()),
        },
    )
    .unwrap_err();
    assert!(e.contains("in use by 1 flow"), "{e}");
    let Host {
        vm,
        mut sw,
        dir,
        host,
    } = hosts.into_iter().nth(1).expect("host B");
    sw.kill();
    let sw = Daemon::start(&host, dir.path(), &[]);
    let map = sw.of(Request::DumpTlvMap {
        bridge: "br0".into(),
    });
    assert!(
        map.contains("0xffff\t0\t4\ttun_metadata0")
            && map.contains("0x102\t0x80\t4\ttun_metadata1"),
        "{map}"
    );
    drop((vm, sw));
}
