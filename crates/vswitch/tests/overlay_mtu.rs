//! Issue 5, scenario 4: VMs with the default 1500-byte MTU behind VXLAN on
//! a 1500-byte underlay. A 1500-byte ping with DF gets ICMP
//! fragmentation-needed with the inner MTU (1450, RFC 1191) from the switch
//! and the drop is counted; TCP adapts through path MTU discovery and a
//! bounded transfer completes.

mod common;

use std::time::Duration;

use common::overlay::{three_sites_mtu, vm_ip};
use common::pings;
use vswitch::Request;

#[test]
fn df_ping_gets_frag_needed_and_tcp_adapts() {
    let Some(lab) = lab::Lab::new_or_skip("overlay_mtu") else {
        return;
    };
    let sites = three_sites_mtu(&lab, "vxlan", [101, 102], 300, None);
    let (a, dst) = (&sites[0].vms[0], vm_ip(0, 1));
    assert!(pings(a, &dst), "small pings cross");
    let out = a
        .exec_output(
            &["ping", "-M", "do", "-s", "1472", "-c", "1", "-W", "2", &dst],
            Duration::from_secs(5),
        )
        .expect("ping runs");
    let text = format!("{}{}", out.stdout, out.stderr);
    assert!(
        text.contains("mtu = 1450") || text.contains("mtu=1450"),
        "no frag-needed with mtu 1450:\n{text}"
    );
    let tables = sites[0].sw.of(Request::DumpTables {
        bridge: "br1".into(),
    });
    assert!(
        !tables.contains("tunnel_too_big=0"),
        "too-big not counted:\n{tables}"
    );
    // TCP from a VM still at MTU 1500: full-size segments bounce, PMTU
    // drops to 1450 and the transfer completes.
    lab::tcp_check(
        &sites[1].vms[0],
        &sites[2].vms[0],
        format!("{}:5001", vm_ip(0, 2)).parse().unwrap(),
        4 << 20,
    )
    .expect("TCP across the tunnel at VM MTU 1500");
}
