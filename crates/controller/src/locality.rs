//! Locality: the logical datapaths one host compiles, as ovn-controller's
//! "local datapaths" with conditional monitoring (ovn-architecture(7),
//! "Life Cycle of a VIF" and ovn-controller(8) `ovn-monitor-all=false`):
//! a host needs a logical switch only if a port of it is bound here, plus
//! what that port's traffic can be routed through.
//!
//! The [`Scope`] of a host is the closure of:
//!
//! * **seeds** — the networks of the ports bound here, and, on the chassis
//!   that is the gateway of an external network (it has the bridge mapping
//!   of the network's `provider:physical_network` and wins the gateway
//!   choice of [`crate::tunnel`]), that external network;
//! * **routers** on a network that is expanded: every router with a port
//!   on it; and every network of such a router (east-west peers, and the
//!   external network its gateway is on).
//!
//! A network is expanded (its routers followed) unless it is an external
//! network this host is not the gateway of: otherwise a host with one VM
//! behind one router would pull in every router sharing the provider
//! network, and through them every tenant. OVN stops its own walk at the
//! distributed gateway port in the same way.
//!
//! Everything else — switches and routers no local port can reach, the
//! ports on them wherever they are bound — produces no flows here. A
//! single host (no chassis name in the bindings) compiles everything.
//!
//! Security-group address sets follow the ports: a member of a remote
//! group contributes its addresses only where its network is in scope
//! (an unrouted, unNATed packet from it can arrive nowhere else).

use std::collections::BTreeSet;

use model::{owner, State};

use crate::ctx::Bindings;
use crate::tunnel::{gateway, Gateway};

/// The datapaths a host compiles.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    /// Logical switches (network IDs).
    pub networks: BTreeSet<String>,
    /// Logical routers (router IDs).
    pub routers: BTreeSet<String>,
}

impl Scope {
    /// The scope of the host with bindings `b`; `None` on a single host
    /// (no chassis name), where everything is compiled.
    pub fn of(st: &State, b: &Bindings) -> Option<Scope> {
        if b.chassis.is_empty() {
            return None;
        }
        let mut todo: Vec<&str> = b
            .ports
            .keys()
            .filter_map(|p| Some(st.ports.get(p)?.network_id.as_str()))
            .collect();
        todo.extend(
            st.networks
                .values()
                .filter(|n| is_gateway_here(b, n))
                .map(|n| n.meta.id.as_str()),
        );
        let mut s = Scope::default();
        while let Some(n) = todo.pop() {
            if !s.networks.insert(n.to_owned()) {
                continue;
            }
            let expand = st
                .networks
                .get(n)
                .is_some_and(|net| !net.router_external || is_gateway_here(b, net));
            if !expand {
                continue;
            }
            for rp in st.ports_on_network(n).filter(|p| is_router_port(p)) {
                let r = rp.device_id.as_str();
                if !s.routers.insert(r.to_owned()) {
                    continue;
                }
                todo.extend(
                    st.ports_of_device(r)
                        .filter(|p| is_router_port(p))
                        .map(|p| p.network_id.as_str()),
                );
                if let Some(gw) = st
                    .routers
                    .get(r)
                    .and_then(|r| r.external_gateway_info.as_ref())
                {
                    todo.push(gw.network_id.as_str());
                }
            }
        }
        Some(s)
    }

    /// Networks and routers in one scope and not in the other.
    pub fn difference<'a>(&'a self, other: &'a Scope) -> (Vec<&'a String>, Vec<&'a String>) {
        (
            self.networks.difference(&other.networks).collect(),
            self.routers.difference(&other.routers).collect(),
        )
    }
}

fn is_router_port(p: &model::Port) -> bool {
    p.device_owner == owner::ROUTER_INTERFACE || p.device_owner == owner::ROUTER_GATEWAY
}

/// An external network whose gateway chassis is this host.
fn is_gateway_here(b: &Bindings, n: &model::Network) -> bool {
    let Some(pn) = n.physical_network.as_deref().filter(|_| n.router_external) else {
        return false;
    };
    b.bridge_mappings.contains_key(pn) && gateway(b, Some(pn)) == Gateway::Here
}
