//! Incremental compilation equals a full recompile (with the same keys),
//! and applying the deltas in order reproduces the flows; plus the
//! address-set and flow-count properties of security groups.

mod common;

use std::collections::BTreeMap;

use common::Builder;
use controller::{Bindings, Changed, Compiler, Delta, Flow, Key, Keys, Owner};
use model::{Kind, Resource};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    AddPort {
        net: usize,
        groups: Vec<usize>,
        bind: bool,
    },
    DelPort(usize),
    SetGroups(usize, Vec<usize>),
    AddRule {
        group: usize,
        remote: Option<usize>,
        port: u16,
        ingress: bool,
    },
    DelRule(usize),
    Bind(usize, bool),
    Iface(usize),
    DelIface(usize),
    Fip(usize),
    DelFip(usize),
    Dns(usize),
    PortSecurity(usize, bool),
    /// The router's static routes: the subset of [`ROUTES`] in the mask.
    Routes(u8),
}

/// Static routes (destination, next hop): IPv4 and IPv6 via hosts on the
/// provider network, IPv4 via a tenant subnet, IPv6 via no subnet.
const ROUTES: [(&str, &str); 4] = [
    ("192.0.2.0/24", "198.51.100.2"),
    ("2001:db8:77::/64", "2001:db8::2"),
    ("172.16.0.0/12", "10.0.0.9"),
    ("2001:db8:99::/48", "2001:db8:5::1"),
];

fn op() -> impl Strategy<Value = Op> {
    let g = prop::collection::vec(0..3usize, 0..3);
    prop_oneof![
        (0..3usize, g.clone(), any::<bool>()).prop_map(|(net, groups, bind)| Op::AddPort {
            net,
            groups,
            bind
        }),
        (0..20usize).prop_map(Op::DelPort),
        (0..20usize, g).prop_map(|(p, gs)| Op::SetGroups(p, gs)),
        (
            0..3usize,
            prop::option::of(0..3usize),
            1..2000u16,
            any::<bool>()
        )
            .prop_map(|(group, remote, port, ingress)| Op::AddRule {
                group,
                remote,
                port,
                ingress
            }),
        (0..20usize).prop_map(Op::DelRule),
        (0..20usize, any::<bool>()).prop_map(|(p, b)| Op::Bind(p, b)),
        (0..3usize).prop_map(Op::Iface),
        (0..5usize).prop_map(Op::DelIface),
        (0..20usize).prop_map(Op::Fip),
        (0..5usize).prop_map(Op::DelFip),
        (0..3usize).prop_map(Op::Dns),
        (0..20usize, any::<bool>()).prop_map(|(p, b)| Op::PortSecurity(p, b)),
        (0..16u8).prop_map(Op::Routes),
    ]
}

struct World {
    x: Builder,
    b: Bindings,
    nets: Vec<(String, String, u8)>,
    groups: Vec<String>,
    router: String,
    ext: (String, String),
    next_ip: u32,
    next_of: u32,
}

fn world() -> World {
    let mut x = Builder::default();
    let ext = x.external("physnet1");
    let ext_sub = x.subnet(&ext, "198.51.100.0/24", Some("198.51.100.1"));
    let mut nets = Vec::new();
    for i in 0..3u8 {
        let n = x.network("P");
        let s = x.subnet(&n, &format!("10.{i}.0.0/16"), Some(&format!("10.{i}.0.1")));
        nets.push((n, s, i));
    }
    let groups: Vec<String> = (0..3).map(|_| x.group("P")).collect();
    let router = x.router("P");
    let gw = x.gateway(&router, &ext, &ext_sub, "198.51.100.10");
    // Dual-stack gateway: an IPv6 address on the provider network too.
    let ext6 = x.subnet(&ext, "2001:db8::/64", Some("2001:db8::1"));
    x.v6(&ext6, None);
    x.gateway_addr(&router, &gw, &ext6, "2001:db8::10");
    let mut b = Bindings::default();
    b.bridge_mappings.insert("physnet1".into(), 100);
    World {
        x,
        b,
        nets,
        groups,
        router,
        ext: (ext, ext_sub),
        next_ip: 10,
        next_of: 1,
    }
}

