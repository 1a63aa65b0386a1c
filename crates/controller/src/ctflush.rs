//! Which tracked connections a change of the security policy cuts: the
//! conntrack flushes the agent asks the switch for once the change's new
//! flows are in (PIPELINE.md, "Security groups").
//!
//! Established connections pass the ACL stage on conntrack's say-so
//! (`ct_state=-new+est`) without consulting any rule, so removing a rule
//! alone would leave them running. Neutron deletes the conntrack entries
//! such a change stops allowing (its `ip_conntrack` manager, used by the
//! iptables and OVS firewall drivers), and so do we, per affected port, in
//! the network's zone, on the host where the port is bound:
//!
//! * a **rule removed** (or changed): for each port of its group, the
//!   connections the rule could have admitted — toward the port's
//!   addresses for an ingress rule, from them for an egress rule, of the
//!   rule's protocol, destination port (when the rule names exactly one)
//!   and remote CIDR;
//! * a **port leaving a group**: the same for every rule of that group, on
//!   that port;
//! * a **member leaving a remote group** (port removed from the group, or
//!   deleted, or losing an address): for each rule naming that group as
//!   remote, on each port of the rule's group, the connections between the
//!   port and the member's old addresses;
//! * a **port deleted**: every connection to or from its addresses.
//!
//! A connection that a rule still in force on the port admits just as well
//! (the port moved to a group with the same rules, a remote-group member
//! is still admitted by another rule) is not cut. One admitted only
//! partly (say by a narrower rule) is cut and must be opened again: after
//! a flush the ACL stage admits TCP only with a SYN (see the pipeline's
//! `tcp_flags=-syn` drop), so a cut connection cannot come back as a
//! mid-stream pickup under the peer's egress rules.

use std::collections::BTreeSet;

use ipnet::IpNet;
use model::{Kind, Port, Resource, SecurityGroupRule, State};

use crate::ctx::stateful;
use crate::keys::Keys;
use crate::{util, Bindings};

/// One flush: the connections of `zone` whose original tuple matches the
/// other fields (`None`: any), i.e. `flush-conntrack zone=Z ct-tuple`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CtFlush {
    pub zone: u16,
    /// Original source address or prefix.
    pub src: Option<IpNet>,
    /// Original destination address or prefix.
    pub dst: Option<IpNet>,
    /// IP protocol.
    pub proto: Option<u8>,
    /// Original destination port.
    pub dport: Option<u16>,
}

impl CtFlush {
    /// The ct-tuple of `flush-conntrack` (crates/vswitch/PROTOCOL.md):
    /// `ct_nw_src=…,ct_nw_dst=…,ct_nw_proto=…,ct_tp_dst=…`.
    pub fn tuple(&self) -> String {
        let mut v = Vec::new();
        let name = |n: &IpNet, s: &str| match n {
            IpNet::V4(_) => format!("ct_nw_{s}"),
            IpNet::V6(_) => format!("ct_ipv6_{s}"),
        };
        let addr = |n: &IpNet| {
            if n.prefix_len() == n.max_prefix_len() {
                n.addr().to_string()
            } else {
                n.to_string()
            }
        };
        if let Some(n) = &self.src {
            v.push(format!("{}={}", name(n, "src"), addr(n)));
        }
        if let Some(n) = &self.dst {
            v.push(format!("{}={}", name(n, "dst"), addr(n)));
        }
        if let Some(p) = self.proto {
            v.push(format!("ct_nw_proto={p}"));
        }
        if let Some(p) = self.dport {
            v.push(format!("ct_tp_dst={p}"));
        }
        v.join(",")
    }
}

/// The flushes the change of resource `kind`/`id` calls for. `st` is the
/// intent *after* the change, `old` the resource before it (`None`: it is
/// new); `keys` and `b` are the compiler's (zones, and the ports bound on
/// this host: conntrack state is per host).
pub fn for_change(
    st: &State,
    kind: Kind,
    id: &str,
    old: Option<&Resource>,
    keys: &Keys,
    b: &Bindings,
) -> Vec<CtFlush> {
    let cx = Fx { st, keys, b };
    let mut out = BTreeSet::new();
    match (kind, old) {
        (Kind::SecurityGroupRule, Some(Resource::SecurityGroupRule(r)))
            if st.rules.get(id) != Some(r) =>
        {
            for p in cx.members(&r.security_group_id) {
                cx.rule_on_port(r, p, None, &mut out);
            }
        }
        (Kind::Port, Some(Resource::Port(was))) => {
            let now = st.ports.get(id);
            cx.port_changed(was, now, &mut out);
        }
        _ => {}
    }
    out.into_iter().collect()
}

