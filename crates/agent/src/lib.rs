//! The per-host agent: what ovn-controller does for one host. It keeps the
//! intent ([`model::State`]) in step with the store (`watch`), compiles it
//! with [`controller::Compiler`], and applies the flow deltas and the
//! per-port QoS to the local vswitchd through its control socket
//! (crates/vswitch/PROTOCOL.md).
//!
//! * Bindings come from the switch, as in OVS/OVN: an Interface whose
//!   `external_ids:iface-id` names a port is that port's TAP on this host
//!   (`cloudnet port plug` creates it); its `ofport` goes into
//!   [`controller::Bindings`]. Bridge mappings (`physnet:iface`, like
//!   ovn-bridge-mappings) name uplink interfaces added to the bridge.
//! * Start: ensure the bridge and uplinks, full compile, then reconcile
//!   ([`reconcile`]): flows whose cookie no resource owns are deleted, a
//!   cookie whose flow count differs is deleted and re-added, every flow is
//!   (re-)added — so a restart installs the same flows and removes stale
//!   ones.
//! * Then incremental: each store event and binding change becomes a
//!   [`controller::Changed`]; the resulting delta is applied as one
//!   transaction of the switch (`flow-mods`: the strict deletes, then the
//!   adds).
//! * The compiler's keys are persisted ([`keys_file`]) so a restart
//!   compiles identical flows (as ovn-controller keeps ct zones).
//! * Port status: ACTIVE once bound and its flows in, DOWN otherwise,
//!   through a [`StatusSink`] (the API server's write path in `serve`).
//! * Several hosts ([`Config::chassis`]): the agent registers its chassis
//!   under a lease, claims the ports bound here and learns the other
//!   chassis and their ports from the store ([`cluster`]); one flow-based
//!   tunnel port per encapsulation joins br-int to the others (the mesh
//!   itself is flows, see controller's `tunnel`). With several hosts an
//!   agent writes ACTIVE for the ports it binds and DOWN for the ones it
//!   releases, never for ports of other hosts. It keeps and compiles
//!   only what its ports can reach ([`interest`], controller's
//!   `locality`), and keeps its bindings, scope and remote ports up to
//!   date from what each event touched ([`bindings`]): a change outside
//!   its scope costs it no round.
#![forbid(unsafe_code)]

pub mod announce;
pub mod bindings;
pub mod cluster;
pub mod dryrun;
mod error;
mod http;
pub mod interest;
pub mod metrics;
mod multi;
pub mod protect;
pub mod qos;
pub mod reconcile;
pub mod state;
pub mod switch;
pub mod trace;
pub mod trace_http;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use controller::{Bindings, Changed, Compiler, Delta};
use model::State;
use store::Store;

pub use error::AgentError;
pub use metrics::AgentMetrics;
pub use protect::Protection;
pub use state::StoreStatus;
pub use switch::{Datapath, SwitchClient};
pub use trace::TraceHandle;

/// The integration bridge's name (OVN's).
pub const BRIDGE: &str = "br-int";

/// Writes a port's status back to the intent, as the API would.
pub trait StatusSink: Send {
    fn set_status(&self, port_id: &str, status: &str) -> Result<(), String>;
}

/// What the agent needs to know about its host.
#[derive(Debug, Clone)]
pub struct Config {
    /// The vswitchd run directory (its control socket).
    pub run_dir: PathBuf,
    /// Where the compiler's keys are persisted.
    pub keys_path: PathBuf,
    /// Physical network → uplink interface (`--bridge-mapping`).
    pub bridge_mappings: BTreeMap<String, String>,
    /// This host among several (`None`: a single host, no tunnels).
    pub chassis: Option<cluster::ChassisConfig>,
    /// Conntrack zone limit and storm control set on the switch
    /// ([`protect`]; `Protection::default()` is the documented default).
    pub protection: Protection,
}

/// Name of this host's flow-based tunnel port of `encap` on br-int.
pub fn tunnel_port(encap: &str) -> String {
    format!("tun-{encap}")
}

/// Parse `physnet1:eth1[,physnet2:eth2]` (ovn-bridge-mappings' syntax).
pub fn parse_mappings(s: &str) -> Result<BTreeMap<String, String>, AgentError> {
    s.split(',')
        .filter(|m| !m.is_empty())
        .map(|m| match m.split_once(':') {
            Some((p, i)) if !p.is_empty() && !i.is_empty() => Ok((p.to_owned(), i.to_owned())),
            _ => Err(AgentError::BadMapping(m.to_owned())),
        })
        .collect()
}

