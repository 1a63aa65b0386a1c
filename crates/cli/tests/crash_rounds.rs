//! Crash rounds (issue 12): `cloudnet serve` (API, store, switch and agent
//! in one process) is killed with SIGKILL at a random moment while a
//! client writes through the API, then restarted on the same data dir:
//! every write the API acknowledged is still there (and every acknowledged
//! delete still gone), the stored intent is consistent (references
//! resolve, no address or MAC given twice), and once the agent settles the
//! flows installed on br-int equal a fresh `Compiler::full` of the stored
//! intent with the persisted keys.
//!
//! CI: 3 rounds, each killed after a random number (1 to 150) of writes. The long run:
//! `CRASH_ROUNDS=20 CRASH_WRITES=1000 cargo test --release -p cli --test crash_rounds -- --nocapture`
//! (`CRASH_SEED` replays the kill times of a run).
//!
//! [`agent_crash_rounds`] does the same to a standalone `cloudnet agent`
//! (its switch in the same process; etcd and `serve --api-only` apart, all
//! in one host namespace): SIGKILL while it applies a stream of writes,
//! restart, and its flows must equal a fresh compile of the stored intent
//! with its bindings, and two VMs plugged before the first round must still
//! talk. CI: 3 rounds; longer:
//! `AGENT_CRASH_ROUNDS=20 CRASH_WRITES=300 cargo test --release -p cli --test crash_rounds agent_crash_rounds -- --nocapture`.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::Serve;
use lab::{Background, Lab, Netns};

mod common;

/// xorshift64*: the kill times and the write mix, from a printed seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `cloudnet serve` in `host` (killed with SIGKILL when dropped: no
/// shutdown path runs) and its API address.
fn start(host: &Netns, data: &Path) -> (Serve, SocketAddr) {
    let s = Serve::start(host, data);
    let addr = s
        .endpoint
        .trim_start_matches("http://")
        .parse()
        .expect("listen address");
    (s, addr)
}

