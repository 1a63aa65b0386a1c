//! Issue 11's "trace works from the API server for any host", with real
//! processes: two host namespaces on an underlay, a standalone `cloudnet
//! agent` in each (its switch in the same process) serving traces on its
//! underlay address behind a shared secret, one etcd, and the stateless
//! `cloudnet api --store etcd://…` on host A. A trace from a port on host
//! B goes through the API on A to B's agent and shows B's stages; an
//! unbound port, a stopped agent and a killed agent give clear, bounded
//! errors naming the port or the chassis.
//!
//! etcd listens on the test's loopback; each host namespace reaches it
//! through a small TCP relay listening on the namespace's own loopback
//! with the same port, so one store spec serves every process.

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use lab::{Lab, Netns};

mod common;
use common::BIN;

const TOKEN: &str = "admin-token";
/// The API's `--agent-timeout`, seconds.
const AGENT_TIMEOUT: u64 = 3;

/// Forwards TCP connections accepted in a namespace to `target` in the
/// test's own namespace; stops accepting when dropped.
struct Relay {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Relay {
    fn start(ns: &Netns, target: SocketAddr) -> Relay {
        let l = ns
            .tcp_listener(SocketAddr::from((Ipv4Addr::LOCALHOST, target.port())))
            .expect("relay listener");
        l.set_nonblocking(true).expect("nonblocking");
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::spawn(move || accept_loop(&l, target, &s));
        Relay {
            stop,
            thread: Some(thread),
        }
    }
}

fn accept_loop(l: &TcpListener, target: SocketAddr, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        match l.accept() {
            Ok((inside, _)) => {
                let _ = inside.set_nonblocking(false);
                if let Ok(outside) = TcpStream::connect(target) {
                    pipe(inside, outside);
                }
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// Copy both ways until either side closes.
fn pipe(a: TcpStream, b: TcpStream) {
    let (Ok(a2), Ok(b2)) = (a.try_clone(), b.try_clone()) else {
        return;
    };
    for (mut from, mut to) in [(a, b2), (b, a2)] {
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut from, &mut to);
            let _ = to.shutdown(std::net::Shutdown::Both);
            let _ = from.shutdown(std::net::Shutdown::Both);
        });
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A process killed (SIGKILL) and reaped when dropped.
struct Proc(Child);

impl Proc {
    fn signal(&self, sig: &str) {
        let st = Command::new("kill")
            .args([sig, &self.0.id().to_string()])
            .status()
            .expect("kill");
        assert!(st.success(), "kill {sig}");
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `cloudnet ARGS` in `ns`, its stderr piped.
fn spawn(ns: &Netns, args: &[&str]) -> Child {
    Command::new("ip")
        .args(["netns", "exec", ns.name(), BIN])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn cloudnet")
}

/// Echo `child`'s stderr to ours (captured by the test harness) and send
/// the rest of the first line starting with `prefix`.
fn watch_stderr(child: &mut Child, prefix: &'static str) -> std::sync::mpsc::Receiver<String> {
    let stderr = child.stderr.take().expect("piped stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("{line}");
            if let Some(rest) = line.strip_prefix(prefix) {
                let _ = tx.send(rest.to_string());
            }
        }
    });
    rx
}

struct Cli {
    ns: String,
    endpoint: String,
}

impl Cli {
    fn run(&self, run_dir: &Path, args: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", &self.ns, BIN])
            .args(args)
            .env("OS_ENDPOINT", &self.endpoint)
            .env("OS_TOKEN", TOKEN)
            .env("CLOUDNET_RUN_DIR", run_dir)
            .output()
            .expect("run cloudnet")
    }

    /// Its stdout; panics naming the command when it fails.
    fn ok(&self, run_dir: &Path, args: &[&str]) -> String {
        common::stdout_ok(args, &self.run(run_dir, args))
    }

    fn create(&self, args: &[&str]) -> String {
        self.ok(Path::new("/nonexistent"), &common::id_args(args))
    }

    /// A failing command's stderr.
    fn fails(&self, args: &[&str]) -> String {
        let out = self.run(Path::new("/nonexistent"), args);
        assert!(
            !out.status.success(),
            "cloudnet {} succeeded",
            args.join(" ")
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }
}

struct HostAgent {
    proc: Proc,
    run_dir: PathBuf,
}

fn start_agent(ns: &Netns, name: &str, ip: &str, store: &str, tmp: &Path) -> HostAgent {
    let data = tmp.join(name);
    let run_dir = data.join("run");
    let trace_addr = format!("{ip}:0");
    let secret = tmp.join("agent.secret");
    let mut child = spawn(
        ns,
        &[
            "agent",
            "--store",
            store,
            "--host",
            name,
            "--underlay-ip",
            ip,
            "--encap",
            "vxlan",
            "--lease-ttl",
            "30",
            "--data-dir",
            data.to_str().expect("utf-8 path"),
            "--trace-addr",
            &trace_addr,
            "--trace-secret-file",
            secret.to_str().expect("utf-8 path"),
        ],
    );
    let _ = watch_stderr(&mut child, "");
    HostAgent {
        proc: Proc(child),
        run_dir,
    }
}

#[test]
fn trace_from_the_api_server_reaches_the_ports_host() {
    let Some(lab) = Lab::new_or_skip("trace_hosts") else {
        return;
    };
    let Some(etcd) = lab::etcd::Cluster::start_or_skip("trace_hosts", 1) else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tmp");
    let spec = etcd.endpoints();
    let etcd_addr = etcd.client_addr(0).expect("member 0");
    let (ip_a, ip_b) = ("10.200.0.1", "10.200.0.2");
    let ha = lab
        .host_with_ip("ha", format!("{ip_a}/24").parse().expect("cidr"))
        .expect("host a");
    let hb = lab
        .host_with_ip("hb", format!("{ip_b}/24").parse().expect("cidr"))
        .expect("host b");
    let _relays = [
        Relay::start(ha.ns(), etcd_addr),
        Relay::start(hb.ns(), etcd_addr),
    ];
    std::fs::write(tmp.path().join("agent.secret"), "trace-secret-0123\n").expect("secret");
    let tokens = tmp.path().join("tokens.json");
    let t =
        format!(r#"{{"tokens": {{"{TOKEN}": {{"project_id": "admin", "roles": ["admin"]}}}}}}"#);
    std::fs::write(&tokens, t).expect("tokens");

    let agent_a = start_agent(ha.ns(), "hva", ip_a, &spec, tmp.path());
    let mut agent_b = start_agent(hb.ns(), "hvb", ip_b, &spec, tmp.path());
    let store = store::open(&spec).expect("etcd store");
    lab::wait_until(
        "both chassis advertise a trace address",
        Duration::from_secs(30),
        || {
            agent::cluster::Cluster::load(store.as_ref()).is_ok_and(|c| {
                ["hva", "hvb"]
                    .iter()
                    .all(|n| c.chassis.get(*n).is_some_and(|r| r.trace_addr.is_some()))
            })
        },
    )
    .expect("agents registered");
    let c = agent::cluster::Cluster::load(store.as_ref()).expect("cluster");
    assert_eq!(
        c.chassis["hvb"].trace_addr.map(|a| a.ip().to_string()),
        Some(ip_b.to_string()),
        "advertised on the underlay address it listens on"
    );

    let listen = format!("{ip_a}:0");
    let mut api = spawn(
        ha.ns(),
        &[
            "api",
            "--store",
            &spec,
            "--listen",
            &listen,
            "--token-file",
            tokens.to_str().expect("utf-8 path"),
            "--agent-secret-file",
            tmp.path()
                .join("agent.secret")
                .to_str()
                .expect("utf-8 path"),
            "--agent-timeout",
            &AGENT_TIMEOUT.to_string(),
        ],
    );
    let url = watch_stderr(&mut api, "cloudnet api: listening on ")
        .recv_timeout(Duration::from_secs(30))
        .expect("the API server reports its address");
    let _api = Proc(api);
    let cli = |ns: &Netns| Cli {
        ns: ns.name().to_string(),
        endpoint: url.clone(),
    };
    let (on_a, on_b) = (cli(ha.ns()), cli(hb.ns()));

    // One network over both hosts; db on host B admits 3306 from web only.
    on_a.create(&["network", "create", "net1"]);
    on_a.create(&[
        "subnet",
        "create",
        "sub1",
        "--network",
        "net1",
        "--subnet-range",
        "10.0.0.0/24",
    ]);
    let web = on_a.create(&["security", "group", "create", "web"]);
    let db = on_a.create(&["security", "group", "create", "db"]);
    on_a.create(&[
        "security",
        "group",
        "rule",
        "create",
        "db",
        "--ingress",
        "--protocol",
        "tcp",
        "--dst-port",
        "3306",
        "--remote-group",
        "web",
    ]);
    let port = |name: &str, sg: &str, ip: &str| {
        let fixed = format!("subnet=sub1,ip-address={ip}");
        on_a.create(&[
            "port",
            "create",
            name,
            "--network",
            "net1",
            "--security-group",
            sg,
            "--fixed-ip",
            &fixed,
        ])
    };
    let a1 = port("a1", &web, "10.0.0.4");
    let b1 = port("b1", &web, "10.0.0.5");
    let b2 = port("b2", &db, "10.0.0.6");
    let c1 = port("c1", &web, "10.0.0.7");
    let vms: Vec<Netns> = ["va1", "vb1", "vb2"]
        .iter()
        .map(|v| lab.netns(v).expect("vm netns"))
        .collect();
    on_a.ok(
        &agent_a.run_dir,
        &["port", "plug", &a1, "--netns", vms[0].name()],
    );
    on_b.ok(
        &agent_b.run_dir,
        &["port", "plug", &b1, "--netns", vms[1].name()],
    );
    on_b.ok(
        &agent_b.run_dir,
        &["port", "plug", &b2, "--netns", vms[2].name()],
    );
    lab::wait_until(
        "ports ACTIVE through the API",
        Duration::from_secs(20),
        || {
            [&a1, &b1, &b2].iter().all(|p| {
                on_a.ok(
                    Path::new("/"),
                    &["port", "show", p, "-f", "value", "-c", "status"],
                ) == "ACTIVE"
            })
        },
    )
    .expect("standalone agents' statuses seen by the stateless API");

    // Host B's port: B's stages, db's group named as the drop's cause.
    let trace = |args: &[&str]| on_a.ok(Path::new("/"), &[&["trace"][..], args].concat());
    let out = trace(&["--from", "b1", "--to", "b2", "tcp,tp_dst=22"]);
    let want = format!(
        "dropped in ls_out_acl: no ingress rule of security groups [db ({db})] on port b2 ({b2}) admits tcp/22 from 10.0.0.5"
    );
    assert!(out.contains(&want), "{want}\n{out}");
    assert!(out.contains(&format!("Trace from port b1 ({b1})")), "{out}");
    let out = trace(&["--from", "b1", "--to", "b2", "tcp,tp_dst=3306"]);
    assert!(
        out.contains(&format!("Verdict: output to port b2 ({b2})")),
        "delivered by B's switch to its own port:\n{out}"
    );
    // The physical flows are B's: its in_port for b1 is in the trace.
    let v: serde_json::Value =
        serde_json::from_str(&trace(&["--from", "b1", "icmp,nw_dst=10.0.0.4", "--json"]))
            .expect("json");
    let b1_ofport = on_b.ok(
        &agent_b.run_dir,
        &["vsctl", "get", "Interface", &common_tap(&b1), "ofport"],
    );
    let flow = v["trace"]["passes"][0]["flow"].as_str().unwrap_or_default();
    assert!(flow.contains(&format!("in_port={b1_ofport}")), "{flow}");
    // And host A's port is traced on A.
    let out = trace(&["--from", "a1", "--to", "b1", "tcp,tp_dst=3306"]);
    assert!(out.contains(&format!("Trace from port a1 ({a1})")), "{out}");

    // A port no agent has claimed: 409 naming it.
    let err = on_a.fails(&["trace", "--from", "c1", "icmp,nw_dst=10.0.0.4"]);
    assert!(
        err.contains("HTTP 409") && err.contains(&c1) && err.contains("not bound"),
        "{err}"
    );

    // B's agent stops answering: 504 naming the chassis, within the bound.
    agent_b.proc.signal("-STOP");
    let t0 = Instant::now();
    let err = on_a.fails(&["trace", "--from", "b1", "icmp,nw_dst=10.0.0.4"]);
    let took = t0.elapsed();
    assert!(err.contains("HTTP 504") && err.contains("hvb"), "{err}");
    assert!(
        took < Duration::from_secs(AGENT_TIMEOUT + 5),
        "answered after {took:?}"
    );
    // B's agent is gone (its lease not yet expired): 502 naming it.
    agent_b.proc.signal("-KILL");
    let _ = agent_b.proc.0.wait();
    let err = on_a.fails(&["trace", "--from", "b1", "icmp,nw_dst=10.0.0.4"]);
    assert!(
        err.contains("HTTP 502") && err.contains("hvb") && err.contains("unreachable"),
        "{err}"
    );
    // A still answers for its own ports.
    let out = trace(&["--from", "a1", "icmp,nw_dst=10.0.0.5"]);
    assert!(out.contains(&format!("Trace from port a1 ({a1})")), "{out}");
    drop(vms);
}

/// The TAP `port plug` names for a port (Neutron's `tap` + 11 characters).
fn common_tap(port_id: &str) -> String {
    format!("tap{}", port_id.chars().take(11).collect::<String>())
}
