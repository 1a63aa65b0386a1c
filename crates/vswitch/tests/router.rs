//! A router written as flows, by hand, as a controller would compile one
//! (OVN's logical router pipeline, ovn-northd(8) `lr_in_*`), with real
//! traffic between VM namespaces:
//!
//! * gateway 10.0.1.1 answers ARP and ping with OVN's move/load flows (ARP
//!   field writes, ICMP type rewrite, address swap);
//! * gateway 10.0.2.1 answers them with local actions
//!   (`controller(userdata=cloudnet:arp-reply ...)`, LOCAL_ACTIONS.md);
//! * packets between the subnets are routed: `dec_ttl`, MAC rewrite to the
//!   next hop, output; TCP flows through;
//! * a TTL-1 packet gets an ICMP time-exceeded from the router address
//!   (OVN's `ip.ttl == {0, 1}` flows before routing), while `dec_ttl`'s
//!   own expiry is an `invalid_ttl` packet-in, counted;
//! * a real DHCP client (busybox `udhcpc`) gets its address, router and
//!   MTU from a `cloudnet:dhcp4` flow;
//! * an IPv6 gateway answers Neighbor Solicitations (`nd-na`, router flag)
//!   and pings, and sends hop-limit-exceeded errors.
//!
//! Run: `cargo test --release -p vswitch --test router` (as root).

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{pings, vm, Daemon};
use lab::{Lab, Netns};
use vswitch::Request;

const RA: &str = "02:00:00:00:01:01";
const RB: &str = "02:00:00:00:02:01";
const RC: &str = "02:00:00:00:03:01";

/// A daemon with bridge `br0` in its own host namespace. Fields drop in
/// order: the daemon before the namespaces it runs in.
struct Bench {
    sw: Daemon,
    dir: tempfile::TempDir,
    _host: Netns,
    lab: Lab,
}

impl Bench {
    fn start(label: &str) -> Option<Bench> {
        let lab = Lab::new_or_skip(label)?;
        let host = lab.netns("h").expect("host netns");
        let dir = tempfile::tempdir().expect("tempdir");
        let sw = Daemon::start(&host, dir.path(), &[]);
        sw.vs("add-br br0");
        Some(Bench {
            sw,
            dir,
            _host: host,
            lab,
        })
    }
}

/// `controller(userdata=...)` carrying `text` (ovs-ofctl writes userdata
/// as dot-separated hex bytes).
fn local(text: &str) -> String {
    let hex: Vec<String> = text.bytes().map(|b| format!("{b:02x}")).collect();
    format!("controller(userdata={})", hex.join("."))
}

fn ofport(lab: &Lab, sw: &Daemon, short: &str) -> String {
    let name = lab.name(short).expect("name");
    sw.vs(&format!("get Interface {name} ofport"))
        .trim()
        .to_owned()
}

/// Replace every flow of `br0` with `flows`.
fn install(sw: &Daemon, flows: Vec<String>) {
    sw.of(Request::DelFlows {
        bridge: "br0".into(),
        matches: None,
        strict: false,
    });
    sw.of(Request::AddFlows {
        bridge: "br0".into(),
        flows,
    });
}

/// The drop counter `name` of `br0` (`dump-tables`).
fn drops(sw: &Daemon, name: &str) -> u64 {
    let out = sw.of(Request::DumpTables {
        bridge: "br0".into(),
    });
    out.split_whitespace()
        .find_map(|w| w.strip_prefix(&format!("{name}=")))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {out}"))
}

/// One ping with `ttl`, its output (it may fail).
fn ping_ttl(from: &Netns, to: &str, ttl: u8) -> String {
    let ttl = ttl.to_string();
    let out = from
        .exec_output(
            &["ping", "-n", "-c", "1", "-W", "2", "-t", &ttl, to],
            Duration::from_secs(5),
        )
        .expect("ping runs");
    out.stdout + &out.stderr
}

