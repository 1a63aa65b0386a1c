//! Multi-queue TAP ports (`dp::rxq`, `options:n_rxq`): with two datapath
//! threads a VM's TAP gets two queues, one per thread; the kernel spreads
//! the VM's flows over them by flow hash, so several flows from one VM are
//! read by both threads, each flow staying in order on its queue.
//!
//! Run: `cargo test --release -p vswitch --test mq_tap` (as root).

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use common::{pings, vm, Daemon};
use lab::Lab;
use vswitch::stats_report::{self, PortReport};
use vswitch::Request;

/// Flows (source ports) sent from VM a, and datagrams per flow.
const FLOWS: usize = 32;
const PER_FLOW: usize = 8;

fn ports(dir: &std::path::Path) -> BTreeMap<String, PortReport> {
    let out = vswitch::call(dir, &Request::Stats, Duration::from_secs(10)).expect("stats");
    let r = stats_report::parse(&out).expect("stats JSON");
    r.ports.into_iter().map(|p| (p.name.clone(), p)).collect()
}

#[test]
fn flows_of_one_vm_spread_over_queues_and_threads() {
    let Some(lab) = Lab::new_or_skip("vsw_mq") else {
        return;
    };
    let host = lab.netns("h").expect("host netns");
    let dir = tempfile::tempdir().expect("tempdir");
    let sw = Daemon::start(&host, dir.path(), &["--dp-threads", "2"]);
    sw.vs("add-br br0");
    let a = vm(&lab, &sw, "br0", "a", "10.0.11.1/24", "");
    let b = vm(&lab, &sw, "br0", "b", "10.0.11.2/24", "");
    let na = lab.name("a").unwrap();

    // One queue per thread by default, on different threads.
    let p = ports(dir.path());
    let threads: Vec<usize> = p[&na].rxq.iter().map(|q| q.dp_thread).collect();
    assert_eq!(threads.len(), 2, "two queues for two threads: {:?}", p[&na]);
    assert_ne!(threads[0], threads[1], "{:?}", p[&na]);
    assert!(
        pings(&a, "10.0.11.2"),
        "a cannot ping b over multi-queue TAPs"
    );

    // Many UDP flows from a (one socket, so one source port, each); fewer
    // datagrams in all than one TAP queue holds (500), so none is lost
    // before the switch reads it. Delivery is counted where the switch
    // sends into b's TAP (b's socket buffer would overflow first).
    let dst: SocketAddr = "10.0.11.2:9999".parse().unwrap();
    let nb = lab.name("b").unwrap();
    let p0 = ports(dir.path());
    let (before, sent0) = (p0[&na].rxq.clone(), p0[&nb].stats.tx_packets);
    for f in 0..FLOWS {
        let tx = a
            .udp_socket("10.0.11.1:0".parse().unwrap())
            .expect("sender");
        for i in 0..PER_FLOW {
            tx.send_to(&[f as u8, i as u8], dst).expect("send");
        }
    }
    let want = (FLOWS * PER_FLOW) as u64;
    let mut got = 0;
    let done = lab::wait_until("datagrams reach b", Duration::from_secs(10), || {
        got = ports(dir.path())[&nb].stats.tx_packets - sent0;
        got >= want
    });
    assert!(
        done.is_ok(),
        "the switch sent {got} of {want} datagrams to b"
    );

    // Both queues (so both threads) carried some of them.
    let after = ports(dir.path())[&na].rxq.clone();
    let per_queue: Vec<u64> = after
        .iter()
        .zip(&before)
        .map(|(a, b)| a.rx_packets - b.rx_packets)
        .collect();
    assert!(
        per_queue.iter().all(|&n| n > 0),
        "{FLOWS} flows all read from one queue: {per_queue:?}"
    );
    assert!(per_queue.iter().sum::<u64>() >= want, "{per_queue:?}");

    // A TCP stream stays whole (one flow, one queue, in order).
    lab::tcp_check(&a, &b, "10.0.11.2:5001".parse().unwrap(), 4 << 20).expect("tcp a->b");

    // options:n_rxq=1: one queue; the multi-queue TAP that exists is
    // adopted with the one queue, and traffic still flows.
    sw.vs(&format!("set Interface {na} options:n_rxq=1"));
    lab::wait_until("a reopened with one queue", Duration::from_secs(5), || {
        ports(dir.path())
            .get(&na)
            .is_some_and(|p| p.rxq.is_empty() && p.dp_thread.is_some())
    })
    .expect("n_rxq=1 applies");
    assert!(pings(&a, "10.0.11.2"), "no traffic after n_rxq=1");

    // A bad value is refused with the token named.
    let err = sw
        .vsctl(&format!("set Interface {na} options:n_rxq=lots"))
        .map(|_| ports(dir.path())[&na].dp_thread);
    match err {
        Err(e) => assert!(e.to_string().contains("lots"), "{e}"),
        Ok(t) => assert!(t.is_none(), "n_rxq=lots left the port polled"),
    }
}
