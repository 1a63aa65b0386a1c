//! Ports: MAC (generated under the configured prefix, unique per network),
//! fixed IPs from the subnets' pools, security groups, allowed address pairs.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::Deserialize;

use super::{check_qos_policy, ensure_default_security_group, mac_used, owner, used_ips, Outcome};
use crate::input::{Field, Input};
use crate::ipam::{host_range, ip_to_u128, next_free, normalize_mac, parse_ip};
use crate::resources::*;
use crate::state::{Change, Ctx, Env, State};
use crate::{Kind, ModelError, Result};

/// One entry of a requested `fixed_ips`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct IpRequest {
    pub subnet_id: Option<String>,
    pub ip_address: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct PairRequest {
    ip_address: String,
    mac_address: Option<String>,
}

fn subnet_has(s: &Subnet, ip: IpAddr) -> bool {
    let Ok(net) = s.cidr.parse::<IpNet>() else {
        return false;
    };
    if !net.contains(&ip) {
        return false;
    }
    let (lo, hi) = host_range(&net);
    let v = ip_to_u128(ip);
    lo <= v && v <= hi
}

/// Allocate the fixed IPs of a port on `network_id`. `requested` `None`
/// means "one address of each IP version", as Neutron's default. `keep`
/// are addresses the port already holds (updates), not counted as in use.
pub(crate) fn allocate<'a>(
    state: &'a State,
    network_id: &str,
    requested: Option<Vec<IpRequest>>,
    keep: &[FixedIp],
) -> Result<Vec<FixedIp>> {
    let subnets: Vec<&Subnet> = state.subnets_of_network(network_id).collect();
    let used = |sid: &'a str, pending: &[FixedIp]| used_ips(state, sid, pending, keep);
    let exhausted = || {
        ModelError::conflict(
            "IpAddressGenerationFailure",
            format!("No more IP addresses available on network {network_id}."),
        )
    };
    let mut out: Vec<FixedIp> = Vec::new();
    let Some(reqs) = requested else {
        for version in [4u8, 6] {
            let candidates: Vec<&&Subnet> =
                subnets.iter().filter(|s| s.ip_version == version).collect();
            if candidates.is_empty() {
                continue;
            }
            let found = candidates.iter().find_map(|s| {
                next_free(&s.allocation_pools, version == 6, |ip| {
                    used(&s.meta.id, &out).contains(ip)
                })
                .map(|ip| FixedIp {
                    subnet_id: s.meta.id.clone(),
                    ip_address: ip.to_string(),
                })
            });
            out.push(found.ok_or_else(exhausted)?);
        }
        return Ok(out);
    };
    for r in reqs {
        let ip = match &r.ip_address {
            Some(s) => Some(parse_ip("fixed_ips", s)?),
            None => None,
        };
        let subnet: &Subnet = match (&r.subnet_id, ip) {
            (Some(sid), _) => subnets.iter().copied().find(|s| &s.meta.id == sid).ok_or_else(|| {
                ModelError::invalid(format!(
                    "Failed to create port on network {network_id}, because fixed_ips included invalid subnet {sid}"
                ))
            })?,
            (None, Some(ip)) => subnets.iter().copied().find(|s| subnet_has(s, ip)).ok_or_else(|| {
                ModelError::new(
                    400,
                    "InvalidIpForNetwork",
                    format!("IP address {ip} is not a valid IP for any of the subnets on the specified network."),
                )
            })?,
            (None, None) => return Err(ModelError::attr("fixed_ips", "Exactly one of subnet_id or ip_address is required")),
        };
        let sid = subnet.meta.id.clone();
        let ip = match ip {
            Some(ip) => {
                if !subnet_has(subnet, ip) {
                    return Err(ModelError::new(
                        400,
                        "InvalidIpForSubnet",
                        format!("IP address {ip} is not a valid IP for the specified subnet."),
                    ));
                }
                if used(&subnet.meta.id, &out).contains(&ip) {
                    return Err(ModelError::conflict(
                        "IpAddressAlreadyAllocated",
                        format!("IP address {ip} already allocated in subnet {sid}"),
                    ));
                }
                ip
            }
            None => {
                let u = used(&subnet.meta.id, &out);
                next_free(&subnet.allocation_pools, subnet.ip_version == 6, |ip| {
                    u.contains(ip)
                })
            }
            .ok_or_else(exhausted)?,
        };
        out.push(FixedIp {
            subnet_id: sid,
            ip_address: ip.to_string(),
        });
    }
    Ok(out)
}