struct Fx<'a> {
    st: &'a State,
    keys: &'a Keys,
    b: &'a Bindings,
}

impl Fx<'_> {
    /// Ports in `group` (which of them count here is [`Fx::zone`]'s say).
    fn members<'s>(&'s self, group: &'s str) -> impl Iterator<Item = &'s Port> + 's {
        self.st
            .ports
            .values()
            .filter(move |p| p.security_groups.iter().any(|g| g == group))
    }

    /// The zone of `p`'s network, when `p` is bound here, goes through
    /// conntrack, and its network has a zone.
    fn zone(&self, p: &Port) -> Option<u16> {
        if !self.b.ports.contains_key(&p.meta.id) || !stateful(self.st, p) {
            return None;
        }
        let z = self.keys.zones.get(&format!("n:{}", p.network_id))?;
        u16::try_from(z).ok()
    }

    /// `p`'s addresses: fixed IPs and allowed address pairs (what its
    /// ACL flows and address-set entries were compiled from).
    fn addrs(p: &Port) -> Vec<IpNet> {
        let fixed = p
            .fixed_ips
            .iter()
            .filter_map(|f| util::ip("port", &p.meta.id, &f.ip_address).ok())
            .map(IpNet::from);
        let pairs = p
            .allowed_address_pairs
            .iter()
            .filter_map(|a| util::net("port", &p.meta.id, &a.ip_address).ok());
        fixed.chain(pairs).collect()
    }

    /// The connections rule `r` admitted on port `p` (`p` as it was),
    /// optionally only those with `remote`.
    fn rule_on_port(
        &self,
        r: &SecurityGroupRule,
        p: &Port,
        remote: Option<IpNet>,
        out: &mut BTreeSet<CtFlush>,
    ) {
        let Some(zone) = self.zone(p) else { return };
        if self.still_allowed(r, p, remote) {
            return;
        }
        let v6 = r.ethertype.eq_ignore_ascii_case("IPv6");
        let (proto, dport) = l4(r, v6);
        let remote = remote.or_else(|| remote_cidr(r));
        for local in Self::addrs(p) {
            if matches!(local, IpNet::V6(_)) != v6
                || remote.is_some_and(|n| matches!(n, IpNet::V6(_)) != v6)
            {
                continue;
            }
            let (src, dst) = if r.direction == "ingress" {
                (remote, Some(local))
            } else {
                (Some(local), remote)
            };
            out.insert(CtFlush {
                zone,
                src,
                dst,
                proto,
                dport,
            });
        }
    }

    /// Whether a rule of `p`'s groups (as they are now) admits everything
    /// `r` admitted — from `remote` when given: then nothing needs cutting
    /// (a port moving to a group with the same rules keeps its
    /// connections).
    fn still_allowed(&self, r: &SecurityGroupRule, p: &Port, remote: Option<IpNet>) -> bool {
        self.st
            .rules
            .values()
            .filter(|r2| p.security_groups.contains(&r2.security_group_id))
            .any(|r2| self.covers(r2, r, remote))
    }

    /// Whether rule `r2` admits every connection `r` admits (with
    /// `remote`, those from or to that address only).
    fn covers(&self, r2: &SecurityGroupRule, r: &SecurityGroupRule, remote: Option<IpNet>) -> bool {
        let v6 = r.ethertype.eq_ignore_ascii_case("IPv6");
        if r2.direction != r.direction || !r2.ethertype.eq_ignore_ascii_case(&r.ethertype) {
            return false;
        }
        let l4_ok = match (l4(r2, v6).0, l4(r, v6).0) {
            (None, _) => true,
            (Some(a), Some(b)) if a == b => ports_within(r, r2),
            _ => false,
        };
        let remote_ok = match (&r2.remote_group_id, remote_cidr(r2)) {
            (None, None) => true,
            (None, Some(n2)) => remote
                .or_else(|| remote_cidr(r))
                .is_some_and(|n| n2.contains(&n)),
            (Some(g2), _) => match remote {
                Some(a) => self.members(g2).any(|m| Self::addrs(m).contains(&a)),
                None => r.remote_group_id.as_ref() == Some(g2) && remote_cidr(r).is_none(),
            },
        };
        l4_ok && remote_ok
    }

    fn port_changed(&self, was: &Port, now: Option<&Port>, out: &mut BTreeSet<CtFlush>) {
        let now_groups: &[String] = now.map_or(&[], |p| &p.security_groups);
        let left: Vec<&String> = was
            .security_groups
            .iter()
            .filter(|g| !now_groups.contains(g))
            .collect();
        // Rules of the groups it left, on the port itself (as it is now:
        // bound, stateful and in its zone; a deleted port is below).
        if let Some(p) = now {
            for g in &left {
                for r in self
                    .st
                    .rules
                    .values()
                    .filter(|r| &r.security_group_id == *g)
                {
                    self.rule_on_port(r, p, None, out);
                }
            }
        }
        // Addresses the groups it was in no longer have: all of them for a
        // group it left, the removed ones for a group it stays in.
        let now_addrs = now.map(Self::addrs).unwrap_or_default();
        for g in &was.security_groups {
            let gone: Vec<IpNet> = if left.contains(&g) {
                Self::addrs(was)
            } else {
                Self::addrs(was)
                    .into_iter()
                    .filter(|a| !now_addrs.contains(a))
                    .collect()
            };
            if gone.is_empty() {
                continue;
            }
            for r in self.st.rules.values() {
                if r.remote_group_id.as_deref() != Some(g.as_str()) {
                    continue;
                }
                for q in self.members(&r.security_group_id) {
                    for a in &gone {
                        self.rule_on_port(r, q, Some(*a), out);
                    }
                }
            }
        }
        // A deleted port: every connection of its addresses.
        if now.is_none() {
            if let Some(zone) = self.zone(was) {
                for a in Self::addrs(was) {
                    for (src, dst) in [(Some(a), None), (None, Some(a))] {
                        out.insert(CtFlush {
                            zone,
                            src,
                            dst,
                            proto: None,
                            dport: None,
                        });
                    }
                }
            }
        }
    }
}

