//! Create/set flags of routers, floating IPs, security groups and QoS,
//! named as the openstack CLI's.

use anyhow::{bail, Context};
use clap::Args;
use serde_json::{json, Map, Value};

use super::client::Client;
use super::flags::{flag, put, qos, routes, s, tags};
use super::{CreateBody, SetBody, GROUP, NETWORK, PORT, SUBNET};

#[derive(Args, Debug)]
pub struct RouterCreate {
    name: String,
    #[arg(long)]
    external_gateway: Option<String>,
    #[arg(long)]
    disable_snat: bool,
    #[arg(long)]
    enable: bool,
    #[arg(long)]
    disable: bool,
    #[arg(long)]
    description: Option<String>,
    #[arg(long)]
    project: Option<String>,
    #[arg(long)]
    tag: Vec<String>,
}

fn gateway(c: &Client, net: &Option<String>, no_snat: bool) -> anyhow::Result<Option<Value>> {
    net.as_ref()
        .map(|n| {
            let id = c.find(NETWORK.path, NETWORK.plural, NETWORK.title, n)?;
            Ok(json!({"network_id": id, "enable_snat": !no_snat}))
        })
        .transpose()
}

impl CreateBody for RouterCreate {
    fn body(&self, c: &Client) -> anyhow::Result<Value> {
        let mut m = Map::new();
        m.insert("name".into(), json!(self.name));
        put(
            &mut m,
            "external_gateway_info",
            gateway(c, &self.external_gateway, self.disable_snat)?,
        );
        put(&mut m, "admin_state_up", flag(self.enable, self.disable));
        put(&mut m, "description", s(&self.description));
        put(&mut m, "project_id", s(&self.project));
        put(&mut m, "tags", tags(&self.tag));
        Ok(Value::Object(m))
    }
}

#[derive(Args, Debug)]
pub struct RouterSet {
    #[arg(long)]
    name: Option<String>,
    #[arg(long)]
    description: Option<String>,
    #[arg(long)]
    external_gateway: Option<String>,
    #[arg(long)]
    disable_snat: bool,
    #[arg(long)]
    no_external_gateway: bool,
    /// destination=CIDR,gateway=IP (repeatable).
    #[arg(long)]
    route: Vec<String>,
    #[arg(long)]
    no_route: bool,
    #[arg(long)]
    enable: bool,
    #[arg(long)]
    disable: bool,
}

impl SetBody for RouterSet {
    fn body(&self, c: &Client) -> anyhow::Result<Value> {
        let mut m = Map::new();
        put(&mut m, "name", s(&self.name));
        put(&mut m, "description", s(&self.description));
        put(
            &mut m,
            "external_gateway_info",
            gateway(c, &self.external_gateway, self.disable_snat)?,
        );
        if self.no_external_gateway {
            m.insert("external_gateway_info".into(), Value::Null);
        }
        put(&mut m, "routes", routes(&self.route)?);
        if self.no_route {
            m.insert("routes".into(), json!([]));
        }
        put(&mut m, "admin_state_up", flag(self.enable, self.disable));
        Ok(Value::Object(m))
    }
}

#[derive(Args, Debug)]
pub struct FipCreate {
    /// External network to allocate from.
    network: String,
    #[arg(long)]
    port: Option<String>,
    #[arg(long)]
    fixed_ip_address: Option<String>,
    #[arg(long)]
    floating_ip_address: Option<String>,
    #[arg(long)]
    subnet: Option<String>,
    #[arg(long)]
    qos_policy: Option<String>,
    #[arg(long)]
    description: Option<String>,
    #[arg(long)]
    project: Option<String>,
    #[arg(long)]
    tag: Vec<String>,
}

impl CreateBody for FipCreate {
    fn body(&self, c: &Client) -> anyhow::Result<Value> {
        let mut m = Map::new();
        m.insert(
            "floating_network_id".into(),
            json!(c.find(NETWORK.path, NETWORK.plural, NETWORK.title, &self.network)?),
        );
        if let Some(p) = &self.port {
            m.insert(
                "port_id".into(),
                json!(c.find(PORT.path, PORT.plural, PORT.title, p)?),
            );
        }
        if let Some(sn) = &self.subnet {
            m.insert(
                "subnet_id".into(),
                json!(c.find(SUBNET.path, SUBNET.plural, SUBNET.title, sn)?),
            );
        }
        put(&mut m, "fixed_ip_address", s(&self.fixed_ip_address));
        put(&mut m, "floating_ip_address", s(&self.floating_ip_address));
        put(&mut m, "qos_policy_id", qos(c, &self.qos_policy)?);
        put(&mut m, "description", s(&self.description));
        put(&mut m, "project_id", s(&self.project));
        put(&mut m, "tags", tags(&self.tag));
        Ok(Value::Object(m))
    }
}

