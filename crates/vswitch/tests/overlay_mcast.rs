//! VXLAN flooding through an underlay multicast group (RFC 7348 §4.2):
//! three hosts on the lab's underlay (a kernel bridge), each with its own
//! `cloudnet-vswitchd`, one VM and a single VXLAN port whose `remote_ip` is
//! the group. Each host joins the group on its underlay interface; ARP
//! broadcasts reach every other host through it, so every pair of VMs
//! resolves and pings, and TCP runs between two of them.

mod common;

use common::overlay::{host_ip, vm_ip, vxlan_site};
use common::pings;
use vswitch::Request;

const GROUP: &str = "239.1.1.1";

#[test]
fn vxlan_floods_through_a_multicast_group() {
    let Some(lab) = lab::Lab::new_or_skip("overlay_mcast") else {
        return;
    };
    let sites: Vec<_> = (0..3)
        .map(|i| {
            let opts = format!(
                "options:remote_ip={GROUP} options:local_ip={} options:key=100",
                host_ip(i)
            );
            vxlan_site(&lab, i, "m", &opts)
        })
        .collect();
    for site in &sites {
        let groups = site
            .host
            .ip(&["maddr", "show", "dev", "eth0"])
            .expect("maddr");
        assert!(groups.contains(GROUP), "group not joined:\n{groups}");
    }
    for (i, j) in [(0, 1), (1, 2), (2, 0)] {
        if !pings(&sites[i].vm, &vm_ip(0, j)) {
            // What each switch sent and dropped, to tell a send failure
            // from a group that does not deliver.
            let mut diag = String::new();
            for site in &sites {
                let (sw, host) = (&site.sw, &site.host);
                diag += &sw.of(Request::DumpPorts {
                    bridge: "br0".into(),
                    port: None,
                });
                diag += &sw.of(Request::DumpTables {
                    bridge: "br0".into(),
                });
                diag += &host.ip(&["-s", "link", "show", "eth0"]).unwrap_or_default();
            }
            panic!("VM {i} -> VM {j} over the group\n{diag}");
        }
    }
    lab::tcp_check(
        &sites[2].vm,
        &sites[0].vm,
        format!("{}:5001", vm_ip(0, 0)).parse().expect("addr"),
        2 << 20,
    )
    .expect("TCP through the group");
}
