//! Cookie owner → the tenant resource, by kind, ID and name, with the
//! attributes that make its decision readable (a rule's protocol, ports
//! and remote as `openstack security group rule list` shows them).

use model::{SecurityGroupRule, State};

use super::ResourceRef;
use crate::flowset::Owner;

fn r(kind: &str, id: &str, name: &str, detail: String) -> ResourceRef {
    ResourceRef {
        kind: kind.into(),
        id: id.into(),
        name: name.into(),
        detail,
    }
}

/// `name (id)`, or just the ID for an unnamed resource.
pub(crate) fn named(name: &str, id: &str) -> String {
    if name.is_empty() {
        id.to_string()
    } else {
        format!("{name} ({id})")
    }
}

/// A port by ID (an unknown ID still yields a reference).
pub fn port_ref(st: &State, id: &str) -> ResourceRef {
    let Some(p) = st.ports.get(id) else {
        return r("port", id, "", "no longer exists".into());
    };
    let ips: Vec<&str> = p.fixed_ips.iter().map(|f| f.ip_address.as_str()).collect();
    let net = st
        .networks
        .get(&p.network_id)
        .map_or(p.network_id.clone(), |n| named(&n.name, &n.meta.id));
    r(
        "port",
        id,
        &p.name,
        format!(
            "MAC {}, IPs [{}], network {net}, project {}",
            p.mac_address,
            ips.join(", "),
            p.meta.project_id
        ),
    )
}

/// A group by ID as `name (id)`.
pub(crate) fn group_str(st: &State, id: &str) -> String {
    st.security_groups
        .get(id)
        .map_or(id.to_string(), |g| named(&g.name, id))
}

/// `ingress tcp/3306 from group web (id)`, as the rule reads.
pub(crate) fn rule_str(st: &State, rule: &SecurityGroupRule) -> String {
    let proto = rule.protocol.as_deref().unwrap_or("any");
    let ports = match (rule.port_range_min, rule.port_range_max) {
        (Some(a), Some(b)) if a == b => format!("/{a}"),
        (Some(a), Some(b)) => format!("/{a}-{b}"),
        (Some(a), None) | (None, Some(a)) => format!("/{a}"),
        (None, None) => String::new(),
    };
    let remote = match (&rule.remote_group_id, &rule.remote_ip_prefix) {
        (Some(g), _) => format!("group {}", group_str(st, g)),
        (None, Some(p)) if !p.is_empty() => p.clone(),
        _ => "anywhere".into(),
    };
    let dir = if rule.direction == "ingress" {
        "from"
    } else {
        "to"
    };
    format!(
        "{} {} {proto}{ports} {dir} {remote}",
        rule.direction, rule.ethertype
    )
}

/// The resource behind a flow's owner.
pub fn describe(st: &State, o: &Owner) -> ResourceRef {
    match o {
        Owner::Global => r(
            "pipeline default",
            "",
            "",
            "table default of the pipeline".into(),
        ),
        Owner::Network(id) => {
            let n = st.networks.get(id);
            let detail = n.map_or_else(String::new, |n| {
                format!("{} network, project {}", n.network_type, n.meta.project_id)
            });
            r("network", id, n.map_or("", |n| &n.name), detail)
        }
        Owner::Port(id) => port_ref(st, id),
        Owner::PortAcl(id) => {
            let mut p = port_ref(st, id);
            let groups: Vec<String> = st.ports.get(id).map_or(Vec::new(), |p| {
                p.security_groups.iter().map(|g| group_str(st, g)).collect()
            });
            p.kind = "port security groups".into();
            p.detail = format!("member of [{}]", groups.join(", "));
            p
        }
        Owner::Rule(id) => match st.rules.get(id) {
            Some(rule) => r(
                "security group rule",
                id,
                "",
                format!(
                    "{} of group {}",
                    rule_str(st, rule),
                    group_str(st, &rule.security_group_id)
                ),
            ),
            None => r("security group rule", id, "", "no longer exists".into()),
        },
        Owner::Router(id) => {
            let rt = st.routers.get(id);
            let detail = rt.map_or_else(String::new, |rt| {
                let routes: Vec<String> = rt
                    .routes
                    .iter()
                    .map(|h| format!("{} via {}", h.destination, h.nexthop))
                    .collect();
                format!(
                    "project {}, extra routes [{}]",
                    rt.meta.project_id,
                    routes.join(", ")
                )
            });
            r("router", id, rt.map_or("", |r| &r.name), detail)
        }
        Owner::Fip(id) => {
            let f = st.floating_ips.get(id);
            let detail = f.map_or_else(String::new, |f| {
                format!(
                    "{} ↔ {}",
                    f.floating_ip_address,
                    f.fixed_ip_address.as_deref().unwrap_or("(unassociated)")
                )
            });
            r("floating IP", id, "", detail)
        }
    }
}
