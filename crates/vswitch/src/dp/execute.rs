//! What happens to one frame: table lookup, actions, the NORMAL learning
//! switch, and transmission. Nothing here allocates per frame: actions are
//! copied to the stack, output frames are gathered from slices of the input
//! buffer (`Pieces`), and patch ports reuse one scratch buffer per depth.
//!
//! Header rewrites are applied in place on the receive buffer, in action
//! order. Every output sends (or copies, for queues and patch ports) the
//! frame before the next action runs, so each output carries the packet
//! "as modified so far" (ovs-actions(7)) without a clone per output.

use std::fmt::Write as _;

use flow::DpAction;
use packet::flowkey::VLAN_CFI;
use packet::FlowKey;

use super::ct::{CtAt, Recirc};
use super::port::{Pieces, PortIo, VlanEdit, HDR};
use super::rewrite::{self, Layout, RewriteError};
use super::stats::DropReason;
use super::txbatch::{To, TxBatch, TxIo};
use super::{Datapath, MAX_PATCH_DEPTH};
use crate::schema::OFPP_LOCAL;

/// The layer-2 facts NORMAL and the output edits need.
#[derive(Clone, Copy, Debug)]
pub(crate) struct L2 {
    /// Destination MAC.
    pub dl_dst: [u8; 6],
    /// Source MAC.
    pub dl_src: [u8; 6],
    /// Outer VLAN TCI as on the wire (no CFI marker), if tagged.
    pub vlan: Option<u16>,
}

impl L2 {
    fn from_key(k: &FlowKey) -> L2 {
        L2 {
            dl_dst: k.dl_dst,
            dl_src: k.dl_src,
            vlan: (k.vlan_tci & VLAN_CFI != 0).then_some(k.vlan_tci & !VLAN_CFI),
        }
    }

    fn vid(&self) -> Option<u16> {
        self.vlan.map(|t| t & 0x0fff)
    }
}

/// The edit that turns a frame tagged `from` into one tagged `to` (TCIs).
fn edit(from: Option<u16>, to: Option<u16>) -> VlanEdit {
    match (from, to) {
        (None, None) => VlanEdit::Keep,
        (None, Some(v)) => VlanEdit::Push(v),
        (Some(_), None) => VlanEdit::Pop,
        (Some(a), Some(b)) if a == b => VlanEdit::Keep,
        (Some(_), Some(b)) => VlanEdit::Rewrite(b & 0x0fff),
    }
}

/// Whether this datapath can execute `a` (the rest are counted as
/// [`DropReason::Unsupported`] and the frame is dropped rather than sent
/// out half-processed).
fn supported(a: &DpAction) -> bool {
    rewrites_header(a)
        || matches!(
            a,
            DpAction::PopVlan
                | DpAction::PushVlan { .. }
                | DpAction::SetVlan { .. }
                | DpAction::Output(_)
                | DpAction::OutputInPort
                | DpAction::Flood
                | DpAction::All
                | DpAction::Local
                | DpAction::Normal
                | DpAction::Enqueue { .. }
                | DpAction::SetQueue(_)
                | DpAction::SetPktMark(_)
                | DpAction::Meter(_)
                | DpAction::Ct { .. }
                | DpAction::CtClear
                | DpAction::Controller { .. }
                | DpAction::SetTunnel { .. }
                | DpAction::SetTunMetadata(_)
        )
}

/// Whether `a` changes the frame's bytes where they lie (header rewrites,
/// `ct` NAT); VLAN edits are made on output (`Pieces`).
fn rewrites_in_place(a: &DpAction) -> bool {
    rewrites_header(a) || matches!(a, DpAction::Ct { .. })
}

/// Whether `a` is a header rewrite (`rewrite::apply`).
fn rewrites_header(a: &DpAction) -> bool {
    matches!(
        a,
        DpAction::SetEthSrc(_)
            | DpAction::SetEthDst(_)
            | DpAction::SetIpv4Src(_)
            | DpAction::SetIpv4Dst(_)
            | DpAction::SetIpv6Src(_)
            | DpAction::SetIpv6Dst(_)
            | DpAction::SetIpTos(_)
            | DpAction::SetIpTtl(_)
            | DpAction::SetTpSrc(_)
            | DpAction::SetTpDst(_)
            | DpAction::SetArp { .. }
            | DpAction::SetNd { .. }
    )
}