#[derive(Args, Debug)]
pub struct FipSet {
    #[arg(long)]
    port: Option<String>,
    #[arg(long)]
    no_port: bool,
    #[arg(long)]
    fixed_ip_address: Option<String>,
    #[arg(long)]
    description: Option<String>,
    #[arg(long)]
    qos_policy: Option<String>,
}

impl SetBody for FipSet {
    fn body(&self, c: &Client) -> anyhow::Result<Value> {
        let mut m = Map::new();
        if let Some(p) = &self.port {
            m.insert(
                "port_id".into(),
                json!(c.find(PORT.path, PORT.plural, PORT.title, p)?),
            );
        }
        if self.no_port {
            m.insert("port_id".into(), Value::Null);
        }
        put(&mut m, "fixed_ip_address", s(&self.fixed_ip_address));
        put(&mut m, "description", s(&self.description));
        put(&mut m, "qos_policy_id", qos(c, &self.qos_policy)?);
        Ok(Value::Object(m))
    }
}

#[derive(Args, Debug)]
pub struct GroupCreate {
    name: String,
    #[arg(long)]
    description: Option<String>,
    /// Connection tracking for the group's rules (the default).
    #[arg(long, conflicts_with = "stateless")]
    stateful: bool,
    /// Rules match both directions without conntrack; replies need rules.
    #[arg(long)]
    stateless: bool,
    #[arg(long)]
    project: Option<String>,
    #[arg(long)]
    tag: Vec<String>,
}

impl CreateBody for GroupCreate {
    fn body(&self, _c: &Client) -> anyhow::Result<Value> {
        let mut m = Map::new();
        m.insert("name".into(), json!(self.name));
        put(&mut m, "description", s(&self.description));
        put(&mut m, "project_id", s(&self.project));
        put(&mut m, "tags", tags(&self.tag));
        put(&mut m, "stateful", flag(self.stateful, self.stateless));
        Ok(Value::Object(m))
    }
}

#[derive(Args, Debug)]
pub struct GroupSet {
    #[arg(long)]
    name: Option<String>,
    #[arg(long)]
    description: Option<String>,
}

impl SetBody for GroupSet {
    fn body(&self, _c: &Client) -> anyhow::Result<Value> {
        let mut m = Map::new();
        put(&mut m, "name", s(&self.name));
        put(&mut m, "description", s(&self.description));
        Ok(Value::Object(m))
    }
}

#[derive(Args, Debug)]
pub struct RuleCreate {
    /// The security group the rule belongs to.
    group: String,
    #[arg(long)]
    protocol: Option<String>,
    /// Port or range `N:M`.
    #[arg(long)]
    dst_port: Option<String>,
    #[arg(long)]
    icmp_type: Option<u32>,
    #[arg(long)]
    icmp_code: Option<u32>,
    #[arg(long)]
    remote_ip: Option<String>,
    #[arg(long)]
    remote_group: Option<String>,
    #[arg(long)]
    ingress: bool,
    #[arg(long)]
    egress: bool,
    #[arg(long)]
    ethertype: Option<String>,
    #[arg(long)]
    description: Option<String>,
    #[arg(long)]
    project: Option<String>,
}

impl CreateBody for RuleCreate {
    fn body(&self, c: &Client) -> anyhow::Result<Value> {
        let mut m = Map::new();
        m.insert(
            "security_group_id".into(),
            json!(c.find(GROUP.path, GROUP.plural, GROUP.title, &self.group)?),
        );
        m.insert(
            "direction".into(),
            json!(if self.egress { "egress" } else { "ingress" }),
        );
        let ethertype = self.ethertype.clone().unwrap_or_else(|| {
            if self.remote_ip.as_deref().is_some_and(|r| r.contains(':')) {
                "IPv6".into()
            } else {
                "IPv4".into()
            }
        });
        m.insert("ethertype".into(), json!(ethertype));
        put(&mut m, "protocol", s(&self.protocol).filter(|p| p != "any"));
        if let Some(p) = &self.dst_port {
            let (lo, hi) = p.split_once(':').unwrap_or((p, p));
            let parse = |x: &str| {
                x.parse::<u32>()
                    .with_context(|| format!("--dst-port: bad port {x:?}"))
            };
            m.insert("port_range_min".into(), json!(parse(lo)?));
            m.insert("port_range_max".into(), json!(parse(hi)?));
        }
        put(&mut m, "port_range_min", self.icmp_type.map(|x| json!(x)));
        put(&mut m, "port_range_max", self.icmp_code.map(|x| json!(x)));
        put(&mut m, "remote_ip_prefix", s(&self.remote_ip));
        if let Some(g) = &self.remote_group {
            m.insert(
                "remote_group_id".into(),
                json!(c.find(GROUP.path, GROUP.plural, GROUP.title, g)?),
            );
        }
        put(&mut m, "description", s(&self.description));
        put(&mut m, "project_id", s(&self.project));
        Ok(Value::Object(m))
    }
}