/// On an auto-address IPv6 subnet (slaac, dhcpv6-stateless) the port's
/// address is the one its host forms from our Router Advertisement: the
/// prefix plus the EUI-64 of its MAC (Neutron's IPAM does the same), unless
/// the request named the address.
fn auto_addresses(state: &State, mac: &str, ips: &mut [FixedIp], requested: Option<&[IpRequest]>) {
    let named: Vec<&str> = requested
        .unwrap_or_default()
        .iter()
        .filter_map(|r| r.ip_address.as_deref())
        .collect();
    for f in ips.iter_mut() {
        if named.contains(&f.ip_address.as_str()) {
            continue;
        }
        let Some(s) = state
            .subnets
            .get(&f.subnet_id)
            .filter(|s| crate::ipam::is_auto_address(s))
        else {
            continue;
        };
        let Ok(IpNet::V6(net)) = s.cidr.parse::<IpNet>() else {
            continue;
        };
        if let Some(a) = crate::ipam::eui64_address(&net, mac) {
            f.ip_address = a.to_string();
        }
    }
}

/// A port Neutron creates for itself (router interface/gateway, floating IP).
pub(crate) fn internal_port(
    state: &State,
    env: &mut Env,
    project: &str,
    network_id: &str,
    fixed_ips: Vec<FixedIp>,
    device_owner: &str,
    device_id: &str,
) -> Result<Port> {
    let mac = env
        .config
        .generate_mac(env.rng, &|m| mac_used(state, network_id, m, ""))?;
    Ok(Port {
        meta: env.meta(project, None, None),
        name: String::new(),
        network_id: network_id.into(),
        admin_state_up: true,
        mac_address: mac,
        fixed_ips,
        device_id: device_id.into(),
        device_owner: device_owner.into(),
        security_groups: Vec::new(),
        port_security_enabled: false,
        allowed_address_pairs: Vec::new(),
        host_id: String::new(),
        vnic_type: "normal".into(),
        vif_type: "unbound".into(),
        binding_profile: Default::default(),
        vif_details: Default::default(),
        qos_policy_id: None,
        status: "ACTIVE".into(),
        extra_dhcp_opts: Vec::new(),
    })
}

fn mac_in_use(state: &State, network_id: &str, mac: &str, except: &str) -> Result<()> {
    if mac_used(state, network_id, mac, except) {
        return Err(ModelError::conflict(
            "MacAddressInUse",
            format!("Unable to complete operation for network {network_id}. The mac address {mac} is in use."),
        ));
    }
    Ok(())
}

fn pairs(list: Vec<PairRequest>, default_mac: &str) -> Result<Vec<AddressPair>> {
    list.into_iter()
        .map(|p| {
            if p.ip_address.parse::<IpAddr>().is_err() && p.ip_address.parse::<IpNet>().is_err() {
                return Err(ModelError::attr(
                    "allowed_address_pairs",
                    format!("'{}' is not a valid IP address", p.ip_address),
                ));
            }
            let mac = match p.mac_address {
                Some(m) => normalize_mac(&m).ok_or_else(|| {
                    ModelError::attr(
                        "allowed_address_pairs",
                        format!("'{m}' is not a valid MAC address"),
                    )
                })?,
                None => default_mac.to_string(),
            };
            Ok(AddressPair {
                ip_address: p.ip_address,
                mac_address: mac,
            })
        })
        .collect()
}

fn check_groups(state: &State, ctx: &Ctx, groups: &[String]) -> Result<()> {
    for g in groups {
        state.find(ctx, Kind::SecurityGroup, g)?;
    }
    Ok(())
}

