//! The single-host cloud end to end: `cloudnet serve` (API, store, switch,
//! agent) in a test host namespace, driven only by the CLI a user runs —
//! networks, subnets, ports, `port plug`, security groups — and checked
//! with real traffic between namespace VMs that get their addresses from a
//! real DHCP client (busybox udhcpc).

mod common;

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use common::{bench, pings, tcp, vm, vm_with, Serve};
use lab::Netns;

/// [`common::tcp_peer`] to port 8080, retried for up to 15 s (the first
/// SYN may be consumed while the router resolves a next hop).
fn await_round_trip(what: &str, from: &Netns, server: &Netns, to: IpAddr) -> SocketAddr {
    let mut peer = None;
    lab::wait_until(what, Duration::from_secs(15), || {
        peer = common::tcp_peer(from, server, to, 8080, Duration::from_secs(4));
        peer.is_some()
    })
    .unwrap_or_else(|e| panic!("{what}: {e:?}"));
    peer.expect("round trip")
}

#[test]
fn single_host_cloud() {
    let Some((lab, bb, tmp, host)) = bench("single_host_cloud") else {
        return;
    };
    let s = Serve::start(&host, &tmp.path().join("data"));

    // Project A: one network with DHCP, two VMs in the default group.
    s.create(&["network", "create", "neta"]);
    s.subnet("suba", "neta", "10.0.0.0/24", &[]);
    let p1 = s.create(&["port", "create", "pa1", "--network", "neta"]);
    let p2 = s.create(&["port", "create", "pa2", "--network", "neta"]);
    let (vm1, ip1) = vm(&lab, &s, &bb, "vm1", &p1, tmp.path());
    let (vm2, ip2) = vm_with(&lab, &s, &bb, "vm2", &p2, tmp.path(), true);
    assert_ne!(ip1, ip2);
    lab::wait_until("ports ACTIVE", Duration::from_secs(5), || {
        s.cli(&["port", "show", &p1, "-f", "value", "-c", "status"]) == "ACTIVE"
    })
    .expect("a bound port becomes ACTIVE");
    assert!(pings(&vm1, ip2), "same-network ping");
    assert!(pings(&vm2, ip1), "same-network ping back");
    assert!(tcp(&vm1, &vm2, ip2, 80), "TCP inside the default group");

    // A group that allows only TCP 22 in.
    let web = s.create(&["security", "group", "create", "web"]);
    s.create(&[
        "security",
        "group",
        "rule",
        "create",
        &web,
        "--ingress",
        "--protocol",
        "tcp",
        "--dst-port",
        "22",
    ]);
    s.cli(&["port", "set", &p2, "--security-group", &web]);
    lab::wait_until("TCP 80 to vm2 refused", Duration::from_secs(5), || {
        !tcp(&vm1, &vm2, ip2, 80)
    })
    .expect("TCP 80 blocked by the web group");
    assert!(tcp(&vm1, &vm2, ip2, 22), "TCP 22 allowed by the web group");
    assert!(!pings(&vm1, ip2), "ICMP to vm2 blocked by the web group");
    assert!(
        !tcp(&vm2, &vm1, ip1, 8080),
        "vm1's default group admits only its own members"
    );

    // Project B reuses 10.0.0.0/24 and has no path to project A.
    s.create(&["network", "create", "netb", "--project", "projb"]);
    s.subnet("subb", "netb", "10.0.0.0/24", &["--project", "projb"]);
    let p3 = s.create(&[
        "port",
        "create",
        "pb1",
        "--network",
        "netb",
        "--project",
        "projb",
    ]);
    let (vm3, ip3) = vm(&lab, &s, &bb, "vm3", &p3, tmp.path());
    // vm3 may hold vm1's address: test the other VM of project A then.
    let (other_vm, other) = if ip3 == ip1 { (&vm2, ip2) } else { (&vm1, ip1) };
    assert!(!pings(&vm3, other), "no path from project B to project A");
    assert!(
        !tcp(&vm3, other_vm, other, 22),
        "no TCP path from project B to project A"
    );

    // A restart loses nothing and installs the same flows.
    let before = s.flows();
    drop(s);
    let s = Serve::start(&host, &tmp.path().join("data"));
    lab::wait_until("same flows after restart", Duration::from_secs(10), || {
        s.flows() == before
    })
    .expect("identical flows after a restart");
    assert!(tcp(&vm1, &vm2, ip2, 22), "TCP 22 after the restart");

    // Deleting a port removes its flows.
    let cookie = controller::Owner::Port(p2.clone()).cookie();
    assert!(s.flows_with_cookie(cookie) > 0, "port has flows");
    s.cli(&["port", "unplug", &p2]);
    s.cli(&["port", "delete", &p2]);
    lab::wait_until("port flows removed", Duration::from_secs(5), || {
        s.flows_with_cookie(cookie) == 0
    })
    .expect("no flow carries the deleted port's cookie");
    drop(vm3);
}

