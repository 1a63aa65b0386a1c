//! Resource commands (`cloudnet network|subnet|port|router|floating ip|
//! security group [rule]|qos policy|qos rule create|list|show|set|delete`),
//! flags named as the openstack CLI's. They speak to the API server over
//! HTTP (`--os-endpoint`, `OS_ENDPOINT`; `--os-token`, `OS_TOKEN`).

pub mod client;
mod flags;
mod flags_l3;
mod output;
pub mod plug;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use serde_json::{json, Value};

use client::Client;
pub use flags::*;
pub use flags_l3::*;
use output::Format;

/// Options shared by every resource command.
#[derive(Args, Clone, Debug)]
pub struct Common {
    /// API endpoint.
    #[arg(
        long,
        env = "OS_ENDPOINT",
        default_value = "http://127.0.0.1:9696",
        global = true
    )]
    os_endpoint: String,
    /// Token sent as X-Auth-Token (token auth mode).
    #[arg(long, env = "OS_TOKEN", global = true)]
    os_token: Option<String>,
    /// Output format.
    #[arg(
        short = 'f',
        long = "format",
        value_enum,
        default_value = "table",
        global = true
    )]
    format: Format,
    /// Columns to show (repeatable).
    #[arg(short = 'c', long = "column", global = true)]
    column: Vec<String>,
}

#[derive(Subcommand)]
pub enum Command {
    /// Networks.
    Network {
        #[command(subcommand)]
        cmd: Box<Crud<NetworkCreate, NetworkSet>>,
        #[command(flatten)]
        common: Common,
    },
    /// Subnets.
    Subnet {
        #[command(subcommand)]
        cmd: Box<Crud<SubnetCreate, SubnetSet>>,
        #[command(flatten)]
        common: Common,
    },
    /// Ports (and `port plug|unplug`: bind one to this host).
    Port {
        #[command(subcommand)]
        cmd: Box<PortCmd>,
        #[command(flatten)]
        common: Common,
    },
    /// Routers (and `router add|remove subnet|port`).
    Router {
        #[command(subcommand)]
        cmd: Box<RouterCmd>,
        #[command(flatten)]
        common: Common,
    },
    /// Floating IPs (`floating ip ...`).
    Floating {
        #[command(subcommand)]
        ip: Box<FloatingCmd>,
        #[command(flatten)]
        common: Common,
    },
    /// Security groups (`security group ...`, `security group rule ...`).
    Security {
        #[command(subcommand)]
        group: Box<SecurityCmd>,
        #[command(flatten)]
        common: Common,
    },
    /// QoS policies and rules (`qos policy ...`, `qos rule ...`).
    Qos {
        #[command(subcommand)]
        cmd: Box<QosCmd>,
        #[command(flatten)]
        common: Common,
    },
}

/// The five verbs.
#[derive(Subcommand)]
pub enum Crud<C: Args, S: Args> {
    /// Create one.
    Create(C),
    /// List (with filters).
    List(ListArgs),
    /// Show one by name or ID.
    Show { name_or_id: String },
    /// Change attributes.
    Set {
        name_or_id: String,
        #[command(flatten)]
        set: S,
    },
    /// Delete one or more.
    Delete { names: Vec<String> },
}

#[derive(Args, Debug, Default)]
pub struct ListArgs {
    /// Security group whose rules to list (`security group rule list GROUP`).
    group: Option<String>,
    /// Filter by name.
    #[arg(long)]
    name: Option<String>,
    /// Filter by project.
    #[arg(long)]
    project: Option<String>,
    /// Only resources with all these tags (comma separated).
    #[arg(long)]
    tags: Option<String>,
    /// Only resources with any of these tags.
    #[arg(long)]
    any_tags: Option<String>,
    /// Filter by network (subnets, ports).
    #[arg(long)]
    network: Option<String>,
    /// Filter by device owner (ports).
    #[arg(long)]
    device_owner: Option<String>,
    /// Filter by router (ports).
    #[arg(long)]
    router: Option<String>,
}

/// Parsed once per process, so the size of the CRUD variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
pub enum PortCmd {
    #[command(flatten)]
    Crud(Crud<PortCreate, PortSet>),
    /// Create the port's TAP on this host's br-int and print its name
    /// (for qemu: `-netdev tap,ifname=NAME,script=no,downscript=no`).
    Plug(plug::Plug),
    /// Remove the port's TAP from br-int.
    Unplug(plug::Unplug),
}

