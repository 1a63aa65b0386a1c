//! This host's [`Bindings`], kept up to date from what changed instead of
//! rebuilt every round — ovn-controller's incremental processing engine
//! does the same for its runtime data (local datapaths, related ports,
//! chassis): each is recomputed only when one of its inputs changed.
//!
//! Inputs, and what each drives:
//!
//! * the switch's Interface rows → the TAPs (port → ofport), the bridge
//!   mappings, the tunnel ports; read only when the switch's generation
//!   moved ([`crate::Datapath::iface_generation`]);
//! * the TAPs and the claims on them → the ports bound here
//!   ([`cluster::resolve`]);
//! * chassis records → the other chassis. A record's change matters to the
//!   ports bound on it, and to the gateway choice only when it has
//!   physical networks (controller `tunnel::gateway`): only then is it a
//!   [`Changed::Mappings`];
//! * the ports bound here, networks, routers, router ports, the mappings
//!   and the chassis → the [`Scope`], computed once per round when one of
//!   them changed, and handed to the compiler ([`Compiler::use_scope`]);
//! * claims, ports and the scope → the remote ports, updated port by port;
//!   all of them again only when the scope or a chassis changed.
//!
//! Every difference becomes a [`Changed`] for the compiler. A change
//! outside the host's scope leaves every input alone: the round does not
//! run. Tests (tests/incremental.rs) check that the result equals the
//! bindings and flows built from scratch after random sequences of
//! changes.
//!
//! [`Compiler::use_scope`]: controller::Compiler::use_scope

use std::collections::{BTreeMap, BTreeSet};

use controller::{Bindings, Changed, Scope};
use model::{owner, Kind};

use crate::{cluster, interest, protect, switch, tunnel_port, Agent, AgentError};

/// What the store events since the last round touched, for the next
/// [`Agent::update_bindings`].
#[derive(Debug, Default)]
pub(crate) struct Dirty {
    /// Recompute everything (start, resync, a round that failed midway).
    pub all: bool,
    /// A claim on a port with a TAP here changed: resolve the claims again.
    pub claims: bool,
    /// Chassis whose record came, changed or went.
    pub chassis: BTreeSet<String>,
    /// An input of the scope changed (network, router, router port, a
    /// port bound here).
    pub scope: bool,
    /// Ports whose remote location may have changed (claim, port put or
    /// deleted).
    pub ports: BTreeSet<String>,
}

impl Dirty {
    /// Everything to recompute.
    pub fn all() -> Dirty {
        Dirty {
            all: true,
            ..Dirty::default()
        }
    }

    pub fn is_empty(&self) -> bool {
        !self.all && !self.claims && !self.scope && self.chassis.is_empty() && self.ports.is_empty()
    }

    /// Note a store event about a port: `was` and `now` are the port
    /// before and after it; `local` whether it is bound here.
    pub fn port(
        &mut self,
        id: &str,
        was: Option<&model::Port>,
        now: Option<&model::Port>,
        local: bool,
    ) {
        let router = |p: Option<&model::Port>| {
            p.is_some_and(|p| {
                p.device_owner == owner::ROUTER_INTERFACE || p.device_owner == owner::ROUTER_GATEWAY
            })
        };
        if local || router(was) || router(now) {
            self.scope = true;
        }
        self.ports.insert(id.to_owned());
    }

    /// Note a store event about a resource of `kind` (ports: see
    /// [`Dirty::port`]).
    pub fn resource(&mut self, kind: Kind) {
        if matches!(kind, Kind::Network | Kind::Router) {
            self.scope = true;
        }
    }
}

/// The keys of two maps whose values differ (present in one only
/// included).
fn differing<'a, V: PartialEq>(
    a: &'a BTreeMap<String, V>,
    b: &'a BTreeMap<String, V>,
) -> BTreeSet<&'a String> {
    a.keys()
        .chain(b.keys())
        .filter(|k| a.get(*k) != b.get(*k))
        .collect()
}

impl Agent {
    /// Read the switch's Interface rows if they may have changed since the
    /// last read (always, on a switch without a generation); whether they
    /// did.
    pub(crate) fn poll_ifaces(&mut self) -> Result<bool, AgentError> {
        // Before the rows: a change in between is seen again next time.
        let generation = self.sw.iface_generation();
        if generation.is_some() && generation == self.iface_gen {
            return Ok(false);
        }
        let ifaces = self.sw.interfaces()?;
        self.iface_gen = generation;
        if ifaces == self.ifaces {
            return Ok(false);
        }
        self.ifaces = ifaces;
        Ok(true)
    }

