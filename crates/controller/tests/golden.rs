//! The compiled flows are pinned: two intents compile to exactly the flow
//! text in `tests/golden/*.flows`, recorded from the compiler before its
//! data structures were reworked for speed (issue 9, session 6). Any
//! change to a flow, a cookie or a key assignment shows here as a line
//! diff; a deliberate change re-records them with
//! `GOLDEN_UPDATE=1 cargo test -p controller --test golden`.
//!
//! * `scale`: the scale benchmark's intent at three networks (remote
//!   groups across networks, shared port-range dimensions, routers).
//! * `rich`: one host of three with every kind of resource the compiler
//!   knows: provider network and gateway with SNAT, a dual-stack gateway,
//!   SLAAC and DHCPv6 subnets, floating IPs, static routes, stateless and
//!   stateful groups, ICMP and IPv6 rules, remote CIDRs with port ranges,
//!   allowed address pairs, port security off, DSCP marking, remote and
//!   unbound ports, a DHCP port.

mod common;

use std::net::Ipv4Addr;
use std::path::PathBuf;

use common::scale::{build, Size};
use common::{meta, Builder};
use controller::{Bindings, Chassis, Compiler, Keys};
use model::{AddressPair, HostRoute, QosPolicy, QosRule, QosRuleSpec, Resource};

fn check(name: &str, x: &Builder, b: &Bindings) {
    let mut c = Compiler::new(Keys::default());
    let d = c.full(&x.st, b);
    assert_eq!(c.conflicts(), 0);
    assert!(c.errors().is_empty(), "{:?}", c.errors());
    // The first compile's delta adds exactly the flow set.
    let mut added: Vec<String> = d.add.iter().map(|f| f.to_string()).collect();
    added.sort();
    let text: String = c.flows().iter().map(|f| format!("{f}\n")).collect();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines.sort();
    assert_eq!(
        added, lines,
        "{name}: first delta differs from the flow set"
    );
    assert!(d.delete.is_empty());

    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "golden"]
        .iter()
        .collect::<PathBuf>()
        .join(format!("{name}.flows"));
    if std::env::var_os("GOLDEN_UPDATE").is_some() {
        std::fs::write(&path, &text).expect("write golden file");
        return;
    }
    let want = std::fs::read_to_string(&path).expect("golden file (GOLDEN_UPDATE=1 records it)");
    let (got, want): (Vec<&str>, Vec<&str>) = (text.lines().collect(), want.lines().collect());
    let missing: Vec<&&str> = want.iter().filter(|l| !got.contains(l)).take(5).collect();
    let extra: Vec<&&str> = got.iter().filter(|l| !want.contains(l)).take(5).collect();
    assert!(
        got == want,
        "{name}: {} flows, golden {}; missing (first 5): {missing:#?}; unexpected (first 5): {extra:#?}",
        got.len(),
        want.len()
    );
}

#[test]
fn scale_intent_compiles_to_the_golden_flows() {
    let (x, b, _) = build(&Size {
        networks: 3,
        ports_per_net: 3,
        rules_per_group: 10,
    });
    check("scale", &x, &b);
}

fn chassis(ip: Ipv4Addr, physnets: &[&str]) -> Chassis {
    Chassis {
        ip,
        encaps: vec!["vxlan".into()],
        physnets: physnets.iter().map(|s| s.to_string()).collect(),
    }
}

