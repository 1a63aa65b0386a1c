//! Networks: provider attributes (ML2 type drivers: flat, vlan, vxlan, gre,
//! geneve, local), segmentation ID ranges and uniqueness, cascade on delete.

use std::collections::HashSet;

use super::{check_qos_policy, owner, Outcome};
use crate::input::{Field, Input};
use crate::ipam::{segmentation_bounds, NETWORK_TYPES};
use crate::resources::*;
use crate::state::{Change, Ctx, Env, State};
use crate::{Kind, ModelError, Result};

const PROVIDER: [&str; 3] = [
    "provider:network_type",
    "provider:physical_network",
    "provider:segmentation_id",
];

fn admin_only(ctx: &Ctx, input: &Input, action: &str, keys: &[&str]) -> Result<()> {
    if ctx.is_admin {
        return Ok(());
    }
    match keys.iter().find(|k| input.has(k)) {
        Some(k) => Err(ModelError::forbidden(&format!("rule:{action}_network:{k}"))),
        None => Ok(()),
    }
}

/// Validate or allocate the segment of a new network.
fn segment(
    state: &State,
    env: &Env,
    ty: Option<String>,
    physnet: Option<String>,
    seg: Option<i64>,
) -> Result<(String, Option<String>, Option<u32>)> {
    let ty = ty.unwrap_or_else(|| env.config.tenant_network_type.clone());
    if !NETWORK_TYPES.contains(&ty.as_str()) {
        return Err(ModelError::invalid(format!(
            "network_type value '{ty}' not supported"
        )));
    }
    let same_type = || state.networks.values().filter(|n| n.network_type == ty);
    match ty.as_str() {
        "flat" => {
            if seg.is_some() {
                return Err(ModelError::invalid(
                    "segmentation_id prohibited for flat provider network",
                ));
            }
            let p = physnet.ok_or_else(|| {
                ModelError::invalid("physical_network required for flat provider network")
            })?;
            if same_type().any(|n| n.physical_network.as_deref() == Some(&p)) {
                return Err(ModelError::conflict(
                    "FlatNetworkInUse",
                    format!("Unable to create the flat network. Physical network {p} is in use."),
                ));
            }
            Ok((ty, Some(p), None))
        }
        "local" => {
            if seg.is_some() || physnet.is_some() {
                return Err(ModelError::invalid(
                    "segmentation_id and physical_network prohibited for local provider network",
                ));
            }
            Ok((ty, None, None))
        }
        _ => {
            let tunnel = ty != "vlan";
            if tunnel && physnet.is_some() {
                return Err(ModelError::invalid(format!(
                    "provider:physical_network specified for {ty} network"
                )));
            }
            let physnet = match (&physnet, tunnel) {
                (None, false) if seg.is_some() => {
                    env.config.vlan_ranges.first().map(|r| r.0.clone())
                }
                _ => physnet,
            };
            let used: HashSet<u32> = same_type()
                .filter(|n| tunnel || n.physical_network == physnet)
                .filter_map(|n| n.segmentation_id)
                .collect();
            match seg {
                Some(s) => {
                    let (lo, hi) = segmentation_bounds(&ty).unwrap_or((1, u32::MAX));
                    if s < lo as i64 || s > hi as i64 {
                        return Err(ModelError::invalid(format!(
                            "segmentation_id out of range ({lo} through {hi})"
                        )));
                    }
                    let s = s as u32;
                    if used.contains(&s) {
                        return Err(if tunnel {
                            ModelError::conflict(
                                "TunnelIdInUse",
                                format!(
                                    "Unable to create the network. The tunnel ID {s} is in use."
                                ),
                            )
                        } else {
                            ModelError::conflict(
                                "VlanIdInUse",
                                format!(
                                    "Unable to create the network. The VLAN {s} on physical network {} is in use.",
                                    physnet.as_deref().unwrap_or("")
                                ),
                            )
                        });
                    }
                    Ok((ty, physnet, Some(s)))
                }
                None => {
                    let (p, s) = env
                        .config
                        .allocate_segment(&ty, physnet.as_deref(), &used)?;
                    Ok((ty, p, Some(s)))
                }
            }
        }
    }
}