#[test]
fn router_snat_floating_ip() {
    let Some((lab, bb, tmp, host)) = bench("router_snat_floating_ip") else {
        return;
    };
    // The "internet": a namespace behind the host's uplink (physnet1).
    let (inet, _link) = common::internet::internet(&lab, &host);
    inet.add_addr("eth0", "203.0.113.100/24".parse().expect("cidr"))
        .expect("addr");
    let s = Serve::start_with(
        &host,
        &tmp.path().join("data"),
        &["--bridge-mapping", common::internet::MAPPING],
    );

    // Two subnets joined by a router.
    s.create(&["network", "create", "n1"]);
    s.subnet("s1", "n1", "10.1.0.0/24", &[]);
    s.create(&["network", "create", "n2"]);
    s.subnet("s2", "n2", "10.2.0.0/24", &[]);
    let r1 = s.create(&["router", "create", "r1"]);
    s.cli(&["router", "add", "subnet", "r1", "s1"]);
    s.cli(&["router", "add", "subnet", "r1", "s2"]);
    let p1 = s.create(&["port", "create", "q1", "--network", "n1"]);
    let p2 = s.create(&["port", "create", "q2", "--network", "n2"]);
    let (vm1, _ip1) = vm(&lab, &s, &bb, "vm1", &p1, tmp.path());
    let (vm2, ip2) = vm(&lab, &s, &bb, "vm2", &p2, tmp.path());
    assert!(pings(&vm1, ip2), "cross-subnet ping through the router");

    // SNAT to the internet through the bridge mapping.
    common::internet::ext_network("203.0.113.1", |a| s.create(a));
    s.cli(&["router", "set", "r1", "--external-gateway", "ext"]);
    let internet: IpAddr = "203.0.113.100".parse().expect("ip");
    let gw_net: ipnet::IpNet = "203.0.113.0/24".parse().expect("cidr");
    // TCP through SNAT: the internet's address is no Neutron port, so the
    // router resolves it with an ARP request (the first SYN is consumed,
    // the retransmission goes out to the learned MAC). Linux's TCP drops
    // frames not addressed to its MAC, so this fails with a broadcast
    // destination. The internet has no route to 10.1.0.0/24: it sees the
    // gateway's address as the source.
    let peer = await_round_trip("TCP from vm1 to the internet", &vm1, &inet, internet);
    assert!(gw_net.contains(&peer.ip()), "SNAT source {peer}");
    // The binding was learned per router, from the internet's ARP reply.
    let bindings = controller::flowset::mac_binding_cookie(&r1);
    assert_eq!(
        s.flows_with_cookie(bindings),
        1,
        "one learned MAC binding {bindings:#x}: {}",
        s.cli(&["ofctl", "dump-flows", "br-int", "table=30"])
    );
    assert!(pings(&vm1, internet), "ICMP through SNAT");

    // A floating IP on vm2, reachable from the internet (ICMP and TCP
    // 8080 opened in the default group).
    for proto in [&["icmp"][..], &["tcp", "--dst-port", "8080"]] {
        let mut a = vec![
            "security",
            "group",
            "rule",
            "create",
            "default",
            "--ingress",
            "--protocol",
        ];
        a.extend(proto);
        s.create(&a);
    }
    let (fip_id, fip) = s.floating_ip(&p2, &[]);
    lab::wait_until(
        "internet reaches the floating IP",
        Duration::from_secs(5),
        || pings(&inet, fip),
    )
    .expect("floating IP reachable from the internet");
    // TCP to the floating IP (DNAT), answered from it (unDNAT) to the
    // internet's learned MAC.
    let peer = await_round_trip("TCP from the internet to the floating IP", &inet, &vm2, fip);
    assert_eq!(peer.ip(), internet, "no SNAT on DNAT");
    // Without its external gateway the router's learned bindings go.
    s.cli(&["floating", "ip", "delete", &fip_id]);
    s.cli(&["router", "set", "r1", "--no-external-gateway"]);
    lab::wait_until("MAC bindings flushed", Duration::from_secs(5), || {
        s.flows_with_cookie(bindings) == 0
    })
    .expect("no learned binding after the gateway is removed");
}

