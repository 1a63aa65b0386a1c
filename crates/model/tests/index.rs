//! The secondary indexes of `State` change nothing but speed: after random
//! creates, updates and deletes, filtered lists equal a plain scan of the
//! resources with the same filter.

use model::ops;
use model::{Ctx, Env, IpamConfig, Kind, Port, State, Subnet};
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde_json::{json, Value};

const DEVICES: [&str; 3] = ["dev-a", "dev-b", ""];
const OWNERS: [&str; 3] = ["compute:nova", "network:dhcp", ""];
const PROJECTS: [&str; 2] = ["p0", "p1"];

#[derive(Debug, Clone)]
enum Action {
    CreatePort {
        net: usize,
        dev: usize,
        owner: usize,
        project: usize,
    },
    UpdatePort {
        which: usize,
        dev: usize,
        owner: usize,
    },
    DeletePort {
        which: usize,
    },
    CreateSubnet {
        net: usize,
        octet: u8,
    },
    DeleteSubnet {
        which: usize,
    },
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        4 => (0..3usize, 0..3usize, 0..3usize, 0..2usize).prop_map(|(net, dev, owner, project)| {
            Action::CreatePort { net, dev, owner, project }
        }),
        2 => (any::<usize>(), 0..3usize, 0..3usize)
            .prop_map(|(which, dev, owner)| Action::UpdatePort { which, dev, owner }),
        1 => any::<usize>().prop_map(|which| Action::DeletePort { which }),
        1 => (0..3usize, 0..8u8).prop_map(|(net, octet)| Action::CreateSubnet { net, octet }),
        1 => any::<usize>().prop_map(|which| Action::DeleteSubnet { which }),
    ]
}

struct World {
    state: State,
    rng: StdRng,
    cfg: IpamConfig,
    nets: Vec<String>,
}

impl World {
    fn new() -> World {
        let mut w = World {
            state: State::default(),
            rng: StdRng::seed_from_u64(9),
            cfg: IpamConfig::default(),
            nets: Vec::new(),
        };
        for i in 0..3 {
            let id = w
                .run(|s, env| {
                    ops::create(
                        s,
                        &Ctx::admin("p0"),
                        env,
                        Kind::Network,
                        &json!({"name": format!("n{i}")}),
                        None,
                    )
                })
                .expect("network");
            w.nets.push(id);
        }
        w
    }

    /// Run an operation; failures (validation) change nothing.
    fn run(
        &mut self,
        f: impl FnOnce(&State, &mut Env) -> model::Result<model::Outcome>,
    ) -> Option<String> {
        let mut env = Env {
            now: "2026-01-01T00:00:00Z".into(),
            rng: &mut self.rng,
            config: &self.cfg,
        };
        let o = f(&self.state, &mut env).ok()?;
        self.state.apply(&o.changes);
        Some(o.id)
    }

    fn nth(ids: Vec<String>, which: usize) -> Option<String> {
        (!ids.is_empty()).then(|| ids[which % ids.len()].clone())
    }

    fn act(&mut self, a: &Action) {
        let admin = Ctx::admin("p0");
        match a {
            Action::CreatePort {
                net,
                dev,
                owner,
                project,
            } => {
                let body = json!({
                    "network_id": self.nets[*net],
                    "device_id": DEVICES[*dev],
                    "device_owner": OWNERS[*owner],
                    "project_id": PROJECTS[*project],
                    "name": if dev % 2 == 0 { "x" } else { "y" },
                });
                self.run(|s, env| ops::create(s, &admin, env, Kind::Port, &body, None));
            }
            Action::UpdatePort { which, dev, owner } => {
                if let Some(id) = Self::nth(self.state.ports.keys().cloned().collect(), *which) {
                    let body = json!({"device_id": DEVICES[*dev], "device_owner": OWNERS[*owner]});
                    self.run(|s, env| ops::update(s, &admin, env, Kind::Port, &id, &body, None));
                }
            }
            Action::DeletePort { which } => {
                if let Some(id) = Self::nth(self.state.ports.keys().cloned().collect(), *which) {
                    self.run(|s, env| ops::delete(s, &admin, env, Kind::Port, &id, None));
                }
            }
            Action::CreateSubnet { net, octet } => {
                let body = json!({"network_id": self.nets[*net], "cidr": format!("10.{octet}.0.0/24"), "ip_version": 4});
                self.run(|s, env| ops::create(s, &admin, env, Kind::Subnet, &body, None));
            }
            Action::DeleteSubnet { which } => {
                if let Some(id) = Self::nth(self.state.subnets.keys().cloned().collect(), *which) {
                    self.run(|s, env| ops::delete(s, &admin, env, Kind::Subnet, &id, None));
                }
            }
        }
    }
}

