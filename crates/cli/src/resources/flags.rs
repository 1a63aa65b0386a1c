//! Create/set flags of networks, subnets and ports, named as the openstack
//! CLI's, the request bodies they make, and shared helpers.

use anyhow::{bail, Context};
use clap::Args;
use serde_json::{json, Map, Value};

use super::client::Client;
use super::{CreateBody, SetBody, GROUP, NETWORK, POLICY, SUBNET};

/// `key=value,key=value` (as in `--fixed-ip subnet=S,ip-address=A`).
pub(super) fn kv(s: &str) -> anyhow::Result<Vec<(String, String)>> {
    s.split(',')
        .map(|p| {
            p.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .with_context(|| format!("expected key=value in {s:?}"))
        })
        .collect()
}

pub(super) fn put(m: &mut Map<String, Value>, k: &str, v: Option<Value>) {
    if let Some(v) = v {
        m.insert(k.into(), v);
    }
}

pub(super) fn flag(on: bool, off: bool) -> Option<Value> {
    match (on, off) {
        (true, _) => Some(Value::Bool(true)),
        (_, true) => Some(Value::Bool(false)),
        _ => None,
    }
}

pub(super) fn s(v: &Option<String>) -> Option<Value> {
    v.as_ref().map(|x| Value::String(x.clone()))
}

pub(super) fn tags(t: &[String]) -> Option<Value> {
    (!t.is_empty()).then(|| json!(t))
}

pub(super) fn qos(c: &Client, p: &Option<String>) -> anyhow::Result<Option<Value>> {
    p.as_ref()
        .map(|p| {
            c.find(POLICY.path, POLICY.plural, POLICY.title, p)
                .map(Value::String)
        })
        .transpose()
}

#[derive(Args, Debug)]
pub struct NetworkCreate {
    name: String,
    #[arg(long)]
    description: Option<String>,
    #[arg(long)]
    enable: bool,
    #[arg(long)]
    disable: bool,
    #[arg(long)]
    share: bool,
    #[arg(long)]
    no_share: bool,
    #[arg(long)]
    external: bool,
    #[arg(long)]
    internal: bool,
    #[arg(long)]
    mtu: Option<u32>,
    #[arg(long)]
    enable_port_security: bool,
    #[arg(long)]
    disable_port_security: bool,
    #[arg(long)]
    provider_network_type: Option<String>,
    #[arg(long)]
    provider_physical_network: Option<String>,
    #[arg(long)]
    provider_segment: Option<u32>,
    #[arg(long)]
    qos_policy: Option<String>,
    #[arg(long)]
    project: Option<String>,
    #[arg(long)]
    tag: Vec<String>,
}

impl CreateBody for NetworkCreate {
    fn body(&self, c: &Client) -> anyhow::Result<Value> {
        let mut m = Map::new();
        m.insert("name".into(), json!(self.name));
        put(&mut m, "description", s(&self.description));
        put(&mut m, "admin_state_up", flag(self.enable, self.disable));
        put(&mut m, "shared", flag(self.share, self.no_share));
        put(
            &mut m,
            "router:external",
            flag(self.external, self.internal),
        );
        put(
            &mut m,
            "port_security_enabled",
            flag(self.enable_port_security, self.disable_port_security),
        );
        put(&mut m, "mtu", self.mtu.map(|x| json!(x)));
        put(
            &mut m,
            "provider:network_type",
            s(&self.provider_network_type),
        );
        put(
            &mut m,
            "provider:physical_network",
            s(&self.provider_physical_network),
        );
        put(
            &mut m,
            "provider:segmentation_id",
            self.provider_segment.map(|x| json!(x)),
        );
        put(&mut m, "qos_policy_id", qos(c, &self.qos_policy)?);
        put(&mut m, "project_id", s(&self.project));
        put(&mut m, "tags", tags(&self.tag));
        Ok(Value::Object(m))
    }
}

