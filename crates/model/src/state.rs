//! The whole intent in memory, the changes an operation produces, and the
//! caller's context. Operations are pure: they read a [`State`] and return
//! [`Change`]s; the caller persists them in one store transaction and only
//! then applies them, so a failed request stores nothing.

use std::collections::BTreeMap;

use rand::RngCore;
use serde_json::Value;

use crate::filter::Attr;
use crate::index::Indexes;
use crate::ipam::IpamConfig;
use crate::resources::*;
use crate::{Kind, ModelError, Result};

/// Who is asking: a project and whether it has the admin role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ctx {
    pub project_id: String,
    pub is_admin: bool,
}

impl Ctx {
    pub fn admin(project_id: &str) -> Ctx {
        Ctx {
            project_id: project_id.into(),
            is_admin: true,
        }
    }
    pub fn member(project_id: &str) -> Ctx {
        Ctx {
            project_id: project_id.into(),
            is_admin: false,
        }
    }
}

/// Injected time and randomness (IDs, MACs).
pub struct Env<'a> {
    /// Timestamp for created_at/updated_at, ISO 8601 `YYYY-MM-DDTHH:MM:SSZ`.
    pub now: String,
    pub rng: &'a mut dyn RngCore,
    pub config: &'a IpamConfig,
}

impl Env<'_> {
    /// A random (version 4) UUID from the injected rng.
    pub fn new_id(&mut self) -> String {
        let mut b = [0u8; 16];
        self.rng.fill_bytes(&mut b);
        uuid::Builder::from_random_bytes(b).into_uuid().to_string()
    }

    /// Fresh metadata for a resource owned by `project_id`.
    pub fn meta(
        &mut self,
        project_id: &str,
        description: Option<String>,
        tags: Option<Vec<String>>,
    ) -> Meta {
        Meta {
            id: self.new_id(),
            description: description.unwrap_or_default(),
            project_id: project_id.to_string(),
            tenant_id: project_id.to_string(),
            tags: tags.unwrap_or_default(),
            created_at: self.now.clone(),
            updated_at: self.now.clone(),
            revision_number: 1,
        }
    }
}

/// One write of an operation. Short-lived (a few per request), so the
/// size difference between variants does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Put(Resource),
    Delete(Kind, String),
}

/// All resources, by kind and ID, with secondary indexes
/// ([`crate::index`]). Change it only through [`State::put`] and
/// [`State::apply`], which keep the indexes.
#[derive(Debug, Clone, Default)]
pub struct State {
    pub networks: BTreeMap<String, Network>,
    pub subnets: BTreeMap<String, Subnet>,
    pub ports: BTreeMap<String, Port>,
    pub routers: BTreeMap<String, Router>,
    pub floating_ips: BTreeMap<String, FloatingIp>,
    pub security_groups: BTreeMap<String, SecurityGroup>,
    pub rules: BTreeMap<String, SecurityGroupRule>,
    pub qos_policies: BTreeMap<String, QosPolicy>,
    pub qos_rules: BTreeMap<String, QosRule>,
    pub(crate) idx: Indexes,
}

impl State {
    /// Apply changes already made durable.
    pub fn apply(&mut self, changes: &[Change]) {
        for c in changes {
            match c.clone() {
                Change::Put(r) => self.put(r),
                Change::Delete(k, id) => self.remove(k, &id),
            }
        }
    }

    pub fn put(&mut self, r: Resource) {
        macro_rules! put {
            ($map:ident, $k:expr, $x:expr) => {{
                let x = $x;
                let old = self.$map.get(&x.meta.id).map(|o| o as &dyn Attr);
                self.idx.update($k, old, Some(&x as &dyn Attr));
                self.$map.insert(x.meta.id.clone(), x);
            }};
        }
        match r {
            Resource::Network(x) => put!(networks, Kind::Network, x),
            Resource::Subnet(x) => put!(subnets, Kind::Subnet, x),
            Resource::Port(x) => {
                self.idx
                    .update_fixed_ips(self.ports.get(&x.meta.id), Some(&x));
                put!(ports, Kind::Port, x)
            }
            Resource::Router(x) => put!(routers, Kind::Router, x),
            Resource::FloatingIp(x) => put!(floating_ips, Kind::FloatingIp, x),
            Resource::SecurityGroup(x) => put!(security_groups, Kind::SecurityGroup, x),
            Resource::SecurityGroupRule(x) => put!(rules, Kind::SecurityGroupRule, x),
            Resource::QosPolicy(x) => put!(qos_policies, Kind::QosPolicy, x),
            Resource::QosRule(x) => put!(qos_rules, Kind::QosRule, x),
        }
    }

