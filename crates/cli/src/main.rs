//! `cloudnet`: one binary for the whole system. Each subcommand lives in its
//! own module and only parses arguments and calls into a library crate.

#![forbid(unsafe_code)]

use clap::{Parser, Subcommand};

mod agent;
mod api_cmd;
mod capture;
mod capture_fmt;
mod demo;
mod host;
mod lab;
mod ofctl;
mod ofctl_ct;
mod port_stats;
mod resources;
mod serve;
mod tc;
mod trace;
mod vsctl;
mod vswitchd;

/// A cloud network: virtual switch, flow tables, overlays, security groups,
/// NAT, QoS and an OpenStack Networking API.
#[derive(Parser)]
#[command(name = "cloudnet", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Frames seen at a switch port, as pcap (-w) or one line each; the
    /// filter is an ovs-ofctl match evaluated inside the switch.
    Capture(capture::Args),
    /// Build a small cloud in network namespaces and check it works.
    Demo(demo::Args),
    /// Test bench: namespaces, VMs and hosts; `lab clean` removes leftovers.
    Lab(lab::Args),
    /// OpenFlow tables of a switch (ovs-ofctl syntax).
    Ofctl(ofctl::Args),
    /// Bridges, ports and interfaces of a switch (ovs-vsctl syntax).
    Vsctl(vsctl::Args),
    /// Egress QoS trees on a switch's ports (tc syntax).
    Tc(tc::Args),
    /// Run the virtual switch daemon.
    Vswitchd(vswitchd::Args),
    /// Run the API server (OpenStack Networking v2.0).
    Serve(serve::Args),
    /// Run a stateless API server on a shared store (`--store etcd://…`).
    Api(api_cmd::Args),
    /// Why a packet from a port is delivered or dropped, stage by stage.
    Trace(trace::Args),
    /// Run one host of a multi-host cloud: switch and agent on a shared store.
    Agent(agent::Args),
    #[command(flatten)]
    Resource(resources::Command),
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CLOUDNET_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Capture(a) => capture::run(a),
        Command::Demo(a) => demo::run(a),
        Command::Lab(a) => lab::run(a),
        Command::Ofctl(a) => ofctl::run(a),
        Command::Vsctl(a) => vsctl::run(a),
        Command::Tc(a) => tc::run(a),
        Command::Vswitchd(a) => vswitchd::run(a),
        Command::Serve(a) => serve::run(a),
        Command::Api(a) => api_cmd::run(a),
        Command::Trace(a) => trace::run(a),
        Command::Agent(a) => agent::run(a),
        Command::Resource(c) => resources::run(c),
    };
    if let Err(e) = result {
        eprintln!("cloudnet: {e:#}");
        std::process::exit(1);
    }
}