/// The path of the persisted keys in a data dir.
pub fn keys_file(data_dir: &std::path::Path) -> PathBuf {
    data_dir.join("agent-keys.json")
}

/// One host's agent.
pub struct Agent {
    cfg: Config,
    sw: Box<dyn Datapath>,
    store: Arc<dyn Store>,
    st: State,
    revision: u64,
    compiler: Compiler,
    bindings: Bindings,
    /// Port ID → TAP interface name.
    taps: BTreeMap<String, String>,
    /// Port ID → the QoS applied to its TAP and the rows holding it.
    qos: BTreeMap<String, qos::Applied>,
    status: Option<Box<dyn StatusSink>>,
    saved_keys: controller::keys::Snapshot,
    /// Trace requests from other threads ([`trace::TraceHandle`]).
    traces: Option<std::sync::mpsc::Receiver<trace::TraceJob>>,
    metrics: AgentMetrics,
    /// The chassis and port bindings of every host.
    cluster: cluster::Cluster,
    /// This host's registration, once started with a chassis config.
    reg: Option<cluster::Registration>,
    /// TAPs seen in the previous round (port IDs), and whether a round
    /// has run since start.
    seen: BTreeSet<String>,
    /// The Interface rows the bindings were last read from: an idle round
    /// whose rows are the same has nothing to do.
    ifaces: Vec<switch::Iface>,
    /// The switch's generation of those rows, if it keeps one.
    iface_gen: Option<u64>,
    /// Port ID → ofport of every TAP, before claims.
    tap_ports: BTreeMap<String, u32>,
    started: bool,
    /// What the store events since the last round touched ([`bindings`]).
    dirty: bindings::Dirty,
    /// The scope the flows are compiled for (controller `locality`),
    /// recomputed when one of its inputs changed.
    scope: Option<controller::Scope>,
    /// The keys' generation when they were last persisted.
    saved_gen: Option<u64>,
    /// Advertised in the chassis record ([`Agent::advertise_trace`]).
    trace_addr: Option<std::net::SocketAddr>,
    /// Conntrack flushes the changes since the last step call for, issued
    /// once their flows are in ([`controller::ctflush`]).
    ct_flushes: BTreeSet<controller::ctflush::CtFlush>,
    /// The VM ports kept of the intent ([`interest`]).
    interest: interest::Interest,
    /// Ports the last [`interest`] refresh put or dropped, for the next
    /// incremental compile.
    pending: BTreeSet<Changed>,
    /// Periodic Router Advertisements and gratuitous ARPs ([`announce`]),
    /// timed from `epoch`.
    ras: announce::RaSchedule,
    garps: announce::GarpSchedule,
    epoch: Instant,
}

impl Agent {
    /// Load the intent and the persisted keys; nothing is applied yet.
    pub fn new(
        cfg: Config,
        store: Arc<dyn Store>,
        status: Option<Box<dyn StatusSink>>,
    ) -> Result<Agent, AgentError> {
        let sw = Box::new(SwitchClient::new(&cfg.run_dir, BRIDGE));
        Agent::with_datapath(cfg, store, status, sw)
    }

    /// [`Agent::new`] on another datapath (a dry run for simulations).
    pub fn with_datapath(
        cfg: Config,
        store: Arc<dyn Store>,
        status: Option<Box<dyn StatusSink>>,
        sw: Box<dyn Datapath>,
    ) -> Result<Agent, AgentError> {
        let (st, revision, interest) = interest::load(store.as_ref(), cfg.chassis.is_some())?;
        // Loaded after the intent: events between the two are replayed by
        // the watch, idempotently.
        let cluster = cluster::Cluster::load(store.as_ref())?;
        let saved_keys = state::load_keys(&cfg.keys_path)?;
        Ok(Agent {
            sw,
            compiler: Compiler::new(controller::Keys::restore(&saved_keys)),
            cfg,
            store,
            st,
            revision,
            bindings: Bindings::default(),
            taps: BTreeMap::new(),
            qos: BTreeMap::new(),
            status,
            saved_keys,
            traces: None,
            metrics: AgentMetrics::default(),
            cluster,
            reg: None,
            seen: BTreeSet::new(),
            ifaces: Vec::new(),
            iface_gen: None,
            tap_ports: BTreeMap::new(),
            started: false,
            dirty: bindings::Dirty::all(),
            scope: None,
            saved_gen: None,
            trace_addr: None,
            ct_flushes: BTreeSet::new(),
            interest,
            pending: BTreeSet::new(),
            ras: announce::RaSchedule::new(
                announce::RaIntervals::default(),
                Box::new(announce::RandomJitter),
            ),
            garps: announce::GarpSchedule::default(),
            epoch: Instant::now(),
        })
    }

