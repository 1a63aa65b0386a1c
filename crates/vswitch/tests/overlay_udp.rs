//! Issue 5, scenario 2: the seed's two tenants over VXLAN (VNI 101 / 102,
//! RFC 7348) and over Geneve (RFC 8926), three hosts, the seed's flows with
//! a shortened learn `hard_timeout` so that expiry can be seen.

mod common;

use common::overlay::{eventually, table20, three_sites, vm_ip, Site};
use common::{has_neighbour, pings};

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
/// timeout once traffic stops.
fn learned_then_expired(sites: &[Site], vni: u32) {
    let mac = sites[1].vms[0].mac("eth0").unwrap().to_string();
    let t20 = table20(&sites[0].sw);
    assert!(
        t20.lines().any(|l| l.contains(&mac)
            && l.contains("hard_timeout=3")
            && l.contains(&format!("load:{vni:#x}->NXM_NX_TUN_ID[]"))),
        "no learned flow for {mac} with VNI {vni}:\n{t20}"
    );
    eventually("learned flows expire", || {
        !table20(&sites[0].sw).contains("hard_timeout=3")
    });
}

#[test]
fn vxlan_vni_101_102_three_hosts() {
    let Some(lab) = lab::Lab::new_or_skip("overlay_vxlan") else {
        return;
    };
    let sites = three_sites(&lab, "vxlan", [101, 102], 3);
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
    let sites = three_sites(&lab, "geneve", [101, 102], 3);
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
