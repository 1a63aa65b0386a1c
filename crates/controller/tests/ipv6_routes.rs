//! IPv6 static routes and the IPv6 external gateway, run through the
//! `flow` crate's tables: next hops that are no Neutron port are asked for
//! with a Neighbor Solicitation and learned from the Advertisement on the
//! gateway port (IPv4 ones with ARP, the same way); routed IPv6 leaves
//! without NAT; a router without the route does not reach the prefix.

mod common;

use common::sim::{Outcome, Sim};
use common::Builder;
use controller::{Bindings, Compiler, Keys};
use flow::fields::ct_state::{EST, NEW, TRK};
use flow::fields::Field;
use model::{FixedIp, HostRoute, Resource};

const UPLINK: u32 = 100;
const NEW_: &[u32] = &[NEW | TRK];
const UPSTREAM_MAC: &str = "02:00:00:00:00:01";
const PEER_MAC: &str = "02:00:00:00:00:02";

struct World {
    sim: Sim,
    vm1: String,
    vm2: String,
    r_n1: String,
    r_n2: String,
    gw_mac: String,
}

/// Project A: vm1 (2001:db8:1::a, ofport 1) behind router r, whose gateway
/// is on the provider network (2001:db8::5 and 203.0.113.5) with static
/// routes to 2001:db8:77::/64 via 2001:db8::2 and 198.51.100.0/24 via
/// 203.0.113.2, neither a Neutron port. Project B: vm2 (2001:db8:2::b,
/// ofport 2) behind router rb, no gateway, no routes.
fn world() -> World {
    let mut x = Builder::default();
    let ext = x.external("physnet1");
    let ext4 = x.subnet(&ext, "203.0.113.0/24", Some("203.0.113.1"));
    let ext6 = x.subnet(&ext, "2001:db8::/64", Some("2001:db8::1"));
    x.v6(&ext6, None);
    let n1 = x.network("A");
    let s1 = x.subnet(&n1, "2001:db8:1::/64", Some("2001:db8:1::1"));
    x.v6(&s1, Some("slaac"));
    let r = x.router("A");
    let r_n1 = x.interface(&r, &n1, &s1, "2001:db8:1::1");
    let gwp = x.gateway(&r, &ext, &ext4, "203.0.113.5");
    x.gateway_addr(&r, &gwp, &ext6, "2001:db8::5");
    let mut router = x.st.routers[&r].clone();
    router.routes = vec![
        HostRoute {
            destination: "2001:db8:77::/64".into(),
            nexthop: "2001:db8::2".into(),
        },
        HostRoute {
            destination: "198.51.100.0/24".into(),
            nexthop: "203.0.113.2".into(),
        },
    ];
    x.st.put(Resource::Router(router));
    let vm1 = x.port(&n1, &s1, "2001:db8:1::a", &[]);
    // Dual stack on n1: 10.1.0.0/24 on the same router port and VM.
    let s1v4 = x.subnet(&n1, "10.1.0.0/24", Some("10.1.0.1"));
    for (port, ip) in [(&r_n1, "10.1.0.1"), (&vm1, "10.1.0.10")] {
        let mut p = x.st.ports[port].clone();
        p.fixed_ips.push(FixedIp {
            subnet_id: s1v4.clone(),
            ip_address: ip.into(),
        });
        x.st.put(Resource::Port(p));
    }

    let n2 = x.network("B");
    let s2 = x.subnet(&n2, "2001:db8:2::/64", Some("2001:db8:2::1"));
    x.v6(&s2, Some("slaac"));
    let rb = x.router("B");
    let r_n2 = x.interface(&rb, &n2, &s2, "2001:db8:2::1");
    let vm2 = x.port(&n2, &s2, "2001:db8:2::b", &[]);

    // No security groups in the way: this is about routing.
    for vm in [&vm1, &vm2] {
        let mut p = x.st.ports[vm].clone();
        p.port_security_enabled = false;
        x.st.put(Resource::Port(p));
    }
    let mut b = Bindings::default();
    b.ports.insert(vm1.clone(), 1);
    b.ports.insert(vm2.clone(), 2);
    b.bridge_mappings.insert("physnet1".into(), UPLINK);
    let mut c = Compiler::new(Keys::default());
    c.full(&x.st, &b);
    assert!(c.errors().is_empty(), "{:?}", c.errors());
    let mac = |p: &str| x.st.ports[p].mac_address.clone();
    World {
        sim: Sim::load(&c.flows()),
        vm1: mac(&vm1),
        vm2: mac(&vm2),
        r_n1: mac(&r_n1),
        r_n2: mac(&r_n2),
        gw_mac: mac(&gwp),
    }
}