fn admin_attr(ctx: &Ctx, input: &Input, action: &str) -> Result<()> {
    for k in ["binding:host_id", "binding:profile"] {
        if !ctx.is_admin && input.has(k) {
            return Err(ModelError::forbidden(&format!("rule:{action}_port:{k}")));
        }
    }
    Ok(())
}

fn security_consistency(p: &Port) -> Result<()> {
    if !p.port_security_enabled && !p.security_groups.is_empty() {
        return Err(ModelError::new(
            400,
            "PortSecurityAndIPRequiredForSecurityGroups",
            "Port security must be enabled and port must have an IP address in order to use security groups.",
        ));
    }
    if !p.port_security_enabled && !p.allowed_address_pairs.is_empty() {
        return Err(ModelError::conflict(
            "AddressPairAndPortSecurityRequired",
            "Port Security must be enabled in order to have allowed address pairs on a port.",
        ));
    }
    Ok(())
}

pub(super) fn create(
    state: &State,
    ctx: &Ctx,
    env: &mut Env,
    input: &mut Input,
) -> Result<Outcome> {
    admin_attr(ctx, input, "create")?;
    let common = input.common_create()?;
    // Plain attributes first: a wrong type is a 400 before any allocation.
    let admin_state_up = input.bool("admin_state_up")?.unwrap_or(true);
    let device_id = input.string("device_id")?.unwrap_or_default();
    let device_owner = input.string("device_owner")?.unwrap_or_default();
    let host_id = input.string("binding:host_id")?.unwrap_or_default();
    let vnic_type = input
        .string("binding:vnic_type")?
        .unwrap_or_else(|| "normal".into());
    let binding_profile = input.object("binding:profile")?.unwrap_or_default();
    let extra_dhcp_opts = input.list("extra_dhcp_opts")?.unwrap_or_default();
    let network_id = input
        .string("network_id")?
        .ok_or_else(|| ModelError::attr("network_id", "'None' is not a valid UUID"))?;
    let Resource::Network(net) = state.find(ctx, Kind::Network, &network_id)? else {
        return Err(Kind::Network.not_found(&network_id));
    };
    let project = owner(ctx, common.project_id)?;
    let mac = match input.string("mac_address")? {
        Some(m) => {
            let m = normalize_mac(&m).ok_or_else(|| {
                ModelError::attr("mac_address", format!("'{m}' is not a valid MAC address"))
            })?;
            mac_in_use(state, &network_id, &m, "")?;
            m
        }
        None => env
            .config
            .generate_mac(env.rng, &|m| mac_used(state, &network_id, m, ""))?,
    };
    let requested = input.list::<IpRequest>("fixed_ips")?;
    let mut fixed_ips = allocate(state, &network_id, requested.clone(), &[])?;
    auto_addresses(state, &mac, &mut fixed_ips, requested.as_deref());
    let port_security = input
        .bool("port_security_enabled")?
        .unwrap_or(net.port_security_enabled);
    let mut changes = Vec::new();
    let groups = match input.list::<String>("security_groups")? {
        Some(g) => {
            check_groups(state, ctx, &g)?;
            g
        }
        None if port_security => {
            let (id, c) = ensure_default_security_group(state, env, &project);
            changes.extend(c);
            vec![id]
        }
        None => Vec::new(),
    };
    let pairs = pairs(
        input.list("allowed_address_pairs")?.unwrap_or_default(),
        &mac,
    )?;
    let qos_policy_id = input.nullable_string("qos_policy_id")?.value();
    check_qos_policy(state, ctx, &qos_policy_id)?;
    let p = Port {
        meta: env.meta(&project, common.description, common.tags),
        name: common.name.unwrap_or_default(),
        network_id,
        admin_state_up,
        mac_address: mac,
        fixed_ips,
        device_id,
        device_owner,
        security_groups: groups,
        port_security_enabled: port_security,
        allowed_address_pairs: pairs,
        host_id,
        vnic_type,
        vif_type: "unbound".into(),
        binding_profile,
        vif_details: Default::default(),
        qos_policy_id,
        status: "DOWN".into(),
        extra_dhcp_opts,
    };
    security_consistency(&p)?;
    let id = p.meta.id.clone();
    changes.push(Change::Put(Resource::Port(p)));
    Ok(Outcome { changes, id })
}

