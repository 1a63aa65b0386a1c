//! What the end-to-end tests of the cloud share: running `cloudnet` in a
//! host namespace against an API endpoint, and traffic checks between
//! namespace VMs.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use lab::Netns;

pub const BIN: &str = env!("CARGO_BIN_EXE_cloudnet");

/// Run a `cloudnet` command line in namespace `ns` with `OS_ENDPOINT` and
/// `CLOUDNET_RUN_DIR` set; its stdout, trimmed. Panics (naming the
/// command) when it fails.
pub fn cloudnet(ns: &str, endpoint: &str, run_dir: &Path, args: &[&str]) -> String {
    let out = Command::new("ip")
        .args(["netns", "exec", ns, BIN])
        .args(args)
        .env("OS_ENDPOINT", endpoint)
        .env("CLOUDNET_RUN_DIR", run_dir)
        .output()
        .expect("run cloudnet");
    assert!(
        out.status.success(),
        "cloudnet {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// `args` with `-f value -c id`: what a create prints to get the ID.
pub fn id_args<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut a = args.to_vec();
    a.extend(["-f", "value", "-c", "id"]);
    a
}

/// Two echoes answered (after one to resolve the neighbour).
pub fn pings(from: &Netns, to: IpAddr) -> bool {
    let _ = lab::ping(from, to, 1);
    lab::ping(from, to, 2).is_ok_and(|s| s.all_received())
}

/// Whether a TCP connection from `from` to `to:port`, served by `server`,
/// carries a message (false when nothing, or another namespace, answers).
pub fn tcp(from: &Netns, server: &Netns, to: IpAddr, port: u16) -> bool {
    let addr = SocketAddr::new(to, port);
    let l = server
        .tcp_listener(SocketAddr::new("0.0.0.0".parse().expect("ip"), port))
        .expect("listen");
    let Ok(mut c) = from.tcp_connect(addr, Duration::from_secs(2)) else {
        return false;
    };
    let accepted = std::thread::spawn(move || {
        let (mut s, _) = l.accept().ok()?;
        let mut b = [0u8; 5];
        s.read_exact(&mut b).ok()?;
        Some(b)
    });
    c.write_all(b"hello").expect("write");
    accepted.join().ok().flatten() == Some(*b"hello")
}
