//! Store conformance: the behaviour every back end of `store::Store` must
//! have, as test bodies over `&dyn Store`, run against the embedded store
//! (tests/store.rs) and etcd (tests/etcd.rs). Revisions are compared
//! relative to the store's revision at the start, since etcd starts at 1.
#![allow(dead_code)] // each test binary uses its own subset

use std::sync::Arc;
use std::time::{Duration, Instant};

use store::{Compare, Event, Op, Store, StoreError, Watch};

pub fn put(kind: &str, id: &str, v: &str) -> Op {
    Op::Put {
        kind: kind.into(),
        id: id.into(),
        value: v.as_bytes().to_vec(),
    }
}

pub fn del(kind: &str, id: &str) -> Op {
    Op::Delete {
        kind: kind.into(),
        id: id.into(),
    }
}

pub fn cmp(kind: &str, id: &str, version: u64) -> Compare {
    Compare {
        kind: kind.into(),
        id: id.into(),
        version,
    }
}

/// Events until `n` have arrived or `timeout` passes.
pub fn collect(w: &Watch, n: usize, timeout: Duration) -> Vec<Event> {
    let deadline = Instant::now() + timeout;
    let mut out = Vec::new();
    while out.len() < n {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        match w.recv_timeout(left) {
            Ok(Some(e)) => out.push(e),
            Ok(None) => break,
            Err(e) => panic!("watch ended: {e}"),
        }
    }
    out
}

pub fn revisions_and_versions(s: &dyn Store) {
    let r0 = s.revision().unwrap();
    assert_eq!(
        s.commit(&[], &[put("networks", "a", "1"), put("ports", "p", "x")])
            .unwrap(),
        r0 + 1
    );
    assert_eq!(s.commit(&[], &[put("networks", "a", "2")]).unwrap(), r0 + 2);
    let r = s.get("networks", "a").unwrap().unwrap();
    assert_eq!(
        (r.version, r.mod_revision, r.value.as_slice()),
        (2, r0 + 2, b"2".as_slice())
    );
    assert_eq!(
        s.list("networks").unwrap().len(),
        1,
        "list is per collection"
    );
    s.commit(&[], &[del("networks", "a")]).unwrap();
    assert!(s.get("networks", "a").unwrap().is_none());
    assert_eq!(s.revision().unwrap(), r0 + 3);
    assert!(matches!(
        s.commit(&[], &[put("a/b", "x", "")]),
        Err(StoreError::InvalidKey(_))
    ));
    // A re-created key starts again at version 1.
    s.commit(&[], &[put("networks", "a", "3")]).unwrap();
    assert_eq!(s.get("networks", "a").unwrap().unwrap().version, 1);
    // List is in ID order.
    s.commit(&[], &[put("ports", "c", ""), put("ports", "b", "")])
        .unwrap();
    let ids: Vec<String> = s.list("ports").unwrap().into_iter().map(|r| r.id).collect();
    assert_eq!(ids, ["b", "c", "p"]);
}

pub fn compare_and_swap_rejects_stale_writer_atomically(s: &dyn Store) {
    let r0 = s.revision().unwrap();
    s.commit(&[cmp("n", "a", 0)], &[put("n", "a", "1")])
        .unwrap();
    let stale = cmp("n", "a", 1);
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
    assert_eq!(s.revision().unwrap(), r0 + 2);
    // "Must not exist" fails on an existing key.
    let err = s
        .commit(&[cmp("n", "a", 0)], &[put("n", "a", "4")])
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict { found: 2, .. }),
        "{err}"
    );
}

