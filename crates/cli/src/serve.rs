//! `cloudnet serve`: the single-host cloud in one process — the API server
//! with its embedded store, the switch daemon (run dir `DATA_DIR/run`) and
//! the agent that compiles the intent into br-int's flows (see `host`).
//! `--api-only` leaves out the switch and the agent (no root needed).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;

/// The API server's options, shared by `cloudnet serve` and `cloudnet api`.
#[derive(clap::Args)]
pub struct ApiOpts {
    /// Token file (`{"tokens": {"TOKEN": {"project_id": "p", "roles": ["admin"]}}}`);
    /// without it every request is admin (noauth, loopback only).
    #[arg(long)]
    token_file: Option<PathBuf>,
    /// First three octets of generated MAC addresses (Neutron's base_mac).
    #[arg(long, default_value = "fa:16:3e")]
    mac_prefix: String,
    /// Type of tenant networks created without provider attributes.
    #[arg(long, default_value = "vxlan")]
    tenant_network_type: String,
    /// VLAN ranges as ML2's network_vlan_ranges: `PHYSNET:MIN:MAX`, comma separated.
    #[arg(long, default_value = "physnet1:100:4094")]
    network_vlan_ranges: String,
    /// VXLAN VNI ranges `MIN:MAX`, comma separated (ML2 vni_ranges).
    #[arg(long, default_value = "1:65535")]
    vni_ranges: String,
    /// GRE key ranges `MIN:MAX`, comma separated (ML2 tunnel_id_ranges).
    #[arg(long, default_value = "1:65535")]
    gre_ranges: String,
    /// Geneve VNI ranges `MIN:MAX`, comma separated.
    #[arg(long, default_value = "1:65535")]
    geneve_ranges: String,
}

impl ApiOpts {
    /// Authentication and IPAM configuration from the flags.
    pub fn config(&self) -> anyhow::Result<(api::AuthMode, model::IpamConfig)> {
        let auth = match &self.token_file {
            Some(p) => api::AuthMode::from_token_file(p)?,
            None => api::AuthMode::NoAuth,
        };
        anyhow::ensure!(
            model::ipam::NETWORK_TYPES.contains(&self.tenant_network_type.as_str()),
            "--tenant-network-type {:?}: expected one of {:?}",
            self.tenant_network_type,
            model::ipam::NETWORK_TYPES
        );
        let ipam = model::IpamConfig {
            mac_prefix: parse_prefix(&self.mac_prefix)?,
            tenant_network_type: self.tenant_network_type.clone(),
            vlan_ranges: parse_vlan_ranges(&self.network_vlan_ranges)?,
            vxlan_ranges: parse_ranges("vni-ranges", &self.vni_ranges)?,
            gre_ranges: parse_ranges("gre-ranges", &self.gre_ranges)?,
            geneve_ranges: parse_ranges("geneve-ranges", &self.geneve_ranges)?,
            ..Default::default()
        };
        Ok((auth, ipam))
    }

    /// The application on `store`, refusing noauth off loopback.
    pub fn app(&self, store: Arc<dyn store::Store>, bind: SocketAddr) -> anyhow::Result<api::App> {
        let (auth, ipam) = self.config()?;
        if auth == api::AuthMode::NoAuth && !bind.ip().is_loopback() {
            anyhow::bail!(api::ServeError::NoAuthNotLoopback(bind));
        }
        Ok(
            api::App::new(store, ipam, auth, Arc::new(api::SystemClock), None)
                .map_err(api::ServeError::Load)?,
        )
    }
}

/// Arguments of `cloudnet serve`.
#[derive(clap::Args)]
pub struct Args {
    /// Directory of the embedded store (one redb file).
    #[arg(long, env = "CLOUDNET_DATA_DIR", default_value = "/var/lib/cloudnet")]
    data_dir: PathBuf,
    /// The store, if not the data directory's file: `etcd://HOST:PORT,…[/PREFIX]`
    /// or a path (see `store::open`).
    #[arg(long)]
    store: Option<String>,
    /// Listen address of the OpenStack Networking API.
    #[arg(long, default_value = api::DEFAULT_BIND)]
    bind: SocketAddr,
    #[command(flatten)]
    api: ApiOpts,
    /// Only the API and the store: no switch, no agent.
    #[arg(long)]
    api_only: bool,
    /// Uplinks of physical networks, `PHYSNET:INTERFACE` comma separated
    /// (like ovn-bridge-mappings): the interface joins br-int as a system
    /// port and carries the flat/VLAN networks of that physnet.
    #[arg(long, default_value = "")]
    bridge_mapping: String,
    /// The switch's run dir (control socket, database); default
    /// `DATA_DIR/run`.
    #[arg(long)]
    run_dir: Option<PathBuf>,
    #[command(flatten)]
    protect: crate::host::ProtectOpts,
    #[command(flatten)]
    ra: crate::host::RaOpts,
}