/// One HTTP/1.1 request from inside `ns`; (status, body).
fn http(
    ns: &Netns,
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&serde_json::Value>,
) -> std::io::Result<(u16, String)> {
    let mut s = ns
        .tcp_connect(addr, Duration::from_secs(2))
        .map_err(std::io::Error::other)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: cloudnet\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp)?;
    let resp = String::from_utf8_lossy(&resp).into_owned();
    let (head, rest) = resp
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("truncated response"))?;
    let status: u16 = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other("no status"))?;
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(rest)
    } else {
        rest.to_string()
    };
    Ok((status, body))
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((len, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(len.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// What the client was told: resource (collection, id) → present.
type Acked = BTreeMap<(String, String), bool>;

/// The client's record: acknowledged writes, and each acknowledged
/// subnet's network.
#[derive(Default)]
struct Client {
    acked: Acked,
    subnet_net: BTreeMap<String, String>,
}

/// Writes until the server dies or `max` writes are done; every
/// acknowledged write goes into `acked`.
fn writes(
    ns: &Netns,
    addr: SocketAddr,
    max: u64,
    rng: &mut Rng,
    cl: &mut Client,
    count: &AtomicU64,
) -> u64 {
    let ids = |acked: &Acked, coll: &str| -> Vec<String> {
        acked
            .iter()
            .filter(|((c, _), present)| c == coll && **present)
            .map(|((_, id), _)| id.clone())
            .collect()
    };
    let mut done = 0;
    for _ in 0..max {
        let acked = &mut cl.acked;
        let nets = ids(acked, "networks");
        let subnets: Vec<(String, String)> = cl
            .subnet_net
            .iter()
            .map(|(s, n)| (s.clone(), n.clone()))
            .collect();
        let ports = ids(acked, "ports");
        let groups = ids(acked, "security-groups");
        let (method, coll, body) = match rng.below(6) {
            0 | 1 if !subnets.is_empty() => {
                let (_, net) = &subnets[rng.below(subnets.len() as u64) as usize];
                (
                    "POST",
                    "ports",
                    serde_json::json!({"port": {"network_id": net}}),
                )
            }
            2 if !ports.is_empty() => {
                let p = ports[rng.below(ports.len() as u64) as usize].clone();
                match http(ns, addr, "DELETE", &format!("/v2.0/ports/{p}"), None) {
                    Ok((204, _)) => {
                        cl.acked.insert(("ports".into(), p), false);
                        done += 1;
                        count.store(done, Ordering::Relaxed);
                        continue;
                    }
                    Ok((code, b)) => panic!("DELETE port {p}: {code} {b}"),
                    // Killed mid-request: the delete may or may not have
                    // been stored; the client cannot know either way.
                    Err(_) => {
                        cl.acked.remove(&("ports".to_string(), p));
                        break;
                    }
                }
            }
            3 if !groups.is_empty() => {
                let g = &groups[rng.below(groups.len() as u64) as usize];
                let port = 1000 + rng.below(1000);
                (
                    "POST",
                    "security-group-rules",
                    serde_json::json!({"security_group_rule": {
                        "security_group_id": g, "direction": "ingress", "ethertype": "IPv4",
                        "protocol": "tcp", "port_range_min": port, "port_range_max": port}}),
                )
            }
            4 => (
                "POST",
                "security-groups",
                serde_json::json!({"security_group": {"name": format!("g{done}")}}),
            ),
            _ => {
                // A network, or a subnet on a network that has none.
                let with: BTreeSet<String> = subnets.iter().map(|(_, n)| n.clone()).collect();
                let bare: Vec<&String> = nets.iter().filter(|n| !with.contains(*n)).collect();
                match bare.first() {
                    Some(n) if rng.below(2) == 0 => (
                        "POST",
                        "subnets",
                        serde_json::json!({"subnet": {"network_id": n, "ip_version": 4,
                            "cidr": format!("10.{}.{}.0/24", done % 200, rng.below(250))}}),
                    ),
                    _ => (
                        "POST",
                        "networks",
                        serde_json::json!({"network": {"name": format!("n{done}")}}),
                    ),
                }
            }
        };
        let Ok((code, b)) = http(ns, addr, method, &format!("/v2.0/{coll}"), Some(&body)) else {
            break; // killed mid-request: not acknowledged
        };
        if code == 409 && b.contains("SecurityGroupRuleExists") {
            continue; // the same port drawn twice: rightly refused
        }
        assert!(code == 201, "{method} {coll} {body}: {code} {b}");
        let v: serde_json::Value = serde_json::from_str(&b).expect("response JSON");
        let one = v
            .as_object()
            .and_then(|o| o.values().next())
            .expect("envelope");
        let id = one["id"].as_str().expect("id").to_string();
        if coll == "subnets" {
            let net = one["network_id"].as_str().unwrap_or_default().to_string();
            cl.subnet_net.insert(id.clone(), net);
        }
        if std::env::var("CRASH_LOG").is_ok() {
            eprintln!("acked {coll} {id}");
        }
        cl.acked.insert((coll.to_string(), id), true);
        done += 1;
        count.store(done, Ordering::Relaxed);
    }
    done
}

/// Every acknowledged write is there, every acknowledged delete gone, and
/// references in the store resolve.
fn verify(ns: &Netns, addr: SocketAddr, acked: &Acked) {
    for ((coll, id), present) in acked {
        let (code, b) = http(ns, addr, "GET", &format!("/v2.0/{coll}/{id}"), None).expect("GET");
        let want = if *present { 200 } else { 404 };
        assert_eq!(
            code, want,
            "acknowledged {coll} {id} (present: {present}): {b}"
        );
    }
    let list = |coll: &str, key: &str| -> Vec<serde_json::Value> {
        let (code, b) = http(ns, addr, "GET", &format!("/v2.0/{coll}"), None).expect("list");
        assert_eq!(code, 200, "{b}");
        let v: serde_json::Value = serde_json::from_str(&b).expect("JSON");
        v[key].as_array().cloned().unwrap_or_default()
    };
    let nets: BTreeSet<String> = list("networks", "networks")
        .iter()
        .filter_map(|n| n["id"].as_str().map(String::from))
        .collect();
    let subnets = list("subnets", "subnets");
    let subnet_ids: BTreeSet<String> = subnets
        .iter()
        .filter_map(|s| s["id"].as_str().map(String::from))
        .collect();
    for s in &subnets {
        assert!(
            nets.contains(s["network_id"].as_str().unwrap_or("")),
            "subnet on no network: {s}"
        );
    }
    let mut addrs = BTreeSet::new();
    let mut macs = BTreeSet::new();
    for p in list("ports", "ports") {
        assert!(
            nets.contains(p["network_id"].as_str().unwrap_or("")),
            "port on no network: {p}"
        );
        assert!(
            macs.insert(p["mac_address"].to_string()),
            "MAC given twice: {p}"
        );
        for f in p["fixed_ips"].as_array().into_iter().flatten() {
            let s = f["subnet_id"].as_str().unwrap_or("").to_string();
            assert!(subnet_ids.contains(&s), "port on no subnet: {p}");
            assert!(
                addrs.insert((s, f["ip_address"].to_string())),
                "address given twice: {p}"
            );
        }
    }
    let groups: BTreeSet<String> = list("security-groups", "security_groups")
        .iter()
        .filter_map(|g| g["id"].as_str().map(String::from))
        .collect();
    for r in list("security-group-rules", "security_group_rules") {
        let g = r["security_group_id"].as_str().unwrap_or("");
        assert!(groups.contains(g), "rule of no group: {r}");
    }
}

/// A flow in one canonical text (the `flow` crate's parse and print).
fn canon(text: &str) -> String {
    let t: Vec<&str> = text
        .trim()
        .split(", ")
        .filter(|t| {
            ![
                "duration=",
                "n_packets=",
                "n_bytes=",
                "idle_age=",
                "hard_age=",
            ]
            .iter()
            .any(|p| t.starts_with(p))
        })
        .collect();
    let t = t.join(",");
    let p = flow::parse_flow(&t).unwrap_or_else(|e| panic!("{t}: {e}"));
    flow::print::format_flow(&p.flow, None)
}

fn dump(s: &Serve) -> Option<BTreeSet<String>> {
    let out = s.run(&["ofctl", "dump-flows", "br-int"]);
    if !out.status.success() {
        return None;
    }
    Some(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.contains("cookie="))
            .map(canon)
            .collect(),
    )
}

/// The flows a fresh compile of the stored intent gives, with the keys the
/// agent persisted (no VM is plugged: no bindings).
fn fresh_compile(data: &Path) -> BTreeSet<String> {
    let store = store::RedbStore::open(data.join("cloudnet.redb")).expect("open store");
    let (st, _) = agent::state::load(&store).expect("load intent");
    let keys = agent::state::load_keys(&agent::keys_file(data)).expect("load keys");
    let mut c = controller::Compiler::new(controller::Keys::restore(&keys));
    c.full(&st, &controller::Bindings::default());
    c.flows().iter().map(|f| canon(&f.to_string())).collect()
}

#[test]
fn crash_rounds() {
    let Some(lab) = Lab::new_or_skip("crash_rounds") else {
        return;
    };
    let host = lab.netns("host").expect("host");
    let tmp = tempfile::tempdir().expect("tempdir");
    let data: PathBuf = tmp.path().join("data");
    let rounds = env_num("CRASH_ROUNDS", 3);
    let max_writes = env_num("CRASH_WRITES", 150).max(1);
    let seed = env_num(
        "CRASH_SEED",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(7, |d| d.as_nanos() as u64)
            | 1,
    );
    println!("crash rounds: CRASH_SEED={seed}");
    let mut rng = Rng(seed);
    let mut cl = Client::default();
    let (mut total_writes, mut flows_checked) = (0, 0);
    for round in 0..rounds {
        // Writes, killed at a random moment.
        // Writes, killed after a random number of them, with the next one
        // in flight (the writer goes on until the server is gone).
        let (child, addr) = start(&host, &data);
        let at = 1 + rng.below(max_writes);
        let count = Arc::new(AtomicU64::new(0));
        let seen = count.clone();
        let killer = std::thread::spawn(move || {
            let reached =
                lab::wait_until("writes before the kill", Duration::from_secs(60), || {
                    seen.load(Ordering::Relaxed) >= at
                });
            drop(child);
            reached.is_ok()
        });
        total_writes += writes(&host, addr, at + 1000, &mut rng, &mut cl, &count);
        assert!(
            killer.join().expect("killer"),
            "round {round}: {at} writes did not happen"
        );
        if std::env::var("CRASH_LOG").is_ok() {
            eprintln!("round {round}: killed");
        }
        // Restart: nothing acknowledged lost, the store consistent, and the
        // flows settle on a fresh compile of what is stored.
        let (child, addr) = start(&host, &data);
        verify(&host, addr, &cl.acked);
        let mut last = BTreeSet::new();
        lab::wait_until(
            "the agent's flows to settle",
            Duration::from_secs(30),
            || {
                let now = dump(&child).unwrap_or_default();
                let settled = !now.is_empty() && now == last;
                last = now;
                settled
            },
        )
        .expect("flows settle");
        drop(child);
        let want = fresh_compile(&data);
        let missing: Vec<_> = want.difference(&last).take(5).collect();
        let extra: Vec<_> = last.difference(&want).take(5).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "round {round}: installed flows differ from a fresh compile ({} vs {}): missing {missing:#?}, extra {extra:#?}",
            last.len(),
            want.len()
        );
        flows_checked += last.len();
    }
    println!(
        "crash rounds: {rounds} rounds, {total_writes} acknowledged writes, {} resources checked, {flows_checked} flows compared",
        cl.acked.len()
    );
}

/// etcd's client address inside the host namespace of the agent rounds.
const ETCD: &str = "127.0.0.1:2379";

/// One etcd member inside `ns` (on its loopback, where the API server and
/// the agent in that namespace reach it); stopped when dropped.
fn etcd_in(ns: &Netns, dir: &Path) -> Background {
    let dir = dir.to_string_lossy().into_owned();
    let client = format!("http://{ETCD}");
    let peer = "http://127.0.0.1:2380";
    let initial = format!("m0={peer}");
    let e = ns
        .spawn(&[
            "etcd",
            "--name",
            "m0",
            "--log-level",
            "error",
            "--data-dir",
            &dir,
            "--listen-client-urls",
            &client,
            "--advertise-client-urls",
            &client,
            "--listen-peer-urls",
            peer,
            "--initial-advertise-peer-urls",
            peer,
            "--initial-cluster",
            &initial,
        ])
        .expect("start etcd");
    let addr: SocketAddr = ETCD.parse().expect("addr");
    lab::wait_until("etcd listens", Duration::from_secs(30), || {
        ns.tcp_connect(addr, Duration::from_secs(1)).is_ok()
    })
    .expect("etcd up");
    e
}

/// `cloudnet agent` (switch in the same process, run dir `DATA/run`) in
/// `ns` on the etcd store; SIGKILLed when dropped.
fn agent_in(ns: &Netns, data: &Path) -> Background {
    let mut c = ns.command(&[common::BIN, "agent"]);
    c.args(["--store", &format!("etcd://{ETCD}"), "--host", "h1"])
        .args([
            "--underlay-ip",
            "192.0.2.1",
            "--encap",
            "vxlan",
            "--data-dir",
        ])
        .arg(data)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null());
    let a = Background::spawn(c, "cloudnet agent").expect("start agent");
    lab::wait_until(
        "the agent's switch answers",
        Duration::from_secs(20),
        || {
            vswitch::call(
                &data.join("run"),
                &vswitch::Request::Version,
                Duration::from_secs(1),
            )
            .is_ok()
        },
    )
    .expect("agent up");
    a
}

