//! Store behaviour: revisions, versions, compare-and-swap, watch, and crash
//! safety under kill -9.

use std::time::{Duration, Instant};

use store::{Compare, Op, RedbStore, Store, StoreError};

fn put(kind: &str, id: &str, v: &str) -> Op {
    Op::Put {
        kind: kind.into(),
        id: id.into(),
        value: v.as_bytes().to_vec(),
    }
}

#[test]
fn revisions_and_versions() {
    let dir = tempfile::tempdir().unwrap();
    let s = RedbStore::open(dir.path().join("db")).unwrap();
    assert_eq!(s.revision().unwrap(), 0);
    assert_eq!(
        s.commit(&[], &[put("networks", "a", "1"), put("ports", "p", "x")])
            .unwrap(),
        1
    );
    assert_eq!(s.commit(&[], &[put("networks", "a", "2")]).unwrap(), 2);
    let r = s.get("networks", "a").unwrap().unwrap();
    assert_eq!(
        (r.version, r.mod_revision, r.value.as_slice()),
        (2, 2, b"2".as_slice())
    );
    assert_eq!(
        s.list("networks").unwrap().len(),
        1,
        "list is per collection"
    );
    s.commit(
        &[],
        &[Op::Delete {
            kind: "networks".into(),
            id: "a".into(),
        }],
    )
    .unwrap();
    assert!(s.get("networks", "a").unwrap().is_none());
    assert_eq!(s.revision().unwrap(), 3);
    assert!(matches!(
        s.commit(&[], &[put("a/b", "x", "")]),
        Err(StoreError::InvalidKey(_))
    ));
}

#[test]
fn compare_and_swap_rejects_stale_writer_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let s = RedbStore::open(dir.path().join("db")).unwrap();
    s.commit(
        &[Compare {
            kind: "n".into(),
            id: "a".into(),
            version: 0,
        }],
        &[put("n", "a", "1")],
    )
    .unwrap();
    let stale = Compare {
        kind: "n".into(),
        id: "a".into(),
        version: 1,
    };
    s.commit(std::slice::from_ref(&stale), &[put("n", "a", "2")])
        .unwrap();
    let err = s
        .commit(&[stale], &[put("n", "a", "3"), put("n", "b", "x")])
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Conflict {
                expected: 1,
                found: 2,
                ..
            }
        ),
        "{err}"
    );
    assert!(
        s.get("n", "b").unwrap().is_none(),
        "failed txn stored nothing"
    );
    assert_eq!(s.revision().unwrap(), 2);
}

#[test]
fn watch_replays_history_then_follows() {
    let dir = tempfile::tempdir().unwrap();
    let s = RedbStore::open(dir.path().join("db")).unwrap();
    s.commit(&[], &[put("n", "a", "1")]).unwrap();
    s.commit(&[], &[put("n", "b", "1")]).unwrap();
    let w = s.watch(1).unwrap();
    let e = w.next_timeout(Duration::from_secs(1)).unwrap();
    assert_eq!((e.revision, e.id.as_str()), (2, "b"));
    assert!(w.try_next().is_none());
    s.commit(
        &[],
        &[Op::Delete {
            kind: "n".into(),
            id: "a".into(),
        }],
    )
    .unwrap();
    let e = w.next_timeout(Duration::from_secs(1)).unwrap();
    assert_eq!((e.revision, e.id.as_str(), e.value), (3, "a", None));
    // History survives reopening.
    drop(w);
    drop(s);
    let s = RedbStore::open(dir.path().join("db")).unwrap();
    let w = s.watch(0).unwrap();
    let revs: Vec<u64> = std::iter::from_fn(|| w.try_next())
        .map(|e| e.revision)
        .collect();
    assert_eq!(revs, vec![1, 2, 3]);
}

