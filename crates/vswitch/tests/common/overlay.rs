//! The three-host overlay of the seed's chapter 4: each host a namespace on
//! the lab's underlay (10.200.0.0/24), running its own `cloudnet-vswitchd`
//! with its own run directory; on each, bridge `br0` holds two VMs of two
//! tenants (tag=1, tag=2) and a patch to `br1`, which holds tunnel ports 2
//! and 3 to the other hosts and the seed's flow tables.

use std::time::Duration;

use lab::{Host, Lab, Netns};
use tempfile::TempDir;
use vswitch::Request;

use super::{vm, Daemon};

/// One hypervisor.
pub struct Site {
    /// Its VMs: tenant 1 (tag 1), tenant 2 (tag 2).
    pub vms: [Netns; 2],
    /// Its switch (dropped before the host namespace).
    pub sw: Daemon,
    /// The switch's run directory.
    pub dir: TempDir,
    /// The host namespace.
    pub host: Host,
}

/// Underlay address of host `i` (0-based).
pub fn host_ip(i: usize) -> String {
    format!("10.200.0.{}", i + 1)
}

/// Address of the VM of `tenant` (0 or 1) on host `i`: both tenants share
/// one subnet, so only the overlay keeps them apart.
pub fn vm_ip(tenant: usize, i: usize) -> String {
    format!("10.1.0.{}", tenant * 10 + i + 1)
}

/// The seed's br1 flows (chapter 4), verbatim but for the tunnel IDs of the
/// two tenants and the learned flows' `hard_timeout`.
pub fn seed_flows(ids: [u32; 2], learn_timeout: u32) -> Vec<String> {
    let [t1, t2] = ids;
    let mut f = vec![
        "hard_timeout=0 idle_timeout=0 priority=1 in_port=1 actions=resubmit(,1)".to_owned(),
        "hard_timeout=0 idle_timeout=0 priority=1 in_port=2 actions=resubmit(,3)".to_owned(),
        "hard_timeout=0 idle_timeout=0 priority=1 in_port=3 actions=resubmit(,3)".to_owned(),
        "hard_timeout=0 idle_timeout=0 priority=0 actions=drop".to_owned(),
        "hard_timeout=0 idle_timeout=0 priority=1 table=1 dl_dst=00:00:00:00:00:00/01:00:00:00:00:00 actions=resubmit(,20)".to_owned(),
        "hard_timeout=0 idle_timeout=0 priority=1 table=1 dl_dst=01:00:00:00:00:00/01:00:00:00:00:00 actions=resubmit(,21)".to_owned(),
        "hard_timeout=0 idle_timeout=0 priority=0 table=2 actions=drop".to_owned(),
        "hard_timeout=0 idle_timeout=0 priority=0 table=3 actions=drop".to_owned(),
    ];
    for (vlan, id) in [(1, t1), (2, t2)] {
        f.push(format!(
            "hard_timeout=0 idle_timeout=0 priority=1 table=3 tun_id={id:#x} actions=mod_vlan_vid:{vlan},resubmit(,10)"
        ));
    }
    f.push(format!(
        "hard_timeout=0 idle_timeout=0 priority=1 table=10  actions=learn(table=20,priority=1,hard_timeout={learn_timeout},NXM_OF_VLAN_TCI[0..11],NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],load:0->NXM_OF_VLAN_TCI[],load:NXM_NX_TUN_ID[]->NXM_NX_TUN_ID[],output:NXM_OF_IN_PORT[]),output:1"
    ));
    f.push("hard_timeout=0 idle_timeout=0 priority=0 table=20 actions=resubmit(,21)".to_owned());
    f.push("hard_timeout=0 idle_timeout=0 priority=0 table=21 actions=drop".to_owned());
    for (vlan, id) in [(1, t1), (2, t2)] {
        f.push(format!(
            "hard_timeout=0 idle_timeout=0 priority=1 table=21 dl_vlan={vlan} actions=strip_vlan,set_tunnel:{id:#x},output:2,output:3"
        ));
    }
    f
}

/// Build the three sites with tunnels of `kind` (`gre`, `vxlan`,
/// `geneve`), `key=flow` ports, and the seed's flows with `ids`.
pub fn three_sites(lab: &Lab, kind: &str, ids: [u32; 2], learn_timeout: u32) -> Vec<Site> {
    three_sites_mtu(lab, kind, ids, learn_timeout, Some(1400))
}

