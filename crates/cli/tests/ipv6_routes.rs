//! IPv6 through a router's external gateway and static routes, end to
//! end and driven only by the CLI: a VM that took its address by SLAAC
//! pings an "internet" namespace through the gateway (no NAT: the internet
//! routes the tenant prefix back to the gateway port's address), and
//! prefixes behind a host on the provider network that is no Neutron port,
//! one IPv6 and one IPv4, through static routes — each next hop resolved by
//! the router itself (Neighbor Solicitation / ARP request) and learned.
//! Another project's VM reaches none of it.

mod common;

use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

use common::internet::{internet, MAPPING};
use common::v6::{await_slaac, port_v6, vm};
use common::{bench, pings, Serve};
use lab::{Lab, Netns, VethPair};

/// The upstream router of the provider network (its subnets' gateway).
const UPSTREAM6: &str = "2001:db8::1";
/// A host on the provider network that is no Neutron port, the next hop of
/// the static routes (outside the addresses the API hands out first).
const PEER6: &str = "2001:db8::ee";
const PEER4: &str = "203.0.113.250";
/// Addresses behind them: on the internet at large (default route), and in
/// the prefixes the static routes send to the peer.
const FAR6: &str = "2001:db8:ff::1";
const BEHIND_PEER6: &str = "2001:db8:77::1";
const BEHIND_PEER4: &str = "198.51.100.77";

/// The provider network's L2: `inet`'s eth0 (the uplink's peer) and a
/// veth to namespace `peer` on bridge br0 in `inet`; IPv6 DAD off.
fn provider_lan(lab: &Lab, inet: &Netns) -> (Netns, VethPair) {
    let peer = lab.netns("peer").expect("peer");
    peer.set_sysctl("net.ipv6.conf.default.accept_dad", "0")
        .expect("sysctl");
    let link = lab.veth(inet, "p0", &peer, "eth0").expect("veth");
    // No multicast snooping: solicited-node groups reach every port.
    inet.ip(&[
        "link",
        "add",
        "br0",
        "type",
        "bridge",
        "mcast_snooping",
        "0",
    ])
    .expect("bridge");
    for dev in ["eth0", "p0"] {
        inet.ip(&["link", "set", dev, "master", "br0"])
            .expect("enslave");
    }
    for (ns, dev) in [(inet, "p0"), (inet, "br0"), (&peer, "eth0")] {
        ns.link_up(dev).expect("up");
    }
    peer.exec(&["ethtool", "-K", "eth0", "tx", "off"])
        .expect("ethtool -K eth0 tx off");
    (peer, link)
}

fn addr(ns: &Netns, dev: &str, cidr: &str) {
    ns.add_addr(dev, cidr.parse().expect("cidr")).expect("addr");
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("ip")
}

