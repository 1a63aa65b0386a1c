//! The API-driven part of the demo: `cloudnet serve` in a host namespace,
//! configured only through `cloudnet` resource commands (the same HTTP
//! client a user's commands use), as the seeds' cloud:
//!
//! - an "internet" namespace behind the host's uplink veth, carried by a
//!   flat provider network (`--bridge-mapping physnet1:uplink`);
//! - projects alpha and beta, each with a network, a subnet
//!   (both 10.0.0.0/24: tenants' address spaces overlap) and a router
//!   whose external gateway SNATs to the internet;
//! - the first seed's security groups (chapter 2): group A "web" (Tomcat)
//!   admits 8080 from anywhere and SSH from the admin range 203.0.113.0/24;
//!   group B "db" (MySQL) admits 3306 only from members of A and SSH from
//!   the admin range (both also admit ICMP, so ping can be shown);
//! - VMs: namespaces plugged with `port plug --netns`, addressed by DHCP
//!   (busybox udhcpc); a floating IP on the web VM, which serves HTTP.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use lab::{Background, Lab, Netns, VethPair};

use super::checks;
use super::procs::Serve;
use super::report::{Progress, ProjectInfo, VmInfo};

/// The internet's address, and its network (documentation range,
/// RFC 5737).
pub const INTERNET_IP: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 100);
pub const EXTERNAL_CIDR: &str = "203.0.113.0/24";
/// The seed's admin range, allowed to SSH into both groups.
pub const ADMIN_RANGE: &str = "203.0.113.0/24";
/// Port of the web VM's HTTP server (the seed's Tomcat port).
pub const WEB_PORT: u16 = 8080;
/// Port the database VM listens on (MySQL).
pub const DB_PORT: u16 = 3306;
/// Text both HTTP servers' pages carry, checked by the fetches.
pub const INTERNET_PAGE: &str = "hello from the internet";
pub const WEB_PAGE: &str = "hello from a-web";

/// A VM of the cloud.
pub struct Vm {
    pub info: VmInfo,
    pub ns: Netns,
    pub port_id: String,
}

/// The running cloud; dropping it stops the servers, then `serve`.
pub struct Cloud {
    /// HTTP servers in VMs and in the internet.
    _servers: Vec<Background>,
    pub projects: Vec<ProjectInfo>,
    /// alpha: a-web, a-db, a-cli; beta: b1, b2.
    pub vms: Vec<Vm>,
    pub inet: Netns,
    pub serve: Serve,
    pub host: Netns,
    _uplink: VethPair,
}

impl Cloud {
    /// The VM named `name`.
    pub fn vm(&self, name: &str) -> anyhow::Result<&Vm> {
        self.vms
            .iter()
            .find(|v| v.info.name == name)
            .with_context(|| format!("no VM {name}"))
    }
}

/// VMs per project: (name, security group or "" for the default group).
const ALPHA_VMS: [(&str, &str); 3] = [("a-web", "web"), ("a-db", "db"), ("a-cli", "")];
const BETA_VMS: [(&str, &str); 2] = [("b1", ""), ("b2", "")];

