//! Receive-side coalescing (software GRO) on a real VXLAN path: two hosts
//! on the lab's underlay, each with its own `cloudnet-vswitchd`, a VM and a
//! VXLAN port on one NORMAL bridge. A bulk TCP transfer arrives at the
//! receiving VM in frames much larger than its MTU — merged GSO frames, one
//! TAP write each — and intact (the check compares every byte). On the
//! sending side the VM's TSO frames leave in UDP GSO sends (headers from the
//! switch, payload straight from the frame): the sending host's underlay
//! device sees far fewer packets than segments, and the receiver finds every
//! segment's checksum valid.

mod common;

use std::time::Duration;

use common::overlay::{host_ip, vm_ip, vxlan_site};
use common::pings;
use vswitch::Request;

/// Bytes of the transfer.
const LEN: usize = 8 << 20;

#[test]
fn vxlan_bulk_tcp_reaches_the_vm_coalesced() {
    let Some(lab) = lab::Lab::new_or_skip("overlay_gro") else {
        return;
    };
    let sites: Vec<_> = (0..2)
        .map(|i| {
            let opts = format!("options:remote_ip={} options:key=100", host_ip(1 - i));
            vxlan_site(&lab, i, "g", &opts)
        })
        .collect();
    assert!(pings(&sites[0].vm, &vm_ip(0, 1)), "VMs reach each other");
    let rx = &sites[1].vm;
    let count = |c: &str| rx.link_counter("eth0", c).expect("counter");
    let (p0, b0) = (count("rx_packets"), count("rx_bytes"));
    let underlay_tx = || {
        sites[0]
            .host
            .link_counter("eth0", "tx_packets")
            .expect("counter")
    };
    let u0 = underlay_tx();
    // Bounded in size and time; generous for a loaded CI machine.
    lab::tcp_check_timeout(
        &sites[0].vm,
        rx,
        format!("{}:5001", vm_ip(0, 1)).parse().expect("addr"),
        LEN,
        Duration::from_secs(30),
    )
    .expect("bulk TCP over VXLAN");
    let (packets, bytes) = (count("rx_packets") - p0, count("rx_bytes") - b0);
    // A veth counts one packet per skb: a UDP GSO send of N datagrams is
    // one. Segments of at most 1398 bytes (MTU 1450 less IPv4 and TCP
    // headers with timestamps) would be one each on the raw path; half of
    // that allows for small TSO frames on a slow, loaded machine.
    let segments = (LEN / 1398) as u64;
    let sent = underlay_tx() - u0;
    assert!(
        sent < segments / 2,
        "{sent} underlay packets for {segments} segments: TSO frames not sent with UDP GSO"
    );
    assert!(bytes >= LEN as u64, "{bytes} bytes received");
    // Without coalescing every frame would be at most 1464 bytes (MTU plus
    // Ethernet header); merged frames carry many segments each.
    let avg = bytes / packets.max(1);
    assert!(
        avg > 3000,
        "{packets} frames for {bytes} bytes: {avg} bytes per TAP write, not coalesced"
    );
    // The receiving switch says so too.
    let tables = sites[1].sw.of(Request::DumpTables {
        bridge: "br0".into(),
    });
    let coalesced = tables
        .split_whitespace()
        .find_map(|w| w.strip_prefix("coalesced="))
        .and_then(|n| n.parse::<u64>().ok());
    assert!(
        coalesced.is_some_and(|n| n > 0),
        "no coalesced frames:\n{tables}"
    );
    assert!(
        tables.contains("bad_checksum=0"),
        "segments with bad TCP checksums arrived:\n{tables}"
    );
}
