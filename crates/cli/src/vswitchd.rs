//! `cloudnet vswitchd`.

/// Arguments of `cloudnet vswitchd`.
#[derive(clap::Args)]
#[command(trailing_var_arg = true)]
pub struct Args {
    /// Arguments (not implemented yet).
    #[arg(allow_hyphen_values = true)]
    rest: Vec<String>,
}

pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("'vswitchd' is not implemented yet")
}
