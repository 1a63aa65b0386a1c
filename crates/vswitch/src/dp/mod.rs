//! The datapath: bridges, their ports and flow tables, and the event loop
//! that moves frames.
//!
//! One or more datapath threads (`--dp-threads`, see [`worker`]) each wait
//! on an epoll set of their own; every receiving port belongs to one thread
//! (the least loaded when it opens, as OVS assigns rx queues to PMD threads
//! round-robin). A thread drains a ready port in bursts of up to [`BURST`]
//! frames (`recvmmsg(2)` on AF_PACKET ports, a read loop on TAPs) without
//! the datapath lock, runs the frames through their bridge's flow tables and
//! the actions found (`execute.rs`) under the lock, with its own flow cache,
//! and sends the small frames it produced from its own transmit batch
//! ([`txbatch`]) after releasing the lock. Frame buffers are allocated once,
//! when the threads start, and reused; the per-frame path allocates nothing.
//!
//! The control side (vsctl through the daemon) changes ports and flows under
//! the same lock with [`Datapath::reconcile`] and the flow-table methods.

pub mod admit;
pub mod capture;
pub mod ct;
pub mod dummy;
pub mod egress;
mod execute;
mod local;
pub mod local_op;
pub mod mac;
mod nat;
pub mod packet_out;
pub mod perdst;
pub mod police;
pub mod port;
pub mod pps;
pub mod rewrite;
pub mod rxpace;
pub mod rxq;
pub mod stats;
pub mod storm;
mod tunnel;
pub mod tunnel_cfg;
mod tunnel_gro;
mod tunnel_gso;
mod tunnel_md;
mod tunnel_sock;
pub mod txbatch;
mod txq;
pub mod worker;

pub use worker::DpThread;

use std::collections::BTreeMap;
use std::os::fd::AsFd;
use std::sync::Arc;
use std::time::Duration;

use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags};

use crate::schema::{Config, IfaceType, Interface, Port};
use mac::{Clock, MacTable, DEFAULT_MAC_TABLE_SIZE};
use port::{PortIo, BUF_LEN};
use stats::{DropCounters, PortStats};

/// Most frames taken from one port per wake-up.
pub const BURST: usize = 64;

/// Deepest chain of patch ports a frame may cross (loop guard).
pub const MAX_PATCH_DEPTH: usize = 4;

/// The input "slot" of a frame that no port received: a packet-out from
/// the controller (`in_port=controller` / `none`, [`packet_out`]). Every
/// use of a slot looks it up with `get`, so this one finds no port.
pub const NO_SLOT: usize = usize::MAX;

/// The flow every new bridge starts with, as in OVS (ovs-vswitchd(8):
/// a bridge without a controller behaves as a learning switch).
pub const DEFAULT_FLOW: &str = "priority=0 actions=NORMAL";

/// VLAN configuration of a port (ovs-vswitchd.conf.db(5), Port `tag`,
/// `trunks`; `vlan_mode` is implied: access with a tag, trunk without).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VlanCfg {
    /// Access VLAN.
    pub tag: Option<u16>,
    /// Trunked VLANs; empty is all.
    pub trunks: Vec<u16>,
}

impl VlanCfg {
    /// Whether frames of `vlan` (0: untagged) may leave or enter here.
    #[inline]
    pub fn carries(&self, vlan: u16) -> bool {
        match self.tag {
            Some(t) => t == vlan,
            None => self.trunks.is_empty() || vlan == 0 || self.trunks.binary_search(&vlan).is_ok(),
        }
    }
}

