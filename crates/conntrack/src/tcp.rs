//! TCP connection state and sequence-window tracking.
//!
//! Follows netfilter's `nf_conntrack_proto_tcp.c`: the state transition
//! table indexed by direction, packet kind and current state, and the
//! window checks of G. van Rooij, "Real Stateful TCP Packet Filtering in IP
//! Filter" (SANE 2000) with netfilter's RFC 793 adjustments:
//!
//! * I.   seq <= sender.td_maxend           (data not beyond the window)
//! * II.  seq + len >= sender.td_end - receiver.td_maxwin (not too old)
//! * III. ack <= receiver.td_end            (acks nothing unseen)
//! * IV.  ack >= receiver.td_end - MAXACKWINDOW (ack not too old)
//!
//! SACK blocks are not parsed (the switch passes none), so `sack == ack`;
//! that only makes check III/IV use the cumulative ack, which is never
//! beyond the SACK edge, so nothing valid is rejected by it.

use crate::config::TimeoutClass;
use crate::input::{TcpFlags, TcpInfo};

/// Connection direction relative to the first packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dir {
    /// Same direction as the packet that created the connection.
    Original = 0,
    /// The opposite direction.
    Reply = 1,
}

impl Dir {
    /// The other direction.
    #[inline]
    pub fn flip(self) -> Dir {
        match self {
            Dir::Original => Dir::Reply,
            Dir::Reply => Dir::Original,
        }
    }

    #[inline]
    pub(crate) fn idx(self) -> usize {
        self as usize
    }
}

/// netfilter's TCP conntrack states (`enum tcp_conntrack`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TcpState {
    /// No state (never stored).
    None = 0,
    /// SYN seen from the originator.
    SynSent,
    /// SYN/ACK seen from the responder.
    SynRecv,
    /// Three-way handshake completed.
    Established,
    /// FIN seen in one direction.
    FinWait,
    /// FIN acknowledged, the other side may still send.
    CloseWait,
    /// FIN seen in both directions, waiting for the last ACK.
    LastAck,
    /// Last ACK seen.
    TimeWait,
    /// Closed by RST.
    Close,
    /// SYN seen from both sides (simultaneous open).
    SynSent2,
}

impl TcpState {
    /// Name printed by `dpctl/dump-conntrack` (`protoinfo=(state=…)`),
    /// using OVS's `ct_dpif` names for the netfilter states.
    pub fn dpctl_name(self) -> &'static str {
        match self {
            TcpState::None => "CLOSED",
            TcpState::SynSent | TcpState::SynSent2 => "SYN_SENT",
            TcpState::SynRecv => "SYN_RECV",
            TcpState::Established => "ESTABLISHED",
            TcpState::FinWait => "FIN_WAIT_1",
            TcpState::CloseWait => "CLOSE_WAIT",
            TcpState::LastAck => "LAST_ACK",
            TcpState::TimeWait => "TIME_WAIT",
            TcpState::Close => "CLOSED",
        }
    }

    /// The timeout that applies in this state.
    pub fn timeout_class(self) -> TimeoutClass {
        match self {
            TcpState::None | TcpState::SynSent | TcpState::SynSent2 => TimeoutClass::TcpSynSent,
            TcpState::SynRecv => TimeoutClass::TcpSynRecv,
            TcpState::Established => TimeoutClass::TcpEstablished,
            TcpState::FinWait => TimeoutClass::TcpFinWait,
            TcpState::CloseWait => TimeoutClass::TcpCloseWait,
            TcpState::LastAck => TimeoutClass::TcpLastAck,
            TcpState::TimeWait => TimeoutClass::TcpTimeWait,
            TcpState::Close => TimeoutClass::TcpClose,
        }
    }
}

/// Outcome of the transition table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    To(TcpState),
    /// sIV: invalid packet.
    Iv,
    /// sIG: possibly valid, let through without touching state.
    Ig,
}

