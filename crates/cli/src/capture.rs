//! `cloudnet capture`: frames seen at a switch port, in both directions,
//! streamed from the switch over its control socket (the `capture` method,
//! crates/vswitch/PROTOCOL.md 1.3) and written as pcap (libpcap format,
//! Ethernet link type, nanosecond timestamps) or printed one line a frame.
//! TSO/GSO super-frames (up to 64 KiB) are written as the port saw them,
//! not segmented.

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::{DataLink, TsResolution};
use vswitch::capture::{Event, Stream, WireFrame};

use crate::resources::client::Client;
use crate::vsctl::Conn;

/// Largest frame a capture can carry (a TSO/GSO super-frame and headers).
const SNAPLEN: u32 = 262_144;

/// Arguments of `cloudnet capture`.
#[derive(clap::Args)]
pub struct Args {
    /// A switch port (interface name, e.g. `tap4f1c0e6a-11`), or a Neutron
    /// port ID or name bound on this host (found through the Interface's
    /// `external_ids:iface-id`, names through the API). The switch of
    /// `cloudnet serve` has its run dir in DATA_DIR/run: pass
    /// `--run-dir /var/lib/cloudnet/run` (or CLOUDNET_RUN_DIR).
    port: String,
    /// An ovs-ofctl match (ovs-fields(7)) such as `tcp,tp_dst=80`, `arp` or
    /// `icmp,nw_src=10.0.0.0/24`. It is parsed and evaluated inside the
    /// switch, so only matching frames leave it.
    filter: Option<String>,
    /// Write frames to this pcap file (tcpdump -r, Wireshark) instead of
    /// printing a line per frame. TSO/GSO super-frames are kept whole.
    #[arg(short = 'w', long = "write", value_name = "FILE")]
    write: Option<PathBuf>,
    /// Stop after this many frames.
    #[arg(short = 'c', long = "count")]
    count: Option<u64>,
    /// Stop after this many seconds.
    #[arg(long, value_name = "SECONDS")]
    duration: Option<f64>,
    /// Frames the switch buffers for this capture before it drops (and
    /// counts) more.
    #[arg(long)]
    queue: Option<usize>,
    /// API endpoint, to resolve a Neutron port name.
    #[arg(long, env = "OS_ENDPOINT", default_value = "http://127.0.0.1:9696")]
    os_endpoint: String,
    /// Token for the API (token auth mode).
    #[arg(long, env = "OS_TOKEN")]
    os_token: Option<String>,
    #[command(flatten)]
    conn: Conn,
}

/// The switch interface for `port`: an interface name, an `iface-id`, or a
/// port name the API resolves to one.
fn resolve(a: &Args) -> anyhow::Result<String> {
    let out = a
        .conn
        .call(&vswitch::Request::Vsctl {
            args: vec!["list".into(), "Interface".into()],
        })
        .context("listing the switch's interfaces")?;
    let ifaces = agent::switch::parse_interfaces(&out);
    let by_id = |id: &str| {
        ifaces
            .iter()
            .find(|i| i.external_ids.get("iface-id").map(String::as_str) == Some(id))
            .map(|i| i.name.clone())
    };
    if ifaces.iter().any(|i| i.name == a.port) {
        return Ok(a.port.clone());
    }
    if let Some(n) = by_id(&a.port) {
        return Ok(n);
    }
    let client = Client::new(&a.os_endpoint, a.os_token.clone());
    let id = client
        .find("ports", "ports", "port", &a.port)
        .with_context(|| format!("{:?} is no switch port; asking the API", a.port))?;
    by_id(&id).with_context(|| format!("port {id} is not bound on this switch"))
}

/// Where frames go.
enum Sink {
    /// Unbuffered: every frame is in the file once written, so an
    /// interrupted capture leaves a readable file.
    Pcap(PcapWriter<File>),
    Text(std::io::Stdout),
}

impl Sink {
    fn frame(&mut self, f: &WireFrame, data: &[u8]) -> anyhow::Result<()> {
        match self {
            Sink::Pcap(w) => {
                let ts = Duration::from_nanos(f.time_ns);
                let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
                let snap = &data[..data.len().min(SNAPLEN as usize)];
                w.write_packet(&PcapPacket::new(ts, len, snap))
                    .context("writing pcap")?;
            }
            Sink::Text(o) => {
                let _ = writeln!(o, "{}", crate::capture_fmt::line(f.time_ns, &f.dir, data));
            }
        }
        Ok(())
    }
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let iface = resolve(&a)?;
    let mut sink = match &a.write {
        Some(p) => {
            let f = File::create(p).with_context(|| format!("creating {}", p.display()))?;
            let header = PcapHeader {
                datalink: DataLink::ETHERNET,
                ts_resolution: TsResolution::NanoSecond,
                snaplen: SNAPLEN,
                ..PcapHeader::default()
            };
            Sink::Pcap(PcapWriter::with_header(f, header).context("pcap header")?)
        }
        None => Sink::Text(std::io::stdout()),
    };
    let mut s = Stream::open(&a.conn.run_dir, &iface, a.filter.clone(), a.queue)
        .with_context(|| format!("capturing on {iface}"))?;
    eprintln!(
        "capturing on {iface}{}",
        a.filter
            .as_deref()
            .map(|f| format!(", filter {f}"))
            .unwrap_or_default()
    );
    let deadline = a
        .duration
        .map(|d| {
            if d.is_finite() && d >= 0.0 {
                Ok(Instant::now() + Duration::from_secs_f64(d))
            } else {
                bail!("--duration {d}: expected a non-negative number of seconds")
            }
        })
        .transpose()?;
    // Ctrl-C ends the capture with its summary (events arrive at least
    // every 250 ms, so the flag is seen quickly).
    let interrupted = Arc::new(AtomicBool::new(false));
    let flag = interrupted.clone();
    ctrlc::set_handler(move || flag.store(true, Ordering::Relaxed))
        .context("installing the Ctrl-C handler")?;
    let mut n = 0u64;
    while a.count.is_none_or(|c| n < c)
        && deadline.is_none_or(|d| Instant::now() < d)
        && !interrupted.load(Ordering::Relaxed)
    {
        match s.next_event()? {
            Event::Frame(f) => {
                let data = f.bytes()?;
                sink.frame(&f, &data)?;
                n += 1;
            }
            Event::Status { .. } => {}
        }
    }
    eprintln!("{n} frames captured");
    if s.dropped > 0 {
        eprintln!("{} frames dropped by capture", s.dropped);
    }
    Ok(())
}
