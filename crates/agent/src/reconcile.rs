//! Reconciliation of the switch's flows with the compiled ones, by cookie
//! (each flow's cookie names the resource that produced it, see
//! controller's PIPELINE.md "Cookies"): a restarted agent, or one started
//! against a switch that kept flows, ends with exactly the compiled set
//! without clearing the bridge (no traffic gap for unchanged flows).

use std::collections::BTreeMap;

use controller::Flow;

use crate::switch::Datapath;
use crate::AgentError;

/// What to delete by cookie so that re-adding `flows` leaves exactly them.
pub fn stale_cookies(on_switch: &BTreeMap<u64, usize>, flows: &[Flow]) -> Vec<u64> {
    let mut want: BTreeMap<u64, usize> = BTreeMap::new();
    for f in flows {
        *want.entry(f.cookie).or_insert(0) += 1;
    }
    on_switch
        .iter()
        .filter(|(c, n)| want.get(c) != Some(n))
        .map(|(c, _)| *c)
        .collect()
}

/// Delete flows whose cookie no resource owns (the bridge's default
/// NORMAL flow included) or whose count differs, then add every flow
/// (add-flows replaces a flow with the same match and priority).
///
/// A cookie whose count matches but whose matches changed while the agent
/// was down keeps the stale flows beside the new ones; in the single-host
/// cloud the switch runs in the same process and restarts empty, so this
/// does not arise there.
pub fn reconcile(sw: &dyn Datapath, flows: &[Flow]) -> Result<(), AgentError> {
    let counts = sw.cookie_counts()?;
    for c in stale_cookies(&counts, flows) {
        sw.del_flows(&format!("cookie={c:#x}/-1"), false)?;
    }
    sw.add_flows(flows.iter().map(|f| f.to_string()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use controller::Key;

    fn fl(cookie: u64, prio: u16) -> Flow {
        Flow {
            cookie,
            key: Key {
                table: 0,
                priority: prio,
                matches: String::new(),
            },
            actions: "drop".into(),
        }
    }

    #[test]
    fn unknown_and_miscounted_cookies_are_stale() {
        let flows = vec![fl(1, 1), fl(1, 2), fl(2, 1)];
        let sw: BTreeMap<u64, usize> = [(0, 1), (1, 2), (2, 3), (9, 1)].into_iter().collect();
        assert_eq!(stale_cookies(&sw, &flows), vec![0, 2, 9]);
    }
}
