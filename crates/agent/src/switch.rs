//! The agent's view of the local vswitchd: requests over its control
//! socket (crates/vswitch/PROTOCOL.md) and parsing of what it prints.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use vswitch::{call, Request};

use crate::AgentError;

/// How long one control request may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// One Interface row, as `vsctl list Interface` prints it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Iface {
    pub name: String,
    /// OpenFlow port number; `None` while unassigned (-1).
    pub ofport: Option<u32>,
    pub external_ids: BTreeMap<String, String>,
    /// `other_config` (storm control, see [`crate::protect`]).
    pub other_config: BTreeMap<String, String>,
}

/// What the agent needs from a switch: ovs-vsctl(8) transactions, flow
/// changes and the Interface table. [`SwitchClient`] is the real one; a
/// dry run ([`crate::dryrun::DryRun`]) records flows instead, to simulate
/// many hosts in one process.
pub trait Datapath: Send {
    /// An ovs-vsctl(8) command line (one transaction).
    fn vsctl(&self, args: &[&str]) -> Result<String, AgentError>;
    /// ovs-ofctl add-flows: every flow in one request (one batch).
    fn add_flows(&self, flows: Vec<String>) -> Result<(), AgentError>;
    /// ovs-ofctl del-flows (`--strict` when `strict`).
    fn del_flows(&self, matches: &str, strict: bool) -> Result<(), AgentError>;
    /// Number of flows on the bridge per cookie.
    fn cookie_counts(&self) -> Result<BTreeMap<u64, usize>, AgentError>;
    /// Every Interface row.
    fn interfaces(&self) -> Result<Vec<Iface>, AgentError>;
    /// A number that changes whenever the Interface table does (OVSDB's
    /// transaction sequence, as ovn-controller checks `ovsdb_idl_get_seqno`
    /// before looking at its local tables again), so that a quiet poll
    /// costs no read of the table. `None`: the switch keeps none, read the
    /// rows every time.
    fn iface_generation(&self) -> Option<u64> {
        None
    }
    /// ofproto/trace of a microflow through the bridge's tables.
    fn trace(&self, flow: &str) -> Result<String, AgentError>;
    /// `flush-conntrack zone=Z CT-TUPLE`: delete the tracked connections
    /// of `zone` whose original tuple matches `tuple` (PROTOCOL.md 1.4).
    fn flush_conntrack(&self, zone: u16, tuple: &str) -> Result<(), AgentError>;
    /// ovs-ofctl(8) `packet-out` (PROTOCOL.md 1.5): execute `actions` on
    /// `frame` as if it had arrived on `in_port` (`controller`, a port
    /// number or name). The agent injects router advertisements and
    /// gratuitous ARPs this way. A switch that forwards nothing (a dry run)
    /// ignores it.
    fn packet_out(&self, _in_port: &str, _frame: &[u8], _actions: &str) -> Result<(), AgentError> {
        Ok(())
    }
    /// The control-socket client, when this is a real switch (metrics
    /// read its counters).
    fn client(&self) -> Option<&SwitchClient> {
        None
    }
    /// `dpctl/ct-set-limits default=N`: the connection limit of every
    /// conntrack zone without its own (see [`crate::protect`]). A switch
    /// without conntrack (a dry run) ignores it.
    fn ct_set_default_limit(&self, _limit: u32) -> Result<(), AgentError> {
        Ok(())
    }
}

