//! The compiled pipeline, run through the `flow` crate's tables: delivery,
//! routing, isolation, the seed's security groups, NAT, local responders,
//! anti-spoofing.

mod common;

use common::sim::Sim;
use common::Builder;
use controller::{Bindings, Compiler, Keys};
use flow::fields::ct_state::{EST, INV, NEW, RPL, TRK};
use flow::fields::Field;
use model::State;

const NEW_: &[u32] = &[NEW | TRK];

struct Seed {
    st: State,
    b: Bindings,
    web1: String,
    db1: String,
    vm3: String,
    b1: String,
    b2: String,
    r1_net1: String,
    r1_net2: String,
    gw: String,
}

fn mac(st: &State, port: &str) -> String {
    st.ports[port].mac_address.clone()
}

/// The seed's cloud: project A with web and DB subnets behind a router
/// with an external gateway, two client subnets (ops 203.0.113.0/24 and
/// admin 192.0.2.0/24), and project B reusing 10.0.0.0/24.
fn seed() -> Seed {
    let mut x = Builder::default();
    let ext = x.external("physnet1");
    let ext_sub = x.subnet(&ext, "198.51.100.0/24", Some("198.51.100.1"));
    let net1 = x.network("A");
    let s1 = x.subnet(&net1, "10.0.0.0/24", Some("10.0.0.1"));
    let net2 = x.network("A");
    let s2 = x.subnet(&net2, "10.0.1.0/24", Some("10.0.1.1"));
    let net3 = x.network("A");
    let s3 = x.subnet(&net3, "203.0.113.0/24", Some("203.0.113.1"));
    let net4 = x.network("A");
    let s4 = x.subnet(&net4, "192.0.2.0/24", Some("192.0.2.1"));
    let r1 = x.router("A");
    let r1_net1 = x.interface(&r1, &net1, &s1, "10.0.0.1");
    let r1_net2 = x.interface(&r1, &net2, &s2, "10.0.1.1");
    x.interface(&r1, &net3, &s3, "203.0.113.1");
    x.interface(&r1, &net4, &s4, "192.0.2.1");
    let gw = x.gateway(&r1, &ext, &ext_sub, "198.51.100.10");

    let default_a = x.group("A");
    x.rule(&default_a, "egress", None, None, None, None);
    x.rule(
        &default_a,
        "ingress",
        None,
        None,
        None,
        Some(&default_a.clone()),
    );
    let web = x.group("A");
    x.rule(&web, "egress", None, None, None, None);
    x.rule(
        &web,
        "ingress",
        Some("tcp"),
        Some((8080, 8080)),
        Some("0.0.0.0/0"),
        None,
    );
    x.rule(
        &web,
        "ingress",
        Some("tcp"),
        Some((22, 22)),
        Some("203.0.113.0/24"),
        None,
    );
    let db = x.group("A");
    x.rule(&db, "egress", None, None, None, None);
    x.rule(
        &db,
        "ingress",
        Some("tcp"),
        Some((3306, 3306)),
        None,
        Some(&web.clone()),
    );
    x.rule(
        &db,
        "ingress",
        Some("tcp"),
        Some((22, 22)),
        Some("192.0.2.0/24"),
        None,
    );

    let web1 = x.port(&net1, &s1, "10.0.0.10", &[&web]);
    let db1 = x.port(&net2, &s2, "10.0.1.20", &[&db]);
    let vm3 = x.port(&net1, &s1, "10.0.0.11", &[&default_a]);
    let ops = x.port(&net3, &s3, "203.0.113.5", &[&default_a]);
    let admin = x.port(&net4, &s4, "192.0.2.5", &[&default_a]);
    x.fip(&ext, "198.51.100.50", &web1, "10.0.0.10", &r1);

    let netb = x.network("B");
    let sb = x.subnet(&netb, "10.0.0.0/24", Some("10.0.0.1"));
    let default_b = x.group("B");
    x.rule(&default_b, "egress", None, None, None, None);
    x.rule(
        &default_b,
        "ingress",
        None,
        None,
        None,
        Some(&default_b.clone()),
    );
    let b1 = x.port(&netb, &sb, "10.0.0.10", &[&default_b]);
    let b2 = x.port(&netb, &sb, "10.0.0.11", &[&default_b]);

    let mut b = Bindings::default();
    for (p, of) in [
        (&web1, 1),
        (&db1, 2),
        (&vm3, 3),
        (&ops, 5),
        (&admin, 6),
        (&b1, 7),
        (&b2, 8),
    ] {
        b.ports.insert(p.clone(), of);
    }
    b.bridge_mappings.insert("physnet1".into(), 100);
    Seed {
        st: x.st,
        b,
        web1,
        db1,
        vm3,
        b1,
        b2,
        r1_net1,
        r1_net2,
        gw,
    }
}

