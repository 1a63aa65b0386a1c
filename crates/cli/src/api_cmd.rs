//! `cloudnet api`: a stateless API server on a shared store. Several may
//! run against one etcd cluster: each keeps the intent in memory, follows
//! the others' writes through the store's watch (`api::follow`), and
//! commits with a version compare per resource, so that of two conflicting
//! writes through two servers exactly one wins.

use std::net::SocketAddr;

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
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let store = store::open(&args.store).with_context(|| format!("--store {}", args.store))?;
    let app = std::sync::Arc::new(args.api.app(store.clone(), args.listen)?);
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
