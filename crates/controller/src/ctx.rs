//! What every compile function reads: the intent, the indexes, the local
//! bindings, and the key allocator.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;
use model::{owner, Port, State, Subnet};

use crate::index::Index;
use crate::keys::Keys;
use crate::util;
use crate::CompileError;

/// This host's physical side: the compiler's only input besides the intent.
///
/// With several hosts it is also what this host knows of the others (OVN's
/// Southbound Chassis and Port_Binding tables): the other chassis, where
/// each remote port is bound, and this host's tunnel ports. Left empty
/// (no `chassis`), the pipeline is the single-host one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bindings {
    /// Locally bound port ID → OpenFlow port number of its TAP on br-int.
    pub ports: BTreeMap<String, u32>,
    /// Physical network name → OpenFlow port of its uplink (like
    /// ovn-bridge-mappings in the Open_vSwitch table's external_ids).
    pub bridge_mappings: BTreeMap<String, u32>,
    /// This host's chassis name ("" on a single host).
    pub chassis: String,
    /// Encapsulation (`vxlan`, `geneve`, `gre`) → OpenFlow port of this
    /// host's flow-based tunnel port of that type (`remote_ip=flow`,
    /// `key=flow`).
    pub tunnels: BTreeMap<String, u32>,
    /// The other live chassis, by name.
    pub remote_chassis: BTreeMap<String, Chassis>,
    /// Ports bound on another chassis → that chassis' name.
    pub remote_ports: BTreeMap<String, String>,
}

/// Another host, as its agent registered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chassis {
    /// Underlay address: the outer destination of tunnelled packets.
    pub ip: std::net::Ipv4Addr,
    /// Encapsulations it terminates.
    pub encaps: Vec<String>,
    /// Physical networks it has an uplink for (its bridge mappings).
    pub physnets: Vec<String>,
}

pub(crate) struct Cx<'a> {
    pub st: &'a State,
    pub ix: &'a Index,
    pub b: &'a Bindings,
    pub keys: &'a mut Keys,
    /// Per-pass memo of the groups' rules ([`crate::acl::Memo`]).
    pub acl: &'a mut crate::acl::Memo,
}

/// The `conjunction` ID of security-group rule `rule`.
pub(crate) fn conj_id(keys: &mut Keys, rule: &str) -> Result<u32, CompileError> {
    keys.conj.get_or_alloc(rule, "conjunction id")
}

/// An address of a port with the subnet it is on.
pub(crate) struct Addr<'a> {
    pub ip: IpAddr,
    pub subnet: &'a Subnet,
    pub net: IpNet,
}

impl<'a> Cx<'a> {
    pub fn net_dp(&mut self, id: &str) -> Result<u32, CompileError> {
        self.keys
            .datapaths
            .get_or_alloc(&format!("n:{id}"), "datapath key")
    }
    pub fn router_dp(&mut self, id: &str) -> Result<u32, CompileError> {
        self.keys
            .datapaths
            .get_or_alloc(&format!("r:{id}"), "datapath key")
    }
    pub fn port_key(&mut self, id: &str) -> Result<u32, CompileError> {
        self.keys.ports.get_or_alloc(&format!("p:{id}"), "port key")
    }
    /// Key of the router-side logical port of router port `id`.
    pub fn lrp_key(&mut self, id: &str) -> Result<u32, CompileError> {
        self.keys
            .ports
            .get_or_alloc(&format!("lrp:{id}"), "port key")
    }
    /// Key of a network's localnet port (its uplink).
    pub fn localnet_key(&mut self, net: &str) -> Result<u32, CompileError> {
        self.keys
            .ports
            .get_or_alloc(&format!("ln:{net}"), "port key")
    }
    pub fn net_zone(&mut self, id: &str) -> Result<u32, CompileError> {
        self.keys
            .zones
            .get_or_alloc(&format!("n:{id}"), "conntrack zone")
    }
    /// Conntrack zone of a VM port bound on this host: its security groups
    /// track connections in a zone of their own, as ovn-controller gives
    /// every local VIF one (ovn-architecture(7), "Life Cycle of a VIF").
    /// Persisted with the other keys, so a restart keeps it.
    pub fn port_zone(&mut self, id: &str) -> Result<u32, CompileError> {
        self.keys
            .zones
            .get_or_alloc(&format!("p:{id}"), "conntrack zone")
    }
    pub fn snat_zone(&mut self, router: &str) -> Result<u32, CompileError> {
        self.keys
            .zones
            .get_or_alloc(&format!("rs:{router}"), "conntrack zone")
    }
    pub fn dnat_zone(&mut self, router: &str) -> Result<u32, CompileError> {
        self.keys
            .zones
            .get_or_alloc(&format!("rd:{router}"), "conntrack zone")
    }
    pub fn conj_id(&mut self, rule: &str) -> Result<u32, CompileError> {
        conj_id(self.keys, rule)
    }

    /// The fixed IPs of a port with their subnets (unknown subnets skipped).
    pub fn addrs(&self, p: &'a Port) -> Result<Vec<Addr<'a>>, CompileError> {
        let st: &'a State = self.st;
        let mut v = Vec::new();
        for f in &p.fixed_ips {
            let Some(subnet) = st.subnets.get(&f.subnet_id) else {
                continue;
            };
            let ip = util::ip("port", &p.meta.id, &f.ip_address)?;
            let net = util::net("subnet", &subnet.meta.id, &subnet.cidr)?;
            v.push(Addr { ip, subnet, net });
        }
        Ok(v)
    }

    /// The ports of a network that the switch delivers to by MAC: VM ports,
    /// router ports, DHCP ports (not floating-IP holders).
    pub fn ports_on(&self, net: &str) -> impl Iterator<Item = &'a Port> + 'a {
        let st: &'a State = self.st;
        st.ports_on_network(net)
            .filter(|p| p.device_owner != owner::FLOATING_IP)
    }
}

/// Whether a port is a VM (or other compute) port rather than one Neutron
/// owns (`network:*`).
pub(crate) fn is_vm(p: &Port) -> bool {
    !p.device_owner.starts_with("network:")
}

/// Port security as Neutron applies it: the port's own flag (which the API
/// defaults from the network's).
pub(crate) fn secured(p: &Port) -> bool {
    p.port_security_enabled && is_vm(p)
}

/// Whether a port's traffic goes through security groups: port security on
/// and at least one group (Neutron: no groups → all traffic allowed only if
/// port security is off; on with no groups → everything dropped; we follow
/// that by still sending it through the ACL stage).
pub(crate) fn stateful(st: &model::State, p: &Port) -> bool {
    secured(p) && !stateless(st, p)
}

/// Whether a secured port's groups are all stateless (Neutron's
/// `stateful=false`): its traffic skips conntrack and every direction
/// needs a rule. Neutron refuses ports mixing stateful and stateless
/// groups; such a port (or one with no groups) is treated as stateful.
pub(crate) fn stateless(st: &model::State, p: &Port) -> bool {
    !p.security_groups.is_empty()
        && p.security_groups
            .iter()
            .all(|g| st.security_groups.get(g).is_some_and(|g| !g.stateful))
}
