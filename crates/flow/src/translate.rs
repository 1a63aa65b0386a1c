//! Translation ("xlate", as OVS's ofproto-dpif-xlate): run a packet through
//! the tables, executing OpenFlow actions on a working copy of its fields,
//! and produce the datapath actions plus the megaflow mask (every bit the
//! result depended on).
//!
//! Semantics follow ovs-actions(7):
//! * `resubmit`/`goto_table` look the *modified* packet up again (set-field
//!   style actions change the working copy first); at most
//!   [`MAX_DEPTH`] nested resubmits and [`MAX_RESUBMITS`] in total, after
//!   which the packet is dropped, as OVS does.
//! * Header rewrites are committed just before each output (OVS's
//!   `commit_odp_actions`), so `strip_vlan,set_tunnel:1,output:2,output:3`
//!   becomes `pop_vlan, set_tunnel(1), output 2, output 3`.
//! * `output` to the ingress port is skipped; use `in_port` for that.
//! * A table miss drops (OVS's default table-miss behaviour for resubmit).
//! * `ct(...)` emits [`DpAction::Ct`] with the zone resolved and any `exec`
//!   mark/label writes; translation then **continues** with the next action
//!   (ct forks the pipeline). If `table=T` was given, the switch runs the
//!   packet through conntrack, sets the ct_* metadata and `recirc_id =
//!   recirc_id_for_table(T)`, and translates again: a packet whose
//!   `recirc_id` is non-zero starts at that table. Conntrack itself is
//!   therefore outside this crate; nothing here needs a conntrack trait.
//! * `learn` produces flows to add, see [`crate::learn`].

use crate::actions::*;
use crate::classifier::{Rule, RuleRef, TableSet};
use crate::fields::{prereq_holds, Field, FieldRef, Prereq};
use crate::flowvec::*;
use crate::learn::learned_flow;
use packet::flowkey::VLAN_CFI;
use std::sync::Arc;

mod commit;

/// Nested resubmit limit (OVS: MAX_DEPTH 64).
pub const MAX_DEPTH: u32 = 64;
/// Total resubmits per packet (OVS: MAX_RESUBMITS 4096).
pub const MAX_RESUBMITS: u32 = 4096;

/// The result of translating one packet.
#[derive(Clone, Debug)]
pub struct Xlate {
    /// What to do with the frame, in order; empty means drop.
    pub actions: Vec<DpAction>,
    /// The megaflow mask: every packet bit the result depended on.
    pub mask: Words,
    /// Flows that matched (their counters are bumped per packet), as
    /// references that [`TableSet::rule`] resolves.
    pub rules: RuleList,
    /// Flows that `learn` actions want added.
    pub learns: Vec<Learned>,
    /// The packet's fields after all actions (OVS's "Final flow").
    pub final_flow: Words,
}

// By hand: `Words` is longer than the arrays std implements `Default` for.
impl Default for Xlate {
    fn default() -> Self {
        Xlate {
            actions: Vec::new(),
            mask: [0; NW],
            rules: RuleList::new(),
            learns: Vec::new(),
            final_flow: [0; NW],
        }
    }
}

/// The flows one translation matched: inline up to 16 (a miss through the
/// controller's pipeline visits about a dozen tables), so a miss does not
/// allocate for them; no reference counts taken ([`RuleRef`]).
pub type RuleList = smallvec::SmallVec<[RuleRef; 16]>;

/// A flow a `learn` action wants added, with the action's `limit`
/// (0: none), which [`crate::FlowTables::apply_learned`] enforces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Learned {
    pub flow: FlowMod,
    pub limit: u32,
}

/// One line of a trace: nesting depth and text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceLine {
    pub depth: u32,
    pub text: String,
}

/// The table a packet enters at, given its `recirc_id` (0 → table 0).
#[inline]
pub fn start_table(recirc_id: u32) -> u8 {
    if recirc_id == 0 {
        0
    } else {
        (recirc_id & 0xff) as u8
    }
}

/// The `recirc_id` the switch sets after `ct(table=T)`.
#[inline]
pub fn recirc_id_for_table(t: u8) -> u32 {
    0x100 | t as u32
}

