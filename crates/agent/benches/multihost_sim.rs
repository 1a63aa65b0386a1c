//! Scale by simulation (issue 10): many chassis, each a real agent (store
//! watch, claims, compile, deltas) on a dry-run datapath that records
//! flows, all sharing one embedded store. A new port is written to the
//! store and its TAP plugged on one chassis; measured is the time until
//! every relevant agent — the chassis hosting ports of its network; the
//! others compile nothing of it (controller `locality`) — has installed
//! the port's physical-egress flow (local delivery on its host, the tunnel
//! to its chassis on the others), the store events per change, and the
//! memory per agent.
//!
//! `cargo bench -p agent --bench multihost_sim` — sizes from the
//! environment: `SIM_CHASSIS` (100), `SIM_PORTS` (2000), `SIM_ITER` (30);
//! `SIM_TIMEOUT` (seconds, 900) bounds the whole run: past it the bench
//! stops with a message naming the phase it was in.

#[path = "../../controller/tests/common/mod.rs"]
mod common;
#[path = "sim/counting.rs"]
mod counting;
#[path = "sim/cpu.rs"]
mod cpu;
#[path = "../tests/store_ops/mod.rs"]
mod store_ops;

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use agent::dryrun::DryRun;
use common::Builder;
use model::Resource;
use store::Store;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// The run's time budget ([`SIM_TIMEOUT`]): every wait checks it.
struct Budget {
    until: Instant,
    secs: usize,
}

impl Budget {
    fn check(&self, phase: &str) {
        if Instant::now() >= self.until {
            eprintln!(
                "multihost_sim: SIM_TIMEOUT={}s exceeded while {phase}; \
                 try fewer SIM_CHASSIS / SIM_PORTS / SIM_ITER",
                self.secs
            );
            std::process::exit(2);
        }
    }
}

fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort_unstable();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i.min(v.len() - 1)]
}

/// Chassis hosting port `j` of network `n`: each network spans three.
fn host_of(n: usize, j: usize, chassis: usize) -> usize {
    (n * 3 + j % 3) % chassis
}