fn compile(s: &Seed) -> (Compiler, Sim) {
    let mut c = Compiler::new(Keys::default());
    c.full(&s.st, &s.b);
    assert!(c.errors().is_empty(), "{:?}", c.errors());
    assert_eq!(c.conflicts(), 0);
    let sim = Sim::load(&c.flows());
    (c, sim)
}

fn tcp(inp: u32, src_mac: &str, dst_mac: &str, src: &str, dst: &str, dport: u16) -> String {
    format!("in_port={inp},tcp,dl_src={src_mac},dl_dst={dst_mac},nw_src={src},nw_dst={dst},nw_ttl=64,tcp_flags=0x002,tp_src=40000,tp_dst={dport}")
}

#[test]
fn same_network_delivery_and_group_rules() {
    let s = seed();
    let (_, sim) = compile(&s);
    let (web1, vm3) = (mac(&s.st, &s.web1), mac(&s.st, &s.vm3));
    // vm3 (default group) → web1:8080, allowed from anywhere.
    let o = sim.run(&tcp(3, &vm3, &web1, "10.0.0.11", "10.0.0.10", 8080), NEW_);
    assert_eq!(o.outputs, vec![1], "{o:?}");
    assert!(o.cts.iter().any(|c| c.1), "a new connection is committed");
    // web1 allows nothing else: a new connection to port 80 is dropped,
    assert!(sim
        .run(&tcp(3, &vm3, &web1, "10.0.0.11", "10.0.0.10", 80), NEW_)
        .dropped());
    // The reply of the 8080 connection passes on the rule that admitted
    // its original direction (checked on the connection's tuple)…
    let reply = |sport: u16| {
        format!("in_port=1,tcp,dl_src={web1},dl_dst={vm3},nw_src=10.0.0.10,nw_dst=10.0.0.11,nw_ttl=64,tcp_flags=0x010,tp_src={sport},tp_dst=40000")
    };
    let o = sim.run(&reply(8080), &[EST | RPL | TRK]);
    assert_eq!(o.outputs, vec![3], "{o:?}");
    // …and a "reply" of a connection to port 80, which no rule admits, is
    // dropped however conntrack knows it (a rule removed since).
    assert!(sim.run(&reply(80), &[EST | RPL | TRK]).dropped());
    // An established packet in the original direction meets the rules
    // again: 8080 passes, 80 does not.
    let est = &[EST | TRK];
    let o = sim.run(&tcp(3, &vm3, &web1, "10.0.0.11", "10.0.0.10", 8080), est);
    assert_eq!(o.outputs, vec![1], "{o:?}");
    assert!(
        o.cts.iter().all(|c| !c.1),
        "an established one is not committed again"
    );
    assert!(sim
        .run(&tcp(3, &vm3, &web1, "10.0.0.11", "10.0.0.10", 80), est)
        .dropped());
}

#[test]
fn routing_rewrites_macs_and_decrements_ttl() {
    let s = seed();
    let (_, sim) = compile(&s);
    let r1 = mac(&s.st, &s.r1_net1);
    let o = sim.run(
        &tcp(1, &mac(&s.st, &s.web1), &r1, "10.0.0.10", "10.0.1.20", 3306),
        NEW_,
    );
    assert_eq!(o.outputs, vec![2], "web → db:3306 is allowed: {o:?}");
    let last = o.last.to_words();
    let mac_u = |m: &str| u128::from_str_radix(&m.replace(':', ""), 16).unwrap();
    assert_eq!(Field::DlSrc.get(&last), mac_u(&mac(&s.st, &s.r1_net2)));
    assert_eq!(Field::DlDst.get(&last), mac_u(&mac(&s.st, &s.db1)));
    assert_eq!(Field::NwTtl.get(&last), 63);
}

