//! Issue 5, scenario 2: the seed's two tenants over VXLAN (VNI 101 / 102,
//! RFC 7348) and over Geneve (RFC 8926), three hosts, the seed's flows with
//! a shortened learn `hard_timeout` so that expiry can be seen.

mod common;

use common::overlay::{eventually, table20, three_sites, vm_ip, Site};
use common::{has_neighbour, pings};

/// Shortened `hard_timeout` of learned flows (the seed has 300 s).
const LEARN_SECS: u32 = 4;

fn tenants_isolated(sites: &[Site]) {
    for t in 0..2 {
        for (i, j) in [(0, 1), (2, 0)] {
            assert!(
                pings(&sites[i].vms[t], &vm_ip(t, j)),
                "tenant {t}: host {i} -> host {j}"
            );
        }
    }
    for (fi, ft, ti, tt) in [(0, 0, 1, 1), (1, 1, 0, 0)] {
        let dst = vm_ip(tt, ti);
        assert!(
            !pings(&sites[fi].vms[ft], &dst),
            "tenant {ft} reached {dst}"
        );
        assert!(!has_neighbour(&sites[fi].vms[ft], &dst), "ARP for {dst}");
    }
}

/// Learned flows carry the tenant's VNI and vanish after their hard
/// timeout once traffic from that MAC stops. The VM's NIC is taken down
/// first: its kernel would otherwise keep sending now and then (neighbour
/// probes, ARP retries), and each such frame re-learns the flow, as in OVS.
fn learned_then_expired(sites: &[Site], vni: u32) {
    let vm = &sites[1].vms[0];
    let mac = vm.mac("eth0").unwrap().to_string();
    // Fresh traffic from that VM, so the flow is (re)learned just now.
    let _ = lab::ping(vm, vm_ip(0, 0).parse().unwrap(), 1);
    let t20 = table20(&sites[0].sw);
    assert!(
        t20.lines().any(|l| l.contains(&mac)
            && l.contains(&format!("hard_timeout={LEARN_SECS}"))
            && l.contains(&format!("load:{vni:#x}->NXM_NX_TUN_ID[]"))),
        "no learned flow for {mac} with VNI {vni}:\n{t20}"
    );
    vm.ip(&["link", "set", "eth0", "down"])
        .expect("VM NIC down");
    eventually("the silent VM's learned flow expires", || {
        !table20(&sites[0].sw).contains(&mac)
    });
}

#[test]
fn vxlan_vni_101_102_three_hosts() {
    let Some(lab) = lab::Lab::new_or_skip("overlay_vxlan") else {
        return;
    };
    let sites = three_sites(&lab, "vxlan", [101, 102], LEARN_SECS);
    tenants_isolated(&sites);
    lab::tcp_check(
        &sites[1].vms[1],
        &sites[2].vms[1],
        format!("{}:5001", vm_ip(1, 2)).parse().unwrap(),
        2 << 20,
    )
    .expect("tenant 2 TCP over VXLAN");
    learned_then_expired(&sites, 101);
}

#[test]
fn geneve_three_hosts() {
    let Some(lab) = lab::Lab::new_or_skip("overlay_geneve") else {
        return;
    };
    let sites = three_sites(&lab, "geneve", [101, 102], LEARN_SECS);
    tenants_isolated(&sites);
    lab::tcp_check(
        &sites[0].vms[0],
        &sites[1].vms[0],
        format!("{}:5001", vm_ip(0, 1)).parse().unwrap(),
        2 << 20,
    )
    .expect("tenant 1 TCP over Geneve");
    learned_then_expired(&sites, 101);
}

