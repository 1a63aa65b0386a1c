//! The compiler: per-owner flow sets, full compilation, and incremental
//! updates that recompile only the owners a change touches.

use std::collections::BTreeSet;

use hashbrown::{HashMap, HashSet};

use model::{owner, Kind, State};

use crate::ctx::{Bindings, Cx};
use crate::flowset::{Delta, Flow, FlowSet, Key, Owner};
use crate::index::Index;
use crate::keys::Keys;
use crate::locality::Scope;
use crate::{acl, router, switch, CompileError};

/// Something that changed since the last compile.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Changed {
    /// A resource was created, updated or deleted in the store.
    Resource(Kind, String),
    /// A port was bound to, rebound on, or unbound from this host.
    Binding(String),
    /// The bridge mappings, the tunnel ports or the set of other chassis
    /// changed (the gateway chassis of routers, and the chassis serving
    /// each floating IP, may have moved).
    Mappings,
}

/// Compiles intent into flows and keeps them for incremental updates.
#[derive(Debug, Default)]
pub struct Compiler {
    keys: Keys,
    ix: Index,
    set: FlowSet,
    owners: HashMap<u64, Owner>,
    errors: HashMap<Owner, CompileError>,
    /// Subnet → network, to find the network of a deleted subnet.
    subnet_net: HashMap<String, String>,
    /// The datapaths compiled ([`crate::locality`]); `None`: all of them.
    scope: Option<Scope>,
    /// Compile every datapath even with a chassis name (the reference
    /// the locality oracle compares against).
    everywhere: bool,
    /// The scope the caller computed for the next compile
    /// ([`Compiler::use_scope`]).
    given: Option<Option<Scope>>,
}

impl Compiler {
    /// A compiler with previously persisted keys (or `Keys::default()`).
    pub fn new(keys: Keys) -> Compiler {
        Compiler {
            keys,
            ..Compiler::default()
        }
    }

    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// Compile every logical datapath, not only the host's
    /// [`Scope`] (for comparisons; an agent never needs it).
    pub fn everywhere(mut self) -> Compiler {
        self.everywhere = true;
        self
    }

    /// The datapaths compiled last (`None`: every one).
    pub fn scope(&self) -> Option<&Scope> {
        self.scope.as_ref()
    }

    /// The scope of the bindings the next [`Compiler::full`] or
    /// [`Compiler::update`] is called with, as the caller keeps it (an
    /// agent recomputes it only when its inputs changed, see
    /// [`crate::locality`]): the compile then does not walk the router
    /// graph again. It must equal `Scope::of(st, b)` for that call.
    pub fn use_scope(&mut self, s: Option<Scope>) {
        self.given = Some(s);
    }

    fn scope_of(&mut self, st: &State, b: &Bindings) -> Option<Scope> {
        let given = self.given.take();
        if self.everywhere {
            return None;
        }
        given.unwrap_or_else(|| Scope::of(st, b))
    }

    /// Whether an owner's datapath is in scope (out of scope it compiles
    /// to nothing). Security-group rules and the table defaults are
    /// global; a port follows its network, a floating IP its router.
    fn in_scope(&self, o: &Owner) -> bool {
        let Some(s) = &self.scope else { return true };
        match o {
            Owner::Global | Owner::Rule(_) => true,
            Owner::Network(n) => s.networks.contains(n),
            Owner::Port(p) | Owner::PortAcl(p) => self
                .ix
                .ports
                .get(p)
                .is_none_or(|r| s.networks.contains(&r.network)),
            Owner::Router(r) => s.routers.contains(r),
            Owner::Fip(f) => match self.ix.fips.get(f) {
                Some((Some(r), _)) => s.routers.contains(r),
                _ => true,
            },
        }
    }

    /// The owners of the datapaths entering or leaving the scope.
    fn rescope(&mut self, st: &State, b: &Bindings, aff: &mut BTreeSet<Owner>) {
        let new = self.scope_of(st, b);
        if new == self.scope {
            return;
        }
        let empty = Scope::default();
        let old = self.scope.take();
        let (o, n) = (old.as_ref(), new.as_ref());
        // `None` is everything: compare against every datapath there is.
        let all = || Scope {
            networks: st.networks.keys().cloned().collect(),
            routers: st.routers.keys().cloned().collect(),
        };
        let (o_all, n_all) = (o.is_none().then(all), n.is_none().then(all));
        let o = o.or(o_all.as_ref()).unwrap_or(&empty);
        let n = n.or(n_all.as_ref()).unwrap_or(&empty);
        for (nets, routers) in [o.difference(n), n.difference(o)] {
            for net in nets {
                aff.insert(Owner::Network(net.clone()));
                for p in st.ports_on_network(net) {
                    aff.insert(Owner::Port(p.meta.id.clone()));
                    aff.insert(Owner::PortAcl(p.meta.id.clone()));
                }
            }
            for r in routers {
                aff.insert(Owner::Router(r.clone()));
                for f in Index::get(&self.ix.router_fips, r) {
                    aff.insert(Owner::Fip(f.clone()));
                }
            }
        }
        self.scope = new;
    }