/// [`three_sites`] with the VMs' MTU (`None`: the default 1500).
pub fn three_sites_mtu(
    lab: &Lab,
    kind: &str,
    ids: [u32; 2],
    learn_timeout: u32,
    vm_mtu: Option<u32>,
) -> Vec<Site> {
    let mut sites = Vec::new();
    for i in 0..3 {
        let mut host = lab.host(&format!("h{i}")).expect("host");
        host.set_underlay_ip(format!("{}/24", host_ip(i)).parse().expect("ip"))
            .expect("underlay ip");
        let dir = tempfile::tempdir().expect("run dir");
        let sw = Daemon::start(&host, dir.path(), &[]);
        sw.vs("add-br br0");
        sw.vs("add-br br1");
        sw.vs(
            "add-port br0 patch-int -- set Interface patch-int type=patch options:peer=patch-tun",
        );
        sw.vs("add-port br1 patch-tun -- set Interface patch-tun type=patch options:peer=patch-int ofport_request=1");
        let others: Vec<usize> = (0..3).filter(|&j| j != i).collect();
        for (n, j) in others.iter().enumerate() {
            sw.vs(&format!(
                "add-port br1 {kind}{j} -- set Interface {kind}{j} type={kind} options:remote_ip={} options:key=flow ofport_request={}",
                host_ip(*j),
                n + 2
            ));
        }
        sw.of(Request::DelFlows {
            bridge: "br1".into(),
            matches: None,
            strict: false,
        });
        sw.of(Request::AddFlows {
            bridge: "br1".into(),
            flows: seed_flows(ids, learn_timeout),
        });
        // The VMs' MTU comes from the switch (`mtu_request`), as a cloud
        // would give VMs behind a tunnel.
        let vms = [0, 1].map(|t| {
            let short = format!("v{i}t{t}");
            let port = lab.name(&short).expect("name");
            let mut args = format!("tag={}", t + 1);
            if let Some(m) = vm_mtu {
                args.push_str(&format!(" -- set Interface {port} mtu_request={m}"));
            }
            let ns = vm(
                lab,
                &sw,
                "br0",
                &short,
                &format!("{}/24", vm_ip(t, i)),
                &args,
            );
            if let Some(m) = vm_mtu {
                let link = ns.ip(&["link", "show", "eth0"]).expect("link");
                assert!(
                    link.contains(&format!("mtu {m} ")),
                    "mtu_request not applied: {link}"
                );
            }
            ns
        });
        sites.push(Site { vms, sw, dir, host });
    }
    sites
}

/// Bounded wait for a condition that needs a little time (learned flows).
pub fn eventually(what: &str, f: impl FnMut() -> bool) {
    lab::wait_until(what, Duration::from_secs(10), f).expect(what);
}

/// `dump-flows br1 table=20`.
pub fn table20(sw: &Daemon) -> String {
    sw.of(Request::DumpFlows {
        bridge: "br1".into(),
        matches: Some("table=20".into()),
    })
}

/// One host of a one-bridge VXLAN setup: a host namespace on the underlay
/// at [`host_ip`]`(i)` running its own switch, bridge `br0` (NORMAL) with a
/// `vxlan` port `vx0` and one VM (MTU 1450, [`vm_ip`]`(0, i)`).
pub struct VxlanSite {
    /// The VM (dropped first).
    pub vm: Netns,
    /// Its switch.
    pub sw: Daemon,
    /// The switch's run directory.
    pub dir: TempDir,
    /// The host namespace.
    pub host: Host,
}

/// Build host `i` of a [`VxlanSite`] setup; `prefix` starts its namespace
/// names, `vxlan_opts` are the port's options (`options:remote_ip=…`).
pub fn vxlan_site(lab: &Lab, i: usize, prefix: &str, vxlan_opts: &str) -> VxlanSite {
    vxlan_site_args(lab, i, prefix, vxlan_opts, &[])
}

/// [`vxlan_site`] with more `cloudnet-vswitchd` arguments (`--dp-threads 2`).
pub fn vxlan_site_args(
    lab: &Lab,
    i: usize,
    prefix: &str,
    vxlan_opts: &str,
    daemon_args: &[&str],
) -> VxlanSite {
    let mut host = lab.host(&format!("{prefix}{i}")).expect("host");
    host.set_underlay_ip(format!("{}/24", host_ip(i)).parse().expect("ip"))
        .expect("underlay ip");
    let dir = tempfile::tempdir().expect("run dir");
    let sw = Daemon::start(&host, dir.path(), daemon_args);
    sw.vs("add-br br0");
    sw.vs(&format!(
        "add-port br0 vx0 -- set Interface vx0 type=vxlan {vxlan_opts}"
    ));
    let vm = vm(
        lab,
        &sw,
        "br0",
        &format!("{prefix}{i}vm"),
        &format!("{}/24", vm_ip(0, i)),
        "",
    );
    vm.set_mtu("eth0", 1450).expect("mtu");
    VxlanSite { vm, sw, dir, host }
}
