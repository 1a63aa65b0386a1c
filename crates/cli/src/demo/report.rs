//! What the demo built and what it measured, and their text rendering:
//! progress lines while building, then the report (resources, topology
//! picture, checks with figures). Rendering is pure so it is unit-tested.

use std::fmt::Write as _;
use std::io::{IsTerminal, Write as _};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// A VM: a namespace whose `eth0` is a TAP held by the switch.
#[derive(Clone, Debug, PartialEq)]
pub struct VmInfo {
    pub name: String,
    /// Address from DHCP (or set by hand on the bare switches).
    pub ip: IpAddr,
    /// Security groups, comma separated (empty on bare switches).
    pub groups: String,
    pub floating_ip: Option<IpAddr>,
}

/// A project of the API cloud: one network, one subnet, one router.
#[derive(Clone, Debug, PartialEq)]
pub struct ProjectInfo {
    pub name: String,
    pub network: String,
    pub cidr: String,
    pub router: String,
    /// The router's address on the external network (its SNAT source).
    pub router_gateway: Option<IpAddr>,
    pub vms: Vec<VmInfo>,
}

/// A host of the two-host VXLAN network.
#[derive(Clone, Debug, PartialEq)]
pub struct OverlayHost {
    pub name: String,
    pub underlay_ip: IpAddr,
    pub vm: VmInfo,
}

/// Everything built, for the report and the picture.
#[derive(Clone, Debug, PartialEq)]
pub struct Built {
    /// Namespace of the host running `cloudnet serve`.
    pub host: String,
    pub projects: Vec<ProjectInfo>,
    /// Security groups and their ingress rules, one line each.
    pub groups: Vec<String>,
    /// The flat provider network, e.g. `ext 203.0.113.0/24 (physnet1)`.
    pub external: String,
    /// The "internet" namespace and its address.
    pub internet: (String, IpAddr),
    pub overlay_hosts: Vec<OverlayHost>,
    pub vni: u32,
    /// The switch holding the 3:1:6 port, the port's VM and the senders.
    pub qos_switch: String,
    pub qos_receiver: VmInfo,
    pub qos_senders: Vec<VmInfo>,
}

/// One check a person would run, with its outcome and figure.
#[derive(Clone, Debug, PartialEq)]
pub struct Check {
    pub name: String,
    pub ok: bool,
    /// What was measured: replies and RTT, bytes and time, Mbit/s, shares.
    pub figure: String,
}

impl Check {
    pub fn new(name: impl Into<String>, ok: bool, figure: impl Into<String>) -> Check {
        Check {
            name: name.into(),
            ok,
            figure: figure.into(),
        }
    }
}

/// Why the demo stopped early on Ctrl-C.
#[derive(Debug, thiserror::Error)]
#[error("interrupted (Ctrl-C): everything the demo made is being removed")]
pub struct Interrupted;

/// Progress while building: one line per step with a tick and its time.
pub struct Progress {
    stop: Arc<AtomicBool>,
    tty: bool,
}

impl Progress {
    pub fn new(stop: Arc<AtomicBool>) -> Progress {
        Progress {
            stop,
            tty: std::io::stdout().is_terminal(),
        }
    }

    /// Fails with [`Interrupted`] once Ctrl-C was pressed.
    pub fn check_interrupt(&self) -> anyhow::Result<()> {
        if self.stop.load(Ordering::Relaxed) {
            return Err(Interrupted.into());
        }
        Ok(())
    }

    /// Run one step, printing `✓ what (time)` or `✗ what`.
    pub fn step<T>(&self, what: &str, f: impl FnOnce() -> anyhow::Result<T>) -> anyhow::Result<T> {
        self.check_interrupt()?;
        if self.tty {
            print!("  … {what}");
            let _ = std::io::stdout().flush();
        }
        let t0 = Instant::now();
        let r = f();
        let secs = t0.elapsed().as_secs_f64();
        let clear = if self.tty { "\r\x1b[K" } else { "" };
        match &r {
            Ok(_) => println!("{clear}{}", step_line(true, what, secs)),
            Err(_) => println!("{clear}{}", step_line(false, what, secs)),
        }
        r
    }
}

