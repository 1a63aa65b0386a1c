//! Security groups as conjunctive matches (ovs-fields(7), "Conjunctive
//! Match Fields"), as OVN compiles ACLs on port groups and address sets.
//!
//! A rule `r` of group `G` (direction ingress = to the VM = the switch's
//! egress ACL table matching `reg15`; egress = from the VM = the ingress
//! ACL table matching `reg14`) becomes `conj_id=c_r` plus up to three
//! dimensions, all at priority [`acl::ALLOW_CONJ`]:
//!
//! 1. the ports: `reg15=K_p,ct_state=-rpl+trk` for each port `p` in `G`,
//!    owned by [`Owner::PortAcl`]`(p)`;
//! 2. the protocol and port range: `tcp,tp_dst=V/M`…, owned by the rule;
//! 3. the remote: a CIDR (`ip,nw_src=N`, owned by the rule) or, for a
//!    remote group `R`, one flow per address of each member of `R`, owned
//!    by that member's [`Owner::PortAcl`] — an address set.
//!
//! Every packet of a connection meets the rules, not only the first
//! (OVN applies ACL changes to existing connections the same way, OVS
//! commit 56ccd8bc "ovn: Apply ACL changes to existing connections"): the
//! original direction as above (new: committed; established: passed), and
//! the reply direction by the same rule compiled a second time in the
//! *other* ACL table, on the connection's original tuple (`ct_nw_src`,
//! `ct_nw_proto`, `ct_tp_dst`…, ovs-fields(7) "Connection Tracking
//! Fields") with `ct_state=+est+rpl` and the opposite port register. A
//! removed rule therefore cuts both directions of what it admitted on the
//! next packet, whichever side sends it, and nothing needs deleting from
//! conntrack — a deleted entry would let the peer commit the connection
//! afresh under its own rules, with the cut side's packets as replies.
//! Conntrack zones are per port ([`crate::ctx::Cx::port_zone`]), so each
//! port's verdict rests on its own zone's state and its own rules only.
//!
//! Flows with the same match and priority are merged into one with all
//! their `conjunction` actions ([`crate::flowset`]), so a port in `G`
//! costs two flows per direction, an address two flows per direction, a
//! rule two `conj_id` flows plus twice its port-range masks: linear in
//! ports plus addresses plus rules, never their product. A port joining a
//! group changes only its own two kinds of flows.

use std::fmt::Write;
use std::net::IpAddr;

use ipnet::IpNet;
use model::SecurityGroupRule;

use hashbrown::HashMap;

use crate::ctx::{conj_id, secured, stateless, Cx};
use crate::flowset::LFlow;
use crate::index::Index;
use crate::keys::Keys;
use crate::tables::{self as t, acl, reg};
use crate::{util, CompileError};

/// The table, register and address side of a rule's direction, for its
/// original-direction packets and (`r…`) for the replies.
struct Dir {
    table: u8,
    next: u8,
    port_reg: &'static str,
    /// Remote addresses are the connection's source (ingress rules).
    remote_is_src: bool,
    /// Replies cross the other ACL table, with the other port register.
    rtable: u8,
    rnext: u8,
    rport_reg: &'static str,
}

fn dir(r: &SecurityGroupRule) -> Dir {
    dir_of(is_ingress(r))
}

/// Neutron's `direction`: anything but `ingress` is egress.
fn is_ingress(r: &SecurityGroupRule) -> bool {
    r.direction == "ingress"
}

fn dir_of(ingress: bool) -> Dir {
    let (to_vm, from_vm) = (
        (t::LS_OUT_ACL, t::LS_OUT_PORT_SEC, reg::OUTPORT),
        (t::LS_IN_ACL, t::LS_IN_ARP_ND_RSP, reg::INPORT),
    );
    let (o, rp) = if ingress {
        (to_vm, from_vm)
    } else {
        (from_vm, to_vm)
    };
    Dir {
        table: o.0,
        next: o.1,
        port_reg: o.2,
        remote_is_src: ingress,
        rtable: rp.0,
        rnext: rp.1,
        rport_reg: rp.2,
    }
}

