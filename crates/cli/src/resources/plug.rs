//! `cloudnet port plug|unplug`: bind a port to this host, as Nova's VIF
//! plugging does for OVS (os-vif): a TAP on br-int whose Interface carries
//! `external_ids:iface-id=PORT` and `attached-mac=MAC`
//! (ovs-vswitchd.conf.db(5), "Interface external_ids"); the agent of
//! `cloudnet serve` sees it and binds the port.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;

use super::client::Client;
use super::PORT;

/// Where the switch of `cloudnet serve` listens.
#[derive(Args, Debug, Clone)]
pub struct RunDir {
    /// The switch's run dir (`cloudnet serve` uses DATA_DIR/run).
    #[arg(
        long,
        env = "CLOUDNET_RUN_DIR",
        default_value = "/var/lib/cloudnet/run"
    )]
    run_dir: PathBuf,
}

#[derive(Args, Debug)]
pub struct Plug {
    /// Port name or ID.
    port: String,
    /// Create the TAP inside this network namespace, as its `eth0` with
    /// the port's MAC (a namespace VM).
    #[arg(long)]
    netns: Option<String>,
    #[command(flatten)]
    dir: RunDir,
}

#[derive(Args, Debug)]
pub struct Unplug {
    /// Port name or ID.
    port: String,
    #[command(flatten)]
    dir: RunDir,
}

/// Neutron's TAP name: `tap` and the first 11 characters of the port ID
/// (fits IFNAMSIZ).
pub fn tap_name(port_id: &str) -> String {
    format!("tap{}", port_id.chars().take(11).collect::<String>())
}

fn vsctl(dir: &RunDir, args: Vec<String>) -> anyhow::Result<String> {
    vswitch::call(
        &dir.run_dir,
        &vswitch::Request::Vsctl { args },
        Duration::from_secs(10),
    )
    .with_context(|| format!("vswitchd at {}", dir.run_dir.display()))
}

fn ip_netns(ns: &str, args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new("ip")
        .args(["-n", ns])
        .args(args)
        .output()
        .context("running ip")?;
    if !out.status.success() {
        bail!(
            "ip -n {ns} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// `cloudnet lab vm create NAME --port PORT`: a namespace VM on a port.
pub fn vm_create(
    endpoint: &str,
    token: Option<String>,
    name: &str,
    port: &str,
    run_dir: PathBuf,
) -> anyhow::Result<()> {
    // An existing namespace (`ip netns add` done by the caller) is used
    // as it is.
    if !Path::new("/run/netns").join(name).exists() {
        let out = Command::new("ip")
            .args(["netns", "add", name])
            .output()
            .context("running ip")?;
        if !out.status.success() {
            bail!(
                "ip netns add {name}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
    }
    ip_netns(name, &["link", "set", "lo", "up"])?;
    let c = Client::new(endpoint, token);
    plug(
        &c,
        Plug {
            port: port.to_string(),
            netns: Some(name.to_string()),
            dir: RunDir { run_dir },
        },
    )
}

pub fn plug(c: &Client, a: Plug) -> anyhow::Result<()> {
    let id = c.find(PORT.path, PORT.plural, PORT.title, &a.port)?;
    let port = c.get(&format!("ports/{id}"))?;
    let mac = port["port"]["mac_address"]
        .as_str()
        .with_context(|| format!("port {id} has no mac_address"))?
        .to_string();
    let tap = tap_name(&id);
    let mut args: Vec<String> = [
        "--may-exist",
        "add-port",
        "br-int",
        &tap,
        "--",
        "set",
        "Interface",
        &tap,
        "type=tap",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.push(format!("external_ids:iface-id={id}"));
    args.push(format!("external_ids:attached-mac=\"{mac}\""));
    if let Some(ns) = &a.netns {
        args.push(format!("options:netns={ns}"));
        args.push("options:ifname=eth0".into());
    }
    vsctl(&a.dir, args)?;
    if let Some(ns) = &a.netns {
        // The switch opens the TAP inside the namespace; wait (bounded)
        // for it, then give it the port's MAC, as qemu's -device mac=.
        let deadline = Instant::now() + Duration::from_secs(5);
        while ip_netns(ns, &["link", "show", "eth0"]).is_err() {
            if Instant::now() > deadline {
                bail!("TAP eth0 did not appear in namespace {ns}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        ip_netns(ns, &["link", "set", "eth0", "address", &mac])?;
        ip_netns(ns, &["link", "set", "eth0", "up"])?;
    }
    println!("{tap}");
    Ok(())
}

pub fn unplug(c: &Client, a: Unplug) -> anyhow::Result<()> {
    let id = c.find(PORT.path, PORT.plural, PORT.title, &a.port)?;
    vsctl(
        &a.dir,
        vec![
            "--if-exists".into(),
            "del-port".into(),
            "br-int".into(),
            tap_name(&id),
        ],
    )?;
    Ok(())
}
