//! Issue 6 scenarios 3 and 4: a router written as flows, with `ct(nat)`.
//! VMs (10.0.0.0/24, TAPs) reach an "internet" namespace (198.51.100.0/24)
//! behind a veth whose host end is a `system` port of the switch.
//!
//! The router: frames to the gateway MAC are routed (MACs rewritten,
//! `dec_ttl`); the uplink has 198.51.100.1. ARP for the gateway and the
//! public addresses comes from static neighbour entries (see
//! `ct_support`). The pipeline is OVS's usual one: `ct(nat,table=T)` first
//! (translates packets of known connections, both directions), then
//! `ct(commit,nat(src=…))` or `ct(commit,nat(dst=…))` for new ones. The
//! floating-IP flows match the original-direction tuple (`ct_nw_dst`,
//! `ct_nw_src`, `ct_tp_dst`).
//!
//! Run: `cargo test --release -p vswitch --test ct_nat` (as root).

mod common;
mod ct_support;

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::Duration;

use common::vm;
use ct_support::{bench, mac, peer_seen, static_neigh, Bench, GW_MAC, UP_MAC};
use lab::Netns;

const UPLINK_IP: &str = "198.51.100.1";
const INET_IP: &str = "198.51.100.100";

/// A VM routed through the gateway 10.0.0.1 (at [`GW_MAC`]).
fn routed_vm(b: &Bench, short: &str, addr: &str) -> Netns {
    let v = vm(&b.lab, &b.sw, "br0", short, addr, "");
    static_neigh(&v, "10.0.0.1", GW_MAC);
    v.default_route("10.0.0.1".parse().unwrap()).expect("route");
    v
}

/// Flows routing from VM port `vm_port` (MAC `vm_mac`, address `vm_ip`)
/// back to the VM after translation in table `t`.
fn to_vm(t: u8, vm_port: u16, vm_ip: &str, vm_mac: &str) -> [String; 2] {
    let out = format!("mod_dl_src:{GW_MAC},mod_dl_dst:{vm_mac},dec_ttl,output:{vm_port}");
    [
        format!("table={t},priority=100,ct_state=+trk+est,ip,nw_dst={vm_ip},actions={out}"),
        format!("table={t},priority=100,ct_state=+trk+rel,ip,nw_dst={vm_ip},actions={out}"),
    ]
}

