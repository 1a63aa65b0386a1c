//! Distributed floating IPs across hosts, run through the `flow` crate's
//! tables: a floating IP is served on its VM's chassis when that chassis
//! has the external network's uplink (its own MAC, its own ARP answer, NAT
//! and the uplink there), else through the gateway chassis; SNAT without
//! a floating IP always goes to the gateway. Moving the VM or removing the
//! mapping moves the floating IP back, incrementally.

mod common;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use common::sim::{Outcome, Sim};
use common::Builder;
use controller::{Bindings, Changed, Chassis, Compiler, Keys};
use flow::fields::ct_state::{NEW, TRK};
use flow::fields::Field;
use model::State;

const NEW_: &[u32] = &[NEW | TRK];
const TUN: u32 = 50;
const UPLINK: u32 = 100;
/// The upstream router on the external network.
const NH_MAC: &str = "02:00:00:00:00:01";
const INET_MAC: &str = "02:00:00:00:00:99";

struct World {
    st: State,
    /// 10.0.0.10, floating IP 198.51.100.20.
    web: String,
    /// 10.0.0.11, no floating IP (SNAT only).
    app: String,
    /// 10.0.0.12, floating IP 198.51.100.21.
    db: String,
    router_mac: String,
    gw_mac: String,
    web_fip_mac: String,
}

fn world() -> World {
    world_with(false)
}

/// [`world`], with a dual-stack gateway (2001:db8::10) when `v6`.
fn world_with(v6: bool) -> World {
    let mut x = Builder::default();
    let ext = x.external("physnet1");
    let ext_sub = x.subnet(&ext, "198.51.100.0/24", Some("198.51.100.1"));
    let net = x.network("A");
    let s = x.subnet(&net, "10.0.0.0/24", Some("10.0.0.1"));
    let r = x.router("A");
    let rif = x.interface(&r, &net, &s, "10.0.0.1");
    let gw = x.gateway(&r, &ext, &ext_sub, "198.51.100.10");
    if v6 {
        let ext6 = x.subnet(&ext, "2001:db8::/64", Some("2001:db8::1"));
        x.v6(&ext6, None);
        x.gateway_addr(&r, &gw, &ext6, "2001:db8::10");
    }
    let g = x.group("A");
    x.rule(&g, "egress", None, None, None, None);
    x.rule(&g, "ingress", Some("tcp"), None, Some("0.0.0.0/0"), None);
    let web = x.port(&net, &s, "10.0.0.10", &[&g]);
    let app = x.port(&net, &s, "10.0.0.11", &[&g]);
    let db = x.port(&net, &s, "10.0.0.12", &[&g]);
    let f = x.fip_with_port(&ext, &ext_sub, "198.51.100.20", &web, "10.0.0.10", &r);
    x.fip_with_port(&ext, &ext_sub, "198.51.100.21", &db, "10.0.0.12", &r);
    let holder = x.st.floating_ips[&f].floating_port_id.clone();
    let mac = |p: &str| x.st.ports[p].mac_address.clone();
    World {
        router_mac: mac(&rif),
        gw_mac: mac(&gw),
        web_fip_mac: mac(&holder),
        st: x.st.clone(),
        web,
        app,
        db,
    }
}

/// Hosts: a (first by name: the gateway chassis) and b have the physnet1
/// uplink, c has none.
fn hosts() -> BTreeMap<&'static str, Chassis> {
    let ch = |last: u8, physnets: &[&str]| Chassis {
        ip: Ipv4Addr::new(10, 200, 0, last),
        encaps: vec!["vxlan".into()],
        physnets: physnets.iter().map(|s| s.to_string()).collect(),
    };
    BTreeMap::from([
        ("a", ch(1, &["physnet1"])),
        ("b", ch(2, &["physnet1"])),
        ("c", ch(3, &[])),
    ])
}

/// Host `me`'s bindings with the ports where `at` says (port, host,
/// ofport there).
fn bindings(me: &str, chassis: &BTreeMap<&str, Chassis>, at: &[(&str, &str, u32)]) -> Bindings {
    let mut b = Bindings {
        chassis: me.into(),
        ..Bindings::default()
    };
    b.tunnels.insert("vxlan".into(), TUN);
    for (n, c) in chassis {
        if *n != me {
            b.remote_chassis.insert(n.to_string(), c.clone());
        }
    }
    if chassis[me].physnets.iter().any(|p| p == "physnet1") {
        b.bridge_mappings.insert("physnet1".into(), UPLINK);
    }
    for &(p, host, of) in at {
        if host == me {
            b.ports.insert(p.into(), of);
        } else {
            b.remote_ports.insert(p.into(), host.into());
        }
    }
    b
}

/// web and app on b (ofports 1, 2), db on c (ofport 3).
fn placed(w: &World) -> Vec<(&str, &str, u32)> {
    vec![
        (w.web.as_str(), "b", 1),
        (w.app.as_str(), "b", 2),
        (w.db.as_str(), "c", 3),
    ]
}