#[test]
fn seed_security_groups_allow_and_deny() {
    let s = seed();
    let (c, sim) = compile(&s);
    seed_cases(&s, &sim);
    // The same verdicts with conjunctions expanded to their cross product.
    seed_cases(&s, &Sim::load_expanded(&c.flows()));
}

fn seed_cases(s: &Seed, sim: &Sim) {
    let st = &s.st;
    let port_by_ip = |ip: &str| {
        st.ports
            .values()
            .find(|p| {
                p.fixed_ips.iter().any(|f| f.ip_address == ip)
                    && p.network_id != st.ports[&s.b1].network_id
            })
            .map(|p| p.mac_address.clone())
            .unwrap()
    };
    let ops = port_by_ip("203.0.113.5");
    let admin = port_by_ip("192.0.2.5");
    let r_ops = port_by_ip("203.0.113.1");
    let r_admin = port_by_ip("192.0.2.1");
    let cases = [
        // (in_port, src mac, router mac, src ip, dst ip, port, delivered to)
        (5, &ops, &r_ops, "203.0.113.5", "10.0.0.10", 22, Some(1)),
        (6, &admin, &r_admin, "192.0.2.5", "10.0.0.10", 22, None),
        (6, &admin, &r_admin, "192.0.2.5", "10.0.0.10", 8080, Some(1)),
        (5, &ops, &r_ops, "203.0.113.5", "10.0.0.10", 3306, None),
        (5, &ops, &r_ops, "203.0.113.5", "10.0.1.20", 3306, None),
        (6, &admin, &r_admin, "192.0.2.5", "10.0.1.20", 22, Some(2)),
        (5, &ops, &r_ops, "203.0.113.5", "10.0.1.20", 22, None),
    ];
    for (inp, sm, dm, src, dst, port, want) in cases {
        let o = sim.run(&tcp(inp, sm, dm, src, dst, port), NEW_);
        match want {
            Some(of) => assert_eq!(o.outputs, vec![of], "{src} → {dst}:{port}: {o:?}"),
            None => assert!(o.dropped(), "{src} → {dst}:{port} must be dropped: {o:?}"),
        }
    }
    // DB 3306 from a member of the web group (routed) is allowed; from vm3
    // (same subnet as web1, default group) it is not.
    let r1 = mac(st, &s.r1_net1);
    let o = sim.run(
        &tcp(3, &mac(st, &s.vm3), &r1, "10.0.0.11", "10.0.1.20", 3306),
        NEW_,
    );
    assert!(o.dropped(), "{o:?}");
}

#[test]
fn overlapping_projects_stay_isolated() {
    let s = seed();
    let (_, sim) = compile(&s);
    let b1 = mac(&s.st, &s.b1);
    // Project B's VM addressing project A's web1 (same IP as itself) by MAC.
    let o = sim.run(
        &tcp(7, &b1, &mac(&s.st, &s.web1), "10.0.0.10", "10.0.0.11", 8080),
        NEW_,
    );
    assert!(o.dropped(), "{o:?}");
    // Its ARP for 10.0.0.11 is answered with B's own port, not A's vm3.
    let arp = format!("in_port=7,arp,dl_src={b1},dl_dst=ff:ff:ff:ff:ff:ff,arp_op=1,arp_spa=10.0.0.10,arp_tpa=10.0.0.11,arp_sha={b1}");
    let o = sim.run(&arp, NEW_);
    assert_eq!(
        o.local,
        vec![format!("cloudnet:arp-reply mac={}", mac(&s.st, &s.b2))]
    );
    assert!(
        o.outputs.is_empty(),
        "known addresses are never flooded: {o:?}"
    );
    // Same-project delivery in B works.
    let o = sim.run(
        &tcp(7, &b1, &mac(&s.st, &s.b2), "10.0.0.10", "10.0.0.11", 5000),
        NEW_,
    );
    assert_eq!(o.outputs, vec![8]);
}

