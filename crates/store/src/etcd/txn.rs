//! [`crate::Store::commit`] on etcd: one `Txn`, and what to do when its
//! answer is lost.
//!
//! A `Txn` is resent blindly only when it certainly never reached a member
//! ([`rpc::certainly_not_applied`]). When the outcome is unknown — the
//! leader died with the proposal in flight, the answer timed out — the
//! store re-reads, in one linearizable read (so after any surviving
//! proposal is committed: a new leader commits its predecessors' entries
//! before it serves reads), every key the transaction compares or writes,
//! and decides:
//! - *not applied* when every compare still holds and every written key is
//!   compared (had it been applied, their versions would have moved): the
//!   transaction is sent again;
//! - *applied* when every put key holds exactly our value at the version
//!   after the compared one, all at one revision, and every deleted key is
//!   gone: that revision is the answer;
//! - otherwise (someone else wrote the keys since, or the transaction had
//!   no compares to tell by) it returns [`StoreError::Backend`] saying the
//!   outcome is unknown, rather than risk applying it twice. The caller's
//!   watch shows the write if it was applied.

use std::collections::BTreeMap;
use std::sync::Arc;

use etcd_client::{Compare as EtcdCompare, CompareOp, Txn, TxnOp, TxnOpResponse};

use super::rpc::{self, RetryError, Safety, CALL_DEADLINE};
use super::{header_revision, to_i64, to_u64, Shared};
use crate::{check_key, Compare, Op, Result, StoreError};

/// The last op of each key, in order, with its etcd key. etcd refuses a
/// key twice in one request; the last op gives the same end state.
fn last_ops<'a>(s: &Shared, ops: &'a [Op]) -> Result<Vec<(String, &'a Op)>> {
    let mut last: Vec<(String, &Op)> = Vec::with_capacity(ops.len());
    for op in ops {
        let (Op::Put { kind, id, .. } | Op::Delete { kind, id }) = op;
        check_key(kind)?;
        check_key(id)?;
        let key = s.key(kind, id);
        last.retain(|(k, _)| *k != key);
        last.push((key, op));
    }
    Ok(last)
}

pub(super) async fn commit(s: Arc<Shared>, compares: Vec<Compare>, ops: Vec<Op>) -> Result<u64> {
    let last = last_ops(&s, &ops)?;
    let mut when = Vec::new();
    let mut reads = Vec::new();
    for c in &compares {
        check_key(&c.kind)?;
        check_key(&c.id)?;
        let key = s.key(&c.kind, &c.id);
        when.push(EtcdCompare::version(
            key.clone(),
            CompareOp::Equal,
            to_i64(c.version),
        ));
        reads.push(TxnOp::get(key, None));
    }
    let then: Vec<TxnOp> = last
        .iter()
        .map(|(key, op)| match op {
            Op::Put { value, .. } => TxnOp::put(key.clone(), value.clone(), None),
            Op::Delete { .. } => TxnOp::delete(key.clone(), None),
        })
        .collect();
    let txn = Txn::new().when(when).and_then(then).or_else(reads);
    let deadline = tokio::time::Instant::now() + CALL_DEADLINE;
    loop {
        let sent = rpc::retry("txn", Safety::Mutation, || {
            let (mut kv, txn) = (s.kv.clone(), txn.clone());
            async move { kv.txn(txn).await }
        })
        .await;
        let why = match sent {
            Ok(resp) => return answer(&compares, resp),
            Err(RetryError::OutcomeUnknown(why)) => why,
            Err(e) => return Err(e.into_store("txn")),
        };
        match decide(&s, &compares, &last).await? {
            Decision::Applied(rev) => return Ok(rev),
            Decision::NotApplied if tokio::time::Instant::now() < deadline => continue,
            _ => {
                return Err(StoreError::Backend(format!(
                    "etcd {why}; outcome unknown (the keys changed since)"
                )))
            }
        }
    }
}

/// The store's answer to a `Txn` response.
fn answer(compares: &[Compare], resp: etcd_client::TxnResponse) -> Result<u64> {
    let revision = header_revision(resp.header())?;
    if resp.succeeded() {
        return Ok(revision);
    }
    // The failure branch read the compared keys at the same revision.
    for (c, r) in compares.iter().zip(resp.op_responses()) {
        let found = match r {
            TxnOpResponse::Get(g) => g.kvs().first().map_or(0, |kv| to_u64(kv.version())),
            _ => return Err(StoreError::Backend("etcd txn: unexpected answer".into())),
        };
        if found != c.version {
            return Err(StoreError::Conflict {
                kind: c.kind.clone(),
                id: c.id.clone(),
                expected: c.version,
                found,
            });
        }
    }
    Err(StoreError::Backend(
        "etcd txn failed its compare, but every key matched on re-read".into(),
    ))
}

