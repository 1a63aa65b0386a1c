//! Traffic accounting for multi-host tests: netdev-ingress counters on
//! uplinks (nftables), and timed HTTP/1.0 exchanges.

use std::time::{Duration, Instant};

use lab::Netns;

/// Packets counted by the `dfip` netdev table's rule tagged `tag` in `ns`
/// (`nft list` prints `... counter packets N bytes M comment "tag"`).
pub fn nft_count(ns: &Netns, tag: &str) -> u64 {
    let out = ns
        .exec(&["nft", "list", "table", "netdev", "dfip"])
        .expect("nft list");
    out.lines()
        .find(|l| l.contains(&format!("\"{tag}\"")))
        .and_then(|l| l.split("packets ").nth(1)?.split(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no counter {tag} in {out}"))
}

/// Count IPv4 frames entering each of `devs` of `ns` whose `field`
/// (`saddr`/`daddr`) is one of `ips` (netdev ingress: before the stack,
/// after the switch's AF_PACKET socket has seen them).
pub fn nft_counters(ns: &Netns, devs: &[&str], field: &str, ips: &[(&str, &str)]) {
    let mut t = String::from("table netdev dfip {\n");
    for d in devs {
        t += &format!("chain {d} {{ type filter hook ingress device {d} priority 0;\n");
        for (tag, ip) in ips {
            t += &format!("ip {field} {ip} counter comment \"{d}-{tag}\"\n");
        }
        t += "}\n";
    }
    t += "}\n";
    let f = tempfile::NamedTempFile::new().expect("tmp");
    std::fs::write(f.path(), t).expect("write");
    ns.exec(&["nft", "-f", &f.path().to_string_lossy()])
        .expect("nft");
}

/// `n` HTTP/1.0 exchanges (connect, GET, `200`, close) from `client` to
/// `to`, served by `server`: each one's time, sorted.
pub fn http_times(client: &Netns, server: &Netns, to: &str, port: u16, n: usize) -> Vec<Duration> {
    use std::io::{Read, Write};
    let l = server
        .tcp_listener(format!("0.0.0.0:{port}").parse().expect("addr"))
        .expect("listen");
    let srv = std::thread::spawn(move || {
        for _ in 0..n {
            let Ok((mut s, _)) = lab::accept_within(&l, Duration::from_secs(5)) else {
                return;
            };
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let mut b = [0u8; 64];
            let _ = s.read(&mut b);
            let _ = s.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok");
        }
    });
    let addr: std::net::SocketAddr = format!("{to}:{port}").parse().expect("addr");
    let mut v = client
        .run(|| {
            (0..n)
                .map(|_| {
                    let t0 = Instant::now();
                    let mut c = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2))
                        .expect("connect");
                    c.write_all(b"GET / HTTP/1.0\r\n\r\n").expect("get");
                    let mut r = String::new();
                    c.read_to_string(&mut r).expect("response");
                    assert!(r.starts_with("HTTP/1.0 200"), "{r}");
                    t0.elapsed()
                })
                .collect::<Vec<_>>()
        })
        .expect("netns");
    srv.join().expect("server");
    v.sort_unstable();
    v
}

/// A command line's words (none of them has a space).
pub fn words(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

pub fn pct(v: &[Duration], p: usize) -> Duration {
    v[(v.len() * p / 100).min(v.len() - 1)]
}
