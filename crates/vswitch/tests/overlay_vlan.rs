//! Issue 5, scenario 3: a provider VLAN network over a shared uplink. Each
//! host's underlay NIC is a `system` port (a trunk) of its switch; the
//! switch pushes and pops 802.1Q itself (this kernel has no 8021q module),
//! as the seed's vconfig setup does with the host's kernel. VMs with the
//! same tag on different hosts talk; different tags do not.

mod common;

use common::{has_neighbour, pings, vm, Daemon};

#[test]
fn provider_vlans_over_shared_uplink() {
    let Some(lab) = lab::Lab::new_or_skip("overlay_vlan") else {
        return;
    };
    // Host 2's VM is on VLAN 200, the others on 100; all in one subnet.
    let tags = [100, 100, 200];
    let mut keep = Vec::new();
    let mut vms = Vec::new();
    for (i, tag) in tags.iter().enumerate() {
        let host = lab.host(&format!("p{i}")).expect("host");
        let dir = tempfile::tempdir().expect("run dir");
        let sw = Daemon::start(&host, dir.path(), &[]);
        sw.vs("add-br br-ex");
        sw.vs(&format!("add-port br-ex {}", lab::HOST_NIC));
        vms.push(vm(
            &lab,
            &sw,
            "br-ex",
            &format!("pv{i}"),
            &format!("10.3.0.{}/24", i + 1),
            &format!("tag={tag}"),
        ));
        keep.push((sw, dir, host));
    }
    assert!(pings(&vms[0], "10.3.0.2"), "VLAN 100 host 0 -> host 1");
    assert!(pings(&vms[1], "10.3.0.1"), "VLAN 100 host 1 -> host 0");
    lab::tcp_check(&vms[0], &vms[1], "10.3.0.2:5001".parse().unwrap(), 1 << 20)
        .expect("TCP on VLAN 100");
    for (from, to) in [(0, "10.3.0.3"), (2, "10.3.0.1")] {
        assert!(
            !pings(&vms[from], to),
            "VM {from} reached {to} across VLANs"
        );
        assert!(!has_neighbour(&vms[from], to), "ARP crossed VLANs to {to}");
    }
}
