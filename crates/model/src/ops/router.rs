//! Routers: external gateway (a `network:router_gateway` port on an external
//! network), static routes, interfaces (`network:router_interface` ports
//! holding the subnet's gateway IP) with Neutron's add/remove semantics.

use ipnet::IpNet;
use serde::Deserialize;
use serde_json::{json, Value};

use super::port::{allocate, internal_port, IpRequest};
use super::{owner, Outcome};
use crate::input::{Field, Input};
use crate::ipam::parse_ip;
use crate::resources::*;
use crate::state::{touch, Change, Ctx, Env, State};
use crate::{Kind, ModelError, Result};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GatewayRequest {
    network_id: String,
    enable_snat: Option<bool>,
    external_fixed_ips: Option<Vec<IpRequest>>,
}

fn bad_router(msg: impl std::fmt::Display) -> ModelError {
    ModelError::new(400, "BadRequest", format!("Bad router request: {msg}."))
}

/// Build the gateway of `router_id`; returns the info and the port to create.
fn gateway(
    state: &State,
    ctx: &Ctx,
    env: &mut Env,
    project: &str,
    router_id: &str,
    v: Value,
) -> Result<(GatewayInfo, Port)> {
    let req: GatewayRequest =
        serde_json::from_value(v).map_err(|e| ModelError::attr("external_gateway_info", e))?;
    let Resource::Network(net) = state.find(ctx, Kind::Network, &req.network_id)? else {
        return Err(Kind::Network.not_found(&req.network_id));
    };
    if !net.router_external {
        return Err(bad_router(format!(
            "Network {} is not a valid external network",
            net.meta.id
        )));
    }
    let ips = allocate(state, &net.meta.id, req.external_fixed_ips, &[])?;
    let port = internal_port(
        state,
        env,
        project,
        &net.meta.id,
        ips.clone(),
        owner::ROUTER_GATEWAY,
        router_id,
    )?;
    let info = GatewayInfo {
        network_id: net.meta.id,
        enable_snat: req.enable_snat.unwrap_or(true),
        external_fixed_ips: ips,
    };
    Ok((info, port))
}

/// Subnets the router has interfaces on.
fn interface_ports<'a>(
    state: &'a State,
    router_id: &'a str,
) -> impl Iterator<Item = &'a Port> + 'a {
    state
        .ports
        .values()
        .filter(move |p| p.device_id == router_id && p.device_owner == owner::ROUTER_INTERFACE)
}

/// Neutron's `_validate_routes` (extraroute): a valid destination CIDR and
/// next hop of the same IP version, the next hop on a subnet of one of the
/// router's ports — its interfaces or its external gateway (a next hop
/// upstream on the provider network).
fn check_routes(state: &State, router_id: &str, routes: &[HostRoute]) -> Result<()> {
    let gateway = state
        .ports
        .values()
        .filter(|p| p.device_id == router_id && p.device_owner == owner::ROUTER_GATEWAY);
    let nets: Vec<IpNet> = interface_ports(state, router_id)
        .chain(gateway)
        .flat_map(|p| p.fixed_ips.iter())
        .filter_map(|f| state.subnets.get(&f.subnet_id))
        .filter_map(|s| s.cidr.parse().ok())
        .collect();
    for r in routes {
        let dest = r.destination.parse::<IpNet>().map_err(|_| {
            ModelError::attr(
                "routes",
                format!("'{}' is not a valid IP subnet", r.destination),
            )
        })?;
        let hop = parse_ip("routes", &r.nexthop)?;
        if dest.addr().is_ipv4() != hop.is_ipv4() {
            return Err(ModelError::new(
                400,
                "InvalidRoutes",
                format!(
                    "Invalid format for routes: {r:?}, the nexthop and the destination are not of the same IP version"
                ),
            ));
        }
        if !nets.iter().any(|n| n.contains(&hop)) {
            return Err(ModelError::new(
                400,
                "InvalidRoutes",
                format!(
                    "Invalid format for routes: {r:?}, the nexthop is not connected with router"
                ),
            ));
        }
    }
    Ok(())
}

