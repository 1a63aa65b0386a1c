//! The text a person reads: the packet, the logical stages with the
//! resource that decided each, the verdict, then the physical flows in
//! `ofproto/trace` layout (ovs-vswitchd(8)).

use std::fmt::Write;

use super::describe::named;
use super::{ResourceRef, TraceReport, Verdict};

/// Kinds whose detail is the decision itself (a port's is in the header).
const DETAILED: [&str; 4] = [
    "security group rule",
    "port security groups",
    "router",
    "floating IP",
];

fn res_str(r: &ResourceRef) -> String {
    let who = if r.id.is_empty() {
        r.kind.clone()
    } else {
        format!("{} {}", r.kind, named(&r.name, &r.id))
    };
    if r.detail.is_empty() {
        who
    } else {
        format!("{who}: {}", r.detail)
    }
}

impl TraceReport {
    /// One line: delivered where, answered how, or dropped where and why.
    pub fn verdict_line(&self) -> String {
        match &self.verdict {
            Verdict::Output { ports, uplinks } => {
                let mut to: Vec<String> = ports
                    .iter()
                    .map(|p| format!("port {}", named(&p.name, &p.id)))
                    .collect();
                to.extend(uplinks.iter().map(|u| format!("uplink of {u}")));
                format!("output to {}", to.join(", "))
            }
            Verdict::Local { action } => format!("answered by the switch: {action}"),
            Verdict::Drop { stage, reason, .. } => format!("dropped in {stage}: {reason}"),
        }
    }

    /// The report as text.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "Trace from {}", res_str(&self.from));
        let _ = writeln!(
            s,
            "Packet: {} (conntrack state assumed: {})",
            self.flow,
            self.ct_state.flags()
        );
        let _ = writeln!(s, "\nLogical stages:");
        for st in &self.steps {
            let prio = st.priority.map_or("miss".to_string(), |p| format!("p{p}"));
            let _ = writeln!(
                s,
                "  {:<20} table {:<3} {:<6} {}",
                st.stage, st.table, prio, st.effect
            );
            if let Some(r) = st.resource.as_ref().filter(|r| !r.id.is_empty()) {
                let by = if DETAILED.contains(&r.kind.as_str()) {
                    res_str(r)
                } else {
                    format!("{} {}", r.kind, named(&r.name, &r.id))
                };
                let _ = writeln!(s, "{:37}by {by}", "");
            }
        }
        let _ = writeln!(s, "\nVerdict: {}", self.verdict_line());
        if let Verdict::Drop {
            resource: Some(r), ..
        } = &self.verdict
        {
            let _ = writeln!(s, "Responsible: {}", res_str(r));
        }
        let _ = writeln!(s, "\nPhysical flows:");
        for (i, p) in self.passes.iter().enumerate() {
            let ct =
                p.ct.as_deref()
                    .map_or(String::new(), |c| format!(" (after ct: {c})"));
            let _ = writeln!(s, "  pass {i}{ct}: {}", p.flow);
            for h in &p.hits {
                match h.priority {
                    None => {
                        let _ = writeln!(s, "    {:>2}. No match. drop", h.table);
                    }
                    Some(pr) => {
                        let sep = if h.matches.is_empty() { "" } else { ", " };
                        let _ = writeln!(
                            s,
                            "    {:>2}. {}{sep}priority {pr}, cookie {:#x}",
                            h.table, h.matches, h.cookie
                        );
                        let acts = if h.actions.is_empty() {
                            "drop".to_string()
                        } else {
                            h.actions.join(", ")
                        };
                        let _ = writeln!(s, "        {acts}");
                    }
                }
            }
            let _ = writeln!(s, "    Datapath actions: {}", p.datapath_actions);
        }
        s
    }
}
