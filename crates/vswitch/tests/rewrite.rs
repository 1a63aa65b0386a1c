//! End-to-end header rewrites: a "virtual" address 10.0.0.100 that exists
//! on no VM is made reachable by flows alone — requests get
//! `mod_nw_dst`/`mod_dl_dst` towards VM b, replies `mod_nw_src`/`mod_dl_src`
//! back to the virtual identity (ovs-actions(7), "Field modification
//! actions").
//!
//! Checksums must be checked by someone for the test to mean anything: a
//! receiver trusts a CHECKSUM_PARTIAL frame without looking. So traffic
//! runs twice: first with the VMs' checksum offload and TSO on (the switch
//! rewrites partial checksums and 64 KB GSO frames), then with TX
//! checksumming off in both VMs, so every frame carries a full checksum
//! that the receiving kernel verifies after the rewrite. (The partial-sum
//! arithmetic itself is verified by the unit tests, which finish the sum
//! the way the kernel does.)
//!
//! Run: `cargo test --release -p vswitch --test rewrite` (as root).

mod common;

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr};
use std::time::{Duration, Instant};

use common::{pings, vm, Daemon};
use lab::{Lab, Netns};
use vswitch::Request;

const VIP: &str = "10.0.0.100";
const VMAC: &str = "02:00:00:00:00:64";

/// The MAC address of `dev` in `ns` (`ip -br link` prints it third).
fn mac_of(ns: &Netns, dev: &str) -> String {
    let out = ns.ip(&["-br", "link", "show", dev]).expect("ip link");
    out.split_whitespace()
        .find(|w| w.len() == 17 && w.matches(':').count() == 5)
        .unwrap_or_else(|| panic!("no MAC in {out:?}"))
        .to_owned()
}

fn ofport(lab: &Lab, sw: &Daemon, short: &str) -> String {
    let name = lab.name(short).expect("name");
    sw.vs(&format!("get Interface {name} ofport"))
        .trim()
        .to_owned()
}

/// Echo `len` bytes over TCP from `client` to `addr` (a listener on
/// 0.0.0.0 in `server`), all within `timeout`; returns the peer address
/// the server saw.
fn tcp_echo(client: &Netns, server: &Netns, addr: SocketAddr, len: usize) -> SocketAddr {
    let timeout = Duration::from_secs(10);
    let listener = server
        .tcp_listener(SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), addr.port()))
        .expect("listen");
    let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
    let deadline = Instant::now() + timeout;
    std::thread::scope(|s| {
        let srv = s.spawn(|| {
            let left = deadline.saturating_duration_since(Instant::now());
            let (mut conn, peer) =
                lab::accept_within(&listener, left).expect("a connection within the timeout");
            conn.set_read_timeout(Some(timeout)).unwrap();
            let mut rd = conn.try_clone().unwrap();
            let n = std::io::copy(&mut rd, &mut conn).expect("server copy");
            conn.shutdown(Shutdown::Write).unwrap();
            (n, peer)
        });
        let mut conn = client.tcp_connect(addr, timeout).expect("connect");
        conn.set_read_timeout(Some(timeout)).unwrap();
        let mut wr = conn.try_clone().unwrap();
        let writer = s.spawn(move || {
            wr.write_all(&data).expect("send");
            wr.shutdown(Shutdown::Write).unwrap();
            data
        });
        let mut got = Vec::with_capacity(len);
        conn.read_to_end(&mut got).expect("receive echo");
        let data = writer.join().unwrap();
        assert!(got == data, "echo differs: {} of {} bytes", got.len(), len);
        let (n, peer) = srv.join().unwrap();
        assert_eq!(n, len as u64);
        peer
    })
}

