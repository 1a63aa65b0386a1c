//! `cloudnet trace --from PORT [--to PORT] [FLOW]`: why a packet is
//! delivered or dropped, stage by stage, naming the security-group rule,
//! port, router or floating IP that decided — ovn-trace(8) and
//! `ofproto/trace` (ovs-vswitchd(8)) in one command. The API server
//! (`POST /v2.0/cloudnet/trace`) runs it on the port's agent.

use anyhow::Context;
use controller::explain::{CtAssume, TraceReport};
use serde_json::json;

use crate::resources::client::Client;

/// Arguments of `cloudnet trace`.
#[derive(clap::Args)]
pub struct Args {
    /// The sending port (name or ID).
    #[arg(
        long,
        required_unless_present = "from_physnet",
        conflicts_with = "from_physnet"
    )]
    from: Option<String>,
    /// Trace a packet arriving from the outside on this physical network's
    /// uplink instead (admin; e.g. to a floating IP). Source defaults to
    /// 203.0.113.1 (RFC 5737).
    #[arg(long)]
    from_physnet: Option<String>,
    /// The destination port (name or ID): its IPv4 address is the
    /// packet's nw_dst.
    #[arg(long)]
    to: Option<String>,
    /// The packet, as an ovs-ofctl(8) match (`tcp,nw_dst=10.0.0.5,tp_dst=3306`);
    /// in_port, MACs, source address, TTL and TCP flags default from the port.
    #[arg(default_value = "")]
    flow: String,
    /// Conntrack state to assume: `new` (a first packet) or `est` (a
    /// packet of an established connection, e.g. a reply).
    #[arg(long, value_enum, default_value = "new")]
    ct_state: Ct,
    /// Print the API's JSON instead of text.
    #[arg(long)]
    json: bool,
    /// API endpoint.
    #[arg(long, env = "OS_ENDPOINT", default_value = "http://127.0.0.1:9696")]
    os_endpoint: String,
    /// Token sent as X-Auth-Token (token auth mode).
    #[arg(long, env = "OS_TOKEN")]
    os_token: Option<String>,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum Ct {
    New,
    Est,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let c = Client::new(&a.os_endpoint, a.os_token.clone());
    let ct = match a.ct_state {
        Ct::New => CtAssume::New,
        Ct::Est => CtAssume::Est,
    };
    let mut body = json!({"flow": a.flow, "ct_state": ct});
    if let Some(f) = &a.from {
        body["from"] = json!(f);
    }
    if let Some(p) = &a.from_physnet {
        body["from_physnet"] = json!(p);
    }
    if let Some(to) = &a.to {
        body["to"] = json!(to);
    }
    let v = c
        .call("POST", "cloudnet/trace", Some(&json!({ "trace": body })))?
        .context("empty answer to the trace")?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    let report: TraceReport =
        serde_json::from_value(v["trace"].clone()).context("decoding the trace")?;
    print!("{}", report.render());
    Ok(())
}