#[derive(Args, Debug)]
pub struct NetworkSet {
    #[arg(long)]
    name: Option<String>,
    #[arg(long)]
    description: Option<String>,
    #[arg(long)]
    enable: bool,
    #[arg(long)]
    disable: bool,
    #[arg(long)]
    share: bool,
    #[arg(long)]
    no_share: bool,
    #[arg(long)]
    external: bool,
    #[arg(long)]
    internal: bool,
    #[arg(long)]
    mtu: Option<u32>,
    #[arg(long)]
    qos_policy: Option<String>,
    #[arg(long)]
    no_qos_policy: bool,
}

impl SetBody for NetworkSet {
    fn body(&self, c: &Client) -> anyhow::Result<Value> {
        let mut m = Map::new();
        put(&mut m, "name", s(&self.name));
        put(&mut m, "description", s(&self.description));
        put(&mut m, "admin_state_up", flag(self.enable, self.disable));
        put(&mut m, "shared", flag(self.share, self.no_share));
        put(
            &mut m,
            "router:external",
            flag(self.external, self.internal),
        );
        put(&mut m, "mtu", self.mtu.map(|x| json!(x)));
        put(&mut m, "qos_policy_id", qos(c, &self.qos_policy)?);
        if self.no_qos_policy {
            m.insert("qos_policy_id".into(), Value::Null);
        }
        Ok(Value::Object(m))
    }
}

#[derive(Args, Debug)]
pub struct SubnetCreate {
    name: String,
    #[arg(long)]
    network: String,
    #[arg(long)]
    subnet_range: String,
    #[arg(long)]
    ip_version: Option<u8>,
    /// Gateway: an address, `auto` or `none`.
    #[arg(long)]
    gateway: Option<String>,
    /// start=IP,end=IP (repeatable).
    #[arg(long)]
    allocation_pool: Vec<String>,
    #[arg(long)]
    dns_nameserver: Vec<String>,
    /// destination=CIDR,gateway=IP (repeatable).
    #[arg(long)]
    host_route: Vec<String>,
    #[arg(long)]
    dhcp: bool,
    #[arg(long)]
    no_dhcp: bool,
    #[arg(long)]
    ipv6_ra_mode: Option<String>,
    #[arg(long)]
    ipv6_address_mode: Option<String>,
    #[arg(long)]
    description: Option<String>,
    #[arg(long)]
    project: Option<String>,
    #[arg(long)]
    tag: Vec<String>,
}

fn pools(v: &[String]) -> anyhow::Result<Option<Value>> {
    if v.is_empty() {
        return Ok(None);
    }
    let mut out = Vec::new();
    for p in v {
        let m: Map<String, Value> = kv(p)?
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect();
        out.push(Value::Object(m));
    }
    Ok(Some(Value::Array(out)))
}

pub(super) fn routes(v: &[String]) -> anyhow::Result<Option<Value>> {
    if v.is_empty() {
        return Ok(None);
    }
    let mut out = Vec::new();
    for r in v {
        let mut m = Map::new();
        for (k, val) in kv(r)? {
            let key = if k == "gateway" {
                "nexthop".to_string()
            } else {
                k
            };
            m.insert(key, Value::String(val));
        }
        out.push(Value::Object(m));
    }
    Ok(Some(Value::Array(out)))
}

