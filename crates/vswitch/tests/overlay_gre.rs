//! Issue 5, scenario 1: the seed's three-host GRE setup verbatim (chapter
//! 4): br0 with tag=1 / tag=2 VM ports and a patch to br1; br1 with GRE
//! ports 2 and 3 (`key=flow`) and the table 0/1/2/3/10/20/21 flows,
//! learning included. Same-tenant VMs on different hosts talk (ping, TCP);
//! different tenants never do, for ARP and IP, in either direction.

mod common;

use common::overlay::{table20, three_sites, vm_ip};
use common::{has_neighbour, pings};

/// The flows the test installs are the README's file, line for line.
#[test]
fn seed_flows_match_the_fixture() {
    let file = include_str!("fixtures/seed_ch4_br1.flows");
    let lines: Vec<&str> = file
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .collect();
    assert_eq!(lines, common::overlay::seed_flows([1, 2], 300));
}

#[test]
fn seed_gre_three_hosts_isolate_tenants() {
    let Some(lab) = lab::Lab::new_or_skip("overlay_gre") else {
        return;
    };
    let sites = three_sites(&lab, "gre", [1, 2], 300);
    let show = sites[0].sw.vs("show");
    assert!(
        show.contains("recommended VM MTU: 1458"),
        "keyed GRE overhead is 42 bytes:\n{show}"
    );
    // Same tenant, every host pair, both tenants.
    for t in 0..2 {
        for (i, j) in [(0, 1), (1, 2), (2, 0)] {
            assert!(
                pings(&sites[i].vms[t], &vm_ip(t, j)),
                "tenant {t}: host {i} -> host {j}"
            );
        }
    }
    lab::tcp_check(
        &sites[0].vms[0],
        &sites[2].vms[0],
        format!("{}:5001", vm_ip(0, 2)).parse().unwrap(),
        2 << 20,
    )
    .expect("tenant 1 TCP across hosts");
    // Different tenants: neither IP nor ARP gets through, either way.
    for (from, to) in [((0, 0), (1, 1)), ((1, 1), (0, 0)), ((2, 1), (0, 0))] {
        let (fi, ft) = from;
        let (ti, tt) = to;
        let dst = vm_ip(tt, ti);
        assert!(!pings(&sites[fi].vms[ft], &dst), "{from:?} reached {to:?}");
        assert!(
            !has_neighbour(&sites[fi].vms[ft], &dst),
            "ARP crossed tenants {from:?} -> {to:?}"
        );
    }
    // The learned MAC table (table 20) holds the remote VMs with the
    // seed's hard timeout, a tunnel key and a GRE output port.
    let mac = sites[1].vms[0].mac("eth0").unwrap().to_string();
    let t20 = table20(&sites[0].sw);
    assert!(t20.contains("hard_timeout=300"), "{t20}");
    assert!(t20.contains(&mac), "VM {mac} not learned:\n{t20}");
    // Host 1 is behind br1 port 2 of host 0 (ports 2, 3 go to the other
    // hosts in order).
    assert!(
        t20.lines().any(|l| l.contains(&mac)
            && l.contains("vlan_tci=0x0001/0x0fff")
            && l.contains("load:0x1->NXM_NX_TUN_ID[]")
            && l.ends_with("output:2")),
        "learned flow for {mac}:\n{t20}"
    );
}
