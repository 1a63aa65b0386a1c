//! Locality (controller `locality`): a host of several compiles only the
//! networks with a port bound on it, the routers on them and those
//! routers' networks — and the gateway chassis its external network and
//! the routers with a gateway there. The oracle: with the same keys, a
//! host's flows are exactly the flows of a compile of everything, filtered
//! to the owners in its scope; and binding ports on and off a host
//! incrementally ends where a fresh compile of the new bindings does.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use common::Builder;
use controller::{Bindings, Changed, Chassis, Compiler, Flow, Keys, Owner, Scope};
use model::State;
use proptest::prelude::*;

const HOSTS: [&str; 4] = ["a", "b", "c", "d"];
/// The gateway chassis: it has the uplink of physnet1.
const GW: &str = "c";

struct World {
    st: State,
    ext: String,
    /// Project A: net1 and net2 joined by router r (gateway on ext).
    net1: String,
    net2: String,
    r: String,
    /// Project B: net3, no router.
    net3: String,
    /// Project C: net4 behind router r2 (gateway on ext), net5 alone.
    net4: String,
    r2: String,
    net5: String,
    /// VM ports, with their network.
    vms: Vec<(String, String)>,
}

fn world() -> World {
    let mut x = Builder::default();
    let ext = x.external("physnet1");
    let ext_sub = x.subnet(&ext, "198.51.100.0/24", Some("198.51.100.1"));
    let subnet = |x: &mut Builder, net: &str, i: u8| {
        x.subnet(net, &format!("10.0.{i}.0/24"), Some(&format!("10.0.{i}.1")))
    };
    let net1 = x.network("A");
    let s1 = subnet(&mut x, &net1, 1);
    let net2 = x.network("A");
    let s2 = subnet(&mut x, &net2, 2);
    let r = x.router("A");
    x.interface(&r, &net1, &s1, "10.0.1.1");
    x.interface(&r, &net2, &s2, "10.0.2.1");
    x.gateway(&r, &ext, &ext_sub, "198.51.100.10");
    let net3 = x.network("B");
    let s3 = subnet(&mut x, &net3, 3);
    let net4 = x.network("C");
    let s4 = subnet(&mut x, &net4, 4);
    let r2 = x.router("C");
    x.interface(&r2, &net4, &s4, "10.0.4.1");
    x.gateway(&r2, &ext, &ext_sub, "198.51.100.11");
    let net5 = x.network("C");
    let s5 = subnet(&mut x, &net5, 5);
    let mut vms = Vec::new();
    for (p, net, sub) in [
        ("A", &net1, &s1),
        ("A", &net2, &s2),
        ("B", &net3, &s3),
        ("C", &net4, &s4),
        ("C", &net5, &s5),
    ] {
        let g = x.group(p);
        x.rule(&g, "egress", None, None, None, None);
        x.rule(&g, "ingress", None, None, None, Some(&g.clone()));
        // Distinct addresses: no address-set flow is shared between ports
        // of different networks, so every flow has one owner to filter by.
        let i = x.st.subnets[sub.as_str()]
            .cidr
            .split('.')
            .nth(2)
            .unwrap()
            .to_owned();
        for j in 0..3 {
            let id = x.port(net, sub, &format!("10.0.{i}.{}", 10 + j), &[&g]);
            vms.push((id, net.clone()));
        }
    }
    // A floating IP behind r2: it goes where r2 goes.
    let on4 = vms.iter().find(|(_, n)| *n == net4).unwrap().0.clone();
    x.fip(&ext, "198.51.100.50", &on4, "10.0.4.10", &r2);
    World {
        st: x.st,
        ext,
        net1,
        net2,
        r,
        net3,
        net4,
        r2,
        net5,
        vms,
    }
}