/// Whether `r`'s group tracks connections (Neutron `stateful`, the
/// default).
fn rule_stateful(st: &model::State, r: &SecurityGroupRule) -> bool {
    st.security_groups
        .get(&r.security_group_id)
        .is_none_or(|g| g.stateful)
}

/// `ip,ct_nw_src=…` (or `ct_nw_dst`, `ct_ipv6_*`): the remote as the
/// connection's original tuple names it, for the reply-direction flows.
fn ct_addr_match(n: &IpNet, src: bool) -> String {
    let (eth, field) = match (n, src) {
        (IpNet::V4(_), true) => ("ip", "ct_nw_src"),
        (IpNet::V4(_), false) => ("ip", "ct_nw_dst"),
        (IpNet::V6(_), true) => ("ipv6", "ct_ipv6_src"),
        (IpNet::V6(_), false) => ("ipv6", "ct_ipv6_dst"),
    };
    if n.prefix_len() == n.max_prefix_len() {
        format!("{eth},{field}={}", n.addr())
    } else {
        format!("{eth},{field}={n}")
    }
}

fn v6(r: &SecurityGroupRule) -> bool {
    r.ethertype.eq_ignore_ascii_case("IPv6")
}

/// The L4 dimension's matches (one per port-range mask): on the packet's
/// fields, or (`ct`) on the connection's original tuple for replies —
/// there ICMP is matched by protocol only, its type and code being the
/// request's, not the reply's (a tracked ICMP connection is an echo,
/// keyed by identifier).
fn l4(r: &SecurityGroupRule, ct: bool) -> Result<Vec<String>, CompileError> {
    let id = &r.meta.id;
    let eth = if v6(r) { "ipv6" } else { "ip" };
    let proto = r.protocol.as_deref().map(str::to_ascii_lowercase);
    let (name, num) = match proto.as_deref() {
        None | Some("any") | Some("") => return Ok(vec![eth.to_string()]),
        Some("tcp") | Some("6") => ("tcp", 6),
        Some("udp") | Some("17") => ("udp", 17),
        Some("sctp") | Some("132") => ("sctp", 132),
        Some("icmp") | Some("1") if !v6(r) => ("icmp", 1),
        Some("icmp") | Some("ipv6-icmp") | Some("icmpv6") | Some("58") => ("icmp6", 58),
        Some(other) => {
            let n: u8 = other
                .parse()
                .map_err(|_| CompileError::bad("security group rule", id, "protocol", other))?;
            let f = if ct { "ct_nw_proto" } else { "nw_proto" };
            return Ok(vec![format!("{eth},{f}={n}")]);
        }
    };
    // The protocol alone; `tp_dst` or `ct_tp_dst` for ports.
    let (base, tp) = if ct {
        (format!("{eth},ct_nw_proto={num}"), "ct_tp_dst")
    } else {
        (name.to_string(), "tp_dst")
    };
    let (lo, hi) = (r.port_range_min, r.port_range_max);
    if num == 1 || num == 58 {
        if ct {
            return Ok(vec![base]);
        }
        // For ICMP, port_range_min/max are the type and code.
        return Ok(vec![match (lo, hi) {
            (Some(ty), Some(code)) => format!("{name},icmp_type={ty},icmp_code={code}"),
            (Some(ty), None) => format!("{name},icmp_type={ty}"),
            _ => base,
        }]);
    }
    let check = |v: u32| {
        u16::try_from(v)
            .map_err(|_| CompileError::bad("security group rule", id, "port", &v.to_string()))
    };
    Ok(match (lo, hi) {
        (None, None) => vec![base],
        (lo, hi) => {
            let lo = check(lo.or(hi).unwrap_or(0))?;
            let hi = check(hi.or(Some(lo as u32)).unwrap_or(0))?;
            util::port_masks(lo, hi.max(lo))
                .into_iter()
                .map(|(v, m)| {
                    if m == 0xffff {
                        format!("{base},{tp}={v}")
                    } else if m == 0 {
                        base.clone()
                    } else {
                        format!("{base},{tp}={v:#x}/{m:#x}")
                    }
                })
                .collect()
        }
    })
}