/// Flood and learn with NORMAL instead of flows: on each host one bridge
/// holds the VMs and, per remote host, a VXLAN port per tenant (VNI 101 as
/// an access port of VLAN 1, VNI 102 of VLAN 2). Broadcasts are replicated
/// to every remote (and not relayed between tunnels), MACs are learned on
/// the tunnel ports, tenants stay apart.
#[test]
fn normal_floods_and_learns_over_vxlan() {
    let Some(lab) = lab::Lab::new_or_skip("overlay_normal") else {
        return;
    };
    let mut sites = Vec::new();
    for i in 0..3 {
        let mut host = lab.host(&format!("n{i}")).expect("host");
        host.set_underlay_ip(
            format!("{}/24", common::overlay::host_ip(i))
                .parse()
                .unwrap(),
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let sw = common::Daemon::start(&host, dir.path(), &[]);
        sw.vs("add-br br0");
        for j in (0..3).filter(|&j| j != i) {
            for (t, vni) in [(1, 101), (2, 102)] {
                sw.vs(&format!(
                    "add-port br0 vx{j}t{t} tag={t} -- set Interface vx{j}t{t} type=vxlan options:remote_ip={} options:key={vni}",
                    common::overlay::host_ip(j)
                ));
            }
        }
        let vms = [0, 1].map(|t| {
            let ns = common::vm(
                &lab,
                &sw,
                "br0",
                &format!("n{i}t{t}"),
                &format!("{}/24", vm_ip(t, i)),
                &format!("tag={}", t + 1),
            );
            ns.set_mtu("eth0", 1450).unwrap();
            ns
        });
        sites.push((vms, sw, dir, host));
    }
    for t in 0..2 {
        for (i, j) in [(0, 1), (1, 2), (2, 0)] {
            assert!(
                pings(&sites[i].0[t], &vm_ip(t, j)),
                "tenant {t}: host {i} -> host {j}"
            );
        }
    }
    for (fi, ft, ti, tt) in [(0, 0, 1, 1), (2, 1, 0, 0)] {
        let dst = vm_ip(tt, ti);
        assert!(!pings(&sites[fi].0[ft], &dst), "tenant {ft} reached {dst}");
        assert!(!has_neighbour(&sites[fi].0[ft], &dst), "ARP for {dst}");
    }
    lab::tcp_check(
        &sites[0].0[1],
        &sites[1].0[1],
        format!("{}:5001", vm_ip(1, 1)).parse().unwrap(),
        2 << 20,
    )
    .expect("TCP over NORMAL + VXLAN");
}

/// A flow-based port (`remote_ip=flow`, `key=flow`, ovs-vswitchd.conf.db(5)):
/// the flows choose the remote (`set_field:…->tun_dst`) and the VNI
/// (`set_tunnel`) on output and match `tun_id` / `tun_src` on input. VNI 7
/// reaches the VM; a flow that sends VNI 8 instead finds no matching flow
/// on the other side.
#[test]
fn flow_based_vxlan_port() {
    use common::overlay::host_ip;
    use vswitch::Request;
    let Some(lab) = lab::Lab::new_or_skip("overlay_flowport") else {
        return;
    };
    let mut sites = Vec::new();
    for i in 0..2 {
        let mut host = lab.host(&format!("f{i}")).expect("host");
        host.set_underlay_ip(format!("{}/24", host_ip(i)).parse().unwrap())
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let sw = common::Daemon::start(&host, dir.path(), &[]);
        sw.vs("add-br br0");
        sw.vs("add-port br0 vxf -- set Interface vxf type=vxlan options:remote_ip=flow options:key=flow ofport_request=9");
        let port = lab.name(&format!("f{i}v")).unwrap();
        let vm = common::vm(
            &lab,
            &sw,
            "br0",
            &format!("f{i}v"),
            &format!("10.5.0.{}/24", i + 1),
            &format!("-- set Interface {port} ofport_request=1 mtu_request=1450"),
        );
        let peer = host_ip(1 - i);
        sw.of(Request::DelFlows {
            bridge: "br0".into(),
            matches: None,
            strict: false,
        });
        sw.of(Request::AddFlows {
            bridge: "br0".into(),
            flows: vec![
                format!("in_port=1 actions=set_field:{peer}->tun_dst,set_tunnel:7,output:9"),
                format!("in_port=9 tun_id=7 tun_src={peer} actions=output:1"),
            ],
        });
        sites.push((vm, sw, dir, host));
    }
    assert!(pings(&sites[0].0, "10.5.0.2"), "VNI 7 across hosts");
    // Host 0 now sends VNI 8: host 1 has no flow for it.
    sites[0].1.of(Request::ModFlows {
        bridge: "br0".into(),
        flow: format!(
            "in_port=1 actions=set_field:{}->tun_dst,set_tunnel:8,output:9",
            host_ip(1)
        ),
        strict: false,
    });
    assert!(
        !pings(&sites[0].0, "10.5.0.2"),
        "VNI 8 must not be delivered"
    );
}