    /// Bring the bindings up to date with the Interface rows (`local`:
    /// they changed) and the store events since the last round; the
    /// compiler changes that makes go to `changes`, the ports the
    /// [`interest`] put or dropped to `self.pending`. A failure leaves
    /// everything to recompute next time.
    pub(crate) fn update_bindings(
        &mut self,
        local: bool,
        changes: &mut BTreeSet<Changed>,
    ) -> Result<(), AgentError> {
        let dirty = std::mem::take(&mut self.dirty);
        let mut b = std::mem::take(&mut self.bindings);
        let r = self.update_in(&mut b, local, dirty, changes);
        self.bindings = b;
        if r.is_err() {
            self.dirty = Dirty::all();
        }
        r
    }

    fn update_in(
        &mut self,
        b: &mut Bindings,
        local: bool,
        mut dirty: Dirty,
        changes: &mut BTreeSet<Changed>,
    ) -> Result<(), AgentError> {
        let all = dirty.all;
        if local || all {
            self.read_local(b, changes)?;
        }
        // The ports bound here.
        let bound = match &self.reg {
            Some(_) if local || all || dirty.claims => Some(self.resolve_claims()?),
            Some(_) => None,
            None => (local || all).then(|| self.tap_ports.clone()),
        };
        if let Some(new) = bound {
            for p in differing(&b.ports, &new) {
                changes.insert(Changed::Binding(p.clone()));
                dirty.ports.insert(p.clone());
                dirty.scope = true;
            }
            b.ports = new;
            interest::fetch_missing(
                self.store.as_ref(),
                &mut self.st,
                &b.ports,
                &mut self.pending,
            )?;
        }
        let moved = self.update_chassis(b, &dirty, changes);
        if changes.contains(&Changed::Mappings) {
            // The gateway choice may have moved.
            dirty.scope = true;
        }
        // A chassis without claims (one that just registered) and that no
        // remote port was on moves nothing.
        let moved_ports = moved
            .iter()
            .any(|c| self.cluster.claims_on(c) > 0 || b.remote_ports.values().any(|v| v == c));
        let mut every_remote = all || moved_ports;
        if dirty.scope || all {
            let s = Scope::of(&self.st, b);
            if s != self.scope || all {
                self.interest.rescope(
                    self.store.as_ref(),
                    &mut self.st,
                    b,
                    s.as_ref(),
                    &mut self.pending,
                )?;
                self.scope = s;
                every_remote = true;
            }
        }
        if every_remote {
            let new = self.remote_ports(b);
            for p in differing(&b.remote_ports, &new) {
                changes.insert(Changed::Binding(p.clone()));
            }
            // Same chassis, changed record (address, encapsulations).
            for (p, c) in b.remote_ports.iter().chain(&new) {
                if moved.contains(c) {
                    changes.insert(Changed::Binding(p.clone()));
                }
            }
            b.remote_ports = new;
        } else {
            for p in &dirty.ports {
                let now = self.remote_entry(b, p);
                if b.remote_ports.get(p) != now.as_ref() {
                    changes.insert(Changed::Binding(p.clone()));
                    match now {
                        Some(c) => b.remote_ports.insert(p.clone(), c),
                        None => b.remote_ports.remove(p),
                    };
                }
            }
        }
        Ok(())
    }

    /// The TAPs, bridge mappings and tunnel ports from the Interface rows;
    /// storm control on every TAP and per-destination limits on every
    /// uplink ([`protect`]).
    fn read_local(
        &mut self,
        b: &mut Bindings,
        changes: &mut BTreeSet<Changed>,
    ) -> Result<(), AgentError> {
        let by_name: BTreeMap<&str, &switch::Iface> =
            self.ifaces.iter().map(|i| (i.name.as_str(), i)).collect();
        let (mut ports, mut taps) = (BTreeMap::new(), BTreeMap::new());
        for i in by_name.values() {
            if let (Some(id), Some(of)) = (i.external_ids.get("iface-id"), i.ofport) {
                protect::apply_port(self.sw.as_ref(), i, &self.cfg.protection)?;
                ports.insert(id.clone(), of);
                taps.insert(id.clone(), i.name.clone());
            }
        }
        let mut maps = BTreeMap::new();
        for (phys, iface) in &self.cfg.bridge_mappings {
            let Some(i) = by_name.get(iface.as_str()) else {
                continue;
            };
            protect::apply_uplink(self.sw.as_ref(), i, &self.cfg.protection)?;
            if let Some(of) = i.ofport {
                maps.insert(phys.clone(), of);
            }
        }
        let mut tunnels = BTreeMap::new();
        for e in self.reg.iter().flat_map(|r| &r.cfg.encaps) {
            if let Some(of) = by_name.get(tunnel_port(e).as_str()).and_then(|i| i.ofport) {
                tunnels.insert(e.clone(), of);
            }
        }
        if maps != b.bridge_mappings || tunnels != b.tunnels {
            changes.insert(Changed::Mappings);
            b.bridge_mappings = maps;
            b.tunnels = tunnels;
        }
        self.tap_ports = ports;
        self.taps = taps;
        Ok(())
    }

