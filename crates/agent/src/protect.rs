//! Tenant protection the agent sets on its switch by default, so that one
//! VM's flood cannot starve the other tenants of the host:
//!
//! * **Conntrack per-zone limit** (`ct-set-limits default=N`, as
//!   `ovs-appctl dpctl/ct-set-limits`; ovs-vswitchd.conf.db(5) CT_Zone
//!   `limit`). Every bound VM port is a conntrack zone (controller
//!   PIPELINE.md, as ovn-controller's per-VIF zones), so a SYN flood or a
//!   random-port UDP flood from one VM fills its own port's zone (and
//!   that of a target admitting it) up to the limit and then its new
//!   connections are refused (`ct_limit` drops), while the tracker keeps
//!   room for every other port. Set when the agent starts; 0 leaves the
//!   switch's setting alone (unlimited unless an operator set one).
//! * **Broadcast/multicast storm control** on every VM port
//!   (Interface `other_config:storm-control-pps`, vswitch `dp::storm`).
//! * **New-connection rate** on every VM port (Interface
//!   `other_config:ct-new-pps`, vswitch `dp::ct`): a SYN flood's packets
//!   past the rate are dropped before they are committed, delivered and
//!   answered, which is what costs the shared datapath its time (measured:
//!   RELIABILITY.md "Floods").
//! * **Upcall rate** on every VM port (Interface `other_config:upcall-pps`,
//!   vswitch `dp::ct`): flow-cache misses past the rate are dropped
//!   untranslated, so a random-source flood (every frame a new flow)
//!   cannot spend the datapath's time in the classifier.
//!
//! Each is set on each bound TAP that has no setting of that key yet, so
//! an operator's own value (even 0, off) is kept; 0 here sets nothing.

use crate::switch::{Datapath, Iface};
use crate::AgentError;

/// Default connections per conntrack zone (per bound VM port).
pub const DEFAULT_CT_ZONE_LIMIT: u32 = 65_536;
/// Default broadcast + multicast frames per second a VM port may send:
/// far above what ARP, DHCP, IPv6 neighbour discovery and mDNS need.
pub const DEFAULT_STORM_PPS: u64 = 1_000;
/// The Interface `other_config` key of the storm-control rate.
pub const STORM_KEY: &str = "storm-control-pps";
/// Default new connections per second a VM port may open (commits of
/// `+new` packets; a connection crossing two stages of one zone commits
/// twice): far above what a busy client needs, far below a flood.
pub const DEFAULT_CT_NEW_PPS: u64 = 2_000;
/// The Interface `other_config` key of the new-connection rate.
pub const CT_NEW_KEY: &str = "ct-new-pps";
/// Default flow-cache misses per second a VM port may cause: a miss is a
/// new megaflow (a new connection costs a few), so busy clients stay far
/// below it.
pub const DEFAULT_UPCALL_PPS: u64 = 2_000;
/// The Interface `other_config` key of the upcall rate.
pub const UPCALL_KEY: &str = "upcall-pps";

/// What the agent sets; [`Default`] is the documented defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Protection {
    /// `ct-set-limits default=N`; 0: not set.
    pub ct_zone_limit: u32,
    /// `other_config:storm-control-pps` of VM ports; 0: not set.
    pub storm_pps: u64,
    /// `other_config:ct-new-pps` of VM ports; 0: not set.
    pub ct_new_pps: u64,
    /// `other_config:upcall-pps` of VM ports; 0: not set.
    pub upcall_pps: u64,
}

impl Default for Protection {
    fn default() -> Self {
        Protection {
            ct_zone_limit: DEFAULT_CT_ZONE_LIMIT,
            storm_pps: DEFAULT_STORM_PPS,
            ct_new_pps: DEFAULT_CT_NEW_PPS,
            upcall_pps: DEFAULT_UPCALL_PPS,
        }
    }
}

/// Set the default conntrack zone limit (agent start).
pub fn apply_ct_limit(sw: &dyn Datapath, p: &Protection) -> Result<(), AgentError> {
    if p.ct_zone_limit == 0 {
        return Ok(());
    }
    sw.ct_set_default_limit(p.ct_zone_limit)
}

/// Storm control and the new-connection rate on `iface` (a bound VM
/// TAP), each unless it has a setting; one transaction.
pub fn apply_port(sw: &dyn Datapath, iface: &Iface, p: &Protection) -> Result<(), AgentError> {
    let keys = [
        (STORM_KEY, p.storm_pps),
        (CT_NEW_KEY, p.ct_new_pps),
        (UPCALL_KEY, p.upcall_pps),
    ];
    set_missing(sw, iface, &keys)
}

/// The Interface `other_config` key of the uplink's new-connection rate
/// per destination address (vswitch `dp::perdst`).
pub const CT_NEW_PER_DST_KEY: &str = "ct-new-pps-per-dst";
/// The Interface `other_config` key of the uplink's upcall rate per
/// destination address.
pub const UPCALL_PER_DST_KEY: &str = "upcall-pps-per-dst";