fn main() {
    let chassis = env("SIM_CHASSIS", 100);
    let ports = env("SIM_PORTS", 2000);
    let iters = env("SIM_ITER", 30);
    let secs = env("SIM_TIMEOUT", 900);
    let budget = Budget {
        until: Instant::now() + Duration::from_secs(secs as u64),
        secs,
    };
    let nets = ports.div_ceil(10);
    let tmp = tempfile::tempdir().expect("tmp");
    let counted = Arc::new(counting::Counting::new(
        store::RedbStore::open(tmp.path().join("s.redb")).expect("store"),
    ));
    let store: Arc<dyn Store> = counted.clone();

    // The intent: `nets` VXLAN networks of 10 ports, one default group
    // (egress any, ingress from itself) per project of 10 networks.
    let mut x = Builder::default();
    let mut plugs: Vec<(usize, String)> = Vec::new();
    let mut subnets = Vec::new();
    let mut group = String::new();
    for n in 0..nets {
        if n % 10 == 0 {
            group = x.group(&format!("p{}", n / 10));
            x.rule(&group, "egress", None, None, None, None);
            x.rule(&group, "ingress", None, None, None, Some(&group.clone()));
        }
        let net = x.network(&format!("p{}", n / 10));
        let sub = x.subnet(&net, "10.0.0.0/24", Some("10.0.0.1"));
        for j in 0..10 {
            let p = x.port(&net, &sub, &format!("10.0.0.{}", 10 + j), &[&group]);
            plugs.push((host_of(n, j, chassis), p));
        }
        subnets.push((net, sub, group.clone()));
    }
    let ops = store_ops::intent(&x.st);
    for chunk in ops.chunks(1000) {
        store.commit(&[], chunk).expect("commit");
    }

    let dps: Vec<Arc<DryRun>> = (0..chassis).map(|_| Arc::new(DryRun::default())).collect();
    for (c, p) in &plugs {
        dps[*c].plug(&format!("tap{}", &p[..p.len().min(11)]), p);
    }
    let rss0 = rss_kib();
    let t_start = Instant::now();
    let cpu_start = cpu::process_cpu();
    let stop = Arc::new(AtomicBool::new(false));
    let tids: Arc<Vec<AtomicU32>> = Arc::new((0..chassis).map(|_| AtomicU32::new(0)).collect());
    let mut threads = Vec::new();
    for (c, dp) in dps.iter().enumerate() {
        budget.check("starting the agents");
        let dir = tmp.path().join(format!("c{c}"));
        std::fs::create_dir_all(&dir).expect("dir");
        let ip = std::net::Ipv4Addr::new(10, 200, (c / 250) as u8, (c % 250 + 1) as u8);
        let ttl = Duration::from_secs(60);
        let cfg = store_ops::chassis_config(&dir, &format!("c{c:03}"), ip, Default::default(), ttl);
        let mut a = agent::Agent::with_datapath(cfg, store.clone(), None, Box::new(dp.clone()))
            .expect("agent");
        a.start().expect("start");
        let s = stop.clone();
        let t = tids.clone();
        threads.push(std::thread::spawn(move || {
            t[c].store(cpu::my_tid().unwrap_or(0), Ordering::Relaxed);
            a.run(&s).expect("run")
        }));
    }
    let started = t_start.elapsed();
    // Converged: every port claimed, every agent idle.
    while store
        .list(agent::cluster::PORT_BINDINGS)
        .map_or(0, |v| v.len())
        < ports
    {
        budget.check("waiting for every port to be claimed");
        std::thread::sleep(Duration::from_millis(100));
    }
    let settle = |dps: &[Arc<DryRun>]| {
        let mut last: Vec<u64> = dps.iter().map(|d| d.counts().1).collect();
        loop {
            budget.check("waiting for the agents to settle");
            std::thread::sleep(Duration::from_millis(500));
            let now: Vec<u64> = dps.iter().map(|d| d.counts().1).collect();
            if now == last {
                break;
            }
            last = now;
        }
    };
    settle(&dps);
    let converged = t_start.elapsed();
    let start_cpu = cpu::process_cpu() - cpu_start;
    let rss1 = rss_kib();
    let flows: usize = dps.iter().map(|d| d.counts().0).sum::<usize>() / chassis;
    let agent_cpu = || -> Vec<Duration> {
        tids.iter()
            .map(|t| cpu::thread_cpu(t.load(Ordering::Relaxed)))
            .collect()
    };
    // Idle cost: what the agents spend with nothing changing (the
    // periodic poll of the switch's interfaces).
    let quiet = Duration::from_secs(2);
    let before = agent_cpu();
    std::thread::sleep(quiet);
    let idle: Duration = agent_cpu()
        .iter()
        .zip(&before)
        .map(|(a, b)| a.saturating_sub(*b))
        .sum::<Duration>()
        / chassis as u32;
    let idle_per_s = idle.as_secs_f64() / quiet.as_secs_f64();

    // Measured changes: a new port on network k, plugged on its first
    // chassis.
    let mut all = Vec::new();
    let mut events = Vec::new();
    let mut ev_bytes = 0;
    let mut strays = 0;
    // CPU per change: on the agents of the port's network, on the others.
    let (mut cpu_rel, mut n_rel) = (Duration::ZERO, 0u32);
    let (mut cpu_out, mut n_out) = (Duration::ZERO, 0u32);
    let mut window = Duration::ZERO;
    let reads0 = counted.reads();
    let (wall_meas, cpu_meas) = (Instant::now(), cpu::process_cpu());
    for k in 0..iters {
        let n = (k * 7) % nets;
        let (net, sub, group) = &subnets[n];
        let id = x.port(net, sub, &format!("10.0.0.{}", 100 + k % 100), &[group]);
        let port = Resource::Port(x.st.ports[&id].clone());
        let needle = format!(
            "cookie={:#x},table=64,",
            controller::Owner::Port(id.clone()).cookie()
        );
        for d in &dps {
            d.watch_for(&needle);
        }
        let host = host_of(n, 0, chassis);
        let peers: Vec<usize> = (0..10).map(|j| host_of(n, j, chassis)).collect();
        let relevant: Vec<&Arc<DryRun>> = peers.iter().map(|&c| &dps[c]).collect();
        let watch = store.watch(store.revision().expect("rev")).expect("watch");
        let cpu0 = agent_cpu();
        let t0 = Instant::now();
        dps[host].plug(&format!("tap{}", &id[..id.len().min(11)]), &id);
        store.commit(&[], &[store_ops::put(&port)]).expect("commit");
        let deadline = Instant::now() + Duration::from_secs(60);
        while relevant.iter().any(|d| d.seen().is_none()) {
            assert!(
                Instant::now() < deadline,
                "port {id} not on every relevant agent"
            );
            budget.check("waiting for a new port's flows");
            std::thread::sleep(Duration::from_millis(2));
        }
        let lat = relevant.iter().map(|d| d.seen().unwrap_or(t0) - t0);
        all.push(lat.max().unwrap_or_default());
        let mut hosting = peers.clone();
        hosting.sort_unstable();
        hosting.dedup();
        let hosting: Vec<Arc<DryRun>> = hosting.iter().map(|&c| dps[c].clone()).collect();
        settle(&hosting);
        window += t0.elapsed();
        for (c, (now, was)) in agent_cpu().iter().zip(&cpu0).enumerate() {
            let used = now.saturating_sub(*was);
            if peers.contains(&c) {
                (cpu_rel, n_rel) = (cpu_rel + used, n_rel + 1);
            } else {
                (cpu_out, n_out) = (cpu_out + used, n_out + 1);
            }
        }
        // Agents without a port of the network compile nothing of it.
        strays += dps
            .iter()
            .enumerate()
            .filter(|(c, d)| !peers.contains(c) && d.seen().is_some())
            .count();
        let mut n_ev = 0;
        while let Some(ev) = watch.try_next() {
            n_ev += 1;
            ev_bytes += ev.value.map_or(0, |v| v.len());
        }
        events.push(n_ev);
    }
    let reads = counted.reads() - reads0;
    let share_meas =
        (cpu::process_cpu() - cpu_meas).as_secs_f64() / wall_meas.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        let _ = t.join();
    }
    let ev_avg = events.iter().sum::<usize>() as f64 / events.len().max(1) as f64;
    println!("chassis {chassis}, ports {ports}, networks {nets}, iterations {iters}");
    println!(
        "start: {:.1} s to start every agent, {:.1} s to converge; {flows} flows per agent",
        started.as_secs_f64(),
        converged.as_secs_f64()
    );
    println!(
        "start CPU: {:.1} s for all agents, {:.0} ms per agent; the run got {:.0} % of a core",
        start_cpu.as_secs_f64(),
        start_cpu.as_secs_f64() * 1000.0 / chassis as f64,
        100.0 * start_cpu.as_secs_f64() / converged.as_secs_f64()
    );
    println!(
        "memory: {:.1} MiB for all agents, {:.2} MiB per agent",
        (rss1.saturating_sub(rss0)) as f64 / 1024.0,
        (rss1.saturating_sub(rss0)) as f64 / 1024.0 / chassis as f64
    );
    println!(
        "new port → every relevant agent's flows: p50 {:?}, p99 {:?}",
        pct(&mut all, 0.5),
        pct(&mut all, 0.99)
    );
    let per = |d: Duration, n: u32| d.as_secs_f64() * 1000.0 / n.max(1) as f64;
    let idle_in_window = idle_per_s * 1000.0 * window.as_secs_f64() / iters.max(1) as f64;
    println!(
        "CPU per change: {:.2} ms on each agent of the port's network, {:.3} ms on each other agent \
         (thread CPU over the change's window, {:.2} ms of which an idle agent spends polling)",
        per(cpu_rel, n_rel),
        per(cpu_out, n_out),
        idle_in_window
    );
    println!(
        "idle: {:.3} ms CPU per agent per second; during the changes the run got {:.0} % of a core",
        idle_per_s * 1000.0,
        100.0 * share_meas
    );
    println!("agents outside the network that installed the port: {strays}");
    println!(
        "store events per new port: {ev_avg:.1} (port, binding claim), {:.0} bytes",
        ev_bytes as f64 / events.len().max(1) as f64
    );
    let it = iters.max(1) as f64;
    println!(
        "store reads per new port (all agents, besides the watch): {:.1} requests, {:.1} records, {:.0} bytes",
        reads.requests as f64 / it,
        reads.records as f64 / it,
        reads.bytes as f64 / it
    );
}
