//! `cloudnet tc`: egress QoS trees on the switch's ports, in the subset of
//! tc(8) syntax the seed uses (HTB classes, pfifo / SFQ leaves, u32
//! filters; root SFQ, TBF, pfifo_fast). The daemon parses and applies the
//! command line (see the `vswitch::tc` module for the grammar); nothing
//! touches the kernel's qdiscs.

use crate::vsctl::Conn;

/// Arguments of `cloudnet tc`.
#[derive(clap::Args)]
#[command(trailing_var_arg = true)]
pub struct Args {
    #[command(flatten)]
    conn: Conn,
    /// A tc command line, e.g. `qdisc add dev p1 root handle 1: htb default 30`
    /// or `-s class show dev p1`.
    #[arg(allow_hyphen_values = true, required = true)]
    args: Vec<String>,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let req = vswitch::Request::Tc { args: a.args };
    let out = a.conn.call(&req)?;
    print!("{out}");
    Ok(())
}
