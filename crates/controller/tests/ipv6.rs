//! The IPv6 pipeline, run through the `flow` crate's tables: Router
//! Solicitations and DHCPv6 answered in the switch with the subnet's mode,
//! ND anti-spoofing and the RA guard, routing between a router's IPv6
//! subnets with hop limit and ICMPv6 errors.

mod common;

use common::sim::{Outcome, Sim};
use common::Builder;
use controller::{Bindings, Compiler, Keys};
use flow::fields::ct_state::{NEW, TRK};
use flow::fields::Field;
use model::Resource;

const NEW_: &[u32] = &[NEW | TRK];

struct Six {
    sim: Sim,
    vm1: String,
    vm2: String,
    vm3: String,
    r_n1: String,
}

/// Router r with two IPv6 subnets: n1 `slaac` (vm1 on 1, vm2 on 2), n2
/// `dhcpv6-stateful` (vm3 on 3).
fn six() -> Six {
    let mut x = Builder::default();
    let n1 = x.network("A");
    let s1 = x.subnet(&n1, "2001:db8:1::/64", Some("2001:db8:1::1"));
    let n2 = x.network("A");
    let s2 = x.subnet(&n2, "2001:db8:2::/64", Some("2001:db8:2::1"));
    for (s, mode) in [(&s1, "slaac"), (&s2, "dhcpv6-stateful")] {
        let mut sub = x.st.subnets[s].clone();
        sub.ip_version = 6;
        sub.ipv6_ra_mode = Some(mode.into());
        sub.ipv6_address_mode = Some(mode.into());
        sub.dns_nameservers = vec!["2001:db8::53".into()];
        x.st.put(Resource::Subnet(sub));
    }
    let r = x.router("A");
    let r_n1 = x.interface(&r, &n1, &s1, "2001:db8:1::1");
    x.interface(&r, &n2, &s2, "2001:db8:2::1");
    let g = x.group("A");
    // Neutron's default group, IPv6 half.
    for r in [
        x.rule(&g, "egress", None, None, None, None),
        x.rule(&g, "ingress", None, None, None, Some(&g.clone())),
    ] {
        let mut rule = x.st.rules[&r].clone();
        rule.ethertype = "IPv6".into();
        x.st.put(Resource::SecurityGroupRule(rule));
    }
    let vm1 = x.port(&n1, &s1, "2001:db8:1::a", &[&g]);
    let vm2 = x.port(&n1, &s1, "2001:db8:1::b", &[&g]);
    let vm3 = x.port(&n2, &s2, "2001:db8:2::c", &[&g]);
    let mut b = Bindings::default();
    for (p, of) in [(&vm1, 1), (&vm2, 2), (&vm3, 3)] {
        b.ports.insert(p.clone(), of);
    }
    let mut c = Compiler::new(Keys::default());
    c.full(&x.st, &b);
    assert!(c.errors().is_empty(), "{:?}", c.errors());
    let mac = |p: &str| x.st.ports[p].mac_address.clone();
    Six {
        sim: Sim::load(&c.flows()),
        vm1: mac(&vm1),
        vm2: mac(&vm2),
        vm3: mac(&vm3),
        r_n1: mac(&r_n1),
    }
}

fn run(s: &Six, pkt: &str) -> Outcome {
    s.sim.run(pkt, NEW_)
}

fn lla(mac: &str) -> String {
    let b: Vec<u8> = mac
        .split(':')
        .map(|h| u8::from_str_radix(h, 16).unwrap())
        .collect();
    format!(
        "fe80::{:02x}{:02x}:{:02x}ff:fe{:02x}:{:02x}{:02x}",
        b[0] ^ 2,
        b[1],
        b[2],
        b[3],
        b[4],
        b[5]
    )
}

#[test]
fn router_solicitation_gets_the_subnets_mode() {
    let s = six();
    let rs = |inp: u32, mac: &str| {
        format!(
            "in_port={inp},icmp6,dl_src={mac},dl_dst=33:33:00:00:00:02,ipv6_src={},ipv6_dst=ff02::2,nw_ttl=255,icmp_type=133,icmp_code=0",
            lla(mac)
        )
    };
    let o = run(&s, &rs(1, &s.vm1));
    assert_eq!(o.local.len(), 1, "{o:?}");
    let ra = &o.local[0];
    assert!(ra.starts_with("cloudnet:nd-ra "), "{ra}");
    assert!(ra.contains(&format!("mac={}", s.r_n1)), "{ra}");
    assert!(ra.contains("prefix=2001:db8:1::/64 mode=slaac"), "{ra}");
    assert!(o.outputs.is_empty(), "answered, not flooded");
    let o = run(&s, &rs(3, &s.vm3));
    assert!(o.local[0].contains("mode=dhcpv6-stateful"), "{o:?}");
    // The router's link-local address is answered like its fixed IPs.
    let ns = format!(
        "in_port=1,icmp6,dl_src={},dl_dst=33:33:ff:00:00:01,ipv6_src={},ipv6_dst=ff02::1:ff00:1,nw_ttl=255,icmp_type=135,icmp_code=0,nd_target={},nd_sll={}",
        s.vm1,
        lla(&s.vm1),
        lla(&s.r_n1),
        s.vm1
    );
    assert_eq!(
        run(&s, &ns).local,
        vec![format!("cloudnet:nd-na mac={} router=1", s.r_n1)]
    );
}