fn compiler(st: &State, b: &Bindings) -> Compiler {
    let mut c = Compiler::new(Keys::default());
    c.full(st, b);
    assert!(c.errors().is_empty(), "{:?}", c.errors());
    assert_eq!(c.conflicts(), 0);
    c
}

fn compile(st: &State, b: &Bindings) -> Sim {
    Sim::load(&compiler(st, b).flows())
}

/// An ARP request for `ip` arriving on the uplink from the internet.
fn arp_from_uplink(ip: &str) -> String {
    format!(
        "in_port={UPLINK},arp,dl_src={INET_MAC},dl_dst=ff:ff:ff:ff:ff:ff,arp_op=1,\
         arp_spa=198.51.100.99,arp_tpa={ip},arp_sha={INET_MAC}"
    )
}

fn answered(o: &Outcome) -> Option<String> {
    o.local
        .iter()
        .find_map(|l| l.strip_prefix("cloudnet:arp-reply mac="))
        .map(str::to_owned)
}

fn tcp(inp: u32, src_mac: &str, dst_mac: &str, src: &str, dst: &str) -> String {
    format!(
        "in_port={inp},tcp,dl_src={src_mac},dl_dst={dst_mac},nw_src={src},nw_dst={dst},\
         nw_ttl=64,tcp_flags=0x002,tp_src=40000,tp_dst=80"
    )
}

fn mac_u(m: &str) -> u128 {
    u128::from_str_radix(&m.replace(':', ""), 16).expect("mac")
}

fn nat(o: &Outcome, src: bool) -> Option<Ipv4Addr> {
    o.cts.iter().find_map(|c| {
        let n = c.2.as_ref()?;
        match (n.src == Some(src), n.addr_min) {
            (true, Some(std::net::IpAddr::V4(a))) => Some(a),
            _ => None,
        }
    })
}

fn tun_dst(o: &Outcome) -> Ipv4Addr {
    Ipv4Addr::from(Field::TunDst.get(&o.last.to_words()) as u32)
}

#[test]
fn a_floating_ip_is_served_on_its_vms_chassis() {
    let w = world();
    let ch = hosts();
    let b = compile(&w.st, &bindings("b", &ch, &placed(&w)));
    let web_mac = w.st.ports[&w.web].mac_address.clone();

    // ARP: b answers for web's floating IP with its own MAC, not for the
    // router's gateway address (the gateway chassis a does).
    let o = b.run(&arp_from_uplink("198.51.100.20"), NEW_);
    assert_eq!(answered(&o).as_deref(), Some(w.web_fip_mac.as_str()));
    assert_ne!(w.web_fip_mac, w.gw_mac);
    let o = b.run(&arp_from_uplink("198.51.100.10"), NEW_);
    assert!(answered(&o).is_none() && o.outputs.is_empty(), "{o:?}");
    // Nor does it take frames for the gateway's MAC from the uplink.
    let to_gw = tcp(UPLINK, INET_MAC, &w.gw_mac, "203.0.113.7", "198.51.100.10");
    assert!(b.run(&to_gw, NEW_).dropped());

    // In: from the uplink to the floating IP's MAC, DNAT on b, to web.
    let o = b.run(
        &tcp(
            UPLINK,
            INET_MAC,
            &w.web_fip_mac,
            "203.0.113.7",
            "198.51.100.20",
        ),
        NEW_,
    );
    assert_eq!(o.outputs, vec![1], "{o:?}");
    assert_eq!(nat(&o, false), Some(Ipv4Addr::new(10, 0, 0, 10)));

    // Out: web asks for its next hop from its floating IP and MAC…
    let out = tcp(1, &web_mac, &w.router_mac, "10.0.0.10", "203.0.113.7");
    let o = b.run(&out, NEW_);
    assert!(o.outputs.is_empty(), "{o:?}");
    assert_eq!(
        o.local,
        vec![format!(
            "cloudnet:arp-request spa=198.51.100.20 sha={} tpa=reg0 table=28",
            w.web_fip_mac
        )]
    );
    // …learns the answer sent to that MAC, then leaves by b's uplink,
    // SNATed to its floating IP, from the floating IP's MAC.
    b.learn_neighbour(
        UPLINK,
        &w.web_fip_mac,
        "198.51.100.20",
        "198.51.100.1",
        NH_MAC,
    );
    let o = b.run(&out, NEW_);
    assert_eq!(o.outputs, vec![UPLINK], "{o:?}");
    assert_eq!(nat(&o, true), Some(Ipv4Addr::new(198, 51, 100, 20)));
    let last = o.last.to_words();
    assert_eq!(Field::DlSrc.get(&last), mac_u(&w.web_fip_mac));
    assert_eq!(Field::DlDst.get(&last), mac_u(NH_MAC));

    // SNAT without a floating IP still goes to the gateway chassis a.
    let app_mac = w.st.ports[&w.app].mac_address.clone();
    let o = b.run(
        &tcp(2, &app_mac, &w.router_mac, "10.0.0.11", "203.0.113.7"),
        NEW_,
    );
    assert_eq!(o.outputs, vec![TUN], "{o:?}");
    assert_eq!(tun_dst(&o), ch["a"].ip);
}

