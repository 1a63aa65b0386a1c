//! The etcd back end against real etcd members on loopback (started by
//! `lab::etcd::Cluster`): the shared conformance tests, compaction and
//! resync, lease expiry, and a member killed under writes and a watch.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use common::{collect, put};
use lab::etcd::Cluster;
use store::{EtcdStore, Store, StoreError};

/// One member, and a store on it under a prefix of its own.
fn single(test: &str) -> Option<(Cluster, Arc<dyn Store>)> {
    let c = Cluster::start_or_skip(test, 1)?;
    let s = store::open(&format!("{}/{test}", c.endpoints())).unwrap();
    Some((c, s))
}

#[test]
fn etcd_conformance() {
    let Some((_c, s)) = single("etcd_conformance") else {
        return;
    };
    common::revisions_and_versions(s.as_ref());
    common::compare_and_swap_rejects_stale_writer_atomically(s.as_ref());
    common::watch_replays_history_then_follows(s.as_ref());
    common::concurrent_cas_writers_exactly_one_wins(s.clone());
    common::revoke_deletes_and_plain_put_detaches(s.as_ref());
}

#[test]
fn etcd_lease_not_kept_alive_deletes_its_key_with_an_event() {
    let Some((_c, s)) = single("etcd_lease") else {
        return;
    };
    // etcd counts whole seconds and raises short TTLs to its minimum.
    common::leased_key_lives_while_kept_alive_and_goes_with_an_event(
        s.as_ref(),
        Duration::from_secs(2),
    );
}

#[test]
fn etcd_prefixes_are_separate_stores() {
    let Some(c) = Cluster::start_or_skip("etcd_prefixes", 1) else {
        return;
    };
    let a = store::open(&format!("{}/a", c.endpoints())).unwrap();
    let b = store::open(&format!("{}/b", c.endpoints())).unwrap();
    let wb = b.watch(b.revision().unwrap()).unwrap();
    a.commit(&[], &[put("networks", "x", "1")]).unwrap();
    assert!(b.get("networks", "x").unwrap().is_none());
    assert!(b.list("networks").unwrap().is_empty());
    b.commit(&[], &[put("networks", "y", "1")]).unwrap();
    let evs = collect(&wb, 1, Duration::from_secs(5));
    assert_eq!(evs[0].id, "y", "b's watch sees only b's keys");
}

#[test]
fn etcd_compaction_reports_compacted_and_a_snapshot_resyncs() {
    let Some(c) = Cluster::start_or_skip("etcd_compaction", 1) else {
        return;
    };
    let s = EtcdStore::connect(&[c.client_addr(0).unwrap().to_string()], "t").unwrap();
    let r0 = s.revision().unwrap();
    for i in 0..5 {
        s.commit(&[], &[put("n", &format!("k{i}"), &i.to_string())])
            .unwrap();
    }
    // A watcher that fell behind, then history up to r0 + 4 is compacted.
    let behind = r0 + 1;
    s.compact(r0 + 4).unwrap();
    match s.watch(behind) {
        Err(StoreError::Compacted(r)) => assert_eq!(r, behind),
        Ok(w) => match w.recv_timeout(Duration::from_secs(5)) {
            Err(StoreError::Compacted(_)) => {}
            other => panic!("expected Compacted, got {other:?}"),
        },
        Err(e) => panic!("expected Compacted, got {e}"),
    }
    // Resync: revision, snapshot, then watch from the revision.
    let rev = s.revision().unwrap();
    let snap = s.list("n").unwrap();
    assert_eq!(snap.len(), 5);
    let w = s.watch(rev).unwrap();
    s.commit(&[], &[put("n", "k9", "9")]).unwrap();
    let evs = collect(&w, 1, Duration::from_secs(5));
    assert_eq!((evs[0].revision, evs[0].id.as_str()), (rev + 1, "k9"));
    // Watching from the compaction revision itself still works.
    let w = s.watch(r0 + 4).unwrap();
    let evs = collect(&w, 2, Duration::from_secs(5));
    let ids: Vec<&str> = evs.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["k4", "k9"]);
}

#[test]
fn etcd_three_members_one_killed_keeps_writes_reads_and_watch() {
    let Some(mut c) = Cluster::start_or_skip("etcd_three_members", 3) else {
        return;
    };
    let s = store::open(&c.endpoints()).unwrap();
    let r0 = s.revision().unwrap();
    let w = s.watch(r0).unwrap();
    let mut written = Vec::new();
    let write = |written: &mut Vec<String>, i: usize| {
        let id = format!("k{i}");
        s.commit(&[common::cmp("n", &id, 0)], &[put("n", &id, "v")])
            .unwrap_or_else(|e| panic!("write {i}: {e}"));
        written.push(id);
    };
    for i in 0..10 {
        write(&mut written, i);
    }
    for victim in [0, 1] {
        c.kill(victim).unwrap();
        for i in 0..10 {
            write(&mut written, 10 + victim * 20 + i);
        }
        assert_eq!(s.list("n").unwrap().len(), written.len(), "reads work");
        c.restart(victim).unwrap();
        for i in 10..20 {
            write(&mut written, 10 + victim * 20 + i);
        }
    }
    // The watch went on across both kills: every write once, in order.
    let evs = collect(&w, written.len(), Duration::from_secs(30));
    let revs: Vec<u64> = evs.iter().map(|e| e.revision).collect();
    assert!(revs.windows(2).all(|p| p[0] < p[1]), "in order: {revs:?}");
    let ids: Vec<String> = evs.iter().map(|e| e.id.clone()).collect();
    assert_eq!(ids, written, "nothing lost or duplicated");
    assert!(
        w.recv_timeout(Duration::from_millis(300))
            .unwrap()
            .is_none(),
        "no duplicate after the last write"
    );
    let stored: BTreeSet<String> = s.list("n").unwrap().into_iter().map(|r| r.id).collect();
    assert_eq!(stored.len(), written.len());
}
