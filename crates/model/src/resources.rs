//! The resources of the OpenStack Networking API v2.0 as stored. Field names
//! are those of the API (including the `provider:` and `binding:` extension
//! attributes), so a resource serializes to its wire form; derived fields
//! (a network's `subnets`, a group's rules, a policy's rules) are added when
//! rendering, from [`crate::State`].

use serde::{Deserialize, Serialize};

use crate::Kind;

/// Attributes every resource has: identity, owner, tags, timestamps and the
/// revision number that `If-Match: revision_number=N` is checked against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Meta {
    pub id: String,
    #[serde(default)]
    pub description: String,
    pub project_id: String,
    /// Same as `project_id`: Neutron returns both.
    pub tenant_id: String,
    #[serde(default)]
    pub tags: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
    pub revision_number: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Network {
    #[serde(flatten)]
    pub meta: Meta,
    pub name: String,
    pub admin_state_up: bool,
    pub shared: bool,
    #[serde(rename = "router:external")]
    pub router_external: bool,
    pub mtu: u32,
    pub status: String,
    pub port_security_enabled: bool,
    #[serde(rename = "provider:network_type")]
    pub network_type: String,
    #[serde(rename = "provider:physical_network")]
    pub physical_network: Option<String>,
    #[serde(rename = "provider:segmentation_id")]
    pub segmentation_id: Option<u32>,
    pub qos_policy_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pool {
    pub start: String,
    pub end: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostRoute {
    pub destination: String,
    pub nexthop: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subnet {
    #[serde(flatten)]
    pub meta: Meta,
    pub name: String,
    pub network_id: String,
    pub ip_version: u8,
    pub cidr: String,
    pub gateway_ip: Option<String>,
    pub allocation_pools: Vec<Pool>,
    pub enable_dhcp: bool,
    pub dns_nameservers: Vec<String>,
    pub host_routes: Vec<HostRoute>,
    pub ipv6_ra_mode: Option<String>,
    pub ipv6_address_mode: Option<String>,
    pub subnetpool_id: Option<String>,
    pub service_types: Vec<String>,
    pub segment_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FixedIp {
    pub subnet_id: String,
    pub ip_address: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressPair {
    pub ip_address: String,
    pub mac_address: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Port {
    #[serde(flatten)]
    pub meta: Meta,
    pub name: String,
    pub network_id: String,
    pub admin_state_up: bool,
    pub mac_address: String,
    pub fixed_ips: Vec<FixedIp>,
    pub device_id: String,
    pub device_owner: String,
    pub security_groups: Vec<String>,
    pub port_security_enabled: bool,
    pub allowed_address_pairs: Vec<AddressPair>,
    #[serde(rename = "binding:host_id")]
    pub host_id: String,
    #[serde(rename = "binding:vnic_type")]
    pub vnic_type: String,
    #[serde(rename = "binding:vif_type")]
    pub vif_type: String,
    #[serde(rename = "binding:profile")]
    pub binding_profile: serde_json::Map<String, serde_json::Value>,
    #[serde(rename = "binding:vif_details")]
    pub vif_details: serde_json::Map<String, serde_json::Value>,
    pub qos_policy_id: Option<String>,
    pub status: String,
    pub extra_dhcp_opts: Vec<serde_json::Value>,
}

/// Device owners Neutron uses for ports it creates itself.
pub mod owner {
    pub const ROUTER_INTERFACE: &str = "network:router_interface";
    pub const ROUTER_GATEWAY: &str = "network:router_gateway";
    pub const FLOATING_IP: &str = "network:floatingip";
    pub const DHCP: &str = "network:dhcp";
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatewayInfo {
    pub network_id: String,
    pub enable_snat: bool,
    pub external_fixed_ips: Vec<FixedIp>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Router {
    #[serde(flatten)]
    pub meta: Meta,
    pub name: String,
    pub admin_state_up: bool,
    pub status: String,
    pub external_gateway_info: Option<GatewayInfo>,
    pub routes: Vec<HostRoute>,
    pub distributed: bool,
    pub ha: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FloatingIp {
    #[serde(flatten)]
    pub meta: Meta,
    pub floating_network_id: String,
    pub floating_ip_address: String,
    pub port_id: Option<String>,
    pub fixed_ip_address: Option<String>,
    pub router_id: Option<String>,
    pub status: String,
    pub qos_policy_id: Option<String>,
    /// The port (device_owner `network:floatingip`) holding the address.
    #[serde(default)]
    pub floating_port_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityGroup {
    #[serde(flatten)]
    pub meta: Meta,
    pub name: String,
    pub stateful: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityGroupRule {
    #[serde(flatten)]
    pub meta: Meta,
    pub security_group_id: String,
    pub direction: String,
    pub ethertype: String,
    pub protocol: Option<String>,
    pub port_range_min: Option<u32>,
    pub port_range_max: Option<u32>,
    pub remote_ip_prefix: Option<String>,
    pub normalized_cidr: Option<String>,
    pub remote_group_id: Option<String>,
    pub remote_address_group_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QosPolicy {
    #[serde(flatten)]
    pub meta: Meta,
    pub name: String,
    pub shared: bool,
    pub is_default: bool,
}

/// The three QoS rule types; `type` on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum QosRuleSpec {
    BandwidthLimit {
        max_kbps: u64,
        max_burst_kbps: u64,
        direction: String,
    },
    MinimumBandwidth {
        min_kbps: u64,
        direction: String,
    },
    DscpMarking {
        dscp_mark: u8,
    },
}

impl QosRuleSpec {
    /// The rule type name (`bandwidth_limit`, ...).
    pub fn type_name(&self) -> &'static str {
        match self {
            QosRuleSpec::BandwidthLimit { .. } => "bandwidth_limit",
            QosRuleSpec::MinimumBandwidth { .. } => "minimum_bandwidth",
            QosRuleSpec::DscpMarking { .. } => "dscp_marking",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QosRule {
    #[serde(flatten)]
    pub meta: Meta,
    pub qos_policy_id: String,
    #[serde(flatten)]
    pub spec: QosRuleSpec,
}

/// Any stored resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resource {
    Network(Network),
    Subnet(Subnet),
    Port(Port),
    Router(Router),
    FloatingIp(FloatingIp),
    SecurityGroup(SecurityGroup),
    SecurityGroupRule(SecurityGroupRule),
    QosPolicy(QosPolicy),
    QosRule(QosRule),
}

macro_rules! each {
    ($self:expr, $r:ident => $e:expr) => {
        match $self {
            Resource::Network($r) => $e,
            Resource::Subnet($r) => $e,
            Resource::Port($r) => $e,
            Resource::Router($r) => $e,
            Resource::FloatingIp($r) => $e,
            Resource::SecurityGroup($r) => $e,
            Resource::SecurityGroupRule($r) => $e,
            Resource::QosPolicy($r) => $e,
            Resource::QosRule($r) => $e,
        }
    };
}

impl Resource {
    pub fn kind(&self) -> Kind {
        match self {
            Resource::Network(_) => Kind::Network,
            Resource::Subnet(_) => Kind::Subnet,
            Resource::Port(_) => Kind::Port,
            Resource::Router(_) => Kind::Router,
            Resource::FloatingIp(_) => Kind::FloatingIp,
            Resource::SecurityGroup(_) => Kind::SecurityGroup,
            Resource::SecurityGroupRule(_) => Kind::SecurityGroupRule,
            Resource::QosPolicy(_) => Kind::QosPolicy,
            Resource::QosRule(_) => Kind::QosRule,
        }
    }

    pub fn meta(&self) -> &Meta {
        each!(self, r => &r.meta)
    }

    pub fn meta_mut(&mut self) -> &mut Meta {
        each!(self, r => &mut r.meta)
    }

    pub fn id(&self) -> &str {
        &self.meta().id
    }

    /// The stored (and wire) JSON form, without derived fields.
    pub fn to_json(&self) -> serde_json::Value {
        // Serializing these plain structs cannot fail: no maps with
        // non-string keys, no custom serializers.
        each!(self, r => serde_json::to_value(r).unwrap_or(serde_json::Value::Null))
    }

    /// Decode a stored resource of the given kind.
    pub fn from_json(kind: Kind, v: &[u8]) -> Result<Resource, serde_json::Error> {
        Ok(match kind {
            Kind::Network => Resource::Network(serde_json::from_slice(v)?),
            Kind::Subnet => Resource::Subnet(serde_json::from_slice(v)?),
            Kind::Port => Resource::Port(serde_json::from_slice(v)?),
            Kind::Router => Resource::Router(serde_json::from_slice(v)?),
            Kind::FloatingIp => Resource::FloatingIp(serde_json::from_slice(v)?),
            Kind::SecurityGroup => Resource::SecurityGroup(serde_json::from_slice(v)?),
            Kind::SecurityGroupRule => Resource::SecurityGroupRule(serde_json::from_slice(v)?),
            Kind::QosPolicy => Resource::QosPolicy(serde_json::from_slice(v)?),
            Kind::QosRule => Resource::QosRule(serde_json::from_slice(v)?),
        })
    }
}
