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

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::crash::{
    agent_in, agent_rounds_env, await_fresh_compile, canon, check_ports, env_num, etcd_in,
    flow_diff, have_etcd, verify, writes_killing, Client, Rng, ETCD,
};
use common::Serve;
use lab::{Lab, Netns};

mod common;

/// `cloudnet serve` in `host` (killed with SIGKILL when dropped: no
/// shutdown path runs) and its API address.
fn start(host: &Netns, data: &Path) -> (Serve, SocketAddr) {
    let s = Serve::start(host, data);
    let addr = s.addr();
    (s, addr)
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

/// Two ports for [`check_ports`]: on networks `n1`/`n2`, MACs `m1`/`m2`.
fn two_ports(n1: &str, m1: &str, n2: &str, m2: &str) -> Vec<serde_json::Value> {
    let port = |n: &str, m: &str, ip: &str| {
        serde_json::json!({"network_id": n, "mac_address": m,
            "fixed_ips": [{"subnet_id": format!("{n}-sub"), "ip_address": ip}]})
    };
    vec![port(n1, m1, "10.0.0.2"), port(n2, m2, "10.0.0.3")]
}

fn check_two(ports: &[serde_json::Value]) -> Vec<String> {
    let nets = ["a", "b"].map(String::from).into();
    let subnets = ["a-sub", "b-sub"].map(String::from).into();
    check_ports(ports, &nets, &subnets)
}

/// A long run of `crash_rounds_hosts` (seed 20261124) failed with "MAC
/// given twice" under a check that wanted MACs unique across all networks.
/// Neutron wants them unique per network only, and the API draws them at
/// random from 24 bits, so with ~1,000 ports two networks may share one:
/// the check is per network, and a repeat on one network names both ports.
#[test]
fn a_mac_may_repeat_across_networks_only() {
    let mac = "fa:16:3e:56:43:55";
    assert_eq!(
        check_two(&two_ports("a", mac, "b", mac)),
        vec![format!("MAC {mac} on 2 networks")]
    );
    assert!(check_two(&two_ports("a", mac, "b", "fa:16:3e:00:00:01")).is_empty());
    let same = std::panic::catch_unwind(|| check_two(&two_ports("a", mac, "a", mac)));
    let msg = same.expect_err("one MAC twice on one network");
    let msg = msg.downcast_ref::<String>().map_or("", String::as_str);
    assert!(msg.contains("MAC given twice on one network"), "{msg}");
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
        // Writes, killed after a random number of them, with the next one
        // in flight (the writer goes on until the server is gone).
        let (child, addr) = start(&host, &data);
        let at = 1 + rng.below(max_writes);
        total_writes += writes_killing(&host, addr, child, (at, 1000), &mut rng, &mut cl)
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
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
        if let Some(d) = flow_diff(&last, &fresh_compile(&data)) {
            panic!("round {round}: {d}");
        }
        flows_checked += last.len();
    }
    println!(
        "crash rounds: {rounds} rounds, {total_writes} acknowledged writes, {} resources checked, {flows_checked} flows compared",
        cl.acked.len()
    );
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
    if !have_etcd("agent_crash_rounds") {
        return;
    }
    let data: PathBuf = tmp.path().join("data");
    std::fs::create_dir_all(&data).expect("data dir");
    let _etcd = etcd_in(&host, &tmp.path().join("etcd"));
    let store = format!("etcd://{ETCD}");
    let api = Serve::start_with(&host, &data, &["--api-only", "--store", &store]);
    let addr = api.addr();
    let mut agent = Some(agent_in(&host, &data));
    // Two VMs whose traffic must survive every kill.
    api.network("vmnet", "10.99.0.0/24");
    let p1 = api.create(&["port", "create", "v1", "--network", "vmnet"]);
    let p2 = api.create(&["port", "create", "v2", "--network", "vmnet"]);
    let (v1, _) = common::vm(&lab, &api, &bb, "v1", &p1, tmp.path());
    let (_v2, ip2) = common::vm(&lab, &api, &bb, "v2", &p2, tmp.path());
    assert!(common::pings(&v1, ip2), "VMs ping before the rounds");

    let (rounds, max_writes, mut rng) = agent_rounds_env("agent crash rounds");
    let mut cl = Client::default();
    let (mut total_writes, mut flows_checked) = (0, 0);
    for round in 0..rounds {
        let at = 1 + rng.below(max_writes);
        // SIGKILL, mid-apply. Writes go on past the kill (the API is up):
        // the restarted agent has to catch up with what it missed.
        let victim = agent.take();
        total_writes += writes_killing(&host, addr, victim, (at, 10), &mut rng, &mut cl)
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        agent = Some(agent_in(&host, &data));
        verify(&host, addr, &cl.acked);
        // The restarted switch starts with the default flow only: wait
        // for what a fresh agent would install (the writes have stopped).
        flows_checked += await_fresh_compile(&host, &data, ETCD, "h1")
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
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