/// The remote CIDR of a rule, if it restricts anything.
fn remote_cidr(r: &SecurityGroupRule) -> Result<Option<IpNet>, CompileError> {
    match r.remote_ip_prefix.as_deref() {
        None | Some("") => Ok(None),
        Some(s) => {
            let n = util::net("security group rule", &r.meta.id, s)?;
            Ok((n.prefix_len() != 0).then_some(n))
        }
    }
}

/// How many dimensions a rule's conjunction has.
fn n_dims(r: &SecurityGroupRule) -> Result<u8, CompileError> {
    Ok(
        if r.remote_group_id.is_some() || remote_cidr(r)?.is_some() {
            3
        } else {
            2
        },
    )
}

/// A rule's own flows: `conj_id`, the L4 dimension, a remote CIDR — for
/// its direction, and for a stateful group's rule the same on the
/// replies' side.
pub(crate) fn rule(cx: &mut Cx, id: &str) -> Result<Vec<LFlow>, CompileError> {
    let Some(r) = cx.st.rules.get(id) else {
        return Ok(vec![]);
    };
    let c = cx.conj_id(id)?;
    let d = dir(r);
    let n = n_dims(r)?;
    let p = acl::ALLOW_CONJ;
    let remote = remote_cidr(r)?;
    let mut v = Vec::new();
    if rule_stateful(cx.st, r) {
        // A new connection is committed in the port's zone; an
        // established one passes while the rule stands.
        let commit = format!("ct(commit,zone={}),", reg::ZONE_FIELD);
        v.push(LFlow::new(
            d.table,
            p,
            format!("conj_id={c},ct_state=+new+trk"),
            format!("{commit}resubmit(,{})", d.next),
        ));
        v.push(LFlow::new(
            d.table,
            p,
            format!("conj_id={c},ct_state=-new+trk"),
            format!("resubmit(,{})", d.next),
        ));
        // Replies: the same rule on the connection's original tuple.
        v.push(LFlow::new(
            d.rtable,
            p,
            format!("conj_id={c}"),
            format!("resubmit(,{})", d.rnext),
        ));
        for m in l4(r, true)? {
            v.push(LFlow::new(
                d.rtable,
                p,
                m,
                format!("conjunction({c},2/{n})"),
            ));
        }
        if let Some(net) = remote {
            v.push(LFlow::new(
                d.rtable,
                p,
                ct_addr_match(&net, d.remote_is_src),
                format!("conjunction({c},3/{n})"),
            ));
        }
    } else {
        // A stateless group's rules pass packets without committing them
        // (Neutron `stateful=false`); replies need rules of their own.
        v.push(LFlow::new(
            d.table,
            p,
            format!("conj_id={c}"),
            format!("resubmit(,{})", d.next),
        ));
    }
    for m in l4(r, false)? {
        v.push(LFlow::new(d.table, p, m, format!("conjunction({c},2/{n})")));
    }
    if let Some(net) = remote {
        v.push(LFlow::new(
            d.table,
            p,
            util::addr_match(&net, d.remote_is_src),
            format!("conjunction({c},3/{n})"),
        ));
    }
    Ok(v)
}

/// What [`port_acl`] needs of the rules of each group, found once per
/// compile pass rather than once per member port. A port's `conjunction`
/// actions depend only on its set of groups, so they are written once per
/// set: at scale (issue 9: a group of 50 rules, 10 members) a port costs
/// a few string copies, not 50 rule lookups and 150 formatted actions.
/// Valid for one pass only: the intent may change between passes.
#[derive(Debug, Default)]
pub(crate) struct Memo {
    /// Group → its rules that compile: (conj_id, dimensions, ingress).
    members: HashMap<String, Vec<(u32, u8, bool)>>,
    /// Group → the rules naming it as their remote group.
    remotes: HashMap<String, Vec<Remote>>,
    /// Sorted, deduplicated group IDs joined by '\n' → their actions.
    sets: HashMap<String, SetActions>,
}

/// A rule naming a group as remote, as that group's members see it.
#[derive(Debug, Clone, Copy)]
struct Remote {
    conj: u32,
    ingress: bool,
    v6: bool,
    /// Its group tracks connections: replies meet it on the original
    /// tuple.
    stateful: bool,
}

