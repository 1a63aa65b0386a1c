//! Shared bench for the end-to-end tests: a real `cloudnet-vswitchd`
//! process per test, running inside the test's own "host" namespace (so its
//! internal ports and AF_PACKET sockets never touch the machine's own
//! interfaces), with its own run directory; VMs are namespaces whose `eth0`
//! is a TAP the switch creates directly inside them (`options:netns`).

#![allow(dead_code)]

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use lab::{Lab, Netns};
use vswitch::{call, ProtoError, Request};

/// A daemon process, killed (SIGKILL) when dropped.
pub struct Daemon {
    child: Option<Child>,
    run_dir: PathBuf,
}

impl Daemon {
    /// Start the daemon inside `host` with `run_dir`; wait (bounded) until
    /// it answers on its socket.
    pub fn start(host: &Netns, run_dir: &Path, extra: &[&str]) -> Daemon {
        let child = Command::new("ip")
            .args(["netns", "exec", host.name()])
            .arg(env!("CARGO_BIN_EXE_cloudnet-vswitchd"))
            .arg("--run-dir")
            .arg(run_dir)
            .args(extra)
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn cloudnet-vswitchd");
        let d = Daemon {
            child: Some(child),
            run_dir: run_dir.to_owned(),
        };
        lab::wait_until("vswitchd answers", Duration::from_secs(10), || {
            call(run_dir, &Request::Version, Duration::from_secs(1)).is_ok()
        })
        .expect("daemon did not come up");
        d
    }

    /// Run a vsctl command line (whitespace-separated).
    pub fn vsctl(&self, line: &str) -> Result<String, ProtoError> {
        let args = line.split_whitespace().map(String::from).collect();
        call(
            &self.run_dir,
            &Request::Vsctl { args },
            Duration::from_secs(10),
        )
    }

    /// Run a vsctl command line that must succeed.
    pub fn vs(&self, line: &str) -> String {
        self.vsctl(line)
            .unwrap_or_else(|e| panic!("vsctl {line}: {e}"))
    }

    /// Send an ofctl request that must succeed.
    pub fn of(&self, req: Request) -> String {
        call(&self.run_dir, &req, Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("ofctl {req:?}: {e}"))
    }

    /// Kill the daemon hard (as a crash would) and reap it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Create VM `short` (a namespace) whose `eth0` is a TAP port `short` of
/// `br`, with `addr` on it (none when empty: a DHCP client's VM);
/// `port_args` adds Port columns (`tag=10`).
pub fn vm(lab: &Lab, sw: &Daemon, br: &str, short: &str, addr: &str, port_args: &str) -> Netns {
    let ns = lab.netns(short).expect("netns");
    let port = lab.name(short).expect("name");
    sw.vs(&format!(
        "add-port {br} {port} {port_args} -- set Interface {port} type=tap options:netns={} options:ifname=eth0",
        ns.name()
    ));
    lab::wait_until("VM NIC appears", Duration::from_secs(5), || {
        ns.links().is_ok_and(|l| l.iter().any(|n| n == "eth0"))
    })
    .expect("TAP in VM namespace");
    if !addr.is_empty() {
        ns.add_addr("eth0", addr.parse().expect("addr"))
            .expect("addr");
    }
    ns.link_up("eth0").expect("up");
    ns
}

/// Whether `from` gets every reply of a 3-ping to `to`, after one warm-up
/// round (ARP) that may fail.
pub fn pings(from: &Netns, to: &str) -> bool {
    let ip: IpAddr = to.parse().expect("ip");
    let _ = lab::ping(from, ip, 1);
    lab::ping(from, ip, 3).is_ok_and(|s| s.all_received())
}

/// Whether `ns` has resolved `ip` to a MAC address (neighbour table).
pub fn has_neighbour(ns: &Netns, ip: &str) -> bool {
    ns.ip(&["neigh", "show", ip])
        .is_ok_and(|o| o.contains("lladdr"))
}
pub mod overlay;
