//! Explaining a trace at the tenant level, as `ovn-trace` does for OVN's
//! logical flows and `ovs-appctl ofproto/trace` for the OpenFlow tables
//! (ovn-trace(8), ovs-vswitchd(8) "ofproto/trace"): the tables a packet
//! visited become the logical stages of PIPELINE.md ([`stage`]), each
//! flow's cookie becomes the resource that decided ([`describe`], through
//! [`crate::Compiler::owner_of`]), and the outcome — delivered, answered
//! by the switch, or dropped — names the resource responsible
//! ([`verdict`]).
//!
//! The caller (the agent) runs the switch's `trace` verb once per
//! conntrack recirculation and hands the lookups over as [`Pass`]es; this
//! module does no I/O.

mod defaults;
mod describe;
pub mod microflow;
pub mod passes;
mod render;
mod verdict;

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::tables as t;

pub use defaults::{fill, fill_uplink, TraceError, OUTSIDE_IP, OUTSIDE_MAC, UNRESOLVED_MAC};
pub use describe::{describe, port_ref};
pub use verdict::verdict;

/// The conntrack state a trace assumes at every `ct()` recirculation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CtAssume {
    /// The first packet of a connection: `+trk+new`.
    #[default]
    New,
    /// A reply of an established connection: `+trk+est+rpl`, the
    /// connection's original tuple being the packet's reversed.
    Est,
}

impl CtAssume {
    /// As ovs-fields(7) writes `ct_state` flags.
    pub fn flags(self) -> &'static str {
        match self {
            CtAssume::New => "+trk+new",
            CtAssume::Est => "+trk+est+rpl",
        }
    }
}

/// What to trace: a packet from a port. `flow` is an ovs-ofctl(8)
/// match/microflow (`tcp,nw_dst=10.0.0.5,tp_dst=3306`); fields it leaves
/// out are filled from the port and the intent by the agent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceRequest {
    /// The sending port (ignored when `uplink` is set).
    #[serde(default)]
    pub port_id: String,
    /// Trace a packet arriving from the outside on the uplink of this
    /// physical network instead (e.g. to a floating IP).
    #[serde(default)]
    pub uplink: Option<String>,
    /// The asking project; `None` for an admin. Explanations do not name
    /// other projects' resources to a project.
    #[serde(default)]
    pub viewer: Option<String>,
    #[serde(default)]
    pub flow: String,
    #[serde(default)]
    pub ct_state: CtAssume,
}

/// One table lookup the switch reported.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hit {
    pub table: u8,
    /// `None`: no flow matched (the table-miss drop).
    pub priority: Option<u16>,
    pub cookie: u64,
    /// The matching flow's match, ovs-ofctl(8) text.
    pub matches: String,
    /// Its actions, one per element, as the switch printed them.
    pub actions: Vec<String>,
}

impl Hit {
    /// Whether the flow's actions are an explicit `drop` (or a miss).
    pub fn drops(&self) -> bool {
        self.priority.is_none() || self.actions.iter().all(|a| a == "drop")
    }
}

/// One run through the tables: from the start or from a recirculation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pass {
    /// The packet as it entered, ovs-ofctl(8) microflow text.
    pub flow: String,
    /// The conntrack state assumed for this pass (after a recirculation).
    pub ct: Option<String>,
    pub hits: Vec<Hit>,
    /// The datapath actions, as `ofproto/trace` prints them.
    pub datapath_actions: String,
}

/// A resource that decided, by kind, ID and name, with what it says.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceRef {
    /// `port`, `network`, `router`, `security group rule`, `floating IP`,
    /// or `pipeline default`.
    pub kind: String,
    pub id: String,
    pub name: String,
    /// Human text: the rule's protocol/port/remote and group, a router's
    /// route, a floating IP's mapping.
    pub detail: String,
}

/// One logical stage visited.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// Which [`Pass`] (from 0).
    pub pass: usize,
    pub table: u8,
    pub stage: String,
    pub priority: Option<u16>,
    pub resource: Option<ResourceRef>,
    /// What the stage did, e.g. `drop`, `output`, `ct → zone 3`.
    pub effect: String,
}

/// How the trace ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Verdict {
    /// Delivered to ports of this host and/or uplinks of physical
    /// networks.
    Output {
        ports: Vec<ResourceRef>,
        uplinks: Vec<String>,
    },
    /// Answered by the switch itself (`cloudnet:` local action).
    Local { action: String },
    /// Dropped; `stage` and `resource` say where and why.
    Drop {
        stage: String,
        reason: String,
        resource: Option<ResourceRef>,
    },
}

/// The whole explanation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceReport {
    pub from: ResourceRef,
    /// The packet traced (defaults filled), ovs-ofctl(8) microflow text.
    pub flow: String,
    pub ct_state: CtAssume,
    pub steps: Vec<Step>,
    pub verdict: Verdict,
    /// The physical flows behind the stages, pass by pass.
    pub passes: Vec<Pass>,
}

/// The fields of the traced packet the explanations quote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Probe {
    pub dl_src: String,
    pub dl_dst: String,
    pub nw_src: Option<IpAddr>,
    pub nw_dst: Option<IpAddr>,
    /// `tcp`, `udp`, `icmp`, … or the IP protocol number.
    pub proto: Option<String>,
    pub tp_dst: Option<u16>,
}

