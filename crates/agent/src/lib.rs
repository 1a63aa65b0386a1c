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
//!   [`controller::Changed`]; the resulting delta is applied as the strict
//!   deletes plus one `add-flows` batch.
//! * The compiler's keys are persisted ([`keys_file`]) so a restart
//!   compiles identical flows (as ovn-controller keeps ct zones).
//! * Port status: ACTIVE once bound with its flows in, DOWN otherwise,
//!   through a [`StatusSink`] (the API server's write path in `serve`).
#![forbid(unsafe_code)]

mod error;
pub mod qos;
pub mod reconcile;
pub mod state;
pub mod switch;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use controller::{Bindings, Changed, Compiler, Delta};
use model::State;
use store::Store;

pub use error::AgentError;
pub use switch::SwitchClient;

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
    sw: SwitchClient,
    store: Arc<dyn Store>,
    st: State,
    revision: u64,
    compiler: Compiler,
    bindings: Bindings,
    /// Port ID → TAP interface name.
    taps: BTreeMap<String, String>,
    qos: BTreeMap<String, controller::qos::PortQos>,
    status: Option<Box<dyn StatusSink>>,
    saved_keys: controller::keys::Snapshot,
}

impl Agent {
    /// Load the intent and the persisted keys; nothing is applied yet.
    pub fn new(
        cfg: Config,
        store: Arc<dyn Store>,
        status: Option<Box<dyn StatusSink>>,
    ) -> Result<Agent, AgentError> {
        let (st, revision) = state::load(store.as_ref())?;
        let saved_keys = state::load_keys(&cfg.keys_path)?;
        Ok(Agent {
            sw: SwitchClient::new(&cfg.run_dir, BRIDGE),
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
        })
    }

    pub fn switch(&self) -> &SwitchClient {
        &self.sw
    }

    pub fn compiler(&self) -> &Compiler {
        &self.compiler
    }

    /// Bridge, uplinks, full compile and reconciliation with the switch.
    pub fn start(&mut self) -> Result<(), AgentError> {
        self.sw.vsctl(&["--may-exist", "add-br", BRIDGE])?;
        for iface in self.cfg.bridge_mappings.values() {
            self.sw.vsctl(&["--may-exist", "add-port", BRIDGE, iface])?;
        }
        self.read_bindings()?;
        self.compiler.full(&self.st, &self.bindings);
        reconcile::reconcile(&self.sw, &self.compiler.flows())?;
        self.after_apply()
    }

    /// Serve until `stop`: apply store events and binding changes. Bindings
    /// are read from the switch at least every 200 ms (the switch has no
    /// change notification on its database yet; ovn-controller is woken by
    /// OVSDB monitors instead).
    pub fn run(&mut self, stop: &AtomicBool) -> Result<(), AgentError> {
        let watch = self.store.watch(self.revision)?;
        while !stop.load(Ordering::Relaxed) {
            let mut changes = BTreeSet::new();
            if let Some(ev) = watch.next_timeout(Duration::from_millis(200)) {
                self.event(ev, &mut changes)?;
                while let Some(ev) = watch.try_next() {
                    self.event(ev, &mut changes)?;
                }
            }
            self.step(changes)?;
        }
        Ok(())
    }

    fn event(
        &mut self,
        ev: store::Event,
        changes: &mut BTreeSet<Changed>,
    ) -> Result<(), AgentError> {
        self.revision = ev.revision;
        if let Some(c) = state::apply_event(&mut self.st, &ev)? {
            changes.insert(c);
        }
        Ok(())
    }

    /// Apply `changes` plus any binding change; one delta.
    pub fn step(&mut self, mut changes: BTreeSet<Changed>) -> Result<(), AgentError> {
        let before = self.bindings.clone();
        self.read_bindings()?;
        if before.bridge_mappings != self.bindings.bridge_mappings {
            changes.insert(Changed::Mappings);
        }
        let ids: BTreeSet<&String> = before
            .ports
            .keys()
            .chain(self.bindings.ports.keys())
            .collect();
        for id in ids {
            if before.ports.get(id) != self.bindings.ports.get(id) {
                changes.insert(Changed::Binding(id.clone()));
            }
        }
        if changes.is_empty() {
            return Ok(());
        }
        let changes: Vec<Changed> = changes.into_iter().collect();
        let d = self.compiler.update(&self.st, &self.bindings, &changes);
        apply_delta(&self.sw, &d)?;
        self.flush_mac_bindings(&changes)?;
        self.after_apply()
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

    /// Bindings from the switch's Interface table.
    fn read_bindings(&mut self) -> Result<(), AgentError> {
        let mut b = Bindings::default();
        let mut taps = BTreeMap::new();
        let by_name: BTreeMap<String, switch::Iface> = self
            .sw
            .interfaces()?
            .into_iter()
            .map(|i| (i.name.clone(), i))
            .collect();
        for i in by_name.values() {
            if let (Some(id), Some(of)) = (i.external_ids.get("iface-id"), i.ofport) {
                b.ports.insert(id.clone(), of);
                taps.insert(id.clone(), i.name.clone());
            }
        }
        for (phys, iface) in &self.cfg.bridge_mappings {
            if let Some(of) = by_name.get(iface).and_then(|i| i.ofport) {
                b.bridge_mappings.insert(phys.clone(), of);
            }
        }
        self.bindings = b;
        self.taps = taps;
        Ok(())
    }

    /// QoS, keys and statuses after flows changed.
    fn after_apply(&mut self) -> Result<(), AgentError> {
        for q in self.compiler.port_qos(&self.st, &self.bindings) {
            if self.qos.get(&q.port_id) == Some(&q) {
                continue;
            }
            if let Some(tap) = self.taps.get(&q.port_id) {
                qos::apply(&self.sw, tap, &q)?;
                self.qos.insert(q.port_id.clone(), q);
            }
        }
        let snap = self.compiler.keys().snapshot();
        if snap != self.saved_keys {
            state::save_keys(&self.cfg.keys_path, &snap)?;
            self.saved_keys = snap;
        }
        self.update_statuses();
        Ok(())
    }

    /// ACTIVE for bound ports whose flows compiled, DOWN for the others
    /// (router, DHCP and floating-IP ports are not bound to a TAP and keep
    /// the status the API gave them).
    fn update_statuses(&self) {
        let Some(sink) = &self.status else { return };
        for (id, p) in &self.st.ports {
            if !p.device_owner.is_empty() && !p.device_owner.starts_with("compute:") {
                continue;
            }
            let up = self.bindings.ports.contains_key(id)
                && !self
                    .compiler
                    .owned(&controller::Owner::Port(id.clone()))
                    .is_empty();
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
}

/// Apply a delta: strict deletes, then every add in one batch.
pub fn apply_delta(sw: &SwitchClient, d: &Delta) -> Result<(), AgentError> {
    for k in &d.delete {
        sw.del_flows(&k.to_strict_filter(), true)?;
    }
    sw.add_flows(d.add.iter().map(|f| f.to_string()).collect())
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
