//! The host side of `cloudnet serve`: the switch daemon (in this process,
//! its run dir under the data dir) and the agent that keeps br-int in step
//! with the intent (crate `agent`), writing port status back through the
//! API server's write path.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use model::{Change, Ctx, Resource};

/// Port status written as an API update would be: through [`api::App`],
/// so readers and the store see it like any other change.
pub struct AppStatus(pub Arc<api::App>);

impl agent::StatusSink for AppStatus {
    fn set_status(&self, port_id: &str, status: &str) -> Result<(), String> {
        let project = self
            .0
            .read(|st| st.ports.get(port_id).map(|p| p.meta.project_id.clone()))
            .map_err(|e| e.to_string())?;
        let Some(project) = project else {
            return Ok(());
        };
        self.0
            .write(&Ctx::admin(&project), |st, env| {
                let Some(p) = st.ports.get(port_id) else {
                    return Ok((Vec::new(), ()));
                };
                if p.status == status {
                    return Ok((Vec::new(), ()));
                }
                let mut r = Resource::Port(p.clone());
                if let Resource::Port(p) = &mut r {
                    p.status = status.to_owned();
                }
                model::state::touch(&mut r, &env.now);
                Ok((vec![Change::Put(r)], ()))
            })
            .map_err(|e| e.to_string())
    }
}

/// Tenant protection the agent sets on the switch (`agent::protect`).
#[derive(clap::Args, Debug, Clone)]
pub struct ProtectOpts {
    /// Connections per conntrack zone (every network is a zone), set as
    /// `ct-set-limits default=N` when the agent starts; 0 leaves the
    /// switch's setting alone.
    #[arg(long, default_value_t = agent::protect::DEFAULT_CT_ZONE_LIMIT)]
    ct_zone_limit: u32,
    /// Broadcast + multicast frames per second each VM port may send
    /// (Interface `other_config:storm-control-pps`, set where the port has
    /// no setting of its own); 0 sets nothing.
    #[arg(long, default_value_t = agent::protect::DEFAULT_STORM_PPS)]
    storm_control_pps: u64,
    /// New connections per second each VM port may commit (Interface
    /// `other_config:ct-new-pps`, set where the port has no setting of its
    /// own); 0 sets nothing.
    #[arg(long, default_value_t = agent::protect::DEFAULT_CT_NEW_PPS)]
    ct_new_pps: u64,
    /// Flow-cache misses per second each VM port may send to the tables
    /// (Interface `other_config:upcall-pps`, set where the port has no
    /// setting of its own); 0 sets nothing.
    #[arg(long, default_value_t = agent::protect::DEFAULT_UPCALL_PPS)]
    upcall_pps: u64,
}

impl ProtectOpts {
    /// As the agent's configuration.
    pub fn protection(&self) -> agent::Protection {
        agent::Protection {
            ct_zone_limit: self.ct_zone_limit,
            storm_pps: self.storm_control_pps,
            ct_new_pps: self.ct_new_pps,
            upcall_pps: self.upcall_pps,
        }
    }
}

/// Periodic Router Advertisements the agent sends (`agent::announce`):
/// RFC 4861 §6.2.1's MaxRtrAdvInterval / MinRtrAdvInterval, OVN's
/// `ipv6_ra_configs:max_interval` / `min_interval`.
#[derive(clap::Args, Debug, Clone)]
pub struct RaOpts {
    /// Longest time between unsolicited Router Advertisements, seconds
    /// (4 to 1800).
    #[arg(long, default_value_t = 600)]
    ra_max_interval: u64,
    /// Shortest time between them, seconds (3 to 0.75 × max; default
    /// 0.33 × max).
    #[arg(long)]
    ra_min_interval: Option<u64>,
}

impl RaOpts {
    /// The checked intervals.
    pub fn intervals(&self) -> anyhow::Result<agent::announce::RaIntervals> {
        Ok(agent::announce::RaIntervals::new(
            self.ra_min_interval,
            self.ra_max_interval,
        )?)
    }
}

/// How long the API waits for the agent's thread to answer a trace.
const TRACE_TIMEOUT: Duration = Duration::from_secs(20);

/// Traces by the local agent (`POST /v2.0/cloudnet/trace`).
struct AgentTracer(agent::TraceHandle);

impl api::Tracer for AgentTracer {
    fn trace(
        &self,
        req: controller::explain::TraceRequest,
    ) -> Result<controller::explain::TraceReport, api::ApiError> {
        self.0.trace(req).map_err(Into::into)
    }
}

/// Start vswitchd in a thread of this process, with `run_dir`; returns
/// once it answers on its control socket.
pub fn start_switch(run_dir: PathBuf) -> anyhow::Result<()> {
    std::fs::create_dir_all(&run_dir)
        .with_context(|| format!("creating run dir {}", run_dir.display()))?;
    let opts = vswitch::daemon::DaemonOptions {
        switch: vswitch::Options {
            run_dir: run_dir.clone(),
            persist_flows: false,
            dp_threads: 0,
        },
        detach: false,
        pidfile: None,
        log_file: None,
    };
    std::thread::Builder::new()
        .name("vswitchd".into())
        .spawn(move || {
            if let Err(e) = vswitch::daemon::run(opts) {
                tracing::error!("vswitchd: {e}");
                eprintln!("cloudnet serve: vswitchd: {e}");
                std::process::exit(1);
            }
        })?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match vswitch::call(&run_dir, &vswitch::Request::Version, Duration::from_secs(1)) {
            Ok(_) => return Ok(()),
            Err(e) if Instant::now() > deadline => {
                anyhow::bail!("vswitchd did not answer on {}: {e}", run_dir.display())
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// Run the agent in a thread; an error is sent on `failed`.
pub fn start_agent(
    cfg: agent::Config,
    store: Arc<dyn store::Store>,
    app: Arc<api::App>,
    ra: agent::announce::RaIntervals,
    failed: tokio::sync::oneshot::Sender<String>,
) -> anyhow::Result<()> {
    let mut a = agent::Agent::new(cfg, store, Some(Box::new(AppStatus(app.clone()))))?;
    a.set_ra_intervals(ra, Box::new(agent::announce::RandomJitter));
    // `/metrics` shows the agent's timings and the switch's counters too.
    app.metrics.with_registry(|reg| {
        a.metrics().register(reg);
        if let Some(client) = a.switch().client() {
            let sw = agent::metrics::SwitchCollector::new(client.clone());
            reg.register_collector(Box::new(sw));
        }
    });
    a.start().context("agent start")?;
    app.set_tracer(Arc::new(AgentTracer(a.trace_handle(TRACE_TIMEOUT))))?;
    std::thread::Builder::new()
        .name("agent".into())
        .spawn(move || {
            let stop = AtomicBool::new(false);
            if let Err(e) = a.run(&stop) {
                let _ = failed.send(e.to_string());
            }
        })?;
    Ok(())
}
