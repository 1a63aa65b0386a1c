//! The switch: configuration, database and datapath together, and the
//! handling of control requests.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::db::Db;
use crate::dp::mac::{Clock, SystemClock};
use crate::dp::{Datapath, DpThread};
use crate::error::DbError;
use crate::ofctl;
use crate::proto::{Reply, Request};
use crate::schema::Config;
use crate::vsctl;

/// Name of the database file in the run directory.
pub const DB_NAME: &str = "conf.db";

/// Errors starting the switch.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// The datapath could not start.
    #[error("datapath: {0}")]
    Io(#[from] std::io::Error),
}

/// Options of a switch.
#[derive(Clone, Debug)]
pub struct Options {
    /// Directory of the control socket and database.
    pub run_dir: PathBuf,
    /// Keep flows in the database across restarts.
    pub persist_flows: bool,
    /// Datapath threads; 0 picks [`crate::dp::worker::default_threads`].
    pub dp_threads: usize,
}

/// A running switch.
pub struct Switch {
    opts: Options,
    db: Db,
    cfg: Mutex<Config>,
    dp: Arc<Mutex<Datapath>>,
    thread: Mutex<Option<DpThread>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a lock leaves plain data behind; carry on.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Switch {
    /// Open the database in `opts.run_dir`, restore bridges and ports (and
    /// flows with `persist_flows`). The datapath thread starts with
    /// [`Switch::start`], so that a daemon can fork in between.
    pub fn open(opts: Options) -> Result<Switch, StartError> {
        Self::open_with_clock(opts, Arc::new(SystemClock::default()))
    }

    /// As [`Switch::open`] with an injected clock (MAC aging).
    pub fn open_with_clock(opts: Options, clock: Arc<dyn Clock>) -> Result<Switch, StartError> {
        let db = Db::open(&opts.run_dir.join(DB_NAME))?;
        let cfg = db.load_config()?;
        let threads = match opts.dp_threads {
            0 => crate::dp::worker::default_threads(),
            n => n,
        };
        let dp = Datapath::with_threads(clock, threads)?;
        Ok(Switch {
            opts,
            db,
            cfg: Mutex::new(cfg),
            dp: Arc::new(Mutex::new(dp)),
            thread: Mutex::new(None),
        })
    }

    /// Open the ports of the stored configuration and start forwarding.
    pub fn start(&self) -> Result<(), StartError> {
        let cfg = lock(&self.cfg).clone();
        {
            let mut dp = lock(&self.dp);
            for e in dp.reconcile(&cfg) {
                tracing::warn!("{e}");
            }
            if self.opts.persist_flows {
                for b in cfg.bridges.keys() {
                    let stored = self.db.load_flows(b)?;
                    if stored.is_empty() {
                        continue;
                    }
                    let mut ops = vec![flow::FlowOp::Delete {
                        filter: flow::FlowMod {
                            table: 255,
                            ..flow::FlowMod::default()
                        },
                        strict: false,
                    }];
                    for f in &stored {
                        match flow::parse_flow(f) {
                            Ok(p) => ops.push(flow::FlowOp::Add(p.flow)),
                            Err(e) => tracing::warn!("stored flow {f:?} of {b}: {e}"),
                        }
                    }
                    let now = dp.now();
                    if let Some(br) = dp.bridge_mut(b) {
                        if let Err(e) = br.tables.transaction(ops, now) {
                            tracing::warn!("stored flows of {b}: {e}");
                        }
                    }
                }
            }
        }
        *lock(&self.thread) = Some(DpThread::spawn(self.dp.clone())?);
        Ok(())
    }

    /// Run directory.
    pub fn run_dir(&self) -> &Path {
        &self.opts.run_dir
    }

    /// A copy of the configuration.
    pub fn config(&self) -> Config {
        lock(&self.cfg).clone()
    }

    /// The datapath (for tests and in-process use).
    pub fn datapath(&self) -> &Arc<Mutex<Datapath>> {
        &self.dp
    }

    /// Handle one control request.
    pub fn handle(&self, req: &Request) -> Reply {
        match self.dispatch(req) {
            Ok(output) => Reply::Ok { output },
            Err(message) => Reply::Error { message },
        }
    }

    fn dispatch(&self, req: &Request) -> Result<String, String> {
        match req {
            Request::Version => Ok(format!(
                "cloudnet vswitchd protocol {} pid {}\n",
                crate::proto::VERSION,
                std::process::id()
            )),
            Request::Vsctl { args } => self.vsctl(args),
            Request::Tc { args } => self.tc(args),
            Request::Exit => Ok(String::new()),
            Request::Stats => {
                // Same lock order as vsctl: configuration, then datapath.
                let cfg = lock(&self.cfg);
                let dp = lock(&self.dp);
                Ok(crate::stats_report::to_output(
                    &crate::stats_report::collect(&cfg, &dp),
                ))
            }
            Request::Capture { .. } => {
                Err("capture streams frames: send it on its own connection".into())
            }
            Request::AddTlvMap { .. } | Request::DelTlvMap { .. } | Request::DumpTlvMap { .. } => {
                self.tlv(req)
            }
            Request::DumpConntrack { .. }
            | Request::FlushConntrack { .. }
            | Request::CtStats
            | Request::CtSetLimits { .. } => crate::ctctl::handle(&mut lock(&self.dp), req),
            other => {
                // The configuration is read under its lock, not copied: a
                // host with 10,000 ports made the copy cost ~20 ms per
                // flow change. Same lock order as vsctl and stats.
                let cfg = lock(&self.cfg);
                let mut dp = lock(&self.dp);
                let (out, changed) = ofctl::handle(&cfg, &mut dp, other)?;
                if changed && self.opts.persist_flows {
                    if let Some(b) = ofctl::bridge_of(other) {
                        let flows = ofctl::flows_text(&dp, b);
                        self.db
                            .save_flows(b, Some(&flows))
                            .map_err(|e| e.to_string())?;
                    }
                }
                Ok(out)
            }
        }
    }

    /// `add-tlv-map`, `del-tlv-map`, `dump-tlv-map` ([`crate::tlv`]): the
    /// map is configuration, stored before the datapath sees it.
    fn tlv(&self, req: &Request) -> Result<String, String> {
        let mut cfg = lock(&self.cfg);
        let bridge = ofctl::bridge_of(req).unwrap_or_default();
        if !cfg.bridges.contains_key(bridge) {
            return Err(format!("{bridge} is not a bridge or a socket"));
        }
        let mut map = cfg.tlv_maps.get(bridge).cloned().unwrap_or_default();
        match req {
            Request::DumpTlvMap { .. } => return Ok(map.dump()),
            Request::AddTlvMap { map: text, .. } => {
                let e = crate::tlv::parse_entries(text).map_err(|e| e.to_string())?;
                map.add(&e).map_err(|e| e.to_string())?;
            }
            Request::DelTlvMap { map: text, .. } => {
                let which = match text.as_deref().map(str::trim) {
                    None | Some("") => None,
                    Some(t) => Some(crate::tlv::parse_entries(t).map_err(|e| e.to_string())?),
                };
                let dp = lock(&self.dp);
                let flows = ofctl::flow_mods(&dp, bridge);
                let users = |n: u8| {
                    flows
                        .iter()
                        .filter(|f| crate::tlv::fields_used(f) >> n & 1 != 0)
                        .count()
                };
                map.del(which.as_deref(), users)
                    .map_err(|e| e.to_string())?;
            }
            _ => return Err("not a TLV map request".into()),
        }
        let mut work = cfg.clone();
        if map.entries.is_empty() {
            work.tlv_maps.remove(bridge);
        } else {
            work.tlv_maps.insert(bridge.to_owned(), map);
        }
        self.db.save_config(&work).map_err(|e| e.to_string())?;
        *cfg = work;
        for e in lock(&self.dp).reconcile(&cfg) {
            tracing::warn!("{e}");
        }
        Ok(String::new())
    }

    /// Start a capture tap on interface `port` with an optional ovs-ofctl
    /// match `filter` (see [`crate::capture`]).
    pub fn start_capture(
        &self,
        port: &str,
        filter: Option<&str>,
        queue: Option<usize>,
    ) -> Result<crate::dp::capture::Handle, String> {
        let m = filter.map(crate::dp::capture::parse_filter).transpose()?;
        let queue = queue
            .unwrap_or(crate::capture::DEFAULT_QUEUE)
            .clamp(1, crate::capture::MAX_QUEUE);
        lock(&self.dp)
            .capture(port, m, queue)
            .ok_or_else(|| format!("capture: no port named {port:?}"))
    }

    /// Remove capture tap `id`.
    pub fn stop_capture(&self, id: u64) {
        lock(&self.dp).captures.remove(id);
    }

    fn tc(&self, args: &[String]) -> Result<String, String> {
        match crate::tc::parse(args).map_err(|e| e.to_string())? {
            crate::tc::TcCommand::Show { object, dev, stats } => {
                let cfg = lock(&self.cfg);
                if !cfg.ports.contains_key(&dev) {
                    return Err(format!("tc: no port named {dev:?}"));
                }
                let dp = lock(&self.dp);
                Ok(crate::tc::show(&cfg, dp.egress(&dev), &object, &dev, stats))
            }
            crate::tc::TcCommand::Change { dev, args, .. } => {
                let mut cfg = lock(&self.cfg);
                if !cfg.ports.contains_key(&dev) {
                    return Err(format!("tc: no port named {dev:?}"));
                }
                let mut work = cfg.clone();
                let tree = work.tc.entry(dev.clone()).or_default();
                let spec = tree.apply(&args).map_err(|e| e.to_string())?;
                if tree.commands.is_empty() {
                    work.tc.remove(&dev);
                }
                if let Some(s) = &spec {
                    // Build it once here so a bad tree fails the command.
                    crate::dp::egress::Egress::new(s, 0).map_err(|e| format!("tc: {e}"))?;
                }
                self.db.save_config(&work).map_err(|e| e.to_string())?;
                *cfg = work;
                for e in lock(&self.dp).reconcile(&cfg) {
                    tracing::warn!("{e}");
                }
                Ok(String::new())
            }
        }
    }

    fn vsctl(&self, args: &[String]) -> Result<String, String> {
        let cmds = vsctl::parse(args).map_err(|e| e.to_string())?;
        let mut cfg = lock(&self.cfg);
        let mut work = cfg.clone();
        let out = {
            let dp = lock(&self.dp);
            let stats = |name: &str| dp.port_stats(name).map(|s| s.to_map());
            vsctl::execute(&mut work, &cmds, &stats).map_err(|e| e.to_string())?
        };
        // A deleted bridge's TLV map goes with it.
        let orphans: Vec<String> = (work.tlv_maps.keys())
            .filter(|b| !work.bridges.contains_key(*b))
            .cloned()
            .collect();
        for b in orphans {
            work.tlv_maps.remove(&b);
        }
        if work != *cfg {
            self.db.save_config(&work).map_err(|e| e.to_string())?;
            let removed: Vec<String> = cfg
                .bridges
                .keys()
                .filter(|b| !work.bridges.contains_key(*b))
                .cloned()
                .collect();
            for b in removed {
                let _ = self.db.save_flows(&b, None);
            }
            *cfg = work;
            let errors = lock(&self.dp).reconcile(&cfg);
            for e in errors {
                tracing::warn!("{e}");
            }
        }
        Ok(out)
    }
}

impl Drop for Switch {
    fn drop(&mut self) {
        // Stop the datapath thread before the ports close.
        lock(&self.thread).take();
    }
}