pub(super) fn update(
    state: &State,
    ctx: &Ctx,
    _env: &mut Env,
    mut p: Port,
    input: &mut Input,
) -> Result<Vec<Change>> {
    admin_attr(ctx, input, "update")?;
    input.read_only(&["id", "network_id", "tenant_id", "project_id", "status"])?;
    if let Some(v) = input.string("name")? {
        p.name = v;
    }
    if let Some(v) = input.string("description")? {
        p.meta.description = v;
    }
    if let Some(v) = input.bool("admin_state_up")? {
        p.admin_state_up = v;
    }
    if let Some(m) = input.string("mac_address")? {
        if !ctx.is_admin {
            return Err(ModelError::forbidden("rule:update_port:mac_address"));
        }
        let m = normalize_mac(&m).ok_or_else(|| {
            ModelError::attr("mac_address", format!("'{m}' is not a valid MAC address"))
        })?;
        mac_in_use(state, &p.network_id, &m, &p.meta.id)?;
        p.mac_address = m;
    }
    if let Some(reqs) = input.list::<IpRequest>("fixed_ips")? {
        p.fixed_ips = allocate(state, &p.network_id, Some(reqs.clone()), &p.fixed_ips)?;
        auto_addresses(state, &p.mac_address, &mut p.fixed_ips, Some(&reqs));
    }
    if let Some(v) = input.string("device_id")? {
        p.device_id = v;
    }
    if let Some(v) = input.string("device_owner")? {
        p.device_owner = v;
    }
    if let Some(v) = input.bool("port_security_enabled")? {
        p.port_security_enabled = v;
    }
    if let Some(g) = input.list::<String>("security_groups")? {
        check_groups(state, ctx, &g)?;
        p.security_groups = g;
    }
    if let Some(v) = input.list("allowed_address_pairs")? {
        p.allowed_address_pairs = pairs(v, &p.mac_address)?;
    }
    if let Some(v) = input.string("binding:host_id")? {
        p.host_id = v;
    }
    if let Some(v) = input.string("binding:vnic_type")? {
        p.vnic_type = v;
    }
    if let Some(v) = input.object("binding:profile")? {
        p.binding_profile = v;
    }
    match input.nullable_string("qos_policy_id")? {
        Field::Set(q) => {
            check_qos_policy(state, ctx, &Some(q.clone()))?;
            p.qos_policy_id = Some(q);
        }
        Field::Null => p.qos_policy_id = None,
        Field::Absent => {}
    }
    if let Some(v) = input.list("extra_dhcp_opts")? {
        p.extra_dhcp_opts = v;
    }
    security_consistency(&p)?;
    Ok(vec![Change::Put(Resource::Port(p))])
}

/// Ports owned by a router or floating IP are deleted through those APIs
/// (409 otherwise); floating IPs bound to a deleted port are disassociated.
pub(super) fn delete(state: &State, env: &mut Env, p: Port) -> Result<Vec<Change>> {
    if [
        owner::ROUTER_INTERFACE,
        owner::ROUTER_GATEWAY,
        owner::FLOATING_IP,
    ]
    .contains(&p.device_owner.as_str())
    {
        return Err(ModelError::conflict(
            "ServicePortInUse",
            format!(
                "Port {} cannot be deleted directly via the port API: has device owner {}.",
                p.meta.id, p.device_owner
            ),
        ));
    }
    let mut changes = Vec::new();
    for f in state
        .floating_ips
        .values()
        .filter(|f| f.port_id.as_deref() == Some(&p.meta.id))
    {
        let mut f = f.clone();
        f.port_id = None;
        f.fixed_ip_address = None;
        f.router_id = None;
        f.status = "DOWN".into();
        let mut r = Resource::FloatingIp(f);
        crate::state::touch(&mut r, &env.now);
        changes.push(Change::Put(r));
    }
    changes.push(Change::Delete(Kind::Port, p.meta.id));
    Ok(changes)
}