/// What a fresh agent would install: the stored intent (read from etcd
/// inside `ns`) compiled with the persisted keys and the switch's
/// bindings (plugged ports, the tunnel port; this chassis alone).
fn fresh_compile_chassis(ns: &Netns, data: &Path) -> BTreeSet<String> {
    let sw = agent::SwitchClient::new(&data.join("run"), agent::BRIDGE);
    let mut b = controller::Bindings {
        chassis: "h1".into(),
        ..Default::default()
    };
    for i in sw.interfaces().expect("interfaces") {
        match (i.external_ids.get("iface-id"), i.ofport) {
            (Some(id), Some(of)) => {
                b.ports.insert(id.clone(), of);
            }
            (None, Some(of)) if i.name == agent::tunnel_port("vxlan") => {
                b.tunnels.insert("vxlan".into(), of);
            }
            _ => {}
        }
    }
    let st = ns
        .run(|| {
            let store = store::open(&format!("etcd://{ETCD}")).expect("open etcd");
            agent::state::load(store.as_ref()).expect("load intent").0
        })
        .expect("enter namespace");
    let keys = agent::state::load_keys(&agent::keys_file(data)).expect("load keys");
    let mut c = controller::Compiler::new(controller::Keys::restore(&keys));
    c.full(&st, &b);
    c.flows().iter().map(|f| canon(&f.to_string())).collect()
}

