//! `controller::announce`: which Router Advertisements and gratuitous
//! ARPs a host sends by packet-out, and the actions that deliver them.

mod common;

use common::Builder;
use controller::announce::{router_advertisements, served_floating_ips};
use controller::{Bindings, Chassis, Compiler, Keys};
use model::Resource;

#[test]
fn ras_go_to_the_local_vm_ports_of_advertising_subnets_only() {
    let mut x = Builder::default();
    let n1 = x.network("A");
    let s1 = x.subnet(&n1, "2001:db8:1::/64", Some("2001:db8:1::1"));
    let n2 = x.network("A");
    let s2 = x.subnet(&n2, "2001:db8:2::/64", Some("2001:db8:2::1"));
    for (s, mode) in [(&s1, Some("slaac")), (&s2, None)] {
        let mut sub = x.st.subnets[s].clone();
        sub.ip_version = 6;
        sub.ipv6_ra_mode = mode.map(Into::into);
        sub.ipv6_address_mode = mode.map(Into::into);
        x.st.put(Resource::Subnet(sub));
    }
    let r = x.router("A");
    let rp = x.interface(&r, &n1, &s1, "2001:db8:1::1");
    x.interface(&r, &n2, &s2, "2001:db8:2::1");
    let vm1 = x.port(&n1, &s1, "2001:db8:1::a", &[]);
    let vm2 = x.port(&n1, &s1, "2001:db8:1::b", &[]);
    let remote = x.port(&n1, &s1, "2001:db8:1::c", &[]);
    let vm3 = x.port(&n2, &s2, "2001:db8:2::c", &[]);
    let mut b = Bindings::default();
    for (p, of) in [(&vm1, 1), (&vm2, 2), (&vm3, 3)] {
        b.ports.insert(p.clone(), of);
    }
    b.chassis = "hv1".into();
    b.remote_ports.insert(remote.clone(), "hv2".into());
    let mut c = Compiler::new(Keys::default());
    c.full(&x.st, &b);

    let ads = router_advertisements(&x.st, c.keys(), &b);
    // n2's subnet has no ipv6_ra_mode: only n1 advertises.
    assert_eq!(ads.len(), 1, "{ads:?}");
    let a = &ads[0];
    assert_eq!(a.router_port, rp);
    assert_eq!(a.mode, "slaac");
    assert_eq!(a.prefix.to_string(), "2001:db8:1::/64");
    assert_eq!(a.mtu, Some(1450));
    let mut want = vec![vm1.clone(), vm2.clone()];
    want.sort();
    assert_eq!(a.targets, want, "local VM ports only, not {remote}");
    // One delivery per local port, into the egress pipeline, as the
    // router interface; the actions parse as ovs-actions(7).
    assert_eq!(
        a.actions.matches("resubmit(,40)").count(),
        2,
        "{}",
        a.actions
    );
    let keys = c.keys();
    let k = |p: &str| keys.ports.get(&format!("p:{p}")).expect("key");
    for p in [&vm1, &vm2] {
        assert!(a.actions.contains(&format!("set_field:{:#x}->reg15", k(p))));
    }
    assert!(a
        .actions
        .contains(&format!("set_field:{:#x}->reg14", k(&rp))));
    flow::parse_actions::parse_actions(&a.actions).expect("actions parse");

    // Nobody bound on n1 here: nothing to advertise.
    let mut away = b.clone();
    away.ports.retain(|p, _| *p == vm3);
    assert!(router_advertisements(&x.st, c.keys(), &away).is_empty());
}

#[test]
fn a_floating_ip_is_announced_by_the_host_that_serves_it() {
    let mut x = Builder::default();
    let n = x.network("A");
    let s = x.subnet(&n, "10.0.0.0/24", Some("10.0.0.1"));
    let ext = x.external("physnet1");
    let es = x.subnet(&ext, "203.0.113.0/24", Some("203.0.113.1"));
    let r = x.router("A");
    x.interface(&r, &n, &s, "10.0.0.1");
    let gw = x.gateway(&r, &ext, &es, "203.0.113.2");
    let vm = x.port(&n, &s, "10.0.0.5", &[]);
    let f = x.fip_with_port(&ext, &es, "203.0.113.10", &vm, "10.0.0.5", &r);
    let gw_mac = x.st.ports[&gw].mac_address.clone();
    let fip_mac = x.st.ports[&x.st.floating_ips[&f].floating_port_id]
        .mac_address
        .clone();
    let mut b = Bindings::default();
    b.bridge_mappings.insert("physnet1".into(), 9);

    // One host: the gateway serves it with the router gateway's MAC.
    let one = served_floating_ips(&x.st, &b);
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].ip.to_string(), "203.0.113.10");
    assert_eq!(
        (one[0].mac.as_str(), one[0].actions.as_str()),
        (gw_mac.as_str(), "output:9")
    );

    // Several hosts, the VM bound here, the uplink here: distributed,
    // with the floating IP's own MAC.
    b.chassis = "hv1".into();
    b.ports.insert(vm.clone(), 1);
    let here = served_floating_ips(&x.st, &b);
    assert_eq!(here[0].mac, fip_mac);

    // The VM on hv2, which has the uplink too: hv1 says nothing.
    b.ports.clear();
    b.remote_ports.insert(vm.clone(), "hv2".into());
    let hv2 = Chassis {
        ip: "192.0.2.2".parse().expect("ip"),
        encaps: vec!["geneve".into()],
        physnets: vec!["physnet1".into()],
    };
    b.remote_chassis.insert("hv2".into(), hv2);
    assert!(served_floating_ips(&x.st, &b).is_empty());

    // No uplink here: nothing to announce on.
    b.bridge_mappings.clear();
    b.ports.insert(vm, 1);
    assert!(served_floating_ips(&x.st, &b).is_empty());
}