use Next::{Ig as IG, Iv as IV};
use TcpState as S;
const NO: Next = Next::To(S::None);
const SS: Next = Next::To(S::SynSent);
const SR: Next = Next::To(S::SynRecv);
const ES: Next = Next::To(S::Established);
const FW: Next = Next::To(S::FinWait);
const CW: Next = Next::To(S::CloseWait);
const LA: Next = Next::To(S::LastAck);
const TW: Next = Next::To(S::TimeWait);
const CL: Next = Next::To(S::Close);
const S2: Next = Next::To(S::SynSent2);

/// `tcp_conntracks[dir][kind][state]`; kinds: syn, synack, fin, ack, rst,
/// none; states in `TcpState` order (sNO sSS sSR sES sFW sCW sLA sTW sCL sS2).
const TABLE: [[[Next; 10]; 6]; 2] = [
    [
        [SS, SS, IG, IG, IG, IG, IG, SS, SS, S2],
        [IV, IV, SR, IV, IV, IV, IV, IV, IV, SR],
        [IV, IV, FW, FW, LA, LA, LA, TW, CL, IV],
        [ES, IV, ES, ES, CW, CW, TW, TW, CL, IV],
        [IV, CL, CL, CL, CL, CL, CL, CL, CL, CL],
        [IV, IV, IV, IV, IV, IV, IV, IV, IV, IV],
    ],
    [
        [IV, S2, IV, IV, IV, IV, IV, SS, IV, S2],
        [IV, SR, IG, IG, IG, IG, IG, IG, IG, SR],
        [IV, IV, FW, FW, LA, LA, LA, TW, CL, IV],
        [IV, IG, SR, ES, CW, CW, TW, TW, CL, IG],
        [IV, CL, CL, CL, CL, CL, CL, CL, CL, CL],
        [IV, IV, IV, IV, IV, IV, IV, IV, IV, IV],
    ],
];
// `NO` documents the table's alphabet; no transition leads to it.
const _: Next = NO;

const KIND_SYN: usize = 0;
const KIND_SYNACK: usize = 1;
const KIND_FIN: usize = 2;
const KIND_ACK: usize = 3;
const KIND_RST: usize = 4;
const KIND_NONE: usize = 5;

fn kind(f: TcpFlags) -> usize {
    if f.contains(TcpFlags::RST) {
        KIND_RST
    } else if f.contains(TcpFlags::SYN) {
        if f.contains(TcpFlags::ACK) {
            KIND_SYNACK
        } else {
            KIND_SYN
        }
    } else if f.contains(TcpFlags::FIN) {
        KIND_FIN
    } else if f.contains(TcpFlags::ACK) {
        KIND_ACK
    } else {
        KIND_NONE
    }
}

/// Valid flag combinations once PSH, ECE and CWR are masked out
/// (netfilter `tcp_valid_flags`): SYN, SYN|URG, SYN|ACK, RST, RST|ACK,
/// FIN|ACK, FIN|ACK|URG, ACK, ACK|URG.
pub fn flags_valid(f: TcpFlags) -> bool {
    use TcpFlags as F;
    let f = f - (F::PSH | F::ECE | F::CWR);
    [
        F::SYN,
        F::SYN | F::URG,
        F::SYN | F::ACK,
        F::RST,
        F::RST | F::ACK,
        F::FIN | F::ACK,
        F::FIN | F::ACK | F::URG,
        F::ACK,
        F::ACK | F::URG,
    ]
    .contains(&f)
}

#[inline]
fn before(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

#[inline]
fn after(a: u32, b: u32) -> bool {
    before(b, a)
}

/// netfilter's MAXACKWINCONST.
const MAX_ACK_WIN_CONST: u32 = 66_000;
/// RFC 7323 §2.3: the shift count is at most 14.
const MAX_WSCALE: u8 = 14;

const PF_WSCALE: u8 = 0x01;
const PF_MAXACK_SET: u8 = 0x02;
const PF_LIBERAL: u8 = 0x04;

/// Window-tracking data for one direction (netfilter `ip_ct_tcp_state`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Peer {
    end: u32,
    maxend: u32,
    maxwin: u32,
    maxack: u32,
    scale: u8,
    flags: u8,
}

/// Per-connection TCP tracking state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpConn {
    state: TcpState,
    peers: [Peer; 2],
}