/// Where a list of datapath actions runs: bridge, input port slot (or
/// [`super::NO_SLOT`] for a packet-out from the controller), patch depth,
/// recirculation state, and the frame's layout, key and metadata.
#[derive(Clone, Copy)]
pub(super) struct ExecAt<'a> {
    pub bi: usize,
    pub slot: usize,
    pub depth: usize,
    pub recirc: Recirc,
    pub layout: &'a Layout,
    pub key: &'a FlowKey,
    pub meta: &'a flow::Metadata,
}

impl Datapath {
    pub(super) fn drop_frame(&mut self, bridge: usize, in_slot: usize, why: DropReason) {
        if let Some(Some(b)) = self.bridges.get_mut(bridge) {
            b.drops.bump(why);
        }
        if matches!(
            why,
            DropReason::Malformed
                | DropReason::VlanNotAllowed
                | DropReason::TableMiss
                | DropReason::ActionDrop
                | DropReason::PatchLoop
                | DropReason::Unsupported
                | DropReason::Policed
                | DropReason::StormControl
                | DropReason::CtNewRate
                | DropReason::UpcallLimit
                | DropReason::CtLimit
                | DropReason::CtNat
                | DropReason::RecircLimit
        ) {
            if let Some(Some(p)) = self.ports.get_mut(in_slot) {
                p.stats.rx_dropped += 1;
            }
        }
    }

    /// A frame (virtio header included) received on port `slot`: extract
    /// its flow key, look it up through the flow cache and the tables, and
    /// execute the datapath actions on the bytes.
    pub(super) fn input(&mut self, slot: usize, frame: &mut [u8], depth: usize) {
        let Some(p) = self.ports.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        let bi = p.bridge;
        let ofport = p.ofport;
        let eth_len = frame.len().saturating_sub(HDR);
        p.stats.rx_packets += 1;
        p.stats.rx_bytes += eth_len as u64;
        let now = self.clock.now();
        let policed = p
            .policer
            .as_mut()
            .is_some_and(|pol| !pol.admit(eth_len, now));
        // Storm control (`storm.rs`): the one call into the limiter.
        let stormed = !policed
            && p.storm
                .as_mut()
                .is_some_and(|s| !super::storm::admit(s, frame.get(HDR..).unwrap_or(&[]), now));
        // A policed frame was still seen at the port: capture it first.
        if !self.captures.is_empty() {
            let eth = frame.get(HDR..).unwrap_or(&[]);
            self.tap(slot, super::capture::Dir::Rx, &[eth]);
        }
        if policed {
            self.drop_frame(bi, slot, DropReason::Policed);
            return;
        }
        if stormed {
            self.drop_frame(bi, slot, DropReason::StormControl);
            return;
        }
        // Tunnel fields come with a frame from a tunnel port and are
        // cleared across patch ports, as in OVS.
        let tun = match (depth, self.rx_tun.take()) {
            (0, Some(m)) => super::tunnel::TunSet {
                md: self.rx_md,
                ..super::tunnel::tun_set(&m)
            },
            _ => super::tunnel::TunSet::default(),
        };
        let meta = flow::Metadata {
            in_port: u32::from(ofport),
            tun_id: tun.id,
            tun_src: tun.src,
            tun_dst: tun.dst,
            tun_flags: tun.flags,
            tun_md: tun.md,
            ..flow::Metadata::default()
        };
        self.pipeline(bi, slot, frame, &meta, depth, Recirc::default());
    }

