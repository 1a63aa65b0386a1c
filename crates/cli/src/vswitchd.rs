//! `cloudnet vswitchd`: the virtual switch daemon (see the `vswitch` crate).

use std::path::PathBuf;

use vswitch::daemon::{DaemonOptions, DEFAULT_RUN_DIR};

/// Arguments of `cloudnet vswitchd`.
#[derive(clap::Args)]
pub struct Args {
    /// Directory for the control socket (vswitchd.sock) and the database
    /// (conf.db); one per switch.
    #[arg(long, env = "CLOUDNET_RUN_DIR", default_value = DEFAULT_RUN_DIR)]
    run_dir: PathBuf,
    /// Fork into the background once the control socket is bound.
    #[arg(long)]
    detach: bool,
    /// Write the daemon's pid to this file.
    #[arg(long)]
    pidfile: Option<PathBuf>,
    /// Append logs (stderr) to this file.
    #[arg(long)]
    log_file: Option<PathBuf>,
    /// Keep OpenFlow flows in the database across restarts (by default, as
    /// in OVS, flows are the controller's to re-install).
    #[arg(long)]
    persist_flows: bool,
    /// Datapath threads: each polls its share of the ports with its own
    /// flow cache (default: one per core, at most 2).
    #[arg(long, env = "CLOUDNET_DP_THREADS", value_parser = clap::value_parser!(u16).range(1..=16))]
    dp_threads: Option<u16>,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    vswitch::daemon::run(DaemonOptions {
        switch: vswitch::Options {
            run_dir: a.run_dir,
            persist_flows: a.persist_flows,
            dp_threads: a.dp_threads.map_or(0, usize::from),
        },
        detach: a.detach,
        pidfile: a.pidfile,
        log_file: a.log_file,
    })?;
    Ok(())
}
