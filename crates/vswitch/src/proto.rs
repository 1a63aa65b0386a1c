//! The control-socket protocol (see PROTOCOL.md beside Cargo.toml): one
//! JSON object per line each way over the unix socket `RUN_DIR/vswitchd.sock`.
//! Every message carries `"version"`; a request in another version gets an
//! error reply naming both versions.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::ProtoError;

/// Protocol version spoken by this build.
pub const VERSION: u32 = 1;

/// Name of the control socket inside the run directory.
pub const SOCKET_NAME: &str = "vswitchd.sock";

/// Longest request line the daemon accepts (bytes); longer is an error.
pub const MAX_LINE: usize = 16 << 20;

/// A request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "method", content = "params", rename_all = "kebab-case")]
pub enum Request {
    /// The daemon's protocol version and pid.
    Version,
    /// A vsctl command line (everything after the global options).
    Vsctl {
        /// The arguments, `--` separators included.
        args: Vec<String>,
    },
    /// ovs-ofctl `add-flow`/`add-flows`: flows in ovs-ofctl text.
    AddFlows {
        /// Bridge name.
        bridge: String,
        /// One flow per entry.
        flows: Vec<String>,
    },
    /// Strict deletes, then adds, as one transaction of the tables (1.7):
    /// a controller's flow delta in one request, applied atomically,
    /// rather than one `del-flows --strict` round trip per deleted flow.
    FlowMods {
        /// Bridge name.
        bridge: String,
        /// `del-flows --strict` matches (table, priority and match).
        delete_strict: Vec<String>,
        /// Flows to add (or replace, same match and priority).
        add: Vec<String>,
    },
    /// ovs-ofctl `mod-flows`: replace the actions of matching flows.
    ModFlows {
        /// Bridge name.
        bridge: String,
        /// Match and `actions=`.
        flow: String,
        /// Exact match (`--strict`).
        strict: bool,
    },
    /// ovs-ofctl `del-flows`: delete flows that match (all when `None`).
    DelFlows {
        /// Bridge name.
        bridge: String,
        /// Match text.
        #[serde(rename = "match")]
        matches: Option<String>,
        /// Exact match, priority included (`--strict`).
        strict: bool,
    },
    /// ovs-ofctl `dump-flows`.
    DumpFlows {
        /// Bridge name.
        bridge: String,
        /// Only flows that this match covers.
        #[serde(rename = "match")]
        matches: Option<String>,
    },
    /// ovs-ofctl `show`.
    Show {
        /// Bridge name.
        bridge: String,
    },
    /// ovs-ofctl `dump-ports`.
    DumpPorts {
        /// Bridge name.
        bridge: String,
        /// A port name or number; all when `None`.
        port: Option<String>,
    },
    /// ovs-ofctl `dump-tables`.
    DumpTables {
        /// Bridge name.
        bridge: String,
    },
    /// `ofproto/trace`: walk a flow through the bridge's tables.
    Trace {
        /// Bridge name.
        bridge: String,
        /// The flow, in ovs-ofctl match syntax (`in_port=1,dl_dst=...`).
        flow: String,
    },
    /// `dpctl/dump-conntrack`: connections, optionally of one zone.
    DumpConntrack {
        /// A bridge to check exists (the table is the datapath's).
        #[serde(default)]
        bridge: Option<String>,
        /// Only this zone.
        #[serde(default)]
        zone: Option<u16>,
    },
    /// `dpctl/flush-conntrack`: delete connections, optionally of a zone
    /// and (revision 1.4) of original-tuple fields.
    FlushConntrack {
        /// A bridge to check exists.
        #[serde(default)]
        bridge: Option<String>,
        /// Only this zone.
        #[serde(default)]
        zone: Option<u16>,
        /// Only connections whose original tuple matches this ct-tuple
        /// (`ct_nw_src=…,ct_nw_dst=…,ct_nw_proto=…,ct_tp_src=…,ct_tp_dst=…`,
        /// missing fields are wildcards, see [`conntrack::CtFilter`]);
        /// added in revision 1.4.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tuple: Option<String>,
    },
    /// Conntrack counters: connections per zone, limits, refusals.
    CtStats,
    /// `dpctl/ct-set-limits`: the default zone limit and per-zone limits
    /// (0 is unlimited, as in OVS), and the tracker-wide maximum.
    CtSetLimits {
        /// Limit of zones without their own.
        #[serde(default)]
        default: Option<u32>,
        /// Per-zone limits.
        #[serde(default)]
        zones: Vec<ZoneLimit>,
        /// Tracker-wide maximum (`dpctl/ct-set-maxconns`).
        #[serde(default)]
        max_conns: Option<u32>,
    },
    /// `cloudnet tc`: a tc(8) command line applied to a switch port (see
    /// [`crate::tc`]); added in protocol revision 1.2.
    Tc {
        /// Everything after `tc` (`-s class show dev P`, `qdisc add ...`).
        args: Vec<String>,
    },
    /// Every counter a metrics exporter reads, as one JSON document
    /// ([`crate::stats_report::StatsReport`]); added in revision 1.3.
    Stats,
    /// Stream the frames seen at a port (revision 1.3): after the `ok`
    /// reply the connection carries [`crate::capture::Event`] lines until
    /// the client closes it (see [`crate::capture`]).
    Capture {
        /// Interface name.
        port: String,
        /// An ovs-ofctl match (`tcp,tp_dst=80`); only matching frames are
        /// sent. All frames when `None`.
        #[serde(default)]
        filter: Option<String>,
        /// Frames buffered for a slow reader before more are dropped
        /// (default [`crate::capture::DEFAULT_QUEUE`]).
        #[serde(default)]
        queue: Option<usize>,
    },
    /// ovs-ofctl `add-tlv-map`: Geneve option → `tun_metadataN` mappings
    /// (see [`crate::tlv`]).
    AddTlvMap {
        /// Bridge name.
        bridge: String,
        /// `{class=C,type=T,len=L}->tun_metadataN[,...]`.
        map: String,
    },
    /// ovs-ofctl `del-tlv-map`: the given mappings, all when `None`.
    DelTlvMap {
        /// Bridge name.
        bridge: String,
        /// Mappings to delete.
        #[serde(default)]
        map: Option<String>,
    },
    /// ovs-ofctl `dump-tlv-map`.
    DumpTlvMap {
        /// Bridge name.
        bridge: String,
    },
    /// ovs-ofctl(8) `packet-out` (revision 1.6): execute `actions` on the
    /// frame `packet` as if it had arrived on `in_port` (see
    /// [`crate::packet_out`]).
    PacketOut {
        /// Bridge name.
        bridge: String,
        /// `controller`, `local`, `none`, a port number or an interface.
        in_port: String,
        /// The Ethernet frame as hex digits.
        packet: String,
        /// OpenFlow actions (ovs-actions(7)), executed as a flow's.
        actions: String,
    },
    /// Stop the daemon (ovs-appctl `exit`).
    Exit,
}

