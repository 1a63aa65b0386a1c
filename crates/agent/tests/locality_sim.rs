//! Locality with real agents (store watch, port claims, compile, deltas) on
//! dry-run datapaths sharing one embedded store: a host without a port of
//! a network has no flow of it, gains the network's flows — its own port
//! and the tunnels to the other hosts' ports — when a port of it is bound
//! there, and loses them when that port goes.

#[path = "../../controller/tests/common/mod.rs"]
mod common;
mod store_ops;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use agent::dryrun::DryRun;
use common::Builder;
use controller::Owner;
use model::{Resource, State};
use store::Store;

const WAIT: Duration = Duration::from_secs(20);

/// The cookies of a network's flows: its own and its ports'.
fn cookies_of(st: &State, net: &str) -> BTreeSet<String> {
    let mut owners = vec![Owner::Network(net.to_owned())];
    for p in st.ports_on_network(net) {
        owners.push(Owner::Port(p.meta.id.clone()));
        owners.push(Owner::PortAcl(p.meta.id.clone()));
    }
    owners
        .iter()
        .map(|o| format!("cookie={:#x},", o.cookie()))
        .collect()
}

fn has_any(dp: &DryRun, cookies: &BTreeSet<String>) -> bool {
    dp.flows()
        .iter()
        .any(|f| cookies.iter().any(|c| f.starts_with(c.as_str())))
}

/// Agents running on their own threads until dropped.
struct Agents {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Drop for Agents {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn start(store: &Arc<dyn Store>, dps: &[Arc<DryRun>], dir: &std::path::Path) -> Agents {
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    for (c, dp) in dps.iter().enumerate() {
        let d = dir.join(format!("h{c}"));
        std::fs::create_dir_all(&d).expect("dir");
        let ip = std::net::Ipv4Addr::new(10, 200, 0, c as u8 + 1);
        let ttl = Duration::from_secs(60);
        let cfg = store_ops::chassis_config(&d, &format!("h{c}"), ip, Default::default(), ttl);
        let mut a = agent::Agent::with_datapath(cfg, store.clone(), None, Box::new(dp.clone()))
            .expect("agent");
        a.start().expect("start");
        let s = stop.clone();
        threads.push(std::thread::spawn(move || a.run(&s).expect("run")));
    }
    Agents { stop, threads }
}

#[test]
fn a_host_has_flows_only_for_networks_with_a_local_port() {
    let tmp = tempfile::tempdir().expect("tmp");
    let store: Arc<dyn Store> =
        Arc::new(store::RedbStore::open(tmp.path().join("s.redb")).expect("store"));
    let mut x = Builder::default();
    let g = x.group("p");
    x.rule(&g, "egress", None, None, None, None);
    let n1 = x.network("p");
    let s1 = x.subnet(&n1, "10.0.1.0/24", Some("10.0.1.1"));
    let n2 = x.network("p");
    let s2 = x.subnet(&n2, "10.0.2.0/24", Some("10.0.2.1"));
    let a1 = x.port(&n1, &s1, "10.0.1.10", &[&g]);
    let b1 = x.port(&n1, &s1, "10.0.1.11", &[&g]);
    let b2 = x.port(&n2, &s2, "10.0.2.10", &[&g]);
    store
        .commit(&[], &store_ops::intent(&x.st))
        .expect("commit");
    // h0: a1 (net1); h1: b1 (net1), b2 (net2); h2: nothing.
    let dps: Vec<Arc<DryRun>> = (0..3).map(|_| Arc::new(DryRun::default())).collect();
    dps[0].plug("tap-a1", &a1);
    dps[1].plug("tap-b1", &b1);
    dps[1].plug("tap-b2", &b2);
    let _agents = start(&store, &dps, tmp.path());

    let net1 = cookies_of(&x.st, &n1);
    let b2_egress = format!("cookie={:#x},table=64,", Owner::Port(b2.clone()).cookie());
    // h0 tunnels to b1 on h1 (net1) ...
    let b1_egress = format!("cookie={:#x},table=64,", Owner::Port(b1.clone()).cookie());
    let to_h1 = "set_field:10.200.0.2->tun_dst";
    lab::wait_until("h0 has the tunnel to b1", WAIT, || {
        dps[0]
            .flows()
            .iter()
            .any(|f| f.starts_with(&b1_egress) && f.contains(to_h1))
    })
    .expect("h0 converges");
    lab::wait_until("h1 has its own b2", WAIT, || {
        dps[1].flows().iter().any(|f| f.starts_with(&b2_egress))
    })
    .expect("h1 converges");
    // ... but nothing of net2, and h2 nothing of either network.
    let net2 = cookies_of(&x.st, &n2);
    assert!(!has_any(&dps[0], &net2), "h0 has no port on net2");
    assert!(
        !has_any(&dps[2], &net1) && !has_any(&dps[2], &net2),
        "h2 has no port"
    );
    assert!(has_any(&dps[1], &net1) && has_any(&dps[1], &net2));

    // A port of net2 is bound on h0: h0 gains net2, with the tunnel to b2.
    let a2 = x.port(&n2, &s2, "10.0.2.11", &[&g]);
    dps[0].plug("tap-a2", &a2);
    let port = Resource::Port(x.st.ports[&a2].clone());
    store.commit(&[], &[store_ops::put(&port)]).expect("commit");
    lab::wait_until("h0 tunnels to b2 on h1", WAIT, || {
        dps[0]
            .flows()
            .iter()
            .any(|f| f.starts_with(&b2_egress) && f.contains(to_h1))
    })
    .expect("h0 gains net2");
    // h2 still has none of it; h1 learns a2 is on h0.
    let a2_egress = format!("cookie={:#x},table=64,", Owner::Port(a2.clone()).cookie());
    lab::wait_until("h1 tunnels to a2 on h0", WAIT, || {
        dps[1]
            .flows()
            .iter()
            .any(|f| f.starts_with(&a2_egress) && f.contains("set_field:10.200.0.1->tun_dst"))
    })
    .expect("h1 learns a2");
    let net2 = cookies_of(&x.st, &n2);
    assert!(!has_any(&dps[2], &net2), "h2 has no port on net2");

    // The TAP goes (the VM moved away): h0 drops every net2 flow.
    dps[0].unplug("tap-a2");
    lab::wait_until("h0 has no net2 flow", WAIT, || !has_any(&dps[0], &net2))
        .expect("h0 loses net2");
    assert!(has_any(&dps[0], &net1), "net1 stays on h0");
}