/// Host `me`'s bindings when `placed` maps VM ports to hosts.
fn bindings(me: &str, placed: &BTreeMap<String, &str>) -> Bindings {
    let mut b = Bindings {
        chassis: me.into(),
        ..Bindings::default()
    };
    b.tunnels.insert("vxlan".into(), 50);
    for (i, h) in HOSTS.iter().enumerate() {
        if *h != me {
            let physnets = if *h == GW {
                vec!["physnet1".into()]
            } else {
                vec![]
            };
            let ip = Ipv4Addr::new(10, 200, 0, i as u8 + 1);
            let c = Chassis {
                ip,
                encaps: vec!["vxlan".into()],
                physnets,
            };
            b.remote_chassis.insert(h.to_string(), c);
        }
    }
    for (of, (p, h)) in placed.iter().enumerate() {
        if *h == me {
            b.ports.insert(p.clone(), of as u32 + 1);
        } else {
            b.remote_ports.insert(p.clone(), h.to_string());
        }
    }
    if me == GW {
        b.bridge_mappings.insert("physnet1".into(), 100);
    }
    b
}

/// Whether the flows of `o` belong to `scope` (the oracle's reading of
/// ovn-controller's local datapaths: a port goes with its network, a
/// floating IP with its router; rules and table defaults everywhere).
fn owned_here(st: &State, scope: &Scope, o: &Owner) -> bool {
    match o {
        Owner::Global | Owner::Rule(_) => true,
        Owner::Network(n) => scope.networks.contains(n),
        Owner::Port(p) | Owner::PortAcl(p) => scope.networks.contains(&st.ports[p].network_id),
        Owner::Router(r) => scope.routers.contains(r),
        Owner::Fip(f) => st.floating_ips[f]
            .router_id
            .as_ref()
            .is_some_and(|r| scope.routers.contains(r)),
    }
}

/// A compile of every datapath with `keys`, filtered to `scope`.
fn filtered_full(st: &State, b: &Bindings, keys: &Keys, scope: &Scope) -> Vec<Flow> {
    let mut all = Compiler::new(keys.clone()).everywhere();
    all.full(st, b);
    assert_eq!(all.scope(), None);
    let flows = all.flows();
    flows
        .into_iter()
        .filter(|f| owned_here(st, scope, all.owner_of(f.cookie).expect("owner")))
        .collect()
}

fn local(st: &State, b: &Bindings, keys: Keys) -> Compiler {
    let mut c = Compiler::new(keys);
    c.full(st, b);
    assert!(c.errors().is_empty(), "{:?}", c.errors());
    assert_eq!(c.conflicts(), 0);
    c
}

fn set(v: &[&String]) -> BTreeSet<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn network_cookies(st: &State, net: &str) -> BTreeSet<u64> {
    let mut c: BTreeSet<u64> = st
        .ports_on_network(net)
        .flat_map(|p| {
            let id = p.meta.id.clone();
            [
                Owner::Port(id.clone()).cookie(),
                Owner::PortAcl(id).cookie(),
            ]
        })
        .collect();
    c.insert(Owner::Network(net.to_owned()).cookie());
    c
}

#[test]
fn scope_follows_bound_ports_routers_and_the_gateway() {
    let w = world();
    // a: a VM on net1 only; b: one on net3; c: none (the gateway); d: one
    // on net5.
    let first = |net: &String| w.vms.iter().find(|(_, n)| n == net).unwrap().0.clone();
    let placed: BTreeMap<String, &str> = [
        (first(&w.net1), "a"),
        (first(&w.net3), "b"),
        (first(&w.net5), "d"),
    ]
    .into_iter()
    .collect();
    let scope = |h: &str| {
        local(&w.st, &bindings(h, &placed), Keys::default())
            .scope()
            .cloned()
    };
    let a = scope("a").expect("a host of several has a scope");
    // net1's router r, its peer net2 and the external network its
    // gateway is on; not r2, which shares only the external network.
    assert_eq!(a.networks, set(&[&w.net1, &w.net2, &w.ext]));
    assert_eq!(a.routers, set(&[&w.r]));
    let b = scope("b").unwrap();
    assert_eq!((b.networks, b.routers), (set(&[&w.net3]), set(&[])));
    // The gateway: the external network, every router with a gateway on
    // it and their networks, but neither net3 nor net5.
    let c = scope("c").unwrap();
    assert_eq!(c.networks, set(&[&w.ext, &w.net1, &w.net2, &w.net4]));
    assert_eq!(c.routers, set(&[&w.r, &w.r2]));
    let d = scope("d").unwrap();
    assert_eq!((d.networks, d.routers), (set(&[&w.net5]), set(&[])));
    // A single host compiles everything.
    let one = local(&w.st, &Bindings::default(), Keys::default());
    assert_eq!(one.scope(), None);
}

