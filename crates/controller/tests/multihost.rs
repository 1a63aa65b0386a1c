//! The pipeline across hosts, run through the `flow` crate's tables: each
//! host compiles the same intent with its own bindings (which ports are
//! local, which chassis the others are on), and a packet that leaves one
//! host's tunnel port is fed into the next host's pipeline.

mod common;

use std::net::Ipv4Addr;

use common::sim::{Outcome, Sim};
use common::Builder;
use controller::{Bindings, Changed, Chassis, Compiler, Keys};
use flow::fields::ct_state::{NEW, TRK};
use flow::fields::Field;
use model::State;

const NEW_: &[u32] = &[NEW | TRK];
/// Every host's vxlan tunnel port.
const TUN: u32 = 50;
const UPLINK: u32 = 100;
const IP_A: Ipv4Addr = Ipv4Addr::new(10, 200, 0, 1);
const IP_B: Ipv4Addr = Ipv4Addr::new(10, 200, 0, 2);
const IP_C: Ipv4Addr = Ipv4Addr::new(10, 200, 0, 3);

struct World {
    st: State,
    net1: String,
    net2: String,
    /// On host a, net1.
    web: String,
    /// On host b, net1.
    vm3: String,
    /// On host b, net2.
    db: String,
    r_net1: String,
}

fn world() -> World {
    let mut x = Builder::default();
    let ext = x.external("physnet1");
    let ext_sub = x.subnet(&ext, "198.51.100.0/24", Some("198.51.100.1"));
    let net1 = x.network("A");
    let s1 = x.subnet(&net1, "10.0.0.0/24", Some("10.0.0.1"));
    let net2 = x.network("A");
    let s2 = x.subnet(&net2, "10.0.1.0/24", Some("10.0.1.1"));
    let r = x.router("A");
    let r_net1 = x.interface(&r, &net1, &s1, "10.0.0.1");
    x.interface(&r, &net2, &s2, "10.0.1.1");
    x.gateway(&r, &ext, &ext_sub, "198.51.100.10");
    let g = x.group("A");
    x.rule(&g, "egress", None, None, None, None);
    x.rule(&g, "ingress", None, None, None, Some(&g.clone()));
    let web = x.port(&net1, &s1, "10.0.0.10", &[&g]);
    let vm3 = x.port(&net1, &s1, "10.0.0.11", &[&g]);
    let db = x.port(&net2, &s2, "10.0.1.20", &[&g]);
    World {
        st: x.st,
        net1,
        net2,
        web,
        vm3,
        db,
        r_net1,
    }
}

fn chassis(ip: Ipv4Addr, physnets: &[&str]) -> Chassis {
    Chassis {
        ip,
        encaps: vec!["vxlan".into()],
        physnets: physnets.iter().map(|s| s.to_string()).collect(),
    }
}

/// Host `me` of a (web), b (vm3, db), c (the gateway: physnet1 uplink).
fn bindings(w: &World, me: &str) -> Bindings {
    let mut b = Bindings {
        chassis: me.into(),
        ..Bindings::default()
    };
    b.tunnels.insert("vxlan".into(), TUN);
    let all = [
        ("a", chassis(IP_A, &[])),
        ("b", chassis(IP_B, &[])),
        ("c", chassis(IP_C, &["physnet1"])),
    ];
    for (n, c) in all {
        if n != me {
            b.remote_chassis.insert(n.into(), c);
        }
    }
    for (p, host, of) in [(&w.web, "a", 1), (&w.vm3, "b", 3), (&w.db, "b", 4)] {
        if host == me {
            b.ports.insert(p.clone(), of);
        } else {
            b.remote_ports.insert(p.clone(), host.into());
        }
    }
    if me == "c" {
        b.bridge_mappings.insert("physnet1".into(), UPLINK);
    }
    b
}

fn compile(st: &State, b: &Bindings) -> Sim {
    let mut c = Compiler::new(Keys::default());
    c.full(st, b);
    assert!(c.errors().is_empty(), "{:?}", c.errors());
    Sim::load(&c.flows())
}

fn mac(st: &State, port: &str) -> String {
    st.ports[port].mac_address.clone()
}

fn vni(st: &State, net: &str) -> u128 {
    st.networks[net].segmentation_id.unwrap() as u128
}