impl Datapath for SwitchClient {
    fn vsctl(&self, args: &[&str]) -> Result<String, AgentError> {
        SwitchClient::vsctl(self, args)
    }
    fn add_flows(&self, flows: Vec<String>) -> Result<(), AgentError> {
        SwitchClient::add_flows(self, flows)
    }
    fn del_flows(&self, matches: &str, strict: bool) -> Result<(), AgentError> {
        SwitchClient::del_flows(self, matches, strict)
    }
    fn cookie_counts(&self) -> Result<BTreeMap<u64, usize>, AgentError> {
        SwitchClient::cookie_counts(self)
    }
    fn interfaces(&self) -> Result<Vec<Iface>, AgentError> {
        SwitchClient::interfaces(self)
    }
    fn trace(&self, flow: &str) -> Result<String, AgentError> {
        SwitchClient::trace(self, flow)
    }
    fn flush_conntrack(&self, zone: u16, tuple: &str) -> Result<(), AgentError> {
        SwitchClient::flush_conntrack(self, zone, tuple)
    }
    fn client(&self) -> Option<&SwitchClient> {
        Some(self)
    }
    fn packet_out(&self, in_port: &str, frame: &[u8], actions: &str) -> Result<(), AgentError> {
        SwitchClient::packet_out(self, in_port, frame, actions)
    }
    fn ct_set_default_limit(&self, limit: u32) -> Result<(), AgentError> {
        let req = Request::CtSetLimits {
            default: Some(limit),
            zones: Vec::new(),
            max_conns: None,
        };
        self.call(&format!("ct-set-limits default={limit}"), &req)
            .map(|_| ())
    }
}

/// A client of one switch's control socket, for one bridge.
#[derive(Debug, Clone)]
pub struct SwitchClient {
    pub run_dir: PathBuf,
    pub bridge: String,
}

impl SwitchClient {
    pub fn new(run_dir: &Path, bridge: &str) -> SwitchClient {
        SwitchClient {
            run_dir: run_dir.to_owned(),
            bridge: bridge.to_owned(),
        }
    }

    fn call(&self, what: &str, req: &Request) -> Result<String, AgentError> {
        call(&self.run_dir, req, TIMEOUT).map_err(|source| AgentError::Switch {
            what: what.to_owned(),
            source,
        })
    }

    /// An ovs-vsctl(8) command line (one transaction).
    pub fn vsctl(&self, args: &[&str]) -> Result<String, AgentError> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let what = format!("vsctl {}", args.join(" "));
        self.call(&what, &Request::Vsctl { args })
    }

    /// ovs-ofctl add-flows: every flow in one request (one batch).
    pub fn add_flows(&self, flows: Vec<String>) -> Result<(), AgentError> {
        if flows.is_empty() {
            return Ok(());
        }
        let req = Request::AddFlows {
            bridge: self.bridge.clone(),
            flows,
        };
        self.call("add-flows", &req).map(|_| ())
    }

    /// ovs-ofctl del-flows (`--strict` when `strict`).
    pub fn del_flows(&self, matches: &str, strict: bool) -> Result<(), AgentError> {
        let req = Request::DelFlows {
            bridge: self.bridge.clone(),
            matches: Some(matches.to_owned()),
            strict,
        };
        self.call(&format!("del-flows {matches}"), &req).map(|_| ())
    }

    /// Number of flows on the bridge per cookie.
    pub fn cookie_counts(&self) -> Result<BTreeMap<u64, usize>, AgentError> {
        let req = Request::DumpFlows {
            bridge: self.bridge.clone(),
            matches: None,
        };
        Ok(parse_cookie_counts(&self.call("dump-flows", &req)?))
    }

    /// `ofproto/trace` of a microflow on the bridge (the switch's text).
    pub fn trace(&self, flow: &str) -> Result<String, AgentError> {
        let req = Request::Trace {
            bridge: self.bridge.clone(),
            flow: flow.to_owned(),
        };
        self.call(&format!("trace {flow}"), &req)
    }

    /// `flush-conntrack`: the connections of `zone` matching `tuple`.
    pub fn flush_conntrack(&self, zone: u16, tuple: &str) -> Result<(), AgentError> {
        let req = Request::FlushConntrack {
            bridge: Some(self.bridge.clone()),
            zone: Some(zone),
            tuple: Some(tuple.to_owned()),
        };
        self.call(&format!("flush-conntrack zone={zone} {tuple}"), &req)
            .map(|_| ())
    }

    /// ovs-ofctl `packet-out` on the bridge: `actions` on `frame` from
    /// `in_port`.
    pub fn packet_out(&self, in_port: &str, frame: &[u8], actions: &str) -> Result<(), AgentError> {
        use std::fmt::Write as _;
        let mut packet = String::with_capacity(frame.len() * 2);
        for b in frame {
            let _ = write!(packet, "{b:02x}");
        }
        let req = Request::PacketOut {
            bridge: self.bridge.clone(),
            in_port: in_port.to_owned(),
            packet,
            actions: actions.to_owned(),
        };
        self.call(
            &format!("packet-out in_port={in_port} actions={actions}"),
            &req,
        )
        .map(|_| ())
    }

    /// Every Interface row.
    pub fn interfaces(&self) -> Result<Vec<Iface>, AgentError> {
        Ok(parse_interfaces(&self.vsctl(&["list", "Interface"])?))
    }
}

