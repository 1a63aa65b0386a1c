//! `ofctl packet-out` (ovs-ofctl(8), protocol 1.5) against a real daemon:
//! frames injected by the control side reach VM namespaces through the
//! actions given, as a flow's actions would send them.
//!
//! Run: `cargo test --release -p vswitch --test packet_out` (as root).

mod common;

use std::net::Ipv4Addr;
use std::time::Duration;

use common::{has_neighbour, vm, Daemon};
use lab::Lab;
use vswitch::Request;

/// An ARP request "who has `tpa`? tell `spa`" from `sha`, as hex digits.
fn arp_request_hex(sha: [u8; 6], spa: &str, tpa: &str) -> String {
    let spa: Ipv4Addr = spa.parse().expect("spa");
    let tpa: Ipv4Addr = tpa.parse().expect("tpa");
    let mut buf = [0u8; 64];
    let n = responder::arp::request(sha, spa, tpa, &mut buf).expect("arp request");
    buf[..n].iter().map(|b| format!("{b:02x}")).collect()
}

/// The lladdr `ns` holds for `ip`, if any.
fn neighbour_mac(ns: &lab::Netns, ip: &str) -> Option<String> {
    let out = ns.ip(&["neigh", "show", ip]).ok()?;
    let mut it = out.split_whitespace();
    it.find(|w| *w == "lladdr")?;
    it.next().map(str::to_owned)
}

fn packet_out(bridge: &str, in_port: &str, packet: String, actions: &str) -> Request {
    Request::PacketOut {
        bridge: bridge.into(),
        in_port: in_port.into(),
        packet,
        actions: actions.into(),
    }
}

#[test]
fn injected_frames_reach_vms_through_normal_and_resubmit() {
    let Some(lab) = Lab::new_or_skip("vsw_pktout") else {
        return;
    };
    let host = lab.netns("h").expect("host netns");
    let dir = tempfile::tempdir().expect("tempdir");
    let sw = Daemon::start(&host, dir.path(), &[]);
    sw.vs("add-br br0");
    let a = vm(&lab, &sw, "br0", "a", "10.0.9.1/24", "");
    let b = vm(&lab, &sw, "br0", "b", "10.0.9.2/24", "");
    let pb = lab.name("b").expect("name");
    let ofport = |p: &str| {
        sw.vs(&format!("get Interface {p} ofport"))
            .trim()
            .to_owned()
    };
    let nb = ofport(&pb);

    // From the controller through NORMAL (flooded: nothing learned yet):
    // a answers the request and learns the asker, as from any ARP request.
    let sha = [0x02, 0, 0, 0, 0, 0x77];
    let req = arp_request_hex(sha, "10.0.9.77", "10.0.9.1");
    sw.of(packet_out("br0", "controller", req, "NORMAL"));
    lab::wait_until("a learns 10.0.9.77", Duration::from_secs(5), || {
        neighbour_mac(&a, "10.0.9.77").as_deref() == Some("02:00:00:00:00:77")
    })
    .expect("the injected ARP request reached a");

    // Through the tables: table 5 sends ARP to b's port only.
    sw.of(Request::AddFlows {
        bridge: "br0".into(),
        flows: vec![format!("table=5,priority=10,arp actions=output:{nb}")],
    });
    let sha = [0x02, 0, 0, 0, 0, 0x78];
    let req = arp_request_hex(sha, "10.0.9.78", "10.0.9.2");
    sw.of(packet_out("br0", "none", req.clone(), "resubmit(,5)"));
    lab::wait_until("b learns 10.0.9.78", Duration::from_secs(5), || {
        neighbour_mac(&b, "10.0.9.78").as_deref() == Some("02:00:00:00:00:78")
    })
    .expect("the injected ARP request reached b through table 5");
    // a's question about 10.0.9.2 goes nowhere near this; a never saw the
    // frame sent to b only.
    assert!(!has_neighbour(&a, "10.0.9.78"), "table 5 output reached a");
    let dump = sw.of(Request::DumpFlows {
        bridge: "br0".into(),
        matches: Some("table=5".into()),
    });
    assert!(dump.contains("n_packets=1,"), "{dump}");

    // in_port=b: output to the input port is skipped, as in a flow, and
    // the next output still runs. With no flows left the VMs' own traffic
    // goes nowhere, so the ports' tx counters move only by packet-outs.
    sw.of(Request::DelFlows {
        bridge: "br0".into(),
        matches: None,
        strict: false,
    });
    let pa = lab.name("a").expect("name");
    let na = ofport(&pa);
    let tx = |p: &str| -> String {
        let out = sw.of(Request::DumpPorts {
            bridge: "br0".into(),
            port: Some(p.into()),
        });
        let tx = out.split("tx pkts=").nth(1).unwrap_or("");
        tx.split(',').next().unwrap_or("").to_owned()
    };
    let (a0, b0) = (tx(&pa), tx(&pb));
    let sha = [0x02, 0, 0, 0, 0, 0x79];
    let req = arp_request_hex(sha, "10.0.9.79", "10.0.9.1");
    // in_port by name, outputs by number.
    sw.of(packet_out(
        "br0",
        &pb,
        req,
        &format!("output:{nb},output:{na}"),
    ));
    assert_eq!(tx(&pb), b0, "output to in_port was sent");
    assert_ne!(tx(&pa), a0, "the output after it was not");
    lab::wait_until("a learns 10.0.9.79", Duration::from_secs(5), || {
        has_neighbour(&a, "10.0.9.79")
    })
    .expect("the second output reached a");
}

#[test]
fn bad_packet_outs_are_refused_naming_the_token() {
    let Some(lab) = Lab::new_or_skip("vsw_pktout_bad") else {
        return;
    };
    let host = lab.netns("h").expect("host netns");
    let dir = tempfile::tempdir().expect("tempdir");
    let sw = Daemon::start(&host, dir.path(), &[]);
    sw.vs("add-br br0");
    let call = |r: Request| vswitch::call(dir.path(), &r, Duration::from_secs(10));
    let good = arp_request_hex([2, 0, 0, 0, 0, 1], "10.0.0.1", "10.0.0.2");

    let e = call(packet_out("br0", "controller", "ffffff".into(), "NORMAL")).unwrap_err();
    assert!(e.to_string().contains("3 bytes"), "{e}");
    let tables = sw.of(Request::DumpTables {
        bridge: "br0".into(),
    });
    assert!(tables.contains("malformed=1"), "{tables}");

    let e = call(packet_out("br0", "controller", "ff0g".into(), "NORMAL")).unwrap_err();
    assert!(e.to_string().contains("\"g\""), "{e}");
    let e = call(packet_out(
        "br0",
        "controller",
        good.clone(),
        "frobnicate:1",
    ))
    .unwrap_err();
    assert!(e.to_string().contains("frobnicate"), "{e}");
    let e = call(packet_out("br0", "nosuchport", good.clone(), "NORMAL")).unwrap_err();
    assert!(e.to_string().contains("nosuchport"), "{e}");
    let e = call(packet_out("br9", "controller", good, "NORMAL")).unwrap_err();
    assert!(e.to_string().contains("br9"), "{e}");
}
