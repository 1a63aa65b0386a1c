//! The agent's incremental path (crate `bindings`: cached scope, remote
//! ports updated port by port, rounds skipped when nothing they read
//! changed) against a build from scratch: after every step of a random
//! sequence of changes — ports created, deleted, moved between hosts,
//! stopped and started again, router interfaces added and removed (the
//! scope grows and shrinks) — each agent's bindings and scope equal those
//! built from the whole store, and the flows on its switch equal a fresh
//! compile of them with its keys.
//!
//! The agents are driven step by step ([`agent::Agent::turn`]) on dry-run
//! switches, without threads: each sequence is reproducible from its seed.

#[path = "../../controller/tests/common/mod.rs"]
mod common;
mod store_ops;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use agent::dryrun::DryRun;
use common::Builder;
use model::{Kind, Resource};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use store::{Op, Store};

const HOSTS: usize = 3;

struct Host {
    agent: agent::Agent,
    watch: store::Watch,
    dp: Arc<DryRun>,
    /// Port → TAP name of the VMs plugged here.
    plugged: BTreeMap<String, String>,
}

struct World {
    _dir: tempfile::TempDir,
    store: Arc<dyn Store>,
    x: Builder,
    hosts: Vec<Host>,
    /// Internal networks and their subnets.
    nets: Vec<(String, String)>,
    group: String,
    router: String,
    /// Router interface ports by network index.
    ifs: BTreeMap<usize, String>,
    next_ip: u32,
}

fn put(r: Resource) -> Op {
    store_ops::put(&r)
}

fn delete(kind: Kind, id: &str) -> Op {
    Op::Delete {
        kind: kind.store_name().into(),
        id: id.into(),
    }
}

impl World {
    fn new() -> World {
        let dir = tempfile::tempdir().expect("tmp");
        let store: Arc<dyn Store> =
            Arc::new(store::RedbStore::open(dir.path().join("s.redb")).expect("store"));
        let mut x = Builder::default();
        let group = x.group("p");
        x.rule(&group, "egress", None, None, None, None);
        x.rule(&group, "ingress", None, None, None, Some(&group.clone()));
        let mut nets = Vec::new();
        for i in 0..4 {
            let n = x.network("p");
            let s = x.subnet(&n, &format!("10.0.{i}.0/24"), Some(&format!("10.0.{i}.1")));
            nets.push((n, s));
        }
        // An external network whose gateway is h0 (the only chassis with
        // its uplink), the router's gateway on it.
        let ext = x.external("physnet1");
        let ext_sub = x.subnet(&ext, "203.0.113.0/24", Some("203.0.113.1"));
        let router = x.router("p");
        x.gateway(&router, &ext, &ext_sub, "203.0.113.10");
        let mut ops = store_ops::intent(&x.st);
        ops.push(put(Resource::Router(x.st.routers[&router].clone())));
        store.commit(&[], &ops).expect("commit");
        let mut hosts = Vec::new();
        for h in 0..HOSTS {
            let d = dir.path().join(format!("h{h}"));
            std::fs::create_dir_all(&d).expect("dir");
            let mappings = if h == 0 {
                [("physnet1".to_string(), "eth1".to_string())].into()
            } else {
                BTreeMap::new()
            };
            let ip = std::net::Ipv4Addr::new(10, 200, 0, h as u8 + 1);
            let ttl = Duration::from_secs(600);
            let cfg = store_ops::chassis_config(&d, &format!("h{h}"), ip, mappings, ttl);
            let dp = Arc::new(DryRun::default());
            let mut agent =
                agent::Agent::with_datapath(cfg, store.clone(), None, Box::new(dp.clone()))
                    .expect("agent");
            agent.start().expect("start");
            let watch = agent.watch().expect("watch");
            hosts.push(Host {
                agent,
                watch,
                dp,
                plugged: BTreeMap::new(),
            });
        }
        World {
            _dir: dir,
            store,
            x,
            hosts,
            nets,
            group,
            router,
            ifs: BTreeMap::new(),
            next_ip: 10,
        }
    }