/// What a segment did to a tracked connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpVerdict {
    /// Accepted; state may have changed. `assured` is true when this
    /// segment completed the handshake.
    Ok {
        /// Handshake completed by this segment.
        assured: bool,
    },
    /// Invalid flags, transition or window: mark +inv, state untouched.
    Invalid,
    /// Let through without updating state (netfilter sIG).
    Ignored,
    /// A SYN re-opening a connection in TIME_WAIT/CLOSE (RFC 1122
    /// §4.2.2.13): the caller removes the old entry and starts anew.
    Reopen,
}

fn end_of(info: &TcpInfo) -> u32 {
    let mut end = info.seq.wrapping_add(info.payload_len);
    if info.flags.contains(TcpFlags::SYN) {
        end = end.wrapping_add(1);
    }
    if info.flags.contains(TcpFlags::FIN) {
        end = end.wrapping_add(1);
    }
    end
}

fn syn_options(p: &mut Peer, info: &TcpInfo) {
    p.flags &= !PF_WSCALE;
    p.scale = 0;
    if let Some(s) = info.wscale {
        p.flags |= PF_WSCALE;
        p.scale = s.min(MAX_WSCALE);
    }
}

impl TcpConn {
    /// State for a connection created by `info`, or `None` when the segment
    /// cannot start one (only a SYN can, or a bare ACK when `loose`).
    pub fn new(info: &TcpInfo, loose: bool) -> Option<TcpConn> {
        if !flags_valid(info.flags) {
            return None;
        }
        let end = end_of(info);
        let win = u32::from(info.window).max(1);
        match TABLE[0][kind(info.flags)][0] {
            Next::To(TcpState::SynSent) => {
                let mut p = Peer {
                    end,
                    maxend: end,
                    maxwin: win,
                    ..Peer::default()
                };
                syn_options(&mut p, info);
                Some(TcpConn {
                    state: TcpState::SynSent,
                    peers: [p, Peer::default()],
                })
            }
            Next::To(TcpState::Established) if loose => {
                // Picked up mid-stream: history (and window scale) unknown,
                // so both sides are checked liberally, as netfilter does.
                let p = Peer {
                    end,
                    maxend: end.wrapping_add(win),
                    maxwin: win,
                    flags: PF_LIBERAL,
                    ..Peer::default()
                };
                let r = Peer {
                    flags: PF_LIBERAL,
                    ..Peer::default()
                };
                Some(TcpConn {
                    state: TcpState::Established,
                    peers: [p, r],
                })
            }
            _ => None,
        }
    }

    /// Current state.
    pub fn state(&self) -> TcpState {
        self.state
    }

    /// Tracks one segment travelling in `dir`.
    pub fn packet(&mut self, dir: Dir, info: &TcpInfo, be_liberal: bool) -> TcpVerdict {
        if !flags_valid(info.flags) {
            return TcpVerdict::Invalid;
        }
        let k = kind(info.flags);
        let old = self.state;
        let next = TABLE[dir.idx()][k][old as usize];
        let new = match next {
            Next::Iv => return TcpVerdict::Invalid,
            Next::Ig => return TcpVerdict::Ignored,
            Next::To(s) => s,
        };
        if new == TcpState::SynSent && matches!(old, TcpState::TimeWait | TcpState::Close) {
            return TcpVerdict::Reopen;
        }
        if k == KIND_RST {
            // An RST below what the other side already acknowledged is a
            // blind-reset attempt (RFC 5961 §3): invalid.
            let recv = &self.peers[dir.flip().idx()];
            if recv.flags & PF_MAXACK_SET != 0 && before(info.seq, recv.maxack) {
                return TcpVerdict::Invalid;
            }
        }
        if !self.in_window(dir, info, be_liberal) {
            return TcpVerdict::Invalid;
        }
        self.state = new;
        let assured = new == TcpState::Established && old == TcpState::SynRecv;
        TcpVerdict::Ok { assured }
    }