    /// Look a frame up with pipeline metadata `meta` (fresh from a port, or
    /// after `ct(table=T)`, with what `recirc` says about the passes so far)
    /// and execute the actions found.
    pub(super) fn pipeline(
        &mut self,
        bi: usize,
        slot: usize,
        frame: &mut [u8],
        meta: &flow::Metadata,
        depth: usize,
        recirc: Recirc,
    ) {
        let eth = frame.get(HDR..).unwrap_or(&[]);
        let eth_len = eth.len();
        let mut key = FlowKey::default();
        // A frame whose upper layers do not parse is still switched on what
        // did (as OVS does); only a frame without an Ethernet header is
        // dropped.
        let layout = match packet::extract(eth, &mut key) {
            Ok(off) => Layout::new(&off, key.dl_type, key.nw_proto),
            Err(_) if eth.len() < 14 => {
                self.drop_frame(bi, slot, DropReason::Malformed);
                return;
            }
            // Rewrites of layers that did not parse fail (and drop) below.
            Err(_) => Layout::default(),
        };
        // Tunnel fields for outputs start as the frame's own (set when it
        // came from a tunnel port, kept across ct() recirculation).
        self.tx_tun = super::tunnel::TunSet {
            id: meta.tun_id,
            src: meta.tun_src,
            dst: meta.tun_dst,
            flags: meta.tun_flags,
            md: meta.tun_md,
        };
        if self.shaped > 0 {
            self.egress_meta = super::egress::Meta::from_key(&key);
        }
        let pkt = flow::Packet { key, meta: *meta };
        let now = self.clock.now();
        // The port the frame came from pays for its misses (`admit.rs`).
        let (owner, dst) = self.rate_owner(slot);
        let x = {
            let Some(Some(b)) = self.bridges.get_mut(bi) else {
                return;
            };
            // The per-port upcall limit (`dp/ct.rs` UPCALL_PPS_KEY): a
            // cache miss over the port's rate is not translated.
            let cache = b.cache.get_mut(self.cur_thread);
            let ports = &mut self.ports;
            // Per destination on a port that has such limits (the uplink,
            // `perdst.rs`). A refusal holds the port or the destination
            // (`admit.rs`).
            let admit = || {
                let Some(p) = ports.get_mut(owner).and_then(Option::as_mut) else {
                    return true;
                };
                if let (Some(l), Some(e)) = (p.per_dst.as_mut(), dst) {
                    if !l.take_upcall(e, now) {
                        return false;
                    }
                }
                let ok = p.upcall.as_mut().is_none_or(|u| u.take(now));
                if !ok {
                    p.admit.refused(now);
                }
                ok
            };
            let Some(x) = flow::process_limited(&b.tables, cache, &pkt, eth_len as u64, now, admit)
            else {
                self.drop_frame(bi, slot, DropReason::UpcallLimit);
                return;
            };
            if !x.learns.is_empty() {
                for _ in 0..b.tables.apply_learned(&x.learns, now) {
                    b.drops.bump(DropReason::LearnLimit);
                }
            }
            x
        };
        let at = ExecAt {
            bi,
            slot,
            depth,
            recirc,
            layout: &layout,
            key: &key,
            meta,
        };
        self.run_actions(&at, frame, &x.actions);
    }