    /// Every agent takes its events and runs a round until a pass where
    /// none of them had anything and nothing was written (claims written
    /// in one pass are seen by the others in the next).
    fn settle(&mut self) {
        for _ in 0..10 {
            let rev = self.store.revision().expect("revision");
            let mut any = false;
            for h in &mut self.hosts {
                any |= h.agent.turn(&h.watch).expect("turn");
            }
            if !any && self.store.revision().expect("revision") == rev {
                return;
            }
        }
        panic!("the agents did not settle in 10 passes");
    }

    fn commit(&self, ops: &[Op]) {
        self.store.commit(&[], ops).expect("commit");
    }

    fn vm_ports(&self) -> Vec<String> {
        self.x
            .st
            .ports
            .values()
            .filter(|p| p.device_owner.starts_with("compute:") || p.device_owner.is_empty())
            .map(|p| p.meta.id.clone())
            .collect()
    }

    fn host_of(&self, port: &str) -> Option<usize> {
        self.hosts.iter().position(|h| h.plugged.contains_key(port))
    }

    fn plug(&mut self, h: usize, port: &str) {
        let tap = format!("tap{}", &port[port.len().saturating_sub(8)..]);
        self.hosts[h].dp.plug(&tap, port);
        self.hosts[h].plugged.insert(port.to_owned(), tap);
    }

    fn unplug(&mut self, port: &str) {
        if let Some(h) = self.host_of(port) {
            if let Some(tap) = self.hosts[h].plugged.remove(port) {
                self.hosts[h].dp.unplug(&tap);
            }
        }
    }

    /// One random change; what it was, for the failure message.
    fn step(&mut self, rng: &mut StdRng) -> String {
        let vms = self.vm_ports();
        match rng.gen_range(0..10) {
            0..=3 => {
                let i = rng.gen_range(0..self.nets.len());
                let (n, s) = self.nets[i].clone();
                self.next_ip += 1;
                let ip = format!("10.0.{i}.{}", self.next_ip);
                let g = self.group.clone();
                let p = self.x.port(&n, &s, &ip, &[&g]);
                let h = rng.gen_range(0..HOSTS);
                // The TAP may come before or after the port's record.
                if rng.gen_bool(0.5) {
                    self.plug(h, &p);
                }
                self.commit(&[put(Resource::Port(self.x.st.ports[&p].clone()))]);
                if self.host_of(&p).is_none() {
                    self.plug(h, &p);
                }
                format!("new port {p} on net {i}, host h{h}")
            }
            4 if !vms.is_empty() => {
                let p = vms[rng.gen_range(0..vms.len())].clone();
                self.unplug(&p);
                self.x
                    .st
                    .apply(&[model::Change::Delete(Kind::Port, p.clone())]);
                self.commit(&[delete(Kind::Port, &p)]);
                format!("delete port {p}")
            }
            5 | 6 if !vms.is_empty() => {
                let p = vms[rng.gen_range(0..vms.len())].clone();
                let to = rng.gen_range(0..HOSTS);
                let from = self.host_of(&p);
                // Live migration: the new TAP first, then the old one goes.
                if from != Some(to) {
                    let tap = format!("tap{}-{to}", &p[p.len().saturating_sub(6)..]);
                    self.hosts[to].dp.plug(&tap, &p);
                    if rng.gen_bool(0.5) {
                        self.settle();
                    }
                    self.unplug(&p);
                    self.hosts[to].plugged.insert(p.clone(), tap);
                }
                format!("move port {p} from {from:?} to h{to}")
            }
            7 if !vms.is_empty() => {
                let p = vms[rng.gen_range(0..vms.len())].clone();
                match self.host_of(&p) {
                    Some(_) => {
                        self.unplug(&p);
                        format!("stop port {p}")
                    }
                    None => {
                        let h = rng.gen_range(0..HOSTS);
                        self.plug(h, &p);
                        format!("start port {p} on h{h}")
                    }
                }
            }
            _ => {
                // A router interface on a network comes or goes: the scope
                // of every host with a port behind the router changes.
                let i = rng.gen_range(0..self.nets.len());
                match self.ifs.remove(&i) {
                    Some(port) => {
                        self.x
                            .st
                            .apply(&[model::Change::Delete(Kind::Port, port.clone())]);
                        self.commit(&[delete(Kind::Port, &port)]);
                        format!("remove router interface on net {i}")
                    }
                    None => {
                        let (n, s) = self.nets[i].clone();
                        let r = self.router.clone();
                        let port = self.x.interface(&r, &n, &s, &format!("10.0.{i}.1"));
                        self.commit(&[put(Resource::Port(self.x.st.ports[&port].clone()))]);
                        self.ifs.insert(i, port);
                        format!("add router interface on net {i}")
                    }
                }
            }
        }
    }