#[test]
fn snat_and_floating_ip() {
    let s = seed();
    let (_, sim) = compile(&s);
    let r1 = mac(&s.st, &s.r1_net1);
    let gw = mac(&s.st, &s.gw);
    let to_inet = tcp(
        3,
        &mac(&s.st, &s.vm3),
        &r1,
        "10.0.0.11",
        "198.51.100.77",
        443,
    );
    // The next hop is not a port: the router asks for it (the packet is
    // consumed) from its gateway address, out of the gateway port.
    let o = sim.run(&to_inet, NEW_);
    assert!(o.outputs.is_empty(), "{o:?}");
    assert_eq!(
        o.local,
        vec![format!(
            "cloudnet:arp-request spa=198.51.100.10 sha={gw} tpa=reg0 table=28"
        )]
    );
    assert_eq!(
        Field::Reg(0).get(&o.last.to_words()),
        u32::from(std::net::Ipv4Addr::new(198, 51, 100, 77)) as u128
    );
    // Neither a VM nor an address off the gateway's subnet teaches the
    // router a binding; the neighbour's reply on the uplink does.
    let vm3 = mac(&s.st, &s.vm3);
    let spoof = format!("in_port=3,arp,dl_src={vm3},dl_dst={r1},arp_op=2,arp_spa=198.51.100.77,arp_tpa=10.0.0.1,arp_sha={vm3},arp_tha={r1}");
    sim.run(&spoof, NEW_);
    let off_subnet = format!("in_port=100,arp,dl_src=02:00:00:00:00:66,dl_dst={gw},arp_op=2,arp_spa=10.0.0.11,arp_tpa=198.51.100.10,arp_sha=02:00:00:00:00:66,arp_tha={gw}");
    sim.run(&off_subnet, NEW_);
    let bindings = |sim: &Sim| {
        sim.tables
            .read()
            .table(controller::tables::MAC_BINDING)
            .rules()
            .len()
    };
    assert_eq!(bindings(&sim), 0);
    assert!(sim.run(&to_inet, NEW_).outputs.is_empty());
    let reply = format!("in_port=100,arp,dl_src=02:00:00:00:00:77,dl_dst={gw},arp_op=2,arp_spa=198.51.100.77,arp_tpa=198.51.100.10,arp_sha=02:00:00:00:00:77,arp_tha={gw}");
    assert!(
        sim.run(&reply, NEW_).dropped(),
        "the reply itself stops here"
    );
    assert_eq!(bindings(&sim), 1);
    // vm3 → the internet: SNAT to the gateway address, out the uplink to
    // the learned MAC.
    let o = sim.run(&to_inet, NEW_);
    assert_eq!(o.outputs, vec![100], "{o:?}");
    assert_eq!(
        Field::DlDst.get(&o.last.to_words()),
        0x02_00_00_00_00_77,
        "{o:?}"
    );
    let snat = o
        .cts
        .iter()
        .find_map(|c| c.2.clone().filter(|n| n.src == Some(true)))
        .expect("snat");
    assert_eq!(snat.addr_min, Some("198.51.100.10".parse().unwrap()));
    // web1 has a floating IP: its outbound traffic uses it.
    let web1_out = tcp(
        1,
        &mac(&s.st, &s.web1),
        &r1,
        "10.0.0.10",
        "198.51.100.77",
        443,
    );
    let o = sim.run(&web1_out, NEW_);
    let snat = o
        .cts
        .iter()
        .find_map(|c| c.2.clone().filter(|n| n.src == Some(true)))
        .expect("snat");
    assert_eq!(snat.addr_min, Some("198.51.100.50".parse().unwrap()));
    assert_eq!(o.outputs, vec![100]);
    // Inbound to the floating IP: DNAT to web1, allowed by its 8080 rule.
    let inbound = format!("in_port=100,tcp,dl_src=02:00:00:00:00:77,dl_dst={gw},nw_src=198.51.100.77,nw_dst=198.51.100.50,nw_ttl=64,tcp_flags=0x002,tp_src=40000,tp_dst=8080");
    let o = sim.run(&inbound, NEW_);
    assert_eq!(o.outputs, vec![1], "{o:?}");
    assert_eq!(
        Field::NwDst.get(&o.last.to_words()),
        u32::from(std::net::Ipv4Addr::new(10, 0, 0, 10)) as u128
    );
    // Closing a floating IP's connections: each packet also passes the
    // zone that does not own its connection, where a FIN is invalid; the
    // owning zone's verdict decides (a FIN dropped there left every such
    // connection half open).
    let fin_in = inbound.replace("tcp_flags=0x002", "tcp_flags=0x011");
    let o = sim.run(&fin_in, &[INV | TRK, EST | TRK]);
    assert_eq!(o.outputs, vec![1], "FIN from the internet: {o:?}");
    let fin_out = web1_out.replace("tcp_flags=0x002", "tcp_flags=0x011");
    let o = sim.run(&fin_out, &[EST | TRK, INV | TRK, EST | TRK]);
    assert_eq!(o.outputs, vec![100], "FIN from the VM: {o:?}");
    // The floating IP is answered on the external network with the
    // gateway's MAC.
    let arp = "in_port=100,arp,dl_src=02:00:00:00:00:77,dl_dst=ff:ff:ff:ff:ff:ff,arp_op=1,arp_spa=198.51.100.77,arp_tpa=198.51.100.50,arp_sha=02:00:00:00:00:77";
    assert_eq!(
        sim.run(arp, NEW_).local,
        vec![format!("cloudnet:arp-reply mac={gw}")]
    );
}

