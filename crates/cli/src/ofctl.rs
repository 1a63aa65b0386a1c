//! `cloudnet ofctl`: OpenFlow tables in ovs-ofctl(8) syntax.
//!
//! Offline subcommands (`parse-flow`, `trace --flows FILE`) work on text
//! alone; the online ones talk to a running switch through its control
//! socket under `--run-dir` (filled in by the switch).

use anyhow::Context;
use clap::Subcommand;
use std::path::PathBuf;

/// Arguments of `cloudnet ofctl`.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub cmd: Cmd,
}

/// `ofctl` subcommands.
#[derive(Subcommand)]
pub enum Cmd {
    /// Parse a flow and print it normalized, as `ovs-ofctl parse-flow` does
    /// (warnings, e.g. fields dropped for missing prerequisites, go to stderr).
    ParseFlow {
        /// The flow, e.g. "priority=1,in_port=1 actions=resubmit(,1)".
        flow: String,
    },
    /// Trace packets through flows read from a file, like
    /// `ovs-appctl ofproto/trace`. Flows learned by one packet are installed
    /// before the next packet is traced.
    ///
    /// Without `--flows`, `trace BRIDGE FLOW` walks the tables of a running
    /// switch (ofproto/trace).
    Trace {
        /// File with one add-flow argument per line ('#' starts a comment).
        #[arg(long)]
        flows: Option<PathBuf>,
        /// Packets as flow strings, e.g. "in_port=1,dl_vlan=1,dl_src=...,dl_dst=...";
        /// online: BRIDGE FLOW.
        #[arg(required = true)]
        packets: Vec<String>,
        #[command(flatten)]
        online: Online,
    },
    /// Ports of a running switch's bridge (numbers and names).
    Show {
        bridge: String,
        #[command(flatten)]
        online: Online,
    },
    /// Port counters of a running switch's bridge.
    DumpPorts {
        bridge: String,
        port: Option<String>,
        #[command(flatten)]
        online: Online,
    },
    /// Table statistics and drop counters of a running switch's bridge.
    DumpTables {
        bridge: String,
        #[command(flatten)]
        online: Online,
    },
    /// Map Geneve options to `tun_metadataN` fields, as `ovs-ofctl
    /// add-tlv-map`: "{class=0xffff,type=0,len=4}->tun_metadata0[,...]".
    AddTlvMap {
        bridge: String,
        map: String,
        #[command(flatten)]
        online: Online,
    },
    /// Remove the given mappings, or all of them (`ovs-ofctl del-tlv-map`).
    DelTlvMap {
        bridge: String,
        map: Option<String>,
        #[command(flatten)]
        online: Online,
    },
    /// Print the bridge's Geneve option mappings (`ovs-ofctl dump-tlv-map`).
    DumpTlvMap {
        bridge: String,
        #[command(flatten)]
        online: Online,
    },
    /// Add a flow to a running switch.
    AddFlow {
        bridge: String,
        flow: String,
        #[command(flatten)]
        online: Online,
    },
    /// Add flows from a file (one per line) to a running switch.
    AddFlows {
        bridge: String,
        file: PathBuf,
        #[command(flatten)]
        online: Online,
    },
    /// Modify the actions of matching flows.
    ModFlows {
        bridge: String,
        flow: String,
        #[arg(long)]
        strict: bool,
        #[command(flatten)]
        online: Online,
    },
    /// Delete matching flows (all flows without a filter).
    DelFlows {
        bridge: String,
        flow: Option<String>,
        #[arg(long)]
        strict: bool,
        #[command(flatten)]
        online: Online,
    },
    /// Print the flows of a running switch.
    DumpFlows {
        bridge: String,
        flow: Option<String>,
        #[arg(long)]
        no_stats: bool,
        #[command(flatten)]
        online: Online,
    },
    /// Inject frames, as `ovs-ofctl packet-out`: `BRIDGE "in_port=PORT
    /// packet=HEX actions=ACTIONS"` or the older `BRIDGE IN_PORT ACTIONS
    /// PACKET...`. PORT is `controller` (the default), `local`, `none`, a
    /// number or an interface; the actions run as a flow's
    /// (`resubmit(,T)`, `output:N`, `normal`).
    PacketOut {
        bridge: String,
        #[arg(required = true, num_args = 1..)]
        args: Vec<String>,
        #[command(flatten)]
        online: Online,
    },
    /// Connections of the switch's tracker, as `ovs-dpctl dump-conntrack`:
    /// `[BRIDGE] [zone=N]`.
    DumpConntrack {
        args: Vec<String>,
        #[command(flatten)]
        online: Online,
    },
    /// Delete tracked connections, as `ovs-appctl dpctl/flush-conntrack`:
    /// `[BRIDGE] [zone=N] [CT-TUPLE]`, the tuple being original-direction
    /// fields `ct_nw_src=A[/P],ct_nw_dst=…,ct_nw_proto=N,ct_tp_src=…,ct_tp_dst=…`
    /// (missing ones match anything).
    FlushConntrack {
        args: Vec<String>,
        #[command(flatten)]
        online: Online,
    },
    /// Conntrack counters: connections and limit per zone, refusals.
    CtStats {
        #[command(flatten)]
        online: Online,
    },
    /// Connection limits, as `ovs-appctl dpctl/ct-set-limits`:
    /// `[default=N] [zone=N,limit=M]... [maxconns=N]` (0: unlimited; a zone
    /// set to 0 goes back to the default).
    CtSetLimits {
        args: Vec<String>,
        #[command(flatten)]
        online: Online,
    },
}

