//! `cloudnet lab`: look after the test bench of crate `lab`.
//!
//! Tests remove what they build even when they panic; a test process that is
//! killed cannot. `cloudnet lab clean` removes such leftovers: namespaces and
//! host links named with a lab prefix (`cn` + 4 hex digits + `-`). Without
//! `--prefix` it removes the leftovers of *every* lab, so run it while no
//! tests are running.

use anyhow::Context;

/// Arguments of `cloudnet lab`.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: LabCommand,
}

#[derive(clap::Subcommand)]
enum LabCommand {
    /// List namespaces and host links left by labs.
    List {
        /// Only names starting with this prefix (default: any lab name,
        /// `cn` + 4 hex digits + `-`).
        #[arg(long)]
        prefix: Option<String>,
    },
    /// Remove namespaces and host links left by labs.
    ///
    /// Processes still running inside those namespaces are killed. Without
    /// --prefix this also removes the labs of tests running right now: run it
    /// when none are.
    Clean {
        /// Only names starting with this prefix (default: any lab name,
        /// `cn` + 4 hex digits + `-`).
        #[arg(long)]
        prefix: Option<String>,
        /// Print what would be removed, remove nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Namespace VMs on ports of `cloudnet serve`.
    Vm {
        #[command(subcommand)]
        command: VmCommand,
    },
}

#[derive(clap::Subcommand)]
enum VmCommand {
    /// Create namespace NAME whose eth0 is PORT's TAP (with the port's
    /// MAC); then `ip netns exec NAME udhcpc -i eth0` gets its address.
    /// `ip netns del NAME` and `cloudnet port unplug PORT` remove it.
    Create {
        name: String,
        /// Port name or ID.
        #[arg(long)]
        port: String,
        /// API endpoint.
        #[arg(long, env = "OS_ENDPOINT", default_value = "http://127.0.0.1:9696")]
        os_endpoint: String,
        /// Token sent as X-Auth-Token.
        #[arg(long, env = "OS_TOKEN")]
        os_token: Option<String>,
        /// The switch's run dir (`cloudnet serve` uses DATA_DIR/run).
        #[arg(
            long,
            env = "CLOUDNET_RUN_DIR",
            default_value = "/var/lib/cloudnet/run"
        )]
        run_dir: std::path::PathBuf,
    },
}

pub fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        LabCommand::Vm {
            command:
                VmCommand::Create {
                    name,
                    port,
                    os_endpoint,
                    os_token,
                    run_dir,
                },
        } => {
            crate::resources::plug::vm_create(&os_endpoint, os_token, &name, &port, run_dir)?;
        }
        LabCommand::List { prefix } => {
            let found = lab::find_leftovers(prefix.as_deref()).context("listing lab leftovers")?;
            print(&found, "");
        }
        LabCommand::Clean { prefix, dry_run } => {
            let found = if dry_run {
                lab::find_leftovers(prefix.as_deref())
            } else {
                lab::clean(prefix.as_deref())
            }
            .context("cleaning lab leftovers")?;
            print(&found, if dry_run { "would remove " } else { "removed " });
            if found.is_empty() {
                println!("nothing to remove");
            }
        }
    }
    Ok(())
}

fn print(found: &lab::Leftovers, verb: &str) {
    for ns in &found.netns {
        println!("{verb}netns {ns}");
    }
    for link in &found.links {
        println!("{verb}link {link}");
    }
}
