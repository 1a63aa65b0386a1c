//! Store behaviour of the embedded back end: the shared conformance tests
//! (tests/common), history kept across reopening, and crash safety under
//! kill -9.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::put;
use store::{Op, RedbStore, Store};

fn open() -> (tempfile::TempDir, RedbStore) {
    let dir = tempfile::tempdir().unwrap();
    let s = RedbStore::open(dir.path().join("db")).unwrap();
    (dir, s)
}

#[test]
fn revisions_and_versions() {
    let (_d, s) = open();
    assert_eq!(s.revision().unwrap(), 0, "an empty store is at revision 0");
    common::revisions_and_versions(&s);
}

#[test]
fn compare_and_swap_rejects_stale_writer_atomically() {
    let (_d, s) = open();
    common::compare_and_swap_rejects_stale_writer_atomically(&s);
}

#[test]
fn watch_replays_history_then_follows() {
    let (dir, s) = open();
    common::watch_replays_history_then_follows(&s);
    // History survives reopening.
    drop(s);
    let s = RedbStore::open(dir.path().join("db")).unwrap();
    let w = s.watch(0).unwrap();
    let revs: Vec<u64> = std::iter::from_fn(|| w.try_next())
        .map(|e| e.revision)
        .collect();
    assert_eq!(revs, vec![1, 2, 3, 4, 4]);
}

#[test]
fn concurrent_cas_writers_exactly_one_wins() {
    let (_d, s) = open();
    common::concurrent_cas_writers_exactly_one_wins(Arc::new(s));
}

#[test]
fn leased_key_lives_while_kept_alive_and_goes_with_an_event() {
    let (_d, s) = open();
    common::leased_key_lives_while_kept_alive_and_goes_with_an_event(
        &s,
        Duration::from_millis(300),
    );
}

#[test]
fn revoke_deletes_and_plain_put_detaches() {
    let (_d, s) = open();
    common::revoke_deletes_and_plain_put_detaches(&s);
}

/// Child mode: write bursts forever; each transaction puts 10 keys with the
/// same value and bumps a counter, so a consistent store has all equal.
#[test]
fn crash_child() {
    let Ok(path) = std::env::var("STORE_CRASH_CHILD") else {
        return;
    };
    let s = RedbStore::open(path).unwrap();
    for i in 0u64.. {
        let v = i.to_string();
        let mut ops: Vec<Op> = (0..10)
            .map(|k| put("burst", &format!("k{k}"), &v))
            .collect();
        ops.push(put("meta", "counter", &v));
        s.commit(&[], &ops).unwrap();
        if i == 0 {
            println!("first-commit");
        }
    }
}

#[test]
fn kill_9_during_write_burst_leaves_consistent_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    for round in 0..3 {
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
            .env("STORE_CRASH_CHILD", &path)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Wait (bounded) until the child reports its first commit.
        let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while !line.contains("first-commit") {
            assert!(Instant::now() < deadline, "child made no progress");
            line.clear();
            assert!(
                std::io::BufRead::read_line(&mut out, &mut line).unwrap() > 0,
                "child exited early"
            );
        }
        std::thread::sleep(Duration::from_millis(150 + 50 * round));
        // SIGKILL: no chance to flush or close.
        child.kill().unwrap();
        child.wait().unwrap();
        let s = RedbStore::open(&path).expect("store opens after kill -9");
        let counter = s.get("meta", "counter").unwrap().map(|r| r.value);
        let keys = s.list("burst").unwrap();
        let c = counter.expect("at least one burst committed before the kill");
        {
            assert_eq!(keys.len(), 10);
            assert!(
                keys.iter().all(|r| r.value == c),
                "torn transaction after kill -9 in round {round}"
            );
            let rev = s.revision().unwrap();
            assert_eq!(keys[0].mod_revision, rev);
        }
    }
}

#[test]
fn reopened_store_drops_keys_of_dead_leases() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    {
        let s = RedbStore::open(&path).unwrap();
        let lease = s.lease_grant(Duration::from_secs(60)).unwrap();
        s.put_leased("chassis", "a", b"1".to_vec(), lease).unwrap();
        s.commit(&[], &[put("networks", "n", "{}")]).unwrap();
    }
    let s = RedbStore::open(&path).unwrap();
    assert!(s.get("chassis", "a").unwrap().is_none());
    assert!(s.get("networks", "n").unwrap().is_some());
    let w = s.watch(0).unwrap();
    let evs: Vec<_> = std::iter::from_fn(|| w.try_next()).collect();
    assert_eq!(evs.last().map(|e| e.value.is_none()), Some(true));
}