pub(super) fn create(
    state: &State,
    ctx: &Ctx,
    env: &mut Env,
    input: &mut Input,
) -> Result<Outcome> {
    let common = input.common_create()?;
    let project = owner(ctx, common.project_id)?;
    let meta = env.meta(&project, common.description, common.tags);
    let id = meta.id.clone();
    let mut changes = Vec::new();
    let gw = match input.raw("external_gateway_info") {
        Field::Set(v) => {
            let (info, port) = gateway(state, ctx, env, &project, &id, v)?;
            changes.push(Change::Put(Resource::Port(port)));
            Some(info)
        }
        _ => None,
    };
    for k in ["distributed", "ha"] {
        if input.bool(k)? == Some(true) {
            return Err(ModelError::invalid(format!(
                "{k} routers are not supported"
            )));
        }
    }
    let _ = input.list::<String>("availability_zone_hints")?;
    let r = Router {
        meta,
        name: common.name.unwrap_or_default(),
        admin_state_up: input.bool("admin_state_up")?.unwrap_or(true),
        status: "ACTIVE".into(),
        external_gateway_info: gw,
        routes: Vec::new(),
        distributed: false,
        ha: false,
    };
    changes.push(Change::Put(Resource::Router(r)));
    Ok(Outcome { changes, id })
}

fn gateway_port(state: &State, router_id: &str) -> Option<String> {
    state
        .ports
        .values()
        .find(|p| p.device_id == router_id && p.device_owner == owner::ROUTER_GATEWAY)
        .map(|p| p.meta.id.clone())
}

pub(super) fn update(
    state: &State,
    ctx: &Ctx,
    env: &mut Env,
    mut r: Router,
    input: &mut Input,
) -> Result<Vec<Change>> {
    input.read_only(&["id", "tenant_id", "project_id", "status"])?;
    let mut changes = Vec::new();
    if let Some(v) = input.string("name")? {
        r.name = v;
    }
    if let Some(v) = input.string("description")? {
        r.meta.description = v;
    }
    if let Some(v) = input.bool("admin_state_up")? {
        r.admin_state_up = v;
    }
    let new_gw = input.raw("external_gateway_info");
    let clear = matches!(&new_gw, Field::Null)
        || matches!(&new_gw, Field::Set(Value::Object(m)) if m.is_empty());
    let replace = matches!(&new_gw, Field::Set(Value::Object(m)) if !m.is_empty());
    if clear || replace {
        if let Some(old) = &r.external_gateway_info {
            let same_net = matches!(&new_gw, Field::Set(v) if v.get("network_id").and_then(Value::as_str) == Some(&old.network_id));
            if !same_net
                && state
                    .floating_ips
                    .values()
                    .any(|f| f.router_id.as_deref() == Some(&r.meta.id))
            {
                return Err(ModelError::conflict(
                    "RouterExternalGatewayInUseByFloatingIp",
                    format!("Gateway cannot be updated for router {}, since a gateway to external network {} is required by one or more floating IPs.", r.meta.id, old.network_id),
                ));
            }
        }
    }
    if clear {
        if let Some(p) = gateway_port(state, &r.meta.id) {
            changes.push(Change::Delete(Kind::Port, p));
        }
        r.external_gateway_info = None;
    } else if let Field::Set(v) = new_gw {
        let same = r
            .external_gateway_info
            .as_ref()
            .map(|g| g.network_id.as_str())
            == v.get("network_id").and_then(Value::as_str);
        if same && v.get("external_fixed_ips").is_none() {
            if let (Some(g), Some(s)) = (r.external_gateway_info.as_mut(), v.get("enable_snat")) {
                g.enable_snat =
                    crate::input::to_bool(s).ok_or_else(|| ModelError::attr("enable_snat", s))?;
            }
        } else {
            if let Some(p) = gateway_port(state, &r.meta.id) {
                changes.push(Change::Delete(Kind::Port, p));
            }
            // The old gateway port is freed before allocating the new one.
            let mut trial = state.clone();
            trial.apply(&changes);
            let (info, port) = gateway(
                &trial,
                ctx,
                env,
                &r.meta.project_id.clone(),
                &r.meta.id.clone(),
                v,
            )?;
            changes.push(Change::Put(Resource::Port(port)));
            r.external_gateway_info = Some(info);
        }
    }
    if let Some(routes) = input.list::<HostRoute>("routes")? {
        check_routes(state, &r.meta.id, &routes)?;
        r.routes = routes;
    }
    changes.push(Change::Put(Resource::Router(r)));
    Ok(changes)
}