#[derive(Subcommand)]
pub enum RouterCmd {
    #[command(flatten)]
    Crud(Crud<RouterCreate, RouterSet>),
    /// `router add subnet R S` / `router add port R P`.
    Add {
        #[command(subcommand)]
        what: Attach,
    },
    /// `router remove subnet R S` / `router remove port R P`.
    Remove {
        #[command(subcommand)]
        what: Attach,
    },
}

#[derive(Subcommand)]
pub enum Attach {
    Subnet { router: String, subnet: String },
    Port { router: String, port: String },
}

#[derive(Subcommand)]
pub enum FloatingCmd {
    /// Floating IPs.
    Ip {
        #[command(subcommand)]
        cmd: Crud<FipCreate, FipSet>,
    },
}

#[derive(Subcommand)]
pub enum SecurityCmd {
    /// Security groups.
    Group {
        #[command(subcommand)]
        cmd: GroupCmd,
    },
}

#[derive(Subcommand)]
pub enum GroupCmd {
    #[command(flatten)]
    Crud(Crud<GroupCreate, GroupSet>),
    /// Security group rules.
    Rule {
        #[command(subcommand)]
        cmd: Crud<RuleCreate, NoSet>,
    },
}

#[derive(Subcommand)]
pub enum QosCmd {
    /// QoS policies.
    Policy {
        #[command(subcommand)]
        cmd: Crud<PolicyCreate, PolicySet>,
    },
    /// QoS rules of a policy.
    Rule {
        #[command(subcommand)]
        cmd: QosRuleCmd,
    },
}

#[derive(Subcommand)]
pub enum QosRuleCmd {
    Create(QosRuleCreate),
    List {
        policy: String,
    },
    Show {
        policy: String,
        rule: String,
    },
    Set {
        policy: String,
        rule: String,
        #[command(flatten)]
        set: QosRuleSet,
    },
    Delete {
        policy: String,
        rules: Vec<String>,
    },
}

/// How a collection is addressed and listed.
pub struct Res {
    pub path: &'static str,
    pub singular: &'static str,
    pub plural: &'static str,
    pub title: &'static str,
    pub columns: &'static [(&'static str, &'static str)],
}

pub const NETWORK: Res = Res {
    path: "networks",
    singular: "network",
    plural: "networks",
    title: "Network",
    columns: &[("id", "ID"), ("name", "Name"), ("subnets", "Subnets")],
};
pub const SUBNET: Res = Res {
    path: "subnets",
    singular: "subnet",
    plural: "subnets",
    title: "Subnet",
    columns: &[
        ("id", "ID"),
        ("name", "Name"),
        ("network_id", "Network"),
        ("cidr", "Subnet"),
    ],
};
pub const PORT: Res = Res {
    path: "ports",
    singular: "port",
    plural: "ports",
    title: "Port",
    columns: &[
        ("id", "ID"),
        ("name", "Name"),
        ("mac_address", "MAC Address"),
        ("fixed_ips", "Fixed IP Addresses"),
        ("status", "Status"),
    ],
};
pub const ROUTER: Res = Res {
    path: "routers",
    singular: "router",
    plural: "routers",
    title: "Router",
    columns: &[
        ("id", "ID"),
        ("name", "Name"),
        ("status", "Status"),
        ("admin_state_up", "State"),
        ("project_id", "Project"),
    ],
};
pub const FIP: Res = Res {
    path: "floatingips",
    singular: "floatingip",
    plural: "floatingips",
    title: "Floating IP",
    columns: &[
        ("id", "ID"),
        ("floating_ip_address", "Floating IP Address"),
        ("fixed_ip_address", "Fixed IP Address"),
        ("port_id", "Port"),
        ("floating_network_id", "Floating Network"),
        ("project_id", "Project"),
    ],
};
pub const GROUP: Res = Res {
    path: "security-groups",
    singular: "security_group",
    plural: "security_groups",
    title: "Security Group",
    columns: &[
        ("id", "ID"),
        ("name", "Name"),
        ("description", "Description"),
        ("project_id", "Project"),
    ],
};
pub const RULE: Res = Res {
    path: "security-group-rules",
    singular: "security_group_rule",
    plural: "security_group_rules",
    title: "Security Group Rule",
    columns: &[
        ("id", "ID"),
        ("protocol", "IP Protocol"),
        ("ethertype", "Ethertype"),
        ("remote_ip_prefix", "IP Range"),
        ("port_range_min", "Port Range Min"),
        ("port_range_max", "Port Range Max"),
        ("direction", "Direction"),
        ("remote_group_id", "Remote Security Group"),
        ("security_group_id", "Security Group"),
    ],
};
pub const POLICY: Res = Res {
    path: "qos/policies",
    singular: "policy",
    plural: "policies",
    title: "QoS Policy",
    columns: &[
        ("id", "ID"),
        ("name", "Name"),
        ("shared", "Shared"),
        ("is_default", "Default"),
        ("project_id", "Project"),
    ],
};