    fn remove(&mut self, k: Kind, id: &str) {
        macro_rules! remove {
            ($map:ident) => {
                if let Some(old) = self.$map.remove(id) {
                    self.idx.update(k, Some(&old as &dyn Attr), None);
                }
            };
        }
        match k {
            Kind::Network => remove!(networks),
            Kind::Subnet => remove!(subnets),
            Kind::Port => {
                self.idx.update_fixed_ips(self.ports.get(id), None);
                remove!(ports)
            }
            Kind::Router => remove!(routers),
            Kind::FloatingIp => remove!(floating_ips),
            Kind::SecurityGroup => remove!(security_groups),
            Kind::SecurityGroupRule => remove!(rules),
            Kind::QosPolicy => remove!(qos_policies),
            Kind::QosRule => remove!(qos_rules),
        }
    }

    /// The ports on a network (index lookup), in ID order.
    pub fn ports_on_network<'a>(&'a self, network_id: &str) -> impl Iterator<Item = &'a Port> + 'a {
        self.idx
            .ids_with(Kind::Port, "network_id", network_id)
            .into_iter()
            .flatten()
            .filter_map(|id| self.ports.get(id))
    }

    /// The ports of a device (a router's interfaces and gateway port, a
    /// VM's ports), by index lookup, in ID order.
    pub fn ports_of_device<'a>(&'a self, device_id: &str) -> impl Iterator<Item = &'a Port> + 'a {
        self.idx
            .ids_with(Kind::Port, "device_id", device_id)
            .into_iter()
            .flatten()
            .filter_map(|id| self.ports.get(id))
    }

    /// The subnets of a network (index lookup), in ID order.
    pub fn subnets_of_network<'a>(
        &'a self,
        network_id: &str,
    ) -> impl Iterator<Item = &'a Subnet> + 'a {
        self.idx
            .ids_with(Kind::Subnet, "network_id", network_id)
            .into_iter()
            .flatten()
            .filter_map(|id| self.subnets.get(id))
    }

    /// A stored resource, cloned.
    pub fn get(&self, k: Kind, id: &str) -> Option<Resource> {
        Some(match k {
            Kind::Network => Resource::Network(self.networks.get(id)?.clone()),
            Kind::Subnet => Resource::Subnet(self.subnets.get(id)?.clone()),
            Kind::Port => Resource::Port(self.ports.get(id)?.clone()),
            Kind::Router => Resource::Router(self.routers.get(id)?.clone()),
            Kind::FloatingIp => Resource::FloatingIp(self.floating_ips.get(id)?.clone()),
            Kind::SecurityGroup => Resource::SecurityGroup(self.security_groups.get(id)?.clone()),
            Kind::SecurityGroupRule => Resource::SecurityGroupRule(self.rules.get(id)?.clone()),
            Kind::QosPolicy => Resource::QosPolicy(self.qos_policies.get(id)?.clone()),
            Kind::QosRule => Resource::QosRule(self.qos_rules.get(id)?.clone()),
        })
    }

    /// Metadata of every resource of a kind, in ID order.
    pub fn metas(&self, k: Kind) -> Vec<&Meta> {
        match k {
            Kind::Network => self.networks.values().map(|x| &x.meta).collect(),
            Kind::Subnet => self.subnets.values().map(|x| &x.meta).collect(),
            Kind::Port => self.ports.values().map(|x| &x.meta).collect(),
            Kind::Router => self.routers.values().map(|x| &x.meta).collect(),
            Kind::FloatingIp => self.floating_ips.values().map(|x| &x.meta).collect(),
            Kind::SecurityGroup => self.security_groups.values().map(|x| &x.meta).collect(),
            Kind::SecurityGroupRule => self.rules.values().map(|x| &x.meta).collect(),
            Kind::QosPolicy => self.qos_policies.values().map(|x| &x.meta).collect(),
            Kind::QosRule => self.qos_rules.values().map(|x| &x.meta).collect(),
        }
    }

    /// Whether `ctx` may see this resource. Others' resources are invisible
    /// (404), except shared or external networks and shared QoS policies,
    /// as in Neutron's default policy.
    pub fn visible(&self, ctx: &Ctx, r: &Resource) -> bool {
        if ctx.is_admin || r.meta().project_id == ctx.project_id {
            return true;
        }
        match r {
            Resource::Network(n) => n.shared || n.router_external,
            Resource::Subnet(s) => self
                .networks
                .get(&s.network_id)
                .is_some_and(|n| n.shared || n.router_external),
            Resource::QosPolicy(p) => p.shared,
            Resource::QosRule(q) => self
                .qos_policies
                .get(&q.qos_policy_id)
                .is_some_and(|p| p.shared),
            _ => false,
        }
    }

    /// Fetch a resource visible to `ctx`, else the kind's 404.
    pub fn find(&self, ctx: &Ctx, k: Kind, id: &str) -> Result<Resource> {
        match self.get(k, id) {
            Some(r) if self.visible(ctx, &r) => Ok(r),
            _ => Err(k.not_found(id)),
        }
    }

    /// Fetch a resource `ctx` may modify (its own, or any for admin).
    pub fn find_owned(&self, ctx: &Ctx, k: Kind, id: &str) -> Result<Resource> {
        let r = self.find(ctx, k, id)?;
        if ctx.is_admin || r.meta().project_id == ctx.project_id {
            Ok(r)
        } else {
            Err(k.not_found(id))
        }
    }

    /// The wire form of a resource, with derived attributes added.
    pub fn render(&self, r: &Resource) -> Value {
        let mut v = r.to_json();
        if let Value::Object(m) = &mut v {
            match r {
                Resource::Network(n) => {
                    let subnets: Vec<Value> = self
                        .subnets_of_network(&n.meta.id)
                        .map(|s| Value::String(s.meta.id.clone()))
                        .collect();
                    m.insert("subnets".into(), Value::Array(subnets));
                    m.insert("availability_zones".into(), Value::Array(vec![]));
                    m.insert("availability_zone_hints".into(), Value::Array(vec![]));
                    m.insert("ipv4_address_scope".into(), Value::Null);
                    m.insert("ipv6_address_scope".into(), Value::Null);
                    m.insert("is_default".into(), Value::Bool(false));
                }
                Resource::SecurityGroup(g) => {
                    let rules: Vec<Value> = self
                        .idx
                        .ids_with(Kind::SecurityGroupRule, "security_group_id", &g.meta.id)
                        .into_iter()
                        .flatten()
                        .filter_map(|id| self.rules.get(id))
                        .map(|x| x.to_json_plain())
                        .collect();
                    m.insert("security_group_rules".into(), Value::Array(rules));
                }
                Resource::QosPolicy(p) => {
                    let rules: Vec<Value> = self
                        .idx
                        .ids_with(Kind::QosRule, "qos_policy_id", &p.meta.id)
                        .into_iter()
                        .flatten()
                        .filter_map(|id| self.qos_rules.get(id))
                        .map(|x| Resource::QosRule(x.clone()).to_json())
                        .collect();
                    m.insert("rules".into(), Value::Array(rules));
                }
                Resource::FloatingIp(_) => {
                    m.remove("floating_port_id");
                }
                _ => {}
            }
        }
        v
    }

    /// Every resource of a kind visible to `ctx`, rendered.
    pub fn list(&self, ctx: &Ctx, k: Kind) -> Vec<Value> {
        let ids: Vec<String> = self.metas(k).into_iter().map(|m| m.id.clone()).collect();
        ids.iter()
            .filter_map(|id| self.get(k, id))
            .filter(|r| self.visible(ctx, r))
            .map(|r| self.render(&r))
            .collect()
    }
}

impl SecurityGroupRule {
    fn to_json_plain(&self) -> Value {
        Resource::SecurityGroupRule(self.clone()).to_json()
    }
}

/// Check `If-Match: revision_number=N` against the resource's revision.
pub fn check_revision(r: &Resource, expected: Option<u64>) -> Result<()> {
    match expected {
        Some(want) if want != r.meta().revision_number => Err(ModelError::revision_mismatch(
            want,
            r.meta().revision_number,
        )),
        _ => Ok(()),
    }
}

/// Bump revision and updated_at of a resource being modified.
pub fn touch(r: &mut Resource, now: &str) {
    let m = r.meta_mut();
    m.revision_number += 1;
    m.updated_at = now.to_string();
}
