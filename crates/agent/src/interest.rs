//! What an agent among several hosts keeps of the intent: OVN's
//! conditional monitoring (ovn-controller(8), `ovn-monitor-all=false`),
//! where a chassis asks the Southbound database only for the rows of its
//! local datapaths. The store watch still delivers every change (etcd
//! watches a prefix, not a condition), so the condition is applied on
//! receipt:
//!
//! * every network, subnet, router, security group, rule, floating IP and
//!   QoS object is kept (few, and what the scope is computed from);
//! * ports that Neutron owns (`network:*`: router interfaces and
//!   gateways, DHCP, floating-IP holders) are kept — they are the edges of
//!   the router graph the scope walks;
//! * a VM port is kept when its network is in the host's scope
//!   ([`controller::Scope`]) or it is bound here; the others are dropped
//!   on receipt and never indexed or compiled.
//!
//! When the scope grows (a port of a new network bound here, a router
//! joining a network), the ports of the networks entering it are read from
//! the store; when it shrinks, the ports of the networks leaving it are
//! dropped. Either way the compiler is told, port by port.
//!
//! The same condition applies at start ([`load`]): an agent among several
//! hosts reads the VM ports' heads only and builds none of them; its
//! first [`Interest::refresh`], once the bindings are known, reads the
//! ports of the networks in its scope. Start costs the host's share of
//! the cloud, not the cloud (ovn-controller likewise starts with an
//! empty monitor condition and widens it to its local datapaths).

use std::collections::{BTreeMap, BTreeSet};

use controller::{Bindings, Changed, Scope};
use model::{Change, Kind, State};
use serde::Deserialize;
use store::{Event, Store};

use crate::state::decode;
use crate::AgentError;

/// The fields of a stored port that decide whether to keep it.
#[derive(Deserialize)]
struct PortHead {
    network_id: String,
    #[serde(default)]
    device_owner: String,
}

fn head(id: &str, v: &[u8]) -> Result<PortHead, AgentError> {
    serde_json::from_slice(v).map_err(|e| AgentError::Decode {
        kind: Kind::Port.store_name().to_owned(),
        id: id.to_owned(),
        why: e.to_string(),
    })
}

/// Whether a port is Neutron's own (router, DHCP, floating-IP ports):
/// kept everywhere, the edges the scope is walked along.
fn is_neutron_owned(device_owner: &str) -> bool {
    device_owner.starts_with("network:")
}

/// The networks whose VM ports are kept; `None`: every one (a single
/// host, or after a full reload).
#[derive(Debug, Default)]
pub struct Interest {
    networks: Option<BTreeSet<String>>,
    /// The VM ports the start pass left in the store, as read then: the
    /// first [`Interest::rescope`] takes those of its networks from here
    /// instead of reading every port again, and drops the rest.
    start_ports: Option<Vec<(String, store::Record)>>,
}

/// The intent an agent starts from, the store revision it is at and what
/// it holds of it. Among several hosts (`scoped`), VM ports are left in
/// the store — each is only head-decoded, never built or indexed — and
/// the interest holds no network yet, so that the first
/// [`Interest::refresh`] reads those of the host's scope. Events after
/// the revision are replayed by the watch, idempotently.
pub fn load(store: &dyn Store, scoped: bool) -> Result<(State, u64, Interest), AgentError> {
    // The networks of the records left, in the order they are left.
    let (mut nets, mut left) = (Vec::new(), Vec::new());
    let (st, rev) = crate::state::load_where(
        store,
        |kind, rec| {
            if !scoped || kind != Kind::Port {
                return Ok(true);
            }
            let h = head(&rec.id, &rec.value)?;
            let keep = is_neutron_owned(&h.device_owner);
            if !keep {
                nets.push(h.network_id);
            }
            Ok(keep)
        },
        |rec| left.push(rec),
    )?;
    let networks = scoped.then(BTreeSet::new);
    let start_ports = scoped.then(|| nets.into_iter().zip(left).collect());
    Ok((
        st,
        rev,
        Interest {
            networks,
            start_ports,
        },
    ))
}

impl Interest {
    fn wants(&self, h: &PortHead, local: &BTreeMap<String, u32>, id: &str) -> bool {
        match &self.networks {
            None => true,
            Some(n) => {
                is_neutron_owned(&h.device_owner)
                    || n.contains(&h.network_id)
                    || local.contains_key(id)
            }
        }
    }