    /// The Router Advertisement intervals (default OVN's, see
    /// [`announce`]) and the source of their randomness.
    pub fn set_ra_intervals(
        &mut self,
        iv: announce::RaIntervals,
        jitter: Box<dyn announce::Jitter>,
    ) {
        self.ras = announce::RaSchedule::new(iv, jitter);
    }

    /// Publish `addr` as this chassis' trace address (call before
    /// [`Agent::start`], which registers the chassis).
    pub fn advertise_trace(&mut self, addr: std::net::SocketAddr) {
        self.trace_addr = Some(addr);
    }

    pub fn switch(&self) -> &dyn Datapath {
        self.sw.as_ref()
    }

    pub fn compiler(&self) -> &Compiler {
        &self.compiler
    }

    /// Compile and apply timings (see [`metrics`]); register them where
    /// the process exposes metrics.
    pub fn metrics(&self) -> &AgentMetrics {
        &self.metrics
    }

    /// Bridge, uplinks, full compile and reconciliation with the switch.
    pub fn start(&mut self) -> Result<(), AgentError> {
        self.sw.vsctl(&["--may-exist", "add-br", BRIDGE])?;
        protect::apply_ct_limit(self.sw.as_ref(), &self.cfg.protection)?;
        for iface in self.cfg.bridge_mappings.values() {
            self.sw.vsctl(&["--may-exist", "add-port", BRIDGE, iface])?;
        }
        if let Some(cc) = self.cfg.chassis.clone() {
            self.add_tunnel_ports(&cc)?;
            let physnets = self.cfg.bridge_mappings.keys().cloned().collect();
            self.reg = Some(cluster::Registration::register(
                self.store.as_ref(),
                cc,
                physnets,
                self.trace_addr,
                Instant::now(),
            )?);
        }
        self.dirty = bindings::Dirty::all();
        let local = self.poll_ifaces()?;
        // A full compile sees every binding and every port the interest
        // put or dropped.
        self.update_bindings(local, &mut BTreeSet::new())?;
        self.pending.clear();
        let t = Instant::now();
        self.compiler.use_scope(self.scope.clone());
        self.compiler.full(&self.st, &self.bindings);
        self.metrics.observe_compile(true, t.elapsed());
        let t = Instant::now();
        reconcile::reconcile(self.sw.as_ref(), &self.compiler.flows())?;
        self.metrics.observe_apply(t.elapsed());
        self.after_apply()
    }

    /// Serve until `stop`: apply store events and binding changes. Bindings
    /// are read from the switch at least every 200 ms (the switch has no
    /// change notification on its database yet; ovn-controller is woken by
    /// OVSDB monitors instead).
    pub fn run(&mut self, stop: &AtomicBool) -> Result<(), AgentError> {
        let mut watch = self.watch()?;
        let mut last_step = Instant::now();
        while !stop.load(Ordering::Relaxed) {
            let mut changes = BTreeSet::new();
            let mut relevant = false;
            // A store that is away (etcd down) does not stop the agent: the
            // switch keeps forwarding with the flows it has, and the lease
            // is renewed — or the chassis registered again — once the
            // store answers.
            match self.keep_alive() {
                Err(AgentError::Store(e)) => {
                    tracing::warn!(error = %e, "store unavailable; keeping the last state")
                }
                r => r?,
            }
            match watch.recv_timeout(Duration::from_millis(200)) {
                Ok(Some(ev)) => {
                    relevant |= self.event(ev, &mut changes)?;
                    while let Some(ev) = watch.try_next() {
                        relevant |= self.event(ev, &mut changes)?;
                    }
                }
                // Quiet: the periodic poll of the switch's TAPs below.
                Ok(None) => {}
                Err(store::StoreError::Compacted(_)) => {
                    self.resync()?;
                    watch = self.watch()?;
                    continue;
                }
                Err(e) => return Err(e.into()),
            }
            // Events about other hosts' networks (most of them, in a large
            // cloud) change nothing here: they do not force a round; the
            // bindings are still read every 200 ms.
            if relevant || last_step.elapsed() >= Duration::from_millis(200) {
                self.round(changes, relevant)?;
                last_step = Instant::now();
            }
            self.announce();
            self.answer_traces();
        }
        Ok(())
    }