fn mac_u(m: &str) -> u128 {
    u128::from_str_radix(&m.replace(':', ""), 16).unwrap()
}

/// The next hop routing left in `reg0`..`reg3`.
fn nexthop(o: &Outcome) -> std::net::Ipv6Addr {
    let w = o.last.to_words();
    let r = |i| Field::Reg(i).get(&w);
    std::net::Ipv6Addr::from(r(0) << 96 | r(1) << 64 | r(2) << 32 | r(3))
}

fn ping6(w: &World, dst: &str) -> Outcome {
    w.sim.run(
        &format!(
            "in_port=1,icmp6,dl_src={},dl_dst={},ipv6_src=2001:db8:1::a,ipv6_dst={dst},nw_ttl=64,icmp_type=128,icmp_code=0",
            w.vm1, w.r_n1
        ),
        NEW_,
    )
}

/// A Neighbor Advertisement from the provider network for `target` at `mac`.
fn na(dl_dst: &str, target: &str, mac: &str) -> String {
    format!(
        "in_port={UPLINK},icmp6,dl_src={mac},dl_dst={dl_dst},ipv6_src={target},ipv6_dst=2001:db8::5,nw_ttl=255,icmp_type=136,icmp_code=0,nd_target={target},nd_tll={mac}",
    )
}

fn solicits(o: &Outcome, w: &World) -> bool {
    o.outputs.is_empty()
        && o.local
            == vec![format!(
                "cloudnet:nd-ns sip=2001:db8::5 sha={} target=xxreg0 table=28",
                w.gw_mac
            )]
}

#[test]
fn default_route_is_resolved_by_neighbor_discovery() {
    let w = world();
    let o = ping6(&w, "2001:db8:ff::1");
    assert!(solicits(&o, &w), "unknown next hop: {o:?}");
    assert_eq!(
        nexthop(&o),
        "2001:db8::1".parse::<std::net::Ipv6Addr>().unwrap()
    );
    let before = w.sim.bindings();
    w.sim.run(&na(&w.gw_mac, "2001:db8::1", UPSTREAM_MAC), &[0]);
    assert_eq!(w.sim.bindings(), before + 1, "the advertisement is learned");
    let o = ping6(&w, "2001:db8:ff::1");
    assert_eq!(o.outputs, vec![UPLINK], "{o:?}");
    let l = o.last.to_words();
    assert_eq!(Field::DlDst.get(&l), mac_u(UPSTREAM_MAC));
    assert_eq!(Field::DlSrc.get(&l), mac_u(&w.gw_mac));
    assert_eq!(Field::NwTtl.get(&l), 63, "hop limit decremented");
    assert_eq!(
        Field::Ipv6Src.get(&l),
        u128::from("2001:db8:1::a".parse::<std::net::Ipv6Addr>().unwrap()),
        "no NAT for IPv6"
    );
    // The answer comes back to vm1 through the gateway port.
    let back = format!(
        "in_port={UPLINK},icmp6,dl_src={UPSTREAM_MAC},dl_dst={},ipv6_src=2001:db8:ff::1,ipv6_dst=2001:db8:1::a,nw_ttl=63,icmp_type=129,icmp_code=0",
        w.gw_mac
    );
    let o = w.sim.run(&back, &[EST | TRK]);
    assert_eq!(o.outputs, vec![1], "{o:?}");
    assert_eq!(Field::DlDst.get(&o.last.to_words()), mac_u(&w.vm1));
}