    /// Every flow, sorted.
    pub fn flows(&self) -> Vec<Flow> {
        self.set.flows()
    }

    pub fn flow_count(&self) -> usize {
        self.set.len()
    }

    /// The keys of the flows an owner produced.
    pub fn owned(&self, o: &Owner) -> crate::flowset::Owned<'_> {
        self.set.owned(o)
    }

    /// Keys where owners contributed conflicting actions (always 0 unless
    /// the compiler has a bug; tests assert it).
    pub fn conflicts(&self) -> usize {
        self.set.count_conflicts() + self.set.conflicts as usize
    }

    /// The resource a cookie leads back to.
    pub fn owner_of(&self, cookie: u64) -> Option<&Owner> {
        self.owners.get(&cookie)
    }

    /// Owners whose intent could not be compiled, with why (their flows
    /// are left out).
    pub fn errors(&self) -> &HashMap<Owner, CompileError> {
        &self.errors
    }

    /// Compile everything from scratch; the delta takes the switch from
    /// the previous flows (if any) to the new ones.
    pub fn full(&mut self, st: &State, b: &Bindings) -> Delta {
        let before = self.set.flows();
        let old_owners: Vec<Owner> = self.set.owners().cloned().collect();
        self.ix = Index::build(st);
        self.subnet_net = st
            .subnets
            .values()
            .map(|s| (s.meta.id.clone(), s.network_id.clone()))
            .collect();
        self.scope = self.scope_of(st, b);
        let mut all: HashSet<Owner> = old_owners.into_iter().collect();
        all.insert(Owner::Global);
        all.extend(st.networks.keys().map(|i| Owner::Network(i.clone())));
        for i in st.ports.keys() {
            all.insert(Owner::Port(i.clone()));
            all.insert(Owner::PortAcl(i.clone()));
        }
        all.extend(st.rules.keys().map(|i| Owner::Rule(i.clone())));
        all.extend(st.routers.keys().map(|i| Owner::Router(i.clone())));
        all.extend(st.floating_ips.keys().map(|i| Owner::Fip(i.clone())));
        // Sorted, so a fresh compile allocates keys in a deterministic
        // order.
        let mut all: Vec<Owner> = all.into_iter().collect();
        all.sort_unstable();
        self.recompile(st, b, &all, None);
        if before.is_empty() {
            // First compile: everything is an add, in any order.
            return Delta {
                delete: Vec::new(),
                add: self.set.flows_unsorted(),
            };
        }
        diff_sorted(before, self.set.flows())
    }

    /// Apply changes incrementally.
    pub fn update(&mut self, st: &State, b: &Bindings, changes: &[Changed]) -> Delta {
        let mut aff: BTreeSet<Owner> = BTreeSet::new();
        let mut gone: Vec<(Kind, String)> = Vec::new();
        for c in changes {
            match c {
                Changed::Resource(k, id) => {
                    self.affected(st, *k, id, &mut aff);
                    if st.get(*k, id).is_none() {
                        gone.push((*k, id.clone()));
                    }
                }
                Changed::Binding(id) => {
                    aff.insert(Owner::Port(id.clone()));
                    aff.insert(Owner::PortAcl(id.clone()));
                    if let Some(p) = self.ix.ports.get(id) {
                        aff.insert(Owner::Network(p.network.clone()));
                    }
                    // Its floating IPs follow it (distributed NAT: served
                    // on the port's chassis when that has the uplink).
                    for f in Index::get(&self.ix.port_fips, id) {
                        aff.insert(Owner::Fip(f.clone()));
                    }
                }
                Changed::Mappings => {
                    aff.extend(st.networks.keys().map(|n| Owner::Network(n.clone())));
                    aff.extend(st.routers.keys().map(|r| Owner::Router(r.clone())));
                    aff.extend(st.floating_ips.keys().map(|f| Owner::Fip(f.clone())));
                }
            }
        }
        self.rescope(st, b, &mut aff);
        let mut touched = HashSet::new();
        let aff: Vec<Owner> = aff.into_iter().collect();
        let snap = self.snapshot_owned(&aff);
        self.recompile(st, b, &aff, Some(&mut touched));
        for (k, id) in gone {
            self.free_keys(k, &id);
        }
        self.diff(&snap, &touched)
    }

    fn snapshot_owned(&self, owners: &[Owner]) -> HashMap<Key, Flow> {
        let mut m = HashMap::new();
        for o in owners {
            for k in self.set.owned(o) {
                if let Some(fl) = self.set.get(k) {
                    m.insert(k.clone(), fl);
                }
            }
        }
        m
    }

    fn recompile(
        &mut self,
        st: &State,
        b: &Bindings,
        owners: &[Owner],
        mut touched: Option<&mut HashSet<Key>>,
    ) {
        let mut memo = acl::Memo::default();
        for o in owners {
            if !self.in_scope(o) {
                self.errors.remove(o);
                self.owners.remove(&o.cookie());
                self.set.replace(o, Vec::new(), touched.as_deref_mut());
                continue;
            }
            let mut cx = Cx {
                st,
                ix: &self.ix,
                b,
                keys: &mut self.keys,
                acl: &mut memo,
            };
            let r = match o {
                Owner::Global => Ok(switch::global()),
                Owner::Network(id) => switch::network(&mut cx, id),
                Owner::Port(id) => switch::port(&mut cx, id),
                Owner::PortAcl(id) => acl::port_acl(&mut cx, id),
                Owner::Rule(id) => acl::rule(&mut cx, id),
                Owner::Router(id) => router::router(&mut cx, id),
                Owner::Fip(id) => router::fip(&mut cx, id),
            };
            let flows = match r {
                Ok(f) => {
                    self.errors.remove(o);
                    f
                }
                Err(e) => {
                    self.errors.insert(o.clone(), e);
                    Vec::new()
                }
            };
            if flows.is_empty() {
                self.owners.remove(&o.cookie());
            } else {
                self.owners.insert(o.cookie(), o.clone());
            }
            self.set.replace(o, flows, touched.as_deref_mut());
        }
    }

    fn diff(&self, before: &HashMap<Key, Flow>, touched: &HashSet<Key>) -> Delta {
        let mut d = Delta::default();
        let mut touched: Vec<&Key> = touched.iter().collect();
        touched.sort_unstable();
        for k in touched {
            let now = self.set.get(k);
            match (before.get(k), now) {
                (Some(_), None) => d.delete.push((*k).clone()),
                (Some(b), Some(n)) if *b == n => {}
                (_, Some(n)) => d.add.push(n),
                (None, None) => {}
            }
        }
        d
    }

    /// The owners a change of resource `k`/`id` touches (see PIPELINE.md,
    /// "Incremental compilation").
    fn affected(&mut self, st: &State, k: Kind, id: &str, aff: &mut BTreeSet<Owner>) {
        let ports_on = |net: &str, aff: &mut BTreeSet<Owner>| {
            for p in st.ports_on_network(net) {
                aff.insert(Owner::Port(p.meta.id.clone()));
            }
        };
        match k {
            Kind::Port => {
                let old = self.ix.update_port(st, id);
                let new = self.ix.ports.get(id).cloned();
                aff.insert(Owner::Port(id.to_string()));
                aff.insert(Owner::PortAcl(id.to_string()));
                for rel in old.iter().chain(new.iter()) {
                    aff.insert(Owner::Network(rel.network.clone()));
                    if let Some(r) = rel.router() {
                        aff.insert(Owner::Router(r.to_string()));
                        for f in Index::get(&self.ix.router_fips, r) {
                            aff.insert(Owner::Fip(f.clone()));
                        }
                        ports_on(&rel.network, aff);
                    }
                    if rel.device_owner == owner::DHCP {
                        ports_on(&rel.network, aff);
                    }
                }
            }
            Kind::SecurityGroupRule => {
                let old = self.ix.update_rule(st, id);
                let new = self.ix.rules.get(id).cloned();
                aff.insert(Owner::Rule(id.to_string()));
                for rel in old.iter().chain(new.iter()) {
                    for g in std::iter::once(&rel.group).chain(rel.remote.iter()) {
                        for p in self.ix.members(g) {
                            aff.insert(Owner::PortAcl(p.clone()));
                        }
                    }
                }
            }
            Kind::SecurityGroup => {
                // `stateful` may have changed: the group's rules (commit or
                // not) and its members' ACL flows.
                for r in Index::get(&self.ix.group_rules, id) {
                    aff.insert(Owner::Rule(r.clone()));
                }
                for p in self.ix.members(id) {
                    aff.insert(Owner::Port(p.clone()));
                    aff.insert(Owner::PortAcl(p.clone()));
                }
            }
            Kind::Network | Kind::Subnet => {
                let net = if k == Kind::Network {
                    id.to_string()
                } else {
                    let n = st
                        .subnets
                        .get(id)
                        .map(|s| s.network_id.clone())
                        .or_else(|| self.subnet_net.get(id).cloned());
                    match st.subnets.get(id) {
                        Some(s) => {
                            self.subnet_net.insert(id.to_string(), s.network_id.clone());
                        }
                        None => {
                            self.subnet_net.remove(id);
                        }
                    }
                    let Some(n) = n else { return };
                    n
                };
                aff.insert(Owner::Network(net.clone()));
                for p in st.ports_on_network(&net) {
                    aff.insert(Owner::Port(p.meta.id.clone()));
                    aff.insert(Owner::PortAcl(p.meta.id.clone()));
                }
                for r in self.ix.routers_on(&net) {
                    aff.insert(Owner::Router(r.clone()));
                    for f in Index::get(&self.ix.router_fips, r) {
                        aff.insert(Owner::Fip(f.clone()));
                    }
                }
                for f in st
                    .floating_ips
                    .values()
                    .filter(|f| f.floating_network_id == net)
                {
                    aff.insert(Owner::Fip(f.meta.id.clone()));
                }
            }
            Kind::Router => {
                aff.insert(Owner::Router(id.to_string()));
                for f in Index::get(&self.ix.router_fips, id) {
                    aff.insert(Owner::Fip(f.clone()));
                }
                let nets: BTreeSet<String> = Index::get(&self.ix.router_ports, id)
                    .iter()
                    .filter_map(|p| self.ix.ports.get(p).map(|r| r.network.clone()))
                    .collect();
                for n in nets {
                    ports_on(&n, aff);
                }
            }
            Kind::FloatingIp => {
                self.ix.update_fip(st, id);
                aff.insert(Owner::Fip(id.to_string()));
            }
            Kind::QosPolicy | Kind::QosRule => {
                for p in st.ports.values().filter(|p| p.qos_policy_id.is_some()) {
                    aff.insert(Owner::Port(p.meta.id.clone()));
                }
                for n in st.networks.values().filter(|n| n.qos_policy_id.is_some()) {
                    ports_on(&n.meta.id, aff);
                }
            }
        }
    }

    /// Release the keys of a deleted resource.
    fn free_keys(&mut self, k: Kind, id: &str) {
        let names: Vec<(&str, String)> = match k {
            Kind::Port => vec![
                ("ports", format!("p:{id}")),
                ("ports", format!("lrp:{id}")),
                ("zones", format!("p:{id}")),
            ],
            Kind::Network => vec![
                ("datapaths", format!("n:{id}")),
                ("zones", format!("n:{id}")),
                ("ports", format!("ln:{id}")),
            ],
            Kind::Router => vec![
                ("datapaths", format!("r:{id}")),
                ("zones", format!("rs:{id}")),
                ("zones", format!("rd:{id}")),
            ],
            Kind::SecurityGroupRule => vec![("conj", id.to_string())],
            _ => vec![],
        };
        for (space, name) in names {
            match space {
                "ports" => self.keys.ports.free(&name),
                "datapaths" => self.keys.datapaths.free(&name),
                "zones" => self.keys.zones.free(&name),
                _ => self.keys.conj.free(&name),
            }
        }
    }

    /// The QoS the switch should configure on each bound port with a
    /// policy.
    pub fn port_qos(&self, st: &State, b: &Bindings) -> Vec<crate::qos::PortQos> {
        b.ports
            .iter()
            .filter_map(|(id, &of)| Some(crate::qos::port_qos(st, st.ports.get(id)?, of)))
            .filter(|q| !q.is_empty())
            .collect()
    }
}

/// The delta between two flow lists sorted by key.
fn diff_sorted(before: Vec<Flow>, after: Vec<Flow>) -> Delta {
    let mut d = Delta::default();
    let mut old = before.into_iter().peekable();
    for f in after {
        while let Some(o) = old.next_if(|o| o.key < f.key) {
            d.delete.push(o.key);
        }
        match old.next_if(|o| o.key == f.key) {
            Some(o) if o == f => {}
            _ => d.add.push(f),
        }
    }
    d.delete.extend(old.map(|o| o.key));
    d
}