    /// Apply every store event already delivered on `watch` (from
    /// [`Agent::watch`]), then run one round: what [`Agent::run`] does
    /// each time it wakes, for tests and simulations that drive agents
    /// step by step. Returns whether an event concerned this host.
    pub fn turn(&mut self, watch: &store::Watch) -> Result<bool, AgentError> {
        let mut changes = BTreeSet::new();
        let mut relevant = false;
        while let Some(ev) = watch.recv_timeout(Duration::ZERO)? {
            relevant |= self.event(ev, &mut changes)?;
        }
        self.round(changes, relevant)?;
        Ok(relevant)
    }

    /// A watch from the agent's revision, resyncing first while that
    /// revision's history is compacted away.
    pub fn watch(&mut self) -> Result<store::Watch, AgentError> {
        loop {
            match self.store.watch(self.revision) {
                Err(store::StoreError::Compacted(_)) => self.resync()?,
                w => return Ok(w?),
            }
        }
    }

    /// Reload the intent from a snapshot of the store and recompile in
    /// full (the watch's history was compacted: etcd keeps a bounded
    /// history). Reconciliation leaves unchanged flows alone.
    fn resync(&mut self) -> Result<(), AgentError> {
        // The chassis and bindings first: a snapshot at or before the
        // intent's revision, whose later changes the new watch replays.
        self.cluster = cluster::Cluster::load(self.store.as_ref())?;
        let scoped = self.cfg.chassis.is_some();
        let (st, revision, interest) = interest::load(self.store.as_ref(), scoped)?;
        self.st = st;
        self.revision = revision;
        self.interest = interest;
        self.scope = None;
        self.start()
    }

    /// Apply a store event; whether it can change this host's flows (a
    /// chassis, a claim on a port the host holds, intent it keeps). What
    /// it touches is noted for the next round ([`bindings`]).
    fn event(
        &mut self,
        ev: store::Event,
        changes: &mut BTreeSet<Changed>,
    ) -> Result<bool, AgentError> {
        self.revision = ev.revision;
        self.interest.forget_start();
        if self.cluster.apply(&ev)? {
            if ev.kind == cluster::CHASSIS {
                self.dirty.chassis.insert(ev.id);
                return Ok(true);
            }
            let mine = self.tap_ports.contains_key(&ev.id) || self.seen.contains(&ev.id);
            let kept = self.st.ports.contains_key(&ev.id);
            self.dirty.claims |= mine;
            if mine || kept {
                self.dirty.ports.insert(ev.id);
            }
            return Ok(mine || kept);
        }
        if !self.interest.admits(&self.st, &self.bindings.ports, &ev)? {
            return Ok(false);
        }
        // What a security-policy change stops allowing is judged against
        // the resource as it was.
        let old = match model::Kind::from_store_name(&ev.kind) {
            Some(k @ (model::Kind::Port | model::Kind::SecurityGroupRule)) => {
                self.st.get(k, &ev.id)
            }
            _ => None,
        };
        let applied = state::apply_event(&mut self.st, &ev)?;
        match model::Kind::from_store_name(&ev.kind) {
            Some(model::Kind::Port) => {
                let was = match &old {
                    Some(model::Resource::Port(p)) => Some(p),
                    _ => None,
                };
                let local = self.bindings.ports.contains_key(&ev.id);
                self.dirty
                    .port(&ev.id, was, self.st.ports.get(&ev.id), local);
            }
            Some(k) => self.dirty.resource(k),
            None => {}
        }
        if let Some(c) = applied {
            if let (Changed::Resource(kind, id), Some(old)) = (&c, &old) {
                self.ct_flushes.extend(controller::ctflush::for_change(
                    &self.st,
                    *kind,
                    id,
                    Some(old),
                    self.compiler.keys(),
                ));
            }
            changes.insert(c);
        }
        Ok(true)
    }

    /// Apply `changes` plus any binding change; one delta.
    pub fn step(&mut self, changes: BTreeSet<Changed>) -> Result<(), AgentError> {
        self.round(changes, true)
    }

