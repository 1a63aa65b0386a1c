//! Receive-side coalescing (software GRO) on a real VXLAN path: two hosts
//! on the lab's underlay, each with its own `cloudnet-vswitchd`, a VM and a
//! VXLAN port on one NORMAL bridge. A bulk TCP transfer arrives at the
//! receiving VM in frames much larger than its MTU — merged GSO frames, one
//! TAP write each — and intact (the check compares every byte).

mod common;

use std::time::Duration;

use common::overlay::{host_ip, vm_ip};
use common::{pings, vm, Daemon};

/// Bytes of the transfer.
const LEN: usize = 8 << 20;

#[test]
fn vxlan_bulk_tcp_reaches_the_vm_coalesced() {
    let Some(lab) = lab::Lab::new_or_skip("overlay_gro") else {
        return;
    };
    let mut sites = Vec::new();
    for i in 0..2 {
        let mut host = lab.host(&format!("g{i}")).expect("host");
        host.set_underlay_ip(format!("{}/24", host_ip(i)).parse().expect("ip"))
            .expect("underlay ip");
        let dir = tempfile::tempdir().expect("run dir");
        let sw = Daemon::start(&host, dir.path(), &[]);
        sw.vs("add-br br0");
        sw.vs(&format!(
            "add-port br0 vx0 -- set Interface vx0 type=vxlan options:remote_ip={} options:key=100",
            host_ip(1 - i)
        ));
        let ns = vm(
            &lab,
            &sw,
            "br0",
            &format!("g{i}vm"),
            &format!("{}/24", vm_ip(0, i)),
            "",
        );
        ns.set_mtu("eth0", 1450).expect("mtu");
        sites.push((ns, sw, dir, host));
    }
    assert!(pings(&sites[0].0, &vm_ip(0, 1)), "VMs reach each other");
    let rx = &sites[1].0;
    let count = |c: &str| rx.link_counter("eth0", c).expect("counter");
    let (p0, b0) = (count("rx_packets"), count("rx_bytes"));
    // Bounded in size and time; generous for a loaded CI machine.
    lab::tcp_check_timeout(
        &sites[0].0,
        rx,
        format!("{}:5001", vm_ip(0, 1)).parse().expect("addr"),
        LEN,
        Duration::from_secs(30),
    )
    .expect("bulk TCP over VXLAN");
    let (packets, bytes) = (count("rx_packets") - p0, count("rx_bytes") - b0);
    assert!(bytes >= LEN as u64, "{bytes} bytes received");
    // Without coalescing every frame would be at most 1464 bytes (MTU plus
    // Ethernet header); merged frames carry many segments each.
    let avg = bytes / packets.max(1);
    assert!(
        avg > 3000,
        "{packets} frames for {bytes} bytes: {avg} bytes per TAP write, not coalesced"
    );
}