/// (tun_dst, tun_id) of the packet that left.
fn tunnel(o: &Outcome) -> (Ipv4Addr, u128) {
    let w = o.last.to_words();
    (
        Ipv4Addr::from(Field::TunDst.get(&w) as u32),
        Field::TunId.get(&w),
    )
}

fn tcp(inp: u32, src_mac: &str, dst_mac: &str, src: &str, dst: &str) -> String {
    format!("in_port={inp},tcp,dl_src={src_mac},dl_dst={dst_mac},nw_src={src},nw_dst={dst},nw_ttl=64,tcp_flags=0x002,tp_src=40000,tp_dst=80")
}

#[test]
fn same_network_across_hosts() {
    let w = world();
    let a = compile(&w.st, &bindings(&w, "a"));
    let b = compile(&w.st, &bindings(&w, "b"));
    let (web, vm3) = (mac(&w.st, &w.web), mac(&w.st, &w.vm3));
    let pkt = tcp(1, &web, &vm3, "10.0.0.10", "10.0.0.11");
    let o = a.run(&pkt, NEW_);
    assert_eq!(o.outputs, vec![TUN], "{o:?}");
    assert_eq!(tunnel(&o), (IP_B, vni(&w.st, &w.net1)));
    // Only the sender's ingress ACL ran on a (lookup, then commit).
    assert_eq!(o.cts.len(), 2, "{o:?}");
    // On b the receiving port's egress ACL runs, then delivery.
    let rx = format!(
        "tun_id={:#x},tun_src={IP_A},{}",
        vni(&w.st, &w.net1),
        pkt.replace("in_port=1", &format!("in_port={TUN}"))
    );
    let o = b.run(&rx, NEW_);
    assert_eq!(o.outputs, vec![3], "{o:?}");
    assert!(o.cts.iter().any(|c| c.1), "egress ACL commits on b: {o:?}");
    // A key of another network does not enter net1.
    let other = rx.replace(
        &format!("tun_id={:#x}", vni(&w.st, &w.net1)),
        &format!("tun_id={:#x}", vni(&w.st, &w.net2)),
    );
    assert!(b.run(&other, NEW_).outputs.iter().all(|&p| p != 3));
}

#[test]
fn broadcast_goes_only_to_chassis_hosting_the_network() {
    let w = world();
    let a = compile(&w.st, &bindings(&w, "a"));
    let web = mac(&w.st, &w.web);
    // ARP for an unknown address: replicated to b (vm3 is there), not to c.
    let arp = format!("in_port=1,arp,dl_src={web},dl_dst=ff:ff:ff:ff:ff:ff,arp_op=1,arp_spa=10.0.0.10,arp_tpa=10.0.0.99,arp_sha={web}");
    let o = a.run(&arp, NEW_);
    assert_eq!(o.outputs, vec![TUN], "{o:?}");
    assert_eq!(tunnel(&o), (IP_B, vni(&w.st, &w.net1)));
    // ARP for a remote port's address is answered on a, never flooded.
    let known = arp.replace("10.0.0.99", "10.0.0.11");
    let o = a.run(&known, NEW_);
    assert!(o.outputs.is_empty(), "{o:?}");
    assert_eq!(
        o.local,
        vec![format!("cloudnet:arp-reply mac={}", mac(&w.st, &w.vm3))]
    );
    // Received from a tunnel, a broadcast reaches the local port; the only
    // tunnel output is the input port, which OpenFlow never sends back to.
    let b = compile(&w.st, &bindings(&w, "b"));
    let rx = format!(
        "tun_id={:#x},tun_src={IP_A},{}",
        vni(&w.st, &w.net1),
        arp.replace("in_port=1", &format!("in_port={TUN}"))
    );
    let o = b.run(&rx, NEW_);
    assert!(o.outputs.contains(&3), "{o:?}");
    assert!(o.outputs.iter().all(|&p| p == 3 || p == TUN), "{o:?}");
}