fn nth<T: Clone>(v: impl Iterator<Item = T>, i: usize) -> Option<T> {
    let all: Vec<T> = v.collect();
    (!all.is_empty()).then(|| all[i % all.len()].clone())
}

impl World {
    fn vm_ports(&self) -> Vec<String> {
        self.x
            .st
            .ports
            .values()
            .filter(|p| p.device_owner.starts_with("compute"))
            .map(|p| p.meta.id.clone())
            .collect()
    }

    /// Apply an op to the intent; returns what changed.
    fn apply(&mut self, op: &Op) -> Vec<Changed> {
        let res = |k: Kind, id: &str| Changed::Resource(k, id.to_string());
        match op {
            Op::AddPort { net, groups, bind } => {
                let (n, s, i) = self.nets[*net].clone();
                self.next_ip += 1;
                let ip = format!("10.{i}.{}.{}", self.next_ip / 250, self.next_ip % 250 + 2);
                let gs: Vec<&str> = groups.iter().map(|g| self.groups[*g].as_str()).collect();
                let id = self.x.port(&n, &s, &ip, &gs);
                let mut c = vec![res(Kind::Port, &id)];
                if *bind {
                    self.next_of += 1;
                    self.b.ports.insert(id.clone(), self.next_of);
                    c.push(Changed::Binding(id));
                }
                c
            }
            Op::DelPort(i) => {
                let Some(id) = nth(self.vm_ports().into_iter(), *i) else {
                    return vec![];
                };
                self.x
                    .st
                    .apply(&[model::Change::Delete(Kind::Port, id.clone())]);
                let mut c = vec![res(Kind::Port, &id)];
                if self.b.ports.remove(&id).is_some() {
                    c.push(Changed::Binding(id.clone()));
                }
                // Neutron deletes the port's floating IP association.
                let fips: Vec<String> = self
                    .x
                    .st
                    .floating_ips
                    .values()
                    .filter(|f| f.port_id.as_deref() == Some(&id))
                    .map(|f| f.meta.id.clone())
                    .collect();
                for f in fips {
                    self.x
                        .st
                        .apply(&[model::Change::Delete(Kind::FloatingIp, f.clone())]);
                    c.push(res(Kind::FloatingIp, &f));
                }
                c
            }
            Op::SetGroups(i, gs) => {
                let Some(id) = nth(self.vm_ports().into_iter(), *i) else {
                    return vec![];
                };
                let mut p = self.x.st.ports[&id].clone();
                p.security_groups = gs.iter().map(|g| self.groups[*g].clone()).collect();
                self.x.st.put(Resource::Port(p));
                vec![res(Kind::Port, &id)]
            }
            Op::AddRule {
                group,
                remote,
                port,
                ingress,
            } => {
                let g = self.groups[*group].clone();
                let r = remote.map(|r| self.groups[r].clone());
                let dir = if *ingress { "ingress" } else { "egress" };
                let id = self.x.rule(
                    &g,
                    dir,
                    Some("tcp"),
                    Some((*port as u32, *port as u32 + 3)),
                    None,
                    r.as_deref(),
                );
                vec![res(Kind::SecurityGroupRule, &id)]
            }
            Op::DelRule(i) => {
                let Some(id) = nth(self.x.st.rules.keys().cloned(), *i) else {
                    return vec![];
                };
                self.x
                    .st
                    .apply(&[model::Change::Delete(Kind::SecurityGroupRule, id.clone())]);
                vec![res(Kind::SecurityGroupRule, &id)]
            }
            Op::Bind(i, on) => {
                let Some(id) = nth(self.vm_ports().into_iter(), *i) else {
                    return vec![];
                };
                if *on {
                    self.next_of += 1;
                    self.b.ports.insert(id.clone(), self.next_of);
                } else {
                    self.b.ports.remove(&id);
                }
                vec![Changed::Binding(id)]
            }
            Op::Iface(n) => {
                let (net, s, i) = self.nets[*n].clone();
                let r = self.router.clone();
                if self
                    .x
                    .st
                    .ports
                    .values()
                    .any(|p| p.device_id == r && p.network_id == net)
                {
                    return vec![];
                }
                let id = self.x.interface(&r, &net, &s, &format!("10.{i}.0.1"));
                vec![res(Kind::Port, &id)]
            }
            Op::DelIface(i) => {
                let ifs = self
                    .x
                    .st
                    .ports
                    .values()
                    .filter(|p| p.device_owner == model::owner::ROUTER_INTERFACE)
                    .map(|p| p.meta.id.clone());
                let Some(id) = nth(ifs, *i) else {
                    return vec![];
                };
                self.x
                    .st
                    .apply(&[model::Change::Delete(Kind::Port, id.clone())]);
                vec![res(Kind::Port, &id)]
            }
            Op::Fip(i) => {
                let Some(id) = nth(self.vm_ports().into_iter(), *i) else {
                    return vec![];
                };
                if self
                    .x
                    .st
                    .floating_ips
                    .values()
                    .any(|f| f.port_id.as_deref() == Some(&id))
                {
                    return vec![];
                }
                let fixed = self.x.st.ports[&id].fixed_ips[0].ip_address.clone();
                let n = self.x.st.floating_ips.len() as u32 + 50;
                let (ext, r) = (self.ext.0.clone(), self.router.clone());
                let f = self
                    .x
                    .fip(&ext, &format!("198.51.100.{n}"), &id, &fixed, &r);
                vec![res(Kind::FloatingIp, &f)]
            }
            Op::DelFip(i) => {
                let Some(id) = nth(self.x.st.floating_ips.keys().cloned(), *i) else {
                    return vec![];
                };
                self.x
                    .st
                    .apply(&[model::Change::Delete(Kind::FloatingIp, id.clone())]);
                vec![res(Kind::FloatingIp, &id)]
            }
            Op::Dns(n) => {
                let s = self.nets[*n].1.clone();
                let mut sub = self.x.st.subnets[&s].clone();
                sub.dns_nameservers = vec![format!("192.0.2.{}", sub.dns_nameservers.len() + 1)];
                self.x.st.put(Resource::Subnet(sub));
                vec![res(Kind::Subnet, &s)]
            }
            Op::Routes(mask) => {
                let mut r = self.x.st.routers[&self.router].clone();
                r.routes = ROUTES
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| mask & (1 << i) != 0)
                    .map(|(_, (d, n))| model::HostRoute {
                        destination: d.to_string(),
                        nexthop: n.to_string(),
                    })
                    .collect();
                self.x.st.put(Resource::Router(r));
                vec![res(Kind::Router, &self.router)]
            }
            Op::PortSecurity(i, on) => {
                let Some(id) = nth(self.vm_ports().into_iter(), *i) else {
                    return vec![];
                };
                let mut p = self.x.st.ports[&id].clone();
                p.port_security_enabled = *on;
                self.x.st.put(Resource::Port(p));
                vec![res(Kind::Port, &id)]
            }
        }
    }
}

