//! Running the switch as a daemon: bind the control socket, open the
//! database, optionally detach (fork, pidfile, log file), start forwarding,
//! serve until `exit`. Ordering matters: the socket is bound before the
//! fork, so a client started right after `vswitchd --detach` returns finds
//! it and waits in the listen backlog until the daemon answers.

use std::fs::OpenOptions;
use std::path::PathBuf;
use std::sync::Arc;

use crate::server;
use crate::switch::{Options, StartError, Switch};

/// Default run directory.
pub const DEFAULT_RUN_DIR: &str = "/run/cloudnet";

/// How to run the daemon.
#[derive(Clone, Debug)]
pub struct DaemonOptions {
    /// Switch options (run directory, persistent flows).
    pub switch: Options,
    /// Fork into the background once the socket is bound.
    pub detach: bool,
    /// Write the daemon's pid here.
    pub pidfile: Option<PathBuf>,
    /// Send stderr (logs) here.
    pub log_file: Option<PathBuf>,
}

/// Errors of the daemon.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// Binding the control socket failed.
    #[error(transparent)]
    Bind(#[from] server::BindError),
    /// Opening the switch failed.
    #[error(transparent)]
    Start(#[from] StartError),
    /// A file (log, pidfile) or the fork failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
}

fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> DaemonError {
    let what = what.into();
    move |source| DaemonError::Io { what, source }
}

/// Run the daemon until an `exit` request.
pub fn run(opts: DaemonOptions) -> Result<(), DaemonError> {
    let listener = server::bind(&opts.switch.run_dir)?;
    let sw = Switch::open(opts.switch.clone())?;
    let log = match &opts.log_file {
        Some(p) => Some(
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .map_err(io_err(format!("log file {}", p.display())))?,
        ),
        None => None,
    };
    if opts.detach {
        nix::unistd::daemon(true, true).map_err(|e| io_err("daemon(3)")(e.into()))?;
        let null = OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/null")
            .map_err(io_err("/dev/null"))?;
        let _ = nix::unistd::dup2_stdin(&null);
        let _ = nix::unistd::dup2_stdout(&null);
        match &log {
            Some(f) => {
                let _ = nix::unistd::dup2_stderr(f);
            }
            None => {
                let _ = nix::unistd::dup2_stderr(&null);
            }
        }
    } else if let Some(f) = &log {
        let _ = nix::unistd::dup2_stderr(f);
    }
    if let Some(p) = &opts.pidfile {
        std::fs::write(p, format!("{}\n", std::process::id()))
            .map_err(io_err(format!("pidfile {}", p.display())))?;
    }
    sw.start()?;
    tracing::info!(
        "vswitchd running, run dir {}",
        opts.switch.run_dir.display()
    );
    let res = server::serve(listener, Arc::new(sw)).map_err(io_err("control socket"));
    if let Some(p) = &opts.pidfile {
        let _ = std::fs::remove_file(p);
    }
    res
}
