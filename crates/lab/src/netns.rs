//! Network namespaces: create, configure, run code and commands inside.

use std::fs::File;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsFd;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use ipnet::IpNet;

use crate::cmd::{self, Output, EXEC_TIMEOUT};
use crate::error::{LabError, Result};
use crate::names;

/// A named network namespace (`ip netns add`), deleted on drop together with
/// every link inside it (a veth's peer in another namespace goes too).
/// Processes still running inside are killed first: they belong to the test.
///
/// `setns(2)` changes the namespace of one *thread*, so code that must run
/// inside (opening a socket, a TAP) goes through [`Netns::run`], which uses a
/// fresh thread. Sockets opened there stay in the namespace for life and can
/// be used from any thread.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Create namespace `name` (a full name; [`crate::Lab::netns`] adds the
    /// lab prefix) with its loopback up.
    pub fn create(name: &str) -> Result<Netns> {
        names::check_ifname(name)?;
        cmd::ip(&["netns", "add", name])?;
        let ns = Netns {
            name: name.to_owned(),
        };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// The namespace's name, as `ip netns` shows it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Run `ip -n NAME args...`; returns its standard output.
    pub fn ip(&self, args: &[&str]) -> Result<String> {
        let mut argv = vec!["-n", self.name.as_str()];
        argv.extend_from_slice(args);
        cmd::ip(&argv)
    }

    /// Run `argv` inside the namespace (`ip netns exec`) and fail unless it
    /// exits 0 within 30 s; returns its standard output.
    pub fn exec(&self, argv: &[&str]) -> Result<String> {
        let out = self.exec_output(argv, EXEC_TIMEOUT)?;
        if out.success() {
            Ok(out.stdout)
        } else {
            Err(LabError::Command {
                cmd: cmd::cmdline(argv),
                status: out.status.to_string(),
                stderr: out.stderr.trim().to_owned(),
            })
        }
    }

    /// Run `argv` inside the namespace with a time limit; a non-zero exit is
    /// returned in [`Output::status`], not as an error.
    pub fn exec_output(&self, argv: &[&str], timeout: Duration) -> Result<Output> {
        let label = format!("[{}] {}", self.name, cmd::cmdline(argv));
        cmd::run_command(self.command(argv), &label, timeout)
    }

    /// A [`Command`] that runs `argv` inside the namespace, for callers that
    /// want to set up pipes or environment themselves; see [`Self::spawn`].
    pub fn command(&self, argv: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]).args(argv);
        c
    }

    /// Start `argv` in the background inside the namespace (a server, a
    /// daemon); it is killed when the returned guard drops. Its output goes
    /// to the test's stderr.
    pub fn spawn(&self, argv: &[&str]) -> Result<Background> {
        let mut c = self.command(argv);
        c.stdin(Stdio::null()).stdout(Stdio::null());
        Background::spawn(c, &cmd::cmdline(argv))
    }

    /// Run `f` on a thread that has entered this namespace, and return its
    /// result. A panic in `f` is propagated.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> Result<T> {
        let path = format!("/run/netns/{}", self.name);
        let file = File::open(&path).map_err(|e| LabError::io(format!("open {path}"), e))?;
        std::thread::scope(|s| {
            let h = s.spawn(move || {
                nix::sched::setns(file.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)
                    .map_err(|e| LabError::io(format!("setns {path}"), e.into()))?;
                Ok(f())
            });
            match h.join() {
                Ok(r) => r,
                Err(panic) => std::panic::resume_unwind(panic),
            }
        })
    }

    /// A UDP socket bound to `addr` inside the namespace.
    pub fn udp_socket(&self, addr: SocketAddr) -> Result<UdpSocket> {
        self.run(|| UdpSocket::bind(addr))?
            .map_err(|e| LabError::io(format!("[{}] bind udp {addr}", self.name), e))
    }

    /// A TCP listener bound to `addr` inside the namespace.
    pub fn tcp_listener(&self, addr: SocketAddr) -> Result<TcpListener> {
        self.run(|| TcpListener::bind(addr))?
            .map_err(|e| LabError::io(format!("[{}] listen tcp {addr}", self.name), e))
    }

    /// A TCP connection from inside the namespace to `addr`.
    pub fn tcp_connect(&self, addr: SocketAddr, timeout: Duration) -> Result<TcpStream> {
        self.run(|| TcpStream::connect_timeout(&addr, timeout))?
            .map_err(|e| LabError::io(format!("[{}] connect tcp {addr}", self.name), e))
    }

    /// Set link `dev` up.
    pub fn link_up(&self, dev: &str) -> Result<()> {
        self.ip(&["link", "set", "dev", dev, "up"]).map(drop)
    }

    /// Set the MTU of link `dev`.
    pub fn set_mtu(&self, dev: &str, mtu: u32) -> Result<()> {
        self.ip(&["link", "set", "dev", dev, "mtu", &mtu.to_string()])
            .map(drop)
    }

    /// Set the MAC address of link `dev`.
    pub fn set_mac(&self, dev: &str, mac: crate::Mac) -> Result<()> {
        self.ip(&["link", "set", "dev", dev, "address", &mac.to_string()])
            .map(drop)
    }

    /// The MAC address of link `dev`.
    pub fn mac(&self, dev: &str) -> Result<crate::Mac> {
        let out = self.ip(&["-o", "link", "show", "dev", dev])?;
        let tok = out
            .split_whitespace()
            .skip_while(|t| *t != "link/ether")
            .nth(1)
            .ok_or_else(|| LabError::Parse {
                cmd: format!("ip -n {} link show {dev}", self.name),
                detail: format!("no link/ether in {:?}", out.trim()),
            })?;
        tok.parse()
    }

    /// Add address `addr` (e.g. `10.0.0.1/24`) to link `dev`. IPv6
    /// addresses are added with `nodad` so they are usable at once.
    pub fn add_addr(&self, dev: &str, addr: IpNet) -> Result<()> {
        let a = addr.to_string();
        let mut args = vec!["addr", "add", a.as_str(), "dev", dev];
        if matches!(addr, IpNet::V6(_)) {
            args.push("nodad");
        }
        self.ip(&args).map(drop)
    }

    /// Add a route to `dest` via gateway `via`.
    pub fn add_route(&self, dest: IpNet, via: IpAddr) -> Result<()> {
        self.ip(&["route", "add", &dest.to_string(), "via", &via.to_string()])
            .map(drop)
    }

    /// Set the default route (IPv4 or IPv6 after `via`'s family).
    pub fn default_route(&self, via: IpAddr) -> Result<()> {
        let fam = if via.is_ipv4() { "-4" } else { "-6" };
        self.ip(&[fam, "route", "replace", "default", "via", &via.to_string()])
            .map(drop)
    }

    /// Read a sysctl inside the namespace, e.g. `net.ipv4.ip_forward`.
    /// Goes through `/proc/sys` on a thread inside the namespace: the
    /// `net.*` entries there belong to the namespace of the reading thread.
    pub fn sysctl(&self, key: &str) -> Result<String> {
        let path = sysctl_path(key)?;
        self.run(|| std::fs::read_to_string(&path))?
            .map(|v| v.trim().to_owned())
            .map_err(|e| LabError::io(format!("[{}] read {path}", self.name), e))
    }

    /// Write a sysctl inside the namespace, e.g. `net.ipv4.ip_forward`, `1`.
    pub fn set_sysctl(&self, key: &str, value: &str) -> Result<()> {
        let path = sysctl_path(key)?;
        self.run(|| std::fs::write(&path, value))?
            .map_err(|e| LabError::io(format!("[{}] write {value:?} to {path}", self.name), e))
    }

    /// True if link `dev` exists inside the namespace.
    pub fn has_link(&self, dev: &str) -> Result<bool> {
        Ok(self.links()?.iter().any(|l| l == dev))
    }

    /// Names of the links inside the namespace.
    pub fn links(&self) -> Result<Vec<String>> {
        names::list_links_in(Some(&self.name))
    }

    /// A counter of link `dev` from `/sys/class/net/DEV/statistics/`, e.g.
    /// `rx_packets`. Read through `ip netns exec`, which mounts the
    /// namespace's own sysfs (a thread that only entered the namespace would
    /// still see the host's devices there).
    pub fn link_counter(&self, dev: &str, counter: &str) -> Result<u64> {
        names::check_ifname(dev)?;
        let path = format!("/sys/class/net/{dev}/statistics/{counter}");
        let text = self.exec(&["cat", &path])?;
        text.trim().parse().map_err(|_| LabError::Parse {
            cmd: format!("cat {path}"),
            detail: text.trim().to_owned(),
        })
    }

    /// Send `count` ICMP echo requests to `addr` and count the replies
    /// (1 s limit per reply); see [`crate::ping`].
    pub fn ping(&self, addr: IpAddr, count: u16) -> Result<crate::PingStats> {
        crate::checks::ping(self, addr, count)
    }
}