struct Ctx<'a, 't, 'x> {
    tables: &'a TableSet,
    /// The packet as the datapath has it so far: the packet handed in
    /// (`pkt`) until a commit emits a rewrite, then that commit's result
    /// (`base`). Only the bits a commit rewrites are read, so a packet whose
    /// headers are not rewritten is never copied for it.
    pkt: &'a Words,
    base: Option<Words>,
    /// Bits written by actions: the commit's outcome depends on the
    /// original values of these fields, so they join the megaflow mask.
    /// None until an action writes something other than a register:
    /// registers never reach a commit, so a miss that writes only them
    /// (most misses through a pipeline) neither clears this array nor
    /// scans it at each output.
    written: Option<Words>,
    /// The output, written in place (the flow cache hands in a recycled
    /// entry's buffers, so a miss allocates nothing for them). Its
    /// `final_flow` is the packet as the actions so far have changed it.
    x: &'x mut Xlate,
    depth: u32,
    resubmits: u32,
    stop: bool,
    /// Ends the current action list only (`dec_ttl` expiry).
    end_list: bool,
    trace: Option<&'t mut Vec<TraceLine>>,
}

/// Translates `pkt` (already flattened) through `tables`.
pub fn translate(tables: &TableSet, pkt: &Words, trace: Option<&mut Vec<TraceLine>>) -> Xlate {
    let mut x = Xlate {
        actions: Vec::with_capacity(8),
        ..Xlate::default()
    };
    translate_into(tables, pkt, trace, &mut x);
    x
}

/// [`translate`] into `out`, whose previous contents are discarded but
/// whose allocations (action and learn lists) are reused: the flow cache
/// recycles its entries this way so that a miss allocates nothing.
pub fn translate_into(
    tables: &TableSet,
    pkt: &Words,
    trace: Option<&mut Vec<TraceLine>>,
    out: &mut Xlate,
) {
    out.actions.clear();
    out.learns.clear();
    out.rules.clear();
    out.mask = [0; NW];
    let mut c = Ctx::new(tables, pkt, trace, out);
    Field::RecircId.unwildcard(&mut c.x.mask, u32::MAX as u128);
    let t = start_table(Field::RecircId.get(pkt) as u32);
    c.do_table(t);
}

/// Translates the action list of a packet-out (ovs-ofctl(8) `packet-out`,
/// OpenFlow 1.3 §7.3.7 OFPT_PACKET_OUT): `actions` run on `pkt` as a
/// flow's actions would, from table 0, so `resubmit(,T)`, `output:N`,
/// `NORMAL` and header rewrites behave as in a flow; nothing is looked up
/// until a `resubmit` asks. The megaflow mask is of no use here (nothing
/// is cached) but is computed all the same.
pub fn translate_actions(
    tables: &TableSet,
    pkt: &Words,
    actions: &[Action],
    trace: Option<&mut Vec<TraceLine>>,
) -> Xlate {
    let mut x = Xlate {
        actions: Vec::with_capacity(8),
        ..Xlate::default()
    };
    let mut c = Ctx::new(tables, pkt, trace, &mut x);
    c.do_actions(actions, 0);
    x
}

impl<'a, 't, 'x> Ctx<'a, 't, 'x> {
    fn new(
        tables: &'a TableSet,
        pkt: &'a Words,
        trace: Option<&'t mut Vec<TraceLine>>,
        x: &'x mut Xlate,
    ) -> Self {
        // The packet's working copy is the output's `final_flow` itself:
        // one 360-byte copy fewer per translation.
        x.final_flow = *pkt;
        Ctx {
            tables,
            pkt,
            base: None,
            written: None,
            x,
            depth: 0,
            resubmits: 0,
            stop: false,
            end_list: false,
            trace,
        }
    }
}

impl<'a> Ctx<'a, '_, '_> {
    fn note(&mut self, text: impl FnOnce() -> String) {
        if let Some(t) = self.trace.as_deref_mut() {
            t.push(TraceLine {
                depth: self.depth,
                text: text(),
            });
        }
    }

    fn do_table(&mut self, table: u8) {
        let tables: &TableSet = self.tables;
        let rule = tables
            .table(table)
            .lookup(&self.x.final_flow, &mut self.x.mask);
        self.run_rule(table, rule);
    }

