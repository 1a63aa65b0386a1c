//! Floating IPs: an address on an external network (held by a
//! `network:floatingip` port) mapped to a fixed IP of a port behind a router
//! whose gateway is on that network.

use super::port::{allocate, internal_port, IpRequest};
use super::{check_qos_policy, owner, Outcome};
use crate::input::{Field, Input};
use crate::resources::*;
use crate::state::{Change, Ctx, Env, State};
use crate::{Kind, ModelError, Result};

/// Resolve an association: the fixed IP used and the router that reaches it.
fn associate(
    state: &State,
    ctx: &Ctx,
    floating_network: &str,
    fip_id: &str,
    port_id: &str,
    fixed: Option<String>,
) -> Result<(String, String)> {
    let Resource::Port(p) = state.find_owned(ctx, Kind::Port, port_id)? else {
        return Err(Kind::Port.not_found(port_id));
    };
    let fixed_ip = match fixed {
        Some(ip) => p
            .fixed_ips
            .iter()
            .find(|f| f.ip_address == ip)
            .ok_or_else(|| {
                ModelError::bad_request(format!(
                    "Bad floatingip request: Port {port_id} does not have fixed ip {ip}."
                ))
            })?,
        None => p
            .fixed_ips
            .iter()
            .find(|f| f.ip_address.contains('.'))
            .or(p.fixed_ips.first())
            .ok_or_else(|| {
                ModelError::bad_request(format!(
                    "Bad floatingip request: Port {port_id} does not have any IPv4 address."
                ))
            })?,
    };
    if let Some(other) = state.floating_ips.values().find(|f| {
        f.meta.id != fip_id
            && f.port_id.as_deref() == Some(port_id)
            && f.fixed_ip_address.as_deref() == Some(&fixed_ip.ip_address)
    }) {
        return Err(ModelError::conflict(
            "FloatingIPPortAlreadyAssociated",
            format!(
                "Cannot associate floating IP {} ({fip_id}) with port {port_id} using fixed IP {}, as that fixed IP already has a floating IP on external network {floating_network}.",
                other.floating_ip_address, fixed_ip.ip_address
            ),
        ));
    }
    let router = state.routers.values().find(|r| {
        r.external_gateway_info
            .as_ref()
            .is_some_and(|g| g.network_id == floating_network)
            && state.ports.values().any(|ip| {
                ip.device_id == r.meta.id
                    && ip.device_owner == owner::ROUTER_INTERFACE
                    && ip
                        .fixed_ips
                        .iter()
                        .any(|x| x.subnet_id == fixed_ip.subnet_id)
            })
    });
    let router = router.ok_or_else(|| {
        ModelError::new(
            404,
            "ExternalGatewayForFloatingIPNotFound",
            format!(
                "External network {floating_network} is not reachable from subnet {}.  Therefore, cannot associate Port {port_id} with a Floating IP.",
                fixed_ip.subnet_id
            ),
        )
    })?;
    Ok((fixed_ip.ip_address.clone(), router.meta.id.clone()))
}

pub(super) fn create(
    state: &State,
    ctx: &Ctx,
    env: &mut Env,
    input: &mut Input,
) -> Result<Outcome> {
    let common = input.common_create()?;
    let project = owner(ctx, common.project_id)?;
    let net_id = input
        .string("floating_network_id")?
        .ok_or_else(|| ModelError::attr("floating_network_id", "'None' is not a valid UUID"))?;
    let Resource::Network(net) = state.find(ctx, Kind::Network, &net_id)? else {
        return Err(Kind::Network.not_found(&net_id));
    };
    if !net.router_external {
        return Err(ModelError::bad_request(format!(
            "Bad floatingip request: Network {net_id} is not a valid external network."
        )));
    }
    let address = input.string("floating_ip_address")?;
    let subnet_id = input.string("subnet_id")?;
    let req = if address.is_some() || subnet_id.is_some() {
        Some(vec![IpRequest {
            subnet_id: subnet_id.clone(),
            ip_address: address,
        }])
    } else {
        // One IPv4 address, as Neutron allocates for floating IPs.
        let v4 = state
            .subnets
            .values()
            .find(|s| s.network_id == net_id && s.ip_version == 4)
            .map(|s| s.meta.id.clone());
        v4.map(|s| {
            vec![IpRequest {
                subnet_id: Some(s),
                ip_address: None,
            }]
        })
    };
    let ips = allocate(state, &net_id, req, &[])?;
    let ip = ips
        .iter()
        .find(|f| f.ip_address.contains('.'))
        .ok_or_else(|| {
            ModelError::bad_request(format!(
                "Bad floatingip request: Network {net_id} has no IPv4 subnet."
            ))
        })?
        .ip_address
        .clone();
    let meta = env.meta(&project, common.description, common.tags);
    let port = internal_port(
        state,
        env,
        &project,
        &net_id,
        ips,
        owner::FLOATING_IP,
        &meta.id,
    )?;
    let port_id = input.nullable_string("port_id")?.value();
    let fixed = input.nullable_string("fixed_ip_address")?.value();
    let (fixed_ip_address, router_id) = match &port_id {
        Some(p) => {
            let (f, r) = associate(state, ctx, &net_id, &meta.id, p, fixed)?;
            (Some(f), Some(r))
        }
        None => (None, None),
    };
    let qos_policy_id = input.nullable_string("qos_policy_id")?.value();
    check_qos_policy(state, ctx, &qos_policy_id)?;
    let f = FloatingIp {
        status: if port_id.is_some() { "ACTIVE" } else { "DOWN" }.into(),
        meta,
        floating_network_id: net_id,
        floating_ip_address: ip,
        port_id,
        fixed_ip_address,
        router_id,
        qos_policy_id,
        floating_port_id: port.meta.id.clone(),
    };
    let id = f.meta.id.clone();
    Ok(Outcome {
        changes: vec![
            Change::Put(Resource::Port(port)),
            Change::Put(Resource::FloatingIp(f)),
        ],
        id,
    })
}

pub(super) fn update(
    state: &State,
    ctx: &Ctx,
    _env: &mut Env,
    mut f: FloatingIp,
    input: &mut Input,
) -> Result<Vec<Change>> {
    input.read_only(&[
        "id",
        "floating_network_id",
        "floating_ip_address",
        "tenant_id",
        "project_id",
        "router_id",
        "status",
    ])?;
    if let Some(v) = input.string("description")? {
        f.meta.description = v;
    }
    let fixed = input.nullable_string("fixed_ip_address")?.value();
    match input.nullable_string("port_id")? {
        Field::Set(p) => {
            let (ip, r) = associate(state, ctx, &f.floating_network_id, &f.meta.id, &p, fixed)?;
            f.port_id = Some(p);
            f.fixed_ip_address = Some(ip);
            f.router_id = Some(r);
            f.status = "ACTIVE".into();
        }
        Field::Null => {
            f.port_id = None;
            f.fixed_ip_address = None;
            f.router_id = None;
            f.status = "DOWN".into();
        }
        Field::Absent => {}
    }
    match input.nullable_string("qos_policy_id")? {
        Field::Set(q) => {
            check_qos_policy(state, ctx, &Some(q.clone()))?;
            f.qos_policy_id = Some(q);
        }
        Field::Null => f.qos_policy_id = None,
        Field::Absent => {}
    }
    Ok(vec![Change::Put(Resource::FloatingIp(f))])
}