#[test]
fn static_routes_via_hosts_on_the_provider_network() {
    let w = world();
    // IPv6: longest prefix wins over the default route.
    let o = ping6(&w, "2001:db8:77::9");
    assert!(solicits(&o, &w), "{o:?}");
    assert_eq!(
        nexthop(&o),
        "2001:db8::2".parse::<std::net::Ipv6Addr>().unwrap()
    );
    w.sim.run(&na(&w.gw_mac, "2001:db8::2", PEER_MAC), &[0]);
    let o = ping6(&w, "2001:db8:77::9");
    assert_eq!(o.outputs, vec![UPLINK], "{o:?}");
    assert_eq!(Field::DlDst.get(&o.last.to_words()), mac_u(PEER_MAC));
    // The default route's next hop is still unknown: bindings are per
    // next hop, not per router.
    assert!(solicits(&ping6(&w, "2001:db8:ff::1"), &w));

    // IPv4, the same way with ARP (and SNAT).
    let ping4 = format!(
        "in_port=1,icmp,dl_src={},dl_dst={},nw_src=10.1.0.10,nw_dst=198.51.100.7,nw_ttl=64,icmp_type=8,icmp_code=0",
        w.vm1, w.r_n1
    );
    let o = w.sim.run(&ping4, NEW_);
    assert_eq!(o.outputs, Vec::<u32>::new(), "{o:?}");
    assert!(
        o.local.len() == 1 && o.local[0].starts_with("cloudnet:arp-request spa=203.0.113.5 "),
        "{o:?}"
    );
    assert_eq!(
        Field::Reg(0).get(&o.last.to_words()),
        u128::from(u32::from(std::net::Ipv4Addr::new(203, 0, 113, 2)))
    );
    w.sim
        .learn_neighbour(UPLINK, &w.gw_mac, "203.0.113.5", "203.0.113.2", PEER_MAC);
    let o = w.sim.run(&ping4, NEW_);
    assert_eq!(o.outputs, vec![UPLINK], "{o:?}");
    let l = o.last.to_words();
    assert_eq!(Field::DlDst.get(&l), mac_u(PEER_MAC));
    assert_eq!(
        Field::NwSrc.get(&l),
        u128::from(u32::from(std::net::Ipv4Addr::new(203, 0, 113, 5))),
        "SNAT to the gateway address"
    );
}

#[test]
fn advertisements_that_are_not_learned() {
    let w = world();
    let before = w.sim.bindings();
    // Claiming the gateway's own address.
    w.sim.run(&na(&w.gw_mac, "2001:db8::5", PEER_MAC), &[0]);
    // A target off the gateway's subnets.
    w.sim.run(&na(&w.gw_mac, "2001:db8:9::1", PEER_MAC), &[0]);
    // From a VM on a tenant network, to its router.
    let from_vm = format!(
        "in_port=1,icmp6,dl_src={},dl_dst={},ipv6_src=fe80::1,ipv6_dst=fe80::2,nw_ttl=255,icmp_type=136,icmp_code=0,nd_target=2001:db8::1,nd_tll={}",
        w.vm1, w.r_n1, w.vm1
    );
    w.sim.run(&from_vm, &[0]);
    assert_eq!(w.sim.bindings(), before, "nothing learned");
    assert!(solicits(&ping6(&w, "2001:db8:ff::1"), &w));
}

#[test]
fn another_project_has_no_route_to_the_prefix() {
    let w = world();
    w.sim.run(&na(&w.gw_mac, "2001:db8::2", PEER_MAC), &[0]);
    let o = w.sim.run(
        &format!(
            "in_port=2,icmp6,dl_src={},dl_dst={},ipv6_src=2001:db8:2::b,ipv6_dst=2001:db8:77::9,nw_ttl=64,icmp_type=128,icmp_code=0",
            w.vm2, w.r_n2
        ),
        NEW_,
    );
    assert_eq!(
        o.local,
        vec!["cloudnet:icmp6-unreachable src=2001:db8:2::1 code=0"]
    );
    assert!(o.outputs.is_empty());
}