impl CreateBody for SubnetCreate {
    fn body(&self, c: &Client) -> anyhow::Result<Value> {
        let mut m = Map::new();
        m.insert("name".into(), json!(self.name));
        m.insert(
            "network_id".into(),
            json!(c.find(NETWORK.path, NETWORK.plural, NETWORK.title, &self.network)?),
        );
        m.insert("cidr".into(), json!(self.subnet_range));
        let version = self
            .ip_version
            .unwrap_or(if self.subnet_range.contains(':') {
                6
            } else {
                4
            });
        m.insert("ip_version".into(), json!(version));
        match self.gateway.as_deref() {
            None | Some("auto") => {}
            Some("none") => drop(m.insert("gateway_ip".into(), Value::Null)),
            Some(ip) => drop(m.insert("gateway_ip".into(), json!(ip))),
        }
        put(&mut m, "allocation_pools", pools(&self.allocation_pool)?);
        put(
            &mut m,
            "dns_nameservers",
            (!self.dns_nameserver.is_empty()).then(|| json!(self.dns_nameserver)),
        );
        put(&mut m, "host_routes", routes(&self.host_route)?);
        put(&mut m, "enable_dhcp", flag(self.dhcp, self.no_dhcp));
        put(&mut m, "ipv6_ra_mode", s(&self.ipv6_ra_mode));
        put(&mut m, "ipv6_address_mode", s(&self.ipv6_address_mode));
        put(&mut m, "description", s(&self.description));
        put(&mut m, "project_id", s(&self.project));
        put(&mut m, "tags", tags(&self.tag));
        Ok(Value::Object(m))
    }
}

#[derive(Args, Debug)]
pub struct SubnetSet {
    #[arg(long)]
    name: Option<String>,
    #[arg(long)]
    description: Option<String>,
    #[arg(long)]
    gateway: Option<String>,
    #[arg(long)]
    allocation_pool: Vec<String>,
    #[arg(long)]
    dns_nameserver: Vec<String>,
    #[arg(long)]
    host_route: Vec<String>,
    #[arg(long)]
    dhcp: bool,
    #[arg(long)]
    no_dhcp: bool,
}

impl SetBody for SubnetSet {
    fn body(&self, _c: &Client) -> anyhow::Result<Value> {
        let mut m = Map::new();
        put(&mut m, "name", s(&self.name));
        put(&mut m, "description", s(&self.description));
        match self.gateway.as_deref() {
            None => {}
            Some("none") => drop(m.insert("gateway_ip".into(), Value::Null)),
            Some(ip) => drop(m.insert("gateway_ip".into(), json!(ip))),
        }
        put(&mut m, "allocation_pools", pools(&self.allocation_pool)?);
        put(
            &mut m,
            "dns_nameservers",
            (!self.dns_nameserver.is_empty()).then(|| json!(self.dns_nameserver)),
        );
        put(&mut m, "host_routes", routes(&self.host_route)?);
        put(&mut m, "enable_dhcp", flag(self.dhcp, self.no_dhcp));
        Ok(Value::Object(m))
    }
}

/// The port attributes that `port create` and `port set` share, with the
/// openstack CLI's flag names.
#[derive(Args, Debug)]
pub struct PortAttrs {
    /// subnet=S,ip-address=A (repeatable).
    #[arg(long)]
    fixed_ip: Vec<String>,
    #[arg(long)]
    device: Option<String>,
    #[arg(long)]
    device_owner: Option<String>,
    #[arg(long)]
    security_group: Vec<String>,
    #[arg(long)]
    no_security_group: bool,
    #[arg(long)]
    enable_port_security: bool,
    #[arg(long)]
    disable_port_security: bool,
    /// ip-address=A[,mac-address=M] (repeatable).
    #[arg(long)]
    allowed_address: Vec<String>,
    #[arg(long)]
    host: Option<String>,
    #[arg(long)]
    qos_policy: Option<String>,
    #[arg(long)]
    enable: bool,
    #[arg(long)]
    disable: bool,
    #[arg(long)]
    description: Option<String>,
}