/// `  ✓ what  (1.2 s)`.
pub fn step_line(ok: bool, what: &str, secs: f64) -> String {
    format!("  {} {what}  ({secs:.1} s)", if ok { "✓" } else { "✗" })
}

/// The "what was built" section.
pub fn render_built(b: &Built) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "What was built");
    let _ = writeln!(
        s,
        "  host {}: cloudnet serve (API, store, switch br-int, agent)",
        b.host
    );
    let _ = writeln!(s, "  external network {}", b.external);
    let _ = writeln!(s, "  internet {} at {}", b.internet.0, b.internet.1);
    for g in &b.groups {
        let _ = writeln!(s, "  security group {g}");
    }
    for p in &b.projects {
        let gw = p
            .router_gateway
            .map(|g| format!(", SNAT as {g}"))
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "  project {}: network {} {}, router {}{gw}",
            p.name, p.network, p.cidr, p.router
        );
        for vm in &p.vms {
            let _ = writeln!(s, "    {}", vm_line(vm));
        }
    }
    let _ = writeln!(s, "  VXLAN network (VNI {}) across two hosts:", b.vni);
    for h in &b.overlay_hosts {
        let _ = writeln!(
            s,
            "    host {} (underlay {}): {}",
            h.name,
            h.underlay_ip,
            vm_line(&h.vm)
        );
    }
    let _ = writeln!(
        s,
        "  QoS switch {}: {} behind a linux-htb port (10 Mbit/s, queues 3:1:6), senders {}",
        b.qos_switch,
        vm_line(&b.qos_receiver),
        b.qos_senders
            .iter()
            .map(|v| v.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    s
}

fn vm_line(vm: &VmInfo) -> String {
    let mut s = format!("VM {} {}", vm.name, vm.ip);
    if !vm.groups.is_empty() {
        let _ = write!(s, " [groups: {}]", vm.groups);
    }
    if let Some(f) = vm.floating_ip {
        let _ = write!(s, " floating IP {f}");
    }
    s
}

/// The checks section: one aligned line per check, then the tally.
pub fn render_checks(checks: &[Check]) -> String {
    let w = checks
        .iter()
        .map(|c| c.name.chars().count())
        .max()
        .unwrap_or(0);
    let mut s = String::from("Checks\n");
    for c in checks {
        let pad = w - c.name.chars().count();
        let _ = writeln!(
            s,
            "  {} {}{}  {}",
            if c.ok { "✓ pass" } else { "✗ FAIL" },
            c.name,
            " ".repeat(pad),
            c.figure
        );
    }
    let failed = checks.iter().filter(|c| !c.ok).count();
    let _ = writeln!(s, "\n{} passed, {failed} failed", checks.len() - failed);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_align_and_count() {
        let checks = vec![
            Check::new("ping a", true, "3/3 replies"),
            Check::new("no ping across projects", false, "1/2 replies"),
        ];
        let out = render_checks(&checks);
        let lines: Vec<&str> = out.lines().filter(|l| l.starts_with("  ")).collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with("  ✓ pass ping a "));
        assert!(lines[1].starts_with("  ✗ FAIL no ping across projects  1/2"));
        // Figures start in the same column.
        let col = |l: &str, fig: &str| l.chars().count() - fig.chars().count();
        assert!(lines[0].ends_with("3/3 replies") && lines[1].ends_with("1/2 replies"));
        assert_eq!(col(lines[0], "3/3 replies"), col(lines[1], "1/2 replies"));
        assert!(out.contains("1 passed, 1 failed"));
    }

    #[test]
    fn step_lines() {
        assert_eq!(step_line(true, "bridge", 0.04), "  ✓ bridge  (0.0 s)");
        assert_eq!(step_line(false, "vm", 1.25), "  ✗ vm  (1.2 s)");
    }
}