/// A port in the datapath.
#[derive(Debug)]
pub struct DpPort {
    /// Interface name.
    pub name: String,
    /// Index of its bridge in [`Datapath::bridges`].
    pub bridge: usize,
    /// OpenFlow port number.
    pub ofport: u16,
    /// Interface type.
    pub kind: IfaceType,
    /// The interface as configured (to notice changes needing a reopen).
    pub iface: Interface,
    /// I/O.
    pub io: PortIo,
    /// VLAN settings.
    pub vlan: VlanCfg,
    /// Slot of the patch peer, resolved on every reconcile.
    pub peer: Option<usize>,
    /// Counters.
    pub stats: PortStats,
    /// Transmit batch (AF_PACKET ports).
    txq: txq::TxQueue,
    /// Ingress policer, when `ingress_policing_rate` is set.
    pub policer: Option<police::Policer>,
    /// Egress scheduler, when the port has QoS (see [`egress`]).
    pub egress: Option<egress::Egress>,
    /// The datapath thread that polls its receive side (queue 0).
    pub thread: usize,
    /// More receive queues of a multi-queue TAP, each polled by its own
    /// thread ([`rxq`]).
    pub queues: Vec<rxq::RxQueue>,
    /// Frames received per queue.
    pub rxq_packets: rxq::QueueCounts,
    /// Broadcast/multicast storm control, when `other_config` sets it
    /// (see [`storm`]).
    pub storm: Option<pps::PpsBucket>,
    /// New connections per second this port may commit, when
    /// `other_config:ct-new-pps` sets it (see [`ct::CT_NEW_PPS_KEY`]).
    pub ct_new: Option<pps::PpsBucket>,
    /// Flow-cache misses per second this port may send to the tables,
    /// when `other_config:upcall-pps` sets it (see [`ct::UPCALL_PPS_KEY`]).
    pub upcall: Option<pps::PpsBucket>,
    /// Whether its frames are read but dropped unparsed for a while after
    /// one of the limits above refused one (see [`admit`]).
    pub admit: admit::Admission,
    /// Limits kept per destination address instead (the uplink, when
    /// `other_config:*-per-dst` sets them; see [`perdst`]).
    pub per_dst: Option<perdst::DstLimits>,
    /// Until when its receive queues are out of the epoll sets (held, see
    /// [`rxpace`]).
    rx_paused: Option<Duration>,
}

impl DpPort {
    /// A port of bridge `bridge` as `iface` configures it, with default
    /// settings (`Datapath::reconcile` applies the rest).
    fn new(bridge: usize, iface: &Interface, io: PortIo) -> DpPort {
        DpPort {
            name: iface.name.clone(),
            bridge,
            ofport: iface.ofport.unwrap_or(0),
            kind: iface.kind,
            iface: iface.clone(),
            io,
            vlan: VlanCfg::default(),
            peer: None,
            stats: PortStats::default(),
            txq: txq::TxQueue::default(),
            policer: None,
            egress: None,
            thread: 0,
            queues: Vec::new(),
            rxq_packets: rxq::QueueCounts::default(),
            storm: None,
            ct_new: None,
            upcall: None,
            admit: admit::Admission::default(),
            per_dst: None,
            rx_paused: None,
        }
    }
}

/// A bridge in the datapath.
pub struct DpBridge {
    /// Name.
    pub name: String,
    /// Slots of its ports, in ofport order.
    pub ports: Vec<usize>,
    /// MAC learning table.
    pub mac: MacTable,
    /// OpenFlow tables (the `flow` crate's classifier).
    pub tables: flow::FlowTables,
    /// Exact-match + megaflow caches in front of the tables, one per
    /// datapath thread.
    pub cache: worker::ThreadCaches,
    /// Drop counters.
    pub drops: DropCounters,
    /// Geneve option ↔ `tun_metadataN` map (`ofctl add-tlv-map`).
    pub tlv: crate::tlv::TlvMap,
}