#[test]
fn rich_intent_compiles_to_the_golden_flows() {
    let mut x = Builder::default();
    let ext = x.external("physnet1");
    let ext_sub = x.subnet(&ext, "198.51.100.0/24", Some("198.51.100.1"));
    let ext6 = x.subnet(&ext, "2001:db8::/64", Some("2001:db8::1"));
    x.v6(&ext6, None);
    let router = x.router("P");
    let gw = x.gateway(&router, &ext, &ext_sub, "198.51.100.10");
    x.gateway_addr(&router, &gw, &ext6, "2001:db8::10");

    let n1 = x.network("P");
    let s1 = x.subnet(&n1, "10.0.0.0/24", Some("10.0.0.1"));
    let s16 = x.subnet(&n1, "2001:db8:1::/64", Some("2001:db8:1::1"));
    x.v6(&s16, Some("slaac"));
    let n2 = x.network("P");
    let s2 = x.subnet(&n2, "10.1.0.0/24", Some("10.1.0.1"));
    let s26 = x.subnet(&n2, "2001:db8:2::/64", Some("2001:db8:2::1"));
    x.v6(&s26, Some("dhcpv6-stateful"));
    x.interface(&router, &n1, &s1, "10.0.0.1");
    x.interface(&router, &n2, &s2, "10.1.0.1");
    x.port_owned(&n2, &s2, "10.1.0.2", &[], model::owner::DHCP, "dhcp");
    let mut r = x.st.routers[&router].clone();
    r.routes = vec![HostRoute {
        destination: "192.0.2.0/24".into(),
        nexthop: "198.51.100.2".into(),
    }];
    x.st.put(Resource::Router(r));

    // Groups: web (stateful, remote group and CIDR rules), sl (stateless).
    let web = x.group("P");
    let db = x.group("P");
    let sl = x.group("P");
    x.rule(&web, "ingress", Some("tcp"), Some((80, 80)), None, None);
    x.rule(
        &web,
        "ingress",
        Some("tcp"),
        Some((1000, 1999)),
        Some("203.0.113.0/24"),
        None,
    );
    x.rule(&web, "ingress", Some("icmp"), Some((8, 0)), None, None);
    x.rule(&web, "egress", None, None, None, None);
    x.rule(
        &db,
        "ingress",
        Some("tcp"),
        Some((5432, 5432)),
        None,
        Some(&web),
    );
    x.rule(&db, "ingress", Some("udp"), None, None, Some(&db));
    let r6 = x.rule(
        &db,
        "ingress",
        Some("tcp"),
        Some((22, 22)),
        Some("2001:db8::/32"),
        None,
    );
    let mut rule6 = x.st.rules[&r6].clone();
    rule6.ethertype = "IPv6".into();
    x.st.put(Resource::SecurityGroupRule(rule6));
    x.rule(&sl, "ingress", Some("tcp"), Some((443, 443)), None, None);
    x.rule(&sl, "egress", Some("tcp"), None, None, None);
    x.st.security_groups.get_mut(&sl).expect("group").stateful = false;

    let web1 = x.port(&n1, &s1, "10.0.0.10", &[&web]);
    let web2 = x.port(&n1, &s1, "10.0.0.11", &[&web, &db]);
    let db1 = x.port(&n2, &s2, "10.1.0.10", &[&db]);
    let sl1 = x.port(&n2, &s2, "10.1.0.11", &[&sl]);
    let open = x.port(&n1, &s1, "10.0.0.12", &[]);
    let unbound = x.port(&n2, &s2, "10.1.0.12", &[&db]);
    let remote = x.port(&n1, &s1, "10.0.0.13", &[&web]);
    // Dual-stack ports, address pairs, port security off, DSCP.
    for (p, sub, ip) in [
        (&web1, &s16, "2001:db8:1::10"),
        (&db1, &s26, "2001:db8:2::10"),
    ] {
        let mut port = x.st.ports[p].clone();
        port.fixed_ips.push(model::FixedIp {
            subnet_id: sub.to_string(),
            ip_address: ip.into(),
        });
        x.st.put(Resource::Port(port));
    }
    let mut port = x.st.ports[&web2].clone();
    port.allowed_address_pairs = vec![
        AddressPair {
            ip_address: "10.0.0.200".into(),
            mac_address: String::new(),
        },
        AddressPair {
            ip_address: "10.0.0.64/28".into(),
            mac_address: "fa:16:3e:aa:bb:cc".into(),
        },
    ];
    x.st.put(Resource::Port(port));
    let mut port = x.st.ports[&open].clone();
    port.port_security_enabled = false;
    x.st.put(Resource::Port(port));
    x.st.put(Resource::QosPolicy(QosPolicy {
        meta: meta("pol".into(), "P"),
        name: "pol".into(),
        shared: false,
        is_default: false,
    }));
    x.st.put(Resource::QosRule(QosRule {
        meta: meta("dscp".into(), "P"),
        qos_policy_id: "pol".into(),
        spec: QosRuleSpec::DscpMarking { dscp_mark: 26 },
    }));
    let mut port = x.st.ports[&db1].clone();
    port.qos_policy_id = Some("pol".into());
    x.st.put(Resource::Port(port));
    x.fip_with_port(&ext, &ext_sub, "198.51.100.50", &web1, "10.0.0.10", &router);
    x.fip(&ext, "198.51.100.51", &remote, "10.0.0.13", &router);

    // This host "a" holds the uplink; "b" holds `remote`.
    let mut b = Bindings {
        chassis: "a".into(),
        ..Bindings::default()
    };
    b.tunnels.insert("vxlan".into(), 50);
    b.bridge_mappings.insert("physnet1".into(), 100);
    b.remote_chassis
        .insert("b".into(), chassis(Ipv4Addr::new(192, 0, 2, 2), &[]));
    b.remote_ports.insert(remote, "b".into());
    for (of, p) in [web1, web2, db1, sl1, open].into_iter().enumerate() {
        b.ports.insert(p, of as u32 + 1);
    }
    let _ = unbound;
    check("rich", &x, &b);
}