/// Build a create body; may look names up through the client.
pub trait CreateBody: Args {
    fn body(&self, c: &Client) -> anyhow::Result<Value>;
}

/// Build an update body.
pub trait SetBody: Args {
    fn body(&self, c: &Client) -> anyhow::Result<Value>;
}

fn crud<C: CreateBody, S: SetBody>(
    c: &Client,
    r: &Res,
    cmd: Crud<C, S>,
    common: &Common,
) -> anyhow::Result<()> {
    let (f, cols) = (common.format, &common.column);
    match cmd {
        Crud::Create(a) => {
            let body = a.body(c)?;
            let v = c
                .call("POST", r.path, Some(&json!({ r.singular: body })))?
                .context("empty create response")?;
            println!("{}", output::show(&v[r.singular], f, cols)?);
        }
        Crud::List(l) => {
            let mut q: Vec<String> = Vec::new();
            let mut add = |k: &str, v: &Option<String>| {
                if let Some(v) = v {
                    q.push(client::serde_urlencoded_pair(k, v));
                }
            };
            add("name", &l.name);
            add("project_id", &l.project);
            add("tags", &l.tags);
            add("tags-any", &l.any_tags);
            add("device_owner", &l.device_owner);
            if let Some(n) = &l.network {
                let id = c.find(NETWORK.path, NETWORK.plural, NETWORK.title, n)?;
                q.push(client::serde_urlencoded_pair("network_id", &id));
            }
            if let Some(g) = &l.group {
                if r.path != RULE.path {
                    bail!("unexpected argument {g:?}");
                }
                let id = c.find(GROUP.path, GROUP.plural, GROUP.title, g)?;
                q.push(client::serde_urlencoded_pair("security_group_id", &id));
            }
            if let Some(rt) = &l.router {
                let id = c.find(ROUTER.path, ROUTER.plural, ROUTER.title, rt)?;
                q.push(client::serde_urlencoded_pair("device_id", &id));
            }
            let v = c.get(&format!("{}?{}", r.path, q.join("&")))?;
            let items = v[r.plural].as_array().cloned().unwrap_or_default();
            println!("{}", output::list(&items, r.columns, f, cols)?);
        }
        Crud::Show { name_or_id } => {
            let id = c.find(r.path, r.plural, r.title, &name_or_id)?;
            let v = c.get(&format!("{}/{id}", r.path))?;
            println!("{}", output::show(&v[r.singular], f, cols)?);
        }
        Crud::Set { name_or_id, set } => {
            let id = c.find(r.path, r.plural, r.title, &name_or_id)?;
            let body = set.body(c)?;
            if body.as_object().is_some_and(|m| !m.is_empty()) {
                c.call(
                    "PUT",
                    &format!("{}/{id}", r.path),
                    Some(&json!({ r.singular: body })),
                )?;
            }
        }
        Crud::Delete { names } => {
            if names.is_empty() {
                bail!("nothing to delete: give one or more names or IDs");
            }
            for n in names {
                let id = c.find(r.path, r.plural, r.title, &n)?;
                c.call("DELETE", &format!("{}/{id}", r.path), None)?;
            }
        }
    }
    Ok(())
}

