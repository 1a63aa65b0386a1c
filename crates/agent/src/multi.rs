//! The agent among several hosts: tunnel ports, the chassis lease, port
//! claims, and what changed between two [`Bindings`].

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use controller::{Bindings, Changed, Scope};

use crate::{cluster, switch, tunnel_port, Agent, AgentError, BRIDGE};

impl Agent {
    /// One flow-based tunnel port per encapsulation
    /// (ovs-vswitchd.conf.db(5): `remote_ip=flow`, `key=flow`; `local_ip`
    /// binds the receive side to the underlay address). The ports do not
    /// change with the chassis set: the flows choose the remote.
    pub(crate) fn add_tunnel_ports(&self, cc: &cluster::ChassisConfig) -> Result<(), AgentError> {
        for e in &cc.encaps {
            let name = tunnel_port(e);
            let ty = format!("type={e}");
            let local = format!("options:local_ip={}", cc.underlay_ip);
            self.sw.vsctl(&[
                "--may-exist",
                "add-port",
                BRIDGE,
                &name,
                "--",
                "set",
                "Interface",
                &name,
                &ty,
                "options:remote_ip=flow",
                "options:key=flow",
                &local,
            ])?;
        }
        Ok(())
    }

    /// Renew the chassis lease; after an expiry, claim every local port
    /// again (its bindings went with the old lease).
    pub(crate) fn keep_alive(&mut self) -> Result<(), AgentError> {
        let Some(reg) = &mut self.reg else {
            return Ok(());
        };
        if reg.keep_alive(self.store.as_ref(), Instant::now())? {
            let ports: Vec<&String> = self.bindings.ports.keys().collect();
            reg.claim_many(self.store.as_ref(), &ports)?;
        }
        Ok(())
    }

    /// Turn the TAPs in `b.ports` into this host's bindings: claim new
    /// ones, yield ports another chassis claimed since, release ports
    /// whose TAP went; fill in the tunnel ports, the other chassis and
    /// the remote ports.
    pub(crate) fn resolve_claims(
        &mut self,
        b: &mut Bindings,
        ifaces: &BTreeMap<&str, &switch::Iface>,
    ) -> Result<(), AgentError> {
        let Some(reg) = &self.reg else {
            return Ok(());
        };
        let me = reg.name().to_owned();
        for e in &reg.cfg.encaps {
            if let Some(of) = ifaces.get(tunnel_port(e).as_str()).and_then(|i| i.ofport) {
                b.tunnels.insert(e.clone(), of);
            }
        }
        let c = cluster::resolve(&me, &b.ports, &self.seen, &self.cluster, !self.started);
        self.seen = b.ports.keys().cloned().collect();
        self.started = true;
        reg.claim_many(self.store.as_ref(), &c.claim)?;
        for p in &c.claim {
            // Ours from now on, before the watch confirms it.
            self.cluster.bindings.insert(p.clone(), me.clone());
        }
        for p in &c.release {
            reg.release(self.store.as_ref(), p)?;
            self.cluster.bindings.remove(p);
            if let Some(sink) = &self.status {
                if let Err(e) = sink.set_status(p, "DOWN") {
                    tracing::warn!(port = %p, "setting status DOWN: {e}");
                }
            }
        }
        b.ports = c.local;
        b.remote_chassis = self.cluster.remote_chassis(&me);
        b.chassis = me;
        let scope =
            self.interest
                .refresh(self.store.as_ref(), &mut self.st, b, &mut self.pending)?;
        b.remote_ports = self.remote_ports(b, scope.as_ref());
        Ok(())
    }

    /// The ports bound on other live chassis, on the networks this host
    /// compiles (controller `locality`): found through the networks in
    /// scope, so a change costs the size of this host's share of the
    /// cloud, not of the cloud; ports of other networks are not kept.
    fn remote_ports(&self, b: &Bindings, scope: Option<&Scope>) -> BTreeMap<String, String> {
        let Some(scope) = scope else {
            return BTreeMap::new();
        };
        let mut out = BTreeMap::new();
        for net in &scope.networks {
            for p in self.st.ports_on_network(net) {
                let id = &p.meta.id;
                let Some(ch) = self.cluster.bindings.get(id) else {
                    continue;
                };
                if *ch != b.chassis
                    && !b.ports.contains_key(id)
                    && b.remote_chassis.contains_key(ch)
                {
                    out.insert(id.clone(), ch.clone());
                }
            }
        }
        out
    }
}

/// The compiler changes between two bindings: a port whose local ofport or
/// remote location (chassis, its address and encapsulations) differs; the
/// mappings, tunnel ports or chassis set as a whole.
pub(crate) fn binding_changes(before: &Bindings, after: &Bindings) -> BTreeSet<Changed> {
    let mut out = BTreeSet::new();
    if before.bridge_mappings != after.bridge_mappings
        || before.tunnels != after.tunnels
        || before.remote_chassis != after.remote_chassis
        || before.chassis != after.chassis
    {
        out.insert(Changed::Mappings);
    }
    // Borrowed views, compared without copying: this runs every round.
    type Loc<'a> = (
        Option<&'a u32>,
        Option<(&'a String, Option<&'a controller::Chassis>)>,
    );
    fn loc<'a>(b: &'a Bindings, id: &str) -> Loc<'a> {
        let remote = b.remote_ports.get(id).map(|c| (c, b.remote_chassis.get(c)));
        (b.ports.get(id), remote)
    }
    for b in [before, after] {
        for id in b.ports.keys().chain(b.remote_ports.keys()) {
            if loc(before, id) != loc(after, id) {
                out.insert(Changed::Binding(id.clone()));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_port_moving_and_a_chassis_leaving_are_changes() {
        let mut a = Bindings::default();
        a.ports.insert("p".into(), 3);
        let mut b = a.clone();
        assert!(binding_changes(&a, &b).is_empty());
        b.ports.clear();
        b.remote_ports.insert("p".into(), "h2".into());
        assert_eq!(
            binding_changes(&a, &b),
            [Changed::Binding("p".into())].into_iter().collect()
        );
        let mut c = b.clone();
        c.remote_chassis.insert(
            "h2".into(),
            controller::Chassis {
                ip: "10.0.0.2".parse().unwrap(),
                encaps: vec!["vxlan".into()],
                physnets: vec![],
            },
        );
        let d = binding_changes(&b, &c);
        assert!(d.contains(&Changed::Mappings) && d.contains(&Changed::Binding("p".into())));
    }
}