/// Build the cloud, one progress line per step.
pub fn build(p: &Progress, lab: &Lab, dir: &Path, busybox: &Path) -> anyhow::Result<Cloud> {
    let (host, inet, uplink) = p.step(
        "namespaces: host, internet 203.0.113.100, uplink veth",
        || {
            let host = lab.netns("host")?;
            let inet = lab.netns("inet")?;
            let link = lab.veth(&host, "uplink", &inet, "eth0")?;
            host.link_up("uplink")?;
            inet.add_addr("eth0", format!("{INTERNET_IP}/24").parse()?)?;
            inet.link_up("eth0")?;
            // The switch reads the uplink with AF_PACKET: the internet must send
            // full checksums (a veth leaves TCP's to an offload that is absent).
            inet.exec(&["ethtool", "-K", "eth0", "tx", "off"])?;
            Ok((host, inet, link))
        },
    )?;
    let serve = p.step(
        "cloudnet serve in the host (--bridge-mapping physnet1:uplink)",
        || Serve::start(&host, dir, "physnet1:uplink"),
    )?;
    p.step(
        "external network ext: flat on physnet1, 203.0.113.0/24",
        || external(&serve),
    )?;
    p.step(
        "security groups A (web) and B (db) in project alpha",
        || groups(&serve),
    )?;
    let mut projects = Vec::new();
    for (name, net, router) in [("alpha", "net-a", "r-a"), ("beta", "net-b", "r-b")] {
        let what = format!("project {name}: {net} 10.0.0.0/24, router {router} with SNAT");
        let gw = p.step(&what, || project(&serve, name, net, router))?;
        projects.push(ProjectInfo {
            name: name.into(),
            network: net.into(),
            cidr: "10.0.0.0/24".into(),
            router: router.into(),
            router_gateway: gw,
            vms: Vec::new(),
        });
    }
    let mut vms = Vec::new();
    for (pi, list) in [(0usize, &ALPHA_VMS[..]), (1, &BETA_VMS[..])] {
        for (name, group) in list {
            let proj = &projects[pi];
            let what = format!(
                "VM {name} in {} ({}), plugged, DHCP",
                proj.name,
                if group.is_empty() {
                    "default group"
                } else {
                    group
                }
            );
            let vm = p.step(&what, || {
                vm(
                    lab,
                    &serve,
                    busybox,
                    dir,
                    name,
                    &proj.name,
                    &proj.network,
                    group,
                )
            })?;
            println!("      {name}: {}", vm.info.ip);
            vms.push(vm);
        }
    }
    let web = vms
        .iter_mut()
        .find(|v| v.info.name == "a-web")
        .context("no web VM")?;
    let fip = p.step("floating IP on a-web", || {
        let f = serve.create_get(
            &["floating", "ip", "create", "ext", "--port", &web.port_id],
            "floating_ip_address",
        )?;
        Ok(f.parse::<IpAddr>()?)
    })?;
    web.info.floating_ip = Some(fip);
    let servers = p.step(
        "HTTP servers: internet :80, a-web :8080 (busybox httpd)",
        || {
            let www = dir.join("www");
            let web = vms
                .iter()
                .find(|v| v.info.name == "a-web")
                .context("no web VM")?;
            Ok(vec![
                checks::httpd(&inet, busybox, &www.join("inet"), 80, INTERNET_PAGE)?,
                checks::httpd(&web.ns, busybox, &www.join("web"), WEB_PORT, WEB_PAGE)?,
            ])
        },
    )?;
    for (pi, proj) in projects.iter_mut().enumerate() {
        let names: &[(&str, &str)] = if pi == 0 { &ALPHA_VMS } else { &BETA_VMS };
        proj.vms = vms
            .iter()
            .filter(|v| names.iter().any(|(n, _)| *n == v.info.name))
            .map(|v| v.info.clone())
            .collect();
    }
    Ok(Cloud {
        _servers: servers,
        projects,
        vms,
        inet,
        serve,
        host,
        _uplink: uplink,
    })
}

fn external(s: &Serve) -> anyhow::Result<()> {
    s.create(&[
        "network",
        "create",
        "ext",
        "--external",
        "--provider-network-type",
        "flat",
        "--provider-physical-network",
        "physnet1",
    ])?;
    s.create(&[
        "subnet",
        "create",
        "ext-s",
        "--network",
        "ext",
        "--subnet-range",
        EXTERNAL_CIDR,
        "--gateway",
        "203.0.113.1",
        "--no-dhcp",
    ])?;
    Ok(())
}

/// The seed's groups A and B (chapter 2, "云中的网络安全") as ingress rules:
/// (group, protocol, destination port, remote: an IP prefix or `@group`).
pub const RULES: [(&str, &str, Option<u16>, &str); 6] = [
    ("web", "tcp", Some(WEB_PORT), "0.0.0.0/0"),
    ("web", "tcp", Some(22), ADMIN_RANGE),
    ("web", "icmp", None, "0.0.0.0/0"),
    ("db", "tcp", Some(DB_PORT), "@web"),
    ("db", "tcp", Some(22), ADMIN_RANGE),
    ("db", "icmp", None, "0.0.0.0/0"),
];

/// Groups A (web) and B (db) in project alpha, with [`RULES`].
fn groups(s: &Serve) -> anyhow::Result<()> {
    let proj = ["--project", "alpha"];
    for g in ["web", "db"] {
        s.create(&[&["security", "group", "create", g][..], &proj].concat())?;
    }
    for (group, proto, port, remote) in RULES {
        let port = port.map(|p| p.to_string());
        let mut args = vec!["security", "group", "rule", "create", group, "--ingress"];
        args.extend(["--protocol", proto]);
        if let Some(p) = &port {
            args.extend(["--dst-port", p]);
        }
        match remote.strip_prefix('@') {
            Some(g) => args.extend(["--remote-group", g]),
            None => args.extend(["--remote-ip", remote]),
        }
        args.extend(proj);
        s.create(&args)?;
    }
    Ok(())
}