    /// Every agent's bindings, scope and installed flows equal those built
    /// from scratch from the whole store.
    fn check(&self, what: &str) {
        let (st, _) = agent::state::load(self.store.as_ref()).expect("load");
        let cluster = agent::cluster::Cluster::load(self.store.as_ref()).expect("cluster");
        for (h, host) in self.hosts.iter().enumerate() {
            let a = &host.agent;
            let me = format!("h{h}");
            let got = a.bindings();
            let want_local: BTreeSet<&String> = host.plugged.keys().collect();
            let local: BTreeSet<&String> = got.ports.keys().collect();
            assert_eq!(local, want_local, "h{h} local ports after {what}");
            let (b, scope) = agent::bindings::from_scratch(
                &st,
                &cluster,
                &me,
                &got.ports,
                &got.tunnels,
                &got.bridge_mappings,
            );
            assert_eq!(a.scope(), scope.as_ref(), "h{h} scope after {what}");
            assert_eq!(
                got, &b,
                "h{h} bindings after {what}; claims in the store: {:?}",
                cluster.bindings
            );
            let keys = a.compiler().keys().snapshot();
            let mut c = controller::Compiler::new(controller::Keys::restore(&keys));
            c.full(&st, &b);
            let fresh: BTreeSet<String> = c.flows().iter().map(|f| f.to_string()).collect();
            let inc: BTreeSet<String> =
                a.compiler().flows().iter().map(|f| f.to_string()).collect();
            let on_switch: BTreeSet<String> = host.dp.flows().into_iter().collect();
            let diff = |x: &BTreeSet<String>, y: &BTreeSet<String>| {
                x.symmetric_difference(y)
                    .take(4)
                    .cloned()
                    .collect::<Vec<_>>()
            };
            assert!(
                inc == fresh,
                "h{h} compiled flows after {what}: {:?}",
                diff(&inc, &fresh)
            );
            assert!(
                on_switch == fresh,
                "h{h} switch flows after {what}: {:?}",
                diff(&on_switch, &fresh)
            );
            assert_eq!(c.conflicts(), 0);
        }
    }
}

#[test]
fn incremental_equals_from_scratch_after_random_changes() {
    for seed in 0..6u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut w = World::new();
        w.settle();
        w.check(&format!("start (seed {seed})"));
        for i in 0..30 {
            let what = w.step(&mut rng);
            w.settle();
            w.check(&format!("step {i} ({what}), seed {seed}"));
        }
    }
}

#[test]
fn a_change_outside_the_scope_costs_no_round() {
    let mut w = World::new();
    let (n0, s0) = w.nets[0].clone();
    let g = w.group.clone();
    let p = w.x.port(&n0, &s0, "10.0.0.50", &[&g]);
    w.plug(0, &p);
    w.commit(&[put(Resource::Port(w.x.st.ports[&p].clone()))]);
    w.settle();
    let batches: Vec<u64> = w.hosts.iter().map(|h| h.dp.counts().1).collect();
    // A port of network 1, bound on h1: nothing of it concerns h0 or h2.
    let (n1, s1) = w.nets[1].clone();
    let q = w.x.port(&n1, &s1, "10.0.1.50", &[&g]);
    w.plug(1, &q);
    w.commit(&[put(Resource::Port(w.x.st.ports[&q].clone()))]);
    let relevant: Vec<bool> = w
        .hosts
        .iter_mut()
        .map(|h| h.agent.turn(&h.watch).expect("turn"))
        .collect();
    w.settle();
    assert!(!relevant[0] && !relevant[2], "{relevant:?}");
    let now: Vec<u64> = w.hosts.iter().map(|h| h.dp.counts().1).collect();
    assert_eq!(
        (now[0], now[2]),
        (batches[0], batches[2]),
        "no flows applied"
    );
    assert!(now[1] > batches[1], "h1 installed q's flows");
    w.check("a port outside h0's and h2's scope");
}