/// Neutron's stateless security groups: rules match each direction without
/// conntrack, so the replies of an allowed connection need a rule too.
#[test]
fn stateless_security_group() {
    let Some((lab, bb, tmp, host)) = bench("stateless_security_group") else {
        return;
    };
    let s = Serve::start(&host, &tmp.path().join("data"));
    s.network("n", "10.4.0.0/24");
    let rule = |group: &str, extra: &[&str]| {
        let mut a = vec!["security", "group", "rule", "create", group, "--ingress"];
        a.extend(extra);
        s.create(&a);
    };
    // New groups come with egress-any rules (Neutron); `sl` admits only
    // TCP 80 in, `open` anything.
    let sl = s.create(&["security", "group", "create", "sl", "--stateless"]);
    rule(&sl, &["--protocol", "tcp", "--dst-port", "80"]);
    let open = s.create(&["security", "group", "create", "open"]);
    rule(&open, &[]);
    let port = |name: &str, group: &str| s.port_in(name, "n", group, &[]);
    let (p1, p2) = (port("c", &open), port("w", &sl));
    let (vm1, ip1) = vm(&lab, &s, &bb, "vm1", &p1, tmp.path());
    let (vm2, ip2) = vm(&lab, &s, &bb, "vm2", &p2, tmp.path());
    // In to TCP 80 and back out under the egress rule.
    assert!(tcp(&vm1, &vm2, ip2, 80), "TCP 80 to the stateless port");
    assert!(!tcp(&vm1, &vm2, ip2, 81), "no rule for port 81");
    // Out from the stateless port: the replies come back to an ephemeral
    // port no ingress rule names, and nothing remembers the connection.
    assert!(!tcp(&vm2, &vm1, ip1, 5000), "replies need an ingress rule");
    rule(&sl, &["--protocol", "tcp", "--dst-port", "1024:65535"]);
    lab::wait_until(
        "TCP out with the reply rule",
        Duration::from_secs(10),
        || tcp(&vm2, &vm1, ip1, 5000),
    )
    .expect("TCP from the stateless port once replies are allowed");
    assert!(!pings(&vm1, ip2), "no rule for ICMP");
}