#[test]
fn the_gateway_answers_only_for_what_it_serves() {
    let w = world();
    let ch = hosts();
    let a = compile(&w.st, &bindings("a", &ch, &placed(&w)));
    // web's floating IP is b's: a stays silent (one MAC, one port
    // upstream).
    let o = a.run(&arp_from_uplink("198.51.100.20"), NEW_);
    assert!(answered(&o).is_none(), "{o:?}");
    // The gateway address and db's floating IP (c has no uplink) are a's,
    // with the router's gateway MAC.
    for ip in ["198.51.100.10", "198.51.100.21"] {
        let o = a.run(&arp_from_uplink(ip), NEW_);
        assert_eq!(answered(&o).as_deref(), Some(w.gw_mac.as_str()), "{ip}");
    }
    // c redirects db's traffic to a, unrouted.
    let c = compile(&w.st, &bindings("c", &ch, &placed(&w)));
    let db_mac = w.st.ports[&w.db].mac_address.clone();
    let o = c.run(
        &tcp(3, &db_mac, &w.router_mac, "10.0.0.12", "203.0.113.7"),
        NEW_,
    );
    assert_eq!(o.outputs, vec![TUN], "{o:?}");
    assert_eq!(tun_dst(&o), ch["a"].ip);
    assert!(nat(&o, true).is_none(), "no NAT on c: {o:?}");
}

/// Apply `changes` to `c` compiled for `before`'s world and check the
/// result equals a full compile of `after`.
fn step(c: &mut Compiler, w: &World, after: &Bindings, changes: &[Changed]) -> Sim {
    let d = c.update(&w.st, after, changes);
    assert!(!d.add.is_empty() || !d.delete.is_empty(), "{changes:?}");
    let mut full = Compiler::new(c.keys().clone());
    full.full(&w.st, after);
    assert_eq!(c.flows(), full.flows(), "incremental equals full");
    Sim::load(&c.flows())
}

#[test]
fn the_floating_ip_follows_its_vm_and_the_mapping_incrementally() {
    let w = world();
    let mut ch = hosts();
    let here = placed(&w);
    let mut moved = here.clone();
    moved[0] = (w.web.as_str(), "c", 7);
    let fip_arp = arp_from_uplink("198.51.100.20");

    // web migrates b → c (no uplink): a takes its floating IP back, b
    // lets go of it.
    let mut a = compiler(&w.st, &bindings("a", &ch, &here));
    let sim = step(
        &mut a,
        &w,
        &bindings("a", &ch, &moved),
        &[Changed::Binding(w.web.clone())],
    );
    let o = sim.run(&fip_arp, NEW_);
    assert_eq!(answered(&o).as_deref(), Some(w.gw_mac.as_str()));
    let mut b = compiler(&w.st, &bindings("b", &ch, &here));
    let sim = step(
        &mut b,
        &w,
        &bindings("b", &ch, &moved),
        &[Changed::Binding(w.web.clone())],
    );
    assert!(answered(&sim.run(&fip_arp, NEW_)).is_none());

    // Back on b, then b loses its physnet1 mapping: a serves it again,
    // and b sends web's traffic to a.
    let mut a = compiler(&w.st, &bindings("a", &ch, &here));
    let mut b = compiler(&w.st, &bindings("b", &ch, &here));
    ch.get_mut("b").expect("b").physnets.clear();
    let sim = step(&mut a, &w, &bindings("a", &ch, &here), &[Changed::Mappings]);
    let o = sim.run(&fip_arp, NEW_);
    assert_eq!(answered(&o).as_deref(), Some(w.gw_mac.as_str()));
    let sim = step(&mut b, &w, &bindings("b", &ch, &here), &[Changed::Mappings]);
    let web_mac = w.st.ports[&w.web].mac_address.clone();
    let o = sim.run(
        &tcp(1, &web_mac, &w.router_mac, "10.0.0.10", "203.0.113.7"),
        NEW_,
    );
    assert_eq!(o.outputs, vec![TUN], "{o:?}");
    assert_eq!(tun_dst(&o), ch["a"].ip);
}

#[test]
fn ipv6_gateway_address_is_answered_on_the_gateway_chassis_only() {
    let w = world_with(true);
    let ch = hosts();
    let ns = format!(
        "in_port={UPLINK},icmp6,dl_src={INET_MAC},dl_dst=33:33:ff:00:00:10,ipv6_src=2001:db8::99,\
         ipv6_dst=ff02::1:ff00:10,nw_ttl=255,icmp_type=135,icmp_code=0,nd_target=2001:db8::10,\
         nd_sll={INET_MAC}"
    );
    let a = compile(&w.st, &bindings("a", &ch, &placed(&w)));
    assert_eq!(
        a.run(&ns, NEW_).local,
        vec![format!("cloudnet:nd-na mac={} router=1", w.gw_mac)],
        "the gateway chassis answers"
    );
    let b = compile(&w.st, &bindings("b", &ch, &placed(&w)));
    assert!(
        b.run(&ns, NEW_).dropped(),
        "b has the uplink, not the gateway"
    );
}