/// One line per group: `web: tcp 8080 from 0.0.0.0/0, …`.
pub fn describe_groups() -> Vec<String> {
    ["web", "db"]
        .iter()
        .map(|g| {
            let rules: Vec<String> = RULES
                .iter()
                .filter(|r| r.0 == *g)
                .map(|(_, proto, port, remote)| {
                    let port = port.map(|p| format!(" {p}")).unwrap_or_default();
                    let remote = match remote.strip_prefix('@') {
                        Some(g) => format!("members of {g}"),
                        None => (*remote).to_owned(),
                    };
                    format!("{proto}{port} from {remote}")
                })
                .collect();
            format!("{g}: {}", rules.join(", "))
        })
        .collect()
}

/// Network, subnet and router of one project; the router's external
/// address.
fn project(s: &Serve, name: &str, net: &str, router: &str) -> anyhow::Result<Option<IpAddr>> {
    let proj = ["--project", name];
    let subnet = format!("{net}-s");
    s.create(&[&["network", "create", net][..], &proj].concat())?;
    s.create(
        &[
            &[
                "subnet",
                "create",
                &subnet,
                "--network",
                net,
                "--subnet-range",
                "10.0.0.0/24",
            ][..],
            &proj,
        ]
        .concat(),
    )?;
    s.create(&[&["router", "create", router][..], &proj].concat())?;
    s.cli(&["router", "add", "subnet", router, &subnet])?;
    s.cli(&["router", "set", router, "--external-gateway", "ext"])?;
    let info = s.cli(&[
        "router",
        "show",
        router,
        "-f",
        "json",
        "-c",
        "external_gateway_info",
    ])?;
    Ok(gateway_ip(&info))
}

/// The first `ip_address` in a router's `external_gateway_info` JSON.
pub fn gateway_ip(json: &str) -> Option<IpAddr> {
    let v: serde_json::Value = serde_json::from_str(json).ok()?;
    let info = v.get("external_gateway_info").unwrap_or(&v);
    info["external_fixed_ips"][0]["ip_address"]
        .as_str()?
        .parse()
        .ok()
}

/// A port in `project` on `net` (in security group `group`, or the
/// project's default group), a namespace plugged on it and its DHCP lease.
#[allow(clippy::too_many_arguments)]
fn vm(
    lab: &Lab,
    s: &Serve,
    busybox: &Path,
    dir: &Path,
    name: &str,
    project: &str,
    net: &str,
    group: &str,
) -> anyhow::Result<Vm> {
    let mut args = vec![
        "port",
        "create",
        name,
        "--network",
        net,
        "--project",
        project,
    ];
    if !group.is_empty() {
        args.extend(["--security-group", group]);
    }
    let port_id = s.create(&args)?;
    let short = name.replace('-', "");
    let ns = lab.netns(&short)?;
    s.cli(&["port", "plug", &port_id, "--netns", ns.name()])?;
    let d: PathBuf = dir.join("dhcp").join(&short);
    std::fs::create_dir_all(&d)?;
    let lease = lab::dhcp::udhcpc(&ns, busybox, "eth0", &[], &d, Duration::from_secs(15))?;
    let ip: IpAddr = lease
        .get("ip")
        .context("the DHCP lease has no address")?
        .parse()?;
    Ok(Vm {
        info: VmInfo {
            name: name.into(),
            ip,
            groups: if group.is_empty() { "default" } else { group }.into(),
            floating_ip: None,
        },
        ns,
        port_id,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn gateway_ip_from_router_json() {
        let j = r#"{"external_gateway_info": {"network_id": "n", "external_fixed_ips": [{"subnet_id": "s", "ip_address": "203.0.113.5"}]}}"#;
        assert_eq!(super::gateway_ip(j), "203.0.113.5".parse().ok());
        assert_eq!(super::gateway_ip("{}"), None);
        assert_eq!(super::gateway_ip("not json"), None);
    }

    #[test]
    fn groups_described_from_the_rules() {
        let g = super::describe_groups();
        assert_eq!(
            g,
            [
                "web: tcp 8080 from 0.0.0.0/0, tcp 22 from 203.0.113.0/24, icmp from 0.0.0.0/0",
                "db: tcp 3306 from members of web, tcp 22 from 203.0.113.0/24, icmp from 0.0.0.0/0",
            ]
        );
    }
}