#[test]
fn a_host_gains_a_network_when_a_port_is_bound_there_and_loses_it_after() {
    let w = world();
    let on3: Vec<String> = w
        .vms
        .iter()
        .filter(|(_, n)| *n == w.net3)
        .map(|(p, _)| p.clone())
        .collect();
    let mut placed: BTreeMap<String, &str> = [(on3[0].clone(), "b"), (on3[1].clone(), "b")]
        .into_iter()
        .collect();
    let b0 = bindings("a", &placed);
    let mut c = local(&w.st, &b0, Keys::default());
    let net3 = network_cookies(&w.st, &w.net3);
    assert!(
        !c.flows().iter().any(|f| net3.contains(&f.cookie)),
        "a has no port on net3: no flow of it"
    );
    // A third net3 port is bound on a: net3 and its remote ports on b
    // arrive, incrementally.
    placed.insert(on3[2].clone(), "a");
    let b1 = bindings("a", &placed);
    let d = c.update(&w.st, &b1, &[Changed::Binding(on3[2].clone())]);
    assert!(d.delete.is_empty(), "{:?}", d.delete);
    let got: BTreeSet<u64> = d.add.iter().map(|f| f.cookie).collect();
    assert!(got.is_superset(&net3), "every net3 owner gets flows");
    let fresh = local(&w.st, &b1, c.keys().clone());
    assert_eq!(c.flows(), fresh.flows(), "incremental equals full");
    // The tunnel to b for its net3 ports.
    let to_b = "set_field:10.200.0.2->tun_dst";
    assert!(c.flows().iter().any(|f| f.actions.contains(to_b)));
    // Unbound again: net3 goes.
    placed.remove(&on3[2]);
    let d = c.update(&w.st, &b0, &[Changed::Binding(on3[2].clone())]);
    assert!(d.add.is_empty() && !d.delete.is_empty());
    assert!(!c.flows().iter().any(|f| net3.contains(&f.cookie)));
    assert_eq!(c.flows(), local(&w.st, &b0, c.keys().clone()).flows());
}

fn placement() -> impl Strategy<Value = Vec<Option<usize>>> {
    // Each of the 15 VM ports: unbound, or on one of the four hosts.
    prop::collection::vec(prop::option::of(0..HOSTS.len()), 15)
}

fn place<'a>(w: &World, v: &[Option<usize>]) -> BTreeMap<String, &'a str> {
    w.vms
        .iter()
        .zip(v)
        .filter_map(|((p, _), h)| Some((p.clone(), HOSTS[(*h)?])))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// For every host and any placement of the VMs, and after moving to
    /// another placement incrementally: local flows == the filtered
    /// compile of everything, with the same keys.
    #[test]
    fn local_compile_is_the_full_compile_filtered(p0 in placement(), p1 in placement()) {
        let w = world();
        for h in HOSTS {
            let b0 = bindings(h, &place(&w, &p0));
            let mut c = local(&w.st, &b0, Keys::default());
            let s = c.scope().cloned().expect("scope");
            prop_assert_eq!(c.flows(), filtered_full(&w.st, &b0, c.keys(), &s));
            let b1 = bindings(h, &place(&w, &p1));
            let moved: Vec<Changed> = w
                .vms
                .iter()
                .map(|(p, _)| Changed::Binding(p.clone()))
                .collect();
            c.update(&w.st, &b1, &moved);
            prop_assert_eq!(c.conflicts(), 0);
            let s = c.scope().cloned().expect("scope");
            prop_assert_eq!(c.flows(), filtered_full(&w.st, &b1, c.keys(), &s));
            prop_assert_eq!(c.flows(), local(&w.st, &b1, c.keys().clone()).flows());
        }
    }
}
