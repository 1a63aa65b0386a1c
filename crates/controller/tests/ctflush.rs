//! `ctflush::for_change`: which conntrack flushes a security-policy change
//! calls for (PIPELINE.md "Security groups"): exactly the connections the
//! change stops allowing, per bound port, in its network's zone.

use controller::ctflush::{for_change, CtFlush};
use controller::{Bindings, Compiler, Keys};
use model::{Change, Kind, Resource};

mod common;

/// Web servers in group `web` (10.0.0.2, .3) admit TCP 80 from anyone and
/// SSH from the `admin` group (10.0.0.9); everything is bound here.
struct World {
    b: common::Builder,
    bind: Bindings,
    keys: Keys,
    web: String,
    admin: String,
    http: String,
    ssh: String,
    web1: String,
    adm: String,
}

fn world() -> World {
    let mut b = common::Builder::default();
    let net = b.network("p");
    let sub = b.subnet(&net, "10.0.0.0/24", Some("10.0.0.1"));
    let web = b.group("p");
    let admin = b.group("p");
    let http = b.rule(&web, "ingress", Some("tcp"), Some((80, 80)), None, None);
    let ssh = b.rule(
        &web,
        "ingress",
        Some("tcp"),
        Some((22, 22)),
        None,
        Some(&admin),
    );
    b.rule(&admin, "egress", None, None, None, None);
    let web1 = b.port(&net, &sub, "10.0.0.2", &[&web]);
    b.port(&net, &sub, "10.0.0.3", &[&web]);
    let adm = b.port(&net, &sub, "10.0.0.9", &[&admin]);
    let mut bind = Bindings::default();
    for (i, id) in b.st.ports.keys().enumerate() {
        bind.ports.insert(id.clone(), i as u32 + 1);
    }
    let mut c = Compiler::new(Keys::default());
    c.full(&b.st, &bind);
    let keys = c.keys().clone();
    World {
        b,
        bind,
        keys,
        web,
        admin,
        http,
        ssh,
        web1,
        adm,
    }
}

impl World {
    /// Apply `ch` and return the flushes it calls for, as ct-tuples.
    fn change(&mut self, kind: Kind, id: &str, ch: Change) -> Vec<(u16, String)> {
        let old = self.b.st.get(kind, id);
        self.b.st.apply(&[ch]);
        for_change(&self.b.st, kind, id, old.as_ref(), &self.keys, &self.bind)
            .iter()
            .map(|f| (f.zone, f.tuple()))
            .collect()
    }

    fn zone(&self) -> u16 {
        self.keys.zones.iter().next().expect("a zone").1 as u16
    }

    fn port(&self, id: &str) -> model::Port {
        self.b.st.ports[id].clone()
    }
}

fn tuples(v: &[(u16, String)]) -> Vec<&str> {
    v.iter().map(|(_, t)| t.as_str()).collect()
}

#[test]
fn removing_a_rule_cuts_what_it_admitted_on_each_member() {
    let mut w = world();
    let z = w.zone();
    let http = w.http.clone();
    let v = w.change(
        Kind::SecurityGroupRule,
        &http,
        Change::Delete(Kind::SecurityGroupRule, http.clone()),
    );
    assert_eq!(
        tuples(&v),
        [
            "ct_nw_dst=10.0.0.2,ct_nw_proto=6,ct_tp_dst=80",
            "ct_nw_dst=10.0.0.3,ct_nw_proto=6,ct_tp_dst=80",
        ]
    );
    assert!(v.iter().all(|(zone, _)| *zone == z));
}

#[test]
fn a_remote_group_rule_names_its_members_and_a_cidr_rule_its_prefix() {
    let mut w = world();
    let ssh = w.clone_rule_with_cidr();
    let v = w.change(
        Kind::SecurityGroupRule,
        &ssh,
        Change::Delete(Kind::SecurityGroupRule, ssh.clone()),
    );
    assert_eq!(
        tuples(&v),
        [
            "ct_nw_src=192.0.2.0/24,ct_nw_dst=10.0.0.2,ct_nw_proto=17",
            "ct_nw_src=192.0.2.0/24,ct_nw_dst=10.0.0.3,ct_nw_proto=17",
        ]
    );
}

impl World {
    /// A UDP rule from 192.0.2.0/24 on `web` (a port range: no port).
    fn clone_rule_with_cidr(&mut self) -> String {
        let web = self.web.clone();
        self.b.rule(
            &web,
            "ingress",
            Some("udp"),
            Some((5000, 5010)),
            Some("192.0.2.0/24"),
            None,
        )
    }
}

#[test]
fn leaving_a_group_cuts_its_rules_on_that_port_only() {
    let mut w = world();
    let mut p = w.port(&w.web1);
    p.security_groups.clear();
    let id = w.web1.clone();
    let v = w.change(Kind::Port, &id, Change::Put(Resource::Port(p)));
    let mut t = tuples(&v);
    t.sort_unstable();
    assert_eq!(
        t,
        [
            // The SSH rule: whatever its remote group held.
            "ct_nw_dst=10.0.0.2,ct_nw_proto=6,ct_tp_dst=22",
            "ct_nw_dst=10.0.0.2,ct_nw_proto=6,ct_tp_dst=80",
        ]
    );
}

