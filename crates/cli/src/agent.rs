//! `cloudnet agent`: one host of a multi-host cloud — the switch daemon in
//! this process (run dir `DATA_DIR/run` unless given) and the agent that
//! registers the host's chassis, claims the ports plugged here and keeps
//! br-int's flows and tunnels in step with the shared store (what
//! ovn-controller does on each OVN chassis).

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

/// Arguments of `cloudnet agent`.
#[derive(clap::Args)]
pub struct Args {
    /// The shared intent store: `etcd://HOST:PORT[,…][/PREFIX]`, or a redb
    /// file path (usable by one process only).
    #[arg(long)]
    store: String,
    /// Serve Prometheus `/metrics` (compile and apply timings, the switch's
    /// port, drop, conntrack and flow figures) on this address.
    #[arg(long)]
    metrics_addr: Option<std::net::SocketAddr>,
    /// Answer traces (`POST /v1/trace`, for `cloudnet api`) on this
    /// address; advertised in the chassis record (`0.0.0.0:PORT` is
    /// advertised as the underlay IP). Off loopback it needs
    /// `--trace-secret-file`.
    #[arg(long)]
    trace_addr: Option<std::net::SocketAddr>,
    /// The secret API servers must send to the trace endpoint (the file
    /// `cloudnet api --agent-secret-file` reads).
    #[arg(long, requires = "trace_addr")]
    trace_secret_file: Option<PathBuf>,
    /// This host's chassis name (unique among hosts).
    #[arg(long)]
    host: String,
    /// This host's underlay address: the outer source and destination of
    /// tunnelled packets.
    #[arg(long)]
    underlay_ip: Ipv4Addr,
    /// Encapsulations this host terminates, comma separated.
    #[arg(long, default_value = "vxlan,geneve,gre")]
    encap: String,
    /// The switch's run dir; default `DATA_DIR/run`.
    #[arg(long)]
    run_dir: Option<PathBuf>,
    /// Where the agent keeps its compiler keys.
    #[arg(long, default_value = "/var/lib/cloudnet")]
    data_dir: PathBuf,
    /// Uplinks of physical networks, `PHYSNET:INTERFACE` comma separated
    /// (like ovn-bridge-mappings); a host with the external network's
    /// mapping can be its routers' gateway chassis.
    #[arg(long, default_value = "")]
    bridge_mapping: String,
    /// Lifetime of the chassis lease in seconds: a host silent for this
    /// long disappears from the others' tunnel mesh.
    #[arg(long, default_value_t = 10)]
    lease_ttl: u64,
    #[command(flatten)]
    protect: crate::host::ProtectOpts,
    #[command(flatten)]
    ra: crate::host::RaOpts,
}

/// How long the trace endpoint waits for the agent's thread: less than
/// the API server's default `--agent-timeout`, so that a busy agent's 503
/// reaches the API before it gives up.
const AGENT_TRACE_TIMEOUT: Duration = Duration::from_secs(8);

/// Open the store named by `spec`: `etcd://HOST:PORT,…[/PREFIX]` (the
/// deployment of many hosts) or a redb file (one process only).
fn store_from_spec(spec: &str) -> anyhow::Result<Arc<dyn store::Store>> {
    store::open(spec).with_context(|| format!("opening store {spec}"))
}

/// The encapsulations of `--encap`, checked.
fn parse_encaps(s: &str) -> anyhow::Result<Vec<String>> {
    let v: Vec<String> = s
        .split(',')
        .filter(|e| !e.is_empty())
        .map(str::to_owned)
        .collect();
    for e in &v {
        anyhow::ensure!(
            agent::cluster::ENCAPS.contains(&e.as_str()),
            "--encap {e:?}: expected one of {:?}",
            agent::cluster::ENCAPS
        );
    }
    anyhow::ensure!(!v.is_empty(), "--encap: at least one encapsulation");
    Ok(v)
}

pub fn run(a: Args) -> anyhow::Result<()> {
    anyhow::ensure!(a.lease_ttl >= 1, "--lease-ttl: at least 1 second");
    let encaps = parse_encaps(&a.encap)?;
    let store = store_from_spec(&a.store)?;
    std::fs::create_dir_all(&a.data_dir)
        .with_context(|| format!("creating data dir {}", a.data_dir.display()))?;
    let run_dir = a.run_dir.unwrap_or_else(|| a.data_dir.join("run"));
    crate::host::start_switch(run_dir.clone())?;
    let cfg = agent::Config {
        run_dir,
        keys_path: agent::keys_file(&a.data_dir),
        bridge_mappings: agent::parse_mappings(&a.bridge_mapping)?,
        chassis: Some(agent::cluster::ChassisConfig {
            name: a.host,
            underlay_ip: a.underlay_ip,
            encaps,
            lease_ttl: Duration::from_secs(a.lease_ttl),
        }),
        protection: a.protect.protection(),
    };
    let status = agent::StoreStatus(store.clone());
    let mut ag = agent::Agent::new(cfg, store, Some(Box::new(status)))?;
    ag.set_ra_intervals(a.ra.intervals()?, Box::new(agent::announce::RandomJitter));
    // Bound before the chassis is registered, so that its record carries
    // the address; answered once the agent's loop runs.
    let trace = match a.trace_addr {
        Some(addr) => {
            let secret = a
                .trace_secret_file
                .as_deref()
                .map(agent::trace_http::Secret::from_file)
                .transpose()?;
            let srv = agent::trace_http::TraceServer::bind(addr, secret)?;
            ag.advertise_trace(srv.advertised(a.underlay_ip));
            Some(srv)
        }
        None => None,
    };
    ag.start().context("agent start")?;
    if let Some(srv) = trace {
        let bound = srv.local_addr();
        let handle = ag.trace_handle(AGENT_TRACE_TIMEOUT);
        srv.spawn(move |req| handle.trace(req))
            .context("starting the trace listener")?;
        eprintln!(
            "cloudnet agent: traces on http://{bound}{}",
            agent::trace_http::TRACE_PATH
        );
    }
    if let Some(addr) = a.metrics_addr {
        let sw = ag
            .switch()
            .client()
            .context("metrics need the switch's control socket")?;
        let reg = agent::metrics::registry(ag.metrics(), sw);
        let bound = agent::metrics::serve_metrics(addr, Arc::new(reg))?;
        eprintln!("cloudnet agent: metrics on http://{bound}/metrics");
    }
    eprintln!("cloudnet agent: running");
    ag.run(&AtomicBool::new(false))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encaps_are_checked() {
        assert_eq!(parse_encaps("vxlan,gre").unwrap(), vec!["vxlan", "gre"]);
        let e = parse_encaps("vxlan,ipip").unwrap_err().to_string();
        assert!(e.contains("ipip"), "{e}");
        assert!(parse_encaps("").is_err());
    }
}