fn parse_range(flag: &str, s: &str) -> anyhow::Result<(u32, u32)> {
    let (a, b) = s
        .split_once(':')
        .with_context(|| format!("--{flag} {s:?}: expected MIN:MAX"))?;
    let a: u32 = a
        .parse()
        .with_context(|| format!("--{flag}: bad number {a:?}"))?;
    let b: u32 = b
        .parse()
        .with_context(|| format!("--{flag}: bad number {b:?}"))?;
    anyhow::ensure!(a >= 1 && a <= b, "--{flag} {s:?}: need 1 <= MIN <= MAX");
    Ok((a, b))
}

fn parse_ranges(flag: &str, s: &str) -> anyhow::Result<Vec<(u32, u32)>> {
    s.split(',')
        .filter(|x| !x.is_empty())
        .map(|r| parse_range(flag, r))
        .collect()
}

fn parse_vlan_ranges(s: &str) -> anyhow::Result<Vec<(String, u32, u32)>> {
    let mut out = Vec::new();
    for r in s.split(',').filter(|x| !x.is_empty()) {
        let (phys, range) = r
            .split_once(':')
            .with_context(|| format!("--network-vlan-ranges {r:?}: expected PHYSNET:MIN:MAX"))?;
        let (a, b) = parse_range("network-vlan-ranges", range)?;
        anyhow::ensure!(
            b <= 4094,
            "--network-vlan-ranges {r:?}: VLAN IDs are 1-4094 (IEEE 802.1Q)"
        );
        out.push((phys.to_string(), a, b));
    }
    Ok(out)
}

fn parse_prefix(s: &str) -> anyhow::Result<[u8; 3]> {
    let parts: Vec<&str> = s.split(':').collect();
    anyhow::ensure!(
        parts.len() == 3,
        "--mac-prefix {s:?}: expected three octets like fa:16:3e"
    );
    let mut out = [0u8; 3];
    for (o, p) in out.iter_mut().zip(parts) {
        *o = u8::from_str_radix(p, 16).with_context(|| format!("--mac-prefix: bad octet {p:?}"))?;
    }
    anyhow::ensure!(out[0] & 1 == 0, "--mac-prefix {s:?} is a multicast prefix");
    Ok(out)
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let mappings = agent::parse_mappings(&args.bridge_mapping)?;
    let run_dir = args
        .run_dir
        .clone()
        .unwrap_or_else(|| args.data_dir.join("run"));
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating data dir {}", args.data_dir.display()))?;
    let store = match &args.store {
        Some(spec) => store::open(spec)?,
        None => store::Spec::Redb(args.data_dir.join(store::REDB_FILE)).open()?,
    };
    let app = Arc::new(
        args.api
            .app(store.clone(), args.bind)?
            .with_port_stats(crate::port_stats::source(args.api_only, &run_dir)),
    );
    // Other writers of a shared store — standalone agents' port statuses,
    // other API servers — become visible here as in `cloudnet api`.
    api::follow::start(&app, store.clone()).context("starting the store follower")?;
    let (fail_tx, fail_rx) = tokio::sync::oneshot::channel::<String>();
    if !args.api_only {
        crate::host::start_switch(run_dir.clone())?;
        let cfg = agent::Config {
            run_dir,
            keys_path: agent::keys_file(&args.data_dir),
            bridge_mappings: mappings,
            chassis: None,
            protection: args.protect.protection(),
        };
        let ra = args.ra.intervals()?;
        crate::host::start_agent(cfg, store, app.clone(), ra, fail_tx)?;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.bind)
            .await
            .with_context(|| format!("binding {}", args.bind))?;
        // Scripts and tests read the bound address (useful with port 0).
        eprintln!(
            "cloudnet serve: listening on http://{}",
            listener.local_addr()?
        );
        let server = api::serve_on(listener, app);
        tokio::select! {
            r = server => r.context("serving"),
            Ok(e) = fail_rx => Err(anyhow::anyhow!("agent: {e}")),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_flags() {
        assert_eq!(
            parse_ranges("x", "1:10,20:30").unwrap(),
            vec![(1, 10), (20, 30)]
        );
        assert!(parse_ranges("x", "10:1").is_err());
        assert!(parse_ranges("x", "0:5").is_err());
        assert_eq!(
            parse_vlan_ranges("p:100:200").unwrap(),
            vec![("p".to_string(), 100, 200)]
        );
        assert!(parse_vlan_ranges("p:100:5000").is_err());
        assert!(parse_vlan_ranges("100:200").is_err());
        assert_eq!(parse_prefix("02:aa:bb").unwrap(), [2, 0xaa, 0xbb]);
        assert!(parse_prefix("01:00:5e").is_err(), "multicast");
    }
}
