//! `cloudnet serve` (API, store, switch, agent) in a test host namespace,
//! driven by the CLI a user runs. Shared by the tests that need a running
//! cloud (single_host.rs, trace.rs).
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use lab::Netns;

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

    /// The API's socket address (the endpoint without its scheme).
    pub fn addr(&self) -> SocketAddr {
        self.endpoint
            .trim_start_matches("http://")
            .parse()
            .expect("API address")
    }

    /// The process id of `cloudnet serve` (`ip netns exec` execs it).
    pub fn pid(&self) -> u32 {
        self.child.id()
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

    /// Run a `cloudnet` command line in the host namespace, whatever its
    /// outcome.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run cloudnet")
    }

    /// Run a `cloudnet` command line that must succeed; its stdout.
    pub fn cli(&self, args: &[&str]) -> String {
        super::stdout_ok(args, &self.run(args))
    }

    /// Network `name` with one DHCP subnet `cidr` (named `NAME-sub`).
    pub fn network(&self, name: &str, cidr: &str) {
        self.create(&["network", "create", name]);
        self.subnet(&format!("{name}-sub"), name, cidr, &[]);
    }

    /// External flat provider network `name` on physical network
    /// `physnet` (reached through a `--bridge-mapping`); its ID.
    pub fn external_network(&self, name: &str, physnet: &str) -> String {
        self.create(&super::internet::external_network_args(name, physnet))
    }

    /// Subnet `name` of `network` on `cidr`, with `extra` options; its ID.
    pub fn subnet(&self, name: &str, network: &str, cidr: &str, extra: &[&str]) -> String {
        let args = ["subnet", "create", name, "--network", network];
        self.create(&[&args[..], &["--subnet-range", cidr], extra].concat())
    }

    /// Port `name` on `network` in security group `group`, with `extra`
    /// options; its ID.
    pub fn port_in(&self, name: &str, network: &str, group: &str, extra: &[&str]) -> String {
        let args = ["port", "create", name, "--network", network];
        self.create(&[&args[..], &["--security-group", group], extra].concat())
    }

    /// A floating IP on external network `ext` for `port`, with `extra`
    /// options (`--project`); its ID and address.
    pub fn floating_ip(&self, port: &str, extra: &[&str]) -> (String, IpAddr) {
        let args = ["floating", "ip", "create", "ext", "--port", port];
        let id = self.create(&[&args[..], extra].concat());
        let show = ["floating", "ip", "show", &id, "-f", "value", "-c"];
        let ip = self.cli(&[&show[..], &["floating_ip_address"]].concat());
        let ip = ip
            .parse()
            .unwrap_or_else(|e| panic!("floating IP address {ip:?}: {e}"));
        (id, ip)
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

    /// Packets matched by br-int flows in `table` whose match contains
    /// `m` (as `dump-flows` prints it, e.g. `icmpv6_type=134`).
    pub fn flow_packets(&self, table: u8, m: &str) -> u64 {
        self.cli(&["ofctl", "dump-flows", "br-int", &format!("table={table}")])
            .lines()
            .filter(|l| l.contains(m))
            .filter_map(|l| {
                l.split(", ")
                    .find_map(|t| t.trim().strip_prefix("n_packets="))
                    .and_then(|n| n.parse::<u64>().ok())
            })
            .sum()
    }

    pub fn flows_with_cookie(&self, cookie: u64) -> usize {
        let c = format!("cookie={cookie:#x}/-1");
        self.cli(&["ofctl", "dump-flows", "br-int", &c])
            .lines()
            .filter(|l| l.contains("cookie="))
            .count()
    }
}