    /// Whether a store event about a port is for this host: false when
    /// it is about a VM port of a network out of scope that the intent
    /// does not hold (dropped unseen).
    pub fn admits(
        &self,
        st: &State,
        local: &BTreeMap<String, u32>,
        ev: &Event,
    ) -> Result<bool, AgentError> {
        if ev.kind != Kind::Port.store_name() || st.ports.contains_key(&ev.id) {
            return Ok(true);
        }
        match &ev.value {
            None => Ok(false),
            Some(v) => Ok(self.wants(&head(&ev.id, v)?, local, &ev.id)),
        }
    }

    /// Bring the kept ports in line with the scope of bindings `b`: fetch
    /// the ports bound here that the intent lacks, read the ports of the
    /// networks entering the scope, drop those of the networks leaving
    /// it. The ports put or removed are pushed to `changes`. Returns the
    /// scope (`None` on a single host).
    pub fn refresh(
        &mut self,
        store: &dyn Store,
        st: &mut State,
        b: &Bindings,
        changes: &mut BTreeSet<Changed>,
    ) -> Result<Option<Scope>, AgentError> {
        fetch_missing(store, st, &b.ports, changes)?;
        let scope = Scope::of(st, b);
        self.rescope(store, st, b, scope.as_ref(), changes)?;
        Ok(scope)
    }

    /// [`Interest::refresh`] with the scope already computed (the agent
    /// computes it once per round, and only when something it depends on
    /// changed): read the ports of the networks entering it, drop those of
    /// the networks leaving it. The ports bound here must be in `st`
    /// already ([`fetch_missing`]).
    pub fn rescope(
        &mut self,
        store: &dyn Store,
        st: &mut State,
        b: &Bindings,
        scope: Option<&Scope>,
        changes: &mut BTreeSet<Changed>,
    ) -> Result<(), AgentError> {
        let port = Kind::Port.store_name();
        let Some(scope) = scope else {
            self.networks = None;
            return Ok(());
        };
        let held: BTreeSet<String> = match self.networks.take() {
            Some(n) => n,
            None => st.networks.keys().cloned().collect(),
        };
        let entering: BTreeSet<&String> = scope.networks.difference(&held).collect();
        if !entering.is_empty() {
            // Kept from the start pass ([`load`]): the first refresh needs
            // no second read of every port.
            let recs = match self.start_ports.take() {
                Some(recs) => recs,
                None => {
                    let mut v = Vec::new();
                    for rec in store.list(port)? {
                        v.push((head(&rec.id, &rec.value)?.network_id, rec));
                    }
                    v
                }
            };
            for (net, rec) in recs {
                if entering.contains(&net) && !st.ports.contains_key(&rec.id) {
                    put(st, &rec.id, &rec.value, rec.version, changes)?;
                }
            }
        }
        self.start_ports = None;
        for net in held.difference(&scope.networks) {
            let gone: Vec<String> = st
                .ports_on_network(net)
                .filter(|p| !is_neutron_owned(&p.device_owner))
                .filter(|p| !b.ports.contains_key(&p.meta.id))
                .map(|p| p.meta.id.clone())
                .collect();
            for id in gone {
                st.apply(&[Change::Delete(Kind::Port, id.clone())]);
                changes.insert(Changed::Resource(Kind::Port, id));
            }
        }
        self.networks = Some(scope.networks.clone());
        Ok(())
    }

    /// The start pass's records are stale once store events flow: a
    /// later scope growth reads the store again.
    pub fn forget_start(&mut self) {
        self.start_ports = None;
    }

    /// Everything is held again (the intent was reloaded in full).
    pub fn reset(&mut self) {
        self.networks = None;
        self.start_ports = None;
    }
}

/// Read the ports bound here (`local`) that the intent lacks (out of
/// scope until now, or dropped when their network left it); the ports put
/// are pushed to `changes`.
pub fn fetch_missing(
    store: &dyn Store,
    st: &mut State,
    local: &BTreeMap<String, u32>,
    changes: &mut BTreeSet<Changed>,
) -> Result<(), AgentError> {
    let port = Kind::Port.store_name();
    let missing: Vec<&String> = local
        .keys()
        .filter(|id| !st.ports.contains_key(*id))
        .collect();
    for id in missing {
        if let Some(rec) = store.get(port, id)? {
            put(st, id, &rec.value, rec.version, changes)?;
        }
    }
    Ok(())
}

fn put(
    st: &mut State,
    id: &str,
    v: &[u8],
    version: u64,
    changes: &mut BTreeSet<Changed>,
) -> Result<(), AgentError> {
    st.put(decode(Kind::Port, id, v, Some(version))?);
    changes.insert(Changed::Resource(Kind::Port, id.to_owned()));
    Ok(())
}
