//! A network spanning two hosts over VXLAN, built as the first seed's
//! chapter 4 does: two host namespaces on an underlay bridge, a `cloudnet
//! vswitchd` each, VM ports tagged with the tenant's VLAN and a VXLAN
//! tunnel port (`type=vxlan options:remote_ip=… options:key=VNI`, RFC 7348)
//! to the other host; NORMAL switching floods to and learns across the
//! tunnel. VMs get MTU 1450 (1500 underlay minus VXLAN's 50 bytes).
//!
//! Kept apart from the API cloud on purpose: once agents per host land,
//! this module is the one to switch to a network created through the API
//! and bound on two agents.

use std::net::IpAddr;
use std::path::Path;

use lab::{Host, Lab, Netns};

use super::procs::Switch;
use super::report::{OverlayHost, Progress, VmInfo};

/// The tenant's VXLAN network identifier.
pub const VNI: u32 = 101;

/// One host: its switch, its VM. Fields drop in order: VM, switch, host.
pub struct Site {
    pub vm: Netns,
    pub info: OverlayHost,
    _switch: Switch,
    _host: Host,
}

/// Both hosts.
pub struct Overlay {
    pub sites: Vec<Site>,
}

/// Build both hosts, one progress line each.
pub fn build(p: &Progress, lab: &Lab, dir: &Path) -> anyhow::Result<Overlay> {
    let mut sites = Vec::new();
    for i in 1..=2u8 {
        let other = 3 - i;
        let what = format!("VXLAN host h{i}: vswitchd, br0, tunnel to 10.200.0.{other}, VM v{i}");
        sites.push(p.step(&what, || site(lab, dir, i))?);
    }
    Ok(Overlay { sites })
}

fn site(lab: &Lab, dir: &Path, i: u8) -> anyhow::Result<Site> {
    let other = 3 - i;
    let host = lab.host_with_ip(&format!("h{i}"), format!("10.200.0.{i}/24").parse()?)?;
    let underlay_ip: IpAddr = format!("10.200.0.{i}").parse()?;
    let sw = Switch::start(host.ns(), &dir.join(format!("h{i}")))?;
    sw.vsctl("add-br br0")?;
    sw.vsctl(&format!(
        "add-port br0 vx{other} tag=1 -- set Interface vx{other} type=vxlan options:remote_ip=10.200.0.{other} options:key={VNI}"
    ))?;
    let vm = lab.netns(&format!("v{i}"))?;
    sw.plug("br0", &lab.name(&format!("v{i}p"))?, "tag=1", &vm)?;
    let ip: IpAddr = format!("10.10.0.{i}").parse()?;
    vm.add_addr("eth0", format!("{ip}/24").parse()?)?;
    vm.set_mtu("eth0", 1450)?;
    vm.link_up("eth0")?;
    Ok(Site {
        vm,
        info: OverlayHost {
            name: host.ns().name().to_owned(),
            underlay_ip,
            vm: VmInfo {
                name: format!("v{i}"),
                ip,
                groups: String::new(),
                floating_ip: None,
            },
        },
        _switch: sw,
        _host: host,
    })
}