/// All bridges and ports.
pub struct Datapath {
    /// The first thread's epoll set (also tunnel sockets, egress timer).
    epoll: Arc<Epoll>,
    /// Epoll set of each datapath thread, and how many ports each polls.
    epolls: Vec<Arc<Epoll>>,
    rx_load: Vec<usize>,
    /// The thread processing frames now (its flow cache is used), and the
    /// one whose TAP queues its outputs are written through ([`rxq`]).
    cur_thread: usize,
    tx_thread: usize,
    /// Its transmit batch, lent for the time it holds the lock.
    cur_tx: Option<Box<txbatch::TxBatch>>,
    /// The received frame being processed (address, length, index of the
    /// thread's receive buffer), and whether an output of it may be sent
    /// by reference (no in-place rewrite follows, `execute.rs`).
    cur_rx: Option<(usize, usize, usize)>,
    tx_ref_ok: bool,
    /// The port the frame being processed was read from ([`NO_SLOT`]
    /// outside [`Datapath::process_burst`]) and, when that port has
    /// per-destination limits, the entry of the frame's destination.
    cur_in: usize,
    cur_dst: Option<usize>,
    /// The earliest end of a held port's pause ([`rxpace`]).
    next_resume: Option<Duration>,
    /// Ports by slot; `None` for free slots.
    pub ports: Vec<Option<DpPort>>,
    gens: Vec<u32>,
    /// Bridges by index; `None` for deleted ones.
    pub bridges: Vec<Option<DpBridge>>,
    clock: Arc<dyn Clock>,
    rx: Vec<Vec<u8>>,
    rx_len: [usize; BURST],
    scratch: Vec<Vec<u8>>,
    /// Local responder buffers, one set per patch depth.
    local: Vec<local::Bufs>,
    last_expire: Duration,
    /// The connection tracker behind `ct()`, shared by all bridges.
    pub ct: ct::Ct,
    /// Tunnel sockets and buffers.
    tun: tunnel::TunnelIo,
    /// Tunnel metadata of the frame being received from a tunnel.
    rx_tun: Option<::tunnel::TunnelMeta>,
    /// `tun_metadata` decoded from the Geneve options of that frame.
    rx_md: flow::TunMetadata,
    /// Tunnel fields of the frame being processed (for tunnel outputs).
    tx_tun: tunnel::TunSet,
    /// Egress: the timer of shaped ports, whether it is armed, how many
    /// ports are shaped, and the current frame's queue / classifier facts.
    timer: nix::sys::timerfd::TimerFd,
    timer_armed: bool,
    shaped: usize,
    egress_meta: egress::Meta,
    /// Capture taps (`cloudnet capture`); empty costs one length check.
    pub captures: capture::Captures,
}

fn token(slot: usize, gen: u32) -> u64 {
    (u64::from(gen) << 32) | slot as u64
}

impl Datapath {
    /// An empty datapath with one thread using `clock` for MAC aging.
    pub fn new(clock: Arc<dyn Clock>) -> std::io::Result<Datapath> {
        Self::with_threads(clock, 1)
    }

