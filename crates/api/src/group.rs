//! Group commit: concurrent API writes share one store transaction (and so
//! one fsync), as a database log does (PostgreSQL's `commit_delay`, InnoDB's
//! binlog group commit).
//!
//! Each writer, in turn under one lock, validates its request against the
//! *working* state — the durable state plus every change staged before it —
//! and stages its changes there. A failed request stages nothing, so it
//! cannot poison the group. Whoever finds no commit in flight becomes the
//! leader: it takes every staged request, commits them in one transaction,
//! applies them to the readers' state and wakes the others. Each request is
//! answered only once its group is durable. If the transaction fails, every
//! request of the group and every request staged on top of it fails, and the
//! working state is rebuilt from the durable one.

use std::collections::HashSet;

use model::{Change, State};
use rand::rngs::StdRng;
use store::{Compare, Op};

use crate::error::ApiError;

/// One request's validated changes, waiting for its group.
pub(crate) struct Staged {
    pub seq: u64,
    pub compares: Vec<Compare>,
    pub ops: Vec<Op>,
    pub changes: Vec<Change>,
}

/// The writers' side, under the writer lock.
pub(crate) struct Writers {
    /// Durable state plus everything staged (what writers validate against).
    pub working: State,
    pub rng: StdRng,
    /// Staged, not yet taken by a leader.
    pub queue: Vec<Staged>,
    /// Sequence number of the next staged request (starts at 1).
    pub next_seq: u64,
    /// Every request with `seq <= done_upto` has its outcome.
    pub done_upto: u64,
    /// Requests (by `seq`) whose group failed, with the reason.
    pub failed: Vec<(u64, ApiError)>,
    /// A leader is committing a group.
    pub committing: bool,
}

impl Writers {
    pub fn new(working: State, rng: StdRng) -> Writers {
        Writers {
            working,
            rng,
            queue: Vec::new(),
            next_seq: 1,
            done_upto: 0,
            failed: Vec::new(),
            committing: false,
        }
    }

    /// Turn `changes` (validated against `working`) into store operations,
    /// apply them to `working` and queue them. Returns the request's
    /// sequence number, or `None` if there is nothing to store.
    pub fn stage(&mut self, mut changes: Vec<Change>) -> Result<Option<u64>, ApiError> {
        if changes.is_empty() {
            return Ok(None);
        }
        let mut compares = Vec::new();
        let mut ops = Vec::new();
        for c in changes.iter_mut() {
            match c {
                Change::Put(r) => {
                    let old = self
                        .working
                        .get(r.kind(), r.id())
                        .map(|o| o.meta().revision_number);
                    // The stored version and revision_number move together.
                    r.meta_mut().revision_number = old.map_or(1, |v| v + 1);
                    compares.push(Compare {
                        kind: r.kind().store_name().into(),
                        id: r.id().into(),
                        version: old.unwrap_or(0),
                    });
                    let value = serde_json::to_vec(&r.to_json()).map_err(ApiError::internal)?;
                    ops.push(Op::Put {
                        kind: r.kind().store_name().into(),
                        id: r.id().into(),
                        value,
                    });
                }
                Change::Delete(k, id) => {
                    if let Some(o) = self.working.get(*k, id) {
                        compares.push(Compare {
                            kind: k.store_name().into(),
                            id: id.clone(),
                            version: o.meta().revision_number,
                        });
                        ops.push(Op::Delete {
                            kind: k.store_name().into(),
                            id: id.clone(),
                        });
                    }
                }
            }
        }
        self.working.apply(&changes);
        let seq = self.next_seq;
        self.next_seq += 1;
        self.queue.push(Staged {
            seq,
            compares,
            ops,
            changes,
        });
        Ok(Some(seq))
    }

    /// The outcome of request `seq`, once its group is done.
    pub fn outcome(&mut self, seq: u64) -> Option<Result<(), ApiError>> {
        if seq > self.done_upto {
            return None;
        }
        match self.failed.iter().position(|(s, _)| *s == seq) {
            Some(i) => Some(Err(self.failed.swap_remove(i).1)),
            None => Some(Ok(())),
        }
    }

    /// Record a failed group: it and everything staged after it fail.
    /// The caller then rebuilds `working` from the durable state.
    pub fn fail(&mut self, group: &[Staged], err: &ApiError) {
        let queued = std::mem::take(&mut self.queue);
        for s in group.iter().chain(queued.iter()) {
            self.failed.push((s.seq, err.clone()));
            self.done_upto = self.done_upto.max(s.seq);
        }
    }
}

/// One transaction for a group: the ops in order, and for each key only its
/// first compare — the one made against the durable state (later ones were
/// made against the group's own earlier changes, which the ops replay).
pub(crate) fn merge(group: &[Staged]) -> (Vec<Compare>, Vec<Op>) {
    let mut seen = HashSet::new();
    let mut compares = Vec::new();
    let mut ops = Vec::new();
    for s in group {
        for c in &s.compares {
            if seen.insert((c.kind.clone(), c.id.clone())) {
                compares.push(c.clone());
            }
        }
        ops.extend(s.ops.iter().cloned());
    }
    (compares, ops)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn staged(seq: u64, kind: &str, id: &str, version: u64) -> Staged {
        Staged {
            seq,
            compares: vec![Compare {
                kind: kind.into(),
                id: id.into(),
                version,
            }],
            ops: vec![Op::Delete {
                kind: kind.into(),
                id: id.into(),
            }],
            changes: Vec::new(),
        }
    }

    #[test]
    fn merge_keeps_first_compare_per_key_and_every_op() {
        let g = vec![
            staged(1, "ports", "a", 0),
            staged(2, "ports", "a", 1),
            staged(3, "ports", "b", 4),
        ];
        let (c, o) = merge(&g);
        assert_eq!(c.len(), 2);
        assert_eq!((c[0].id.as_str(), c[0].version), ("a", 0));
        assert_eq!((c[1].id.as_str(), c[1].version), ("b", 4));
        assert_eq!(o.len(), 3);
    }

    #[test]
    fn failed_group_fails_later_staged_requests_too() {
        let mut w = Writers::new(State::default(), StdRng::seed_from_u64(1));
        w.queue.push(staged(3, "ports", "c", 0));
        let group = vec![staged(1, "ports", "a", 0), staged(2, "ports", "b", 0)];
        w.fail(&group, &ApiError::internal("disk full"));
        assert!(w.queue.is_empty());
        for s in 1..=3 {
            assert_eq!(w.outcome(s).map(|r| r.is_err()), Some(true), "seq {s}");
        }
        assert_eq!(w.outcome(4), None, "not yet staged");
    }
}