/// The flows on br-int of the switch in `run_dir`.
fn dump_run_dir(run_dir: &Path) -> Option<BTreeSet<String>> {
    let req = vswitch::Request::DumpFlows {
        bridge: agent::BRIDGE.into(),
        matches: None,
    };
    let out = vswitch::call(run_dir, &req, Duration::from_secs(10)).ok()?;
    Some(
        out.lines()
            .filter(|l| l.contains("cookie="))
            .map(canon)
            .collect(),
    )
}

/// A standalone `cloudnet agent` (etcd store, the API server a separate
/// process) killed with SIGKILL while the API takes writes and the agent
/// applies them, then restarted: its flows settle on a fresh compile of
/// the stored intent, and two VMs plugged before the first round still
/// talk. CI: 3 rounds (1–60 writes before each kill); longer:
/// `AGENT_CRASH_ROUNDS=20 CRASH_WRITES=300`.
#[test]
fn agent_crash_rounds() {
    let Some((lab, bb, tmp, host)) = common::bench("agent_crash_rounds") else {
        return;
    };
    if !lab::etcd::available() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "agent_crash_rounds: etcd not found; CI=true, so this fails: run scripts/deps.sh"
        );
        eprintln!("skipping agent_crash_rounds: no etcd (run scripts/deps.sh)");
        return;
    }
    let data: PathBuf = tmp.path().join("data");
    std::fs::create_dir_all(&data).expect("data dir");
    let _etcd = etcd_in(&host, &tmp.path().join("etcd"));
    let store = format!("etcd://{ETCD}");
    let (api, addr) = {
        let s = Serve::start_with(&host, &data, &["--api-only", "--store", &store]);
        let a: SocketAddr = s
            .endpoint
            .trim_start_matches("http://")
            .parse()
            .expect("addr");
        (s, a)
    };
    let mut agent = Some(agent_in(&host, &data));
    // Two VMs whose traffic must survive every kill.
    api.network("vmnet", "10.99.0.0/24");
    let p1 = api.create(&["port", "create", "v1", "--network", "vmnet"]);
    let p2 = api.create(&["port", "create", "v2", "--network", "vmnet"]);
    let (v1, _) = common::vm(&lab, &api, &bb, "v1", &p1, tmp.path());
    let (_v2, ip2) = common::vm(&lab, &api, &bb, "v2", &p2, tmp.path());
    assert!(common::pings(&v1, ip2), "VMs ping before the rounds");

    let rounds = env_num("AGENT_CRASH_ROUNDS", 3);
    let max_writes = env_num("CRASH_WRITES", 60).max(1);
    let seed = env_num("CRASH_SEED", u64::from(std::process::id()) | 1);
    println!("agent crash rounds: CRASH_SEED={seed}");
    let mut rng = Rng(seed);
    let mut cl = Client::default();
    let (mut total_writes, mut flows_checked) = (0, 0);
    let run_dir = data.join("run");
    for round in 0..rounds {
        let at = 1 + rng.below(max_writes);
        let count = Arc::new(AtomicU64::new(0));
        let seen = count.clone();
        let victim = agent.take();
        let killer = std::thread::spawn(move || {
            let reached =
                lab::wait_until("writes before the kill", Duration::from_secs(60), || {
                    seen.load(Ordering::Relaxed) >= at
                });
            drop(victim); // SIGKILL, mid-apply: writes keep coming
            reached.is_ok()
        });
        // Writes go on past the kill (the API is up): the restarted agent
        // has to catch up with what it missed.
        total_writes += writes(&host, addr, at + 10, &mut rng, &mut cl, &count);
        assert!(
            killer.join().expect("killer"),
            "round {round}: {at} writes did not happen"
        );
        agent = Some(agent_in(&host, &data));
        verify(&host, addr, &cl.acked);
        // The restarted switch starts with the default flow only: wait
        // for what a fresh agent would install (the writes have stopped).
        let (mut last, mut want) = (BTreeSet::new(), BTreeSet::new());
        let settled = lab::wait_until("the agent's flows", Duration::from_secs(30), || {
            last = dump_run_dir(&run_dir).unwrap_or_default();
            want = fresh_compile_chassis(&host, &data);
            last == want
        });
        let missing: Vec<_> = want.difference(&last).take(5).collect();
        let extra: Vec<_> = last.difference(&want).take(5).collect();
        assert!(
            settled.is_ok(),
            "round {round}: installed flows differ from a fresh compile ({} vs {}): missing {missing:#?}, extra {extra:#?}",
            last.len(),
            want.len()
        );
        flows_checked += last.len();
        lab::wait_until(
            "VMs ping after the restart",
            Duration::from_secs(10),
            || common::pings(&v1, ip2),
        )
        .unwrap_or_else(|_| panic!("round {round}: no traffic after the agent's restart"));
    }
    println!(
        "agent crash rounds: {rounds} rounds, {total_writes} acknowledged writes, {flows_checked} flows compared, VM traffic after every restart"
    );
    drop(agent);
}
