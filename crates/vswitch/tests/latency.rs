//! Latency of the datapath threads: the round trip of a ping crosses no
//! thread boundary inside a switch.
//!
//! A thread that sleeps in `epoll_wait(2)` costs a wake-up (a scheduler
//! round trip, on a VM an inter-processor interrupt to an idle vCPU) before
//! it forwards a frame; that, not the work per frame, is most of what a
//! userspace switch adds to a ping. The VM answers inside the `write(2)`
//! that delivers the request, and the kernel queues the answer on the TAP
//! queue the request was written through (`dp::rxq`, "Transmit goes through
//! the sending thread's own queue"), so the thread that forwarded the
//! request, still awake, must be the one that reads the answer. These tests
//! count which thread read each frame (the per-queue counters of
//! `cloudnet-vswitchd`'s `stats`): counts, unlike times, do not depend on
//! how loaded the machine is. Before the fix, every answer went to the
//! other thread (requests were read by one thread, answers by the other).
//!
//! Run: `cargo test --release -p vswitch --test latency` (as root).

mod common;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use common::overlay::{host_ip, vm_ip, vxlan_site_args};
use common::{pings, vm, Daemon};
use lab::Lab;
use vswitch::stats_report::{self, PortReport};
use vswitch::Request;

/// Pings of a measured round (each request waits for its reply).
const PINGS: u16 = 30;

/// Frames the other thread may read anyway in a round (a neighbour
/// probe, whose hash the kernel does not steer). Before the fix it read
/// one frame per ping.
const SLACK: u64 = (PINGS / 6) as u64;

fn ports(dir: &Path) -> BTreeMap<String, PortReport> {
    let out = vswitch::call(dir, &Request::Stats, Duration::from_secs(10)).expect("stats");
    let r = stats_report::parse(&out).expect("stats JSON");
    r.ports.into_iter().map(|p| (p.name.clone(), p)).collect()
}

/// Frames read so far from port `name`, per datapath thread.
fn reads(dir: &Path, name: &str) -> BTreeMap<usize, u64> {
    let all = ports(dir);
    let p = all
        .get(name)
        .unwrap_or_else(|| panic!("no port {name}: {:?}", all.keys()));
    let mut m = BTreeMap::new();
    if p.rxq.is_empty() {
        if let Some(t) = p.dp_thread {
            m.insert(t, p.stats.rx_packets);
        }
    }
    for q in &p.rxq {
        *m.entry(q.dp_thread).or_default() += q.rx_packets;
    }
    m
}

/// `after - before`, per thread.
fn delta(after: &BTreeMap<usize, u64>, before: &BTreeMap<usize, u64>) -> BTreeMap<usize, u64> {
    after
        .iter()
        .map(|(t, n)| (*t, n - before.get(t).copied().unwrap_or(0)))
        .collect()
}

/// Ping `to` from `from` [`PINGS`] times; all must be answered.
fn ping_round(from: &lab::Netns, to: &str) {
    let ip: IpAddr = to.parse().expect("ip");
    let s = lab::ping(from, ip, PINGS).expect("ping runs");
    assert!(s.all_received(), "{} of {PINGS} answered", s.received);
}

/// Two VMs on one switch with two datapath threads, each VM's TAP with a
/// queue on each thread: every ping, request and reply, is read by one
/// thread (the one the first request woke), never handed to the other.
#[test]
fn l2_round_trip_stays_on_one_thread() {
    let Some(lab) = Lab::new_or_skip("vsw_lat") else {
        return;
    };
    let host = lab.netns("h").expect("host netns");
    let dir = tempfile::tempdir().expect("tempdir");
    let sw = Daemon::start(&host, dir.path(), &["--dp-threads", "2"]);
    sw.vs("add-br br0");
    let a = vm(&lab, &sw, "br0", "a", "10.0.12.1/24", "");
    let _b = vm(&lab, &sw, "br0", "b", "10.0.12.2/24", "");
    let (na, nb) = (lab.name("a").unwrap(), lab.name("b").unwrap());
    let p = ports(dir.path());
    for n in [&na, &nb] {
        let threads: Vec<usize> = p[n].rxq.iter().map(|q| q.dp_thread).collect();
        assert_eq!(threads.len(), 2, "a queue per thread: {:?}", p[n]);
    }
    // Warm-up: ARP, and the kernel's flow-to-queue entries.
    assert!(pings(&a, "10.0.12.2"), "a cannot ping b");

    let (a0, b0) = (reads(dir.path(), &na), reads(dir.path(), &nb));
    ping_round(&a, "10.0.12.2");
    let (da, db) = (
        delta(&reads(dir.path(), &na), &a0),
        delta(&reads(dir.path(), &nb), &b0),
    );
    // Frames read per thread over both VMs' TAPs.
    let mut per_thread = da.clone();
    for (t, n) in &db {
        *per_thread.entry(*t).or_default() += n;
    }
    let total: u64 = per_thread.values().sum();
    let busiest = per_thread.values().copied().max().unwrap_or(0);
    assert!(
        total >= 2 * u64::from(PINGS),
        "{total} frames read for {PINGS} pings: a {da:?}, b {db:?}"
    );
    assert!(
        total - busiest <= SLACK,
        "requests and replies were read by different threads (a cross-thread \
         wake-up per ping): frames read per thread from a {da:?}, from b {db:?}"
    );
}

/// Two hosts joined by VXLAN, two datapath threads each: on each host the
/// thread serving the tunnel socket (thread 0, `dp::worker`) also reads
/// what the VM sends, so a ping wakes one thread per host and direction.
#[test]
fn vxlan_round_trip_stays_on_the_tunnel_thread() {
    let Some(lab) = Lab::new_or_skip("vsw_latx") else {
        return;
    };
    let sites: Vec<_> = (0..2)
        .map(|i| {
            let opts = format!("options:remote_ip={} options:key=100", host_ip(1 - i));
            vxlan_site_args(&lab, i, "l", &opts, &["--dp-threads", "2"])
        })
        .collect();
    let taps: Vec<String> = (0..2)
        .map(|i| lab.name(&format!("l{i}vm")).expect("name"))
        .collect();
    let dst = vm_ip(0, 1);
    assert!(pings(&sites[0].vm, &dst), "no ping over VXLAN");

    let before: Vec<_> = (0..2)
        .map(|i| reads(sites[i].dir.path(), &taps[i]))
        .collect();
    ping_round(&sites[0].vm, &dst);
    for i in 0..2 {
        let d = delta(&reads(sites[i].dir.path(), &taps[i]), &before[i]);
        let on_tunnel_thread = d.get(&0).copied().unwrap_or(0);
        let elsewhere: u64 = d.values().sum::<u64>() - on_tunnel_thread;
        assert!(
            on_tunnel_thread >= u64::from(PINGS) && elsewhere <= SLACK,
            "host {i}: the VM's frames were not read by the tunnel's thread 0 \
             (a cross-thread wake-up per ping): frames read per thread {d:?}"
        );
    }
}
