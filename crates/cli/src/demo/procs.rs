//! The daemons the demo runs, each a guard that stops its process when
//! dropped: `cloudnet serve` (the single-host cloud, driven through its
//! API by `cloudnet` commands as a user types them) and bare `cloudnet
//! vswitchd` switches driven with `vsctl` / `ofctl` / `tc` requests.
//!
//! Daemons get their own process group, so a Ctrl-C at the terminal reaches
//! only the demo, which then removes everything in order.

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context};
use lab::Netns;
use vswitch::{call, Request};

/// Where `cloudnet serve` listens inside the host namespace (loopback of
/// that namespace, so it never meets the machine's own 9696).
pub const API_BIND: &str = "127.0.0.1:9696";

/// This very binary: the demo runs `cloudnet serve`, `vswitchd` and the
/// resource commands from it.
pub fn exe() -> anyhow::Result<PathBuf> {
    std::env::current_exe().context("locating the cloudnet binary")
}

/// Start `args` of this binary inside `ns`, output appended to `log`, in its
/// own process group.
fn spawn_in(ns: &str, args: &[&str], log: &Path) -> anyhow::Result<Child> {
    let out = File::create(log).with_context(|| format!("creating {}", log.display()))?;
    let err = out.try_clone().context("log file")?;
    Command::new("ip")
        .args(["netns", "exec", ns])
        .arg(exe()?)
        .args(args)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0)
        .spawn()
        .with_context(|| format!("starting cloudnet {}", args.join(" ")))
}

/// Poll until `ready`, failing early (with the log's tail) if the daemon
/// exits.
fn await_ready(
    child: &mut Child,
    what: &str,
    log: &Path,
    mut ready: impl FnMut() -> bool,
) -> anyhow::Result<()> {
    let mut exited = None;
    let r = lab::wait_until(what, Duration::from_secs(20), || {
        if let Ok(Some(st)) = child.try_wait() {
            exited = Some(st);
            return true;
        }
        ready()
    });
    let tail = || {
        std::fs::read_to_string(log)
            .unwrap_or_default()
            .lines()
            .rev()
            .take(8)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n")
    };
    if let Some(st) = exited {
        bail!("{what}: the daemon exited ({st}):\n{}", tail());
    }
    r.with_context(|| format!("{what}; its log:\n{}", tail()))?;
    Ok(())
}

fn stop(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// `cloudnet serve` in the host namespace: API, store, switch and agent.
pub struct Serve {
    child: Child,
    host: String,
    /// `http://127.0.0.1:9696`, reachable inside the host namespace.
    pub endpoint: String,
    /// The switch's run dir (`DATA_DIR/run`).
    pub run_dir: PathBuf,
}

impl Serve {
    /// Start it with `--bridge-mapping mapping` and wait until it listens.
    pub fn start(host: &Netns, dir: &Path, mapping: &str) -> anyhow::Result<Serve> {
        let data = dir.join("data");
        let log = dir.join("serve.log");
        let data_s = data.to_string_lossy().into_owned();
        let args = [
            "serve",
            "--bind",
            API_BIND,
            "--data-dir",
            &data_s,
            "--bridge-mapping",
            mapping,
        ];
        let mut child = spawn_in(host.name(), &args, &log)?;
        await_ready(&mut child, "cloudnet serve to listen", &log, || {
            std::fs::read_to_string(&log).is_ok_and(|s| s.contains("listening on"))
        })?;
        Ok(Serve {
            child,
            host: host.name().to_owned(),
            endpoint: format!("http://{API_BIND}"),
            run_dir: data.join("run"),
        })
    }

    /// Run one `cloudnet` command line against this cloud, in the host
    /// namespace, as a user would type it; its standard output.
    pub fn cli(&self, args: &[&str]) -> anyhow::Result<String> {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.host])
            .arg(exe()?)
            .args(args)
            .env("OS_ENDPOINT", &self.endpoint)
            .env("CLOUDNET_RUN_DIR", &self.run_dir)
            .stdin(Stdio::null())
            .output()
            .context("running cloudnet")?;
        if !out.status.success() {
            bail!(
                "cloudnet {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// `cloudnet … create …` printing only the new resource's `column`.
    pub fn create_get(&self, args: &[&str], column: &str) -> anyhow::Result<String> {
        let mut a = args.to_vec();
        a.extend(["-f", "value", "-c", column]);
        self.cli(&a)
    }

    /// `cloudnet … create …`; the new resource's ID.
    pub fn create(&self, args: &[&str]) -> anyhow::Result<String> {
        self.create_get(args, "id")
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// A bare `cloudnet vswitchd` in a namespace, with its own run dir.
pub struct Switch {
    child: Child,
    /// Its run dir (control socket).
    pub run_dir: PathBuf,
}

impl Switch {
    /// Start it and wait until its control socket answers.
    pub fn start(ns: &Netns, run_dir: &Path) -> anyhow::Result<Switch> {
        std::fs::create_dir_all(run_dir)
            .with_context(|| format!("creating {}", run_dir.display()))?;
        let log = run_dir.join("vswitchd.log");
        let dir_s = run_dir.to_string_lossy().into_owned();
        let mut child = spawn_in(ns.name(), &["vswitchd", "--run-dir", &dir_s], &log)?;
        await_ready(&mut child, "cloudnet vswitchd to answer", &log, || {
            call(run_dir, &Request::Version, Duration::from_secs(1)).is_ok()
        })?;
        Ok(Switch {
            child,
            run_dir: run_dir.to_owned(),
        })
    }

    /// One control-socket request; the daemon's answer.
    pub fn call(&self, req: Request) -> anyhow::Result<String> {
        Ok(call(&self.run_dir, &req, Duration::from_secs(10))?)
    }

    /// An ovs-vsctl(8) command line, split on spaces.
    pub fn vsctl(&self, line: &str) -> anyhow::Result<String> {
        let args = line.split_whitespace().map(String::from).collect();
        self.call(Request::Vsctl { args })
            .with_context(|| format!("vsctl {line}"))
    }

    /// Add a TAP port on `bridge` whose netdev the switch creates inside
    /// `vm` as `eth0` (as qemu would hold it), with extra `port_args`
    /// (e.g. `tag=1`); waits until `eth0` appears.
    pub fn plug(
        &self,
        bridge: &str,
        port: &str,
        port_args: &str,
        vm: &Netns,
    ) -> anyhow::Result<()> {
        self.vsctl(&format!(
            "add-port {bridge} {port} {port_args} -- set Interface {port} type=tap options:netns={} options:ifname=eth0",
            vm.name()
        ))?;
        lab::wait_until("the VM's eth0 to appear", Duration::from_secs(5), || {
            vm.links().is_ok_and(|l| l.iter().any(|n| n == "eth0"))
        })?;
        Ok(())
    }
}

impl Drop for Switch {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}
