//! Shared by the CLI's namespace tests: `cloudnet serve` in a test host
//! namespace driven by the CLI a user runs, namespace VMs that get their
//! addresses by DHCP, and traffic checks.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use lab::{Lab, Netns};

pub const BIN: &str = env!("CARGO_BIN_EXE_cloudnet");

/// `cloudnet serve` in the host namespace, killed when dropped.
pub struct Serve {
    child: Child,
    pub host: String,
    pub endpoint: String,
    pub run_dir: PathBuf,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Serve {
    pub fn start(host: &Netns, data: &Path) -> Serve {
        Serve::start_with(host, data, &[])
    }

    pub fn start_with(host: &Netns, data: &Path, extra: &[&str]) -> Serve {
        let mut child = Command::new("ip")
            .args(["netns", "exec", host.name(), BIN, "serve", "--bind"])
            .arg("127.0.0.1:0")
            .args(extra)
            .arg("--data-dir")
            .arg(data)
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn cloudnet serve");
        let stderr = child.stderr.take().expect("piped");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(u) = line.strip_prefix("cloudnet serve: listening on ") {
                    let _ = tx.send(u.to_string());
                } else {
                    eprintln!("serve: {line}");
                }
            }
        });
        let endpoint = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("cloudnet serve did not start");
        Serve {
            child,
            host: host.name().to_string(),
            endpoint,
            run_dir: data.join("run"),
        }
    }

    /// A `cloudnet` command line in the host namespace, not yet started.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.host, BIN])
            .args(args)
            .env("OS_ENDPOINT", &self.endpoint)
            .env("CLOUDNET_RUN_DIR", &self.run_dir);
        c
    }

    /// Run a `cloudnet` command line in the host namespace; its stdout.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = self.command(args).output().expect("run cloudnet");
        assert!(
            out.status.success(),
            "cloudnet {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Create a resource; its ID.
    pub fn create(&self, args: &[&str]) -> String {
        let mut a = args.to_vec();
        a.extend(["-f", "value", "-c", "id"]);
        self.cli(&a)
    }

    /// The bridge's flows without counters, sorted.
    pub fn flows(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .cli(&["ofctl", "dump-flows", "br-int"])
            .lines()
            .filter(|l| l.contains("cookie="))
            .map(|l| {
                l.trim()
                    .split(", ")
                    .filter(|t| {
                        !["duration=", "n_packets=", "n_bytes="]
                            .iter()
                            .any(|p| t.starts_with(p))
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .collect();
        v.sort();
        v
    }

    pub fn flows_with_cookie(&self, cookie: u64) -> usize {
        let c = format!("cookie={cookie:#x}/-1");
        self.cli(&["ofctl", "dump-flows", "br-int", &c])
            .lines()
            .filter(|l| l.contains("cookie="))
            .count()
    }
}

/// A namespace VM on port `port`: TAP plugged by the CLI (`port plug`, or
/// `lab vm create` when `lab_vm`), address by DHCP.
pub fn vm_with(
    lab: &Lab,
    s: &Serve,
    bb: &Path,
    short: &str,
    port: &str,
    dir: &Path,
    lab_vm: bool,
) -> (Netns, IpAddr) {
    let ns = lab.netns(short).expect("netns");
    let tap = if lab_vm {
        s.cli(&["lab", "vm", "create", ns.name(), "--port", port])
    } else {
        s.cli(&["port", "plug", port, "--netns", ns.name()])
    };
    assert!(tap.starts_with("tap"), "plug printed {tap:?}");
    let d = dir.join(short);
    std::fs::create_dir_all(&d).expect("dir");
    let lease =
        lab::dhcp::udhcpc(&ns, bb, "eth0", &[], &d, Duration::from_secs(15)).expect("DHCP lease");
    let ip: IpAddr = lease.get("ip").expect("ip").parse().expect("ip");
    (ns, ip)
}

/// The lab, busybox, a temporary dir and the host namespace; `None` to
/// skip (not root, or no busybox outside CI).
pub fn bench(label: &str) -> Option<(Lab, PathBuf, tempfile::TempDir, Netns)> {
    let lab = Lab::new_or_skip(label)?;
    let bb = lab::dhcp::busybox(label)?;
    let tmp = tempfile::tempdir().expect("tempdir");
    let host = lab.netns("host").expect("host");
    Some((lab, bb, tmp, host))
}

pub fn vm(lab: &Lab, s: &Serve, bb: &Path, short: &str, port: &str, dir: &Path) -> (Netns, IpAddr) {
    vm_with(lab, s, bb, short, port, dir, false)
}

pub fn pings(from: &Netns, to: IpAddr) -> bool {
    let _ = lab::ping(from, to, 1);
    lab::ping(from, to, 2).is_ok_and(|s| s.all_received())
}

/// Whether a TCP connection from `from` to `to:port` (served by `server`)
/// carries a message.
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