    /// van Rooij window checks; updates the window data when they pass.
    fn in_window(&mut self, dir: Dir, info: &TcpInfo, be_liberal: bool) -> bool {
        let state = self.state;
        let (s_idx, r_idx) = (dir.idx(), dir.flip().idx());
        let mut sender = self.peers[s_idx];
        let mut receiver = self.peers[r_idx];
        let syn = info.flags.contains(TcpFlags::SYN);
        let has_ack = info.flags.contains(TcpFlags::ACK);
        let mut seq = info.seq;
        let mut ack = info.ack;
        let mut end = end_of(info);
        let mut win = u32::from(info.window);

        if sender.maxwin == 0 {
            if syn {
                // SYN/ACK answering the SYN, or the reply's SYN in a
                // simultaneous open.
                sender.end = end;
                sender.maxend = end;
                sender.maxwin = win.max(1);
                syn_options(&mut sender, info);
                // RFC 7323 §2.2: scaling only if both sides offered it.
                if sender.flags & PF_WSCALE == 0 || receiver.flags & PF_WSCALE == 0 {
                    sender.scale = 0;
                    receiver.scale = 0;
                }
                if !has_ack {
                    self.peers[s_idx] = sender;
                    self.peers[r_idx] = receiver;
                    return true;
                }
            } else {
                // Mid-stream: use what this segment says.
                sender.end = end;
                let swin = (win << sender.scale).max(1);
                sender.maxwin = swin;
                sender.maxend = end.wrapping_add(swin);
                if receiver.maxwin == 0 {
                    receiver.end = ack;
                    receiver.maxend = ack;
                } else if ack == receiver.end.wrapping_add(1) {
                    receiver.end = receiver.end.wrapping_add(1);
                }
            }
        } else if ((state == TcpState::SynSent && dir == Dir::Original)
            || (state == TcpState::SynRecv && dir == Dir::Reply))
            && after(end, sender.end)
        {
            // RFC 793: a reinitialised TCP uses larger sequence numbers.
            sender.end = end;
            sender.maxend = end;
            sender.maxwin = win.max(1);
            syn_options(&mut sender, info);
        }

        let rst = info.flags.contains(TcpFlags::RST);
        if !has_ack || (rst && ack == 0) {
            // No ACK (or a broken stack's RST|ACK with ack 0): pretend it
            // acknowledges exactly what was seen.
            ack = receiver.end;
        }
        if rst && seq == 0 && state == TcpState::SynSent {
            // RST answering our SYN.
            seq = sender.end;
            end = sender.end;
        }

        let max_ack_win = sender.maxwin.max(MAX_ACK_WIN_CONST);
        let in_recv_win = receiver.maxwin == 0
            || after(
                end,
                sender.end.wrapping_sub(receiver.maxwin).wrapping_sub(1),
            );
        let ok = before(seq, sender.maxend.wrapping_add(1))
            && in_recv_win
            && before(ack, receiver.end.wrapping_add(1))
            && after(ack, receiver.end.wrapping_sub(max_ack_win).wrapping_sub(1));

        if ok {
            if !syn {
                win <<= sender.scale;
            }
            if sender.maxwin < win {
                sender.maxwin = win;
            }
            if after(end, sender.end) {
                sender.end = end;
            }
            if has_ack {
                if sender.flags & PF_MAXACK_SET == 0 {
                    sender.maxack = ack;
                    sender.flags |= PF_MAXACK_SET;
                } else if after(ack, sender.maxack) {
                    sender.maxack = ack;
                }
            }
            if receiver.maxwin != 0 && after(end, sender.maxend) {
                receiver.maxwin = receiver
                    .maxwin
                    .wrapping_add(end.wrapping_sub(sender.maxend));
            }
            if after(ack.wrapping_add(win), receiver.maxend.wrapping_sub(1)) {
                receiver.maxend = ack.wrapping_add(win.max(1));
            }
            self.peers[s_idx] = sender;
            self.peers[r_idx] = receiver;
            true
        } else {
            // Out of window. The window data is left untouched whatever the
            // verdict, so a liberal accept cannot widen it.
            be_liberal || sender.flags & PF_LIBERAL != 0
        }
    }
}

#[cfg(test)]
#[path = "tcp_tests.rs"]
mod tests;