/// The '\n'-separated `conjunction` actions a set of groups gives its
/// members, each part computed on first use (so conjunction IDs are
/// allocated in the order a rule-by-rule walk of the ports would).
#[derive(Debug, Default)]
struct SetActions {
    /// Dimension 1 per rule direction (ingress, egress); a stateful
    /// port's reply flows carry the same.
    dim1: Option<[String; 2]>,
    /// Address-set membership per address family (IPv4, IPv6): [`Pair`].
    addr: Option<[Pair; 2]>,
}

/// Per rule direction (ingress, egress): the actions of the
/// original-direction flow and of the reply flow.
type Pair = [[String; 2]; 2];

impl Memo {
    /// `group`'s rules that compile, in the index's order.
    fn members(
        &mut self,
        st: &model::State,
        ix: &Index,
        keys: &mut Keys,
        group: &str,
    ) -> Result<&[(u32, u8, bool)], CompileError> {
        if !self.members.contains_key(group) {
            let mut v = Vec::new();
            for rid in Index::get(&ix.group_rules, group) {
                let Some(r) = st.rules.get(rid) else { continue };
                let Ok(n) = n_dims(r) else { continue };
                v.push((conj_id(keys, rid)?, n, is_ingress(r)));
            }
            self.members.insert(group.to_string(), v);
        }
        Ok(self.members.get(group).map_or(&[], Vec::as_slice))
    }

    /// The rules naming `group` as remote.
    fn remotes(
        &mut self,
        st: &model::State,
        ix: &Index,
        keys: &mut Keys,
        group: &str,
    ) -> Result<&[Remote], CompileError> {
        if !self.remotes.contains_key(group) {
            let mut v = Vec::new();
            for rid in Index::get(&ix.remote_rules, group) {
                let Some(r) = st.rules.get(rid) else { continue };
                v.push(Remote {
                    conj: conj_id(keys, rid)?,
                    ingress: is_ingress(r),
                    v6: v6(r),
                    stateful: rule_stateful(st, r),
                });
            }
            self.remotes.insert(group.to_string(), v);
        }
        Ok(self.remotes.get(group).map_or(&[], Vec::as_slice))
    }

    /// Dimension-1 actions of a member of `groups` (sorted, deduplicated).
    fn dim1(&mut self, cx: Ctx, groups: &[&String]) -> Result<&[String; 2], CompileError> {
        let set = groups_key(groups);
        if self.sets.get(&set).is_none_or(|s| s.dim1.is_none()) {
            let mut dim1: [String; 2] = Default::default();
            let mut action = String::new();
            for g in groups {
                for &(c, n, ingress) in self.members(cx.0, cx.1, cx.2, g)? {
                    action.clear();
                    let _ = write!(action, "conjunction({c},1/{n})");
                    append(&mut dim1[usize::from(!ingress)], &action);
                }
            }
            self.sets.entry(set.clone()).or_default().dim1 = Some(dim1);
        }
        Ok(self.sets[&set].dim1.as_ref().unwrap_or(&EMPTY_DIM1))
    }

    /// Address-set actions of a member of `groups`, per address family.
    fn addr(&mut self, cx: Ctx, groups: &[&String]) -> Result<&[Pair; 2], CompileError> {
        let set = groups_key(groups);
        if self.sets.get(&set).is_none_or(|s| s.addr.is_none()) {
            let mut addr: [Pair; 2] = Default::default();
            let mut action = String::new();
            for g in groups {
                for r in self.remotes(cx.0, cx.1, cx.2, g)? {
                    action.clear();
                    let _ = write!(action, "conjunction({},3/3)", r.conj);
                    let [orig, reply] = &mut addr[usize::from(r.v6)][usize::from(!r.ingress)];
                    append(orig, &action);
                    if r.stateful {
                        append(reply, &action);
                    }
                }
            }
            self.sets.entry(set.clone()).or_default().addr = Some(addr);
        }
        Ok(self.sets[&set].addr.as_ref().unwrap_or(&EMPTY_ADDR))
    }
}