#[test]
fn routed_subnets_gateway_replies_and_time_exceeded() {
    let Some(bench) = Bench::start("vsw_router") else {
        return;
    };
    let (sw, lab) = (&bench.sw, &bench.lab);
    let a = vm(lab, sw, "br0", "a", "10.0.1.5/24", "");
    let b = vm(lab, sw, "br0", "b", "10.0.2.5/24", "");
    a.default_route("10.0.1.1".parse().unwrap()).expect("route");
    b.default_route("10.0.2.1".parse().unwrap()).expect("route");
    let (pa, pb) = (ofport(lab, sw, "a"), ofport(lab, sw, "b"));
    let amac = a.mac("eth0").expect("mac").to_string();
    let bmac = b.mac("eth0").expect("mac").to_string();
    let ttl_exceeded = local("cloudnet:icmp4-time-exceeded src=10.0.1.1");
    install(
        sw,
        vec![
            // 10.0.1.1: OVN's ARP responder and echo reply, in flows.
            "priority=100,arp,arp_op=1,arp_tpa=10.0.1.1 actions=\
             move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],mod_dl_src:02:00:00:00:01:01,\
             load:0x2->NXM_OF_ARP_OP[],move:NXM_NX_ARP_SHA[]->NXM_NX_ARP_THA[],\
             load:0x020000000101->NXM_NX_ARP_SHA[],move:NXM_OF_ARP_SPA[]->NXM_OF_ARP_TPA[],\
             load:0x0a000101->NXM_OF_ARP_SPA[],in_port"
                .into(),
            "priority=100,icmp,icmp_type=8,nw_dst=10.0.1.1 actions=\
             move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],mod_dl_src:02:00:00:00:01:01,\
             move:NXM_OF_IP_SRC[]->NXM_OF_IP_DST[],load:0x0a000101->NXM_OF_IP_SRC[],\
             load:0x40->NXM_NX_IP_TTL[],load:0->NXM_OF_ICMP_TYPE[],in_port"
                .into(),
            // 10.0.2.1: the same answers as local actions.
            format!(
                "priority=100,arp,arp_op=1,arp_tpa=10.0.2.1 actions={}",
                local(&format!("cloudnet:arp-reply mac={RB}"))
            ),
            format!(
                "priority=100,icmp,icmp_type=8,nw_dst=10.0.2.1 actions={}",
                local("cloudnet:icmp4-echo-reply")
            ),
            // TTL expiry before routing (a's side only).
            format!("priority=90,ip,in_port={pa},nw_ttl=0 actions={ttl_exceeded}"),
            format!("priority=90,ip,in_port={pa},nw_ttl=1 actions={ttl_exceeded}"),
            // Routing.
            format!(
                "priority=50,ip,in_port={pa},dl_dst={RA},nw_dst=10.0.2.0/24 \
                 actions=dec_ttl,mod_dl_src:{RB},mod_dl_dst:{bmac},output:{pb}"
            ),
            format!(
                "priority=50,ip,in_port={pb},dl_dst={RB},nw_dst=10.0.1.0/24 \
                 actions=dec_ttl,mod_dl_src:{RA},mod_dl_dst:{amac},output:{pa}"
            ),
        ],
    );

    // (a) Each VM pings its gateway.
    assert!(pings(&a, "10.0.1.1"), "gateway answered by flows");
    assert!(pings(&b, "10.0.2.1"), "gateway answered by local actions");
    assert!(common::has_neighbour(&a, "10.0.1.1"));
    let neigh = b.ip(&["neigh", "show", "10.0.2.1"]).expect("neigh");
    assert!(neigh.contains(RB), "{neigh}");

    // (b) Routed traffic: one hop (TTL 64 → 63), and TCP.
    assert!(pings(&a, "10.0.2.5"), "routed ping");
    let out = ping_ttl(&a, "10.0.2.5", 64);
    assert!(out.contains("ttl=63"), "one router hop: {out}");
    let to_b: SocketAddr = "10.0.2.5:5001".parse().unwrap();
    lab::tcp_check(&a, &b, to_b, 1 << 20).expect("TCP across the router");

    // (c) TTL 1: time exceeded from the router address.
    let out = ping_ttl(&a, "10.0.2.5", 1);
    assert!(
        out.contains("From 10.0.1.1") && out.contains("Time to live exceeded"),
        "{out}"
    );
    // b's side has no TTL flows: dec_ttl's expiry is an invalid_ttl
    // packet-in, counted, and nothing reaches a.
    let before = drops(sw, "invalid_ttl");
    let out = ping_ttl(&b, "10.0.1.5", 1);
    assert!(!out.contains("bytes from"), "{out}");
    assert!(drops(sw, "invalid_ttl") > before);
    assert_eq!(drops(sw, "local_action_error"), 0);
    // ofproto/trace names the local action and the invalid_ttl packet-in.
    let trace = |flow: String| {
        sw.of(Request::Trace {
            bridge: "br0".into(),
            flow,
        })
    };
    let t = trace(format!("in_port={pa},udp,nw_dst=10.0.2.5,nw_ttl=1"));
    assert!(
        t.contains("local(cloudnet:icmp4-time-exceeded src=10.0.1.1)"),
        "{t}"
    );
    let t = trace(format!(
        "in_port={pb},dl_dst={RB},udp,nw_dst=10.0.1.5,nw_ttl=1"
    ));
    assert!(t.contains("reason=invalid_ttl"), "{t}");
}

