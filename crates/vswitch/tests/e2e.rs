//! End-to-end tests: real daemons, real TAPs and veths, real traffic
//! (ping, TCP) between network namespaces. Each test has its own lab
//! (unique name prefix, torn down on drop), its own daemon process in its
//! own host namespace and its own run directory.
//!
//! Run: `cargo test --release -p vswitch --test e2e` (as root).

mod common;

use std::time::{Duration, Instant};

use common::{has_neighbour, pings, vm, Daemon};
use lab::Lab;
use vswitch::Request;

fn setup(label: &str) -> Option<(Lab, lab::Netns, tempfile::TempDir, Daemon)> {
    let lab = Lab::new_or_skip(label)?;
    let host = lab.netns("h").expect("host netns");
    let dir = tempfile::tempdir().expect("tempdir");
    let sw = Daemon::start(&host, dir.path(), &[]);
    Some((lab, host, dir, sw))
}

/// The seed's `brctl addbr br0; brctl addif br0 tap0; brctl addif br0 tap1`:
/// two VMs on one bridge exchange ping and TCP.
#[test]
fn two_vms_on_one_bridge_ping_and_tcp() {
    let Some((lab, _host, _dir, sw)) = setup("vsw_two_vms") else {
        return;
    };
    sw.vs("add-br br0");
    let a = vm(&lab, &sw, "br0", "a", "10.0.0.1/24", "");
    let b = vm(&lab, &sw, "br0", "b", "10.0.0.2/24", "");
    assert!(pings(&a, "10.0.0.2"), "a cannot ping b");
    lab::tcp_check(&a, &b, "10.0.0.2:5001".parse().unwrap(), 4 << 20).expect("tcp a->b");
    let ports = sw.of(Request::DumpPorts {
        bridge: "br0".into(),
        port: Some("1".into()),
    });
    assert!(!ports.contains("rx pkts=0,"), "{ports}");
    let flows = sw.of(Request::DumpFlows {
        bridge: "br0".into(),
        matches: None,
    });
    assert!(
        flows.contains("actions=NORMAL") && !flows.contains("n_packets=0"),
        "{flows}"
    );

    // Ingress policing on a's port: 100 kbit/s with a 10 kbit burst cannot
    // pass a 1400-byte echo request; lifting it restores traffic.
    let pa = lab.name("a").unwrap();
    sw.vs(&format!(
        "set Interface {pa} ingress_policing_rate=100 ingress_policing_burst=10"
    ));
    let big = lab::PingOptions {
        count: 2,
        payload: 1400,
        ..lab::PingOptions::default()
    };
    let s = lab::ping_with(&a, "10.0.0.2".parse().unwrap(), big).unwrap();
    assert_eq!(s.received, 0, "policer let {s:?} through");
    let tables = sw.of(Request::DumpTables {
        bridge: "br0".into(),
    });
    assert!(!tables.contains("policed=0"), "{tables}");
    sw.vs(&format!("set Interface {pa} ingress_policing_rate=0"));
    let s = lab::ping_with(&a, "10.0.0.2".parse().unwrap(), big).unwrap();
    assert!(s.all_received(), "{s:?}");
}

/// Two namespaces on veths attached as `system` ports (AF_PACKET): the
/// veths hand over CHECKSUM_PARTIAL frames, which must arrive intact.
#[test]
fn system_ports_carry_tcp() {
    let Some((lab, host, _dir, sw)) = setup("vsw_system") else {
        return;
    };
    let a = lab.netns("a").unwrap();
    let b = lab.netns("b").unwrap();
    let _la = lab.veth(&host, "va", &a, "eth0").unwrap();
    let _lb = lab.veth(&host, "vb", &b, "eth0").unwrap();
    for (ns, dev) in [(&host, "va"), (&host, "vb"), (&a, "eth0"), (&b, "eth0")] {
        ns.link_up(dev).unwrap();
    }
    a.add_addr("eth0", "10.0.1.1/24".parse().unwrap()).unwrap();
    b.add_addr("eth0", "10.0.1.2/24".parse().unwrap()).unwrap();
    sw.vs("add-br br0 -- add-port br0 va -- add-port br0 vb");
    assert!(pings(&a, "10.0.1.2"), "a cannot ping b");
    lab::tcp_check(&a, &b, "10.0.1.2:5001".parse().unwrap(), 8 << 20).expect("tcp over veths");
}

/// Two tenants on one bridge, tag=10 and tag=20, same subnet: ARP and IP
/// work within a tenant and fail across.
#[test]
fn vlan_tags_isolate_tenants() {
    let Some((lab, _host, _dir, sw)) = setup("vsw_vlans") else {
        return;
    };
    sw.vs("add-br br0");
    let a1 = vm(&lab, &sw, "br0", "a1", "10.0.2.1/24", "tag=10");
    let a2 = vm(&lab, &sw, "br0", "a2", "10.0.2.2/24", "tag=10");
    let b1 = vm(&lab, &sw, "br0", "b1", "10.0.2.3/24", "tag=20");
    let _b2 = vm(&lab, &sw, "br0", "b2", "10.0.2.4/24", "tag=20");
    assert!(pings(&a1, "10.0.2.2"), "same tenant (10)");
    assert!(pings(&b1, "10.0.2.4"), "same tenant (20)");
    assert!(!pings(&a1, "10.0.2.3"), "tag 10 reached tag 20");
    assert!(!has_neighbour(&a1, "10.0.2.3"), "ARP crossed tenants");
    assert!(!pings(&a2, "10.0.2.4"), "tag 10 reached tag 20");
    assert!(!has_neighbour(&b1, "10.0.2.1"), "ARP crossed tenants");
    assert!(has_neighbour(&a1, "10.0.2.2"), "ARP within tenant");
}

