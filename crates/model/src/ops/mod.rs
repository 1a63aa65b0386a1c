//! Operations: each reads the [`State`], validates as Neutron does and
//! returns the [`Change`]s to store atomically plus the ID of the resource to
//! render. Nothing here mutates the state.

use std::collections::HashSet;
use std::net::IpAddr;

use serde_json::Value;

use crate::input::Input;
use crate::resources::*;
use crate::state::{check_revision, touch, Change, Ctx, Env, State};
use crate::{Kind, ModelError, Result};

mod floatingip;
mod network;
mod port;
mod qos;
mod router;
mod secgroup;
mod subnet;

pub use router::{add_router_interface, remove_router_interface};
pub use secgroup::ensure_default_security_group;

/// What an operation wants stored, and the resource it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub changes: Vec<Change>,
    pub id: String,
}

/// Create a resource from the object inside the request body
/// (`{"network": OBJECT}`). `parent` is the QoS policy for QoS rules and
/// `rule_type` the rule type taken from the URL.
pub fn create(
    state: &State,
    ctx: &Ctx,
    env: &mut Env,
    kind: Kind,
    body: &Value,
    parent: Option<(&str, &str)>,
) -> Result<Outcome> {
    let mut input = Input::from_object(body)?;
    match kind {
        Kind::Network => network::create(state, ctx, env, &mut input),
        Kind::Subnet => subnet::create(state, ctx, env, &mut input),
        Kind::Port => port::create(state, ctx, env, &mut input),
        Kind::Router => router::create(state, ctx, env, &mut input),
        Kind::FloatingIp => floatingip::create(state, ctx, env, &mut input),
        Kind::SecurityGroup => secgroup::create(state, ctx, env, &mut input),
        Kind::SecurityGroupRule => secgroup::create_rule(state, ctx, env, &mut input),
        Kind::QosPolicy => qos::create_policy(state, ctx, env, &mut input),
        Kind::QosRule => {
            let (policy, ty) =
                parent.ok_or_else(|| ModelError::bad_request("QoS rule needs a policy"))?;
            qos::create_rule(state, ctx, env, policy, ty, &mut input)
        }
    }
    .and_then(|o| input.finish().map(|_| o))
}

/// Update a resource; `if_match` is the revision from `If-Match`.
pub fn update(
    state: &State,
    ctx: &Ctx,
    env: &mut Env,
    kind: Kind,
    id: &str,
    body: &Value,
    if_match: Option<u64>,
) -> Result<Outcome> {
    let current = state.find_owned(ctx, kind, id)?;
    check_revision(&current, if_match)?;
    let mut input = Input::from_object(body)?;
    let mut changes = match current {
        Resource::Network(n) => network::update(state, ctx, env, n, &mut input)?,
        Resource::Subnet(s) => subnet::update(state, ctx, env, s, &mut input)?,
        Resource::Port(p) => port::update(state, ctx, env, p, &mut input)?,
        Resource::Router(r) => router::update(state, ctx, env, r, &mut input)?,
        Resource::FloatingIp(f) => floatingip::update(state, ctx, env, f, &mut input)?,
        Resource::SecurityGroup(g) => secgroup::update(state, ctx, g, &mut input)?,
        Resource::SecurityGroupRule(r) => {
            let mut r = Resource::SecurityGroupRule(r);
            if let Some(d) = input.string("description")? {
                r.meta_mut().description = d;
            }
            vec![Change::Put(r)]
        }
        Resource::QosPolicy(p) => qos::update_policy(ctx, p, &mut input)?,
        Resource::QosRule(r) => qos::update_rule(state, r, &mut input)?,
    };
    input.finish()?;
    for c in changes.iter_mut() {
        if let Change::Put(r) = c {
            if r.kind() == kind && r.id() == id {
                touch(r, &env.now);
            }
        }
    }
    Ok(Outcome {
        changes,
        id: id.to_string(),
    })
}

/// Delete a resource, with Neutron's cascades and in-use checks.
pub fn delete(
    state: &State,
    ctx: &Ctx,
    env: &mut Env,
    kind: Kind,
    id: &str,
    if_match: Option<u64>,
) -> Result<Outcome> {
    let current = state.find_owned(ctx, kind, id)?;
    check_revision(&current, if_match)?;
    let changes = match current {
        Resource::Network(n) => network::delete(state, n)?,
        Resource::Subnet(s) => subnet::delete(state, s)?,
        Resource::Port(p) => port::delete(state, env, p)?,
        Resource::Router(r) => router::delete(state, r)?,
        Resource::FloatingIp(f) => vec![
            Change::Delete(Kind::Port, f.floating_port_id.clone()),
            Change::Delete(Kind::FloatingIp, f.meta.id),
        ],
        Resource::SecurityGroup(g) => secgroup::delete(state, ctx, g)?,
        Resource::SecurityGroupRule(r) => vec![Change::Delete(Kind::SecurityGroupRule, r.meta.id)],
        Resource::QosPolicy(p) => qos::delete_policy(state, p)?,
        Resource::QosRule(r) => vec![Change::Delete(Kind::QosRule, r.meta.id)],
    };
    Ok(Outcome {
        changes,
        id: id.to_string(),
    })
}

