//! Before and after the demo: the root and package checks, the demo's
//! directory (data dir of `cloudnet serve`, switches' run dirs, logs) and
//! its removal, Ctrl-C handling, and `cloudnet demo --clean` for a demo
//! left up with `--keep`.
//!
//! Everything the demo makes in the kernel is named with the fixed prefix
//! [`PREFIX`] and every file lives under [`DEMO_DIR`], so a later process
//! finds it all by name, with no state but the directory.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context};

/// Prefix of every namespace and host link of the demo.
pub const PREFIX: &str = "cnd-";
/// The demo's files: `data/` (the store), run dirs, logs, `explore.txt`.
pub const DEMO_DIR: &str = "/run/cloudnet-demo";

/// Commands the demo runs, with the Debian package providing each.
const NEEDED: [(&str, &str); 5] = [
    ("ip", "iproute2"),
    ("ss", "iproute2"),
    ("iperf3", "iperf3"),
    ("busybox", "busybox"),
    ("ethtool", "ethtool"),
];

/// Fail clearly unless root and every needed command is installed; the
/// busybox binary (udhcpc, httpd, wget).
pub fn preflight() -> anyhow::Result<PathBuf> {
    if !nix_is_root() {
        bail!(
            "the demo builds network namespaces, veth pairs and TAP devices: run it as root \
             (sudo cloudnet demo)"
        );
    }
    if let Some(msg) = missing_message(|cmd| which(cmd).is_some()) {
        bail!(msg);
    }
    which("busybox").context("busybox")
}

/// What to say when some of [`NEEDED`] is not installed (`have` tells),
/// naming each command and its package.
fn missing_message(have: impl Fn(&str) -> bool) -> Option<String> {
    let missing: Vec<String> = NEEDED
        .iter()
        .filter(|(cmd, _)| !have(cmd))
        .map(|(cmd, pkg)| format!("{cmd} (package {pkg})"))
        .collect();
    (!missing.is_empty()).then(|| {
        format!(
            "missing {}: run `bash scripts/deps.sh` (or apt-get install them)",
            missing.join(", ")
        )
    })
}

/// `cmd` on `PATH`.
fn which(cmd: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|d| d.join(cmd))
        .find(|p| p.is_file())
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

/// The demo's directory, removed when dropped (unless kept).
pub struct DemoDir(PathBuf);

impl DemoDir {
    /// Create [`DEMO_DIR`]; a leftover without namespaces (a crash) is
    /// replaced, one with namespaces means a demo is up.
    pub fn create() -> anyhow::Result<DemoDir> {
        let dir = PathBuf::from(DEMO_DIR);
        if !lab::find_leftovers(Some(PREFIX))?.is_empty() {
            bail!(
                "a demo is already up (kept with --keep, or running): remove it with \
                 `cloudnet demo --clean`"
            );
        }
        if dir.exists() {
            std::fs::remove_dir_all(&dir)
                .with_context(|| format!("removing the stale {}", dir.display()))?;
        }
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(DemoDir(dir))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for DemoDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Remove every namespace and link named [`PREFIX`] (killing the daemons
/// inside) and [`DEMO_DIR`]; what was removed.
pub fn remove_all() -> anyhow::Result<String> {
    let gone = lab::clean(Some(PREFIX))?;
    let dir = Path::new(DEMO_DIR);
    let had_dir = dir.exists();
    if had_dir {
        std::fs::remove_dir_all(dir).with_context(|| format!("removing {DEMO_DIR}"))?;
    }
    Ok(format!(
        "{} namespaces, {} links{}",
        gone.netns.len(),
        gone.links.len(),
        if had_dir {
            format!(" and {DEMO_DIR}")
        } else {
            String::new()
        }
    ))
}

/// `cloudnet demo --clean`.
pub fn clean() -> anyhow::Result<()> {
    if !nix_is_root() {
        bail!("removing the demo's namespaces needs root");
    }
    println!("removed {}", remove_all()?);
    Ok(())
}

/// Catch Ctrl-C (SIGINT): the first sets the returned flag, which the demo
/// checks between steps to stop and remove everything through its guards;
/// a second removes everything at once and exits 130.
pub fn on_interrupt() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let f = flag.clone();
    std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(async {
            if tokio::signal::ctrl_c().await.is_err() {
                return;
            }
            f.store(true, Ordering::Relaxed);
            eprintln!("\ninterrupted: removing the demo after this step (Ctrl-C again: now)");
            if tokio::signal::ctrl_c().await.is_ok() {
                match remove_all() {
                    Ok(what) => eprintln!("removed {what}"),
                    Err(e) => eprintln!("cloudnet demo: cleaning up: {e:#}"),
                }
                std::process::exit(130);
            }
        });
    });
    flag
}

/// How to explore a kept demo (printed, and saved in the demo's dir).
pub fn explore_text(host: &str, endpoint: &str, run_dir: &Path, vm: &str) -> String {
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "cloudnet".into());
    format!(
        "The demo is still up. Explore it:\n\
         \x20 ip netns list | grep {PREFIX}      # hosts, VMs, internet\n\
         \x20 ip netns exec {vm} ip addr      # inside a VM\n\
         \x20 ip netns exec {host} {exe} network list --os-endpoint {endpoint}\n\
         \x20 ip netns exec {host} {exe} port list --os-endpoint {endpoint}\n\
         \x20 {exe} ofctl dump-flows br-int --run-dir {run}\n\
         \x20 {exe} vsctl --run-dir {run} show\n\
         Remove it with: {exe} demo --clean\n",
        run = run_dir.display()
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn missing_packages_are_named() {
        assert_eq!(super::missing_message(|_| true), None);
        let m = super::missing_message(|c| c != "iperf3" && c != "busybox").unwrap();
        assert_eq!(
            m,
            "missing iperf3 (package iperf3), busybox (package busybox): run `bash scripts/deps.sh` \
             (or apt-get install them)"
        );
    }
}