#[test]
fn router_icmp_and_dhcp_are_local_actions() {
    let s = seed();
    let (_, sim) = compile(&s);
    let (web1, r1) = (mac(&s.st, &s.web1), mac(&s.st, &s.r1_net1));
    let p = format!("in_port=1,tcp,dl_src={web1},dl_dst={r1},nw_src=10.0.0.10,nw_dst=10.0.1.20,nw_ttl=1,tcp_flags=0x002,tp_dst=3306");
    assert_eq!(
        sim.run(&p, NEW_).local,
        vec!["cloudnet:icmp4-time-exceeded src=10.0.0.1"]
    );
    let p = format!("in_port=1,icmp,dl_src={web1},dl_dst={r1},nw_src=10.0.0.10,nw_dst=10.0.0.1,nw_ttl=64,icmp_type=8,icmp_code=0");
    assert_eq!(sim.run(&p, NEW_).local, vec!["cloudnet:icmp4-echo-reply"]);
    let p = format!("in_port=1,udp,dl_src={web1},dl_dst=ff:ff:ff:ff:ff:ff,nw_src=0.0.0.0,nw_dst=255.255.255.255,nw_ttl=64,tp_src=68,tp_dst=67");
    let o = sim.run(&p, NEW_);
    assert_eq!(o.local.len(), 1, "{o:?}");
    let d = &o.local[0];
    for want in [
        "cloudnet:dhcp4 ",
        "offer=10.0.0.10",
        "mask=24",
        "router=10.0.0.1",
        "dns=192.0.2.53",
        "mtu=1450",
        "lease=86400",
    ] {
        assert!(d.contains(want), "{want} missing in {d}");
    }
    assert!(o.outputs.is_empty(), "DHCP is answered, not flooded");
}

#[test]
fn anti_spoofing() {
    let s = seed();
    let (_, sim) = compile(&s);
    let (web1, vm3) = (mac(&s.st, &s.web1), mac(&s.st, &s.vm3));
    // Wrong source IP, wrong source MAC.
    assert!(sim
        .run(&tcp(3, &vm3, &web1, "10.0.0.99", "10.0.0.10", 8080), NEW_)
        .dropped());
    assert!(sim
        .run(
            &tcp(
                3,
                "fa:16:3e:aa:aa:aa",
                &web1,
                "10.0.0.11",
                "10.0.0.10",
                8080
            ),
            NEW_
        )
        .dropped());
    // ARP claiming another address.
    let arp = format!("in_port=3,arp,dl_src={vm3},dl_dst=ff:ff:ff:ff:ff:ff,arp_op=1,arp_spa=10.0.0.10,arp_tpa=10.0.0.1,arp_sha={vm3}");
    assert!(sim.run(&arp, NEW_).dropped());
    // DHCP server replies from a VM.
    let p = format!("in_port=3,udp,dl_src={vm3},dl_dst=ff:ff:ff:ff:ff:ff,nw_src=10.0.0.11,nw_dst=255.255.255.255,nw_ttl=64,tp_src=67,tp_dst=68");
    assert!(sim.run(&p, NEW_).dropped());
}