    /// Claim new TAPs, yield ports another chassis claimed since, release
    /// ports whose TAP went ([`cluster::resolve`]); the ports bound here.
    fn resolve_claims(&mut self) -> Result<BTreeMap<String, u32>, AgentError> {
        let Some(reg) = &self.reg else {
            return Ok(self.tap_ports.clone());
        };
        let me = reg.name().to_owned();
        let c = cluster::resolve(
            &me,
            &self.tap_ports,
            &self.seen,
            &self.cluster,
            !self.started,
        );
        self.seen = self.tap_ports.keys().cloned().collect();
        self.started = true;
        reg.claim_many(self.store.as_ref(), &c.claim)?;
        for p in &c.claim {
            // Ours from now on, before the watch confirms it.
            self.cluster.bind(p, me.clone());
        }
        for p in &c.release {
            reg.release(self.store.as_ref(), p)?;
            self.cluster.unbind(p);
            if let Some(sink) = &self.status {
                if let Err(e) = sink.set_status(p, "DOWN") {
                    tracing::warn!(port = %p, "setting status DOWN: {e}");
                }
            }
        }
        Ok(c.local)
    }

    /// This chassis' name and the other chassis; the names of those whose
    /// record changed. A change is [`Changed::Mappings`] when the chassis
    /// name is new or a changed record has physical networks (the gateway
    /// choice); otherwise it only concerns the ports bound on it.
    fn update_chassis(
        &self,
        b: &mut Bindings,
        dirty: &Dirty,
        changes: &mut BTreeSet<Changed>,
    ) -> BTreeSet<String> {
        let mut moved = BTreeSet::new();
        let Some(reg) = &self.reg else {
            return moved;
        };
        if b.chassis != reg.name() {
            b.chassis = reg.name().to_owned();
            changes.insert(Changed::Mappings);
        }
        if !dirty.all && dirty.chassis.is_empty() {
            return moved;
        }
        let new = self.cluster.remote_chassis(reg.name());
        for n in differing(&b.remote_chassis, &new) {
            let physnets = [b.remote_chassis.get(n), new.get(n)]
                .into_iter()
                .flatten()
                .any(|c| !c.physnets.is_empty());
            if physnets {
                changes.insert(Changed::Mappings);
            }
            moved.insert(n.clone());
        }
        b.remote_chassis = new;
        moved
    }

    /// Where port `id` is bound if that is another live chassis and its
    /// network is in scope (controller `locality`); `None` otherwise.
    fn remote_entry(&self, b: &Bindings, id: &str) -> Option<String> {
        let net = &self.st.ports.get(id)?.network_id;
        if !self.scope.as_ref()?.networks.contains(net) {
            return None;
        }
        let ch = self.cluster.bindings.get(id)?;
        let remote =
            *ch != b.chassis && !b.ports.contains_key(id) && b.remote_chassis.contains_key(ch);
        remote.then(|| ch.clone())
    }

    /// Every remote port: the ports of the networks in scope bound on
    /// other live chassis — a walk of this host's share of the cloud, not
    /// of the cloud; ports of other networks are not kept.
    fn remote_ports(&self, b: &Bindings) -> BTreeMap<String, String> {
        let Some(scope) = &self.scope else {
            return BTreeMap::new();
        };
        let mut out = BTreeMap::new();
        for net in &scope.networks {
            for p in self.st.ports_on_network(net) {
                if let Some(ch) = self.remote_entry(b, &p.meta.id) {
                    out.insert(p.meta.id.clone(), ch);
                }
            }
        }
        out
    }
}

/// The bindings a host would build from scratch from the same inputs —
/// the reference the incremental path is tested against: ports bound here
/// as given, the other chassis and the remote ports from `cluster` and the
/// scope of `st`.
pub fn from_scratch(
    st: &model::State,
    cluster: &cluster::Cluster,
    me: &str,
    local: &BTreeMap<String, u32>,
    tunnels: &BTreeMap<String, u32>,
    bridge_mappings: &BTreeMap<String, u32>,
) -> (Bindings, Option<Scope>) {
    let mut b = Bindings {
        ports: local.clone(),
        bridge_mappings: bridge_mappings.clone(),
        chassis: me.to_owned(),
        tunnels: tunnels.clone(),
        remote_chassis: cluster.remote_chassis(me),
        remote_ports: BTreeMap::new(),
    };
    let scope = Scope::of(st, &b);
    if let Some(s) = &scope {
        for net in &s.networks {
            for p in st.ports_on_network(net) {
                let id = &p.meta.id;
                let Some(ch) = cluster.bindings.get(id) else {
                    continue;
                };
                if ch != me && !local.contains_key(id) && b.remote_chassis.contains_key(ch) {
                    b.remote_ports.insert(id.clone(), ch.clone());
                }
            }
        }
    }
    (b, scope)
}