/// A UDP datagram from `vm` to a closed port of the internet host brings
/// back the host's ICMP port unreachable, translated so that the VM's
/// socket sees it (ECONNREFUSED on the connected socket).
fn udp_refused(vm: &Netns, to: &str) -> bool {
    let to: SocketAddr = to.parse().unwrap();
    let sock: UdpSocket = vm.udp_socket("0.0.0.0:0".parse().unwrap()).expect("udp");
    sock.connect(to).expect("connect");
    sock.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut buf = [0u8; 16];
    // A few tries: the first datagram may race the listener-less port.
    (0..5).any(|_| {
        let _ = sock.send(b"ping");
        matches!(sock.recv(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused)
    })
}

/// NAT mode: two VMs reach the internet namespace through MASQUERADE on
/// the uplink address; the internet side sees only that address; replies
/// and ICMP errors (echo and port unreachable) return to the right VM.
#[test]
fn masquerade_to_the_internet() {
    let Some(b) = bench("ct_masq") else {
        return;
    };
    let (inet, _link) = b.internet("inet", &format!("{INET_IP}/24"));
    static_neigh(&inet, UPLINK_IP, UP_MAC);
    let v1 = routed_vm(&b, "v1", "10.0.0.11/24");
    let v2 = routed_vm(&b, "v2", "10.0.0.12/24");
    let (p1, p2, up) = (b.ofport("v1"), b.ofport("v2"), b.ofport_of("up0"));
    let inet_mac = mac(&inet, "eth0");
    let to_inet = format!("mod_dl_src:{UP_MAC},mod_dl_dst:{inet_mac},dec_ttl,output:{up}");
    let mut flows = vec![
        // Outbound: routed frames of known connections are SNATed here.
        format!("table=0,priority=100,ip,dl_dst={GW_MAC},nw_dst=198.51.100.0/24,actions=ct(zone=1,nat,table=1)"),
        format!("table=1,priority=100,ct_state=+trk+new,ip,actions=ct(commit,zone=1,nat(src={UPLINK_IP})),{to_inet}"),
        format!("table=1,priority=100,ct_state=+trk+est,ip,actions={to_inet}"),
        // Inbound to the uplink address: replies are translated back.
        format!("table=0,priority=100,ip,in_port={up},nw_dst={UPLINK_IP},actions=ct(zone=1,nat,table=2)"),
        "table=0,priority=0,actions=drop".to_string(),
        "table=1,priority=0,actions=drop".to_string(),
        "table=2,priority=0,actions=drop".to_string(),
    ];
    let v1_mac = mac(&v1, "eth0");
    let v2_mac = mac(&v2, "eth0");
    flows.extend(to_vm(2, p1, "10.0.0.11", &v1_mac));
    flows.extend(to_vm(2, p2, "10.0.0.12", &v2_mac));
    b.flows(&flows);

    let inet_ip: IpAddr = INET_IP.parse().unwrap();
    let target = format!("{INET_IP}:8080");
    for (name, v) in [("v1", &v1), ("v2", &v2)] {
        let peer = peer_seen(v, &inet, &format!("{INET_IP}:8080"), &target)
            .unwrap_or_else(|e| panic!("{name} -> internet: {e}"));
        assert_eq!(
            peer.ip().to_string(),
            UPLINK_IP,
            "{name}: the internet saw {peer}"
        );
        let s = lab::ping(v, inet_ip, 2).expect("ping");
        assert!(s.all_received(), "{name}: ping through NAT: {s:?}");
        assert!(
            udp_refused(v, &format!("{INET_IP}:9")),
            "{name}: port unreachable did not come back"
        );
    }
    lab::tcp_check(&v1, &inet, target.parse().unwrap(), 1 << 20).expect("bulk TCP through NAT");
    // The internet cannot open connections to the VMs.
    assert!(
        peer_seen(&inet, &v1, "0.0.0.0:8080", &format!("{UPLINK_IP}:8080")).is_err(),
        "unsolicited inbound connection passed"
    );
    let dump = b.conntrack(1);
    assert!(
        dump.contains("src=10.0.0.11") && dump.contains("src=10.0.0.12"),
        "{dump}"
    );
    assert!(dump.contains(&format!("dst={UPLINK_IP}")), "{dump}");
}

/// Floating IP: a server VM is reachable from the internet at its public
/// address (DNAT), and its own outbound connections leave with that
/// address (SNAT).
#[test]
fn floating_ip_dnat_and_snat() {
    const FIP: &str = "198.51.100.50";
    let Some(b) = bench("ct_fip") else {
        return;
    };
    let (inet, _link) = b.internet("inet", &format!("{INET_IP}/24"));
    static_neigh(&inet, FIP, UP_MAC);
    let srv = routed_vm(&b, "srv", "10.0.0.21/24");
    let (ps, up) = (b.ofport("srv"), b.ofport_of("up0"));
    let inet_mac = mac(&inet, "eth0");
    let srv_mac = mac(&srv, "eth0");
    let to_inet = format!("mod_dl_src:{UP_MAC},mod_dl_dst:{inet_mac},dec_ttl,output:{up}");
    let to_srv = format!("mod_dl_src:{GW_MAC},mod_dl_dst:{srv_mac},dec_ttl,output:{ps}");
    let flows = vec![
        // From the internet to the floating IP.
        format!("table=0,priority=100,ip,in_port={up},nw_dst={FIP},actions=ct(zone=2,nat,table=3)"),
        // New connections to the floating IP (`ct_nw_dst`: a datagram that
        // follows the first before any reply is already translated here).
        format!("table=3,priority=100,ct_state=+trk+new,ip,ct_nw_dst={FIP},actions=ct(commit,zone=2,nat(dst=10.0.0.21)),{to_srv}"),
        // Established, told apart by the original-direction tuple:
        // connections opened to the floating IP, and replies to the
        // server's own connections.
        format!("table=3,priority=100,ct_state=+trk+est,ip,ct_nw_dst={FIP},ct_nw_proto=6,ct_tp_dst=80,actions={to_srv}"),
        format!("table=3,priority=100,ct_state=+trk+est,ip,ct_nw_src=10.0.0.21,actions={to_srv}"),
        format!("table=3,priority=90,ct_state=+trk+est,icmp,nw_dst=10.0.0.21,actions={to_srv}"),
        format!("table=3,priority=100,ct_state=+trk+rel,ip,nw_dst=10.0.0.21,actions={to_srv}"),
        // From the server, routed.
        format!("table=0,priority=100,ip,in_port={ps},dl_dst={GW_MAC},actions=ct(zone=2,nat,table=4)"),
        format!("table=4,priority=100,ct_state=+trk+new,ip,actions=ct(commit,zone=2,nat(src={FIP})),{to_inet}"),
        format!("table=4,priority=100,ct_state=+trk+est,ip,actions={to_inet}"),
        format!("table=4,priority=100,ct_state=+trk+rel,ip,actions={to_inet}"),
        "table=0,priority=0,actions=drop".to_string(),
        "table=3,priority=0,actions=drop".to_string(),
        "table=4,priority=0,actions=drop".to_string(),
    ];
    b.flows(&flows);

    // Inbound to the floating IP: DNAT, the server sees the real client.
    let peer = peer_seen(&inet, &srv, "0.0.0.0:80", &format!("{FIP}:80")).expect("internet -> FIP");
    assert_eq!(peer.ip().to_string(), INET_IP, "server saw {peer}");
    let s = lab::ping(&inet, FIP.parse().unwrap(), 2).expect("ping");
    assert!(s.all_received(), "ping to the floating IP: {s:?}");
    // A burst of datagrams before any reply: the later ones are translated
    // by the first ct(nat) and committed again by the second ct, which must
    // find the same connection (not a clashing new one).
    let rx = srv
        .udp_socket("0.0.0.0:7777".parse().unwrap())
        .expect("udp");
    rx.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let tx = inet.udp_socket("0.0.0.0:0".parse().unwrap()).expect("udp");
    for i in 0..5u8 {
        tx.send_to(&[i], format!("{FIP}:7777")).expect("send");
    }
    let mut buf = [0u8; 8];
    for i in 0..5u8 {
        let (n, from) = rx
            .recv_from(&mut buf)
            .unwrap_or_else(|e| panic!("datagram {i}: {e}"));
        assert_eq!(
            (n, buf[0], from.ip().to_string()),
            (1, i, INET_IP.to_string())
        );
    }
    let stats = b.ct_stats();
    assert!(stats.contains("ct_nat=0"), "{stats}");
    // Outbound from the server: SNAT to the floating IP.
    let peer = peer_seen(
        &srv,
        &inet,
        &format!("{INET_IP}:5001"),
        &format!("{INET_IP}:5001"),
    )
    .expect("server -> internet");
    assert_eq!(peer.ip().to_string(), FIP, "internet saw {peer}");
    let dump = b.conntrack(2);
    assert!(
        dump.contains(&format!("dst={FIP}")) && dump.contains("src=10.0.0.21"),
        "{dump}"
    );
}
