//! Which tracked connections a change of the security policy deletes: the
//! conntrack flushes the agent asks the switch for once the change's new
//! flows are in (PIPELINE.md, "Security groups").
//!
//! Rule changes need none. Every packet of a connection meets the port's
//! rules again — the original direction on its own fields, replies on the
//! connection's original tuple ([`crate::acl`]) — so a rule removed, a
//! port leaving a group or a member leaving a remote group cuts what they
//! admitted on the next packet, in both directions, as OVN applies ACL
//! changes to existing connections. Deleting the entries instead (as
//! Neutron's `ip_conntrack` manager does) would be worse than useless:
//! the peer's next packet would be committed afresh under the peer's own
//! rules, and the cut side's packets would pass as its replies. A cut
//! connection's entry ages out by conntrack's timeouts.
//!
//! What remains is a **port deleted** while bound here: its conntrack zone
//! (`p:<port>` in [`Keys::zones`]) is freed and may go to another port, so
//! the whole zone is flushed — `flush-conntrack zone=Z`, no tuple.

use std::collections::BTreeSet;

use ipnet::IpNet;
use model::{Kind, Resource, State};

use crate::keys::Keys;

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
/// new); `keys` are the compiler's before the change is compiled. A port
/// has a zone only on the host it was bound on (conntrack state is per
/// host); the bindings are not consulted, since a port is usually unbound
/// (its TAP gone) before it is deleted.
pub fn for_change(
    st: &State,
    kind: Kind,
    id: &str,
    old: Option<&Resource>,
    keys: &Keys,
) -> Vec<CtFlush> {
    let mut out = BTreeSet::new();
    if let (Kind::Port, Some(Resource::Port(_)), None) = (kind, old, st.ports.get(id)) {
        let zone = keys
            .zones
            .get(&format!("p:{id}"))
            .and_then(|z| u16::try_from(z).ok());
        if let Some(zone) = zone {
            out.insert(CtFlush {
                zone,
                src: None,
                dst: None,
                proto: None,
                dport: None,
            });
        }
    }
    out.into_iter().collect()
}