/// Rules have no `set` flags.
#[derive(Args, Debug)]
pub struct NoSet {}

impl SetBody for NoSet {
    fn body(&self, _c: &Client) -> anyhow::Result<Value> {
        Ok(json!({}))
    }
}

#[derive(Args, Debug)]
pub struct PolicyCreate {
    name: String,
    #[arg(long)]
    description: Option<String>,
    #[arg(long)]
    share: bool,
    #[arg(long)]
    default: bool,
    #[arg(long)]
    project: Option<String>,
    #[arg(long)]
    tag: Vec<String>,
}

impl CreateBody for PolicyCreate {
    fn body(&self, _c: &Client) -> anyhow::Result<Value> {
        let mut m = Map::new();
        m.insert("name".into(), json!(self.name));
        put(&mut m, "description", s(&self.description));
        put(&mut m, "shared", self.share.then_some(Value::Bool(true)));
        put(
            &mut m,
            "is_default",
            self.default.then_some(Value::Bool(true)),
        );
        put(&mut m, "project_id", s(&self.project));
        put(&mut m, "tags", tags(&self.tag));
        Ok(Value::Object(m))
    }
}

#[derive(Args, Debug)]
pub struct PolicySet {
    #[arg(long)]
    name: Option<String>,
    #[arg(long)]
    description: Option<String>,
    #[arg(long)]
    share: bool,
    #[arg(long)]
    no_share: bool,
}

impl SetBody for PolicySet {
    fn body(&self, _c: &Client) -> anyhow::Result<Value> {
        let mut m = Map::new();
        put(&mut m, "name", s(&self.name));
        put(&mut m, "description", s(&self.description));
        put(&mut m, "shared", flag(self.share, self.no_share));
        Ok(Value::Object(m))
    }
}

#[derive(Args, Debug)]
pub struct QosRuleCreate {
    pub policy: String,
    /// bandwidth-limit, minimum-bandwidth or dscp-marking.
    #[arg(long = "type")]
    ty: String,
    #[command(flatten)]
    values: QosRuleSet,
}

impl QosRuleCreate {
    /// The rule type in URL form and the body.
    pub fn body(&self) -> anyhow::Result<(String, Value)> {
        let ty = match self.ty.as_str() {
            "bandwidth-limit" | "bandwidth_limit" => "bandwidth_limit",
            "minimum-bandwidth" | "minimum_bandwidth" => "minimum_bandwidth",
            "dscp-marking" | "dscp_marking" => "dscp_marking",
            other => bail!(
                "--type {other:?}: expected bandwidth-limit, minimum-bandwidth or dscp-marking"
            ),
        };
        Ok((ty.to_string(), self.values.body()))
    }
}

#[derive(Args, Debug)]
pub struct QosRuleSet {
    #[arg(long)]
    max_kbps: Option<u64>,
    #[arg(long)]
    max_burst_kbits: Option<u64>,
    #[arg(long)]
    min_kbps: Option<u64>,
    #[arg(long)]
    dscp_mark: Option<u8>,
    #[arg(long)]
    ingress: bool,
    #[arg(long)]
    egress: bool,
}

impl QosRuleSet {
    pub fn body(&self) -> Value {
        let mut m = Map::new();
        put(&mut m, "max_kbps", self.max_kbps.map(|x| json!(x)));
        put(
            &mut m,
            "max_burst_kbps",
            self.max_burst_kbits.map(|x| json!(x)),
        );
        put(&mut m, "min_kbps", self.min_kbps.map(|x| json!(x)));
        put(&mut m, "dscp_mark", self.dscp_mark.map(|x| json!(x)));
        if self.ingress {
            m.insert("direction".into(), json!("ingress"));
        }
        if self.egress {
            m.insert("direction".into(), json!("egress"));
        }
        Value::Object(m)
    }
}