pub(super) fn create(
    state: &State,
    ctx: &Ctx,
    env: &mut Env,
    input: &mut Input,
) -> Result<Outcome> {
    admin_only(ctx, input, "create", &PROVIDER)?;
    admin_only(ctx, input, "create", &["shared", "router:external"])?;
    let common = input.common_create()?;
    let project = owner(ctx, common.project_id)?;
    let admin_state_up = input.bool("admin_state_up")?.unwrap_or(true);
    let shared = input.bool("shared")?.unwrap_or(false);
    let external = input.bool("router:external")?.unwrap_or(false);
    let port_security = input.bool("port_security_enabled")?.unwrap_or(true);
    let mtu = input.int("mtu")?.value();
    let qos_policy_id = input.nullable_string("qos_policy_id")?.value();
    check_qos_policy(state, ctx, &qos_policy_id)?;
    let _ = input.list::<String>("availability_zone_hints")?;
    let ty = input.string("provider:network_type")?;
    let physnet = input.nullable_string("provider:physical_network")?.value();
    let seg = input.int("provider:segmentation_id")?.value();
    let (network_type, physical_network, segmentation_id) = segment(state, env, ty, physnet, seg)?;
    let default_mtu = env.config.mtu_for(&network_type);
    let mtu = match mtu {
        Some(m) if !(68..=65535).contains(&m) => {
            return Err(ModelError::attr(
                "mtu",
                format!("'{m}' is not in range 68 through 65535"),
            ))
        }
        Some(m) => m as u32,
        None => default_mtu,
    };
    let n = Network {
        meta: env.meta(&project, common.description, common.tags),
        name: common.name.unwrap_or_default(),
        admin_state_up,
        shared,
        router_external: external,
        mtu,
        status: "ACTIVE".into(),
        port_security_enabled: port_security,
        network_type,
        physical_network,
        segmentation_id,
        qos_policy_id,
    };
    let id = n.meta.id.clone();
    Ok(Outcome {
        changes: vec![Change::Put(Resource::Network(n))],
        id,
    })
}

pub(super) fn update(
    state: &State,
    ctx: &Ctx,
    _env: &mut Env,
    mut n: Network,
    input: &mut Input,
) -> Result<Vec<Change>> {
    admin_only(ctx, input, "update", &["shared", "router:external"])?;
    for k in PROVIDER {
        if input.has(k) {
            return Err(ModelError::invalid(
                "Plugin does not support updating provider attributes",
            ));
        }
    }
    input.read_only(&["id", "tenant_id", "project_id", "status", "subnets"])?;
    if let Some(v) = input.string("name")? {
        n.name = v;
    }
    if let Some(v) = input.string("description")? {
        n.meta.description = v;
    }
    if let Some(v) = input.bool("admin_state_up")? {
        n.admin_state_up = v;
    }
    if let Some(v) = input.bool("shared")? {
        if !v
            && n.shared
            && state
                .ports
                .values()
                .any(|p| p.network_id == n.meta.id && p.meta.project_id != n.meta.project_id)
        {
            return Err(ModelError::conflict(
                "InvalidSharedSetting",
                format!("Unable to reconfigure sharing settings for network {}. Multiple tenants are using it.", n.meta.id),
            ));
        }
        n.shared = v;
    }
    if let Some(v) = input.bool("router:external")? {
        n.router_external = v;
    }
    if let Some(v) = input.bool("port_security_enabled")? {
        n.port_security_enabled = v;
    }
    match input.int("mtu")? {
        Field::Set(m) if !(68..=65535).contains(&m) => {
            return Err(ModelError::attr(
                "mtu",
                format!("'{m}' is not in range 68 through 65535"),
            ))
        }
        Field::Set(m) => n.mtu = m as u32,
        _ => {}
    }
    match input.nullable_string("qos_policy_id")? {
        Field::Set(p) => {
            check_qos_policy(state, ctx, &Some(p.clone()))?;
            n.qos_policy_id = Some(p);
        }
        Field::Null => n.qos_policy_id = None,
        Field::Absent => {}
    }
    Ok(vec![Change::Put(Resource::Network(n))])
}

/// Deleting a network deletes its subnets (and DHCP ports); any other port
/// makes it 409 `NetworkInUse`.
pub(super) fn delete(state: &State, n: Network) -> Result<Vec<Change>> {
    let id = n.meta.id;
    let ports: Vec<&Port> = state
        .ports
        .values()
        .filter(|p| p.network_id == id)
        .collect();
    if ports.iter().any(|p| p.device_owner != owner::DHCP) {
        return Err(ModelError::conflict(
            "NetworkInUse",
            format!("Unable to complete operation on network {id}. There are one or more ports still in use on the network."),
        ));
    }
    let mut changes: Vec<Change> = ports
        .iter()
        .map(|p| Change::Delete(Kind::Port, p.meta.id.clone()))
        .collect();
    changes.extend(
        state
            .subnets
            .values()
            .filter(|s| s.network_id == id)
            .map(|s| Change::Delete(Kind::Subnet, s.meta.id.clone())),
    );
    changes.push(Change::Delete(Kind::Network, id));
    Ok(changes)
}