    /// Execute the datapath actions `actions` on `frame` (a lookup's
    /// verdict, or a packet-out's translated actions).
    pub(super) fn run_actions(&mut self, at: &ExecAt<'_>, frame: &mut [u8], actions: &[DpAction]) {
        let ExecAt {
            bi,
            slot,
            depth,
            recirc,
            layout,
            key,
            meta,
        } = *at;
        let key = *key;
        let ofport = meta.in_port as u16;
        if actions.is_empty() {
            self.drop_frame(bi, slot, DropReason::ActionDrop);
            return;
        }
        if !actions.iter().all(supported) {
            self.drop_frame(bi, slot, DropReason::Unsupported);
            return;
        }
        let mut l2 = L2::from_key(&key);
        let mut cur = l2.vlan;
        let n_actions = actions.len();
        // `enqueue:P:Q` is set_queue:Q, output:P, pop_queue (ovs-actions(7)).
        let mut enqueued: Option<Option<u32>> = None;
        let mut seen = recirc.seen;
        // An output may leave by reference to the receive buffer only if
        // no later action rewrites the frame in place (a `ct` action's NAT
        // comes before its recirculation's outputs), nor the caller's.
        let outer_ref_ok = self.tx_ref_ok;
        let last_rewrite = actions.iter().rposition(rewrites_in_place);
        for (i, a) in actions.iter().enumerate() {
            self.tx_ref_ok = outer_ref_ok && last_rewrite.is_none_or(|m| m <= i);
            if let Some(q) = enqueued.take() {
                self.egress_meta.queue = q;
            }
            match *a {
                DpAction::SetQueue(q) => self.egress_meta.queue = Some(q),
                DpAction::Enqueue { queue, .. } => {
                    enqueued = Some(self.egress_meta.queue);
                    self.egress_meta.queue = Some(queue);
                }
                _ => {}
            }
            match *a {
                DpAction::Ct { .. } => {
                    let last = i + 1 == n_actions;
                    let at = CtAt {
                        bi,
                        slot,
                        depth,
                        recirc: recirc.n,
                        last,
                    };
                    if !self.ct_execute(&at, &mut seen, frame, layout, &key, meta, a) {
                        return;
                    }
                }
                // The pipeline's ct_* fields were cleared by translation;
                // the frame forgets its connection, and a NATed frame stays
                // translated (ovs-actions(7) ct_clear).
                DpAction::CtClear => seen = None,
                _ if rewrites_header(a) => {
                    if let Err(e) = rewrite::apply(frame, layout, a) {
                        let why = match e {
                            RewriteError::NoHeader { .. } => DropReason::Malformed,
                            RewriteError::Sctp => DropReason::Unsupported,
                        };
                        self.drop_frame(bi, slot, why);
                        return;
                    }
                    // NORMAL after a MAC rewrite switches on the new MACs.
                    match *a {
                        DpAction::SetEthSrc(m) => l2.dl_src = m,
                        DpAction::SetEthDst(m) => l2.dl_dst = m,
                        _ => {}
                    }
                }
                DpAction::SetTunnel { id, src, dst } => {
                    self.tx_tun = super::tunnel::TunSet {
                        id,
                        src,
                        dst,
                        ..self.tx_tun
                    }
                }
                DpAction::SetTunMetadata(md) => self.tx_tun.md = md,
                DpAction::PopVlan => cur = None,
                DpAction::PushVlan { tci, .. } | DpAction::SetVlan { tci } => {
                    cur = Some(tci & !VLAN_CFI)
                }
                DpAction::Output(ofp) | DpAction::Enqueue { port: ofp, .. } => {
                    let Ok(ofp) = u16::try_from(ofp) else {
                        continue;
                    };
                    if ofp == ofport {
                        // OpenFlow 1.0 §5.2.1: output to the input port
                        // needs IN_PORT explicitly.
                        continue;
                    }
                    if let Some(out) = self.slot_by_ofport(bi, ofp) {
                        self.transmit(bi, slot, out, frame, edit(l2.vlan, cur), depth);
                    }
                }
                DpAction::Local => {
                    if let Some(out) = self.slot_by_ofport(bi, OFPP_LOCAL) {
                        if out != slot {
                            self.transmit(bi, slot, out, frame, edit(l2.vlan, cur), depth);
                        }
                    }
                }
                DpAction::OutputInPort => {
                    self.transmit(bi, slot, slot, frame, edit(l2.vlan, cur), depth)
                }
                DpAction::Flood | DpAction::All => {
                    let e = edit(l2.vlan, cur);
                    let cnt = self.bridges[bi].as_ref().map_or(0, |b| b.ports.len());
                    for i in 0..cnt {
                        let out = match self.bridges[bi].as_ref().and_then(|b| b.ports.get(i)) {
                            Some(&s) => s,
                            None => break,
                        };
                        if out != slot {
                            self.transmit(bi, slot, out, frame, e, depth);
                        }
                    }
                }
                DpAction::Normal => self.normal(bi, slot, &l2, frame, depth),
                DpAction::Controller {
                    ref action,
                    ref regs,
                    metadata,
                } => {
                    let pin = super::local::PacketIn {
                        action,
                        regs,
                        metadata,
                    };
                    self.controller(bi, slot, frame, cur, pin, depth)
                }
                _ => {}
            }
        }
    }

    pub(super) fn slot_by_ofport(&self, bridge: usize, ofport: u16) -> Option<usize> {
        let b = self.bridges.get(bridge)?.as_ref()?;
        b.ports
            .iter()
            .copied()
            .find(|&s| self.ports[s].as_ref().is_some_and(|p| p.ofport == ofport))
    }