/// One `zone=N,limit=M` of `ct-set-limits`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZoneLimit {
    /// Zone.
    pub zone: u16,
    /// Most connections; 0 is unlimited.
    pub limit: u32,
}

/// A reply.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Reply {
    /// Success, with the text the command prints.
    Ok {
        /// Output text (may be empty).
        output: String,
    },
    /// Failure, with a message naming what is wrong.
    Error {
        /// The message.
        message: String,
    },
}

/// What travels on the wire: the version beside the body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope<T> {
    /// Protocol version.
    pub version: u32,
    /// Request or reply.
    #[serde(flatten)]
    pub body: T,
}

/// Decode one request line: version first, so that a newer client gets a
/// version error rather than a confusing parse error.
pub fn decode_request(line: &str) -> Result<Request, ProtoError> {
    #[derive(Deserialize)]
    struct V {
        version: Option<u32>,
    }
    let v: V = serde_json::from_str(line).map_err(|e| ProtoError::Malformed(e.to_string()))?;
    match v.version {
        Some(VERSION) => {}
        Some(got) => return Err(ProtoError::Version { got, want: VERSION }),
        None => return Err(ProtoError::Malformed("missing field `version`".into())),
    }
    let env: Envelope<Request> =
        serde_json::from_str(line).map_err(|e| ProtoError::Malformed(e.to_string()))?;
    Ok(env.body)
}

