//! Live port counters for the API's topology page, read from the switch
//! that `cloudnet serve` runs in process: one `vsctl list Interface` over
//! the control socket, keyed by each interface's `external_ids:iface-id`
//! (the Neutron port it carries, as in ovs-vswitchd.conf.db(5) and the
//! agent's binding) with its `statistics` column.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use api::ui::{PortCounters, PortStatsSource, StatsError};

/// What `cloudnet serve` gives the API: the switch's counters, or none
/// with `--api-only` (no switch).
pub fn source(api_only: bool, run_dir: &Path) -> Arc<dyn PortStatsSource> {
    if api_only {
        Arc::new(api::ui::NoPortStats)
    } else {
        Arc::new(SwitchPortStats::new(run_dir))
    }
}

/// Counters from the switch at a run dir.
pub struct SwitchPortStats {
    client: agent::SwitchClient,
}

impl SwitchPortStats {
    pub fn new(run_dir: &Path) -> SwitchPortStats {
        SwitchPortStats {
            // vsctl is not per bridge; the name is only for flow requests.
            client: agent::SwitchClient::new(run_dir, "br-int"),
        }
    }
}

impl PortStatsSource for SwitchPortStats {
    fn port_stats(&self) -> Result<BTreeMap<String, PortCounters>, StatsError> {
        let out = self
            .client
            .vsctl(&["list", "Interface"])
            .map_err(|e| StatsError(e.to_string()))?;
        Ok(parse(&out))
    }
}

/// `vsctl list Interface` output (records separated by blank lines) →
/// counters of the interfaces that carry a Neutron port.
fn parse(out: &str) -> BTreeMap<String, PortCounters> {
    let mut m = BTreeMap::new();
    for rec in out.split("\n\n") {
        let Some(iface) = agent::switch::parse_interfaces(rec).into_iter().next() else {
            continue;
        };
        let Some(port) = iface.external_ids.get("iface-id") else {
            continue;
        };
        let stats = rec
            .lines()
            .filter_map(|l| l.split_once(':'))
            .find(|(col, _)| col.trim() == "statistics")
            .map_or_else(PortCounters::default, |(_, v)| counters(v));
        m.insert(port.clone(), stats);
    }
    m
}

/// `{rx_bytes=1, rx_packets=2, ...}` → counters; unknown keys and values
/// that are not numbers are left out (zero).
fn counters(map: &str) -> PortCounters {
    let mut c = PortCounters::default();
    let inner = map.trim().trim_start_matches('{').trim_end_matches('}');
    for (k, v) in inner.split(", ").filter_map(|kv| kv.split_once('=')) {
        let Ok(v) = v.trim().parse::<u64>() else {
            continue;
        };
        let slot = match k.trim() {
            "rx_packets" => &mut c.rx_packets,
            "rx_bytes" => &mut c.rx_bytes,
            "rx_dropped" => &mut c.rx_dropped,
            "rx_errors" => &mut c.rx_errors,
            "tx_packets" => &mut c.tx_packets,
            "tx_bytes" => &mut c.tx_bytes,
            "tx_dropped" => &mut c.tx_dropped,
            "tx_errors" => &mut c.tx_errors,
            _ => continue,
        };
        *slot = v;
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_by_iface_id() {
        let out = "name                : br-int\n\
                   external_ids        : {}\n\
                   ofport              : -1\n\
                   statistics          : {rx_bytes=9, rx_packets=9}\n\
                   \n\
                   name                : tap1\n\
                   external_ids        : {attached-mac=\"fa:16:3e:00:00:01\", iface-id=\"p-1\"}\n\
                   ofport              : 3\n\
                   statistics          : {rx_bytes=1500, rx_dropped=2, rx_errors=0, rx_packets=10, tx_bytes=700, tx_dropped=1, tx_errors=4, tx_packets=7, bogus=x}\n\
                   \n\
                   name                : tap2\n\
                   external_ids        : {iface-id=p-2}\n\
                   ofport              : 4\n";
        let m = parse(out);
        assert_eq!(m.len(), 2, "only interfaces with an iface-id: {m:?}");
        let want = PortCounters {
            rx_packets: 10,
            rx_bytes: 1500,
            rx_dropped: 2,
            rx_errors: 0,
            tx_packets: 7,
            tx_bytes: 700,
            tx_dropped: 1,
            tx_errors: 4,
        };
        assert_eq!(m["p-1"], want);
        assert_eq!(m["p-2"], PortCounters::default(), "no statistics column");
    }
}