/// What [`Memo`] reads to fill itself: the intent, the index, the keys.
type Ctx<'a, 'b> = (&'a model::State, &'a Index, &'b mut Keys);

static EMPTY_DIM1: [String; 2] = [String::new(), String::new()];
static EMPTY_ADDR: [Pair; 2] = [
    [
        [String::new(), String::new()],
        [String::new(), String::new()],
    ],
    [
        [String::new(), String::new()],
        [String::new(), String::new()],
    ],
];

fn groups_key(groups: &[&String]) -> String {
    let mut k = String::new();
    for g in groups {
        append(&mut k, g);
    }
    k
}

/// Append one `conjunction` action to a flow's '\n'-separated list (the
/// separator [`crate::flowset`] merges contributions by).
fn append(acts: &mut String, action: &str) {
    if !acts.is_empty() {
        acts.push('\n');
    }
    acts.push_str(action);
}

/// A port's membership flows: its dimension-1 flow for every rule of its
/// groups, and its addresses in the address sets of the groups it is in.
///
/// Each flow's match depends only on the port (or address) and the rule's
/// direction, so the matches are written once per port and the rules only
/// append their `conjunction` actions: a port in a group of 50 rules costs
/// four strings, not 150 (issue 9's scale target).
pub(crate) fn port_acl(cx: &mut Cx, id: &str) -> Result<Vec<LFlow>, CompileError> {
    let st = cx.st;
    let ix = cx.ix;
    let Some(p) = st.ports.get(id) else {
        return Ok(vec![]);
    };
    if !st.networks.contains_key(&p.network_id) {
        return Ok(vec![]);
    }
    let pa = acl::ALLOW_CONJ;
    let mut groups: Vec<&String> = p.security_groups.iter().collect();
    groups.sort_unstable();
    groups.dedup();
    // One flow per (table, match) carrying every conjunction the port
    // takes part in; rules that do not compile are skipped here (their
    // own owner reports the error).
    let mut acc: std::collections::BTreeMap<(u8, String), String> = Default::default();
    if secured(p) && cx.b.ports.contains_key(id) {
        let k = cx.port_key(id)?;
        // Stateful ports: the rules see every tracked packet, the
        // original direction as it is and replies by their connection's
        // original tuple; stateless ports: every packet as it is.
        let stateful = !stateless(st, p);
        let dim1 = cx.acl.dim1((st, ix, cx.keys), &groups)?;
        for (ingress, acts) in [true, false].into_iter().zip(dim1) {
            let d = dir_of(ingress);
            if acts.is_empty() {
                continue;
            }
            if stateful {
                acc.insert(
                    (d.table, format!("{}={k:#x},ct_state=-rpl+trk", d.port_reg)),
                    acts.clone(),
                );
                acc.insert(
                    (
                        d.rtable,
                        format!("{}={k:#x},ct_state=+est+rpl+trk", d.rport_reg),
                    ),
                    acts.clone(),
                );
            } else {
                acc.insert((d.table, format!("{}={k:#x}", d.port_reg)), acts.clone());
            }
        }
    }
    // Address sets: the port's addresses (fixed IPs and allowed pairs)
    // for every rule naming one of its groups as remote. An address
    // listed twice (a pair repeating a fixed IP) is one member.
    let mut nets: Vec<IpNet> = Vec::new();
    let addrs = cx.addrs(p)?.into_iter().map(|a| Ok(IpNet::from(a.ip)));
    let pairs = p
        .allowed_address_pairs
        .iter()
        .map(|ap| util::net("port", id, &ap.ip_address));
    for net in addrs.chain(pairs) {
        let net = net?;
        if !nets.contains(&net) {
            nets.push(net);
        }
    }
    let addr = cx.acl.addr((st, ix, cx.keys), &groups)?;
    for net in &nets {
        let family = &addr[usize::from(matches!(net.addr(), IpAddr::V6(_)))];
        for (ingress, [orig, reply]) in [true, false].into_iter().zip(family) {
            let d = dir_of(ingress);
            if !orig.is_empty() {
                acc.insert(
                    (d.table, util::addr_match(net, d.remote_is_src)),
                    orig.clone(),
                );
            }
            if !reply.is_empty() {
                acc.insert(
                    (d.rtable, ct_addr_match(net, d.remote_is_src)),
                    reply.clone(),
                );
            }
        }
    }
    let v = acc
        .into_iter()
        .map(|((table, m), acts)| LFlow::new(table, pa, m, acts))
        .collect();
    Ok(v)
}
