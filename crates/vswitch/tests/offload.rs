//! Regression test: a `system` port whose netdev lacks TX checksum (and
//! therefore TSO) offload. A TAP VM hands the switch frames with a partial
//! checksum (`VIRTIO_NET_HDR_F_NEEDS_CSUM`) and 64 KB TSO super-frames; sent
//! through AF_PACKET (`PACKET_VNET_HDR`) to a veth with `ethtool -K tx off`,
//! TCP used to crawl (tens of seconds for a few MB instead of milliseconds).
//!
//! Run: `cargo test --release -p vswitch --test offload` (as root).

mod common;

use std::time::{Duration, Instant};

use common::{pings, vm, Daemon};
use lab::Lab;
use vswitch::Request;

/// TAP VM a → switch → `system` veth (host side `tx off`) → namespace b.
/// 4 MB each way must finish well inside the bound (it takes ~30 ms with
/// default offloads; the bug made it take 45 s or time out).
#[test]
fn tcp_to_system_port_without_tx_csum_offload() {
    let Some(lab) = Lab::new_or_skip("vsw_txoff") else {
        return;
    };
    let host = lab.netns("h").expect("host netns");
    let dir = tempfile::tempdir().expect("tempdir");
    let sw = Daemon::start(&host, dir.path(), &[]);
    let b = lab.netns("b").expect("netns b");
    let _lb = lab.veth(&host, "vb", &b, "eth0").expect("veth");
    host.exec(&["ethtool", "-K", "vb", "tx", "off"])
        .expect("ethtool -K vb tx off");
    for (ns, dev) in [(&host, "vb"), (&b, "eth0")] {
        ns.link_up(dev).expect("up");
    }
    b.add_addr("eth0", "10.0.7.2/24".parse().expect("addr"))
        .expect("addr");
    sw.vs("add-br br0 -- add-port br0 vb");
    let a = vm(&lab, &sw, "br0", "a", "10.0.7.1/24", "");
    assert!(pings(&a, "10.0.7.2"), "a cannot ping b");
    let t0 = Instant::now();
    let r = lab::tcp_check_timeout(
        &a,
        &b,
        "10.0.7.2:5001".parse().expect("sockaddr"),
        4 << 20,
        Duration::from_secs(10),
    );
    let diag = || {
        let ports = sw.of(Request::DumpPorts {
            bridge: "br0".into(),
            port: None,
        });
        let vb = host
            .exec(&["cat", "/sys/class/net/vb/statistics/tx_dropped"])
            .unwrap_or_default();
        let nb = b
            .exec(&[
                "nstat",
                "-az",
                "TcpInCsumErrors",
                "IpExtInCsumErrors",
                "TcpRetransSegs",
            ])
            .unwrap_or_default();
        let na = a
            .exec(&["nstat", "-az", "TcpInCsumErrors", "TcpRetransSegs"])
            .unwrap_or_default();
        format!("{ports}\nvb tx_dropped: {vb}\nb: {nb}\na: {na}")
    };
    if let Err(e) = r {
        panic!("tcp a->b through a tx-off system port: {e}\n{}", diag());
    }
    let took = t0.elapsed();
    // The kernel counts the super-frames it refused on the veth.
    let dropped = host
        .exec(&["cat", "/sys/class/net/vb/statistics/tx_dropped"])
        .expect("vb tx_dropped");
    assert_eq!(dropped.trim(), "0", "frames dropped on vb\n{}", diag());
    assert!(took < Duration::from_secs(5), "4 MB took {took:?}");
    eprintln!("4 MB echoed in {took:?}");
}