pub fn watch_replays_history_then_follows(s: &dyn Store) {
    let r0 = s.revision().unwrap();
    s.commit(&[], &[put("n", "a", "1")]).unwrap();
    s.commit(&[], &[put("n", "b", "1")]).unwrap();
    let w = s.watch(r0 + 1).unwrap();
    let e = w.next_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!((e.revision, e.id.as_str()), (r0 + 2, "b"));
    s.commit(&[], &[del("n", "a")]).unwrap();
    let e = w.next_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!((e.revision, e.id.as_str(), e.value), (r0 + 3, "a", None));
    // Two keys in one commit: two events of one revision.
    s.commit(&[], &[put("m", "x", "1"), put("m", "y", "2")])
        .unwrap();
    let evs = collect(&w, 2, Duration::from_secs(5));
    let got: Vec<(u64, &str)> = evs.iter().map(|e| (e.revision, e.id.as_str())).collect();
    assert_eq!(got, [(r0 + 4, "x"), (r0 + 4, "y")]);
    assert!(w.try_next().is_none());
}

pub fn concurrent_cas_writers_exactly_one_wins(s: Arc<dyn Store>) {
    s.commit(&[], &[put("n", "race", "0")]).unwrap();
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let s = s.clone();
            std::thread::spawn(move || {
                s.commit(
                    &[cmp("n", "race", 1)],
                    &[
                        put("n", "race", &i.to_string()),
                        put("n", &format!("w{i}"), ""),
                    ],
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
    let winners = (0..4)
        .filter(|i| s.get("n", &format!("w{i}")).unwrap().is_some())
        .count();
    assert_eq!(winners, 1, "losers applied nothing");
}

/// `ttl` is the lease's TTL; the back end may round it up (etcd: whole
/// seconds, and a minimum).
pub fn leased_key_lives_while_kept_alive_and_goes_with_an_event(s: &dyn Store, ttl: Duration) {
    let lease = s.lease_grant(ttl).unwrap();
    let rev = s
        .put_leased("chassis", "host1", b"10.0.0.1".to_vec(), lease)
        .unwrap();
    let w = s.watch(rev).unwrap();
    // Kept alive past several TTLs, the key stays.
    let until = Instant::now() + ttl * 3;
    while Instant::now() < until {
        std::thread::sleep(ttl / 4);
        s.lease_keep_alive(lease).unwrap();
    }
    assert!(s.get("chassis", "host1").unwrap().is_some());
    assert!(w.try_next().is_none(), "no event while the lease lives");
    // Not kept alive: deleted, with a delete event.
    let ev = w
        .next_timeout(ttl * 2 + Duration::from_secs(5))
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

pub fn revoke_deletes_and_plain_put_detaches(s: &dyn Store) {
    let lease = s.lease_grant(Duration::from_secs(60)).unwrap();
    s.put_leased("chassis", "a", b"1".to_vec(), lease).unwrap();
    s.put_leased("chassis", "b", b"1".to_vec(), lease).unwrap();
    // A batch of leased keys (an agent's port claims) is one revision and
    // goes with its lease, beyond etcd's 128 operations per transaction
    // too.
    let r0 = s.revision().unwrap();
    let items: Vec<(String, Vec<u8>)> =
        (0..130).map(|i| (format!("p{i}"), b"c".to_vec())).collect();
    let r = s
        .put_leased_many("port_bindings", &items[..3], lease)
        .unwrap();
    assert_eq!(r, r0 + 1, "three claims, one transaction");
    s.put_leased_many("port_bindings", &items, lease).unwrap();
    assert_eq!(s.list("port_bindings").unwrap().len(), 130);
    assert_eq!(s.put_leased_many("port_bindings", &[], lease).unwrap(), 0);
    // A plain put takes "b" out of the lease, as in etcd.
    s.commit(&[], &[put("chassis", "b", "2")]).unwrap();
    s.lease_revoke(lease).unwrap();
    assert!(s.get("chassis", "a").unwrap().is_none());
    assert!(s.list("port_bindings").unwrap().is_empty());
    assert_eq!(s.get("chassis", "b").unwrap().unwrap().value, b"2");
    assert!(matches!(
        s.lease_revoke(lease),
        Err(StoreError::LeaseNotFound(_))
    ));
}
