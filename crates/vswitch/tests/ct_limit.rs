//! Issue 6 scenario 5: conntrack full. With a zone limit of 1,000, the
//! 1,001st TCP connection from a VM is refused (its SYN dropped and
//! counted) while the first 1,000 keep exchanging data.
//!
//! Run: `cargo test --release -p vswitch --test ct_limit` (as root).

mod common;
mod ct_support;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use common::vm;
use ct_support::bench;
use vswitch::{Request, ZoneLimit};

const LIMIT: usize = 1000;
const ZONE: u16 = 3;

/// Both ends of every connection live in this process: make room for
/// about 2 × LIMIT descriptors (as root the hard limit may be raised).
fn raise_fd_limit() {
    let pid = std::process::id().to_string();
    let _ = lab::run(
        &["prlimit", "--pid", &pid, "--nofile=8192:8192"],
        Duration::from_secs(5),
    );
}

/// Accept `n` connections on `l` (non-blocking) before `deadline`.
fn accept_n(l: &TcpListener, n: usize, deadline: Instant) -> std::io::Result<Vec<TcpStream>> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        match l.accept() {
            Ok((c, _)) => {
                c.set_nonblocking(false)?;
                c.set_read_timeout(Some(Duration::from_secs(5)))?;
                out.push(c);
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(1))
            }
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

#[test]
fn zone_limit_refuses_the_1001st_connection() {
    let Some(b) = bench("ct_limit") else {
        return;
    };
    raise_fd_limit();
    let srv = vm(&b.lab, &b.sw, "br0", "srv", "10.0.0.2/24", "");
    let cli = vm(&b.lab, &b.sw, "br0", "cli", "10.0.0.1/24", "");
    let z = ZONE;
    b.flows(&[
        "table=0,priority=10,arp,actions=NORMAL".into(),
        format!("table=0,priority=100,ip,actions=ct(table=1,zone={z})"),
        "table=1,priority=100,ct_state=+trk+est,ip,actions=NORMAL".into(),
        format!("table=1,priority=50,ct_state=+trk+new,tcp,nw_dst=10.0.0.2,tp_dst=7000,actions=ct(commit,zone={z}),NORMAL"),
        "table=1,priority=0,actions=drop".into(),
    ]);
    b.sw.of(Request::CtSetLimits {
        default: None,
        zones: vec![ZoneLimit {
            zone: z,
            limit: LIMIT as u32,
        }],
        max_conns: None,
    });
    let addr: SocketAddr = "10.0.0.2:7000".parse().unwrap();
    let listener = srv.tcp_listener(addr).expect("listen");
    listener.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);

    let (clients, servers) = std::thread::scope(|s| {
        let acc = s.spawn(|| accept_n(&listener, LIMIT, deadline));
        let clients = cli
            .run(|| {
                (0..LIMIT)
                    .map(|i| {
                        TcpStream::connect_timeout(&addr, Duration::from_secs(3))
                            .map_err(|e| format!("connection {}: {e}", i + 1))
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .expect("enter client namespace")
            .expect("the first 1,000 connections");
        let servers = acc
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))
            .expect("accept 1,000");
        (clients, servers)
    });
    assert_eq!(servers.len(), LIMIT);
    // Pair the ends by the client's port.
    let port = |s: &TcpStream, local: bool| {
        let a = if local { s.local_addr() } else { s.peer_addr() };
        a.map(|a| a.port()).unwrap_or(0)
    };
    let (mut clients, mut servers) = (clients, servers);
    clients.sort_by_key(|c| port(c, true));
    servers.sort_by_key(|s| port(s, false));

    // The 1,001st: its SYN is refused by the full zone.
    let extra = cli
        .run(|| TcpStream::connect_timeout(&addr, Duration::from_secs(1)))
        .expect("enter client namespace");
    assert!(extra.is_err(), "the 1,001st connection was accepted");
    let stats = b.ct_stats();
    assert!(
        stats.contains(&format!("zone={z} count={LIMIT} limit={LIMIT}")),
        "{stats}"
    );
    assert!(!stats.contains("zone_limit=0"), "{stats}");
    assert!(!stats.contains("ct_limit=0"), "{stats}");

    // The first 1,000 still carry data both ways.
    for (i, (mut c, mut s)) in clients.into_iter().zip(servers).enumerate() {
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let msg = (i as u32).to_be_bytes();
        c.write_all(&msg).expect("client write");
        let mut got = [0u8; 4];
        s.read_exact(&mut got).expect("server read");
        s.write_all(&got).expect("server write");
        let mut back = [0u8; 4];
        c.read_exact(&mut back)
            .unwrap_or_else(|e| panic!("connection {}: {e}", i + 1));
        assert_eq!(back, msg, "connection {}", i + 1);
    }
}