#[test]
fn virtual_address_by_header_rewrite() {
    let Some(lab) = Lab::new_or_skip("vsw_rewrite") else {
        return;
    };
    let host = lab.netns("h").expect("host netns");
    let dir = tempfile::tempdir().expect("tempdir");
    let sw = Daemon::start(&host, dir.path(), &[]);
    sw.vs("add-br br0");
    let a = vm(&lab, &sw, "br0", "a", "10.0.0.1/24", "");
    let b = vm(&lab, &sw, "br0", "b", "10.0.0.2/24", "");
    // a resolves the virtual address to a virtual MAC nobody owns.
    a.ip(&[
        "neigh",
        "replace",
        VIP,
        "lladdr",
        VMAC,
        "dev",
        "eth0",
        "nud",
        "permanent",
    ])
    .expect("static neighbour");
    assert!(pings(&a, "10.0.0.2"), "a cannot ping b");
    let vip: IpAddr = VIP.parse().unwrap();
    assert!(
        !lab::ping(&a, vip, 1).is_ok_and(|s| s.received > 0),
        "{VIP} answered before any rewrite flow"
    );

    let (pa, pb) = (ofport(&lab, &sw, "a"), ofport(&lab, &sw, "b"));
    let bmac = mac_of(&b, "eth0");
    sw.of(Request::AddFlows {
        bridge: "br0".into(),
        flows: vec![
            format!(
                "priority=10,ip,in_port={pa},nw_dst={VIP} \
                 actions=mod_nw_dst:10.0.0.2,mod_dl_dst:{bmac},output:{pb}"
            ),
            format!(
                "priority=10,ip,in_port={pb},nw_dst=10.0.0.1 \
                 actions=mod_nw_src:{VIP},mod_dl_src:{VMAC},output:{pa}"
            ),
        ],
    });

    assert!(pings(&a, VIP), "ping to the virtual address");
    for offload in [true, false] {
        if !offload {
            for ns in [&a, &b] {
                ns.exec(&["ethtool", "-K", "eth0", "tx", "off"])
                    .expect("ethtool -K eth0 tx off");
            }
        }
        // b sees a's real address; a sees the virtual one answer.
        let peer = tcp_echo(&a, &b, SocketAddr::new(vip, 5001), 4 << 20);
        assert_eq!(
            peer.ip(),
            "10.0.0.1".parse::<IpAddr>().unwrap(),
            "offload={offload}"
        );
        udp_round_trip(&a, &b);
    }

    let flows = sw.of(Request::DumpFlows {
        bridge: "br0".into(),
        matches: None,
    });
    let rewrite_lines: Vec<&str> = flows.lines().filter(|l| l.contains("mod_nw_")).collect();
    assert_eq!(rewrite_lines.len(), 2, "{flows}");
    assert!(
        rewrite_lines.iter().all(|l| !l.contains("n_packets=0,")),
        "{flows}"
    );
}

/// One UDP datagram to the virtual address and its reply: b sees it from
/// 10.0.0.1, a gets the answer from the virtual address.
fn udp_round_trip(a: &Netns, b: &Netns) {
    let srv = b
        .udp_socket("0.0.0.0:5353".parse().unwrap())
        .expect("bind b");
    let cli = a.udp_socket("0.0.0.0:0".parse().unwrap()).expect("bind a");
    for s in [&srv, &cli] {
        s.set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
    }
    let to: SocketAddr = format!("{VIP}:5353").parse().unwrap();
    let mut buf = [0u8; 64];
    // Bounded retries: the first datagram may race ARP on b's side.
    for _ in 0..5 {
        cli.send_to(b"rewrite me", to).expect("send");
        let Ok((n, from)) = srv.recv_from(&mut buf) else {
            continue;
        };
        assert_eq!(&buf[..n], b"rewrite me");
        assert_eq!(from.ip(), "10.0.0.1".parse::<IpAddr>().unwrap());
        srv.send_to(b"rewritten", from).expect("reply");
        if let Ok((n, from)) = cli.recv_from(&mut buf) {
            assert_eq!(&buf[..n], b"rewritten");
            assert_eq!(from, to, "reply must come from the virtual address");
            return;
        }
    }
    panic!("no UDP round trip through {VIP}");
}