/// Cookies of `dump-flows` output lines (`cookie=0x…, duration=…`).
pub fn parse_cookie_counts(dump: &str) -> BTreeMap<u64, usize> {
    let mut m = BTreeMap::new();
    for line in dump.lines() {
        let Some(rest) = line.trim_start().strip_prefix("cookie=") else {
            continue;
        };
        let v = rest.split([',', ' ']).next().unwrap_or("");
        let n = match v.strip_prefix("0x") {
            Some(h) => u64::from_str_radix(h, 16),
            None => v.parse(),
        };
        if let Ok(c) = n {
            *m.entry(c).or_insert(0) += 1;
        }
    }
    m
}

/// An OVSDB text-format string value: quoted (Rust/JSON escapes) or plain.
fn unquote(v: &str) -> String {
    let v = v.trim();
    if v.starts_with('"') {
        serde_json::from_str(v).unwrap_or_else(|_| v.trim_matches('"').to_owned())
    } else {
        v.to_owned()
    }
}

/// `{k=v, k2="v 2"}` → map.
fn parse_map(v: &str) -> BTreeMap<String, String> {
    let inner = v.trim().trim_start_matches('{').trim_end_matches('}');
    inner
        .split(", ")
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (unquote(k), unquote(v)))
        .collect()
}

/// `vsctl list Interface` output: records separated by blank lines, one
/// `column : value` a line.
pub fn parse_interfaces(out: &str) -> Vec<Iface> {
    let mut v = Vec::new();
    for rec in out.split("\n\n") {
        let mut i = Iface::default();
        for line in rec.lines() {
            let Some((col, val)) = line.split_once(':') else {
                continue;
            };
            match col.trim() {
                "name" => i.name = unquote(val),
                "ofport" => i.ofport = val.trim().parse::<u32>().ok().filter(|&p| p > 0),
                "external_ids" => i.external_ids = parse_map(val),
                "other_config" => i.other_config = parse_map(val),
                _ => {}
            }
        }
        if !i.name.is_empty() {
            v.push(i);
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interfaces_and_cookies_parse() {
        let out = "name                : tapabc\nofport              : 3\nexternal_ids        : {attached-mac=\"fa:16:3e:00:00:01\", iface-id=\"4f1c-aa\"}\n\nname                : br-int\nofport              : -1\nexternal_ids        : {}\n";
        let v = parse_interfaces(out);
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].ofport, Some(3));
        assert_eq!(v[0].external_ids["iface-id"], "4f1c-aa");
        assert_eq!(v[0].external_ids["attached-mac"], "fa:16:3e:00:00:01");
        assert_eq!(v[1].ofport, None);
        assert!(v[1].external_ids.is_empty());
        let d = " cookie=0x300000000000002a, duration=1.0s, table=0, n_packets=0\n cookie=0x0, duration=2s, table=0\n cookie=0x300000000000002a, duration=1s\n";
        let c = parse_cookie_counts(d);
        assert_eq!(c[&0x3000_0000_0000_002a], 2);
        assert_eq!(c[&0], 1);
    }
}