impl Probe {
    /// `tcp/3306`, `icmp`, `ip` — what a security-group rule would admit.
    pub fn service(&self) -> String {
        match (&self.proto, self.tp_dst) {
            (Some(p), Some(d)) if p == "tcp" || p == "udp" || p == "sctp" => format!("{p}/{d}"),
            (Some(p), _) => p.clone(),
            (None, _) => "ip".into(),
        }
    }
}

/// The stage name of a table (PIPELINE.md; OVN's names from
/// ovn-northd(8) "Logical Flow Table Structure").
pub fn stage(table: u8) -> &'static str {
    match table {
        t::PHY_IN => "physical ingress",
        t::LS_IN_PORT_SEC_L2 => "ls_in_port_sec_l2",
        t::LS_IN_PORT_SEC_IP => "ls_in_port_sec_ip",
        t::LS_IN_PORT_SEC_ND => "ls_in_port_sec_nd",
        t::LS_IN_PRE_ACL => "ls_in_pre_acl",
        t::LS_IN_PRE_STATEFUL => "ls_in_pre_stateful",
        t::LS_IN_ACL => "ls_in_acl",
        t::LS_IN_ARP_ND_RSP => "ls_in_arp_rsp",
        t::LS_IN_DHCP => "ls_in_dhcp",
        t::LS_IN_L2_LKP => "ls_in_l2_lkp",
        t::LR_IN_ADMISSION => "lr_in_admission",
        t::LR_IN_IP_INPUT => "lr_in_ip_input",
        t::LR_IN_UNSNAT => "lr_in_unsnat",
        t::LR_IN_DNAT => "lr_in_dnat",
        t::LR_IN_IP_ROUTING => "lr_in_ip_routing",
        t::LR_IN_ARP_RESOLVE => "lr_in_arp_resolve",
        t::LR_IN_ARP_REQUEST => "lr_in_arp_request",
        t::MAC_BINDING => "mac_binding",
        t::LR_OUT_UNDNAT => "lr_out_undnat",
        t::LR_OUT_SNAT => "lr_out_snat",
        t::LR_OUT_DELIVERY => "lr_out_delivery",
        t::LS_OUT_PRE_ACL => "ls_out_pre_acl",
        t::LS_OUT_PRE_STATEFUL => "ls_out_pre_stateful",
        t::LS_OUT_ACL => "ls_out_acl",
        t::LS_OUT_PORT_SEC => "ls_out_port_sec",
        t::PHY_OUT => "physical egress",
        _ => "unknown stage",
    }
}

/// Where the physical ports lead (ofport → resource), from the bindings.
#[derive(Debug, Clone, Default)]
pub struct Wiring {
    /// ofport → port ID.
    pub ports: std::collections::BTreeMap<u32, String>,
    /// ofport → physical network.
    pub uplinks: std::collections::BTreeMap<u32, String>,
}

/// Everything [`explain`] reads.
pub struct Inputs<'a> {
    pub st: &'a model::State,
    pub compiler: &'a crate::Compiler,
    pub wiring: &'a Wiring,
    pub from_port: &'a str,
    pub probe: &'a Probe,
    /// See [`TraceRequest::viewer`].
    pub viewer: Option<&'a str>,
    /// See [`TraceRequest::uplink`].
    pub uplink: Option<&'a str>,
}

/// The report for `passes` (the switch's lookups for the packet `flow`).
pub fn explain(inp: &Inputs, flow: String, ct_state: CtAssume, passes: Vec<Pass>) -> TraceReport {
    let mut steps = Vec::new();
    for (i, p) in passes.iter().enumerate() {
        for h in &p.hits {
            let owner = inp.compiler.owner_of(h.cookie);
            steps.push(Step {
                pass: i,
                table: h.table,
                stage: stage(h.table).to_string(),
                priority: h.priority,
                resource: owner.map(|o| describe(inp.st, o)),
                effect: effect(h, passes.get(i + 1)),
            });
        }
    }
    let verdict = verdict(inp, &passes);
    let from = match inp.uplink {
        Some(p) => ResourceRef {
            kind: "uplink".into(),
            id: p.into(),
            name: String::new(),
            detail: format!("the outside of physical network {p}"),
        },
        None => port_ref(inp.st, inp.from_port),
    };
    TraceReport {
        from,
        flow,
        ct_state,
        steps,
        verdict,
        passes,
    }
}

/// A short account of what a flow's actions did.
fn effect(h: &Hit, next: Option<&Pass>) -> String {
    if h.priority.is_none() {
        return "no flow matched: drop".into();
    }
    if h.drops() {
        return "drop".into();
    }
    let mut out = Vec::new();
    for a in &h.actions {
        if a.starts_with("controller(") {
            // The userdata is printed as hex; the verdict quotes the
            // local action from the datapath actions.
            out.push("to the switch's local responder".into());
        } else if a.starts_with("(conjunction(") {
            out.push("a security group rule matched".into());
        } else if a.starts_with("ct(") {
            let nat = if a.contains("nat") { " with NAT" } else { "" };
            match (a.contains("table="), next.and_then(|n| n.ct.as_deref())) {
                (true, Some(ct)) => {
                    out.push(format!("conntrack{nat}, recirculated as {ct}"));
                }
                _ if a.contains("commit") => out.push(format!("commit to conntrack{nat}")),
                _ => out.push(format!("conntrack{nat}")),
            }
        } else if a.starts_with("output:") || a.contains("->eth_dst") {
            out.push(a.clone());
        } else if a == "dec_ttl" {
            out.push("dec_ttl".into());
        }
    }
    if out.is_empty() {
        "continue".into()
    } else {
        out.join("; ")
    }
}

#[cfg(test)]
mod tests;
