//! Subnets: CIDR, gateway inside it, allocation pools, no overlap with the
//! network's other subnets (neutron `db/ipam_backend_mixin.py`).

use std::net::IpAddr;

use ipnet::IpNet;

use super::{owner, Outcome};
use crate::input::{Field, Input};
use crate::ipam::{default_pools, parse_cidr, parse_ip, validate_pools};
use crate::resources::*;
use crate::state::{Change, Ctx, Env, State};
use crate::{Kind, ModelError, Result};

const V6_MODES: [&str; 3] = ["slaac", "dhcpv6-stateful", "dhcpv6-stateless"];

fn gateway_in(net: &IpNet, gw: IpAddr) -> Result<()> {
    if !net.contains(&gw) {
        return Err(ModelError::invalid(format!(
            "Gateway IP {gw} is not in subnet {net}"
        )));
    }
    if matches!(net, IpNet::V4(n) if n.prefix_len() < 31)
        && (gw == net.network() || gw == net.broadcast())
    {
        return Err(ModelError::invalid(format!(
            "Gateway IP {gw} conflicts with the network or broadcast address of subnet {net}"
        )));
    }
    Ok(())
}

fn dns(list: Option<Vec<String>>) -> Result<Option<Vec<String>>> {
    if let Some(l) = &list {
        for s in l {
            parse_ip("dns_nameservers", s)?;
        }
    }
    Ok(list)
}

fn routes(list: Option<Vec<HostRoute>>) -> Result<Option<Vec<HostRoute>>> {
    if let Some(l) = &list {
        for r in l {
            r.destination.parse::<IpNet>().map_err(|_| {
                ModelError::attr(
                    "host_routes",
                    format!("'{}' is not a valid IP subnet", r.destination),
                )
            })?;
            parse_ip("host_routes", &r.nexthop)?;
        }
    }
    Ok(list)
}

pub(super) fn create(
    state: &State,
    ctx: &Ctx,
    env: &mut Env,
    input: &mut Input,
) -> Result<Outcome> {
    let common = input.common_create()?;
    let network_id = input
        .string("network_id")?
        .ok_or_else(|| ModelError::attr("network_id", "'None' is not a valid UUID"))?;
    let network = state.find(ctx, Kind::Network, &network_id)?;
    if !ctx.is_admin && network.meta().project_id != ctx.project_id {
        return Err(ModelError::forbidden("rule:create_subnet"));
    }
    let project = owner(ctx, common.project_id)?;
    let cidr_s = match input.nullable_string("cidr")?.value() {
        Some(c) => c,
        None => {
            let _ = input.nullable_string("subnetpool_id")?;
            return Err(ModelError::bad_request(
                "a cidr must be specified in the absence of a subnet pool",
            ));
        }
    };
    let net = parse_cidr(&cidr_s)?;
    let ip_version = match input.int("ip_version")?.value() {
        None => {
            if net.addr().is_ipv4() {
                4
            } else {
                6
            }
        }
        Some(v @ (4 | 6)) => v as u8,
        Some(v) => {
            return Err(ModelError::attr(
                "ip_version",
                format!("'{v}' is not in [4, 6]"),
            ))
        }
    };
    if (ip_version == 4) != net.addr().is_ipv4() {
        return Err(ModelError::invalid(format!(
            "Cidr {net} does not match ip_version {ip_version}"
        )));
    }
    if let Field::Set(p) = input.nullable_string("subnetpool_id")? {
        return Err(ModelError::invalid(format!(
            "subnet pool {p} is not supported"
        )));
    }
    let _ = input.bool("use_default_subnetpool")?;
    let gateway = match input.nullable_string("gateway_ip")? {
        Field::Absent => {
            let first = crate::ipam::host_range(&net).0;
            Some(crate::ipam::u128_to_ip(first, ip_version == 6))
        }
        Field::Null => None,
        Field::Set(g) => {
            let g = parse_ip("gateway_ip", &g)?;
            gateway_in(&net, g)?;
            Some(g)
        }
    };
    let pools = match input.list::<Pool>("allocation_pools")? {
        Some(p) if !p.is_empty() => {
            validate_pools(&net, &p, gateway)?;
            p
        }
        _ => default_pools(&net, gateway),
    };
    let enable_dhcp = input.bool("enable_dhcp")?.unwrap_or(true);
    let dns_nameservers = dns(input.list("dns_nameservers")?)?.unwrap_or_default();
    let host_routes = routes(input.list("host_routes")?)?.unwrap_or_default();
    let mut mode = |k: &str| -> Result<Option<String>> {
        let m = input.nullable_string(k)?.value();
        if let Some(v) = &m {
            if ip_version != 6 {
                return Err(ModelError::invalid(format!(
                    "{k} set to '{v}' with ip_version set to '4' is not valid"
                )));
            }
            if !V6_MODES.contains(&v.as_str()) {
                return Err(ModelError::attr(k, format!("'{v}' is not in {V6_MODES:?}")));
            }
        }
        Ok(m)
    };
    let ipv6_ra_mode = mode("ipv6_ra_mode")?;
    let ipv6_address_mode = mode("ipv6_address_mode")?;
    // EUI-64 addresses need a /64 (Neutron: "OpenStack uses the EUI-64
    // address format, which requires the prefix to be /64").
    if matches!(
        ipv6_address_mode.as_deref(),
        Some("slaac" | "dhcpv6-stateless")
    ) && net.prefix_len() != 64
    {
        return Err(ModelError::invalid(format!(
            "Invalid CIDR {net} for IPv6 address mode. OpenStack uses the EUI-64 address format, which requires the prefix to be /64"
        )));
    }
    let service_types = input.list("service_types")?.unwrap_or_default();
    let _ = input.nullable_string("segment_id")?;
    for other in state
        .subnets
        .values()
        .filter(|s| s.network_id == network_id)
    {
        if let Ok(o) = other.cidr.parse::<IpNet>() {
            if o.contains(&net.network()) || net.contains(&o.network()) {
                return Err(ModelError::invalid(format!(
                    "Requested subnet with cidr: {net} for network: {network_id} overlaps with another subnet"
                )));
            }
        }
    }
    let s = Subnet {
        meta: env.meta(&project, common.description, common.tags),
        name: common.name.unwrap_or_default(),
        network_id,
        ip_version,
        cidr: net.to_string(),
        gateway_ip: gateway.map(|g| g.to_string()),
        allocation_pools: pools,
        enable_dhcp,
        dns_nameservers,
        host_routes,
        ipv6_ra_mode,
        ipv6_address_mode,
        subnetpool_id: None,
        service_types,
        segment_id: None,
    };
    let id = s.meta.id.clone();
    Ok(Outcome {
        changes: vec![Change::Put(Resource::Subnet(s))],
        id,
    })
}

