//! Security groups and rules. Every project has a group named `default`
//! whose rules allow all egress and ingress from members of the same group
//! (IPv4 and IPv6); every new group gets the two egress rules, as in Neutron.

use ipnet::IpNet;

use super::{owner, Outcome};
use crate::input::Input;
use crate::resources::*;
use crate::state::{Change, Ctx, Env, State};
use crate::{Kind, ModelError, Result};

/// IANA protocol numbers of the names Neutron accepts (neutron-lib
/// `constants.IP_PROTOCOL_MAP`).
pub const PROTOCOLS: [(&str, u8); 19] = [
    ("ah", 51),
    ("dccp", 33),
    ("egp", 8),
    ("esp", 50),
    ("gre", 47),
    ("hopopt", 0),
    ("icmp", 1),
    ("igmp", 2),
    ("ip", 0),
    ("ipip", 4),
    ("ipv6-encap", 41),
    ("ipv6-frag", 44),
    ("ipv6-icmp", 58),
    ("icmpv6", 58),
    ("ipv6-nonxt", 59),
    ("ipv6-opts", 60),
    ("ipv6-route", 43),
    ("ospf", 89),
    ("pgm", 113),
];
const MORE_PROTOCOLS: [(&str, u8); 5] = [
    ("rsvp", 46),
    ("sctp", 132),
    ("tcp", 6),
    ("udp", 17),
    ("udplite", 136),
];
const WITH_PORTS: [u8; 4] = [6, 17, 132, 33];

fn protocol_number(p: &str) -> Option<u8> {
    PROTOCOLS
        .iter()
        .chain(MORE_PROTOCOLS.iter())
        .find(|(n, _)| *n == p)
        .map(|(_, v)| *v)
        .or_else(|| p.parse().ok())
}

fn rule(
    env: &mut Env,
    project: &str,
    group: &str,
    direction: &str,
    ethertype: &str,
    remote_group: Option<&str>,
) -> SecurityGroupRule {
    SecurityGroupRule {
        meta: env.meta(project, None, None),
        security_group_id: group.into(),
        direction: direction.into(),
        ethertype: ethertype.into(),
        protocol: None,
        port_range_min: None,
        port_range_max: None,
        remote_ip_prefix: None,
        normalized_cidr: None,
        remote_group_id: remote_group.map(str::to_string),
        remote_address_group_id: None,
    }
}

fn new_group(
    env: &mut Env,
    project: &str,
    name: &str,
    description: Option<String>,
    tags: Option<Vec<String>>,
    default: bool,
) -> Vec<Change> {
    let g = SecurityGroup {
        meta: env.meta(project, description, tags),
        name: name.into(),
        stateful: true,
    };
    let id = g.meta.id.clone();
    let mut c = vec![Change::Put(Resource::SecurityGroup(g))];
    for et in ["IPv4", "IPv6"] {
        c.push(Change::Put(Resource::SecurityGroupRule(rule(
            env, project, &id, "egress", et, None,
        ))));
        if default {
            c.push(Change::Put(Resource::SecurityGroupRule(rule(
                env,
                project,
                &id,
                "ingress",
                et,
                Some(&id),
            ))));
        }
    }
    c
}

/// The project's default group: its ID and the changes creating it if it
/// does not exist yet.
pub fn ensure_default_security_group(
    state: &State,
    env: &mut Env,
    project: &str,
) -> (String, Vec<Change>) {
    if let Some(g) = state
        .security_groups
        .values()
        .find(|g| g.meta.project_id == project && g.name == "default")
    {
        return (g.meta.id.clone(), Vec::new());
    }
    let changes = new_group(
        env,
        project,
        "default",
        Some("Default security group".into()),
        None,
        true,
    );
    let id = match &changes[0] {
        Change::Put(r) => r.id().to_string(),
        Change::Delete(_, id) => id.clone(),
    };
    (id, changes)
}

pub(super) fn create(
    state: &State,
    ctx: &Ctx,
    env: &mut Env,
    input: &mut Input,
) -> Result<Outcome> {
    let common = input.common_create()?;
    let project = owner(ctx, common.project_id)?;
    let name = common.name.unwrap_or_default();
    let stateful = input.bool("stateful")?.unwrap_or(true);
    let (_, mut changes) = ensure_default_security_group(state, env, &project);
    if name == "default" {
        return Err(ModelError::conflict(
            "SecurityGroupDefaultAlreadyExists",
            "Default security group already exists.",
        ));
    }
    let mut group = new_group(env, &project, &name, common.description, common.tags, false);
    if let Some(Change::Put(Resource::SecurityGroup(g))) = group.first_mut() {
        g.stateful = stateful;
    }
    let id = match &group[0] {
        Change::Put(r) => r.id().to_string(),
        Change::Delete(_, id) => id.clone(),
    };
    changes.extend(group);
    Ok(Outcome { changes, id })
}

