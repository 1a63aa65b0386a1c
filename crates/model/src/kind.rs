//! The resource kinds and their names on the wire. Neutron uses hyphens in
//! URLs and underscores in JSON (`/v2.0/security-groups` returns
//! `security_groups`); QoS policies live under `/v2.0/qos/policies` and are
//! returned as `policies`.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Network,
    Subnet,
    Port,
    Router,
    FloatingIp,
    SecurityGroup,
    SecurityGroupRule,
    QosPolicy,
    QosRule,
}

impl Kind {
    pub const ALL: [Kind; 9] = [
        Kind::Network,
        Kind::Subnet,
        Kind::Port,
        Kind::Router,
        Kind::FloatingIp,
        Kind::SecurityGroup,
        Kind::SecurityGroupRule,
        Kind::QosPolicy,
        Kind::QosRule,
    ];

    /// The JSON key of one resource (`{"network": {...}}`).
    pub fn singular(self) -> &'static str {
        match self {
            Kind::Network => "network",
            Kind::Subnet => "subnet",
            Kind::Port => "port",
            Kind::Router => "router",
            Kind::FloatingIp => "floatingip",
            Kind::SecurityGroup => "security_group",
            Kind::SecurityGroupRule => "security_group_rule",
            Kind::QosPolicy => "policy",
            Kind::QosRule => "rule",
        }
    }

    /// The JSON key of a collection (`{"networks": [...]}`).
    pub fn plural(self) -> &'static str {
        match self {
            Kind::Network => "networks",
            Kind::Subnet => "subnets",
            Kind::Port => "ports",
            Kind::Router => "routers",
            Kind::FloatingIp => "floatingips",
            Kind::SecurityGroup => "security_groups",
            Kind::SecurityGroupRule => "security_group_rules",
            Kind::QosPolicy => "policies",
            Kind::QosRule => "rules",
        }
    }

    /// The human name used in Neutron's messages ("Network X could not be found.").
    pub fn title(self) -> &'static str {
        match self {
            Kind::Network => "Network",
            Kind::Subnet => "Subnet",
            Kind::Port => "Port",
            Kind::Router => "Router",
            Kind::FloatingIp => "FloatingIP",
            Kind::SecurityGroup => "Security Group",
            Kind::SecurityGroupRule => "Security Group Rule",
            Kind::QosPolicy => "QoS Policy",
            Kind::QosRule => "QoS Rule",
        }
    }

    /// Stable key prefix in the store.
    pub fn store_name(self) -> &'static str {
        self.plural()
    }

    pub fn from_store_name(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.store_name() == s)
    }

    /// The 404 error for this kind.
    pub fn not_found(self, id: &str) -> crate::ModelError {
        match self {
            Kind::SecurityGroup => crate::ModelError::new(
                404,
                "SecurityGroupNotFound",
                format!("Security group {id} does not exist"),
            ),
            Kind::SecurityGroupRule => crate::ModelError::new(
                404,
                "SecurityGroupRuleNotFound",
                format!("Security group rule {id} does not exist"),
            ),
            Kind::QosPolicy => crate::ModelError::new(
                404,
                "QosPolicyNotFound",
                format!("QoS policy {id} could not be found."),
            ),
            Kind::QosRule => crate::ModelError::new(
                404,
                "QosRuleNotFound",
                format!("QoS rule {id} could not be found."),
            ),
            _ => crate::ModelError::not_found(self.title(), id),
        }
    }
}
