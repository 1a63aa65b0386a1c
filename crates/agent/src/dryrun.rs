//! A datapath that records instead of forwarding: many simulated hosts run
//! in one process (the scale simulation of issue 10) with the agent's real
//! logic — store watch, claims, compile, deltas — and no switch.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Instant;

use crate::switch::{Datapath, Iface};
use crate::AgentError;

#[derive(Default)]
struct Inner {
    /// Interface name → row.
    ifaces: BTreeMap<String, Iface>,
    /// Bumped on every change of `ifaces` ([`Datapath::iface_generation`]).
    iface_gen: u64,
    next_ofport: u32,
    /// Flows by `table,priority,match` (what a strict delete names).
    flows: HashMap<String, String>,
    /// Substring to look for in added flows, and when it was first seen.
    watch: Option<(String, Option<Instant>)>,
    batches: u64,
    /// Conntrack flushes asked for: (zone, ct-tuple).
    ct_flushes: Vec<(u16, String)>,
}

/// The recording datapath. Shared (`Arc`) between the agent and the
/// simulation, which plugs TAPs and watches for flows.
#[derive(Default)]
pub struct DryRun {
    inner: Mutex<Inner>,
}

/// `table=T,priority=P,MATCH` of an ovs-ofctl flow text, without the
/// cookie and actions.
fn flow_key(text: &str) -> String {
    let body = text.split(",actions=").next().unwrap_or(text);
    body.split(',')
        .filter(|t| !t.starts_with("cookie="))
        .collect::<Vec<_>>()
        .join(",")
}

impl DryRun {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic elsewhere with the lock held leaves consistent data.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn add_iface(inner: &mut Inner, name: &str, ids: BTreeMap<String, String>) {
        inner.next_ofport += 1;
        inner.iface_gen += 1;
        let of = inner.next_ofport;
        inner.ifaces.insert(
            name.to_owned(),
            Iface {
                name: name.to_owned(),
                ofport: Some(of),
                external_ids: ids,
                other_config: BTreeMap::new(),
            },
        );
    }

    /// A TAP of `port` appears (Nova plugging a VIF).
    pub fn plug(&self, tap: &str, port: &str) {
        let ids = [("iface-id".to_owned(), port.to_owned())].into();
        Self::add_iface(&mut self.lock(), tap, ids);
    }

    /// A TAP goes away (the VM was deleted or migrated off this host).
    pub fn unplug(&self, tap: &str) {
        let mut inner = self.lock();
        if inner.ifaces.remove(tap).is_some() {
            inner.iface_gen += 1;
        }
    }

    /// The installed flows, as ovs-ofctl text with their cookies.
    pub fn flows(&self) -> Vec<String> {
        self.lock().flows.values().cloned().collect()
    }

    /// Record when a flow containing `needle` is first added.
    pub fn watch_for(&self, needle: &str) {
        self.lock().watch = Some((needle.to_owned(), None));
    }

    /// The conntrack flushes asked for so far, (zone, ct-tuple), in order.
    pub fn ct_flushes(&self) -> Vec<(u16, String)> {
        self.lock().ct_flushes.clone()
    }

    /// When the watched flow was added, if it was.
    pub fn seen(&self) -> Option<Instant> {
        self.lock().watch.as_ref().and_then(|w| w.1)
    }

    /// Flows installed now, and add-flows batches so far.
    pub fn counts(&self) -> (usize, u64) {
        let i = self.lock();
        (i.flows.len(), i.batches)
    }
}

impl Datapath for std::sync::Arc<DryRun> {
    /// `add-port` (bridge, uplinks, tunnel ports get an ofport) and
    /// `set Interface NAME other_config:K=V…` (storm control, see
    /// [`crate::protect`]) are recorded; everything else succeeds
    /// silently.
    fn vsctl(&self, args: &[&str]) -> Result<String, AgentError> {
        if let ["set", "Interface", name, sets @ ..] = args {
            let mut inner = self.lock();
            if let Some(i) = inner.ifaces.get_mut(*name) {
                for (k, v) in sets
                    .iter()
                    .filter_map(|s| s.strip_prefix("other_config:")?.split_once('='))
                {
                    i.other_config.insert(k.to_owned(), v.to_owned());
                }
                inner.iface_gen += 1;
            }
            return Ok(String::new());
        }
        if let Some(i) = args.iter().position(|a| *a == "add-port") {
            if let Some(name) = args.get(i + 2) {
                let mut inner = self.lock();
                if !inner.ifaces.contains_key(*name) {
                    DryRun::add_iface(&mut inner, name, BTreeMap::new());
                }
            }
        }
        Ok(String::new())
    }

    fn add_flows(&self, flows: Vec<String>) -> Result<(), AgentError> {
        let now = Instant::now();
        let mut inner = self.lock();
        inner.batches += 1;
        if let Some((needle, seen @ None)) = &mut inner.watch {
            if flows.iter().any(|f| f.contains(needle.as_str())) {
                *seen = Some(now);
            }
        }
        for f in flows {
            inner.flows.insert(flow_key(&f), f);
        }
        Ok(())
    }

    fn trace(&self, _flow: &str) -> Result<String, AgentError> {
        Err(AgentError::Unsupported("trace"))
    }

    fn flush_conntrack(&self, zone: u16, tuple: &str) -> Result<(), AgentError> {
        self.lock().ct_flushes.push((zone, tuple.to_owned()));
        Ok(())
    }

    fn del_flows(&self, matches: &str, strict: bool) -> Result<(), AgentError> {
        let mut inner = self.lock();
        if strict {
            inner.flows.remove(&flow_key(matches));
        } else if let Some(c) = matches.strip_prefix("cookie=") {
            let c = c.split('/').next().unwrap_or("");
            inner
                .flows
                .retain(|_, f| !f.starts_with(&format!("cookie={c},")));
        }
        Ok(())
    }

    fn cookie_counts(&self) -> Result<BTreeMap<u64, usize>, AgentError> {
        Ok(BTreeMap::new())
    }

    fn interfaces(&self) -> Result<Vec<Iface>, AgentError> {
        Ok(self.lock().ifaces.values().cloned().collect())
    }

    fn iface_generation(&self) -> Option<u64> {
        Some(self.lock().iface_gen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn records_flows_and_plugs() {
        let d = Arc::new(DryRun::default());
        d.vsctl(&["--may-exist", "add-port", "br-int", "tun-vxlan"])
            .unwrap();
        d.plug("tap1", "p1");
        let ifs = d.interfaces().unwrap();
        assert_eq!(ifs.len(), 2);
        assert!(ifs.iter().all(|i| i.ofport.is_some()));
        d.watch_for("fa:16:3e:00:00:01");
        d.add_flows(vec![
            "cookie=0x3,table=16,priority=50,metadata=0x1,dl_dst=fa:16:3e:00:00:01,actions=drop"
                .into(),
        ])
        .unwrap();
        assert!(d.seen().is_some());
        assert_eq!(d.counts(), (1, 1));
        d.del_flows(
            "table=16,priority=50,metadata=0x1,dl_dst=fa:16:3e:00:00:01",
            true,
        )
        .unwrap();
        assert_eq!(d.counts().0, 0);
    }
}