    /// The VLAN a frame belongs to on input, per the port's `tag`/`trunks`
    /// (ovs-vswitchd.conf.db(5), Port "VLAN Configuration"): an access port
    /// admits only untagged frames and puts them in its VLAN; a trunk admits
    /// untagged frames (VLAN 0) and tags it carries.
    ///
    /// A packet-out from the controller ([`super::NO_SLOT`]) enters as on
    /// a trunk carrying every VLAN, as OVS's `ofpp_none_bundle` does.
    fn input_vlan(&self, slot: usize, key: &L2) -> Option<u16> {
        if slot == super::NO_SLOT {
            return Some(key.vid().unwrap_or(0));
        }
        let p = self.ports.get(slot)?.as_ref()?;
        match (p.vlan.tag, key.vid()) {
            (Some(t), None) => Some(t),
            (Some(_), Some(_)) => None,
            (None, Some(v)) => p.vlan.carries(v).then_some(v),
            (None, None) => Some(0),
        }
    }

    /// The edit for sending a frame of `vlan` out of port `out`: access
    /// ports send untagged, trunks tagged (VLAN 0 untagged).
    fn output_edit(&self, out: usize, vlan: u16, key: &L2) -> Option<VlanEdit> {
        let p = self.ports[out].as_ref()?;
        if !p.vlan.carries(vlan) {
            return None;
        }
        let want = if p.vlan.tag.is_some() || vlan == 0 {
            None
        } else if key.vid() == Some(vlan) {
            key.vlan
        } else {
            Some(vlan)
        };
        Some(edit(key.vlan, want))
    }

    /// The NORMAL action: a VLAN-aware learning switch.
    fn normal(&mut self, bi: usize, slot: usize, key: &L2, frame: &[u8], depth: usize) {
        let Some(vlan) = self.input_vlan(slot, key) else {
            self.drop_frame(bi, slot, DropReason::VlanNotAllowed);
            return;
        };
        let now = self.clock.now();
        let known = {
            let Some(Some(b)) = self.bridges.get_mut(bi) else {
                return;
            };
            // Nothing is learned from a frame the controller sends.
            if slot != super::NO_SLOT {
                b.mac.learn(vlan, key.dl_src, slot, now);
            }
            if key.dl_dst[0] & 1 == 0 {
                b.mac.lookup(vlan, key.dl_dst, now)
            } else {
                None
            }
        };
        if let Some(out) = known {
            if out == slot {
                self.drop_frame(bi, slot, DropReason::SameSegment);
                return;
            }
            if let Some(e) = self.output_edit(out, vlan, key) {
                self.transmit(bi, slot, out, frame, e, depth);
                return;
            }
        }
        // Flooding is head-end replication to every remote VTEP's port;
        // what came from one never goes back out another (split horizon:
        // tunnels form a full mesh, RFC 7348 §4.2 / RFC 8365 §8.3).
        // ARP suppression (answering from known bindings instead of
        // flooding, L2 population) would hook in here, before the flood.
        let from_tunnel = self.is_tunnel(slot);
        let cnt = self.bridges[bi].as_ref().map_or(0, |b| b.ports.len());
        for i in 0..cnt {
            let out = match self.bridges[bi].as_ref().and_then(|b| b.ports.get(i)) {
                Some(&s) => s,
                None => break,
            };
            if out == slot || (from_tunnel && self.is_tunnel(out)) {
                continue;
            }
            if let Some(e) = self.output_edit(out, vlan, key) {
                self.transmit(bi, slot, out, frame, e, depth);
            }
        }
    }

