//! `cloudnet demo`: the newest end-to-end showcase, built in network
//! namespaces and torn down afterwards.
//!
//! Today it is chapter 1 of the first seed on cloudnet's own switch: a host
//! runs `cloudnet vswitchd`; four VMs (namespaces whose `eth0` is a TAP held
//! by the switch, as qemu would hold it) plug into one bridge; two tenants
//! are told apart by VLAN tags 10 and 20 (`ovs-vsctl add-port br0 tapX
//! tag=10`). The demo then checks what a person would: ping and TCP within a
//! tenant work, ping across tenants does not. It grows as features land.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use lab::{Lab, Netns};
use vswitch::{call, Request};

/// Arguments of `cloudnet demo`.
#[derive(clap::Args)]
pub struct Args {
    /// Print the switch's flow table and port counters at the end.
    #[arg(long)]
    verbose: bool,
}

/// One VM of the demo: its name, tenant tag and address.
struct VmSpec {
    short: &'static str,
    tag: u16,
    addr: &'static str,
}

const VMS: [VmSpec; 4] = [
    VmSpec {
        short: "a1",
        tag: 10,
        addr: "10.0.0.1",
    },
    VmSpec {
        short: "a2",
        tag: 10,
        addr: "10.0.0.2",
    },
    VmSpec {
        short: "b1",
        tag: 20,
        addr: "10.0.0.3",
    },
    VmSpec {
        short: "b2",
        tag: 20,
        addr: "10.0.0.4",
    },
];

pub fn run(args: Args) -> anyhow::Result<()> {
    if !nix_is_root() {
        bail!("the demo builds network namespaces and TAP devices: run it as root");
    }
    let started = Instant::now();
    let lab = Lab::new("demo").context("creating the demo's namespaces")?;
    step(
        "host",
        "a namespace playing the host, running cloudnet vswitchd",
    );
    let host = lab.netns("host")?;
    let run_dir = tempdir(lab.prefix())?;
    let switch = Switch::start(&host, &run_dir.0)?;

    step("bridge", "vsctl add-br br0  (the seed's `brctl addbr br0`)");
    switch.vsctl("add-br br0")?;
    let mut vms = Vec::new();
    for spec in &VMS {
        vms.push(plug_vm(&lab, &switch, spec)?);
        step(
            "vm",
            &format!(
                "{} {}/24 on a TAP port with tag={}",
                spec.short, spec.addr, spec.tag
            ),
        );
    }

    let mut report = Report::default();
    let (a1, a2, b1) = (&vms[0], &vms[1], &vms[2]);
    report.check("ping a1 -> a2 (tenant A, tag 10)", pings(a1, "10.0.0.2"));
    report.check("ping b1 -> b2 (tenant B, tag 20)", pings(b1, "10.0.0.4"));
    let tcp = lab::tcp_check(a1, a2, SocketAddr::new("10.0.0.2".parse()?, 5001), 1 << 20);
    report.check("TCP a1 -> a2, 1 MiB echoed", tcp.is_ok());
    report.check(
        "no ping a1 -> b1 across tenants",
        !pings_once(a1, "10.0.0.3"),
    );
    report.check(
        "no ping b1 -> a2 across tenants",
        !pings_once(b1, "10.0.0.2"),
    );

    if args.verbose {
        println!(
            "\n{}",
            switch.call(Request::DumpFlows {
                bridge: "br0".into(),
                matches: None
            })?
        );
        println!(
            "{}",
            switch.call(Request::DumpPorts {
                bridge: "br0".into(),
                port: None
            })?
        );
    }
    println!(
        "\n{} passed, {} failed  ({:.1} s; everything the demo made is being removed)",
        report.passed,
        report.failed,
        started.elapsed().as_secs_f64()
    );
    drop(vms);
    drop(switch);
    drop(lab);
    if report.failed > 0 {
        bail!("{} demo check(s) failed", report.failed);
    }
    Ok(())
}

fn step(what: &str, detail: &str) {
    println!("[{what:>6}] {detail}");
}

#[derive(Default)]
struct Report {
    passed: u32,
    failed: u32,
}

impl Report {
    fn check(&mut self, what: &str, ok: bool) {
        println!("[ check] {what}: {}", if ok { "ok" } else { "FAILED" });
        if ok {
            self.passed += 1;
        } else {
            self.failed += 1;
        }
    }
}

/// Every reply of a 3-ping, after one warm-up round for ARP.
fn pings(from: &Netns, to: &str) -> bool {
    let Ok(ip) = to.parse::<IpAddr>() else {
        return false;
    };
    let _ = lab::ping(from, ip, 1);
    lab::ping(from, ip, 3).is_ok_and(|s| s.all_received())
}

/// Any reply at all to two pings (used to show isolation).
fn pings_once(from: &Netns, to: &str) -> bool {
    let Ok(ip) = to.parse::<IpAddr>() else {
        return false;
    };
    lab::ping(from, ip, 2).is_ok_and(|s| s.received > 0)
}

/// Add a TAP port for `spec` whose netdev the switch creates inside the VM's
/// namespace as `eth0`, then address it.
fn plug_vm(lab: &Lab, switch: &Switch, spec: &VmSpec) -> anyhow::Result<Netns> {
    let ns = lab.netns(spec.short)?;
    let port = lab.name(spec.short)?;
    switch.vsctl(&format!(
        "add-port br0 {port} tag={} -- set Interface {port} type=tap options:netns={} options:ifname=eth0",
        spec.tag,
        ns.name()
    ))?;
    lab::wait_until("the VM's eth0 to appear", Duration::from_secs(5), || {
        ns.links().is_ok_and(|l| l.iter().any(|n| n == "eth0"))
    })?;
    ns.add_addr("eth0", format!("{}/24", spec.addr).parse()?)?;
    ns.link_up("eth0")?;
    Ok(ns)
}

/// A `cloudnet vswitchd` child running inside the host namespace; killed
/// when dropped.
struct Switch {
    child: Child,
    run_dir: PathBuf,
}

impl Switch {
    fn start(host: &Netns, run_dir: &Path) -> anyhow::Result<Switch> {
        let exe = std::env::current_exe().context("locating the cloudnet binary")?;
        let child = Command::new("ip")
            .args(["netns", "exec", host.name()])
            .arg(exe)
            .arg("vswitchd")
            .arg("--run-dir")
            .arg(run_dir)
            .stdin(Stdio::null())
            .spawn()
            .context("starting cloudnet vswitchd")?;
        let switch = Switch {
            child,
            run_dir: run_dir.to_owned(),
        };
        lab::wait_until("vswitchd to answer", Duration::from_secs(10), || {
            call(run_dir, &Request::Version, Duration::from_secs(1)).is_ok()
        })?;
        Ok(switch)
    }

    fn call(&self, req: Request) -> anyhow::Result<String> {
        Ok(call(&self.run_dir, &req, Duration::from_secs(10))?)
    }

    fn vsctl(&self, line: &str) -> anyhow::Result<String> {
        let args = line.split_whitespace().map(String::from).collect();
        self.call(Request::Vsctl { args })
            .with_context(|| format!("vsctl {line}"))
    }
}

impl Drop for Switch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A run directory under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

fn tempdir(prefix: &str) -> anyhow::Result<TempDir> {
    let dir = std::env::temp_dir().join(format!("cloudnet-{prefix}{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(TempDir(dir))
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn nix_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}
