//! `cloudnet api`: a stateless API server on a shared store. Several may
//! run against one etcd cluster: each keeps the intent in memory, follows
//! the others' writes through the store's watch (`api::follow`), and
//! commits with a version compare per resource, so that of two conflicting
//! writes through two servers exactly one wins.
//!
//! Traces (`POST /v2.0/cloudnet/trace`) are forwarded to the agent of the
//! chassis the port is bound to (`agent::trace_http`), at the address its
//! chassis record advertises.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use crate::serve::ApiOpts;

/// Arguments of `cloudnet api`.
#[derive(clap::Args)]
pub struct Args {
    /// The shared store: `etcd://HOST:PORT[,HOST:PORT…][/PREFIX]` (or a
    /// path, for a single server on the embedded store).
    #[arg(long, env = "CLOUDNET_STORE")]
    store: String,
    /// Listen address of the OpenStack Networking API.
    #[arg(long, default_value = api::DEFAULT_BIND)]
    listen: SocketAddr,
    #[command(flatten)]
    api: ApiOpts,
    /// The secret sent to the agents' trace endpoints (the file their
    /// `--trace-secret-file` reads).
    #[arg(long)]
    agent_secret_file: Option<PathBuf>,
    /// Seconds an agent has to answer a forwarded trace (connect
    /// included) before the API answers 504.
    #[arg(long, default_value_t = 10)]
    agent_timeout: u64,
}

/// Traces by the agent of the port's chassis.
struct Forward(agent::trace_http::RemoteTracer);

impl api::Tracer for Forward {
    fn trace(
        &self,
        req: controller::explain::TraceRequest,
    ) -> Result<controller::explain::TraceReport, api::ApiError> {
        self.0.trace(&req).map_err(|e| {
            let (status, kind) = e.class();
            api::ApiError::new(status, kind, e.to_string())
        })
    }
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let store = store::open(&args.store).with_context(|| format!("--store {}", args.store))?;
    anyhow::ensure!(
        args.agent_timeout >= 1,
        "--agent-timeout: at least 1 second"
    );
    let secret = args
        .agent_secret_file
        .as_deref()
        .map(agent::trace_http::Secret::from_file)
        .transpose()?;
    let app = Arc::new(args.api.app(store.clone(), args.listen)?);
    let timeout = Duration::from_secs(args.agent_timeout);
    let fwd = agent::trace_http::RemoteTracer::new(store.clone(), secret, timeout);
    app.set_tracer(Arc::new(Forward(fwd)))?;
    api::follow::start(&app, store).context("starting the store follower")?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("binding {}", args.listen))?;
        // Scripts and tests read the bound address (useful with port 0).
        eprintln!(
            "cloudnet api: listening on http://{}",
            listener.local_addr()?
        );
        api::serve_on(listener, app).await.context("serving")
    })
}
