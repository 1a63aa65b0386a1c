//! Established connections follow security-group changes (controller
//! PIPELINE.md "Security groups"): `cloudnet serve` driven by the CLI, real
//! TCP connections between namespace VMs. A long-lived connection admitted
//! by a rule keeps working while the rule stays and stops, within a bounded
//! wait, once the rule is deleted, its port leaves the group, or its peer
//! leaves the remote group that admitted it — while connections admitted
//! by what remains keep working.

mod common;

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::Duration;

use common::{bench, vm, Serve};
use lab::Netns;

/// A TCP connection whose server echoes every byte back.
struct Conn {
    what: &'static str,
    c: TcpStream,
    _server: std::thread::JoinHandle<()>,
}

impl Conn {
    fn open(what: &'static str, from: &Netns, server: &Netns, to: IpAddr, port: u16) -> Conn {
        let l = server
            .tcp_listener(SocketAddr::new("0.0.0.0".parse().expect("ip"), port))
            .expect("listen");
        let mut c = None;
        lab::wait_until(what, Duration::from_secs(15), || {
            c = from
                .tcp_connect(SocketAddr::new(to, port), Duration::from_secs(2))
                .ok();
            c.is_some()
        })
        .unwrap_or_else(|e| panic!("{what}: connect: {e:?}"));
        let c = c.expect("connected");
        c.set_read_timeout(Some(Duration::from_millis(700)))
            .expect("timeout");
        let server = std::thread::spawn(move || {
            let Ok((mut s, _)) = lab::accept_within(&l, Duration::from_secs(5)) else {
                return;
            };
            drop(l);
            let mut b = [0u8; 1];
            // Ends when the client closes or the test ends (the
            // namespaces go, and the socket with them).
            while s.read_exact(&mut b).is_ok() && s.write_all(&b).is_ok() {}
        });
        let mut conn = Conn {
            what,
            c,
            _server: server,
        };
        assert!(conn.alive(), "{what}: no echo on a fresh connection");
        conn
    }

    /// One byte there and back within the read timeout. Once a probe is
    /// lost the byte stays queued in the client's TCP, so a dead
    /// connection stays dead.
    fn alive(&mut self) -> bool {
        let mut b = [0u8; 1];
        self.c.write_all(b"x").is_ok() && self.c.read_exact(&mut b).is_ok() && b == *b"x"
    }

    fn assert_alive(&mut self, when: &str) {
        assert!(self.alive(), "{}: cut {when}", self.what);
    }

    fn await_cut(&mut self, when: &str) {
        let what = format!("{} cut {when}", self.what);
        lab::wait_until(&what, Duration::from_secs(10), || !self.alive())
            .unwrap_or_else(|e| panic!("{e:?}"));
    }
}

#[test]
fn established_connections_follow_security_group_changes() {
    let Some((lab, bb, tmp, host)) = bench("ct_flush") else {
        return;
    };
    let s = Serve::start(&host, &tmp.path().join("data"));
    s.network("n", "10.6.0.0/24");
    let group = |name: &str| s.create(&["security", "group", "create", name]);
    let ingress = |g: &str, port: &str, remote: Option<&str>| {
        let mut a = vec![
            "security",
            "group",
            "rule",
            "create",
            g,
            "--ingress",
            "--protocol",
            "tcp",
            "--dst-port",
            port,
        ];
        if let Some(r) = remote {
            a.extend(["--remote-group", r]);
        }
        s.create(&a)
    };
    // New groups have Neutron's egress-any rules. `srv` admits TCP 5001
    // and 5002 from anyone, 5003 from members of `cli`.
    let srv = group("srv");
    let cli = group("cli");
    let out = group("out");
    let r5001 = ingress(&srv, "5001", None);
    ingress(&srv, "5002", None);
    ingress(&srv, "5003", Some(&cli));
    let port = |name: &str, g: &str| s.port_in(name, "n", g, &[]);
    let (pc, pw, px) = (port("c", &cli), port("w", &srv), port("x", &srv));
    let (vc, _) = vm(&lab, &s, &bb, "vc", &pc, tmp.path());
    let (vw, ipw) = vm(&lab, &s, &bb, "vw", &pw, tmp.path());
    let (vx, ipx) = vm(&lab, &s, &bb, "vx", &px, tmp.path());

    let mut a = Conn::open("c→w:5001 (rule 5001)", &vc, &vw, ipw, 5001);
    let mut b = Conn::open("c→w:5002 (rule 5002)", &vc, &vw, ipw, 5002);
    let mut r = Conn::open("c→w:5003 (remote group cli)", &vc, &vw, ipw, 5003);
    let mut x = Conn::open("c→x:5002 (rule 5002)", &vc, &vx, ipx, 5002);
    // Conntrack carries them while nothing changes.
    for conn in [&mut a, &mut b, &mut r, &mut x] {
        conn.assert_alive("with no change");
    }

    // The rule that admitted `a` goes: `a` is cut, the others stay.
    s.cli(&["security", "group", "rule", "delete", &r5001]);
    a.await_cut("after its rule was deleted");
    for conn in [&mut b, &mut r, &mut x] {
        conn.assert_alive("by deleting rule 5001");
    }
    let refused = Conn::try_open(&vc, &vw, ipw, 5001);
    assert!(!refused, "a new connection to 5001 after the rule went");

    // The client leaves `cli`, the remote group of rule 5003: `r` is cut.
    s.cli(&["port", "set", &pc, "--security-group", &out]);
    r.await_cut("after the client left the remote group");
    for conn in [&mut b, &mut x] {
        conn.assert_alive("by the client leaving cli");
    }

    // w leaves `srv`: its last connection is cut, x's stays.
    s.cli(&["port", "set", &pw, "--security-group", &out]);
    b.await_cut("after its port left the group");
    x.assert_alive("by w leaving srv");
}