/// How a tag request changes a resource's tags (Neutron's tag extension).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagOp {
    /// `PUT .../tags` with `{"tags": [...]}`.
    Replace(Vec<String>),
    /// `PUT .../tags/{tag}`.
    Add(String),
    /// `DELETE .../tags/{tag}`: 404 when absent.
    Remove(String),
    /// `DELETE .../tags`.
    Clear,
}

/// Tags longer than this are rejected, as in neutron's tag extension.
pub const MAX_TAG_LEN: usize = 255;

pub fn tags(
    state: &State,
    ctx: &Ctx,
    env: &mut Env,
    kind: Kind,
    id: &str,
    op: TagOp,
) -> Result<Outcome> {
    let mut r = state.find_owned(ctx, kind, id)?;
    let tags = &mut r.meta_mut().tags;
    let check = |t: &str| {
        if t.is_empty() || t.len() > MAX_TAG_LEN || t.contains(',') {
            Err(ModelError::attr(
                "tags",
                format!("'{t}' is not a valid tag"),
            ))
        } else {
            Ok(())
        }
    };
    match op {
        TagOp::Replace(new) => {
            new.iter().try_for_each(|t| check(t))?;
            let mut dedup: Vec<String> = Vec::new();
            for t in new {
                if !dedup.contains(&t) {
                    dedup.push(t);
                }
            }
            *tags = dedup;
        }
        TagOp::Add(t) => {
            check(&t)?;
            if !tags.contains(&t) {
                tags.push(t);
            }
        }
        TagOp::Remove(t) => {
            let before = tags.len();
            tags.retain(|x| *x != t);
            if tags.len() == before {
                return Err(ModelError::new(
                    404,
                    "TagNotFound",
                    format!("Tag {t} could not be found for {} {id}.", kind.singular()),
                ));
            }
        }
        TagOp::Clear => tags.clear(),
    }
    touch(&mut r, &env.now);
    Ok(Outcome {
        changes: vec![Change::Put(r)],
        id: id.to_string(),
    })
}

/// Addresses in use on a subnet: fixed IPs of its ports (from the index),
/// plus `pending` ones being allocated, minus `freed` ones a port being
/// updated gives back.
pub(crate) struct UsedIps<'a> {
    state: &'a State,
    subnet_id: &'a str,
    pending: HashSet<IpAddr>,
    freed: HashSet<IpAddr>,
}

impl UsedIps<'_> {
    pub(crate) fn contains(&self, ip: &IpAddr) -> bool {
        !self.freed.contains(ip)
            && (self.pending.contains(ip) || self.state.idx.ip_in_use(self.subnet_id, ip))
    }
}

pub(crate) fn used_ips<'a>(
    state: &'a State,
    subnet_id: &'a str,
    pending: &[FixedIp],
    freed: &[FixedIp],
) -> UsedIps<'a> {
    let on_subnet = |l: &[FixedIp]| -> HashSet<IpAddr> {
        l.iter()
            .filter(|f| f.subnet_id == subnet_id)
            .filter_map(|f| f.ip_address.parse().ok())
            .collect()
    };
    UsedIps {
        state,
        subnet_id,
        pending: on_subnet(pending),
        freed: on_subnet(freed),
    }
}

/// Whether a port on `network_id` other than `except` has `mac` (index
/// lookup by MAC, then the network).
pub(crate) fn mac_used(state: &State, network_id: &str, mac: &str, except: &str) -> bool {
    state
        .idx
        .ids_with(Kind::Port, "mac_address", mac)
        .into_iter()
        .flatten()
        .filter(|id| *id != except)
        .filter_map(|id| state.ports.get(id))
        .any(|p| p.network_id == network_id)
}

/// Resolve the owner of a new resource: the caller's project unless an
/// admin names another. Neutron answers 400 to a non-admin naming another.
pub(crate) fn owner(ctx: &Ctx, requested: Option<String>) -> Result<String> {
    match requested {
        Some(p) if p != ctx.project_id && !ctx.is_admin => Err(ModelError::bad_request(
            "Specifying 'project_id' or 'tenant_id' other than the authenticated project in request requires admin privileges",
        )),
        Some(p) => Ok(p),
        None => Ok(ctx.project_id.clone()),
    }
}

/// A QoS policy referenced by another resource must exist and be visible.
pub(crate) fn check_qos_policy(state: &State, ctx: &Ctx, id: &Option<String>) -> Result<()> {
    if let Some(id) = id {
        state.find(ctx, Kind::QosPolicy, id)?;
    }
    Ok(())
}