pub(super) fn update(
    state: &State,
    _ctx: &Ctx,
    mut g: SecurityGroup,
    input: &mut Input,
) -> Result<Vec<Change>> {
    input.read_only(&["id", "tenant_id", "project_id", "security_group_rules"])?;
    if let Some(v) = input.string("name")? {
        if g.name == "default" && v != "default" {
            return Err(ModelError::conflict(
                "SecurityGroupCannotUpdateDefault",
                "Updating default security group not allowed.",
            ));
        }
        g.name = v;
    }
    if let Some(v) = input.string("description")? {
        g.meta.description = v;
    }
    if let Some(v) = input.bool("stateful")? {
        // Neutron refuses to switch a group in use between stateful and
        // stateless (its ports' established connections would change
        // meaning).
        let used = state
            .ports
            .values()
            .any(|p| p.security_groups.contains(&g.meta.id));
        if v != g.stateful && used {
            return Err(ModelError::conflict(
                "SecurityGroupInUse",
                format!("Security Group {} in use.", g.meta.id),
            ));
        }
        g.stateful = v;
    }
    Ok(vec![Change::Put(Resource::SecurityGroup(g))])
}

pub(super) fn delete(state: &State, ctx: &Ctx, g: SecurityGroup) -> Result<Vec<Change>> {
    let id = g.meta.id;
    if g.name == "default" && !ctx.is_admin {
        return Err(ModelError::conflict(
            "SecurityGroupCannotRemoveDefault",
            "Insufficient rights for removing default security group.",
        ));
    }
    if state
        .ports
        .values()
        .any(|p| p.security_groups.contains(&id))
    {
        return Err(ModelError::conflict(
            "SecurityGroupInUse",
            format!("Security Group {id} in use."),
        ));
    }
    let mut changes: Vec<Change> = state
        .rules
        .values()
        .filter(|r| r.security_group_id == id || r.remote_group_id.as_deref() == Some(&id))
        .map(|r| Change::Delete(Kind::SecurityGroupRule, r.meta.id.clone()))
        .collect();
    changes.push(Change::Delete(Kind::SecurityGroup, id));
    Ok(changes)
}

fn port_value(p: i64, icmp: bool) -> Result<u32> {
    let max = if icmp { 255 } else { 65535 };
    let min = if icmp { 0 } else { 1 };
    if p < min || p > max {
        return Err(ModelError::new(
            400,
            "SecurityGroupInvalidPortValue",
            format!("Invalid value for port {p}."),
        ));
    }
    Ok(p as u32)
}