    /// An empty datapath for `threads` datapath threads (at least one).
    pub fn with_threads(clock: Arc<dyn Clock>, threads: usize) -> std::io::Result<Datapath> {
        let threads = threads.clamp(1, worker::MAX_THREADS);
        let epolls = (0..threads)
            .map(|_| {
                Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)
                    .map(Arc::new)
                    .map_err(std::io::Error::from)
            })
            .collect::<std::io::Result<Vec<_>>>()?;
        let epoll = epolls[0].clone();
        let timer = egress::new_timer()?;
        epoll
            .add(
                timer.as_fd(),
                EpollEvent::new(EpollFlags::EPOLLIN, egress::TIMER_TOKEN),
            )
            .map_err(std::io::Error::from)?;
        Ok(Datapath {
            epoll,
            rx_load: vec![0; epolls.len()],
            epolls,
            cur_thread: 0,
            tx_thread: 0,
            cur_tx: None,
            cur_rx: None,
            tx_ref_ok: false,
            cur_in: NO_SLOT,
            cur_dst: None,
            next_resume: None,
            ports: Vec::new(),
            gens: Vec::new(),
            bridges: Vec::new(),
            rx: (0..BURST).map(|_| vec![0u8; BUF_LEN]).collect(),
            rx_len: [0; BURST],
            scratch: (0..=MAX_PATCH_DEPTH)
                .map(|_| Vec::with_capacity(BUF_LEN))
                .collect(),
            local: (0..=MAX_PATCH_DEPTH)
                .map(|_| local::Bufs::default())
                .collect(),
            last_expire: Duration::ZERO,
            ct: ct::Ct::new(conntrack::Config::default(), clock.clone()),
            clock,
            tun: tunnel::TunnelIo::default(),
            rx_tun: None,
            rx_md: flow::TunMetadata::default(),
            tx_tun: tunnel::TunSet::default(),
            timer,
            timer_armed: false,
            shaped: 0,
            egress_meta: egress::Meta::default(),
            captures: capture::Captures::default(),
        })
    }

    /// Index of bridge `name`.
    pub fn bridge_index(&self, name: &str) -> Option<usize> {
        self.bridges
            .iter()
            .position(|b| b.as_ref().is_some_and(|b| b.name == name))
    }

    /// Bridge `name`.
    pub fn bridge(&self, name: &str) -> Option<&DpBridge> {
        self.bridge_index(name)
            .and_then(|i| self.bridges[i].as_ref())
    }

    /// Bridge `name`, mutable.
    pub fn bridge_mut(&mut self, name: &str) -> Option<&mut DpBridge> {
        let i = self.bridge_index(name)?;
        self.bridges[i].as_mut()
    }

    /// Slot of the port named `name`.
    pub fn port_slot(&self, name: &str) -> Option<usize> {
        self.ports
            .iter()
            .position(|p| p.as_ref().is_some_and(|p| p.name == name))
    }

    /// Counters of interface `name`.
    pub fn port_stats(&self, name: &str) -> Option<PortStats> {
        let s = self.port_slot(name)?;
        self.ports[s].as_ref().map(|p| p.stats)
    }

    /// Start capturing at interface `name` (see [`capture`]).
    pub fn capture(
        &mut self,
        name: &str,
        filter: Option<flow::Match>,
        queue: usize,
    ) -> Option<capture::Handle> {
        let slot = self.port_slot(name)?;
        let gen = self.gens[slot];
        Some(self.captures.add(slot, gen, filter, queue))
    }

    /// Offer a frame at `slot` to the capture taps (only called when some
    /// tap is active).
    #[cold]
    fn tap(&mut self, slot: usize, dir: capture::Dir, pieces: &[&[u8]]) {
        let Some(p) = self.ports.get(slot).and_then(Option::as_ref) else {
            return;
        };
        let (ofport, gen) = (p.ofport, self.gens[slot]);
        self.captures.offer(slot, gen, ofport, dir, pieces);
    }

    fn close_port(&mut self, slot: usize, deleting: bool) {
        if let Some(p) = self.ports[slot].take() {
            let ep = &self.epolls[p.thread];
            let polled = match &p.io {
                PortIo::Tap(t) => ep.delete(t.as_fd()).is_ok(),
                PortIo::Packet(s) => ep.delete(s.as_fd()).is_ok(),
                PortIo::Tunnel(tp) => {
                    self.tun.detach(slot, tp, &self.epoll);
                    false
                }
                _ => false,
            };
            if polled {
                self.rx_load[p.thread] = self.rx_load[p.thread].saturating_sub(1);
            }
            for q in &p.queues {
                let _ = self.epolls[q.thread].delete(q.tap.as_fd());
            }
            if deleting {
                port::release(&p.io);
            }
            if p.egress.is_some() {
                self.shaped -= 1;
            }
            self.gens[slot] = self.gens[slot].wrapping_add(1);
            if let Some(Some(b)) = self.bridges.get_mut(p.bridge) {
                b.mac.flush_port(slot);
                b.ports.retain(|&s| s != slot);
            }
        }
    }

    fn free_slot(&mut self) -> usize {
        if let Some(i) = self.ports.iter().position(Option::is_none) {
            return i;
        }
        self.ports.push(None);
        self.gens.push(0);
        self.ports.len() - 1
    }

    /// Bring the datapath in line with `cfg`: create and delete bridges,
    /// open, reopen and close ports, apply VLAN settings, resolve patch
    /// peers. Ports that fail to open stay, down, and the error is returned
    /// beside the others so the caller can log it (OVS records it in the
    /// Interface `error` column and carries on).
    pub fn reconcile(&mut self, cfg: &Config) -> Vec<String> {
        let mut errors = Vec::new();
        // Bridges gone from the configuration.
        for bi in 0..self.bridges.len() {
            let gone = self.bridges[bi]
                .as_ref()
                .is_some_and(|b| !cfg.bridges.contains_key(&b.name));
            if gone {
                let slots: Vec<usize> = self.bridges[bi]
                    .as_ref()
                    .map(|b| b.ports.clone())
                    .unwrap_or_default();
                for s in slots {
                    self.close_port(s, true);
                }
                self.bridges[bi] = None;
            }
        }
        // New bridges, aging updates.
        for b in cfg.bridges.values() {
            let aging = Duration::from_secs(b.mac_aging_secs());
            let tlv = cfg.tlv_maps.get(&b.name).cloned().unwrap_or_default();
            match self.bridge_mut(&b.name) {
                Some(db) => {
                    db.mac.set_aging(aging);
                    db.tlv = tlv;
                }
                None => {
                    let tables = flow::FlowTables::new();
                    if let Ok(p) = flow::parse_flow(DEFAULT_FLOW) {
                        let _ = tables.add_flow(p.flow, self.clock.now());
                    }
                    let nb = DpBridge {
                        name: b.name.clone(),
                        ports: Vec::new(),
                        mac: MacTable::new(aging, DEFAULT_MAC_TABLE_SIZE),
                        tables,
                        cache: worker::ThreadCaches::new(self.epolls.len()),
                        drops: DropCounters::default(),
                        tlv,
                    };
                    match self.bridges.iter().position(Option::is_none) {
                        Some(i) => self.bridges[i] = Some(nb),
                        None => self.bridges.push(Some(nb)),
                    }
                }
            }
        }
        // Ports gone, moved to another bridge, or changed in a way that
        // needs a reopen.
        for slot in 0..self.ports.len() {
            let Some(p) = &self.ports[slot] else { continue };
            let want_bridge = cfg
                .bridges
                .values()
                .find(|b| b.ports.contains(&p.name))
                .and_then(|b| self.bridge_index(&b.name));
            let iface = cfg.interfaces.get(&p.name);
            let reopen = iface.map(|i| i.kind != p.iface.kind || i.options != p.iface.options);
            match (reopen, want_bridge) {
                (Some(false), Some(b)) if b == p.bridge => {}
                (None, _) | (_, None) => self.close_port(slot, true),
                _ => self.close_port(slot, false),
            }
        }
        // New (or reopened) ports; settings of all.
        for b in cfg.bridges.values() {
            let Some(bi) = self.bridge_index(&b.name) else {
                continue;
            };
            for pname in &b.ports {
                let (Some(iface), Some(cport)) = (cfg.interfaces.get(pname), cfg.ports.get(pname))
                else {
                    continue;
                };
                let slot = match self.port_slot(pname) {
                    Some(s) => s,
                    None => match self.open_port(bi, iface) {
                        Ok(s) => s,
                        Err((s, e)) => {
                            errors.push(e);
                            s
                        }
                    },
                };
                self.apply_settings(slot, iface, cport);
                let qos = crate::qos_spec::for_port(cfg, pname);
                errors.extend(self.apply_egress(slot, qos));
            }
        }
        self.resolve_peers();
        errors
    }

    fn open_port(&mut self, bridge: usize, iface: &Interface) -> Result<usize, (usize, String)> {
        let slot = self.free_slot();
        let opened = rxq::n_rxq(iface, self.epolls.len())
            .map_err(port::OpenError::from)
            .and_then(|n| port::open_queues(iface, n));
        let (mut io, queues, err) = match opened {
            Ok((io, queues)) => (io, queues, None),
            Err(e) => {
                let msg = e.to_string();
                (PortIo::Down(msg.clone()), Vec::new(), Some(msg))
            }
        };
        let tok = token(slot, self.gens[slot]);
        let ev = EpollEvent::new(EpollFlags::EPOLLIN, tok);
        // The least loaded thread polls it (OVS's pmd-rxq-assign=roundrobin
        // gives each PMD thread its share of rx queues).
        let thread = (0..self.rx_load.len())
            .min_by_key(|&t| self.rx_load[t])
            .unwrap_or(0);
        let ep = &self.epolls[thread];
        let reg = match &io {
            PortIo::Tap(t) => ep.add(t.as_fd(), ev),
            PortIo::Packet(s) => ep.add(s.as_fd(), ev),
            _ => Ok(()),
        };
        let polled = reg.is_ok() && matches!(io, PortIo::Tap(_) | PortIo::Packet(_));
        if polled {
            self.rx_load[thread] += 1;
        }
        let err = match (&mut io, err) {
            (PortIo::Tunnel(tp), None) => self.tun.attach(slot, tp, &self.epoll).err(),
            (PortIo::Tap(_), None) => port::apply_mtu(iface).err().map(|e| e.to_string()),
            (_, e) => e,
        };
        let err = match (err, reg) {
            (Some(e), _) => Some(e),
            (None, Err(e)) => Some(format!("interface {}: epoll: {e}", iface.name)),
            (None, Ok(())) => None,
        };
        let mut p = DpPort::new(bridge, iface, io);
        p.thread = if polled { thread } else { 0 };
        // Queue i on the i-th next thread; only queue 0 counts towards a
        // thread's load, so ports still spread as with single queues.
        let mut err = err;
        for (i, tap) in queues.into_iter().enumerate() {
            let (q, t) = (i + 1, (thread + i + 1) % self.epolls.len());
            let ev = EpollEvent::new(EpollFlags::EPOLLIN, rxq::token(tok, q));
            match self.epolls[t].add(tap.as_fd(), ev) {
                Ok(()) => p.queues.push(rxq::RxQueue { tap, thread: t }),
                Err(e) => {
                    err.get_or_insert(format!("interface {}: epoll queue {q}: {e}", iface.name));
                }
            }
        }
        self.ports[slot] = Some(p);
        if let Some(Some(b)) = self.bridges.get_mut(bridge) {
            b.ports.push(slot);
        }
        match err {
            Some(e) => Err((slot, e)),
            None => Ok(slot),
        }
    }

    fn apply_settings(&mut self, slot: usize, iface: &Interface, cport: &Port) {
        let Some(p) = self.ports[slot].as_mut() else {
            return;
        };
        p.ofport = iface.ofport.unwrap_or(0);
        let mtu_changed = p.iface.mtu_request != iface.mtu_request;
        p.iface = iface.clone();
        if mtu_changed {
            if let Err(e) = port::apply_mtu(iface) {
                tracing::warn!("{e}");
            }
        }
        let want = (iface.ingress_policing_rate, iface.ingress_policing_burst);
        let have = p.policer.as_ref().map(police::Policer::settings);
        if want.0 == 0 {
            p.policer = None;
        } else if have
            != Some((
                want.0,
                if want.1 == 0 {
                    police::DEFAULT_BURST_KBIT
                } else {
                    want.1
                },
            ))
        {
            p.policer = Some(police::Policer::new(want.0, want.1, self.clock.now()));
        }
        p.apply_limits(iface, self.clock.now());
        let vlan = VlanCfg {
            tag: cport.tag,
            trunks: cport.trunks.clone(),
        };
        if vlan != p.vlan {
            p.vlan = vlan;
            let b = p.bridge;
            // VLAN membership changed: what was learned may be wrong now.
            if let Some(Some(b)) = self.bridges.get_mut(b) {
                b.mac.flush_port(slot);
            }
        }
        let bi = p.bridge;
        if let Some(Some(b)) = self.bridges.get_mut(bi) {
            let ports = &self.ports;
            b.ports
                .sort_by_key(|&s| ports[s].as_ref().map(|p| p.ofport).unwrap_or(0));
        }
    }

    fn resolve_peers(&mut self) {
        let names: BTreeMap<String, usize> = self
            .ports
            .iter()
            .enumerate()
            .filter_map(|(i, p)| p.as_ref().map(|p| (p.name.clone(), i)))
            .collect();
        for p in self.ports.iter_mut().flatten() {
            p.peer = if p.kind == IfaceType::Patch {
                p.iface
                    .options
                    .get("peer")
                    .and_then(|n| names.get(n))
                    .copied()
            } else {
                None
            };
        }
    }

    /// Handle an epoll token that is not a port's receive side: a tunnel
    /// socket (drained and forwarded here, under the lock) or the egress
    /// timer. Ports are drained by their thread (`worker::Worker`).
    fn service(&mut self, tok: u64) {
        if tok & tunnel::TUN_TOKEN_HI == tunnel::TUN_TOKEN_HI {
            self.service_tunnel((tok & 0xffff_ffff) as usize);
            return;
        }
        if tok == egress::TIMER_TOKEN {
            // Consumed here; `run_egress` follows every wake-up.
            self.ack_timer();
        }
    }

    /// Whether `tok` names a port's receive side (rather than a tunnel
    /// socket or the egress timer).
    fn is_port_token(tok: u64) -> bool {
        tok & tunnel::TUN_TOKEN_HI != tunnel::TUN_TOKEN_HI && tok != egress::TIMER_TOKEN
    }

    /// The fd behind port token `tok`, to read from without the lock; None
    /// if the port is gone or reopened since the event was queued.
    fn rx_handle(&self, tok: u64) -> Option<(usize, u32, usize, txbatch::TxIo)> {
        let (slot, gen, q) = rxq::split(tok);
        if self.gens.get(slot) != Some(&gen) {
            return None;
        }
        let p = self.ports.get(slot)?.as_ref()?;
        let io = match q {
            0 => txbatch::TxIo::of(&p.io)?,
            q => txbatch::TxIo::Tap(p.queues.get(q - 1)?.tap.clone()),
        };
        Some((slot, gen, q, io))
    }

    /// Forward frames a thread read from queue `queue` of port `slot`
    /// (generation `gen`): `rx[i][..lens[i]]` from `i = from`, after
    /// `rx_errors` failed reads.
    /// Stops early, after at least one frame, when the thread's transmit
    /// batch is nearly full; returns the index to go on from.
    fn process_burst(
        &mut self,
        (slot, gen, queue): (usize, u32, usize),
        rx: &mut [Vec<u8>],
        lens: &[usize],
        from: usize,
        rx_errors: u64,
    ) -> usize {
        if self.gens.get(slot) != Some(&gen) {
            return lens.len();
        }
        if let Some(p) = self.ports[slot].as_mut() {
            p.stats.rx_errors += rx_errors;
        }
        // Frames from a multi-queue TAP leave through their flow's thread's
        // queues, others through this thread's (`rxq`, module docs).
        let threads = self.epolls.len();
        let by_flow = self.ports[slot]
            .as_ref()
            .is_some_and(|p| !p.queues.is_empty());
        // Admission before parsing (`admit.rs`), one clock reading per
        // burst: a hold that starts within it covers the rest of it.
        let now = self.clock.now();
        self.resume_rx(now);
        let end = lens.len().min(rx.len());
        let mut i = from;
        self.cur_in = slot;
        while i < end {
            let buf = &mut rx[i];
            let len = lens[i].min(buf.len());
            let eth = buf.get(port::HDR..len).unwrap_or(&[]);
            match self.admit_rx(slot, eth, now) {
                admit::Rx::Gone => break,
                admit::Rx::PortHeld => {
                    self.drop_held(slot, &lens[i..end]);
                    i = end;
                    break;
                }
                admit::Rx::DstHeld => {
                    self.drop_held(slot, &lens[i..=i]);
                    i += 1;
                    continue;
                }
                admit::Rx::Admit(dst) => self.cur_dst = dst,
            }
            self.tx_thread = if by_flow && !eth.is_empty() {
                rxq::flow_thread(eth, threads)
            } else {
                self.cur_thread
            };
            self.cur_rx = Some((buf.as_ptr() as usize, len, i));
            self.tx_ref_ok = true;
            self.input(slot, &mut buf[..len], 0);
            i += 1;
            if self
                .cur_tx
                .as_ref()
                .is_some_and(|t| t.room() < txbatch::HEADROOM)
            {
                break;
            }
        }
        self.pause_rx(slot, now);
        self.cur_rx = None;
        self.cur_in = NO_SLOT;
        self.cur_dst = None;
        self.tx_ref_ok = false;
        self.tx_thread = self.cur_thread;
        self.flush_tx();
        if let Some(p) = self.ports[slot].as_mut() {
            if let Some(c) = p.rxq_packets.0.get_mut(queue) {
                *c += i.saturating_sub(from) as u64;
            }
        }
        i
    }

    /// Fold the outcome of a thread's last unlocked transmit into the
    /// ports' counters and drop reasons.
    fn apply_tx(&mut self, tx: &mut txbatch::TxBatch) {
        for d in tx.take_results() {
            if self.gens.get(d.slot) != Some(&d.gen) {
                continue;
            }
            let Some(p) = self.ports[d.slot].as_mut() else {
                continue;
            };
            let c = d.counts;
            p.stats.tx_packets += c.sent;
            p.stats.tx_bytes += c.bytes;
            p.stats.tx_dropped += c.dropped;
            p.stats.tx_errors += c.errors;
            if let Some(Some(b)) = self.bridges.get_mut(p.bridge) {
                b.drops.add(stats::DropReason::TxFull, c.dropped);
                b.drops.add(stats::DropReason::TxError, c.errors);
            }
        }
    }

    /// Send what AF_PACKET ports have queued (end of a burst).
    fn flush_tx(&mut self) {
        for p in self.ports.iter_mut().flatten() {
            if p.txq.is_empty() {
                continue;
            }
            if let PortIo::Packet(s) = &p.io {
                let f = p.txq.flush(s);
                p.stats.tx_packets += f.sent;
                p.stats.tx_bytes += f.bytes;
                p.stats.tx_dropped += f.dropped;
                if f.dropped > 0 {
                    if let Some(Some(b)) = self.bridges.get_mut(p.bridge) {
                        for _ in 0..f.dropped {
                            b.drops.bump(stats::DropReason::TxFull);
                        }
                    }
                }
            }
        }
    }

    /// The datapath's clock reading.
    pub fn now(&self) -> Duration {
        self.clock.now()
    }

    /// Put back held ports whose pause is over ([`rxpace`]); age out MAC
    /// entries and timed-out flows about once a second.
    fn housekeeping(&mut self) {
        let now = self.clock.now();
        self.resume_rx(now);
        if now.saturating_sub(self.last_expire) >= Duration::from_secs(1) {
            self.last_expire = now;
            for b in self.bridges.iter_mut().flatten() {
                b.mac.expire(now);
                // Cached hits reach the flows' counters (and idle timeouts).
                b.cache.sync_stats();
                b.tables.expire(now);
            }
            self.ct.table.sweep(ct::SWEEP_BUDGET);
        }
    }
}