/// A trunk carrying tags 10 and 20 joins two bridges through patch ports;
/// tenants reach their own VLAN on the other bridge, not the other one.
#[test]
fn trunk_over_patch_ports() {
    let Some((lab, _host, _dir, sw)) = setup("vsw_trunk") else {
        return;
    };
    sw.vs("add-br br0 -- add-br br1");
    sw.vs(
        "add-port br0 p01 trunks=10,20 -- set Interface p01 type=patch options:peer=p10 \
         -- add-port br1 p10 trunks=10,20 -- set Interface p10 type=patch options:peer=p01",
    );
    let a1 = vm(&lab, &sw, "br0", "a1", "10.0.3.1/24", "tag=10");
    let b1 = vm(&lab, &sw, "br0", "b1", "10.0.3.3/24", "tag=20");
    let _a2 = vm(&lab, &sw, "br1", "a2", "10.0.3.2/24", "tag=10");
    let _b2 = vm(&lab, &sw, "br1", "b2", "10.0.3.4/24", "tag=20");
    assert!(pings(&a1, "10.0.3.2"), "VLAN 10 across the trunk");
    assert!(pings(&b1, "10.0.3.4"), "VLAN 20 across the trunk");
    assert!(!pings(&a1, "10.0.3.4"), "VLAN 10 leaked into 20");
    let b1_port = sw.vs(&format!("get Interface {} ofport", lab.name("b1").unwrap()));
    let trace = sw.of(Request::Trace {
        bridge: "br0".into(),
        flow: format!(
            "in_port={},dl_src=02:00:00:00:00:01,dl_dst=ff:ff:ff:ff:ff:ff",
            b1_port.trim()
        ),
    });
    assert!(trace.contains("push_vlan(vid=20),p01"), "{trace}");
}

/// The seed's NAT mode skeleton: the gateway address lives on the bridge's
/// internal port; a VM reaches it.
#[test]
fn gateway_on_internal_port() {
    let Some((lab, host, _dir, sw)) = setup("vsw_gateway") else {
        return;
    };
    sw.vs("add-br br0");
    host.add_addr("br0", "10.0.4.1/24".parse().unwrap())
        .unwrap();
    host.link_up("br0").unwrap();
    let v = vm(&lab, &sw, "br0", "v", "10.0.4.10/24", "");
    v.default_route("10.0.4.1".parse().unwrap()).unwrap();
    assert!(pings(&v, "10.0.4.1"), "VM cannot reach its gateway");
    lab::tcp_check(&host, &v, "10.0.4.10:5001".parse().unwrap(), 1 << 20)
        .expect("host to VM through the internal port");
}

/// Kill the daemon (SIGKILL); the VMs keep their NICs. Restarted on the
/// same run directory, it has the bridges and ports back, and traffic
/// flows again as soon as the controller re-adds flows.
#[test]
fn restart_restores_bridges_and_ports() {
    let Some((lab, host, dir, mut sw)) = setup("vsw_restart") else {
        return;
    };
    sw.vs("add-br br0");
    let a = vm(&lab, &sw, "br0", "a", "10.0.5.1/24", "tag=7");
    let b = vm(&lab, &sw, "br0", "b", "10.0.5.2/24", "tag=7");
    assert!(pings(&a, "10.0.5.2"));
    let before = sw.vs("show");
    // The pings below, dropped, leave a's neighbour entry for b
    // INCOMPLETE; the guest then retries ARP every `retrans_time_ms` (1 s
    // by default), and that timer, not the switch, decided when ping came
    // back (measured: 1.01-1.06 s, the first ARP retry after the flows).
    // A guest retrying every 100 ms shows the switch's own delay.
    a.set_sysctl("net.ipv4.neigh.eth0.retrans_time_ms", "100")
        .expect("ARP retry timer");
    sw.kill();
    assert!(
        a.links().unwrap().iter().any(|l| l == "eth0"),
        "VM lost its NIC"
    );
    assert!(!pings(&a, "10.0.5.2"), "traffic without a switch");

    let sw = Daemon::start(&host, dir.path(), &[]);
    assert_eq!(sw.vs("show"), before, "configuration not restored");
    let port_a = lab.name("a").unwrap();
    assert_eq!(sw.vs(&format!("get Port {port_a} tag")).trim(), "7");
    // The controller re-installs its flows.
    sw.of(Request::DelFlows {
        bridge: "br0".into(),
        matches: None,
        strict: false,
    });
    assert!(!pings(&a, "10.0.5.2"), "no flows, yet traffic");
    sw.of(Request::AddFlows {
        bridge: "br0".into(),
        flows: vec!["priority=0,actions=NORMAL".into()],
    });
    let t = Instant::now();
    // Probe often: each probe waits at most 100 ms for its reply.
    let probe = lab::PingOptions {
        count: 1,
        reply_timeout: Duration::from_millis(100),
        ..lab::PingOptions::default()
    };
    lab::wait_until("ping resumes", Duration::from_secs(3), || {
        lab::ping_with(&a, "10.0.5.2".parse().unwrap(), probe).is_ok_and(|s| s.all_received())
    })
    .expect("ping did not resume");
    eprintln!(
        "ping resumed {:?} after the flows were re-added",
        t.elapsed()
    );
    // Issue 4: ping resumes within a second of the flows being re-added.
    assert!(
        t.elapsed() < Duration::from_secs(1),
        "ping resumed only after {:?}",
        t.elapsed()
    );
    lab::tcp_check(&b, &a, "10.0.5.1:5001".parse().unwrap(), 1 << 20).expect("tcp after restart");
}
