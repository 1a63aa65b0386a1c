//! Executing `learn` (ovs-actions(7), "The learn action"): building the
//! flow to add from the packet being translated.
//!
//! Translation never mutates the tables (it runs under a read lock, and a
//! cached verdict must not depend on side effects). Instead it returns the
//! learned [`FlowMod`]s in [`crate::Xlate::learns`] and the switch applies
//! them with [`crate::FlowTables::apply_learned`] after executing the
//! packet. The fields a learn reads are added to the megaflow mask, so every
//! packet that hits the same cache entry would learn the very same flow: the
//! cache stores the learned flows and they are re-applied on every hit
//! (refreshing the learned flow's hard timeout, as OVS does).

use crate::actions::{Action, FlowFlags, FlowMod, LearnAction, LearnSpec, Src};
use crate::fields::FieldRef;
use crate::flowvec::Words;
use crate::matching::Match;

fn read_src(src: &Src, flow: &Words, consulted: &mut Words) -> u128 {
    match src {
        Src::Imm(v) => *v,
        Src::Field(r) => read_ref(r, flow, consulted),
    }
}

fn read_ref(r: &FieldRef, flow: &Words, consulted: &mut Words) -> u128 {
    r.field.unwildcard(consulted, r.mask());
    r.read(flow)
}

/// Builds the flow that `learn` adds for the packet `flow`, recording the
/// fields read in `consulted`.
pub fn learned_flow(l: &LearnAction, flow: &Words, consulted: &mut Words) -> FlowMod {
    let mut m = Match::catchall();
    let mut actions = Vec::new();
    for spec in &l.specs {
        match spec {
            LearnSpec::Match { dst, src } => {
                let v = read_src(src, flow, consulted);
                m.set_masked(dst.field, v << dst.ofs, dst.mask());
            }
            LearnSpec::Load { dst, src } => {
                let value = read_src(src, flow, consulted);
                actions.push(Action::Load { dst: *dst, value });
            }
            LearnSpec::Output { src } => {
                let p = read_ref(src, flow, consulted);
                actions.push(Action::Output(p as u32));
            }
        }
    }
    FlowMod {
        table: l.table,
        priority: l.priority,
        cookie: l.cookie,
        idle_timeout: l.idle_timeout,
        hard_timeout: l.hard_timeout,
        flags: FlowFlags {
            send_flow_rem: l.send_flow_rem,
            ..FlowFlags::default()
        },
        matches: m,
        actions,
        ..FlowMod::default()
    }
}