impl PortAttrs {
    /// Put every attribute that was given into the request body.
    fn put_into(&self, c: &Client, m: &mut Map<String, Value>) -> anyhow::Result<()> {
        put(m, "fixed_ips", fixed_ips(c, &self.fixed_ip)?);
        put(m, "device_id", s(&self.device));
        put(m, "device_owner", s(&self.device_owner));
        put(
            m,
            "security_groups",
            groups(c, &self.security_group, self.no_security_group)?,
        );
        put(
            m,
            "port_security_enabled",
            flag(self.enable_port_security, self.disable_port_security),
        );
        put(m, "allowed_address_pairs", pairs(&self.allowed_address)?);
        put(m, "binding:host_id", s(&self.host));
        put(m, "qos_policy_id", qos(c, &self.qos_policy)?);
        put(m, "admin_state_up", flag(self.enable, self.disable));
        put(m, "description", s(&self.description));
        Ok(())
    }
}

#[derive(Args, Debug)]
pub struct PortCreate {
    name: String,
    #[arg(long)]
    network: String,
    #[arg(long)]
    mac_address: Option<String>,
    #[command(flatten)]
    attrs: PortAttrs,
    #[arg(long)]
    project: Option<String>,
    #[arg(long)]
    tag: Vec<String>,
}

fn fixed_ips(c: &Client, v: &[String]) -> anyhow::Result<Option<Value>> {
    if v.is_empty() {
        return Ok(None);
    }
    let mut out = Vec::new();
    for f in v {
        let mut m = Map::new();
        for (k, val) in kv(f)? {
            match k.as_str() {
                "subnet" => drop(m.insert(
                    "subnet_id".into(),
                    json!(c.find(SUBNET.path, SUBNET.plural, SUBNET.title, &val)?),
                )),
                "ip-address" => drop(m.insert("ip_address".into(), json!(val))),
                other => bail!("--fixed-ip: unknown key {other:?} (subnet, ip-address)"),
            }
        }
        out.push(Value::Object(m));
    }
    Ok(Some(Value::Array(out)))
}

fn pairs(v: &[String]) -> anyhow::Result<Option<Value>> {
    if v.is_empty() {
        return Ok(None);
    }
    let mut out = Vec::new();
    for p in v {
        let m: Map<String, Value> = kv(p)?
            .into_iter()
            .map(|(k, v)| (k.replace('-', "_"), Value::String(v)))
            .collect();
        out.push(Value::Object(m));
    }
    Ok(Some(Value::Array(out)))
}

fn groups(c: &Client, v: &[String], none: bool) -> anyhow::Result<Option<Value>> {
    if none {
        return Ok(Some(json!([])));
    }
    if v.is_empty() {
        return Ok(None);
    }
    let ids: anyhow::Result<Vec<String>> = v
        .iter()
        .map(|g| c.find(GROUP.path, GROUP.plural, GROUP.title, g))
        .collect();
    Ok(Some(json!(ids?)))
}

impl CreateBody for PortCreate {
    fn body(&self, c: &Client) -> anyhow::Result<Value> {
        let mut m = Map::new();
        m.insert("name".into(), json!(self.name));
        m.insert(
            "network_id".into(),
            json!(c.find(NETWORK.path, NETWORK.plural, NETWORK.title, &self.network)?),
        );
        put(&mut m, "mac_address", s(&self.mac_address));
        self.attrs.put_into(c, &mut m)?;
        put(&mut m, "project_id", s(&self.project));
        put(&mut m, "tags", tags(&self.tag));
        Ok(Value::Object(m))
    }
}

#[derive(Args, Debug)]
pub struct PortSet {
    #[arg(long)]
    name: Option<String>,
    /// Detach the port's QoS policy.
    #[arg(long, conflicts_with = "qos_policy")]
    no_qos_policy: bool,
    #[command(flatten)]
    attrs: PortAttrs,
}

impl SetBody for PortSet {
    fn body(&self, c: &Client) -> anyhow::Result<Value> {
        let mut m = Map::new();
        put(&mut m, "name", s(&self.name));
        self.attrs.put_into(c, &mut m)?;
        if self.no_qos_policy {
            m.insert("qos_policy_id".into(), Value::Null);
        }
        Ok(Value::Object(m))
    }
}
