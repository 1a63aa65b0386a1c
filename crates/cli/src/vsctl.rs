//! `cloudnet vsctl`: bridges, ports and interfaces of a running switch, in
//! ovs-vsctl(8) syntax. The command line goes to the daemon whole, which
//! parses it and runs it as one transaction.

use std::path::PathBuf;
use std::time::Duration;

use vswitch::daemon::DEFAULT_RUN_DIR;

/// Where the switch's control socket is, and how long to wait for it
/// (shared by `cloudnet vsctl` and `cloudnet tc`).
#[derive(clap::Args)]
pub struct Conn {
    /// The switch's run directory (control socket).
    #[arg(long, env = "CLOUDNET_RUN_DIR", default_value = DEFAULT_RUN_DIR)]
    pub run_dir: PathBuf,
    /// Seconds to wait for the daemon.
    #[arg(long, default_value_t = 10)]
    pub timeout: u64,
}

impl Conn {
    /// Sends `req` and returns the daemon's answer.
    pub fn call(&self, req: &vswitch::Request) -> Result<String, vswitch::ProtoError> {
        vswitch::call(&self.run_dir, req, Duration::from_secs(self.timeout))
    }
}

/// Arguments of `cloudnet vsctl`.
#[derive(clap::Args)]
#[command(trailing_var_arg = true)]
pub struct Args {
    #[command(flatten)]
    conn: Conn,
    /// Commands, separated by `--`, e.g. `add-br br0 -- add-port br0 tap0 tag=10`.
    #[arg(allow_hyphen_values = true, required = true)]
    commands: Vec<String>,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    // ovs-vsctl(8): `br-exists` reports a missing bridge with exit status 2.
    let br_exists = a.commands.first().map(String::as_str) == Some("br-exists");
    let req = vswitch::Request::Vsctl { args: a.commands };
    match a.conn.call(&req) {
        Ok(out) => {
            print!("{out}");
            Ok(())
        }
        Err(vswitch::ProtoError::Remote(m)) if br_exists && m.contains("does not exist") => {
            std::process::exit(2)
        }
        Err(e) => Err(e.into()),
    }
}