/// Bytes per second `server` receives on `port` over `[warm, warm+span]`
/// while `client` sends to `to` as fast as it can.
fn tcp_rate(client: &Netns, server: &Netns, to: IpAddr, warm: Duration, span: Duration) -> f64 {
    let l = server
        .tcp_listener(SocketAddr::new("0.0.0.0".parse().expect("ip"), 5201))
        .expect("listen");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut c = client
        .tcp_connect(SocketAddr::new(to, 5201), Duration::from_secs(2))
        .expect("connect");
    let st = stop.clone();
    let sender = std::thread::spawn(move || {
        let buf = [0u8; 16384];
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !st.load(std::sync::atomic::Ordering::Relaxed) && std::time::Instant::now() < deadline
        {
            if c.write_all(&buf).is_err() {
                break;
            }
        }
    });
    let (mut s, _) = lab::accept_within(&l, Duration::from_secs(5)).expect("accept");
    s.set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    let mut buf = [0u8; 65536];
    let t0 = std::time::Instant::now();
    let mut counted = 0u64;
    let mut start = None;
    while t0.elapsed() < warm + span {
        let n = s.read(&mut buf).unwrap_or(0);
        if n == 0 {
            break;
        }
        if t0.elapsed() >= warm {
            start.get_or_insert_with(std::time::Instant::now);
            counted += n as u64;
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    drop(s);
    let _ = sender.join();
    let secs = start.map_or(0.0, |t| t.elapsed().as_secs_f64());
    assert!(secs > 0.5, "too short a measurement ({secs} s)");
    counted as f64 / secs
}

#[test]
fn qos_bandwidth_limit() {
    let Some((lab, bb, tmp, host)) = bench("qos_bandwidth_limit") else {
        return;
    };
    let s = Serve::start(&host, &tmp.path().join("data"));
    s.network("n", "10.3.0.0/24");
    s.create(&["qos", "policy", "create", "ten"]);
    // Neutron's direction is the VM's: ingress is what the VM receives.
    s.cli(&[
        "qos",
        "rule",
        "create",
        "ten",
        "--type",
        "bandwidth-limit",
        "--max-kbps",
        "10000",
        "--max-burst-kbits",
        "1000",
        "--ingress",
    ]);
    let p1 = s.create(&["port", "create", "b1", "--network", "n"]);
    let p2 = s.create(&[
        "port",
        "create",
        "b2",
        "--network",
        "n",
        "--qos-policy",
        "ten",
    ]);
    let (vm1, _) = vm(&lab, &s, &bb, "vm1", &p1, tmp.path());
    let (vm2, ip2) = vm(&lab, &s, &bb, "vm2", &p2, tmp.path());
    assert!(pings(&vm1, ip2), "same-network ping");
    let bps = 8.0
        * tcp_rate(
            &vm1,
            &vm2,
            ip2,
            Duration::from_secs(1),
            Duration::from_secs(3),
        );
    // TCP payload on 1514-byte frames is 1448/1514 of the shaped rate.
    let expect = 10e6 * 1448.0 / 1514.0;
    assert!(
        (bps - expect).abs() <= 0.10 * expect,
        "goodput {:.2} Mbit/s, want {:.2} ± 10%",
        bps / 1e6,
        expect / 1e6
    );
    eprintln!("qos_bandwidth_limit: goodput {:.2} Mbit/s", bps / 1e6);
}

/// `GET /v2.0/cloudnet/port-stats` from inside `host` (where serve listens
/// on loopback): the `port_stats` object.
fn port_stats(host: &Netns, endpoint: &str) -> serde_json::Value {
    let addr: SocketAddr = endpoint
        .trim_start_matches("http://")
        .parse()
        .expect("endpoint address");
    let mut c = host
        .tcp_connect(addr, Duration::from_secs(5))
        .expect("connect to the API");
    c.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        c,
        "GET /v2.0/cloudnet/port-stats HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("send request");
    let mut resp = String::new();
    c.read_to_string(&mut resp).expect("read response");
    let (head, body) = resp.split_once("\r\n\r\n").expect("HTTP response");
    assert!(head.starts_with("HTTP/1.1 200"), "port-stats: {resp}");
    let v: serde_json::Value = serde_json::from_str(body).expect("JSON body");
    v["port_stats"].clone()
}

/// The topology page's live counters come from the switch `serve` runs:
/// after pings between two VMs both ports count frames each way in
/// `/v2.0/cloudnet/port-stats`, and the page (headless chromium in the
/// host namespace) shows them on the ports' boxes.
#[test]
fn topology_counters_from_the_switch() {
    let test = "topology_counters_from_the_switch";
    let Some((lab, bb, tmp, host)) = bench(test) else {
        return;
    };
    let s = Serve::start(&host, &tmp.path().join("data"));
    s.create(&["network", "create", "n"]);
    s.subnet("sub", "n", "10.4.0.0/24", &[]);
    let p1 = s.create(&["port", "create", "c1", "--network", "n"]);
    let p2 = s.create(&["port", "create", "c2", "--network", "n"]);
    let (vm1, _) = vm(&lab, &s, &bb, "vm1", &p1, tmp.path());
    let (_vm2, ip2) = vm(&lab, &s, &bb, "vm2", &p2, tmp.path());
    assert!(pings(&vm1, ip2), "same-network ping");

    let stats = port_stats(&host, &s.endpoint);
    for p in [&p1, &p2] {
        let c = &stats[p.as_str()];
        let n = |k: &str| c[k].as_u64().unwrap_or(0);
        // DHCP, ARP and ICMP both ways: frames in and out of each port,
        // each at least a minimum Ethernet frame without FCS.
        assert!(n("rx_packets") >= 2 && n("tx_packets") >= 2, "{p}: {c}");
        assert!(n("rx_bytes") >= 60 * n("rx_packets"), "{p}: {c}");
    }

    let Some(chromium) = common::chromium(test) else {
        return;
    };
    let url = format!("{}/ui", s.endpoint);
    let prefix = ["ip", "netns", "exec", host.name()];
    let (dom, _) = common::dump_dom_when(
        "ready",
        &prefix,
        &chromium,
        &tmp.path().join("profile"),
        &url,
    );
    for p in [&p1, &p2] {
        let at = dom
            .find(&format!("data-id=\"{p}\" data-kind=\"port\""))
            .unwrap_or_else(|| panic!("no box for port {p}:\n{dom}"));
        let tag = &dom[at..at + dom[at..].find('>').expect("tag end")];
        let rx: u64 = tag
            .split("data-rx-packets=\"")
            .nth(1)
            .and_then(|v| v.split('"').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("port {p} shows no counters: {tag}"));
        assert!(rx >= 2, "port {p}: page shows rx {rx}");
        eprintln!("{test}: the page shows port {p} with {rx} frames received");
    }
}