fn qos_rules(c: &Client, cmd: QosRuleCmd, common: &Common) -> anyhow::Result<()> {
    let policy = |p: &str| c.find(POLICY.path, POLICY.plural, POLICY.title, p);
    let cols = &[
        ("id", "ID"),
        ("qos_policy_id", "QoS Policy ID"),
        ("type", "Type"),
        ("max_kbps", "Max Kbps"),
        ("max_burst_kbps", "Max Burst Kbits"),
        ("min_kbps", "Min Kbps"),
        ("dscp_mark", "DSCP mark"),
        ("direction", "Direction"),
    ];
    let (f, sel) = (common.format, &common.column);
    let find_rule = |pid: &str, rid: &str| -> anyhow::Result<(String, Value)> {
        let v = c.get(&format!("qos/policies/{pid}"))?;
        let rule = v["policy"]["rules"]
            .as_array()
            .and_then(|a| a.iter().find(|r| r["id"] == rid).cloned());
        let rule = rule.with_context(|| format!("No QoS rule found for {rid}"))?;
        let ty = rule["type"].as_str().unwrap_or_default().to_string();
        Ok((ty, rule))
    };
    match cmd {
        QosRuleCmd::Create(a) => {
            let pid = policy(&a.policy)?;
            let (ty, body) = a.body()?;
            let v = c
                .call(
                    "POST",
                    &format!("qos/policies/{pid}/{ty}_rules"),
                    Some(&json!({ format!("{ty}_rule"): body })),
                )?
                .context("empty response")?;
            println!("{}", output::show(&v[format!("{ty}_rule")], f, sel)?);
        }
        QosRuleCmd::List { policy: p } => {
            let pid = policy(&p)?;
            let v = c.get(&format!("qos/policies/{pid}"))?;
            let items = v["policy"]["rules"].as_array().cloned().unwrap_or_default();
            println!("{}", output::list(&items, cols, f, sel)?);
        }
        QosRuleCmd::Show { policy: p, rule } => {
            let (_, r) = find_rule(&policy(&p)?, &rule)?;
            println!("{}", output::show(&r, f, sel)?);
        }
        QosRuleCmd::Set {
            policy: p,
            rule,
            set,
        } => {
            let pid = policy(&p)?;
            let (ty, _) = find_rule(&pid, &rule)?;
            c.call(
                "PUT",
                &format!("qos/policies/{pid}/{ty}_rules/{rule}"),
                Some(&json!({ format!("{ty}_rule"): set.body() })),
            )?;
        }
        QosRuleCmd::Delete { policy: p, rules } => {
            let pid = policy(&p)?;
            for rule in rules {
                let (ty, _) = find_rule(&pid, &rule)?;
                c.call(
                    "DELETE",
                    &format!("qos/policies/{pid}/{ty}_rules/{rule}"),
                    None,
                )?;
            }
        }
    }
    Ok(())
}

fn attach(c: &Client, add: bool, what: Attach) -> anyhow::Result<()> {
    let (router, body) = match what {
        Attach::Subnet { router, subnet } => (
            router,
            json!({"subnet_id": c.find(SUBNET.path, SUBNET.plural, SUBNET.title, &subnet)?}),
        ),
        Attach::Port { router, port } => (
            router,
            json!({"port_id": c.find(PORT.path, PORT.plural, PORT.title, &port)?}),
        ),
    };
    let rid = c.find(ROUTER.path, ROUTER.plural, ROUTER.title, &router)?;
    let action = if add {
        "add_router_interface"
    } else {
        "remove_router_interface"
    };
    c.call("PUT", &format!("routers/{rid}/{action}"), Some(&body))?;
    Ok(())
}

pub fn run(cmd: Command) -> anyhow::Result<()> {
    let common = match &cmd {
        Command::Network { common, .. }
        | Command::Subnet { common, .. }
        | Command::Port { common, .. }
        | Command::Router { common, .. }
        | Command::Floating { common, .. }
        | Command::Security { common, .. }
        | Command::Qos { common, .. } => common.clone(),
    };
    let c = Client::new(&common.os_endpoint, common.os_token.clone());
    match cmd {
        Command::Network { cmd, .. } => crud(&c, &NETWORK, *cmd, &common),
        Command::Subnet { cmd, .. } => crud(&c, &SUBNET, *cmd, &common),
        Command::Port { cmd, .. } => match *cmd {
            PortCmd::Crud(x) => crud(&c, &PORT, x, &common),
            PortCmd::Plug(a) => plug::plug(&c, a),
            PortCmd::Unplug(a) => plug::unplug(&c, a),
        },
        Command::Router { cmd, .. } => match *cmd {
            RouterCmd::Crud(x) => crud(&c, &ROUTER, x, &common),
            RouterCmd::Add { what } => attach(&c, true, what),
            RouterCmd::Remove { what } => attach(&c, false, what),
        },
        Command::Floating { ip, .. } => {
            let FloatingCmd::Ip { cmd } = *ip;
            crud(&c, &FIP, cmd, &common)
        }
        Command::Security { group, .. } => {
            let SecurityCmd::Group { cmd } = *group;
            match cmd {
                GroupCmd::Crud(x) => crud(&c, &GROUP, x, &common),
                GroupCmd::Rule { cmd } => crud(&c, &RULE, cmd, &common),
            }
        }
        Command::Qos { cmd, .. } => match *cmd {
            QosCmd::Policy { cmd } => crud(&c, &POLICY, cmd, &common),
            QosCmd::Rule { cmd } => qos_rules(&c, cmd, &common),
        },
    }
}