/// A router with interfaces is 409 `RouterInUse`; its gateway port goes with it.
pub(super) fn delete(state: &State, r: Router) -> Result<Vec<Change>> {
    let id = r.meta.id;
    if interface_ports(state, &id).next().is_some() {
        return Err(ModelError::conflict(
            "RouterInUse",
            format!("Router {id} still has ports"),
        ));
    }
    if state
        .floating_ips
        .values()
        .any(|f| f.router_id.as_deref() == Some(&id))
    {
        return Err(ModelError::conflict(
            "RouterInUse",
            format!("Router {id} still has floating IPs"),
        ));
    }
    let mut changes = Vec::new();
    if let Some(p) = gateway_port(state, &id) {
        changes.push(Change::Delete(Kind::Port, p));
    }
    changes.push(Change::Delete(Kind::Router, id));
    Ok(changes)
}

fn interface_info(r: &Router, port: &Port) -> Value {
    let subnets: Vec<&str> = port
        .fixed_ips
        .iter()
        .map(|f| f.subnet_id.as_str())
        .collect();
    json!({
        "id": r.meta.id,
        "tenant_id": r.meta.project_id,
        "project_id": r.meta.project_id,
        "port_id": port.meta.id,
        "network_id": port.network_id,
        "subnet_id": subnets.first().copied().unwrap_or(""),
        "subnet_ids": subnets,
    })
}

fn body_ids(body: &Value) -> Result<(Option<String>, Option<String>)> {
    let get = |k: &str| -> Result<Option<String>> {
        match body.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(v) => Err(ModelError::attr(k, format!("{v} is not a valid UUID"))),
        }
    };
    let (s, p) = (get("subnet_id")?, get("port_id")?);
    match (&s, &p) {
        (None, None) => Err(bad_router("Either subnet_id or port_id must be specified")),
        (Some(_), Some(_)) => Err(bad_router("Cannot specify both subnet-id and port-id")),
        _ => Ok((s, p)),
    }
}

/// `PUT /v2.0/routers/{id}/add_router_interface`: by subnet a new port with
/// the subnet's gateway IP is created; by port the port is adopted.
pub fn add_router_interface(
    state: &State,
    ctx: &Ctx,
    env: &mut Env,
    router_id: &str,
    body: &Value,
) -> Result<(Vec<Change>, Value)> {
    let Resource::Router(mut r) = state.find_owned(ctx, Kind::Router, router_id)? else {
        return Err(Kind::Router.not_found(router_id));
    };
    let (subnet_id, port_id) = body_ids(body)?;
    let port = match (subnet_id, port_id) {
        (Some(sid), _) => {
            let Resource::Subnet(s) = state.find(ctx, Kind::Subnet, &sid)? else {
                return Err(Kind::Subnet.not_found(&sid));
            };
            let gw = s
                .gateway_ip
                .clone()
                .ok_or_else(|| bad_router("Subnet for router interface must have a gateway IP"))?;
            if interface_ports(state, router_id)
                .any(|p| p.fixed_ips.iter().any(|f| f.subnet_id == sid))
            {
                return Err(bad_router(format!(
                    "Router already has a port on subnet {sid}"
                )));
            }
            let ips = allocate(
                state,
                &s.network_id,
                Some(vec![IpRequest {
                    subnet_id: Some(sid),
                    ip_address: Some(gw),
                }]),
                &[],
            )?;
            internal_port(
                state,
                env,
                &r.meta.project_id.clone(),
                &s.network_id,
                ips,
                owner::ROUTER_INTERFACE,
                router_id,
            )?
        }
        (None, Some(pid)) => {
            let Resource::Port(mut p) = state.find_owned(ctx, Kind::Port, &pid)? else {
                return Err(Kind::Port.not_found(&pid));
            };
            if !p.device_id.is_empty() || !p.device_owner.is_empty() {
                return Err(ModelError::conflict(
                    "PortInUse",
                    format!("Unable to complete operation on port {pid} for network {}. Port already has an attached device {}.", p.network_id, p.device_id),
                ));
            }
            if p.fixed_ips.is_empty() {
                return Err(bad_router("Router port must have at least one fixed IP"));
            }
            p.device_id = router_id.into();
            p.device_owner = owner::ROUTER_INTERFACE.into();
            p.security_groups.clear();
            p.port_security_enabled = false;
            p.allowed_address_pairs.clear();
            let mut res = Resource::Port(p);
            touch(&mut res, &env.now);
            let Resource::Port(p) = res else {
                unreachable!("constructed as a port above")
            };
            p
        }
        (None, None) => return Err(bad_router("Either subnet_id or port_id must be specified")),
    };
    // No two interfaces of one router on overlapping subnets.
    let new_nets: Vec<(String, IpNet)> = port
        .fixed_ips
        .iter()
        .filter_map(|f| state.subnets.get(&f.subnet_id))
        .filter_map(|s| Some((s.meta.id.clone(), s.cidr.parse().ok()?)))
        .collect();
    for existing in interface_ports(state, router_id).filter(|p| p.meta.id != port.meta.id) {
        for f in &existing.fixed_ips {
            let Some(s) = state.subnets.get(&f.subnet_id) else {
                continue;
            };
            let Ok(en) = s.cidr.parse::<IpNet>() else {
                continue;
            };
            for (nid, nn) in &new_nets {
                if en.contains(&nn.network()) || nn.contains(&en.network()) {
                    return Err(bad_router(format!(
                        "Cidr {nn} of subnet {nid} overlaps with cidr {en} of subnet {}",
                        s.meta.id
                    )));
                }
            }
        }
    }
    let info = interface_info(&r, &port);
    let mut res = Resource::Router(r.clone());
    touch(&mut res, &env.now);
    if let Resource::Router(x) = res {
        r = x;
    }
    Ok((
        vec![
            Change::Put(Resource::Port(port)),
            Change::Put(Resource::Router(r)),
        ],
        info,
    ))
}