    /// [`Agent::step`]; unless `forced` (a store event that concerns this
    /// host arrived), a round with no change, nothing noted by the events
    /// ([`bindings`]) and the Interface rows of the last round returns at
    /// once: the periodic poll of the switch then costs a look at its
    /// generation (or one read of its Interface table), not a walk of the
    /// host's share of the cloud.
    fn round(&mut self, mut changes: BTreeSet<Changed>, forced: bool) -> Result<(), AgentError> {
        let local = self.poll_ifaces()?;
        if !forced
            && !local
            && changes.is_empty()
            && self.pending.is_empty()
            && self.dirty.is_empty()
        {
            return Ok(());
        }
        self.update_bindings(local, &mut changes)?;
        changes.append(&mut self.pending);
        if changes.is_empty() {
            return Ok(());
        }
        let changes: Vec<Changed> = changes.into_iter().collect();
        let t = Instant::now();
        self.compiler.use_scope(self.scope.clone());
        let d = self.compiler.update(&self.st, &self.bindings, &changes);
        self.metrics.observe_compile(false, t.elapsed());
        let t = Instant::now();
        apply_delta(self.sw.as_ref(), &d)?;
        self.metrics.observe_apply(t.elapsed());
        self.flush_mac_bindings(&changes)?;
        self.flush_conntrack();
        self.after_apply()
    }

    /// Flush what [`controller::ctflush`] asks for (a deleted port's
    /// zone; rule changes need no flush, the flows re-check every packet)
    /// — after the flows are in, so that nothing flushed is admitted again
    /// by a flow about to go. A failed flush is logged, not fatal: the
    /// flows are right, only old entries linger.
    fn flush_conntrack(&mut self) {
        for f in std::mem::take(&mut self.ct_flushes) {
            let tuple = f.tuple();
            if let Err(e) = self.sw.flush_conntrack(f.zone, &tuple) {
                tracing::warn!(zone = f.zone, tuple = %tuple, error = %e, "conntrack flush failed");
            }
        }
    }

    /// A router deleted or without its external gateway leaves learned MAC
    /// bindings no compiled flow owns; they match its `metadata` and
    /// gateway port key, which a new router may reuse, so they go now
    /// (controller PIPELINE.md "Next-hop resolution").
    fn flush_mac_bindings(&self, changes: &[Changed]) -> Result<(), AgentError> {
        for c in changes {
            let Changed::Resource(model::Kind::Router, id) = c else {
                continue;
            };
            let gone = self
                .st
                .routers
                .get(id)
                .is_none_or(|r| r.external_gateway_info.is_none());
            if gone {
                let cookie = controller::flowset::mac_binding_cookie(id);
                self.sw
                    .del_flows(&format!("cookie={cookie:#x}/-1"), false)?;
            }
        }
        Ok(())
    }

    /// QoS, keys and statuses after flows changed.
    fn after_apply(&mut self) -> Result<(), AgentError> {
        let want: BTreeMap<String, controller::qos::PortQos> = self
            .compiler
            .port_qos(&self.st, &self.bindings)
            .into_iter()
            .map(|q| (q.port_id.clone(), q))
            .collect();
        // Policy detached or emptied, port deleted or unbound: nothing of
        // its QoS may stay (policing, the Port's qos, the rows).
        let gone: Vec<String> = self
            .qos
            .keys()
            .filter(|id| !want.contains_key(*id))
            .cloned()
            .collect();
        for id in gone {
            if let Some(a) = self.qos.remove(&id) {
                let tap = self.taps.get(&id).map(String::as_str);
                qos::remove(self.sw.as_ref(), tap, a.rows.as_ref())?;
            }
        }
        for (id, q) in want {
            if self.qos.get(&id).map(|a| &a.qos) == Some(&q) {
                continue;
            }
            if let Some(tap) = self.taps.get(&id) {
                let old = self.qos.get(&id).and_then(|a| a.rows.clone());
                let rows = qos::apply(self.sw.as_ref(), tap, &q, old.as_ref())?;
                self.qos.insert(id, qos::Applied { qos: q, rows });
            }
        }
        // The keys are persisted when they moved (most rounds allocate
        // nothing: the snapshot is not even taken).
        let generation = self.compiler.keys().generation();
        if self.saved_gen != Some(generation) {
            let snap = self.compiler.keys().snapshot();
            if snap != self.saved_keys {
                state::save_keys(&self.cfg.keys_path, &snap)?;
                self.saved_keys = snap;
            }
            self.saved_gen = Some(generation);
        }
        self.update_statuses();
        let now = self.epoch.elapsed();
        let adverts = controller::announce::router_advertisements(
            &self.st,
            self.compiler.keys(),
            &self.bindings,
        );
        self.ras.update(adverts, now);
        self.garps.update(
            controller::announce::served_floating_ips(&self.st, &self.bindings),
            now,
        );
        Ok(())
    }