    /// Trace, count and execute the flow a lookup in `table` found.
    ///
    /// A flow whose last action is a plain `resubmit(,T)` — every table of
    /// a pipeline but the last, typically — continues here with the flow
    /// table `T` finds instead of recursing: the same actions, notes,
    /// depths and limits as the nested call, without a call chain (and its
    /// register saves) per table.
    fn run_rule(&mut self, mut table: u8, mut rule: Option<&'a Arc<Rule>>) {
        let tables: &'a TableSet = self.tables;
        let mut levels = 0;
        while let Some(r) = rule {
            self.note(|| {
                let m = crate::print::format_match(&r.flow.matches, None);
                let m = if m.is_empty() {
                    String::new()
                } else {
                    format!("{m}, ")
                };
                format!(
                    "{table:2}. {m}priority {}{}{}",
                    r.priority(),
                    cookie_str(r.flow.cookie),
                    crate::conj::trace_note(&r.flow.matches)
                )
            });
            self.x.rules.push(r.to_ref());
            self.depth += 1;
            levels += 1;
            let (body, next) = match r.flow.actions.split_last() {
                Some((
                    a @ Action::Resubmit {
                        port: None,
                        table: t,
                        ct: false,
                    },
                    body,
                )) => (body, Some((a, t.unwrap_or(table)))),
                _ => (&r.flow.actions[..], None),
            };
            // As `do_actions` would before reaching the resubmit.
            if !self.do_actions(body, table) || self.stop {
                break;
            }
            let Some((a, next)) = next else { break };
            self.note(|| crate::print::action_str(a));
            if !self.count_resubmit() {
                break;
            }
            table = next;
            rule = tables
                .table(table)
                .lookup(&self.x.final_flow, &mut self.x.mask);
            if rule.is_none() {
                self.note(|| format!("{table:2}. No match.\n    drop"));
            }
        }
        if levels == 0 {
            self.note(|| format!("{table:2}. No match.\n    drop"));
        }
        self.depth -= levels;
    }

    /// Runs `actions`; false if they ended early (`stop`, or `dec_ttl`
    /// ending the list).
    fn do_actions(&mut self, actions: &[Action], table: u8) -> bool {
        for a in actions {
            if self.stop {
                return false;
            }
            self.note(|| crate::print::action_str(a));
            self.do_action(a, table);
            if self.end_list {
                self.end_list = false;
                return false;
            }
        }
        true
    }

    #[inline]
    fn write(&mut self, f: Field, value: u128, mask: u128) {
        let written = self.written.get_or_insert([0; NW]);
        f.write_marking(&mut self.x.final_flow, written, value, mask);
    }

    fn write_ref(&mut self, r: &FieldRef, value: u128) {
        // As `FieldRef::write`: `value`'s low `nbits` bits at `ofs`.
        self.write(r.field, value << r.ofs, r.mask());
    }

    fn consult(&mut self, f: Field, mask: u128) {
        f.unwildcard(&mut self.x.mask, mask);
    }

    fn prereq(&mut self, p: Prereq) -> bool {
        let ok = prereq_holds(p, &self.x.final_flow, &mut self.x.mask);
        if !ok {
            self.note(|| "    (skipped: field prerequisites not met)".into());
        }
        ok
    }

    fn set_field(&mut self, f: Field, value: u128, mask: u128) {
        if !self.prereq(f.info().prereq) {
            return;
        }
        match f {
            Field::DlVlan => self.set_vlan(Some(value as u16 & 0xfff), None),
            Field::DlVlanPcp => self.set_vlan(None, Some(value as u8 & 7)),
            _ => self.write(f, value, mask),
        }
    }

    /// `mod_vlan_vid` / `mod_vlan_pcp`: set VID and/or PCP, pushing a tag
    /// when the packet has none (ovs-actions(7)).
    fn set_vlan(&mut self, vid: Option<u16>, pcp: Option<u8>) {
        self.consult(Field::VlanTci, 0xffff);
        let mut tci = Field::VlanTci.get(&self.x.final_flow) as u16;
        if tci & VLAN_CFI == 0 {
            tci = 0;
        }
        if let Some(v) = vid {
            tci = (tci & 0xe000) | v;
        }
        if let Some(p) = pcp {
            tci = (tci & 0x0fff) | (p as u16) << 13;
        }
        self.write(Field::VlanTci, (tci | VLAN_CFI) as u128, 0xffff);
    }