#[test]
fn a_member_leaving_the_remote_group_loses_its_connections_to_the_group() {
    let mut w = world();
    let mut p = w.port(&w.adm);
    p.security_groups.clear();
    let id = w.adm.clone();
    let v = w.change(Kind::Port, &id, Change::Put(Resource::Port(p)));
    // The SSH rule of `web` on both web ports, from the admin's address;
    // the admin's own (egress) rule on the admin port.
    let mut t = tuples(&v);
    t.sort_unstable();
    assert_eq!(
        t,
        [
            "ct_nw_src=10.0.0.9",
            "ct_nw_src=10.0.0.9,ct_nw_dst=10.0.0.2,ct_nw_proto=6,ct_tp_dst=22",
            "ct_nw_src=10.0.0.9,ct_nw_dst=10.0.0.3,ct_nw_proto=6,ct_tp_dst=22",
        ]
    );
}

#[test]
fn deleting_a_port_forgets_all_its_connections() {
    let mut w = world();
    let id = w.adm.clone();
    let v = w.change(Kind::Port, &id, Change::Delete(Kind::Port, id.clone()));
    let mut t = tuples(&v);
    t.sort_unstable();
    assert_eq!(
        t,
        [
            "ct_nw_dst=10.0.0.9",
            "ct_nw_src=10.0.0.9",
            "ct_nw_src=10.0.0.9,ct_nw_dst=10.0.0.2,ct_nw_proto=6,ct_tp_dst=22",
            "ct_nw_src=10.0.0.9,ct_nw_dst=10.0.0.3,ct_nw_proto=6,ct_tp_dst=22",
        ]
    );
}

#[test]
fn nothing_is_cut_when_nothing_is_taken_away() {
    let mut w = world();
    // A new rule, an unchanged rule, a port whose groups grow.
    let web = w.web.clone();
    let n =
        w.b.rule(&web, "ingress", Some("tcp"), Some((443, 443)), None, None);
    let r = w.b.st.rules[&n].clone();
    assert!(w
        .change(
            Kind::SecurityGroupRule,
            &n,
            Change::Put(Resource::SecurityGroupRule(r))
        )
        .is_empty());
    let mut p = w.port(&w.web1);
    p.security_groups.push(w.admin.clone());
    let id = w.web1.clone();
    assert!(w
        .change(Kind::Port, &id, Change::Put(Resource::Port(p)))
        .is_empty());
    // Ports not bound here: their connections are another host's.
    w.bind.ports.clear();
    let ssh = w.ssh.clone();
    assert!(w
        .change(
            Kind::SecurityGroupRule,
            &ssh,
            Change::Delete(Kind::SecurityGroupRule, ssh.clone())
        )
        .is_empty());
}

#[test]
fn tuples_print_in_the_switch_syntax() {
    let f = CtFlush {
        zone: 3,
        src: Some("2001:db8::/64".parse().unwrap()),
        dst: Some("2001:db8::5/128".parse().unwrap()),
        proto: Some(58),
        dport: None,
    };
    assert_eq!(
        f.tuple(),
        "ct_ipv6_src=2001:db8::/64,ct_ipv6_dst=2001:db8::5,ct_nw_proto=58"
    );
}

#[test]
fn a_rule_still_in_force_keeps_what_it_covers() {
    let mut w = world();
    // `web2` admits all TCP from anyone: moving web1 there cuts nothing
    // of web's (TCP 80, TCP 22 from admin).
    let web2 = w.b.group("p");
    w.b.rule(&web2, "ingress", Some("tcp"), None, None, None);
    let mut p = w.port(&w.web1);
    p.security_groups = vec![web2.clone()];
    let id = w.web1.clone();
    assert_eq!(
        w.change(Kind::Port, &id, Change::Put(Resource::Port(p))),
        vec![]
    );
    // A rule for 80-90 covers the deleted rule for 80 on the other port;
    // a narrower one (81) would not.
    let web = w.web.clone();
    w.b.rule(&web, "ingress", Some("tcp"), Some((81, 81)), None, None);
    let http = w.http.clone();
    let v = w.change(
        Kind::SecurityGroupRule,
        &http,
        Change::Delete(Kind::SecurityGroupRule, http.clone()),
    );
    assert_eq!(
        tuples(&v),
        ["ct_nw_dst=10.0.0.3,ct_nw_proto=6,ct_tp_dst=80"]
    );
    w.b.rule(&web, "ingress", Some("tcp"), Some((80, 90)), None, None);
    let ssh = w.ssh.clone();
    // SSH from admin is not within TCP 80-90: still cut.
    let v = w.change(
        Kind::SecurityGroupRule,
        &ssh,
        Change::Delete(Kind::SecurityGroupRule, ssh.clone()),
    );
    assert_eq!(
        tuples(&v),
        ["ct_nw_dst=10.0.0.3,ct_nw_proto=6,ct_tp_dst=22"]
    );
}