pub(super) fn create_rule(
    state: &State,
    ctx: &Ctx,
    env: &mut Env,
    input: &mut Input,
) -> Result<Outcome> {
    let common = input.common_create()?;
    let gid = input
        .string("security_group_id")?
        .ok_or_else(|| ModelError::attr("security_group_id", "'None' is not a valid UUID"))?;
    let group = state.find_owned(ctx, Kind::SecurityGroup, &gid)?;
    let project = owner(
        ctx,
        common
            .project_id
            .or_else(|| Some(group.meta().project_id.clone()))
            .filter(|_| ctx.is_admin),
    )?;
    let direction = input
        .string("direction")?
        .ok_or_else(|| ModelError::attr("direction", "'None' is not in ['ingress', 'egress']"))?;
    if direction != "ingress" && direction != "egress" {
        return Err(ModelError::attr(
            "direction",
            format!("'{direction}' is not in ['ingress', 'egress']"),
        ));
    }
    let ethertype = input.string("ethertype")?.unwrap_or_else(|| "IPv4".into());
    let ethertype = match ethertype.to_ascii_lowercase().as_str() {
        "ipv4" => "IPv4".to_string(),
        "ipv6" => "IPv6".to_string(),
        _ => return Err(ModelError::new(400, "SecurityGroupRuleInvalidEtherType", format!("Security group rule for ethertype '{ethertype}' not supported. Allowed values are ['IPv4', 'IPv6']."))),
    };
    let protocol = match input.raw("protocol") {
        crate::input::Field::Set(v) => {
            let s = match &v {
                serde_json::Value::String(s) => s.to_ascii_lowercase(),
                serde_json::Value::Number(n) => n.to_string(),
                other => {
                    return Err(ModelError::attr(
                        "protocol",
                        format!("{other} is not a valid protocol"),
                    ))
                }
            };
            if s == "any" || s.is_empty() {
                None
            } else {
                protocol_number(&s).ok_or_else(|| ModelError::new(400, "SecurityGroupRuleInvalidProtocol", format!("Security group rule protocol {s} not supported. Only protocol values [None, ah, dccp, egp, esp, gre, icmp, icmpv6, igmp, ipip, ipv6-encap, ipv6-frag, ipv6-icmp, ipv6-nonxt, ipv6-opts, ipv6-route, ospf, pgm, rsvp, sctp, tcp, udp, udplite] and integer representations [0 to 255] are supported.")))?;
                Some(s)
            }
        }
        _ => None,
    };
    let number = protocol.as_deref().and_then(protocol_number);
    let icmp = matches!(number, Some(1 | 58));
    let min = input.int("port_range_min")?.value();
    let max = input.int("port_range_max")?.value();
    let (min, max) = match (min, max) {
        (None, None) => (None, None),
        _ if number.is_none() || !(icmp || WITH_PORTS.contains(&number.unwrap_or(0))) => {
            return Err(ModelError::new(
                400,
                "SecurityGroupProtocolRequiredWithPorts",
                "Must also specify protocol if port range is given.",
            ));
        }
        (None, Some(_)) if icmp => {
            return Err(ModelError::new(
                400,
                "SecurityGroupMissingIcmpType",
                "ICMP code (port-range-max) is provided but ICMP type (port-range-min) is missing.",
            ));
        }
        (a, b) => {
            let a = a.map(|x| port_value(x, icmp)).transpose()?;
            let b = b.map(|x| port_value(x, icmp)).transpose()?;
            if !icmp {
                let (Some(lo), Some(hi)) = (a, b) else {
                    return Err(ModelError::new(
                        400,
                        "SecurityGroupInvalidPortRange",
                        "For TCP/UDP protocols, port_range_min must be <= port_range_max",
                    ));
                };
                if lo > hi {
                    return Err(ModelError::new(
                        400,
                        "SecurityGroupInvalidPortRange",
                        "For TCP/UDP protocols, port_range_min must be <= port_range_max",
                    ));
                }
            }
            (a, b)
        }
    };
    let prefix = input.nullable_string("remote_ip_prefix")?.value();
    let remote_group = input.nullable_string("remote_group_id")?.value();
    let _ = input.nullable_string("remote_address_group_id")?;
    if prefix.is_some() && remote_group.is_some() {
        return Err(ModelError::new(
            400,
            "SecurityGroupRemoteGroupAndRemoteIpPrefix",
            "Only remote_ip_prefix or remote_group_id may be provided.",
        ));
    }
    let normalized = match &prefix {
        Some(p) => {
            let net: IpNet = p
                .parse()
                .or_else(|_| p.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    ModelError::attr(
                        "remote_ip_prefix",
                        format!("'{p}' is not a valid IP subnet"),
                    )
                })?;
            if net.addr().is_ipv4() != (ethertype == "IPv4") {
                return Err(ModelError::new(
                    400,
                    "SecurityGroupRuleParameterConflict",
                    format!("Conflicting value ethertype {ethertype} for CIDR {p}"),
                ));
            }
            Some(net.trunc().to_string())
        }
        None => None,
    };
    if let Some(r) = &remote_group {
        state.find(ctx, Kind::SecurityGroup, r)?;
    }
    let r = SecurityGroupRule {
        meta: env.meta(&project, common.description, None),
        security_group_id: gid.clone(),
        direction,
        ethertype,
        protocol,
        port_range_min: min,
        port_range_max: max,
        remote_ip_prefix: prefix,
        normalized_cidr: normalized,
        remote_group_id: remote_group,
        remote_address_group_id: None,
    };
    let same = |x: &SecurityGroupRule| {
        x.security_group_id == r.security_group_id
            && x.direction == r.direction
            && x.ethertype == r.ethertype
            && x.protocol.as_deref().and_then(protocol_number) == number
            && x.port_range_min == r.port_range_min
            && x.port_range_max == r.port_range_max
            && x.normalized_cidr == r.normalized_cidr
            && x.remote_group_id == r.remote_group_id
    };
    if let Some(dup) = state.rules.values().find(|x| same(x)) {
        return Err(ModelError::conflict(
            "SecurityGroupRuleExists",
            format!(
                "Security group rule already exists. Rule id is {}.",
                dup.meta.id
            ),
        ));
    }
    let id = r.meta.id.clone();
    Ok(Outcome {
        changes: vec![Change::Put(Resource::SecurityGroupRule(r))],
        id,
    })
}
