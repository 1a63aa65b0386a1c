//! What the hosts publish about themselves in the store, as OVN's
//! Southbound Chassis and Port_Binding tables:
//!
//! * `chassis/<name>` — [`ChassisRecord`]: underlay IP, encapsulations,
//!   physical networks, put under a lease the agent keeps alive; when the
//!   host dies the lease expires, the key is deleted and every other agent
//!   drops its tunnels to it. It also says where the agent answers traces
//!   (`trace_addr`, see [`crate::trace_http`]), so that an API server on
//!   another machine can forward a trace to the port's host.
//! * `port_bindings/<port>` — [`BindingRecord`]: the chassis where the port
//!   is bound, under the same lease. A separate key rather than the port's
//!   `binding:host_id`: the agent writes only its own short-lived keys, never
//!   the tenant's resources (no compare-and-swap race with API writers, no
//!   revision bump visible to API clients), and a dead host's claims vanish
//!   with its lease.
//!
//! A port moving from A to B (live migration): B's TAP appears, B claims
//! the port (overwriting A's claim); A, still holding its TAP, sees the
//! claim and stops treating the port as local; when A's TAP goes, A
//! deletes the claim only if it is still its own.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use store::{Compare, Event, LeaseId, Op, Store, StoreError};

use crate::AgentError;

pub use controller::tunnel::ENCAPS;

/// Store collection of chassis records.
pub const CHASSIS: &str = "chassis";
/// Store collection of port bindings.
pub const PORT_BINDINGS: &str = "port_bindings";

/// One host, as its agent registers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChassisRecord {
    pub name: String,
    pub underlay_ip: Ipv4Addr,
    /// `vxlan`, `geneve`, `gre`.
    pub encaps: Vec<String>,
    /// Physical networks it has an uplink for.
    pub physnets: Vec<String>,
    /// Where the agent serves `POST /v1/trace` (`cloudnet agent
    /// --trace-addr`); absent when it serves none, and in records written
    /// before the field existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_addr: Option<SocketAddr>,
}

/// Where a port is bound.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BindingRecord {
    pub chassis: String,
}

/// This host's identity among the others (`cloudnet agent --host
/// --underlay-ip --encap`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChassisConfig {
    pub name: String,
    pub underlay_ip: Ipv4Addr,
    pub encaps: Vec<String>,
    /// Lifetime of the chassis lease; kept alive every third of it.
    pub lease_ttl: Duration,
}

/// The chassis and port bindings as the store has them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cluster {
    pub chassis: BTreeMap<String, ChassisRecord>,
    /// Port ID → chassis name. Changed through [`Cluster::bind`] and
    /// [`Cluster::unbind`], which keep the count per chassis.
    pub bindings: BTreeMap<String, String>,
    /// Chassis name → how many ports it has claimed.
    claims: BTreeMap<String, usize>,
}

fn decode<T: serde::de::DeserializeOwned>(kind: &str, id: &str, v: &[u8]) -> Result<T, AgentError> {
    serde_json::from_slice(v).map_err(|e| AgentError::Decode {
        kind: kind.to_owned(),
        id: id.to_owned(),
        why: e.to_string(),
    })
}

impl Cluster {
    /// Every chassis and binding in the store.
    pub fn load(store: &dyn Store) -> Result<Cluster, AgentError> {
        let mut c = Cluster::default();
        for rec in store.list(CHASSIS)? {
            c.chassis
                .insert(rec.id.clone(), decode(CHASSIS, &rec.id, &rec.value)?);
        }
        for rec in store.list(PORT_BINDINGS)? {
            let b: BindingRecord = decode(PORT_BINDINGS, &rec.id, &rec.value)?;
            c.bind(&rec.id, b.chassis);
        }
        Ok(c)
    }

    /// `port` is bound on `chassis` (the newest claim).
    pub fn bind(&mut self, port: &str, chassis: String) {
        *self.claims.entry(chassis.clone()).or_default() += 1;
        if let Some(old) = self.bindings.insert(port.to_owned(), chassis) {
            self.uncount(&old);
        }
    }

