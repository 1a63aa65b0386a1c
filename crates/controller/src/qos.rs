//! QoS policies as the switch applies them: a desired per-port description
//! that vswitchd turns into an HTB qdisc and ingress policing through
//! vsctl (ovs-vswitchd.conf.db(5): Interface `ingress_policing_rate`,
//! QoS type `linux-htb` with Queue `max-rate`/`min-rate`), plus DSCP
//! marking, which is a flow (table 0, `mod_nw_tos`).
//!
//! Directions follow Neutron's OVS agent: a rule's direction is seen from
//! the VM. `egress` (VM sends) is limited where the switch receives it:
//! ingress policing on the TAP. `ingress` (VM receives) is shaped where
//! the switch sends it: an HTB queue on the TAP. Minimum bandwidth is the
//! HTB `min-rate` of that queue.

use model::{Port, QosRuleSpec, State};

/// The QoS the switch should configure on one bound port.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortQos {
    pub port_id: String,
    pub ofport: u32,
    /// Ingress policing (kbit/s, burst kbit) for traffic from the VM.
    pub police_kbps: Option<(u64, u64)>,
    /// HTB max-rate (kbit/s, burst kbit) for traffic to the VM.
    pub shape_kbps: Option<(u64, u64)>,
    /// HTB min-rate (kbit/s).
    pub min_kbps: Option<u64>,
    /// DSCP value set on IP packets from the VM.
    pub dscp: Option<u8>,
}

impl PortQos {
    pub fn is_empty(&self) -> bool {
        self.police_kbps.is_none()
            && self.shape_kbps.is_none()
            && self.min_kbps.is_none()
            && self.dscp.is_none()
    }
}

/// The policy that applies to a port: its own, else its network's
/// (Neutron's precedence).
fn policy<'a>(st: &'a State, p: &'a Port) -> Option<&'a str> {
    p.qos_policy_id
        .as_deref()
        .or_else(|| st.networks.get(&p.network_id)?.qos_policy_id.as_deref())
}

/// The port's QoS; empty when it has no policy.
pub fn port_qos(st: &State, p: &Port, ofport: u32) -> PortQos {
    let mut q = PortQos {
        port_id: p.meta.id.clone(),
        ofport,
        ..PortQos::default()
    };
    let Some(pol) = policy(st, p) else {
        return q;
    };
    for r in st.qos_rules.values().filter(|r| r.qos_policy_id == pol) {
        match &r.spec {
            QosRuleSpec::BandwidthLimit {
                max_kbps,
                max_burst_kbps,
                direction,
            } => {
                let v = Some((*max_kbps, *max_burst_kbps));
                if direction == "ingress" {
                    q.shape_kbps = v;
                } else {
                    q.police_kbps = v;
                }
            }
            QosRuleSpec::MinimumBandwidth { min_kbps, .. } => q.min_kbps = Some(*min_kbps),
            QosRuleSpec::DscpMarking { dscp_mark } => q.dscp = Some(*dscp_mark),
        }
    }
    q
}

/// The DSCP mark of a port's policy, if any.
pub(crate) fn dscp(st: &State, p: &Port) -> Option<u8> {
    let pol = policy(st, p)?;
    st.qos_rules.values().find_map(|r| match r.spec {
        QosRuleSpec::DscpMarking { dscp_mark } if r.qos_policy_id == pol => Some(dscp_mark & 0x3f),
        _ => None,
    })
}