#[test]
fn udhcpc_gets_address_router_and_mtu_from_a_dhcp4_flow() {
    let Some(bench) = Bench::start("vsw_dhcp") else {
        return;
    };
    let (sw, lab) = (&bench.sw, &bench.lab);
    let Some(busybox) = lab::dhcp::busybox("udhcpc_gets_address_router_and_mtu_from_a_dhcp4_flow")
    else {
        return;
    };
    let c = vm(lab, sw, "br0", "c", "", "");
    let pc = ofport(lab, sw, "c");
    let cmac = c.mac("eth0").expect("mac").to_string();
    let dhcp = local(
        "cloudnet:dhcp4 server=10.0.3.2 server_mac=02:00:00:00:03:02 offer=10.0.3.5 \
         mask=24 router=10.0.3.1 dns=10.0.3.53 mtu=1400 lease=600",
    );
    install(
        sw,
        vec![
            format!(
                "priority=100,udp,in_port={pc},dl_src={cmac},tp_src=68,tp_dst=67 actions={dhcp}"
            ),
            format!(
                "priority=100,arp,arp_op=1,arp_tpa=10.0.3.1 actions={}",
                local(&format!("cloudnet:arp-reply mac={RC}"))
            ),
            format!(
                "priority=100,icmp,icmp_type=8,nw_dst=10.0.3.1 actions={}",
                local("cloudnet:icmp4-echo-reply")
            ),
        ],
    );
    let lease = lab::dhcp::udhcpc(
        &c,
        &busybox,
        "eth0",
        &["mtu"],
        bench.dir.path(),
        Duration::from_secs(30),
    )
    .expect("udhcpc gets a lease");
    let get = |k: &str| {
        lease
            .get(k)
            .unwrap_or_else(|| panic!("udhcpc did not export {k}: {}", lease.raw()))
    };
    assert_eq!(get("ip"), "10.0.3.5");
    assert_eq!(get("mask"), "24");
    assert_eq!(get("router"), "10.0.3.1");
    assert_eq!(get("serverid"), "10.0.3.2");
    assert_eq!(get("dns"), "10.0.3.53");
    assert_eq!(get("mtu"), "1400");
    assert_eq!(get("lease"), "600");
    let link = c.ip(&["link", "show", "eth0"]).expect("link");
    assert!(link.contains("mtu 1400"), "{link}");
    // The leased address works: the gateway answers.
    assert!(
        pings(&c, "10.0.3.1"),
        "ping the router from the leased address"
    );
}

#[test]
fn ipv6_gateway_by_local_actions() {
    let Some(bench) = Bench::start("vsw_router6") else {
        return;
    };
    let (sw, lab) = (&bench.sw, &bench.lab);
    let a = vm(lab, sw, "br0", "a", "", "");
    a.ip(&["addr", "add", "fd00:1::5/64", "dev", "eth0", "nodad"])
        .expect("address");
    a.default_route("fd00:1::1".parse().unwrap())
        .expect("route");
    let pa = ofport(lab, sw, "a");
    let exceeded = local("cloudnet:icmp6-time-exceeded src=fd00:1::1");
    install(
        sw,
        vec![
            format!(
                "priority=100,icmp6,icmp_type=135,nd_target=fd00:1::1 actions={}",
                local(&format!("cloudnet:nd-na mac={RA} router=1"))
            ),
            format!(
                "priority=100,icmp6,icmp_type=128,ipv6_dst=fd00:1::1 actions={}",
                local("cloudnet:icmp6-echo-reply")
            ),
            format!("priority=90,ipv6,in_port={pa},nw_ttl=1 actions={exceeded}"),
        ],
    );
    assert!(pings(&a, "fd00:1::1"), "IPv6 gateway answers NS and echo");
    let neigh = a.ip(&["-6", "neigh", "show", "fd00:1::1"]).expect("neigh");
    assert!(neigh.contains(RA) && neigh.contains("router"), "{neigh}");
    let out = ping_ttl(&a, "fd00:2::5", 1);
    assert!(
        out.contains("From fd00:1::1") && out.contains("Time exceeded"),
        "{out}"
    );
}