    fn read(&mut self, r: &FieldRef) -> u128 {
        self.consult(r.field, r.mask());
        r.read(&self.x.final_flow)
    }

    fn output(&mut self, p: u32) {
        self.commit();
        let a = match p {
            port::IN_PORT => DpAction::OutputInPort,
            port::NORMAL => DpAction::Normal,
            port::FLOOD => DpAction::Flood,
            port::ALL => DpAction::All,
            port::LOCAL => DpAction::Local,
            port::CONTROLLER => self.packet_in(ControllerAction::default()),
            port::TABLE | port::NONE => {
                self.note(|| "    (skipped: not a valid output port here)".into());
                return;
            }
            _ => {
                self.consult(Field::InPort, u32::MAX as u128);
                if Field::InPort.get(&self.x.final_flow) as u32 == p {
                    self.note(|| "    (skipped: output to input port; use in_port)".into());
                    return;
                }
                DpAction::Output(p)
            }
        };
        self.x.actions.push(a);
    }

    fn do_action(&mut self, a: &Action, table: u8) {
        match a {
            Action::Output(p) => self.output(*p),
            Action::OutputReg(r) => {
                let p = self.read(r) as u32;
                self.output(p);
            }
            Action::Controller(c) => {
                self.commit();
                let a = self.packet_in(c.clone());
                self.x.actions.push(a);
            }
            Action::Enqueue { port, queue } => {
                self.commit();
                self.x.actions.push(DpAction::Enqueue {
                    port: *port,
                    queue: *queue,
                });
            }
            Action::Resubmit {
                port,
                table: t,
                ct: false,
            } => self.resubmit(*port, t.unwrap_or(table)),
            Action::Resubmit {
                port,
                table: t,
                ct: true,
            } => self.resubmit_ct(*port, t.unwrap_or(table)),
            Action::GotoTable(t) => {
                self.resubmit(None, *t);
                self.stop = self.stop || self.depth > 0;
            }
            Action::ModVlanVid(v) => self.set_vlan(Some(*v), None),
            Action::ModVlanPcp(p) => self.set_vlan(None, Some(*p)),
            Action::PushVlan(tpid) => {
                self.consult(Field::VlanTci, 0xffff);
                let tci = Field::VlanTci.get(&self.x.final_flow) as u16;
                if tci & VLAN_CFI != 0 {
                    // Already tagged: push an outer tag copying the current
                    // one (OpenFlow 1.3 §7.2.4 push_vlan).
                    self.commit();
                    self.x.actions.push(DpAction::PushVlan { tpid: *tpid, tci });
                } else {
                    self.write(Field::VlanTci, VLAN_CFI as u128, 0xffff);
                }
            }
            Action::StripVlan => {
                self.write(Field::VlanTci, 0, 0xffff);
            }
            Action::SetTunnel { id, .. } => self.write(Field::TunId, *id as u128, u64::MAX as u128),
            // Registers have no prerequisites, one fixed position and
            // nothing to commit (so they are not marked `written`): the
            // common load and set_field skip the general path.
            Action::SetField {
                field: Field::Reg(n),
                value,
                mask,
            } => Field::write_reg(*n, &mut self.x.final_flow, *value, *mask),
            Action::Load {
                dst:
                    dst @ FieldRef {
                        field: Field::Reg(n),
                        ..
                    },
                value,
            } => Field::write_reg(*n, &mut self.x.final_flow, *value << dst.ofs, dst.mask()),
            Action::SetField { field, value, mask } => self.set_field(*field, *value, *mask),
            Action::Load { dst, value } => {
                if self.prereq(dst.field.info().prereq) {
                    self.write_ref(dst, *value);
                }
            }
            Action::Move { src, dst } => {
                let v = self.read(src);
                if self.prereq(dst.field.info().prereq) {
                    self.write_ref(dst, v);
                }
            }
            Action::ModDlSrc(m) => self.set_field(Field::DlSrc, mac(m), u64::MAX as u128),
            Action::ModDlDst(m) => self.set_field(Field::DlDst, mac(m), u64::MAX as u128),
            Action::ModNwSrc(v) => self.set_field(Field::NwSrc, *v as u128, u32::MAX as u128),
            Action::ModNwDst(v) => self.set_field(Field::NwDst, *v as u128, u32::MAX as u128),
            Action::ModNwTos(t) => self.set_field(Field::NwTos, *t as u128, 0xfc),
            Action::ModTpSrc(p) => self.set_field(Field::TpSrc, *p as u128, 0xffff),
            Action::ModTpDst(p) => self.set_field(Field::TpDst, *p as u128, 0xffff),
            Action::DecTtl => {
                if self.prereq(Prereq::Ip) {
                    let ttl = self.read(&FieldRef::whole(Field::NwTtl));
                    if ttl <= 1 {
                        self.ttl_expired();
                    } else {
                        self.write(Field::NwTtl, ttl - 1, 0xff);
                    }
                }
            }
            Action::Learn(l) => {
                let f = learned_flow(l, &self.x.final_flow, &mut self.x.mask);
                self.note(|| format!("    learned:{}", crate::print::format_flow(&f, None)));
                self.x.learns.push(Learned {
                    flow: f,
                    limit: l.limit,
                });
            }
            Action::SetQueue(q) => self.x.actions.push(DpAction::SetQueue(*q)),
            Action::Meter(m) => self.x.actions.push(DpAction::Meter(*m)),
            // A conjunctive flow is never the flow a lookup returns
            // (classifier::Table::lookup), so there is nothing to execute.
            Action::Note(_) | Action::Conjunction(_) => {}
            Action::Ct(c) => self.ct(c),
            Action::CtClear => {
                self.x.actions.push(DpAction::CtClear);
                for f in [Field::CtState, Field::CtZone, Field::CtMark, Field::CtLabel] {
                    self.write(f, 0, u128::MAX);
                }
            }
        }
    }