    /// Send `frame` out of port `out` with `edit` applied.
    pub(super) fn transmit(
        &mut self,
        bi: usize,
        in_slot: usize,
        out: usize,
        frame: &[u8],
        e: VlanEdit,
        depth: usize,
    ) {
        let Some(pieces) = Pieces::new(frame, e) else {
            self.drop_frame(bi, in_slot, DropReason::Malformed);
            return;
        };
        let len = pieces.frame_len() as u64;
        if !self.captures.is_empty() {
            let s = pieces.slices();
            self.tap(out, super::capture::Dir::Tx, &s[1..]);
        }
        if self.is_tunnel(out) {
            self.tunnel_transmit(bi, in_slot, out, frame, &pieces, depth);
            return;
        }
        if self.shaped > 0
            && self
                .ports
                .get(out)
                .and_then(Option::as_ref)
                .is_some_and(|p| p.egress.is_some())
        {
            self.enqueue_egress(bi, out, &pieces);
            return;
        }
        if let Some(mut tx) = self.cur_tx.take() {
            // The received frame itself, not rewritten after this output:
            // the batch sends it from the receive buffer.
            let by_ref = self
                .cur_rx
                .filter(|&(addr, len, _)| {
                    self.tx_ref_ok && addr == frame.as_ptr() as usize && len == frame.len()
                })
                .map(|(_, len, buf)| (buf, len, e));
            let queued = self.batch(&mut tx, out, &pieces, by_ref);
            self.cur_tx = Some(tx);
            if queued {
                return;
            }
        }
        let Some(p) = self.ports.get_mut(out).and_then(Option::as_mut) else {
            return;
        };
        let res = match &mut p.io {
            PortIo::Tap(t) => {
                let (_, q) = super::rxq::tx_queue(t, p.thread, &p.queues, self.tx_thread);
                pieces.write_tap(q).map(|_| true)
            }
            PortIo::Packet(s) => {
                if p.txq.push(&pieces) {
                    if !p.txq.is_full() {
                        return;
                    }
                    let f = p.txq.flush(s);
                    p.stats.tx_packets += f.sent;
                    p.stats.tx_bytes += f.bytes;
                    p.stats.tx_dropped += f.dropped;
                    if f.dropped > 0 {
                        self.drop_frame(bi, in_slot, DropReason::TxFull);
                    }
                    return;
                }
                // Too big to queue: keep order, then send it alone.
                let f = p.txq.flush(s);
                p.stats.tx_packets += f.sent;
                p.stats.tx_bytes += f.bytes;
                p.stats.tx_dropped += f.dropped;
                s.send_batch(&[pieces.slices()]).map(|n| n == 1)
            }
            PortIo::Dummy(d) => Ok(d.push(&pieces.slices())),
            // Dispatched to `tunnel_transmit` above.
            PortIo::Tunnel(_) => return,
            PortIo::Down(_) => {
                p.stats.tx_dropped += 1;
                self.drop_frame(bi, in_slot, DropReason::PortDown);
                return;
            }
            PortIo::Patch => {
                let Some(peer) = p.peer else {
                    p.stats.tx_dropped += 1;
                    self.drop_frame(bi, in_slot, DropReason::PortDown);
                    return;
                };
                if depth >= MAX_PATCH_DEPTH {
                    self.drop_frame(bi, in_slot, DropReason::PatchLoop);
                    return;
                }
                p.stats.tx_packets += 1;
                p.stats.tx_bytes += len;
                let mut buf = std::mem::take(&mut self.scratch[depth]);
                pieces.copy_into(&mut buf);
                let tun = self.tx_tun;
                let meta = self.egress_meta;
                self.input(peer, &mut buf, depth + 1);
                self.tx_tun = tun;
                self.egress_meta = meta;
                self.scratch[depth] = buf;
                return;
            }
        };
        match res {
            Ok(true) => {
                p.stats.tx_packets += 1;
                p.stats.tx_bytes += len;
            }
            Ok(false) => {
                p.stats.tx_dropped += 1;
                self.drop_frame(bi, in_slot, DropReason::TxFull);
            }
            Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {
                p.stats.tx_dropped += 1;
                self.drop_frame(bi, in_slot, DropReason::TxFull);
            }
            Err(_) => {
                p.stats.tx_errors += 1;
                self.drop_frame(bi, in_slot, DropReason::TxError);
            }
        }
    }