/// Whether `r`'s port range (or ICMP type and code) lies within `r2`'s.
fn ports_within(r: &SecurityGroupRule, r2: &SecurityGroupRule) -> bool {
    match (r2.port_range_min, r.port_range_min) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(lo2), Some(lo)) => {
            let hi = r.port_range_max.unwrap_or(lo);
            let hi2 = r2.port_range_max.unwrap_or(lo2);
            if matches!(
                r.protocol.as_deref(),
                Some("icmp" | "ipv6-icmp" | "icmpv6" | "1" | "58")
            ) {
                // Type and code: equal, or the code left open in r2.
                lo == lo2 && (r2.port_range_max.is_none() || hi == hi2)
            } else {
                lo2 <= lo && hi <= hi2
            }
        }
    }
}

/// The remote CIDR a rule restricts connections to (not `/0`).
fn remote_cidr(r: &SecurityGroupRule) -> Option<IpNet> {
    let s = r.remote_ip_prefix.as_deref().filter(|s| !s.is_empty())?;
    let n = util::net("security group rule", &r.meta.id, s).ok()?;
    (n.prefix_len() != 0).then_some(n.trunc())
}

/// A rule's protocol number and, when it names exactly one, destination
/// port (ICMP's "ports" are a type and code, not a connection's).
fn l4(r: &SecurityGroupRule, v6: bool) -> (Option<u8>, Option<u16>) {
    let proto = match r
        .protocol
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("") | Some("any") => return (None, None),
        Some("tcp") => 6,
        Some("udp") => 17,
        Some("sctp") => 132,
        Some("icmp") if !v6 => 1,
        Some("icmp") | Some("ipv6-icmp") | Some("icmpv6") => 58,
        Some(n) => match n.parse::<u8>() {
            Ok(n) => n,
            // A rule that never compiled admitted nothing; flush by
            // address only rather than not at all.
            Err(_) => return (None, None),
        },
    };
    let dport = match (proto, r.port_range_min, r.port_range_max) {
        (6 | 17 | 132, Some(lo), hi) if hi.is_none_or(|h| h == lo) => u16::try_from(lo).ok(),
        _ => None,
    };
    (Some(proto), dport)
}