    /// Send the Router Advertisements and gratuitous ARPs that are due
    /// ([`announce`]). A failed packet-out is logged: the next period
    /// sends again.
    pub fn announce(&mut self) {
        let now = self.epoch.elapsed();
        for a in self.ras.due(now) {
            let Some(frame) = announce::ra_frame(&a) else {
                tracing::warn!(port = %a.router_port, mac = %a.mac, "cannot build a router advertisement");
                continue;
            };
            if let Err(e) = self.sw.packet_out("controller", &frame, &a.actions) {
                tracing::warn!(port = %a.router_port, error = %e, "router advertisement not sent");
            }
        }
        for g in self.garps.due(now) {
            let Some(frame) = announce::garp_frame(&g) else {
                tracing::warn!(ip = %g.ip, mac = %g.mac, "cannot build a gratuitous ARP");
                continue;
            };
            if let Err(e) = self.sw.packet_out("controller", &frame, &g.actions) {
                tracing::warn!(ip = %g.ip, error = %e, "gratuitous ARP not sent");
            }
        }
    }

    /// ACTIVE for bound ports whose flows compiled, DOWN for the others
    /// (router, DHCP and floating-IP ports are not bound to a TAP and keep
    /// the status the API gave them).
    fn update_statuses(&self) {
        let Some(sink) = &self.status else { return };
        // Among several hosts only this host's own ports are written: no
        // need to walk the whole cloud's ports.
        let ports: Box<dyn Iterator<Item = (&String, &model::Port)>> = if self.reg.is_some() {
            Box::new(
                self.bindings
                    .ports
                    .keys()
                    .filter_map(|id| Some((id, self.st.ports.get(id)?))),
            )
        } else {
            Box::new(self.st.ports.iter())
        };
        for (id, p) in ports {
            if !p.device_owner.is_empty() && !p.device_owner.starts_with("compute:") {
                continue;
            }
            let up = self.bindings.ports.contains_key(id)
                && !self
                    .compiler
                    .owned(&controller::Owner::Port(id.clone()))
                    .is_empty();
            if !up && self.reg.is_some() {
                // Another host's port, or one this host released (set
                // DOWN then).
                continue;
            }
            let want = if up { "ACTIVE" } else { "DOWN" };
            if p.status != want {
                if let Err(e) = sink.set_status(id, want) {
                    tracing::warn!(port = %id, "setting status {want}: {e}");
                }
            }
        }
    }

    /// The current intent (for tests and status).
    pub fn state(&self) -> &State {
        &self.st
    }

    /// The bindings the flows were last compiled with.
    pub fn bindings(&self) -> &Bindings {
        &self.bindings
    }

    /// The scope the flows were last compiled for (`None` on a single
    /// host).
    pub fn scope(&self) -> Option<&controller::Scope> {
        self.scope.as_ref()
    }
}

/// Apply a delta: strict deletes, then every add, in one request where
/// the switch takes it ([`Datapath::apply_flows`]).
pub fn apply_delta(sw: &dyn Datapath, d: &Delta) -> Result<(), AgentError> {
    sw.apply_flows(
        d.delete.iter().map(|k| k.to_strict_filter()).collect(),
        d.add.iter().map(|f| f.to_string()).collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bridge_mappings_parse() {
        let m = parse_mappings("physnet1:eth1,physnet2:eth2").unwrap();
        assert_eq!(m["physnet1"], "eth1");
        assert_eq!(m["physnet2"], "eth2");
        assert!(parse_mappings("").unwrap().is_empty());
        for bad in ["physnet1", "physnet1:", ":eth1"] {
            assert!(
                matches!(parse_mappings(bad), Err(AgentError::BadMapping(s)) if s == bad),
                "{bad}"
            );
        }
    }
}