    /// Queue a frame for TAP or AF_PACKET port `out` in the current
    /// thread's transmit batch (sent once the lock is released). False if
    /// the port is of another type or the frame is too big for the batch:
    /// the batch is then empty, so sending the frame at once keeps the
    /// port's order.
    ///
    /// `by_ref` (receive buffer, length, edit) says the frame may be sent
    /// from the thread's receive buffer; a TAP then gets no copy.
    fn batch(
        &mut self,
        tx: &mut TxBatch,
        out: usize,
        pieces: &Pieces<'_>,
        by_ref: Option<(usize, usize, VlanEdit)>,
    ) -> bool {
        let Some(&gen) = self.gens.get(out) else {
            return false;
        };
        for attempt in 0..2 {
            let Some(p) = self.ports.get(out).and_then(Option::as_ref) else {
                return false;
            };
            if !matches!(p.io, PortIo::Tap(_) | PortIo::Packet(_)) {
                return false;
            }
            // A TAP is written through the queue of the thread its answer
            // should wake (`rxq::tx_queue`); the handle is cloned only for
            // the first frame of each port and queue.
            let (lane, tap) = match &p.io {
                PortIo::Tap(t) => {
                    let (q, t) = super::rxq::tx_queue(t, p.thread, &p.queues, self.tx_thread);
                    (q, Some(t))
                }
                _ => (0, None),
            };
            let io = || match tap {
                Some(t) => Some(TxIo::Tap(t.clone())),
                None => TxIo::of(&p.io),
            };
            let to = To {
                slot: out,
                gen,
                lane,
            };
            let queued = match by_ref {
                Some((buf, len, e)) if matches!(p.io, PortIo::Tap(_)) => {
                    tx.push_ref(to, io, buf, len, e)
                }
                _ => tx.push(to, io, pieces),
            };
            if queued {
                return true;
            }
            // Full, too many ports, or too big: send what waits first
            // (under the lock, rarely), then retry once. A batch holding
            // frames by reference cannot be sent from here (the receive
            // buffers are in use): the frame goes out directly.
            if attempt == 0 && tx.flush(&[], None) {
                self.apply_tx(tx);
            } else {
                return false;
            }
        }
        false
    }

    /// `ofproto/trace`: the flow crate's walk through the real tables of
    /// `bridge`, then what NORMAL would do with the MAC table as it is now.
    /// Counts and learns nothing.
    pub fn trace(&self, bridge: &str, flow_text: &str) -> Result<String, String> {
        let pkt = flow::parse_packet(flow_text).map_err(|e| e.to_string())?;
        let bi = self
            .bridge_index(bridge)
            .ok_or_else(|| format!("no bridge named {bridge}"))?;
        let b = self.bridges[bi].as_ref().ok_or("bridge vanished")?;
        let report = flow::trace(&b.tables, &pkt);
        let mut out = report.render();
        let Ok(in_port) = u16::try_from(pkt.meta.in_port) else {
            return Ok(out);
        };
        if !report.xlate.actions.contains(&DpAction::Normal) {
            return Ok(out);
        }
        let l2 = L2::from_key(&pkt.key);
        let _ = writeln!(out, "\nNORMAL on bridge {bridge}:");
        let Some(slot) = self.slot_by_ofport(bi, in_port) else {
            let _ = writeln!(out, "  no input port {in_port}: drop");
            return Ok(out);
        };
        let Some(vlan) = self.input_vlan(slot, &l2) else {
            let _ = writeln!(out, "  VLAN not allowed on the input port: drop");
            return Ok(out);
        };
        let known = (l2.dl_dst[0] & 1 == 0)
            .then(|| b.mac.lookup(vlan, l2.dl_dst, self.clock.now()))
            .flatten();
        let targets: Vec<usize> = match known {
            Some(o) if o == slot => {
                let _ = writeln!(out, "  destination learned on the input port: drop");
                Vec::new()
            }
            Some(o) => {
                let _ = writeln!(out, "  destination learned in VLAN {vlan}: forwarding");
                vec![o]
            }
            None => {
                let _ = writeln!(out, "  destination unknown in VLAN {vlan}: flooding");
                b.ports.iter().copied().filter(|&s| s != slot).collect()
            }
        };
        let mut acts = Vec::new();
        for t in targets {
            if let (Some(e), Some(p)) = (self.output_edit(t, vlan, &l2), self.ports[t].as_ref()) {
                let tag = match e {
                    VlanEdit::Push(v) | VlanEdit::Rewrite(v) => {
                        format!("push_vlan(vid={}),", v & 0xfff)
                    }
                    VlanEdit::Pop => "pop_vlan,".to_owned(),
                    VlanEdit::Keep => String::new(),
                };
                acts.push(format!("{tag}{}", p.name));
            }
        }
        let _ = writeln!(
            out,
            "  output: {}",
            if acts.is_empty() {
                "drop".to_owned()
            } else {
                acts.join(",")
            }
        );
        Ok(out)
    }
}