pub(super) fn update(
    _state: &State,
    _ctx: &Ctx,
    _env: &mut Env,
    mut s: Subnet,
    input: &mut Input,
) -> Result<Vec<Change>> {
    input.read_only(&[
        "id",
        "cidr",
        "network_id",
        "ip_version",
        "tenant_id",
        "project_id",
        "ipv6_ra_mode",
        "ipv6_address_mode",
        "subnetpool_id",
    ])?;
    let net = parse_cidr(&s.cidr)?;
    if let Some(v) = input.string("name")? {
        s.name = v;
    }
    if let Some(v) = input.string("description")? {
        s.meta.description = v;
    }
    match input.nullable_string("gateway_ip")? {
        Field::Set(g) => {
            let g = parse_ip("gateway_ip", &g)?;
            gateway_in(&net, g)?;
            s.gateway_ip = Some(g.to_string());
        }
        Field::Null => s.gateway_ip = None,
        Field::Absent => {}
    }
    if let Some(p) = input.list::<Pool>("allocation_pools")? {
        s.allocation_pools = p;
    }
    let gw = match &s.gateway_ip {
        Some(g) => Some(parse_ip("gateway_ip", g)?),
        None => None,
    };
    validate_pools(&net, &s.allocation_pools, gw)?;
    if let Some(v) = input.bool("enable_dhcp")? {
        s.enable_dhcp = v;
    }
    if let Some(v) = dns(input.list("dns_nameservers")?)? {
        s.dns_nameservers = v;
    }
    if let Some(v) = routes(input.list("host_routes")?)? {
        s.host_routes = v;
    }
    if let Some(v) = input.list("service_types")? {
        s.service_types = v;
    }
    Ok(vec![Change::Put(Resource::Subnet(s))])
}

/// A subnet with allocations (other than DHCP ports) is 409 `SubnetInUse`.
pub(super) fn delete(state: &State, s: Subnet) -> Result<Vec<Change>> {
    let id = s.meta.id;
    let mut changes = Vec::new();
    for p in state
        .ports
        .values()
        .filter(|p| p.fixed_ips.iter().any(|f| f.subnet_id == id))
    {
        if p.device_owner != owner::DHCP {
            return Err(ModelError::conflict(
                "SubnetInUse",
                format!("Unable to complete operation on subnet {id}: One or more ports have an IP allocation from this subnet."),
            ));
        }
        changes.push(Change::Delete(Kind::Port, p.meta.id.clone()));
    }
    changes.push(Change::Delete(Kind::Subnet, id));
    Ok(changes)
}