    /// `dec_ttl` on a TTL of 0 or 1 (ovs-actions(7), "The dec_ttl
    /// action"): no decrement; a packet-in with reason `invalid_ttl` (the
    /// packet as modified so far) and the *current* action list ends — if
    /// it was reached through `resubmit`, the outer lists resume.
    fn ttl_expired(&mut self) {
        self.note(|| "    dec_ttl: TTL exceeded, packet-in (invalid_ttl)".into());
        self.commit();
        let a = self.packet_in(ControllerAction {
            reason: ControllerReason::InvalidTtl,
            ..ControllerAction::default()
        });
        self.x.actions.push(a);
        self.end_list = true;
    }

    /// A packet-in carrying the registers and `metadata` as they are now.
    /// As for `ct(table=T)`, a handler may resume the pipeline with them,
    /// so all their bits join the megaflow mask.
    fn packet_in(&mut self, action: ControllerAction) -> DpAction {
        self.unwildcard_pipeline_state();
        DpAction::Controller {
            action,
            regs: std::array::from_fn(|i| Field::Reg(i as u8).get(&self.x.final_flow) as u32),
            metadata: Field::Metadata.get(&self.x.final_flow) as u64,
        }
    }

    fn unwildcard_pipeline_state(&mut self) {
        for i in 0..16 {
            Field::Reg(i).unwildcard(&mut self.x.mask, u32::MAX as u128);
        }
        Field::Metadata.unwildcard(&mut self.x.mask, u64::MAX as u128);
    }

    /// Counts one resubmit; false (and the packet dropped) past OVS's
    /// limits.
    #[inline]
    fn count_resubmit(&mut self) -> bool {
        if self.depth >= MAX_DEPTH || self.resubmits >= MAX_RESUBMITS {
            self.resubmit_limit();
            return false;
        }
        self.resubmits += 1;
        true
    }

    #[cold]
    fn resubmit_limit(&mut self) {
        self.note(|| "    resubmit limit reached, packet dropped".into());
        self.x.actions.clear();
        self.stop = true;
    }