#[test]
fn east_west_routing_on_the_senders_host() {
    let w = world();
    let a = compile(&w.st, &bindings(&w, "a"));
    let r1 = mac(&w.st, &w.r_net1);
    let o = a.run(
        &tcp(1, &mac(&w.st, &w.web), &r1, "10.0.0.10", "10.0.1.20"),
        NEW_,
    );
    assert_eq!(o.outputs, vec![TUN], "{o:?}");
    assert_eq!(tunnel(&o), (IP_B, vni(&w.st, &w.net2)));
    let last = o.last.to_words();
    let mac_u = |m: &str| u128::from_str_radix(&m.replace(':', ""), 16).unwrap();
    assert_eq!(Field::DlDst.get(&last), mac_u(&mac(&w.st, &w.db)));
    assert_eq!(Field::NwTtl.get(&last), 63, "routed on a");
}

#[test]
fn snat_is_redirected_to_the_gateway_chassis() {
    let w = world();
    let a = compile(&w.st, &bindings(&w, "a"));
    let r1 = mac(&w.st, &w.r_net1);
    let web = mac(&w.st, &w.web);
    // Beyond the external subnet (default route) and on it (connected).
    let far = tcp(1, &web, &r1, "10.0.0.10", "203.0.113.7");
    let o = a.run(&far, NEW_);
    assert_eq!(o.outputs, vec![TUN], "{o:?}");
    assert_eq!(tunnel(&o), (IP_C, vni(&w.st, &w.net1)));
    let pkt = tcp(1, &web, &r1, "10.0.0.10", "198.51.100.77");
    let o = a.run(&pkt, NEW_);
    assert_eq!(o.outputs, vec![TUN], "{o:?}");
    assert_eq!(tunnel(&o), (IP_C, vni(&w.st, &w.net1)));
    assert_eq!(Field::NwTtl.get(&o.last.to_words()), 64, "not routed on a");
    assert!(o.cts.iter().all(|c| c.2.is_none()), "no NAT on a: {o:?}");
    // The gateway routes and SNATs to the router's gateway address.
    let c = compile(&w.st, &bindings(&w, "c"));
    // The next hop has answered the gateway's ARP on the uplink.
    let gw =
        w.st.ports
            .values()
            .find(|p| p.device_owner == model::resources::owner::ROUTER_GATEWAY)
            .expect("router gateway port");
    c.learn_neighbour(
        UPLINK,
        &gw.mac_address,
        "198.51.100.10",
        "198.51.100.77",
        "02:00:00:00:00:77",
    );
    let rx = format!(
        "tun_id={:#x},tun_src={IP_A},{}",
        vni(&w.st, &w.net1),
        pkt.replace("in_port=1", &format!("in_port={TUN}"))
    );
    let o = c.run(&rx, NEW_);
    assert_eq!(o.outputs, vec![UPLINK], "{o:?}");
    let snat = o
        .cts
        .iter()
        .find_map(|c| c.2.clone().filter(|n| n.src == Some(true)))
        .expect("snat on the gateway");
    assert_eq!(snat.addr_min, Some("198.51.100.10".parse().unwrap()));
}

#[test]
fn a_chassis_leaving_removes_its_tunnels_incrementally() {
    let w = world();
    let b0 = bindings(&w, "a");
    let mut c = Compiler::new(Keys::default());
    c.full(&w.st, &b0);
    // b's lease expires: its chassis and its port bindings disappear.
    let mut b1 = b0.clone();
    b1.remote_chassis.remove("b");
    b1.remote_ports.retain(|_, ch| ch != "b");
    let d = c.update(
        &w.st,
        &b1,
        &[
            Changed::Mappings,
            Changed::Binding(w.vm3.clone()),
            Changed::Binding(w.db.clone()),
        ],
    );
    assert!(!d.delete.is_empty());
    let inc = c.flows();
    let mut full = Compiler::new(c.keys().clone());
    full.full(&w.st, &b1);
    assert_eq!(inc, full.flows(), "incremental equals full");
    assert!(
        !inc.iter().any(|f| f.actions.contains(&IP_B.to_string())),
        "no flow still tunnels to b"
    );
    let sim = Sim::load(&inc);
    let o = sim.run(
        &tcp(
            1,
            &mac(&w.st, &w.web),
            &mac(&w.st, &w.vm3),
            "10.0.0.10",
            "10.0.0.11",
        ),
        NEW_,
    );
    assert!(o.dropped(), "{o:?}");
}
