//! Server side of the conntrack commands: `dump-conntrack`,
//! `flush-conntrack`, `ct-stats` and `ct-set-limits`, after ovs-dpctl(8)
//! and `ovs-appctl dpctl/…` (the table is the datapath's, shared by all
//! bridges; a bridge argument is only checked to exist). A flush may name
//! original-tuple fields ([`conntrack::CtFilter`]), as `dpctl/flush-conntrack
//! [zone=N] ct-tuple` does; the agent uses it to cut the connections a
//! removed security-group rule had admitted. Limits set here
//! are runtime state, as with `dpctl/ct-set-limits`.

use std::fmt::Write as _;

use crate::dp::stats::DropReason;
use crate::dp::Datapath;
use crate::proto::Request;

fn check_bridge(dp: &Datapath, bridge: &Option<String>) -> Result<(), String> {
    match bridge {
        Some(b) if dp.bridge(b).is_none() => Err(format!("{b} is not a bridge")),
        _ => Ok(()),
    }
}

/// Handle a conntrack request; other requests are an error.
pub fn handle(dp: &mut Datapath, req: &Request) -> Result<String, String> {
    let mut out = String::new();
    match req {
        Request::DumpConntrack { bridge, zone } => {
            check_bridge(dp, bridge)?;
            for e in dp.ct.table.dump(*zone) {
                let _ = writeln!(out, "{e}");
            }
        }
        Request::FlushConntrack {
            bridge,
            zone,
            tuple,
        } => {
            check_bridge(dp, bridge)?;
            let base = conntrack::CtFilter {
                zone: *zone,
                ..conntrack::CtFilter::default()
            };
            let filter = base
                .parse_tuple(tuple.as_deref().unwrap_or(""))
                .map_err(|e| format!("flush-conntrack: {e}"))?;
            dp.ct.table.flush_matching(&filter);
        }
        Request::CtStats => {
            let _ = write!(out, "{}", dp.ct.table.stats());
            // Frames the datapath dropped because of conntrack, per bridge.
            for b in dp.bridges.iter().flatten() {
                let _ = writeln!(
                    out,
                    "bridge={} {}={} {}={} {}={}",
                    b.name,
                    DropReason::CtLimit.name(),
                    b.drops.get(DropReason::CtLimit),
                    DropReason::CtNat.name(),
                    b.drops.get(DropReason::CtNat),
                    DropReason::RecircLimit.name(),
                    b.drops.get(DropReason::RecircLimit),
                );
            }
        }
        Request::CtSetLimits {
            default,
            zones,
            max_conns,
        } => {
            // OVS: a limit of 0 means unlimited.
            let lim = |n: u32| (n != 0).then_some(n);
            if let Some(d) = default {
                dp.ct.table.set_default_zone_limit(lim(*d));
            }
            for z in zones {
                dp.ct.table.set_zone_limit(z.zone, lim(z.limit));
            }
            if let Some(m) = max_conns {
                dp.ct.table.set_max_conns(*m);
            }
        }
        _ => return Err("not a conntrack request".into()),
    }
    Ok(out)
}
