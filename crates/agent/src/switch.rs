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
    /// ovs-ofctl add-flows: every flow in one request (one atomic batch),
    /// unless they exceed what one request may carry (see
    /// [`SwitchClient::add_flows`]).
    fn add_flows(&self, flows: Vec<String>) -> Result<(), AgentError>;
    /// ovs-ofctl del-flows (`--strict` when `strict`).
    fn del_flows(&self, matches: &str, strict: bool) -> Result<(), AgentError>;
    /// A flow delta: the strict deletes (`del-flows --strict` matches),
    /// then the adds. By default one request each for the deletes and one
    /// `add-flows`; a switch that takes the whole delta as one transaction
    /// ([`SwitchClient`], protocol 1.7 `flow-mods`) overrides it.
    fn apply_flows(&self, delete_strict: Vec<String>, add: Vec<String>) -> Result<(), AgentError> {
        for m in &delete_strict {
            self.del_flows(m, true)?;
        }
        self.add_flows(add)
    }
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
    fn apply_flows(&self, delete_strict: Vec<String>, add: Vec<String>) -> Result<(), AgentError> {
        SwitchClient::apply_flows(self, delete_strict, add)
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

    /// ovs-ofctl add-flows: every flow in one request (one atomic batch)
    /// when that request fits the protocol's line limit
    /// ([`vswitch::proto::MAX_LINE`]), as every delta does; a larger set
    /// (the full install of a host with hundreds of thousands of flows,
    /// over 100 MiB of text) goes in several batches, each atomic, that
    /// the switch would otherwise refuse as one line.
    pub fn add_flows(&self, flows: Vec<String>) -> Result<(), AgentError> {
        for flows in batches(flows, ADD_FLOWS_BUDGET) {
            let req = Request::AddFlows {
                bridge: self.bridge.clone(),
                flows,
            };
            self.call("add-flows", &req)?;
        }
        Ok(())
    }

    /// A flow delta in one `flow-mods` request: the strict deletes, then
    /// the adds, as one transaction of the switch's tables (one round trip
    /// where a request per deleted flow cost ~0.2 ms each, and no packet
    /// sees the deletes without the adds). A delta too large for one
    /// request line goes as the deletes, then batched `add-flows`.
    pub fn apply_flows(
        &self,
        delete_strict: Vec<String>,
        add: Vec<String>,
    ) -> Result<(), AgentError> {
        let size: usize = (delete_strict.iter().chain(&add))
            .map(|f| encoded_bound(f))
            .sum();
        if size > ADD_FLOWS_BUDGET {
            for m in &delete_strict {
                self.del_flows(m, true)?;
            }
            return self.add_flows(add);
        }
        if delete_strict.is_empty() && add.is_empty() {
            return Ok(());
        }
        let req = Request::FlowMods {
            bridge: self.bridge.clone(),
            delete_strict,
            add,
        };
        self.call("flow-mods", &req).map(|_| ())
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

/// The encoded size an `add-flows` request's flows may take: the line
/// limit less room for the envelope and bridge name.
const ADD_FLOWS_BUDGET: usize = vswitch::proto::MAX_LINE - 4096;

/// The most a flow adds to a request line as a JSON string: every byte
/// escaped to two (a quote or backslash; flow text has no control
/// characters, and one that had would be at most six, see the check), the
/// quotes and a comma.
fn encoded_bound(flow: &str) -> usize {
    let controls = flow.bytes().filter(|b| *b < 0x20).count();
    2 * flow.len() + 4 * controls + 3
}

/// `flows` in order, cut into batches whose encoding stays within
/// `budget` bytes (a flow alone over it still goes, alone). Empty input
/// gives no batch.
pub fn batches(flows: Vec<String>, budget: usize) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = Vec::new();
    let mut size = 0;
    for f in flows {
        let n = encoded_bound(&f);
        match out.last_mut() {
            Some(b) if size + n <= budget => {
                b.push(f);
                size += n;
            }
            _ => {
                out.push(vec![f]);
                size = n;
            }
        }
    }
    out
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
    fn large_flow_sets_are_cut_into_requests_the_switch_accepts() {
        let flows: Vec<String> = (0..1000)
            .map(|i| format!("priority={i},actions=drop"))
            .collect();
        let b = batches(flows.clone(), 1000);
        assert!(b.len() > 1);
        assert_eq!(b.concat(), flows, "every flow, in order");
        for batch in &b {
            let json = serde_json::to_string(batch).unwrap();
            assert!(json.len() <= 1000, "{} bytes", json.len());
        }
        assert_eq!(batches(flows.clone(), usize::MAX), vec![flows]);
        assert!(batches(Vec::new(), 1000).is_empty());
        let long = "x".repeat(2000);
        assert_eq!(batches(vec![long.clone()], 1000), vec![vec![long]]);
    }

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
