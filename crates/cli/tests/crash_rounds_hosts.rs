//! Agent crash rounds on several hosts (issue 12): three host namespaces
//! on an underlay, each running a standalone `cloudnet agent` (its switch
//! in the same process) on one etcd; `cloudnet serve --api-only` on the
//! same etcd takes a stream of writes, and each round a randomly chosen
//! agent is killed with SIGKILL mid-stream and restarted. Afterwards the
//! store keeps every acknowledged write (`common::crash::verify`), every
//! host's flows settle on a fresh compile of its own scope (its plugged
//! ports, the other chassis and the ports bound on them:
//! `common::crash::fresh_compile_host`), and VMs on different hosts ping
//! each other through the VXLAN tunnels.
//!
//! CI: 3 rounds (1–60 writes before each kill). The long run:
//! `AGENT_CRASH_ROUNDS=20 CRASH_WRITES=1000 CRASH_SEED=20261124 cargo test --release -p cli --test crash_rounds_hosts -- --nocapture`.

mod common;

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::crash::{
    agent_as, agent_rounds_env, await_fresh_compile, etcd_at, have_etcd, verify, writes_killing,
    Client,
};
use common::Serve;
use lab::{Background, Lab, Netns};

/// Hosts in the rounds.
const HOSTS: usize = 3;
/// etcd's address: host 0's underlay address (the API listens on host
/// 0's loopback).
const ETCD_IP: &str = "10.200.0.1";

/// One host: its namespace on the underlay, data dir (the agent's run dir
/// is `data/run`), the agent while it runs.
struct Site {
    agent: Option<Background>,
    name: String,
    ip: String,
    data: PathBuf,
    host: lab::Host,
}

impl Site {
    fn start_agent(&mut self) {
        let etcd = format!("{ETCD_IP}:2379");
        self.agent = Some(agent_as(
            self.host.ns(),
            &self.data,
            &etcd,
            &self.name,
            &self.ip,
        ));
    }
}

/// A VM namespace on `port`, plugged on `site` by `cloudnet port plug`
/// with the site's run dir (run in host 0's namespace, where the API
/// listens on the loopback: the CLI reaches the switch through its
/// control socket's path), addressed by the local switch's DHCP.
fn vm(lab: &Lab, api: &Serve, bb: &Path, site: &Site, port: &str, dir: &Path) -> (Netns, IpAddr) {
    let short = format!("v{}", site.name);
    let ns = lab.netns(&short).expect("netns");
    let tap = common::cloudnet(
        &api.host,
        &api.endpoint,
        &site.data.join("run"),
        &["port", "plug", port, "--netns", ns.name()],
    );
    assert!(tap.starts_with("tap"), "plug printed {tap:?}");
    let d = dir.join(&short);
    std::fs::create_dir_all(&d).expect("dir");
    let lease =
        lab::dhcp::udhcpc(&ns, bb, "eth0", &[], &d, Duration::from_secs(20)).expect("DHCP lease");
    let ip = lease.get("ip").expect("ip").parse().expect("ip");
    (ns, ip)
}

/// Every VM pings the next one (a ring over the hosts), within `within`.
fn ring_pings(vms: &[(Netns, IpAddr)], within: Duration) -> Result<(), String> {
    for (i, (from, _)) in vms.iter().enumerate() {
        let to = vms[(i + 1) % vms.len()].1;
        lab::wait_until("a VM pings the next host's", within, || {
            common::pings(from, to)
        })
        .map_err(|_| format!("{} cannot ping {to}", from.name()))?;
    }
    Ok(())
}

#[test]
fn agent_crash_rounds_several_hosts() {
    let Some(lab) = Lab::new_or_skip("crash_hosts") else {
        return;
    };
    let Some(bb) = lab::dhcp::busybox("crash_hosts") else {
        return;
    };
    if !have_etcd("agent_crash_rounds_several_hosts") {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut sites: Vec<Site> = (0..HOSTS)
        .map(|i| {
            let (name, ip) = (format!("h{i}"), format!("10.200.0.{}", i + 1));
            let host = lab
                .host_with_ip(&name, format!("{ip}/24").parse().expect("cidr"))
                .expect("host");
            let data = tmp.path().join(&name);
            std::fs::create_dir_all(&data).expect("data dir");
            Site {
                agent: None,
                name,
                ip,
                data,
                host,
            }
        })
        .collect();
    let h0 = sites[0].host.ns();
    let _etcd = etcd_at(h0, &tmp.path().join("etcd"), ETCD_IP);
    let etcd = format!("{ETCD_IP}:2379");
    let store = format!("etcd://{etcd}");
    let api = Serve::start_with(
        h0,
        &tmp.path().join("api"),
        &["--api-only", "--store", &store],
    );
    let addr = api.addr();
    sites.iter_mut().for_each(Site::start_agent);
    // One VM per host on one network: its traffic crosses the tunnels.
    api.network("vmnet", "10.99.0.0/24");
    let vms: Vec<(Netns, IpAddr)> = sites
        .iter()
        .map(|s| {
            let p = api.create(&[
                "port",
                "create",
                &format!("p{}", s.name),
                "--network",
                "vmnet",
            ]);
            vm(&lab, &api, &bb, s, &p, tmp.path())
        })
        .collect();
    ring_pings(&vms, Duration::from_secs(20)).expect("VMs ping before the rounds");

    let (rounds, max_writes, mut rng) =
        agent_rounds_env(&format!("agent crash rounds on {HOSTS} hosts"));
    let mut cl = Client::default();
    let (mut total_writes, mut flows_checked) = (0, 0);
    let mut kills = vec![0u32; HOSTS];
    let h0 = sites[0].host.ns().name().to_owned();
    for round in 0..rounds {
        let k = rng.below(HOSTS as u64) as usize;
        kills[k] += 1;
        let at = 1 + rng.below(max_writes);
        // SIGKILL, mid-apply: writes keep coming.
        let victim = sites[k].agent.take();
        total_writes += writes_killing(
            sites[0].host.ns(),
            addr,
            victim,
            (at, 10),
            &mut rng,
            &mut cl,
        )
        .unwrap_or_else(|e| panic!("round {round}: {e}"));
        sites[k].start_agent();
        verify(sites[0].host.ns(), addr, &cl.acked);
        // Every host, not only the restarted one: the others saw its
        // chassis and claims go and come back.
        for s in &sites {
            flows_checked += await_fresh_compile(s.host.ns(), &s.data, &etcd, &s.name)
                .unwrap_or_else(|e| {
                    panic!(
                        "round {round} (killed {} in {h0}'s cloud): {}'s {e}",
                        sites[k].name, s.name
                    )
                });
        }
        ring_pings(&vms, Duration::from_secs(15))
            .unwrap_or_else(|e| panic!("round {round}: after {}'s restart: {e}", sites[k].name));
    }
    println!(
        "agent crash rounds on {HOSTS} hosts: {rounds} rounds (kills per host {kills:?}), \
         {total_writes} acknowledged writes, {flows_checked} flows compared, \
         VMs on different hosts ping after every restart"
    );
    for s in &mut sites {
        s.agent.take();
    }
}