/// A key as re-read.
struct Seen {
    value: Vec<u8>,
    version: u64,
    mod_revision: u64,
}

#[derive(Debug, PartialEq, Eq)]
enum Decision {
    Applied(u64),
    NotApplied,
    Unknown,
}

/// Re-read the keys of a transaction whose answer was lost, and decide.
async fn decide(s: &Shared, compares: &[Compare], last: &[(String, &Op)]) -> Result<Decision> {
    let expected: BTreeMap<String, u64> = compares
        .iter()
        .map(|c| (s.key(&c.kind, &c.id), c.version))
        .collect();
    let mut keys: Vec<String> = expected.keys().cloned().collect();
    for (k, _) in last {
        if !expected.contains_key(k) {
            keys.push(k.clone());
        }
    }
    let read = Txn::new().and_then(
        keys.iter()
            .map(|k| TxnOp::get(k.clone(), None))
            .collect::<Vec<_>>(),
    );
    let resp = rpc::retry("txn re-read", Safety::Idempotent, || {
        let (mut kv, read) = (s.kv.clone(), read.clone());
        async move { kv.txn(read).await }
    })
    .await
    .map_err(|e| e.into_store("txn re-read"))?;
    let mut found: BTreeMap<String, Option<Seen>> = BTreeMap::new();
    for (k, r) in keys.iter().zip(resp.op_responses()) {
        if let TxnOpResponse::Get(g) = r {
            let seen = g.kvs().first().map(|kv| Seen {
                value: kv.value().to_vec(),
                version: to_u64(kv.version()),
                mod_revision: to_u64(kv.mod_revision()),
            });
            found.insert(k.clone(), seen);
        }
    }
    Ok(judge(&expected, last, &found))
}

/// The decision of [`decide`], on what was read (pure, for tests).
fn judge(
    expected: &BTreeMap<String, u64>,
    last: &[(String, &Op)],
    found: &BTreeMap<String, Option<Seen>>,
) -> Decision {
    let version = |k: &str| {
        found
            .get(k)
            .and_then(Option::as_ref)
            .map_or(0, |kv| kv.version)
    };
    let all_compared = last.iter().all(|(k, _)| expected.contains_key(k));
    if all_compared && expected.iter().all(|(k, v)| version(k) == *v) {
        return Decision::NotApplied;
    }
    let mut revision = None;
    for (k, op) in last {
        let kv = found.get(k).and_then(Option::as_ref);
        match (op, kv) {
            (Op::Delete { .. }, None) => {}
            (Op::Put { value, .. }, Some(kv)) if kv.value == *value => {
                let next = expected.get(k).map(|v| v + 1);
                if next.is_some_and(|n| n != kv.version) {
                    return Decision::Unknown;
                }
                let r = kv.mod_revision;
                if revision.is_some_and(|x| x != r) {
                    return Decision::Unknown;
                }
                revision = Some(r);
            }
            _ => return Decision::Unknown,
        }
    }
    revision.map_or(Decision::Unknown, Decision::Applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(_key: &str, value: &str, version: u64, mod_revision: u64) -> Option<Seen> {
        Some(Seen {
            value: value.as_bytes().to_vec(),
            version,
            mod_revision,
        })
    }

    fn put(v: &str) -> Op {
        Op::Put {
            kind: "n".into(),
            id: "a".into(),
            value: v.as_bytes().to_vec(),
        }
    }

    #[test]
    fn lost_answers_are_judged_by_what_was_read() {
        let expected = BTreeMap::from([("/p/n/a".to_string(), 3)]);
        let op = put("new");
        let last = vec![("/p/n/a".to_string(), &op)];
        let read = |kv| BTreeMap::from([("/p/n/a".to_string(), kv)]);
        assert_eq!(
            judge(&expected, &last, &read(kv("/p/n/a", "old", 3, 10))),
            Decision::NotApplied
        );
        assert_eq!(
            judge(&expected, &last, &read(kv("/p/n/a", "new", 4, 11))),
            Decision::Applied(11)
        );
        // Someone else wrote after us, or instead of us: cannot tell.
        assert_eq!(
            judge(&expected, &last, &read(kv("/p/n/a", "other", 4, 11))),
            Decision::Unknown
        );
        assert_eq!(
            judge(&expected, &last, &read(kv("/p/n/a", "new", 5, 12))),
            Decision::Unknown
        );
        // Without a compare, an unchanged key proves nothing.
        assert_eq!(
            judge(&BTreeMap::new(), &last, &read(kv("/p/n/a", "old", 3, 10))),
            Decision::Unknown
        );
    }
}
