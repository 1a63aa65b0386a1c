//! Bench pieces shared by the conntrack scenario tests (`ct_*.rs`): one
//! daemon per test in the test's host namespace, flows written by hand,
//! connection checks that report what the server saw.
//!
//! ARP for router addresses: the datapath cannot yet rewrite ARP fields
//! (move/load responder flows), so the namespaces get static neighbour
//! entries for the gateway and public addresses ([`static_neigh`]).

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use lab::{Lab, Netns, VethPair};
use vswitch::Request;

use crate::common::Daemon;

/// MAC address the flows give the router on the VM side.
pub const GW_MAC: &str = "02:00:00:00:00:01";
/// MAC address the flows give the router on the uplink side.
pub const UP_MAC: &str = "02:00:00:00:01:01";

/// A test's lab, host namespace, run directory and daemon (dropped in
/// reverse order: daemon first, then the namespaces).
pub struct Bench {
    pub sw: Daemon,
    pub dir: tempfile::TempDir,
    pub host: Netns,
    pub lab: Lab,
}

/// A bench with bridge `br0`, or `None` when the test is skipped (not
/// root outside CI).
pub fn bench(label: &str) -> Option<Bench> {
    let lab = Lab::new_or_skip(label)?;
    let host = lab.netns("h").expect("host netns");
    let dir = tempfile::tempdir().expect("tempdir");
    let sw = Daemon::start(&host, dir.path(), &[]);
    sw.vs("add-br br0");
    Some(Bench { sw, dir, host, lab })
}

impl Bench {
    /// OpenFlow port number of the port named after `short`.
    pub fn ofport(&self, short: &str) -> u16 {
        let name = self.lab.name(short).expect("name");
        self.ofport_of(&name)
    }

    /// OpenFlow port number of port `name`.
    pub fn ofport_of(&self, name: &str) -> u16 {
        let out = self.sw.vs(&format!("get Interface {name} ofport"));
        out.trim()
            .parse()
            .unwrap_or_else(|_| panic!("ofport of {name}: {out:?}"))
    }

    /// Replace all flows of br0 with `flows`.
    pub fn flows(&self, flows: &[String]) {
        self.sw.of(Request::DelFlows {
            bridge: "br0".into(),
            matches: None,
            strict: false,
        });
        self.sw.of(Request::AddFlows {
            bridge: "br0".into(),
            flows: flows.to_vec(),
        });
    }

    /// An "internet" namespace `short` with `addr` on its `eth0`, a veth
    /// whose other end `up0` (in the host namespace) is a `system` port of
    /// br0.
    pub fn internet(&self, short: &str, addr: &str) -> (Netns, VethPair) {
        let ns = self.lab.netns(short).expect("netns");
        let link = self
            .lab
            .veth(&self.host, "up0", &ns, "eth0")
            .expect("uplink veth");
        self.host.link_up("up0").expect("up0 up");
        ns.link_up("eth0").expect("eth0 up");
        ns.add_addr("eth0", addr.parse().expect("addr"))
            .expect("addr");
        self.sw.vs("add-port br0 up0");
        (ns, link)
    }

    /// Counters of the conntrack table (`ct-stats`).
    pub fn ct_stats(&self) -> String {
        self.sw.of(Request::CtStats)
    }

    /// `dump-conntrack` of one zone.
    pub fn conntrack(&self, zone: u16) -> String {
        self.sw.of(Request::DumpConntrack {
            bridge: Some("br0".into()),
            zone: Some(zone),
        })
    }
}

/// MAC address of `dev` in `ns`, as flows write it.
pub fn mac(ns: &Netns, dev: &str) -> String {
    ns.mac(dev).expect("mac").to_string()
}

/// A permanent neighbour entry: `ip` is at `mac` on `ns`'s eth0.
pub fn static_neigh(ns: &Netns, ip: &str, mac: &str) {
    ns.ip(&[
        "neigh",
        "replace",
        ip,
        "lladdr",
        mac,
        "dev",
        "eth0",
        "nud",
        "permanent",
    ])
    .expect("ip neigh replace");
}

/// An on-link route for `net` through eth0 (hosts of other subnets on the
/// same segment).
pub fn onlink(ns: &Netns, net: &str) {
    ns.ip(&["route", "replace", net, "dev", "eth0"])
        .expect("ip route");
}

/// An echo through TCP succeeds from `client` to a server in `server`.
pub fn tcp_ok(client: &Netns, server: &Netns, addr: &str) -> bool {
    lab::tcp_check(client, server, addr.parse().expect("addr"), 64 << 10).is_ok()
}

/// A TCP connection from `client` to a server in `server` does not get
/// through within a second.
pub fn tcp_blocked(client: &Netns, server: &Netns, addr: &str) -> bool {
    lab::tcp_check_timeout(
        client,
        server,
        addr.parse().expect("addr"),
        16,
        Duration::from_secs(1),
    )
    .is_err()
}

/// Accept one connection on a server in `server` listening on `listen`,
/// from a client in `client` connecting to `connect`, exchange a few bytes
/// both ways, and return the client address the server saw. Bounded by
/// 5 s.
pub fn peer_seen(
    client: &Netns,
    server: &Netns,
    listen: &str,
    connect: &str,
) -> Result<SocketAddr, String> {
    let listen: SocketAddr = listen.parse().expect("addr");
    let connect: SocketAddr = connect.parse().expect("addr");
    let deadline = Instant::now() + Duration::from_secs(5);
    let l = server.tcp_listener(listen).map_err(|e| e.to_string())?;
    std::thread::scope(|s| {
        let srv = s.spawn(|| -> Result<SocketAddr, String> {
            let left = deadline.saturating_duration_since(Instant::now());
            let (mut c, peer) = lab::accept_within(&l, left).map_err(|e| format!("accept: {e}"))?;
            c.set_read_timeout(Some(Duration::from_secs(5)))
                .map_err(|e| e.to_string())?;
            let mut buf = [0u8; 5];
            c.read_exact(&mut buf)
                .map_err(|e| format!("server read: {e}"))?;
            c.write_all(&buf)
                .map_err(|e| format!("server write: {e}"))?;
            Ok(peer)
        });
        let cli = client
            .tcp_connect(connect, Duration::from_secs(3))
            .map_err(|e| e.to_string());
        let echoed = cli.and_then(|mut c: TcpStream| {
            c.set_read_timeout(Some(Duration::from_secs(5)))
                .map_err(|e| e.to_string())?;
            c.write_all(b"hello").map_err(|e| e.to_string())?;
            let mut buf = [0u8; 5];
            c.read_exact(&mut buf).map_err(|e| e.to_string())?;
            Ok(buf)
        });
        let peer = srv.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
        match echoed {
            Ok(b) if &b == b"hello" => peer,
            Ok(b) => Err(format!("echo differs: {b:?}")),
            Err(e) => Err(format!("client: {e}")),
        }
    })
}
