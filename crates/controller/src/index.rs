//! Derived indexes over the intent that the compiler needs to find what a
//! change touches (a group's member ports, the rules that name a group as
//! remote, a router's ports, the routers on a network), kept up to date per
//! changed resource. Each entry also caches the resource's previous
//! relations, so a removal or update knows what it used to touch.

use std::collections::{BTreeMap, BTreeSet};

use hashbrown::HashMap;

use model::{owner, Port, State};

/// What the compiler remembers of a port.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortRel {
    pub network: String,
    pub groups: Vec<String>,
    pub device_owner: String,
    pub device_id: String,
}

impl PortRel {
    fn of(p: &Port) -> PortRel {
        PortRel {
            network: p.network_id.clone(),
            groups: p.security_groups.clone(),
            device_owner: p.device_owner.clone(),
            device_id: p.device_id.clone(),
        }
    }

    /// A router port (interface or gateway) of `device_id`.
    pub fn router(&self) -> Option<&str> {
        let is_router = self.device_owner == owner::ROUTER_INTERFACE
            || self.device_owner == owner::ROUTER_GATEWAY;
        is_router.then_some(self.device_id.as_str())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleRel {
    pub group: String,
    pub remote: Option<String>,
}

type Multi = HashMap<String, BTreeSet<String>>;

fn link(m: &mut Multi, k: &str, v: &str) {
    m.entry(k.to_string()).or_default().insert(v.to_string());
}

fn unlink(m: &mut Multi, k: &str, v: &str) {
    if let Some(s) = m.get_mut(k) {
        s.remove(v);
        if s.is_empty() {
            m.remove(k);
        }
    }
}

/// The indexes.
#[derive(Debug, Clone, Default)]
pub struct Index {
    pub ports: HashMap<String, PortRel>,
    pub group_ports: Multi,
    pub router_ports: Multi,
    /// Network → routers with a port on it (counted per port).
    pub net_routers: HashMap<String, BTreeMap<String, u32>>,
    pub rules: HashMap<String, RuleRel>,
    pub group_rules: Multi,
    /// Remote group → rules naming it.
    pub remote_rules: Multi,
    /// Floating IP → (router, port).
    pub fips: HashMap<String, (Option<String>, Option<String>)>,
    pub router_fips: Multi,
    /// Port → floating IPs associated with it.
    pub port_fips: Multi,
}

static EMPTY: BTreeSet<String> = BTreeSet::new();

impl Index {
    pub fn build(st: &State) -> Index {
        let mut ix = Index::default();
        for id in st.ports.keys() {
            ix.update_port(st, id);
        }
        for id in st.rules.keys() {
            ix.update_rule(st, id);
        }
        for id in st.floating_ips.keys() {
            ix.update_fip(st, id);
        }
        ix
    }

    pub fn members(&self, group: &str) -> &BTreeSet<String> {
        self.group_ports.get(group).unwrap_or(&EMPTY)
    }

    pub fn routers_on(&self, network: &str) -> impl Iterator<Item = &String> {
        self.net_routers
            .get(network)
            .into_iter()
            .flat_map(|m| m.keys())
    }

    pub fn get<'a>(m: &'a Multi, k: &str) -> &'a BTreeSet<String> {
        m.get(k).unwrap_or(&EMPTY)
    }

    /// Re-index a port from `st`; returns its previous relations.
    pub fn update_port(&mut self, st: &State, id: &str) -> Option<PortRel> {
        let old = self.ports.remove(id);
        if let Some(o) = &old {
            for g in &o.groups {
                unlink(&mut self.group_ports, g, id);
            }
            if let Some(r) = o.router() {
                unlink(&mut self.router_ports, r, id);
                if let Some(m) = self.net_routers.get_mut(&o.network) {
                    if let Some(c) = m.get_mut(r) {
                        *c -= 1;
                        if *c == 0 {
                            m.remove(r);
                        }
                    }
                    if m.is_empty() {
                        self.net_routers.remove(&o.network);
                    }
                }
            }
        }
        if let Some(p) = st.ports.get(id) {
            let n = PortRel::of(p);
            for g in &n.groups {
                link(&mut self.group_ports, g, id);
            }
            if let Some(r) = n.router() {
                link(&mut self.router_ports, r, id);
                *self
                    .net_routers
                    .entry(n.network.clone())
                    .or_default()
                    .entry(r.to_string())
                    .or_default() += 1;
            }
            self.ports.insert(id.to_string(), n);
        }
        old
    }

    pub fn update_rule(&mut self, st: &State, id: &str) -> Option<RuleRel> {
        let old = self.rules.remove(id);
        if let Some(o) = &old {
            unlink(&mut self.group_rules, &o.group, id);
            if let Some(r) = &o.remote {
                unlink(&mut self.remote_rules, r, id);
            }
        }
        if let Some(r) = st.rules.get(id) {
            let n = RuleRel {
                group: r.security_group_id.clone(),
                remote: r.remote_group_id.clone(),
            };
            link(&mut self.group_rules, &n.group, id);
            if let Some(rg) = &n.remote {
                link(&mut self.remote_rules, rg, id);
            }
            self.rules.insert(id.to_string(), n);
        }
        old
    }

    pub fn update_fip(&mut self, st: &State, id: &str) -> Option<(Option<String>, Option<String>)> {
        let old = self.fips.remove(id);
        if let Some((r, p)) = &old {
            if let Some(r) = r {
                unlink(&mut self.router_fips, r, id);
            }
            if let Some(p) = p {
                unlink(&mut self.port_fips, p, id);
            }
        }
        if let Some(f) = st.floating_ips.get(id) {
            if let Some(r) = &f.router_id {
                link(&mut self.router_fips, r, id);
            }
            if let Some(p) = &f.port_id {
                link(&mut self.port_fips, p, id);
            }
            self.fips
                .insert(id.to_string(), (f.router_id.clone(), f.port_id.clone()));
        }
        old
    }
}