#[test]
fn dhcpv6_answers_known_ports_with_their_address() {
    let s = six();
    let sol = |inp: u32, mac: &str| {
        format!(
            "in_port={inp},udp6,dl_src={mac},dl_dst=33:33:00:01:00:02,ipv6_src={},ipv6_dst=ff02::1:2,nw_ttl=1,tp_src=546,tp_dst=547",
            lla(mac)
        )
    };
    let o = run(&s, &sol(3, &s.vm3));
    assert_eq!(o.local.len(), 1, "{o:?}");
    let d = &o.local[0];
    assert!(d.starts_with("cloudnet:dhcp6 server_mac="), "{d}");
    assert!(
        d.contains("addr=2001:db8:2::c") && d.contains("dns=2001:db8::53"),
        "{d}"
    );
    // SLAAC subnet: no DHCPv6 server; vm1's request goes nowhere local.
    assert!(run(&s, &sol(1, &s.vm1)).local.is_empty());
    // Another MAC on vm3's port is not vm3 (port security).
    assert!(run(&s, &sol(3, "fa:16:3e:99:99:99")).dropped());
}

#[test]
fn ra_guard_and_nd_anti_spoofing() {
    let s = six();
    let ra = format!(
        "in_port=2,icmp6,dl_src={},dl_dst=33:33:00:00:00:01,ipv6_src={},ipv6_dst=ff02::1,nw_ttl=255,icmp_type=134,icmp_code=0",
        s.vm2,
        lla(&s.vm2)
    );
    assert!(run(&s, &ra).dropped(), "RA from a VM");
    let dhcp_server = format!(
        "in_port=2,udp6,dl_src={},dl_dst={},ipv6_src={},ipv6_dst={},nw_ttl=64,tp_src=547,tp_dst=546",
        s.vm2,
        s.vm1,
        lla(&s.vm2),
        lla(&s.vm1)
    );
    assert!(run(&s, &dhcp_server).dropped(), "DHCPv6 server in a VM");
    let na = |target: &str, tll: &str| {
        format!(
            "in_port=2,icmp6,dl_src={},dl_dst={},ipv6_src={},ipv6_dst={},nw_ttl=255,icmp_type=136,icmp_code=0,nd_target={target},nd_tll={tll}",
            s.vm2,
            s.vm1,
            lla(&s.vm2),
            lla(&s.vm1)
        )
    };
    // A solicited advertisement (unicast) to vm1.
    let o = run(&s, &na("2001:db8:1::b", &s.vm2));
    assert_eq!(o.outputs, vec![1], "own address: {o:?}");
    let o = run(&s, &na(&lla(&s.vm2), &s.vm2));
    assert_eq!(o.outputs, vec![1], "own link-local: {o:?}");
    assert!(
        run(&s, &na("2001:db8:1::a", &s.vm2)).dropped(),
        "vm1's address"
    );
    assert!(run(&s, &na("2001:db8:1::b", &s.vm1)).dropped(), "vm1's MAC");
}

#[test]
fn routing_between_ipv6_subnets() {
    let s = six();
    let ping = |hl: u8| {
        format!(
            "in_port=1,icmp6,dl_src={},dl_dst={},ipv6_src=2001:db8:1::a,ipv6_dst=2001:db8:2::c,nw_ttl={hl},icmp_type=128,icmp_code=0",
            s.vm1, s.r_n1
        )
    };
    let o = run(&s, &ping(64));
    assert_eq!(o.outputs, vec![3], "{o:?}");
    let w = o.last.to_words();
    let mac_u = |m: &str| u128::from_str_radix(&m.replace(':', ""), 16).unwrap();
    assert_eq!(Field::DlDst.get(&w), mac_u(&s.vm3));
    assert_eq!(Field::NwTtl.get(&w), 63, "hop limit decremented");
    assert_eq!(
        run(&s, &ping(1)).local,
        vec!["cloudnet:icmp6-time-exceeded src=2001:db8:1::1"]
    );
    let nowhere = format!(
        "in_port=1,icmp6,dl_src={},dl_dst={},ipv6_src=2001:db8:1::a,ipv6_dst=2001:db8:77::1,nw_ttl=64,icmp_type=128,icmp_code=0",
        s.vm1, s.r_n1
    );
    assert_eq!(
        run(&s, &nowhere).local,
        vec!["cloudnet:icmp6-unreachable src=2001:db8:1::1 code=0"]
    );
    let to_router = format!(
        "in_port=1,icmp6,dl_src={},dl_dst={},ipv6_src=2001:db8:1::a,ipv6_dst=2001:db8:2::1,nw_ttl=64,icmp_type=128,icmp_code=0",
        s.vm1, s.r_n1
    );
    assert_eq!(run(&s, &to_router).local, vec!["cloudnet:icmp6-echo-reply"]);
    // Same subnet: straight to vm2, no router.
    let o = run(
        &s,
        &format!(
            "in_port=1,icmp6,dl_src={},dl_dst={},ipv6_src=2001:db8:1::a,ipv6_dst=2001:db8:1::b,nw_ttl=64,icmp_type=128,icmp_code=0",
            s.vm1, s.vm2
        ),
    );
    assert_eq!(o.outputs, vec![2], "{o:?}");
}