/// `PUT /v2.0/routers/{id}/remove_router_interface`: the interface port is deleted.
pub fn remove_router_interface(
    state: &State,
    ctx: &Ctx,
    env: &mut Env,
    router_id: &str,
    body: &Value,
) -> Result<(Vec<Change>, Value)> {
    let Resource::Router(r) = state.find_owned(ctx, Kind::Router, router_id)? else {
        return Err(Kind::Router.not_found(router_id));
    };
    let (subnet_id, port_id) = body_ids(body)?;
    let port = match (&subnet_id, &port_id) {
        (_, Some(pid)) => interface_ports(state, router_id)
            .find(|p| &p.meta.id == pid)
            .ok_or_else(|| {
                ModelError::new(
                    404,
                    "RouterInterfaceNotFound",
                    format!("Router {router_id} does not have an interface with id {pid}"),
                )
            })?,
        (Some(sid), None) => {
            state.find(ctx, Kind::Subnet, sid)?;
            interface_ports(state, router_id)
                .find(|p| p.fixed_ips.iter().any(|f| &f.subnet_id == sid))
                .ok_or_else(|| {
                    ModelError::new(
                        404,
                        "RouterInterfaceNotFoundForSubnet",
                        format!("Router {router_id} has no interface on subnet {sid}"),
                    )
                })?
        }
        (None, None) => return Err(bad_router("Either subnet_id or port_id must be specified")),
    };
    let subnets: Vec<&str> = port
        .fixed_ips
        .iter()
        .map(|f| f.subnet_id.as_str())
        .collect();
    for f in state
        .floating_ips
        .values()
        .filter(|f| f.router_id.as_deref() == Some(router_id))
    {
        let Some(fp) = f.port_id.as_ref().and_then(|p| state.ports.get(p)) else {
            continue;
        };
        if fp
            .fixed_ips
            .iter()
            .any(|x| subnets.contains(&x.subnet_id.as_str()))
        {
            return Err(ModelError::conflict(
                "RouterInterfaceInUseByFloatingIP",
                format!("Router interface for subnet {} on router {router_id} cannot be deleted, as it is required by one or more floating IPs.", subnets[0]),
            ));
        }
    }
    let info = interface_info(&r, port);
    let mut res = Resource::Router(r);
    touch(&mut res, &env.now);
    Ok((
        vec![
            Change::Delete(Kind::Port, port.meta.id.clone()),
            Change::Put(res),
        ],
        info,
    ))
}