/// A switch's flow table as the deltas build it.
fn apply_delta(sw: &mut BTreeMap<Key, Flow>, d: &Delta) {
    for k in &d.delete {
        assert!(sw.remove(k).is_some(), "delete of an absent flow {k:?}");
    }
    for f in &d.add {
        sw.insert(f.key.clone(), f.clone());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    #[test]
    fn incremental_equals_full(ops in prop::collection::vec(op(), 1..25)) {
        let mut w = world();
        let mut inc = Compiler::new(Keys::default());
        let mut sw = BTreeMap::new();
        apply_delta(&mut sw, &inc.full(&w.x.st, &w.b));
        for op in &ops {
            let ch = w.apply(op);
            let d = inc.update(&w.x.st, &w.b, &ch);
            apply_delta(&mut sw, &d);
        }
        let mut full = Compiler::new(Keys::restore(&inc.keys().snapshot()));
        full.full(&w.x.st, &w.b);
        let (a, b) = (inc.flows(), full.flows());
        prop_assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(&b) {
            prop_assert_eq!(x, y);
        }
        let switch: Vec<Flow> = sw.into_values().collect();
        prop_assert_eq!(switch, a);
        prop_assert_eq!(inc.conflicts(), 0);
        prop_assert!(inc.errors().is_empty());
    }
}

/// Groups: `db` ingress rules name `web` as remote; `members` ports in web,
/// `rules` rules in db.
fn sg_world(members: usize, rules: usize) -> (Builder, Bindings, String, String, String, String) {
    let mut x = Builder::default();
    let n = x.network("P");
    let s = x.subnet(&n, "10.0.0.0/16", Some("10.0.0.1"));
    let web = x.group("P");
    let db = x.group("P");
    let mut b = Bindings::default();
    for i in 0..members {
        let p = x.port(
            &n,
            &s,
            &format!("10.0.{}.{}", i / 200 + 1, i % 200 + 2),
            &[&web],
        );
        b.ports.insert(p, i as u32 + 1);
    }
    for i in 0..rules {
        x.rule(
            &db,
            "ingress",
            Some("tcp"),
            Some((1000 + i as u32, 1000 + i as u32)),
            None,
            Some(&web.clone()),
        );
    }
    let dbp = x.port(&n, &s, "10.0.250.2", &[&db]);
    b.ports.insert(dbp.clone(), 9999);
    (x, b, n, s, web, dbp)
}

fn count(members: usize, rules: usize) -> i64 {
    let (x, b, ..) = sg_world(members, rules);
    let mut c = Compiler::new(Keys::default());
    c.full(&x.st, &b);
    c.flow_count() as i64
}

#[test]
fn remote_group_flows_are_linear_not_a_cross_product() {
    // f(m, r) = a + b·m + c·r with no m·r term: the second difference is 0.
    let (f11, f21, f12, f22) = (count(10, 10), count(20, 10), count(10, 20), count(20, 20));
    assert_eq!(
        f22 - f12,
        f21 - f11,
        "member cost must not depend on the number of rules"
    );
    assert_eq!(
        f22 - f21,
        f12 - f11,
        "rule cost must not depend on the number of members"
    );
    // And the per-rule cost is small: for the original direction the
    // conj_id flows of new and established packets and the port-range
    // flow, for replies one conj_id flow and the port range on the
    // original tuple (crate::acl).
    assert!(f12 - f11 <= 10 * 5, "{}", f12 - f11);
}

#[test]
fn membership_change_touches_only_the_address_set() {
    let (mut x, b, n, s, web, _) = sg_world(50, 200);
    let mut c = Compiler::new(Keys::default());
    c.full(&x.st, &b);
    // A new unbound port joins web: only its own flows change (its L2/ARP
    // entries and its address in web's address set: one flow for all 200
    // rules, and its twin on the original tuple for their replies).
    let p = x.port(&n, &s, "10.0.251.9", &[&web]);
    let d = c.update(&x.st, &b, &[Changed::Resource(Kind::Port, p.clone())]);
    let acl: Vec<&Flow> = d
        .add
        .iter()
        .filter(|f| f.cookie == Owner::PortAcl(p.clone()).cookie())
        .collect();
    assert_eq!(acl.len(), 2, "{acl:?}");
    for f in &acl {
        assert_eq!(f.actions.matches("conjunction(").count(), 200);
    }
    assert!(d.add.len() < 12, "{} flows added", d.add.len());
    assert!(d.delete.is_empty());
    // Deleting it removes every flow with its cookies.
    x.st.apply(&[model::Change::Delete(Kind::Port, p.clone())]);
    let d = c.update(&x.st, &b, &[Changed::Resource(Kind::Port, p.clone())]);
    assert!(!d.delete.is_empty());
    for o in [Owner::Port(p.clone()), Owner::PortAcl(p.clone())] {
        assert!(c.flows().iter().all(|f| f.cookie != o.cookie()));
        assert!(c.owner_of(o.cookie()).is_none());
    }
}

#[test]
fn cookies_lead_back_to_resources() {
    let (x, b, _, _, web, dbp) = sg_world(3, 2);
    let mut c = Compiler::new(Keys::default());
    c.full(&x.st, &b);
    let _ = web;
    for f in c.flows() {
        assert!(c.owner_of(f.cookie).is_some(), "{f}");
    }
    let o = Owner::Port(dbp.clone());
    assert_eq!(c.owner_of(o.cookie()), Some(&o));
}