    /// `port` is bound nowhere.
    pub fn unbind(&mut self, port: &str) {
        if let Some(old) = self.bindings.remove(port) {
            self.uncount(&old);
        }
    }

    fn uncount(&mut self, chassis: &str) {
        if let Some(n) = self.claims.get_mut(chassis) {
            *n -= 1;
            if *n == 0 {
                self.claims.remove(chassis);
            }
        }
    }

    /// How many ports `chassis` has claimed: a chassis that has none (one
    /// that just registered) changes no remote port when its record
    /// comes, changes or goes.
    pub fn claims_on(&self, chassis: &str) -> usize {
        self.claims.get(chassis).copied().unwrap_or(0)
    }

    /// Apply a store event; false when it is not about chassis or
    /// bindings.
    pub fn apply(&mut self, ev: &Event) -> Result<bool, AgentError> {
        match (ev.kind.as_str(), &ev.value) {
            (CHASSIS, Some(v)) => {
                self.chassis
                    .insert(ev.id.clone(), decode(CHASSIS, &ev.id, v)?);
            }
            (CHASSIS, None) => {
                self.chassis.remove(&ev.id);
            }
            (PORT_BINDINGS, Some(v)) => {
                let b: BindingRecord = decode(PORT_BINDINGS, &ev.id, v)?;
                self.bind(&ev.id, b.chassis);
            }
            (PORT_BINDINGS, None) => {
                self.unbind(&ev.id);
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The other chassis as the compiler takes them.
    pub fn remote_chassis(&self, me: &str) -> BTreeMap<String, controller::Chassis> {
        self.chassis
            .iter()
            .filter(|(n, _)| n.as_str() != me)
            .map(|(n, c)| {
                let ch = controller::Chassis {
                    ip: c.underlay_ip,
                    encaps: c.encaps.clone(),
                    physnets: c.physnets.clone(),
                };
                (n.clone(), ch)
            })
            .collect()
    }
}

/// What to do about the TAPs on this host, given the claims in the store.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Claims {
    /// Ports bound here: port → ofport.
    pub local: BTreeMap<String, u32>,
    /// Ports to claim (new TAPs, unclaimed ports, or all of ours after a
    /// restart, to move them to the new lease).
    pub claim: Vec<String>,
    /// Ports whose TAP went away: delete our claim.
    pub release: Vec<String>,
}

/// Decide which of `taps` (port → ofport) are bound here. `seen` are the
/// TAPs of the previous round; `first` is the first round after start,
/// when nothing is taken from another chassis (a TAP that was there
/// before the restart is not a new bind).
pub fn resolve(
    me: &str,
    taps: &BTreeMap<String, u32>,
    seen: &std::collections::BTreeSet<String>,
    cluster: &Cluster,
    first: bool,
) -> Claims {
    let mut c = Claims::default();
    for (port, &of) in taps {
        let owner = cluster.bindings.get(port).map(String::as_str);
        let new = !first && !seen.contains(port);
        match owner {
            Some(o) if o == me => {
                if first {
                    c.claim.push(port.clone());
                }
            }
            None => c.claim.push(port.clone()),
            // A new TAP here is a port moving here: its claim wins.
            Some(_) if new => c.claim.push(port.clone()),
            // Claimed by another chassis since: yield.
            Some(_) => continue,
        }
        c.local.insert(port.clone(), of);
    }
    c.release = seen
        .iter()
        .filter(|p| !taps.contains_key(*p))
        .filter(|p| cluster.bindings.get(*p).map(String::as_str) == Some(me))
        .cloned()
        .collect();
    c
}

/// This host's registration: its lease, kept alive.
#[derive(Debug)]
pub struct Registration {
    pub cfg: ChassisConfig,
    physnets: Vec<String>,
    trace_addr: Option<SocketAddr>,
    lease: LeaseId,
    renewed: Instant,
}

impl Registration {
    /// Grant a lease and publish the chassis record under it.
    pub fn register(
        store: &dyn Store,
        cfg: ChassisConfig,
        physnets: Vec<String>,
        trace_addr: Option<SocketAddr>,
        now: Instant,
    ) -> Result<Registration, AgentError> {
        let lease = store.lease_grant(cfg.lease_ttl)?;
        let r = Registration {
            cfg,
            physnets,
            trace_addr,
            lease,
            renewed: now,
        };
        r.publish(store)?;
        Ok(r)
    }

    fn publish(&self, store: &dyn Store) -> Result<(), AgentError> {
        let rec = ChassisRecord {
            name: self.cfg.name.clone(),
            underlay_ip: self.cfg.underlay_ip,
            encaps: self.cfg.encaps.clone(),
            physnets: self.physnets.clone(),
            trace_addr: self.trace_addr,
        };
        let v = serde_json::to_vec(&rec).map_err(|e| StoreError::Backend(e.to_string()))?;
        store.put_leased(CHASSIS, &self.cfg.name, v, self.lease)?;
        Ok(())
    }

    pub fn name(&self) -> &str {
        &self.cfg.name
    }

    /// Renew the lease when a third of its TTL has passed. Returns true
    /// when it had expired and was granted anew (the caller re-claims its
    /// ports: their bindings went with the old lease).
    pub fn keep_alive(&mut self, store: &dyn Store, now: Instant) -> Result<bool, AgentError> {
        if now.duration_since(self.renewed) < self.cfg.lease_ttl / 3 {
            return Ok(false);
        }
        self.renewed = now;
        match store.lease_keep_alive(self.lease) {
            Ok(()) => Ok(false),
            Err(StoreError::LeaseNotFound(_)) => {
                tracing::warn!(chassis = %self.cfg.name, "lease expired; registering again");
                self.lease = store.lease_grant(self.cfg.lease_ttl)?;
                self.publish(store)?;
                Ok(true)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Claim `port` for this chassis (the newest claim wins).
    pub fn claim(&self, store: &dyn Store, port: &str) -> Result<(), AgentError> {
        self.claim_many(store, std::slice::from_ref(&port))
    }

    /// Claim several ports in one write (a restart or a lease renewed
    /// claims every port of the host: one transaction, not one each).
    pub fn claim_many<S: AsRef<str>>(
        &self,
        store: &dyn Store,
        ports: &[S],
    ) -> Result<(), AgentError> {
        if ports.is_empty() {
            return Ok(());
        }
        let rec = BindingRecord {
            chassis: self.cfg.name.clone(),
        };
        let v = serde_json::to_vec(&rec).map_err(|e| StoreError::Backend(e.to_string()))?;
        let items: Vec<(String, Vec<u8>)> = ports
            .iter()
            .map(|p| (p.as_ref().to_owned(), v.clone()))
            .collect();
        store.put_leased_many(PORT_BINDINGS, &items, self.lease)?;
        Ok(())
    }

    /// Delete the claim on `port` if it is still this chassis' (checked
    /// atomically: a newer claim by another chassis is left alone).
    pub fn release(&self, store: &dyn Store, port: &str) -> Result<(), AgentError> {
        let Some(rec) = store.get(PORT_BINDINGS, port)? else {
            return Ok(());
        };
        let b: BindingRecord = decode(PORT_BINDINGS, port, &rec.value)?;
        if b.chassis != self.cfg.name {
            return Ok(());
        }
        let cmp = Compare {
            kind: PORT_BINDINGS.into(),
            id: port.into(),
            version: rec.version,
        };
        let op = Op::Delete {
            kind: PORT_BINDINGS.into(),
            id: port.into(),
        };
        match store.commit(&[cmp], &[op]) {
            Ok(_) | Err(StoreError::Conflict { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(name: &str) -> ChassisConfig {
        ChassisConfig {
            name: name.into(),
            underlay_ip: Ipv4Addr::new(10, 200, 0, 1),
            encaps: vec!["vxlan".into()],
            lease_ttl: Duration::from_secs(30),
        }
    }

    #[test]
    fn claims_move_and_release_only_own() {
        let dir = tempfile::tempdir().unwrap();
        let st = store::RedbStore::open(dir.path().join("s.redb")).unwrap();
        let now = Instant::now();
        let a = Registration::register(&st, cfg("a"), vec![], None, now).unwrap();
        let trace: SocketAddr = "10.200.0.2:9697".parse().unwrap();
        let b = Registration::register(&st, cfg("b"), vec!["physnet1".into()], Some(trace), now)
            .unwrap();
        a.claim(&st, "p1").unwrap();
        b.claim(&st, "p1").unwrap();
        // A's TAP goes after B claimed: B's claim stays.
        a.release(&st, "p1").unwrap();
        let mut c = Cluster::load(&st).unwrap();
        assert_eq!(c.bindings["p1"], "b");
        assert_eq!((c.claims_on("a"), c.claims_on("b")), (0, 1));
        // Counted per chassis as claims move and go.
        c.bind("p2", "b".into());
        c.bind("p1", "a".into());
        assert_eq!((c.claims_on("a"), c.claims_on("b")), (1, 1));
        c.unbind("p1");
        c.unbind("p1");
        assert_eq!((c.claims_on("a"), c.claims_on("b")), (0, 1));
        let c = Cluster::load(&st).unwrap();
        assert_eq!(c.chassis["b"].physnets, vec!["physnet1".to_string()]);
        assert_eq!(c.chassis["b"].trace_addr, Some(trace));
        assert_eq!(c.chassis["a"].trace_addr, None);
        assert_eq!(c.remote_chassis("a").keys().collect::<Vec<_>>(), vec!["b"]);
        b.release(&st, "p1").unwrap();
        assert!(Cluster::load(&st).unwrap().bindings.is_empty());
        // Revoking a lease removes the chassis and its claims.
        a.claim(&st, "p2").unwrap();
        st.lease_revoke(a.lease).unwrap();
        let c = Cluster::load(&st).unwrap();
        assert!(!c.chassis.contains_key("a") && c.bindings.is_empty());
    }

    #[test]
    fn records_without_a_trace_address_still_decode() {
        // As written before `trace_addr` existed.
        let old = br#"{"name":"a","underlay_ip":"10.0.0.1","encaps":["vxlan"],"physnets":[]}"#;
        let r: ChassisRecord = decode(CHASSIS, "a", old).unwrap();
        assert_eq!(r.trace_addr, None);
        // And a record without one is written without the field.
        let v = serde_json::to_string(&r).unwrap();
        assert!(!v.contains("trace_addr"), "{v}");
    }

    #[test]
    fn newest_claim_wins_and_the_old_host_yields() {
        let taps: BTreeMap<String, u32> = [("p".to_string(), 5)].into_iter().collect();
        let none = std::collections::BTreeSet::new();
        let seen: std::collections::BTreeSet<String> = ["p".to_string()].into_iter().collect();
        let mut cl = Cluster::default();
        // Unclaimed: claim it.
        let r = resolve("b", &taps, &seen, &cl, false);
        assert_eq!((r.claim.len(), r.local.len()), (1, 1));
        // A has it, B's TAP is new: B claims.
        cl.bindings.insert("p".into(), "a".into());
        let r = resolve("b", &taps, &none, &cl, false);
        assert_eq!(r.claim, vec!["p".to_string()]);
        assert_eq!(r.local["p"], 5);
        // A still has its TAP but B claimed after: A yields.
        cl.bindings.insert("p".into(), "b".into());
        let r = resolve("a", &taps, &seen, &cl, false);
        assert!(r.local.is_empty() && r.claim.is_empty());
        // A's TAP goes: nothing to release, the claim is B's.
        let r = resolve("a", &BTreeMap::new(), &seen, &cl, false);
        assert!(r.release.is_empty());
        // B's TAP goes: B releases.
        let r = resolve("b", &BTreeMap::new(), &seen, &cl, false);
        assert_eq!(r.release, vec!["p".to_string()]);
        // After a restart, B re-claims its own port (new lease) but does
        // not take a port claimed elsewhere.
        let r = resolve("b", &taps, &none, &cl, true);
        assert_eq!(r.claim, vec!["p".to_string()]);
        let r = resolve("a", &taps, &none, &cl, true);
        assert!(r.local.is_empty() && r.claim.is_empty());
    }
}
