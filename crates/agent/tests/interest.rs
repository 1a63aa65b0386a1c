//! The agent keeps the VM ports of the networks in its scope and the ports
//! bound on it, and Neutron's own ports everywhere; the rest are dropped
//! and read back from the store when the scope grows.

#[path = "../../controller/tests/common/mod.rs"]
mod common;
mod store_ops;

use std::collections::BTreeSet;

use agent::interest::Interest;
use common::Builder;
use controller::{Bindings, Changed};
use model::{Kind, Resource};
use store::{Event, Store};

fn ev(r: &Resource) -> Event {
    Event {
        kind: r.kind().store_name().into(),
        id: r.meta().id.clone(),
        value: Some(serde_json::to_vec(&r.to_json()).unwrap()),
        revision: 1,
    }
}

fn open() -> (tempfile::TempDir, store::RedbStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = store::RedbStore::open(dir.path().join("s.redb")).unwrap();
    (dir, store)
}

/// Two networks of one project and their subnets: `[n1, s1, n2, s2]`.
fn two_networks() -> (Builder, [String; 4]) {
    let mut x = Builder::default();
    let n1 = x.network("p");
    let s1 = x.subnet(&n1, "10.0.1.0/24", Some("10.0.1.1"));
    let n2 = x.network("p");
    let s2 = x.subnet(&n2, "10.0.2.0/24", Some("10.0.2.1"));
    (x, [n1, s1, n2, s2])
}

#[test]
fn ports_out_of_scope_are_dropped_and_read_back_when_it_grows() {
    let (_dir, store) = open();
    let (mut x, [n1, s1, n2, s2]) = two_networks();
    let a = x.port(&n1, &s1, "10.0.1.10", &[]);
    let b = x.port(&n2, &s2, "10.0.2.10", &[]);
    let c = x.port(&n2, &s2, "10.0.2.11", &[]);
    let dhcp = x.port_owned(&n2, &s2, "10.0.2.2", &[], "network:dhcp", "dhcp");
    let later1 = x.port(&n1, &s1, "10.0.1.11", &[]);
    let later2 = x.port(&n2, &s2, "10.0.2.12", &[]);
    let mut st = x.st.clone();
    let ops = store_ops::intent(&st);
    store.commit(&[], &ops).unwrap();
    for id in [&later1, &later2] {
        st.apply(&[model::Change::Delete(Kind::Port, id.clone())]);
    }

    let mut bi = Bindings {
        chassis: "h".into(),
        ..Bindings::default()
    };
    bi.ports.insert(a.clone(), 1);
    let mut i = Interest::default();
    let mut ch = BTreeSet::new();
    let s = i.refresh(&store, &mut st, &bi, &mut ch).unwrap().unwrap();
    assert_eq!(s.networks, [n1.clone()].into());
    let kept: BTreeSet<&String> = st.ports.keys().collect();
    assert_eq!(
        kept,
        [&a, &dhcp].into(),
        "n2's VM ports dropped, Neutron's kept"
    );
    assert!(ch.contains(&Changed::Resource(Kind::Port, b.clone())));
    // A new VM port on n2 is not for this host; one on n1 is.
    let on2 = Resource::Port(x.st.ports[&later2].clone());
    let on1 = Resource::Port(x.st.ports[&later1].clone());
    assert!(!i.admits(&st, &bi.ports, &ev(&on2)).unwrap());
    assert!(i.admits(&st, &bi.ports, &ev(&on1)).unwrap());
    // c is bound here: n2 enters the scope and its ports come back from
    // the store.
    bi.ports.insert(c.clone(), 2);
    ch.clear();
    let s = i.refresh(&store, &mut st, &bi, &mut ch).unwrap().unwrap();
    assert!(s.networks.contains(&n2));
    assert!(st.ports.contains_key(&b) && st.ports.contains_key(&c));
    assert!(ch.contains(&Changed::Resource(Kind::Port, b.clone())));
    assert!(i.admits(&st, &bi.ports, &ev(&on2)).unwrap());
    // A single host keeps everything.
    let mut one = Interest::default();
    let none = one
        .refresh(&store, &mut st, &Bindings::default(), &mut ch)
        .unwrap();
    assert!(none.is_none());
    assert!(one.admits(&st, &bi.ports, &ev(&on2)).unwrap());
}

#[test]
fn a_scoped_start_builds_no_vm_port_until_the_scope_is_known() {
    let (_dir, store) = open();
    let (mut x, [n1, s1, n2, s2]) = two_networks();
    let a = x.port(&n1, &s1, "10.0.1.10", &[]);
    let a2 = x.port(&n1, &s1, "10.0.1.11", &[]);
    let b = x.port(&n2, &s2, "10.0.2.10", &[]);
    let dhcp = x.port_owned(&n2, &s2, "10.0.2.2", &[], "network:dhcp", "dhcp");
    store.commit(&[], &store_ops::intent(&x.st)).unwrap();

    // Among several hosts: Neutron's ports only, every network.
    let (mut st, rev, mut i) = agent::interest::load(&store, true).unwrap();
    assert_eq!(rev, store.revision().unwrap());
    assert_eq!(st.ports.keys().collect::<BTreeSet<_>>(), [&dhcp].into());
    assert_eq!(st.networks.len(), 2);
    // A VM port event is admitted only once its network is in scope.
    let on1 = Resource::Port(x.st.ports[&a2].clone());
    let none = Default::default();
    assert!(!i.admits(&st, &none, &ev(&on1)).unwrap());
    // The first refresh reads the bound port and its network's ports.
    let mut bi = Bindings {
        chassis: "h".into(),
        ..Bindings::default()
    };
    bi.ports.insert(a.clone(), 1);
    let mut ch = BTreeSet::new();
    let s = i.refresh(&store, &mut st, &bi, &mut ch).unwrap().unwrap();
    assert_eq!(s.networks, [n1.clone()].into());
    assert_eq!(
        st.ports.keys().collect::<BTreeSet<_>>(),
        [&a, &a2, &dhcp].into()
    );
    assert!(!st.ports.contains_key(&b), "n2 is out of scope");
    assert!(ch.contains(&Changed::Resource(Kind::Port, a2.clone())));
    // The stored version is the port's revision, as in a full load.
    let stored = store.get("ports", &a2).unwrap().unwrap().version;
    assert_eq!(st.ports[&a2].meta.revision_number, stored);
    assert!(i.admits(&st, &bi.ports, &ev(&on1)).unwrap());

    // A single host loads every port.
    let (all, _, _) = agent::interest::load(&store, false).unwrap();
    assert_eq!(all.ports.len(), 4);
}
