//! Conjunctive matches (ovs-fields(7), "Conjunctive Match Fields";
//! ovs-actions(7)/ovs-ofctl(8), `conjunction(id, k/n)`).
//!
//! A conjunctive match `id` with `n` dimensions is spelled as flows whose
//! only actions are `conjunction(id, k/n)`: each such flow is one
//! alternative of dimension `k`. A packet satisfies the conjunction when,
//! for every dimension `1..=n`, at least one of its flows matches — all at
//! the same priority. The table is then looked up again with the packet's
//! `conj_id` set to `id`, and the flow that lookup finds (typically
//! `conj_id=id actions=...`) is the result. This expresses a cross product
//! such as "source in {A, B, C} and port in {22, 80}" with 3 + 2 flows
//! instead of 3 × 2.
//!
//! The rules, as OVS's lib/classifier.c applies them:
//! * Flows with `conjunction` actions are *soft* matches; all others are
//!   *hard*. A soft match counts only if its priority is strictly higher
//!   than the best hard match: at equal priority the ordinary flow wins.
//! * Soft matches are considered highest priority first. At one priority,
//!   every conjunction whose dimensions are all covered is tried in
//!   ascending `id` order (OVS leaves the order unspecified; ascending makes
//!   it deterministic); the first whose second lookup finds a flow wins.
//!   If none does, the next lower priority of soft matches is tried, and
//!   finally the hard match (or the miss).
//! * The second lookup ignores soft matches; the flow it finds is returned
//!   whatever its priority. It is a whole lookup of the packet with
//!   `conj_id=id`, so a flow that does not match on `conj_id` at all (a
//!   catch-all) is found too unless a `conj_id=id` flow outranks it; write
//!   `conj_id=0` in flows that must only see packets outside conjunctions.
//! * Clauses are grouped by `(id, n)`: flows that disagree on `n` for one
//!   `id` never complete each other.
//! * A flow may carry several `conjunction` actions (it is then a clause of
//!   several conjunctions), and `note` actions, but no other action
//!   (ovs-ofctl(8)); it may not match on `conj_id`.
//! * The flows that only carry `conjunction` actions never execute
//!   anything, and their counters are not bumped: only the `conj_id` flow's
//!   are.

use crate::actions::{Action, Conjunction};
use crate::classifier::Rule;
use crate::fields::Field;
use crate::matching::Match;
use std::sync::Arc;

/// Largest `n` of `conjunction(id, k/n)` (ovs-ofctl(8)).
pub const MAX_CLAUSES: u8 = 64;

/// The `conjunction` actions of a flow.
pub fn conjunctions(actions: &[Action]) -> impl Iterator<Item = &Conjunction> {
    actions.iter().filter_map(|a| match a {
        Action::Conjunction(c) => Some(c),
        _ => None,
    })
}

/// Whether a flow with these actions is part of a conjunctive match.
pub fn is_conjunctive(actions: &[Action]) -> bool {
    actions.iter().any(|a| matches!(a, Action::Conjunction(_)))
}

/// Checks one `conjunction(id, k/n)`: `2 <= n <= 64` and `1 <= k <= n`.
pub fn check_conjunction(c: &Conjunction) -> Result<(), String> {
    if c.n_clauses < 2 || c.n_clauses > MAX_CLAUSES {
        return Err(format!(
            "conjunction({},{}/{}): n must be between 2 and {MAX_CLAUSES}",
            c.id, c.clause, c.n_clauses
        ));
    }
    if c.clause < 1 || c.clause > c.n_clauses {
        return Err(format!(
            "conjunction({},{}/{}): k must be between 1 and n",
            c.id, c.clause, c.n_clauses
        ));
    }
    Ok(())
}

