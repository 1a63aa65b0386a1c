//! A real DHCPv4 client for tests: busybox `udhcpc` in a namespace, with a
//! hook that applies the lease (address, MTU, default route) and records
//! what the client received.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::{LabError, Netns, Result};

/// The busybox binary (it provides `udhcpc`), if installed
/// (`scripts/deps.sh` installs the `busybox` package). When it is missing,
/// under `CI=true` this panics — CI must not pass by skipping — and
/// elsewhere it prints why `test` is skipped and returns `None`.
pub fn busybox(test: &str) -> Option<PathBuf> {
    let found = ["/usr/bin/busybox", "/bin/busybox", "/usr/sbin/busybox"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists());
    if found.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{test}: busybox (udhcpc) is missing: scripts/deps.sh must install the `busybox` package"
        );
        eprintln!("skipping {test}: busybox (udhcpc) is not installed (apt-get install busybox)");
    }
    found
}

/// What udhcpc exported to its hook on `bound` (`ip`, `mask`, `router`,
/// `dns`, `domain`, `mtu`, `staticroutes`, `lease`, `serverid`, `subnet`).
#[derive(Clone, Debug)]
pub struct Lease {
    env: String,
}

impl Lease {
    /// The value udhcpc exported as `key`, trimmed.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.env.lines().find_map(|l| {
            l.strip_prefix(key)
                .and_then(|r| r.strip_prefix('='))
                .map(str::trim)
        })
    }

    /// Everything recorded, one `key=value` a line.
    pub fn raw(&self) -> &str {
        &self.env
    }
}

/// Runs `busybox udhcpc -i dev -f -q -n` in `ns` (5 tries, 1 s apart, plus
/// the `-O` options in `request`), its hook written to `dir`; the hook adds
/// the leased address, sets the MTU and the default route it got.
/// Fails unless a lease was obtained within `timeout`.
pub fn udhcpc(
    ns: &Netns,
    busybox: &Path,
    dev: &str,
    request: &[&str],
    dir: &Path,
    timeout: Duration,
) -> Result<Lease> {
    let env = dir.join("lease.env");
    let script = dir.join("udhcpc.sh");
    let body = format!(
        "#!/bin/sh\n\
         case \"$1\" in\n\
         bound|renew)\n\
           ip addr add \"$ip/$mask\" dev \"$interface\"\n\
           [ -n \"$mtu\" ] && ip link set dev \"$interface\" mtu \"$mtu\"\n\
           [ -n \"$router\" ] && ip route add default via \"$router\" dev \"$interface\"\n\
           env | grep -E '^(ip|mask|subnet|router|dns|domain|mtu|staticroutes|lease|serverid)=' > {env}\n\
           ;;\n\
         esac\n\
         exit 0\n",
        env = env.display()
    );
    let io = |what: &str| {
        let what = format!("{what} {}", script.display());
        move |source| LabError::Io { what, source }
    };
    std::fs::write(&script, body).map_err(io("writing"))?;
    let mut perm = std::fs::metadata(&script)
        .map_err(io("reading"))?
        .permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o755);
    std::fs::set_permissions(&script, perm).map_err(io("chmod"))?;
    let (bb, sc) = (busybox.to_string_lossy(), script.to_string_lossy());
    let mut argv = vec![
        &*bb, "udhcpc", "-i", dev, "-f", "-q", "-n", "-t", "5", "-T", "1", "-s", &*sc,
    ];
    for o in request {
        argv.extend(["-O", o]);
    }
    let out = ns.exec_output(&argv, timeout)?;
    if !out.success() {
        return Err(LabError::Check {
            what: format!("udhcpc on {dev} in {}", ns.name()),
            detail: format!("no lease: {}{}", out.stdout, out.stderr),
        });
    }
    let env = std::fs::read_to_string(&env).map_err(|source| LabError::Io {
        what: format!("reading {} (the bound hook did not run)", env.display()),
        source,
    })?;
    Ok(Lease { env })
}