fn port_attr<'a>(p: &'a Port, key: &str) -> Option<&'a str> {
    Some(match key {
        "network_id" => &p.network_id,
        "device_id" => &p.device_id,
        "device_owner" => &p.device_owner,
        "mac_address" => &p.mac_address,
        "project_id" => &p.meta.project_id,
        "name" => &p.name,
        _ => return None,
    })
}

fn subnet_attr<'a>(s: &'a Subnet, key: &str) -> Option<&'a str> {
    Some(match key {
        "network_id" => &s.network_id,
        "project_id" => &s.meta.project_id,
        "cidr" => &s.cidr,
        _ => return None,
    })
}

/// The reference: every resource, tested attribute by attribute.
fn scan<'a, T: 'a>(
    all: impl Iterator<Item = &'a T>,
    attr: impl Fn(&'a T, &str) -> Option<&'a str>,
    id: impl Fn(&T) -> String,
    project: impl Fn(&T) -> &str,
    ctx: &Ctx,
    filters: &[(String, Vec<String>)],
) -> Vec<String> {
    all.filter(|x| ctx.is_admin || project(x) == ctx.project_id)
        .filter(|x| {
            filters.iter().all(|(k, wanted)| match attr(x, k) {
                Some(v) => wanted.iter().any(|w| w == v),
                None => true,
            })
        })
        .map(id)
        .collect()
}

fn ids(values: Vec<Value>) -> Vec<String> {
    values
        .iter()
        .map(|v| v["id"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// Filters drawn from values present in the state plus a few absent ones.
fn filters(
    w: &World,
    keys: &[&str],
    picks: &[(usize, usize, usize)],
    kind: Kind,
) -> Vec<(String, Vec<String>)> {
    let mut pool: Vec<String> = w.nets.clone();
    pool.extend(
        DEVICES
            .iter()
            .chain(&OWNERS)
            .chain(&PROJECTS)
            .map(|s| s.to_string()),
    );
    pool.extend(["none".to_string(), "x".into(), "zzz".into()]);
    if kind == Kind::Port {
        pool.extend(
            w.state
                .ports
                .values()
                .take(3)
                .map(|p| p.mac_address.clone()),
        );
    }
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for &(k, v1, v2) in picks {
        let key = keys[k % keys.len()].to_string();
        let vals = vec![pool[v1 % pool.len()].clone(), pool[v2 % pool.len()].clone()];
        match out.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => v.extend(vals),
            None => out.push((key, vals)),
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn indexed_lists_equal_a_scan(
        actions in prop::collection::vec(action(), 1..60),
        picks in prop::collection::vec((any::<usize>(), any::<usize>(), any::<usize>()), 0..3),
        single in any::<bool>(),
    ) {
        let mut w = World::new();
        for a in &actions {
            w.act(a);
        }
        let picks = if single { &picks[..picks.len().min(1)] } else { &picks[..] };
        for ctx in [Ctx::admin("p0"), Ctx::member("p1")] {
            let f = filters(&w, &["network_id", "device_id", "device_owner", "mac_address", "project_id", "name"], picks, Kind::Port);
            let want = scan(w.state.ports.values(), port_attr, |p| p.meta.id.clone(), |p| &p.meta.project_id, &ctx, &f);
            prop_assert_eq!(&w.state.ids_filtered(&ctx, Kind::Port, &f), &want, "ports {:?}", f);
            prop_assert_eq!(&ids(w.state.list_filtered(&ctx, Kind::Port, &f)), &want);

            let f = filters(&w, &["network_id", "project_id", "cidr"], picks, Kind::Subnet);
            let want = scan(w.state.subnets.values(), subnet_attr, |s| s.meta.id.clone(), |s| &s.meta.project_id, &ctx, &f);
            prop_assert_eq!(&w.state.ids_filtered(&ctx, Kind::Subnet, &f), &want, "subnets {:?}", f);
        }
        // Derived lookups agree with a scan too.
        for net in &w.nets {
            let by_index: Vec<&str> = w.state.ports_on_network(net).map(|p| p.meta.id.as_str()).collect();
            let by_scan: Vec<&str> = w.state.ports.values().filter(|p| &p.network_id == net).map(|p| p.meta.id.as_str()).collect();
            prop_assert_eq!(by_index, by_scan);
            let by_index: Vec<&str> = w.state.subnets_of_network(net).map(|s| s.meta.id.as_str()).collect();
            let by_scan: Vec<&str> = w.state.subnets.values().filter(|s| &s.network_id == net).map(|s| s.meta.id.as_str()).collect();
            prop_assert_eq!(by_index, by_scan);
        }
    }
}