impl Conn {
    /// Whether a new connection gets through (2 s).
    fn try_open(from: &Netns, server: &Netns, to: IpAddr, port: u16) -> bool {
        let _l = server
            .tcp_listener(SocketAddr::new("0.0.0.0".parse().expect("ip"), port))
            .expect("listen");
        from.tcp_connect(SocketAddr::new(to, port), Duration::from_secs(2))
            .is_ok()
    }
}

/// A UDP socket of a VM with a bounded wait for what arrives.
struct Udp(std::net::UdpSocket);

impl Udp {
    fn bind(ns: &Netns, port: u16) -> Udp {
        let s = ns
            .udp_socket(SocketAddr::new("0.0.0.0".parse().expect("ip"), port))
            .expect("bind");
        s.set_read_timeout(Some(Duration::from_millis(300)))
            .expect("timeout");
        Udp(s)
    }

    /// Sends to `to` every 300 ms, `tries` times, until a datagram
    /// arrives on `at`; whether one did.
    fn reaches(&self, to: SocketAddr, at: &Udp, tries: usize) -> bool {
        let mut b = [0u8; 16];
        (0..tries).any(|_| {
            let _ = self.0.send_to(b"u", to);
            at.0.recv_from(&mut b).is_ok()
        })
    }
}

#[test]
fn a_cut_udp_flow_stays_cut_and_tcp_survives_a_restart() {
    let Some((lab, bb, tmp, host)) = bench("ct_udp") else {
        return;
    };
    let data = tmp.path().join("data");
    let s = Serve::start(&host, &data);
    s.network("n", "10.7.0.0/24");
    let group = |name: &str| s.create(&["security", "group", "create", name]);
    let (srv, cli) = (group("srv"), group("cli"));
    let rule = |proto: &str, port: &str| {
        s.create(&[
            "security",
            "group",
            "rule",
            "create",
            &srv,
            "--ingress",
            "--protocol",
            proto,
            "--dst-port",
            port,
        ])
    };
    let r_udp = rule("udp", "6001");
    rule("tcp", "5002");
    let port = |name: &str, g: &str| s.port_in(name, "n", g, &[]);
    let (pc, pw) = (port("c", &cli), port("w", &srv));
    let (vc, ipc) = vm(&lab, &s, &bb, "uc", &pc, tmp.path());
    let (vw, ipw) = vm(&lab, &s, &bb, "uw", &pw, tmp.path());

    // c → w:6001 is admitted by w's rule, and w's answers come back.
    let (uc, uw) = (Udp::bind(&vc, 40001), Udp::bind(&vw, 6001));
    let (to_w, to_c) = (SocketAddr::new(ipw, 6001), SocketAddr::new(ipc, 40001));
    assert!(uc.reaches(to_w, &uw, 30), "c → w:6001 before the cut");
    assert!(uw.reaches(to_c, &uc, 5), "w's answer before the cut");
    let mut t = Conn::open("c→w:5002 (rule 5002)", &vc, &vw, ipw, 5002);

    // The rule goes. Once its flows are out, w speaks first: its
    // datagrams are answers of a connection nothing admits any more, and
    // must not pass — nor may c's afterwards (with a shared zone and the
    // entry deleted, w's packet would be committed as w's own new
    // connection and c's would pass as its replies).
    s.cli(&["security", "group", "rule", "delete", &r_udp]);
    let cookie = controller::Owner::Rule(r_udp.clone()).cookie();
    lab::wait_until("rule flows removed", Duration::from_secs(10), || {
        s.flows_with_cookie(cookie) == 0
    })
    .expect("the rule's flows go");
    assert!(!uw.reaches(to_c, &uc, 6), "w → c after the cut, w first");
    assert!(!uc.reaches(to_w, &uw, 6), "c → w after the cut");
    assert!(!uw.reaches(to_c, &uc, 3), "w → c after c tried again");
    t.assert_alive("by the UDP rule's removal");

    // vswitchd restarts (with the whole serve): conntrack starts empty and
    // the established TCP connection is picked up mid-stream under the
    // rules still in force.
    let before = s.flows();
    drop(s);
    let s = Serve::start(&host, &data);
    lab::wait_until("same flows after restart", Duration::from_secs(15), || {
        s.flows() == before
    })
    .expect("identical flows after a restart");
    lab::wait_until("TCP after the restart", Duration::from_secs(20), || {
        t.alive()
    })
    .unwrap_or_else(|e| panic!("the connection did not survive the restart: {e:?}"));
    // Still under the rules: w leaving srv cuts it.
    let out = s.create(&["security", "group", "create", "out"]);
    s.cli(&["port", "set", &pw, "--security-group", &out]);
    t.await_cut("after the restart, its port left the group");
}