#[test]
fn concurrent_cas_writers_exactly_one_wins() {
    let dir = tempfile::tempdir().unwrap();
    let s = std::sync::Arc::new(RedbStore::open(dir.path().join("db")).unwrap());
    s.commit(&[], &[put("n", "a", "0")]).unwrap();
    let handles: Vec<_> = (0..2)
        .map(|i| {
            let s = s.clone();
            std::thread::spawn(move || {
                s.commit(
                    &[Compare {
                        kind: "n".into(),
                        id: "a".into(),
                        version: 1,
                    }],
                    &[put("n", "a", &i.to_string())],
                )
                .is_ok()
            })
        })
        .collect();
    let wins = handles
        .into_iter()
        .map(|h| h.join().unwrap())
        .filter(|w| *w)
        .count();
    assert_eq!(wins, 1);
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
fn leased_key_lives_while_kept_alive_and_goes_with_an_event() {
    let dir = tempfile::tempdir().unwrap();
    let s = RedbStore::open(dir.path().join("db")).unwrap();
    let lease = s.lease_grant(Duration::from_millis(300)).unwrap();
    let rev = s
        .put_leased("chassis", "host1", b"10.0.0.1".to_vec(), lease)
        .unwrap();
    let w = s.watch(rev).unwrap();
    // Kept alive past several TTLs, the key stays.
    for _ in 0..6 {
        std::thread::sleep(Duration::from_millis(100));
        s.lease_keep_alive(lease).unwrap();
    }
    assert!(s.get("chassis", "host1").unwrap().is_some());
    assert!(w.try_next().is_none(), "no event while the lease lives");
    // Not kept alive: deleted, with a delete event, within TTL + a tick.
    let ev = w
        .next_timeout(Duration::from_secs(2))
        .expect("delete event on expiry");
    assert_eq!((ev.kind.as_str(), ev.id.as_str()), ("chassis", "host1"));
    assert_eq!(ev.value, None);
    assert!(s.get("chassis", "host1").unwrap().is_none());
    assert!(matches!(
        s.lease_keep_alive(lease),
        Err(StoreError::LeaseNotFound(_))
    ));
    assert!(s.put_leased("chassis", "host1", vec![], lease).is_err());
}

#[test]
fn revoke_deletes_and_plain_put_detaches() {
    let dir = tempfile::tempdir().unwrap();
    let s = RedbStore::open(dir.path().join("db")).unwrap();
    let lease = s.lease_grant(Duration::from_secs(60)).unwrap();
    s.put_leased("chassis", "a", b"1".to_vec(), lease).unwrap();
    s.put_leased("chassis", "b", b"1".to_vec(), lease).unwrap();
    // A plain put takes "b" out of the lease, as in etcd.
    s.commit(
        &[],
        &[Op::Put {
            kind: "chassis".into(),
            id: "b".into(),
            value: b"2".to_vec(),
        }],
    )
    .unwrap();
    s.lease_revoke(lease).unwrap();
    assert!(s.get("chassis", "a").unwrap().is_none());
    assert_eq!(s.get("chassis", "b").unwrap().unwrap().value, b"2");
    assert!(s.lease_revoke(lease).is_err());
}

#[test]
fn reopened_store_drops_keys_of_dead_leases() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    {
        let s = RedbStore::open(&path).unwrap();
        let lease = s.lease_grant(Duration::from_secs(60)).unwrap();
        s.put_leased("chassis", "a", b"1".to_vec(), lease).unwrap();
        s.commit(
            &[],
            &[Op::Put {
                kind: "networks".into(),
                id: "n".into(),
                value: b"{}".to_vec(),
            }],
        )
        .unwrap();
    }
    let s = RedbStore::open(&path).unwrap();
    assert!(s.get("chassis", "a").unwrap().is_none());
    assert!(s.get("networks", "n").unwrap().is_some());
    let w = s.watch(0).unwrap();
    let evs: Vec<_> = std::iter::from_fn(|| w.try_next()).collect();
    assert_eq!(evs.last().map(|e| e.value.is_none()), Some(true));
}