/// The router's IPv6 address on the provider network, from the API.
fn gateway_v6(s: &Serve, router: &str) -> Ipv6Addr {
    let out = s.cli(&[
        "router",
        "show",
        router,
        "-f",
        "json",
        "-c",
        "external_gateway_info",
    ]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("router show json");
    v["external_gateway_info"]["external_fixed_ips"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["ip_address"].as_str()?.parse().ok())
        .next()
        .unwrap_or_else(|| panic!("no IPv6 gateway address: {out}"))
}

/// Pings until one round trip succeeds (bounded): the first packets to an
/// unresolved next hop are consumed while the router asks for it.
fn reaches(what: &str, from: &Netns, to: &str) {
    lab::wait_until(what, Duration::from_secs(15), || pings(from, ip(to)))
        .unwrap_or_else(|e| panic!("{what}: {e:?}"));
}

/// An IPv6 (slaac) and IPv4 network of `project` on a new router; the
/// router, and a port on the network.
fn tenant(s: &Serve, project: &str, n: u8) -> (String, String) {
    let net = format!("net{n}");
    let id = |a: Vec<&str>| {
        let mut a = a;
        a.extend(["--project", project]);
        s.create(&a)
    };
    id(vec!["network", "create", &net]);
    let (s6, s4) = (format!("{net}-v6"), format!("{net}-v4"));
    let (c6, c4) = (format!("2001:db8:{n}::/64"), format!("10.{n}.0.0/24"));
    id(vec![
        "subnet",
        "create",
        &s6,
        "--network",
        &net,
        "--ip-version",
        "6",
        "--subnet-range",
        &c6,
        "--ipv6-ra-mode",
        "slaac",
        "--ipv6-address-mode",
        "slaac",
    ]);
    id(vec![
        "subnet",
        "create",
        &s4,
        "--network",
        &net,
        "--subnet-range",
        &c4,
    ]);
    let r = id(vec!["router", "create", &format!("r{n}")]);
    s.cli(&["router", "add", "subnet", &r, &s6]);
    s.cli(&["router", "add", "subnet", &r, &s4]);
    s.cli(&["router", "set", &r, "--external-gateway", "ext"]);
    let port = id(vec!["port", "create", &format!("vm{n}"), "--network", &net]);
    (r, port)
}

#[test]
fn ipv6_external_gateway_and_static_routes() {
    let Some((lab, bb, tmp, host)) = bench("ipv6_routes") else {
        return;
    };
    let (inet, _uplink) = internet(&lab, &host);
    let (peer, _lan) = provider_lan(&lab, &inet);
    addr(&inet, "br0", &format!("{UPSTREAM6}/64"));
    addr(&inet, "br0", "203.0.113.1/24");
    addr(&inet, "lo", &format!("{FAR6}/128"));
    addr(&peer, "eth0", &format!("{PEER6}/64"));
    addr(&peer, "eth0", &format!("{PEER4}/24"));
    addr(&peer, "lo", &format!("{BEHIND_PEER6}/128"));
    addr(&peer, "lo", &format!("{BEHIND_PEER4}/32"));

    let s = Serve::start_with(
        &host,
        &tmp.path().join("data"),
        &["--bridge-mapping", MAPPING],
    );
    s.external_network("ext", "physnet1");
    for (name, cidr, gw, v) in [
        ("ext-v4", "203.0.113.0/24", "203.0.113.1", "4"),
        ("ext-v6", "2001:db8::/64", UPSTREAM6, "6"),
    ] {
        s.create(&[
            "subnet",
            "create",
            name,
            "--network",
            "ext",
            "--ip-version",
            v,
            "--subnet-range",
            cidr,
            "--gateway",
            gw,
            "--no-dhcp",
        ]);
    }
    let (ra, pa) = tenant(&s, "proja", 1);
    let (_rb, pb) = tenant(&s, "projb", 2);
    s.cli(&[
        "router",
        "set",
        &ra,
        "--route",
        &format!("destination=2001:db8:77::/64,gateway={PEER6}"),
        "--route",
        &format!("destination=198.51.100.0/24,gateway={PEER4}"),
    ]);
    // No NAT for IPv6: the provider network routes the tenant prefix to
    // the router's gateway address.
    let gw6 = gateway_v6(&s, &ra).to_string();
    for ns in [&inet, &peer] {
        ns.ip(&["-6", "route", "add", "2001:db8:1::/64", "via", &gw6])
            .expect("route back to project A");
    }

    let (a6, b6) = (port_v6(&s, &pa), port_v6(&s, &pb));
    let vma = vm(&lab, &s, "vma", &pa);
    let vmb = vm(&lab, &s, "vmb", &pb);
    for (ns, ip6) in [(&vma, a6), (&vmb, b6)] {
        await_slaac(ns, ip6);
        let d = tmp.path().join(ns.name());
        std::fs::create_dir_all(&d).expect("dir");
        lab::dhcp::udhcpc(ns, &bb, "eth0", &[], &d, Duration::from_secs(15)).expect("DHCP");
    }

    // The gateway's address is answered (ND, echo) on the provider network.
    reaches("internet → router gateway", &inet, &gw6);
    // Default route via the external subnet's gateway, resolved by ND.
    reaches("vma → the internet (IPv6)", &vma, FAR6);
    // Static routes via a host that is no Neutron port, both families.
    reaches(
        "vma → behind the peer (IPv6 static route)",
        &vma,
        BEHIND_PEER6,
    );
    reaches(
        "vma → behind the peer (IPv4 static route)",
        &vma,
        BEHIND_PEER4,
    );
    // The router learned each next hop from its answer.
    let bindings = controller::flowset::mac_binding_cookie(&ra);
    assert_eq!(
        s.flows_with_cookie(bindings),
        3,
        "bindings for {UPSTREAM6}, {PEER6} and {PEER4}: {}",
        s.cli(&["ofctl", "dump-flows", "br-int", "table=30"])
    );

    // Project B has its own gateway but no route to the peer's prefixes,
    // and no path to project A.
    assert!(
        !pings(&vmb, ip(BEHIND_PEER6)),
        "project B → 2001:db8:77::/64"
    );
    assert!(
        !pings(&vmb, ip(BEHIND_PEER4)),
        "project B → 198.51.100.0/24"
    );
    assert!(!pings(&vmb, IpAddr::V6(a6)), "project B → project A");

    // No NAT: without the internet's route to the tenant prefix the
    // replies have nowhere to go (NAT to the gateway address, which is on
    // the internet's link, would still be answered).
    inet.ip(&["-6", "route", "del", "2001:db8:1::/64"])
        .expect("route del");
    assert!(!pings(&vma, ip(FAR6)), "answered without a route back");
}