/// Options of subcommands that need a running switch.
#[derive(clap::Args)]
pub struct Online {
    /// The switch's run directory (control socket).
    #[arg(long, env = "CLOUDNET_RUN_DIR")]
    pub run_dir: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    match args.cmd {
        Cmd::ParseFlow { flow } => {
            let p = flow::parse_flow(&flow)?;
            for w in &p.warnings {
                eprintln!("warning: {w}");
            }
            println!("{}", flow::format_flow(&p.flow, None).trim_start());
            Ok(())
        }
        Cmd::Trace {
            flows: Some(flows),
            packets,
            ..
        } => trace(&flows, &packets),
        Cmd::Trace {
            flows: None,
            packets,
            online,
        } => {
            let [bridge, flow] = <[String; 2]>::try_from(packets).map_err(|_| {
                anyhow::anyhow!("online trace takes BRIDGE FLOW (or use --flows FILE)")
            })?;
            online.call(vswitch::Request::Trace { bridge, flow })
        }
        Cmd::AddFlow {
            bridge,
            flow,
            online,
        } => online.call(vswitch::Request::AddFlows {
            bridge,
            flows: vec![flow],
        }),
        Cmd::AddFlows {
            bridge,
            file,
            online,
        } => {
            let text = if file.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin()).context("reading stdin")?
            } else {
                std::fs::read_to_string(&file)
                    .with_context(|| format!("reading {}", file.display()))?
            };
            let flows = text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(|l| l.trim_matches('"').to_owned())
                .collect();
            online.call(vswitch::Request::AddFlows { bridge, flows })
        }
        Cmd::ModFlows {
            bridge,
            flow,
            strict,
            online,
        } => online.call(vswitch::Request::ModFlows {
            bridge,
            flow,
            strict,
        }),
        Cmd::DelFlows {
            bridge,
            flow,
            strict,
            online,
        } => online.call(vswitch::Request::DelFlows {
            bridge,
            matches: flow,
            strict,
        }),
        Cmd::DumpFlows {
            bridge,
            flow,
            no_stats,
            online,
        } => {
            let out = online.request(vswitch::Request::DumpFlows {
                bridge,
                matches: flow,
            })?;
            for line in out.lines() {
                // Without stats, print what follows the counters, as
                // `ovs-ofctl --no-stats dump-flows` does.
                match line
                    .split_once("n_bytes=")
                    .and_then(|(_, r)| r.split_once(", "))
                {
                    Some((_, rest)) if no_stats => println!(" {rest}"),
                    _ => println!("{line}"),
                }
            }
            Ok(())
        }
        Cmd::Show { bridge, online } => online.call(vswitch::Request::Show { bridge }),
        Cmd::DumpPorts {
            bridge,
            port,
            online,
        } => online.call(vswitch::Request::DumpPorts { bridge, port }),
        Cmd::DumpTables { bridge, online } => online.call(vswitch::Request::DumpTables { bridge }),
        Cmd::AddTlvMap {
            bridge,
            map,
            online,
        } => online.call(vswitch::Request::AddTlvMap { bridge, map }),
        Cmd::DelTlvMap {
            bridge,
            map,
            online,
        } => online.call(vswitch::Request::DelTlvMap { bridge, map }),
        Cmd::DumpTlvMap { bridge, online } => online.call(vswitch::Request::DumpTlvMap { bridge }),
        Cmd::DumpConntrack { args, online } => {
            let (bridge, zone) = crate::ofctl_ct::bridge_zone(&args)?;
            online.call(vswitch::Request::DumpConntrack { bridge, zone })
        }
        Cmd::FlushConntrack { args, online } => online.call(crate::ofctl_ct::flush(&args)?),
        Cmd::PacketOut {
            bridge,
            args,
            online,
        } => {
            for spec in vswitch::packet_out::parse_args(&args)? {
                online.call(vswitch::Request::PacketOut {
                    bridge: bridge.clone(),
                    in_port: spec.in_port,
                    packet: spec.packet,
                    actions: spec.actions,
                })?;
            }
            Ok(())
        }
        Cmd::CtStats { online } => online.call(vswitch::Request::CtStats),
        Cmd::CtSetLimits { args, online } => online.call(crate::ofctl_ct::set_limits(&args)?),
    }
}

impl Online {
    fn request(&self, req: vswitch::Request) -> anyhow::Result<String> {
        let dir = self
            .run_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(vswitch::daemon::DEFAULT_RUN_DIR));
        Ok(vswitch::call(
            &dir,
            &req,
            std::time::Duration::from_secs(10),
        )?)
    }

    fn call(&self, req: vswitch::Request) -> anyhow::Result<()> {
        print!("{}", self.request(req)?);
        Ok(())
    }
}

/// Reads a flows file: one add-flow argument per line, blank lines and
/// `#` comments skipped. Errors name the line.
pub fn read_flows_file(path: &std::path::Path) -> anyhow::Result<Vec<flow::FlowMod>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.trim_matches('"');
        let p = flow::parse_flow(line).with_context(|| format!("{}:{}", path.display(), n + 1))?;
        for w in &p.warnings {
            eprintln!("warning: {}:{}: {w}", path.display(), n + 1);
        }
        out.push(p.flow);
    }
    Ok(out)
}

fn trace(path: &std::path::Path, packets: &[String]) -> anyhow::Result<()> {
    let tables = flow::FlowTables::new();
    let now = std::time::Duration::ZERO;
    let ops = read_flows_file(path)?
        .into_iter()
        .map(flow::FlowOp::Add)
        .collect();
    tables.transaction(ops, now)?;
    for (i, p) in packets.iter().enumerate() {
        let pkt = flow::parse_packet(p).with_context(|| format!("packet {p:?}"))?;
        let report = flow::trace(&tables, &pkt);
        if i > 0 {
            println!();
        }
        print!("{}", report.render());
        tables.apply_learned(&report.xlate.learns, now);
    }
    Ok(())
}