    fn resubmit(&mut self, port: Option<u32>, table: u8) {
        if !self.count_resubmit() {
            return;
        }
        let saved = Field::InPort.get(&self.x.final_flow);
        if let Some(p) = port {
            Field::InPort.set(&mut self.x.final_flow, p as u128);
        }
        self.do_table(table);
        if port.is_some() {
            Field::InPort.set(&mut self.x.final_flow, saved);
        }
    }

    /// `resubmit(port,table,ct)` (ovs-actions(7), "resubmit"): the lookup
    /// in `table` sees the connection's original-direction tuple
    /// (`ct_nw_src`, `ct_nw_dst`, `ct_nw_proto`, `ct_tp_src`, `ct_tp_dst`,
    /// or the IPv6 addresses) in place of the packet's fields, so one ACL
    /// table can admit replies by the rule that admitted the original
    /// direction. As OVS's `xlate_table_action`, the fields are exchanged for
    /// the lookup only; the matched flow's actions act on the packet as it
    /// is. A packet that is not IP or has no tuple (`ct_nw_proto=0`: not
    /// tracked) is not resubmitted.
    fn resubmit_ct(&mut self, port: Option<u32>, table: u8) {
        self.consult(Field::DlType, 0xffff);
        self.consult(Field::CtNwProto, 0xff);
        let ipv6 = match Field::DlType.get(&self.x.final_flow) {
            0x0800 => false,
            0x86dd => true,
            _ => return self.note(|| "    resubmit(ct) with non-IP packet: skipped".into()),
        };
        if Field::CtNwProto.get(&self.x.final_flow) == 0 {
            return self.note(|| "    resubmit(ct) with non-tracked packet: skipped".into());
        }
        if self.depth >= MAX_DEPTH || self.resubmits >= MAX_RESUBMITS {
            return self.resubmit(port, table);
        }
        self.resubmits += 1;
        let tables: &TableSet = self.tables;
        let saved = Field::InPort.get(&self.x.final_flow);
        if let Some(p) = port {
            Field::InPort.set(&mut self.x.final_flow, p as u128);
        }
        crate::ct_fields::swap_tuple(&mut self.x.final_flow, ipv6);
        crate::ct_fields::swap_tuple(&mut self.x.mask, ipv6);
        let rule = tables
            .table(table)
            .lookup(&self.x.final_flow, &mut self.x.mask);
        crate::ct_fields::swap_tuple(&mut self.x.mask, ipv6);
        crate::ct_fields::swap_tuple(&mut self.x.final_flow, ipv6);
        self.run_rule(table, rule);
        if port.is_some() {
            Field::InPort.set(&mut self.x.final_flow, saved);
        }
    }

    fn ct(&mut self, c: &CtAction) {
        let zone = match c.zone {
            None => 0,
            Some(CtZone::Imm(z)) => z,
            Some(CtZone::Field(r)) => self.read(&r) as u16,
        };
        let mut set_mark = None;
        let mut set_label = None;
        for a in &c.exec {
            let (f, v, m) = match a {
                Action::SetField { field, value, mask } => (*field, *value, *mask),
                Action::Load { dst, value } => (dst.field, value << dst.ofs, dst.mask()),
                _ => continue,
            };
            match f {
                Field::CtMark => set_mark = Some((v as u32, m as u32)),
                Field::CtLabel => set_label = Some((v, m)),
                _ => {}
            }
        }
        self.commit();
        // The registers and metadata travel with the action into the
        // recirculation: the verdict depends on all their bits.
        self.unwildcard_pipeline_state();
        self.x.actions.push(DpAction::Ct {
            zone,
            commit: c.commit,
            force: c.force,
            nat: c.nat.clone(),
            alg: c.alg.clone(),
            set_mark,
            set_label,
            recirc_table: c.table,
            regs: std::array::from_fn(|i| Field::Reg(i as u8).get(&self.x.final_flow) as u32),
            metadata: Field::Metadata.get(&self.x.final_flow) as u64,
        });
    }
}

fn mac(m: &[u8; 6]) -> u128 {
    u64::from_be_bytes([0, 0, m[0], m[1], m[2], m[3], m[4], m[5]]) as u128
}

fn cookie_str(c: u64) -> String {
    if c == 0 {
        String::new()
    } else {
        format!(", cookie {c:#x}")
    }
}
