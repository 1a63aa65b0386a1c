//! `ctflush::for_change`: which conntrack flushes a security-policy change
//! calls for (PIPELINE.md "Security groups"): none for rule and membership
//! changes (the ACL stage re-evaluates every packet), the whole zone of a
//! deleted port.

use controller::ctflush::{for_change, CtFlush};
use controller::{Bindings, Compiler, Keys};
use model::{Change, Kind, Resource};

mod common;

/// Web servers in group `web` (10.0.0.2, .3) admit TCP 80 from anyone and
/// SSH from the `admin` group (10.0.0.9); everything is bound here.
struct World {
    b: common::Builder,
    keys: Keys,
    web: String,
    http: String,
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
    b.rule(
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
        keys,
        web,
        http,
        web1,
        adm,
    }
}

impl World {
    /// Apply `ch` and return the flushes it calls for, as ct-tuples.
    fn change(&mut self, kind: Kind, id: &str, ch: Change) -> Vec<(u16, String)> {
        let old = self.b.st.get(kind, id);
        self.b.st.apply(&[ch]);
        for_change(&self.b.st, kind, id, old.as_ref(), &self.keys)
            .iter()
            .map(|f| (f.zone, f.tuple()))
            .collect()
    }

    fn zone(&self, port: &str) -> u16 {
        let z = self.keys.zones.get(&format!("p:{port}")).expect("a zone");
        u16::try_from(z).expect("16 bits")
    }

    fn port(&self, id: &str) -> model::Port {
        self.b.st.ports[id].clone()
    }
}

#[test]
fn rule_and_membership_changes_delete_nothing() {
    let mut w = world();
    let http = w.http.clone();
    let v = w.change(
        Kind::SecurityGroupRule,
        &http,
        Change::Delete(Kind::SecurityGroupRule, http.clone()),
    );
    assert_eq!(v, vec![], "a rule removed");
    let mut p = w.port(&w.web1);
    p.security_groups.clear();
    let id = w.web1.clone();
    let v = w.change(Kind::Port, &id, Change::Put(Resource::Port(p)));
    assert_eq!(v, vec![], "a port leaving its group");
    let mut p = w.port(&w.adm);
    p.security_groups = vec![w.web.clone()];
    let id = w.adm.clone();
    let v = w.change(Kind::Port, &id, Change::Put(Resource::Port(p)));
    assert_eq!(v, vec![], "a member leaving a remote group");
}

#[test]
fn deleting_a_port_flushes_its_zone() {
    let mut w = world();
    let (adm, web1) = (w.adm.clone(), w.web1.clone());
    let (za, zw) = (w.zone(&adm), w.zone(&web1));
    assert_ne!(za, zw, "each port has a zone of its own");
    // Usually unbound first (its TAP gone), as `port unplug` then `port
    // delete`: the zone comes from the keys, not the bindings.
    let v = w.change(Kind::Port, &adm, Change::Delete(Kind::Port, adm.clone()));
    assert_eq!(v, vec![(za, String::new())], "the whole zone, no tuple");
    // A port never bound here has no zone here: nothing to flush.
    let mut c = Compiler::new(Keys::default());
    c.full(&w.b.st, &Bindings::default());
    w.keys = c.keys().clone();
    let v = w.change(Kind::Port, &web1, Change::Delete(Kind::Port, web1.clone()));
    assert_eq!(v, vec![]);
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
