//! Reading a held port in full bursts, not frame by frame.
//!
//! A held port's frames are dropped unparsed ([`super::admit`]), but a
//! flood arriving at tens of thousands of frames per second still wakes
//! its datapath thread for every few frames: a poll round (epoll, lock,
//! a batch of reads most of which find nothing, the counters) per handful
//! of frames, taken from the round that also serves the other tenants'
//! ports. So while a port is held its receive queues are taken out of
//! the threads' epoll sets (`EPOLL_CTL_MOD` with no events, epoll(7)) for
//! [`HELD_POLL`] at a time: its frames wait in the TAP's queue and are
//! then read (and counted as `port_held`) in full bursts. This is the
//! poll-mode drivers' bounded, paced rx service (OVS's PMD threads and
//! DPDK's rxq round-robin) applied to a port that has lost its claim to
//! being served promptly.
//!
//! Any thread's next burst, and thread 0's every poll round, puts due
//! ports back; a thread idle otherwise wakes at its epoll timeout at the
//! latest. What the TAP's queue cannot hold meanwhile the kernel drops at
//! the TAP and counts as the VM interface's `tx_dropped` (tun's full-ring
//! drop), at no cost to the switch.

use std::os::fd::AsFd;
use std::time::Duration;

use nix::sys::epoll::{EpollEvent, EpollFlags};

use super::port::PortIo;
use super::{rxq, token, Datapath};

/// How long a held port's frames wait in its queue between reads: at the
/// TAP's default queue of 500 frames, up to 250,000 frames/s wait without
/// a kernel drop, and each read round finds a full burst.
pub const HELD_POLL: Duration = Duration::from_millis(2);

impl Datapath {
    /// Stop polling port `slot` for [`HELD_POLL`] if it is held at `now`
    /// (end of one of its bursts).
    pub(super) fn pause_rx(&mut self, slot: usize, now: Duration) {
        let due = now.saturating_add(HELD_POLL);
        let Some(p) = self.ports.get(slot).and_then(Option::as_ref) else {
            return;
        };
        if p.rx_paused.is_some() || !p.admit.held(now) {
            return;
        }
        if !self.set_rx_events(slot, EpollFlags::empty()) {
            return;
        }
        if let Some(p) = self.ports.get_mut(slot).and_then(Option::as_mut) {
            p.rx_paused = Some(due);
        }
        self.next_resume = Some(self.next_resume.map_or(due, |t| t.min(due)));
    }

    /// Poll again every paused port whose pause is over at `now`.
    #[inline]
    pub(super) fn resume_rx(&mut self, now: Duration) {
        if self.next_resume.is_some_and(|t| now >= t) {
            self.resume_due(now);
        }
    }

    #[cold]
    fn resume_due(&mut self, now: Duration) {
        let mut next: Option<Duration> = None;
        for slot in 0..self.ports.len() {
            let Some(due) = self.ports[slot].as_ref().and_then(|p| p.rx_paused) else {
                continue;
            };
            if now < due {
                next = Some(next.map_or(due, |t| t.min(due)));
                continue;
            }
            // A port whose queues cannot be put back stays paused and is
            // tried again at the next round.
            if self.set_rx_events(slot, EpollFlags::EPOLLIN) {
                if let Some(p) = self.ports[slot].as_mut() {
                    p.rx_paused = None;
                }
            } else {
                next = Some(now);
            }
        }
        self.next_resume = next;
    }

    /// Set the events every receive queue of port `slot` is polled for;
    /// whether queue 0 took them.
    fn set_rx_events(&self, slot: usize, flags: EpollFlags) -> bool {
        let Some(p) = self.ports.get(slot).and_then(Option::as_ref) else {
            return false;
        };
        let tok = token(slot, self.gens[slot]);
        let ep = &self.epolls[p.thread];
        let mut ev = EpollEvent::new(flags, tok);
        let ok = match &p.io {
            PortIo::Tap(t) => ep.modify(t.as_fd(), &mut ev).is_ok(),
            PortIo::Packet(s) => ep.modify(s.as_fd(), &mut ev).is_ok(),
            _ => false,
        };
        for (i, q) in p.queues.iter().enumerate() {
            let mut ev = EpollEvent::new(flags, rxq::token(tok, i + 1));
            if let Err(e) = self.epolls[q.thread].modify(q.tap.as_fd(), &mut ev) {
                tracing::debug!("interface {}: queue {}: epoll: {e}", p.name, i + 1);
            }
        }
        ok
    }
}