#[test]
fn port_security_disabled_and_address_pairs() {
    let mut s = seed();
    let mut p = s.st.ports[&s.vm3].clone();
    p.allowed_address_pairs.push(model::AddressPair {
        ip_address: "10.0.0.200".into(),
        mac_address: String::new(),
    });
    s.st.put(model::Resource::Port(p.clone()));
    let (_, sim) = compile(&s);
    let (web1, vm3) = (mac(&s.st, &s.web1), mac(&s.st, &s.vm3));
    assert_eq!(
        sim.run(&tcp(3, &vm3, &web1, "10.0.0.200", "10.0.0.10", 8080), NEW_)
            .outputs,
        vec![1]
    );
    assert!(sim
        .run(&tcp(3, &vm3, &web1, "10.0.0.201", "10.0.0.10", 8080), NEW_)
        .dropped());
    p.port_security_enabled = false;
    s.st.put(model::Resource::Port(p));
    let (_, sim) = compile(&s);
    // No anti-spoofing, no groups on vm3's side; web1's own group still
    // filters what it receives.
    assert_eq!(
        sim.run(&tcp(3, &vm3, &web1, "10.0.0.201", "10.0.0.10", 8080), NEW_)
            .outputs,
        vec![1]
    );
}

/// Neutron's stateless groups (`stateful=false`): rules match packets in
/// both directions without conntrack, so a reply needs its own rule.
#[test]
fn stateless_groups_need_rules_for_replies() {
    let mut x = Builder::default();
    let net = x.network("A");
    let sub = x.subnet(&net, "10.5.0.0/24", Some("10.5.0.1"));
    let sl = x.group("A");
    x.rule(&sl, "ingress", Some("tcp"), Some((80, 80)), None, None);
    x.st.security_groups.get_mut(&sl).expect("group").stateful = false;
    let open = x.group("A");
    x.rule(&open, "egress", None, None, None, None);
    x.rule(&open, "ingress", None, None, None, None);
    let web = x.port(&net, &sub, "10.5.0.10", &[&sl]);
    let cli = x.port(&net, &sub, "10.5.0.11", &[&open]);
    let mut b = Bindings::default();
    b.ports.insert(web.clone(), 1);
    b.ports.insert(cli.clone(), 2);
    let (wm, cm) = (mac(&x.st, &web), mac(&x.st, &cli));
    let run = |st: &State, pkt: &str, ct: &[u32]| {
        let mut c = Compiler::new(Keys::default());
        c.full(st, &b);
        assert!(c.errors().is_empty(), "{:?}", c.errors());
        Sim::load(&c.flows()).run(pkt, ct)
    };
    let request = tcp(2, &cm, &wm, "10.5.0.11", "10.5.0.10", 80);
    let reply = format!("in_port=1,tcp,dl_src={wm},dl_dst={cm},nw_src=10.5.0.10,nw_dst=10.5.0.11,nw_ttl=64,tp_src=80,tp_dst=40000");
    // The request passes the stateless ingress rule; only the client's
    // (stateful) side goes through conntrack: its lookup and its commit,
    // no lookup on the server's side.
    let o = run(&x.st, &request, NEW_);
    assert_eq!(o.outputs, vec![1], "{o:?}");
    assert_eq!(o.cts.len(), 2, "the client's conntrack passes only: {o:?}");
    // The reply is no new connection, yet without an egress rule the
    // stateless side drops it.
    let est = &[EST | RPL | TRK];
    assert!(run(&x.st, &reply, est).dropped());
    let other = tcp(2, &cm, &wm, "10.5.0.11", "10.5.0.10", 81);
    assert!(run(&x.st, &other, NEW_).dropped(), "port 81 has no rule");
    // Nor does the client's conntrack verdict let a packet in: a reply to
    // a connection the server opened still needs an ingress rule.
    let back = tcp(2, &cm, &wm, "10.5.0.11", "10.5.0.10", 40000);
    assert!(run(&x.st, &back, est).dropped(), "est on the client's side");
    // An egress rule for the replies lets them out.
    x.rule(&sl, "egress", Some("tcp"), None, None, None);
    let o = run(&x.st, &reply, est);
    assert_eq!(o.outputs, vec![2], "{o:?}");
    assert!(o.cts.iter().all(|c| !c.1), "stateless rules commit nothing");
}
