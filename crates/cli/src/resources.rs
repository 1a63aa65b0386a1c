//! Resource commands (`cloudnet network|subnet|port|router|...`), flags named
//! as the openstack CLI's. They speak to the API server over HTTP.

use clap::Subcommand;

#[derive(Subcommand)]
pub enum Command {
    /// Networks (not implemented yet).
    Network {
        #[arg(allow_hyphen_values = true, trailing_var_arg = true)]
        rest: Vec<String>,
    },
}

pub fn run(_cmd: Command) -> anyhow::Result<()> {
    anyhow::bail!("resource commands are not implemented yet")
}
