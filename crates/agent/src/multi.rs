//! The agent among several hosts: tunnel ports and the chassis lease (the
//! claims and the remote ports are in [`crate::bindings`]).

use std::time::Instant;

use crate::{cluster, tunnel_port, Agent, AgentError, BRIDGE};

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
}