/// The new-connection and upcall rates on an uplink (a bridge-mapping
/// interface), per destination address: every project's internet
/// traffic shares the port, so a flood at one floating IP is limited (and
/// held, dropped before parsing) without limiting the others. The same
/// rates as a VM port's, each unless the uplink has a setting.
pub fn apply_uplink(sw: &dyn Datapath, iface: &Iface, p: &Protection) -> Result<(), AgentError> {
    let keys = [
        (CT_NEW_PER_DST_KEY, p.ct_new_pps),
        (UPCALL_PER_DST_KEY, p.upcall_pps),
    ];
    set_missing(sw, iface, &keys)
}

/// Set each `(key, value)` with a non-zero value that `iface` has no
/// setting of; one transaction.
fn set_missing(sw: &dyn Datapath, iface: &Iface, keys: &[(&str, u64)]) -> Result<(), AgentError> {
    let sets: Vec<String> = keys
        .iter()
        .copied()
        .filter(|(k, v)| *v > 0 && !iface.other_config.contains_key(*k))
        .map(|(k, v)| format!("other_config:{k}={v}"))
        .collect();
    if sets.is_empty() {
        return Ok(());
    }
    let mut args = vec!["set", "Interface", iface.name.as_str()];
    args.extend(sets.iter().map(String::as_str));
    sw.vsctl(&args)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    /// Records vsctl lines and the conntrack limit.
    #[derive(Default)]
    struct Rec(Mutex<(Vec<String>, Option<u32>)>);

    impl Datapath for Rec {
        fn vsctl(&self, args: &[&str]) -> Result<String, AgentError> {
            self.0.lock().unwrap().0.push(args.join(" "));
            Ok(String::new())
        }
        fn add_flows(&self, _: Vec<String>) -> Result<(), AgentError> {
            Ok(())
        }
        fn del_flows(&self, _: &str, _: bool) -> Result<(), AgentError> {
            Ok(())
        }
        fn cookie_counts(&self) -> Result<BTreeMap<u64, usize>, AgentError> {
            Ok(BTreeMap::new())
        }
        fn interfaces(&self) -> Result<Vec<Iface>, AgentError> {
            Ok(Vec::new())
        }
        fn trace(&self, _: &str) -> Result<String, AgentError> {
            Ok(String::new())
        }
        fn flush_conntrack(&self, _: u16, _: &str) -> Result<(), AgentError> {
            Ok(())
        }
        fn ct_set_default_limit(&self, limit: u32) -> Result<(), AgentError> {
            self.0.lock().unwrap().1 = Some(limit);
            Ok(())
        }
    }

    #[test]
    fn operator_settings_are_kept_and_zero_sets_nothing() {
        let d = Rec::default();
        let mut i = Iface {
            name: "tap1".into(),
            ..Iface::default()
        };
        apply_port(&d, &i, &Protection::default()).unwrap();
        let first =
            "set Interface tap1 other_config:storm-control-pps=1000 other_config:ct-new-pps=2000 other_config:upcall-pps=2000";
        assert_eq!(d.0.lock().unwrap().0, vec![first]);
        i.other_config.insert(STORM_KEY.into(), "0".into());
        i.other_config.insert(CT_NEW_KEY.into(), "5".into());
        i.other_config.insert(UPCALL_KEY.into(), "5".into());
        apply_port(&d, &i, &Protection::default()).unwrap();
        let off = Protection {
            ct_zone_limit: 0,
            storm_pps: 0,
            ct_new_pps: 0,
            upcall_pps: 0,
        };
        i.other_config.clear();
        apply_port(&d, &i, &off).unwrap();
        apply_ct_limit(&d, &off).unwrap();
        assert_eq!(d.0.lock().unwrap().0.len(), 1, "nothing more was set");
        assert_eq!(d.0.lock().unwrap().1, None);
        apply_ct_limit(&d, &Protection::default()).unwrap();
        assert_eq!(d.0.lock().unwrap().1, Some(DEFAULT_CT_ZONE_LIMIT));
    }

    #[test]
    fn uplinks_get_per_destination_rates_unless_set() {
        let d = Rec::default();
        let mut i = Iface {
            name: "uplink".into(),
            ..Iface::default()
        };
        apply_uplink(&d, &i, &Protection::default()).unwrap();
        i.other_config.insert(CT_NEW_PER_DST_KEY.into(), "0".into());
        apply_uplink(&d, &i, &Protection::default()).unwrap();
        assert_eq!(
            d.0.lock().unwrap().0,
            vec![
                "set Interface uplink other_config:ct-new-pps-per-dst=2000 other_config:upcall-pps-per-dst=2000",
                "set Interface uplink other_config:upcall-pps-per-dst=2000",
            ]
        );
    }
}