/// `net.ipv4.ip_forward` → `/proc/sys/net/ipv4/ip_forward` (a key naming
/// an interface with a dot, e.g. a VLAN device, can use `/` separators).
fn sysctl_path(key: &str) -> Result<String> {
    let ok = !key.is_empty()
        && key
            .split(['.', '/'])
            .all(|p| !p.is_empty() && p != ".." && p.bytes().all(|c| c.is_ascii_graphic()));
    if !ok {
        return Err(LabError::BadName {
            name: key.to_owned(),
            why: "not a sysctl key".into(),
        });
    }
    let rel = if key.contains('/') {
        key.to_owned()
    } else {
        key.replace('.', "/")
    };
    Ok(format!("/proc/sys/{rel}"))
}

impl Drop for Netns {
    fn drop(&mut self) {
        if let Err(e) = names::delete_netns(&self.name) {
            eprintln!("lab: cannot delete namespace {}: {e}", self.name);
        }
    }
}

/// A process started with [`Netns::spawn`]; killed and reaped on drop.
#[derive(Debug)]
pub struct Background {
    child: Child,
    label: String,
}

impl Background {
    /// Start a prepared command as a guarded background process.
    pub fn spawn(mut cmd: Command, label: &str) -> Result<Background> {
        let child = cmd.spawn().map_err(|source| LabError::Spawn {
            cmd: label.to_owned(),
            source,
        })?;
        Ok(Background {
            child,
            label: label.to_owned(),
        })
    }

    /// Process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// True while the process has not exited.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Wait up to `timeout` for the process to exit by itself.
    pub fn wait(&mut self, timeout: Duration) -> Result<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + timeout;
        cmd::wait_deadline(&mut self.child, deadline)
            .map_err(|e| LabError::io(format!("waiting for `{}`", self.label), e))?
            .ok_or_else(|| LabError::Timeout {
                what: format!("`{}` to exit", self.label),
                after: timeout,
            })
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sysctl_paths() {
        assert_eq!(
            sysctl_path("net.ipv4.ip_forward").unwrap(),
            "/proc/sys/net/ipv4/ip_forward"
        );
        assert_eq!(
            sysctl_path("net/ipv4/conf/eth0.100/rp_filter").unwrap(),
            "/proc/sys/net/ipv4/conf/eth0.100/rp_filter"
        );
        for bad in ["", "net..x", "net/../../etc", "a b", "net.ipv4."] {
            assert!(sysctl_path(bad).is_err(), "{bad:?}");
        }
    }
}