/// Checks a flow's use of conjunctions: `conjunction` may be combined with
/// other `conjunction` actions and `note`, but with nothing else, and such
/// a flow may not match `conj_id` (ovs-ofctl(8), ovs-fields(7)).
pub fn check_flow(matches: &Match, actions: &[Action]) -> Result<(), String> {
    let mut n = 0;
    for c in conjunctions(actions) {
        check_conjunction(c)?;
        n += 1;
    }
    if n == 0 {
        return Ok(());
    }
    if let Some(other) = actions
        .iter()
        .find(|a| !matches!(a, Action::Conjunction(_) | Action::Note(_)))
    {
        return Err(format!(
            "\"conjunction\" actions may be used along with \"note\" but not with {}",
            crate::print::action_str(other)
        ));
    }
    if matches.has(Field::ConjId) {
        return Err("a flow with \"conjunction\" actions may not match on conj_id".into());
    }
    Ok(())
}

/// The trace line for a flow found through a conjunction: a flow matching
/// a non-zero `conj_id` is only ever reached that way.
pub(crate) fn trace_note(m: &Match) -> String {
    match m.get(Field::ConjId) {
        (id, mask) if mask != 0 && id != 0 => format!("\n    (conjunction({id}) matched)"),
        _ => String::new(),
    }
}

/// Coverage of one conjunction among the soft matches of one priority.
struct Coverage {
    id: u32,
    n: u8,
    clauses: u64,
}

impl Coverage {
    fn complete(&self) -> bool {
        let all = u64::MAX >> (64 - u32::from(self.n));
        self.clauses & all == all
    }
}

/// The conjunction ids completed by the soft matches at `priority`, in
/// ascending order.
pub(crate) fn completed(soft: &[&Arc<Rule>], priority: u16) -> Vec<u32> {
    let mut cov: Vec<Coverage> = Vec::new();
    for r in soft.iter().filter(|r| r.priority() == priority) {
        for c in conjunctions(&r.flow.actions) {
            if check_conjunction(c).is_err() {
                continue;
            }
            let bit = 1u64 << (c.clause - 1);
            match cov.iter_mut().find(|x| x.id == c.id && x.n == c.n_clauses) {
                Some(x) => x.clauses |= bit,
                None => cov.push(Coverage {
                    id: c.id,
                    n: c.n_clauses,
                    clauses: bit,
                }),
            }
        }
    }
    let mut ids: Vec<u32> = cov.iter().filter(|c| c.complete()).map(|c| c.id).collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(id: u32, k: u8, n: u8) -> Action {
        Action::Conjunction(Conjunction {
            id,
            clause: k,
            n_clauses: n,
        })
    }

    #[test]
    fn ranges_are_checked() {
        let m = Match::catchall();
        assert!(check_flow(&m, &[c(1, 1, 2), c(2, 2, 2)]).is_ok());
        assert!(check_flow(&m, &[c(1, 1, 1)]).is_err());
        assert!(check_flow(&m, &[c(1, 0, 2)]).is_err());
        assert!(check_flow(&m, &[c(1, 3, 2)]).is_err());
        assert!(check_flow(&m, &[c(1, 64, 64)]).is_ok());
        assert!(check_flow(&m, &[c(1, 1, 65)]).is_err());
    }

    #[test]
    fn mixing_is_refused() {
        let m = Match::catchall();
        assert!(check_flow(&m, &[c(1, 1, 2), Action::Note(vec![1])]).is_ok());
        let e = check_flow(&m, &[c(1, 1, 2), Action::Output(3)]).unwrap_err();
        assert!(e.contains("output:3"), "{e}");
        let mut m = Match::catchall();
        m.set(Field::ConjId, 7);
        assert!(check_flow(&m, &[c(1, 1, 2)]).is_err());
        assert!(check_flow(&m, &[Action::Output(1)]).is_ok());
    }

    #[test]
    fn full_coverage_at_sixty_four() {
        let cov = Coverage {
            id: 1,
            n: 64,
            clauses: u64::MAX,
        };
        assert!(cov.complete());
        let cov = Coverage {
            id: 1,
            n: 3,
            clauses: 0b011,
        };
        assert!(!cov.complete());
    }
}
