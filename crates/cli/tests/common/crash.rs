//! Shared by the crash-round tests (`crash_rounds.rs`,
//! `crash_rounds_hosts.rs`): a seeded random source, an API client that
//! writes through raw HTTP/1.1 and records what was acknowledged, the
//! consistency check after a restart, canonical flow text, and etcd and a
//! standalone `cloudnet agent` in a namespace.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use lab::{Background, Netns};

/// xorshift64*: the kill times and the write mix, from a printed seed.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

pub fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The agent crash rounds' settings from the environment:
/// `AGENT_CRASH_ROUNDS` rounds (3), at most `CRASH_WRITES` writes before
/// each kill (60), and the random source seeded by `CRASH_SEED` (the
/// process id), which is printed after `label` so that a run can be
/// replayed.
pub fn agent_rounds_env(label: &str) -> (u64, u64, Rng) {
    let rounds = env_num("AGENT_CRASH_ROUNDS", 3);
    let max_writes = env_num("CRASH_WRITES", 60).max(1);
    let seed = env_num("CRASH_SEED", u64::from(std::process::id()) | 1);
    println!("{label}: CRASH_SEED={seed}");
    (rounds, max_writes, Rng(seed))
}

/// One HTTP/1.1 request from inside `ns`; (status, body).
pub fn http(
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
pub type Acked = BTreeMap<(String, String), bool>;

/// The client's record: acknowledged writes, and each acknowledged
/// subnet's network.
#[derive(Default)]
pub struct Client {
    pub acked: Acked,
    pub subnet_net: BTreeMap<String, String>,
}

/// Writes until the server dies or `max` writes are done; every
/// acknowledged write goes into `acked`.
pub fn writes(
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

/// One round's writes with a crash: `victim` (a server or an agent,
/// SIGKILLed when dropped) is dropped by another thread once `at` writes
/// are acknowledged, with the next request in flight, while the writer
/// goes on for up to `at + after` writes (or until the API is gone, when
/// the victim served it). The writes acknowledged, or an error when `at`
/// writes never happened.
pub fn writes_killing<T: Send + 'static>(
    ns: &Netns,
    addr: SocketAddr,
    victim: T,
    (at, after): (u64, u64),
    rng: &mut Rng,
    cl: &mut Client,
) -> Result<u64, String> {
    let count = Arc::new(AtomicU64::new(0));
    let seen = count.clone();
    let killer = std::thread::spawn(move || {
        let reached = lab::wait_until("writes before the kill", Duration::from_secs(60), || {
            seen.load(Ordering::Relaxed) >= at
        });
        drop(victim); // SIGKILL
        reached.is_ok()
    });
    let done = writes(ns, addr, at + after, rng, cl, &count);
    match killer.join() {
        Ok(true) => Ok(done),
        Ok(false) => Err(format!("{at} writes did not happen")),
        Err(_) => Err("the killer thread panicked".into()),
    }
}

/// `None` when the installed flows `got` equal a fresh compile's `want`;
/// otherwise what differs (counts, and up to five missing and five extra).
pub fn flow_diff(got: &BTreeSet<String>, want: &BTreeSet<String>) -> Option<String> {
    let missing: Vec<_> = want.difference(got).take(5).collect();
    let extra: Vec<_> = got.difference(want).take(5).collect();
    (!missing.is_empty() || !extra.is_empty()).then(|| {
        format!(
            "installed flows differ from a fresh compile ({} vs {}): missing {missing:#?}, extra {extra:#?}",
            got.len(),
            want.len()
        )
    })
}

/// Waits (30 s at most) until the flows on br-int of the agent whose data
/// dir is `data` (switch in `data/run`) equal [`fresh_compile_host`] of
/// chassis `me`; how many there are, or what still differs at the deadline.
pub fn await_fresh_compile(ns: &Netns, data: &Path, etcd: &str, me: &str) -> Result<usize, String> {
    let run_dir = data.join("run");
    let (mut last, mut want) = (BTreeSet::new(), BTreeSet::new());
    let settled = lab::wait_until("the agent's flows", Duration::from_secs(30), || {
        last = dump_run_dir(&run_dir).unwrap_or_default();
        want = fresh_compile_host(ns, data, etcd, me);
        last == want
    });
    match (settled, flow_diff(&last, &want)) {
        (Ok(()), _) => Ok(last.len()),
        (Err(_), Some(d)) => Err(d),
        (Err(e), None) => Err(format!("{e:?}")),
    }
}

/// Every acknowledged write is there, every acknowledged delete gone, and
/// references in the store resolve.
pub fn verify(ns: &Netns, addr: SocketAddr, acked: &Acked) {
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
    for shared in check_ports(&list("ports", "ports"), &nets, &subnet_ids) {
        println!("verify: {shared} (allowed: a MAC is unique per network)");
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

/// Panics when a port (from `GET /v2.0/ports`) is on no network of
/// `nets` or no subnet of `subnets`, or when a MAC or a fixed address is
/// given twice where it must be unique; returns the MACs that more than
/// one network holds, which is allowed. A MAC is unique on its network
/// only: Neutron's ports table has the unique constraint (network_id,
/// mac_address) (neutron/db/models_v2.py), and the API draws MACs at
/// random, so two networks may well hold the same one.
pub fn check_ports(
    ports: &[serde_json::Value],
    nets: &BTreeSet<String>,
    subnets: &BTreeSet<String>,
) -> Vec<String> {
    let mut addrs = BTreeSet::new();
    let mut macs: BTreeMap<(String, String), &serde_json::Value> = BTreeMap::new();
    for p in ports {
        let net = p["network_id"].as_str().unwrap_or("").to_string();
        assert!(nets.contains(&net), "port on no network: {p}");
        let mac = p["mac_address"].as_str().unwrap_or("").to_string();
        if let Some(first) = macs.insert((net, mac), p) {
            panic!("MAC given twice on one network: {first} and {p}");
        }
        for f in p["fixed_ips"].as_array().into_iter().flatten() {
            let s = f["subnet_id"].as_str().unwrap_or("").to_string();
            assert!(subnets.contains(&s), "port on no subnet: {p}");
            assert!(
                addrs.insert((s, f["ip_address"].to_string())),
                "address given twice: {p}"
            );
        }
    }
    let mut networks_of: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, mac) in macs.keys() {
        *networks_of.entry(mac).or_default() += 1;
    }
    networks_of
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .map(|(mac, n)| format!("MAC {mac} on {n} networks"))
        .collect()
}

/// A flow in one canonical text (the `flow` crate's parse and print).
pub fn canon(text: &str) -> String {
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

/// Whether etcd is installed; under `CI=true` its absence fails `test`
/// (CI must not pass by skipping), elsewhere it skips saying why.
pub fn have_etcd(test: &str) -> bool {
    if lab::etcd::available() {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{test}: etcd not found; CI=true, so this fails: run scripts/deps.sh"
    );
    eprintln!("skipping {test}: no etcd (run scripts/deps.sh)");
    false
}

/// etcd's client address inside the host namespace of the agent rounds.
pub const ETCD: &str = "127.0.0.1:2379";

/// One etcd member inside `ns` (on its loopback, where the API server and
/// the agent in that namespace reach it); stopped when dropped.
pub fn etcd_in(ns: &Netns, dir: &Path) -> Background {
    etcd_at(ns, dir, "127.0.0.1")
}

/// One etcd member inside `ns` listening on `ip` (port 2379, peers on
/// 2380); stopped when dropped.
pub fn etcd_at(ns: &Netns, dir: &Path, ip: &str) -> Background {
    let dir = dir.to_string_lossy().into_owned();
    let client = format!("http://{ip}:2379");
    let peer = format!("http://{ip}:2380");
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
            &peer,
            "--initial-advertise-peer-urls",
            &peer,
            "--initial-cluster",
            &initial,
        ])
        .expect("start etcd");
    let addr: SocketAddr = format!("{ip}:2379").parse().expect("addr");
    lab::wait_until("etcd listens", Duration::from_secs(30), || {
        ns.tcp_connect(addr, Duration::from_secs(1)).is_ok()
    })
    .expect("etcd up");
    e
}

/// `cloudnet agent` (switch in the same process, run dir `DATA/run`) in
/// `ns` on the etcd store, as chassis `h1`; SIGKILLed when dropped.
pub fn agent_in(ns: &Netns, data: &Path) -> Background {
    agent_as(ns, data, ETCD, "h1", "192.0.2.1")
}

/// [`agent_in`] on the etcd at `etcd` (`IP:PORT`), as chassis `host` with
/// underlay address `underlay` (VXLAN).
pub fn agent_as(ns: &Netns, data: &Path, etcd: &str, host: &str, underlay: &str) -> Background {
    let mut c = ns.command(&[super::BIN, "agent"]);
    c.args(["--store", &format!("etcd://{etcd}"), "--host", host])
        .args(["--underlay-ip", underlay, "--encap", "vxlan", "--data-dir"])
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

/// The flows on br-int of the switch in `run_dir`.
pub fn dump_run_dir(run_dir: &Path) -> Option<BTreeSet<String>> {
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

/// What a fresh agent on chassis `me` would install: the stored intent
/// (read from the etcd at `etcd` inside `ns`) compiled with the keys
/// persisted in `data` and the bindings the agent derives (as
/// `agent::multi` does): its plugged ports and tunnel port from the
/// switch, the other live chassis from the store, and the ports bound on
/// them on the networks in this chassis' scope.
pub fn fresh_compile_host(ns: &Netns, data: &Path, etcd: &str, me: &str) -> BTreeSet<String> {
    let sw = agent::SwitchClient::new(&data.join("run"), agent::BRIDGE);
    let mut b = controller::Bindings {
        chassis: me.into(),
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
    let (st, cluster) = ns
        .run(|| {
            let store = store::open(&format!("etcd://{etcd}")).expect("open etcd");
            let st = agent::state::load(store.as_ref()).expect("load intent").0;
            let cluster = agent::cluster::Cluster::load(store.as_ref()).expect("load chassis");
            (st, cluster)
        })
        .expect("enter namespace");
    b.remote_chassis = cluster.remote_chassis(me);
    if let Some(scope) = controller::Scope::of(&st, &b) {
        for net in &scope.networks {
            for p in st.ports_on_network(net) {
                let id = &p.meta.id;
                match cluster.bindings.get(id) {
                    Some(ch) if b.remote_chassis.contains_key(ch) && !b.ports.contains_key(id) => {
                        b.remote_ports.insert(id.clone(), ch.clone());
                    }
                    _ => {}
                }
            }
        }
    }
    let keys = agent::state::load_keys(&agent::keys_file(data)).expect("load keys");
    let mut c = controller::Compiler::new(controller::Keys::restore(&keys));
    c.full(&st, &b);
    c.flows().iter().map(|f| canon(&f.to_string())).collect()
}
