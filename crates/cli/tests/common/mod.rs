//! Shared by the CLI's integration tests: `cloudnet serve` in a host
//! namespace ([`serve`]), `cloudnet serve --api-only` on a free loopback
//! port, and headless Chromium for the topology page.

#![allow(dead_code)]

pub mod crash;
pub mod flood;
pub mod internet;
pub mod serve;
pub mod uplink;
pub mod v6;

pub use serve::{Serve, BIN};

use std::io::{BufRead, BufReader};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use lab::{Lab, Netns};

/// A running API server, killed when dropped (even on panic).
pub struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Start `cloudnet serve --api-only` with its store in `data`; returns
/// the server and its endpoint (`http://127.0.0.1:PORT`), read from the
/// line serve prints once it listens.
pub fn start_api_only(data: &Path) -> (Server, String) {
    start_api_only_with(data, &[])
}

/// [`start_api_only`] with more `serve` arguments.
pub fn start_api_only_with(data: &Path, extra: &[&str]) -> (Server, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cloudnet"))
        .args(["serve", "--api-only", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(data)
        .args(extra)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("start cloudnet serve");
    let stderr = child.stderr.take().expect("piped stderr");
    let server = Server(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("cloudnet serve: listening on ") {
                let _ = tx.send(url.to_string());
            }
        }
    });
    let url = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("server did not report its address");
    (server, url)
}

/// How long one chromium run may take before it is killed.
pub const BROWSER_TIMEOUT: Duration = Duration::from_secs(60);

/// The chromium binary on PATH, or `None` after saying why the test is
/// skipped; under `CI=true` a missing browser is a failure.
pub fn chromium(test: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path)
        .flat_map(|d| ["chromium", "chromium-browser"].map(|n| d.join(n)))
        .find(|p| p.is_file());
    if found.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{test}: chromium is not installed: run scripts/deps.sh (it installs Debian's `chromium`)"
        );
        eprintln!("skipping {test}: chromium is not installed (run scripts/deps.sh)");
    }
    found
}

/// Run headless chromium on `url` with `extra` flags, its own profile
/// dir and `budget_ms` of virtual time for the page's script (timers run
/// on it, fetches pause it); its standard output. `prefix` runs it through
/// another command (`ip netns exec NS`).
pub fn browse(
    prefix: &[&str],
    chromium: &Path,
    profile: &Path,
    url: &str,
    budget_ms: u64,
    extra: &[&str],
) -> String {
    let profile = format!("--user-data-dir={}", profile.display());
    let budget = format!("--virtual-time-budget={budget_ms}");
    let chromium = chromium.to_string_lossy();
    let mut argv = prefix.to_vec();
    argv.extend([
        chromium.as_ref(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-extensions",
        "--hide-scrollbars",
        &profile,
        &budget,
    ]);
    argv.extend_from_slice(extra);
    argv.push(url);
    let out = lab::run(&argv, BROWSER_TIMEOUT).expect("run chromium");
    assert!(
        out.success(),
        "chromium failed ({:?}):\n{}",
        out.status,
        out.stderr
    );
    out.stdout
}

/// The DOM of the topology page once its script has reached `state`
/// (`<body data-state="ready">` once the graph is drawn and counters
/// fetched, `login` when the API wants a token), giving it more virtual
/// time until it has (bounded); the DOM and the budget that sufficed.
pub fn dump_dom_when(
    state: &str,
    prefix: &[&str],
    chromium: &Path,
    profile: &Path,
    url: &str,
) -> (String, u64) {
    let marker = format!("data-state=\"{state}\"");
    let mut budget = 2_000;
    let mut dom = String::new();
    for _ in 0..4 {
        dom = browse(prefix, chromium, profile, url, budget, &["--dump-dom"]);
        if dom.contains(&marker) {
            return (dom, budget);
        }
        budget *= 2;
    }
    panic!("the page at {url} never reached {marker}:\n{dom}");
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
    tcp_peer(from, server, to, port, Duration::from_secs(3)).is_some()
}

/// A TCP round trip from `from` to `to:port` (served by `server` on its
/// wildcard address, so `to` may be a floating IP), closed by both sides
/// within `timeout`: the client's address as the server saw it. Every wait
/// is bounded: a handshake whose last ACK a changing flow table drops
/// leaves the client connected and the server with nothing to accept.
pub fn tcp_peer(
    from: &Netns,
    server: &Netns,
    to: IpAddr,
    port: u16,
    timeout: Duration,
) -> Option<SocketAddr> {
    lab::tcp_check_peer(from, server, SocketAddr::new(to, port), 5, timeout).ok()
}

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
    stdout_ok(args, &out)
}

/// The trimmed stdout of `cloudnet ARGS` that must have succeeded; panics
/// with the command and its stderr otherwise.
pub fn stdout_ok(args: &[&str], out: &Output) -> String {
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