/// Encode a reply as one line (without the newline).
pub fn encode_reply(r: &Reply) -> String {
    serde_json::to_string(&Envelope {
        version: VERSION,
        body: r,
    })
    .unwrap_or_else(|_| "{\"version\":1,\"error\":{\"message\":\"encode\"}}".to_owned())
}

/// Path of the control socket in `run_dir`.
pub fn socket_path(run_dir: &Path) -> PathBuf {
    run_dir.join(SOCKET_NAME)
}

/// Send one request to the daemon whose run directory is `run_dir` and wait
/// for its reply (`timeout` bounds each read and write).
pub fn call(run_dir: &Path, req: &Request, timeout: Duration) -> Result<String, ProtoError> {
    let path = socket_path(run_dir);
    let io = |source| ProtoError::Io {
        path: path.display().to_string(),
        source,
    };
    let mut s = UnixStream::connect(&path).map_err(io)?;
    s.set_read_timeout(Some(timeout)).map_err(io)?;
    s.set_write_timeout(Some(timeout)).map_err(io)?;
    let mut line = serde_json::to_string(&Envelope {
        version: VERSION,
        body: req,
    })
    .map_err(|e| ProtoError::Malformed(e.to_string()))?;
    line.push('\n');
    s.write_all(line.as_bytes()).map_err(io)?;
    let mut r = BufReader::new(s);
    let mut resp = String::new();
    r.read_line(&mut resp).map_err(io)?;
    if resp.is_empty() {
        return Err(ProtoError::Malformed("daemon closed the connection".into()));
    }
    let env: Envelope<Reply> =
        serde_json::from_str(&resp).map_err(|e| ProtoError::Malformed(e.to_string()))?;
    if env.version != VERSION {
        return Err(ProtoError::Version {
            got: env.version,
            want: VERSION,
        });
    }
    match env.body {
        Reply::Ok { output } => Ok(output),
        Reply::Error { message } => Err(ProtoError::Remote(message)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_format_is_stable() {
        let r = Request::DelFlows {
            bridge: "br0".into(),
            matches: Some("in_port=1".into()),
            strict: false,
        };
        let s = serde_json::to_string(&Envelope {
            version: VERSION,
            body: &r,
        })
        .unwrap();
        assert_eq!(
            s,
            r#"{"version":1,"method":"del-flows","params":{"bridge":"br0","match":"in_port=1","strict":false}}"#
        );
        assert_eq!(decode_request(&s).unwrap(), r);
        assert_eq!(
            encode_reply(&Reply::Ok { output: "x".into() }),
            r#"{"version":1,"ok":{"output":"x"}}"#
        );
    }

    #[test]
    fn tlv_map_methods_have_ovs_names() {
        let r = decode_request(
            r#"{"version":1,"method":"add-tlv-map","params":{"bridge":"br0","map":"{class=0xffff,type=0,len=4}->tun_metadata0"}}"#,
        )
        .unwrap();
        assert!(matches!(r, Request::AddTlvMap { ref map, .. } if map.ends_with("tun_metadata0")));
        let r = decode_request(r#"{"version":1,"method":"del-tlv-map","params":{"bridge":"br0"}}"#)
            .unwrap();
        assert_eq!(
            r,
            Request::DelTlvMap {
                bridge: "br0".into(),
                map: None
            }
        );
        let r =
            decode_request(r#"{"version":1,"method":"dump-tlv-map","params":{"bridge":"br0"}}"#)
                .unwrap();
        assert_eq!(
            r,
            Request::DumpTlvMap {
                bridge: "br0".into()
            }
        );
    }

    #[test]
    fn bad_requests_are_named() {
        let e = decode_request(r#"{"version":2,"method":"version"}"#).unwrap_err();
        assert!(e.to_string().contains("version 2"), "{e}");
        let e = decode_request(r#"{"version":1,"method":"frobnicate"}"#).unwrap_err();
        assert!(e.to_string().contains("frobnicate"), "{e}");
        assert!(decode_request("not json").is_err());
        assert!(decode_request(r#"{"method":"version"}"#).is_err());
        let e = decode_request(r#"{"version":1,"method":"show","params":{}}"#).unwrap_err();
        assert!(e.to_string().contains("bridge"), "{e}");
    }
}
