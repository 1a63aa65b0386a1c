//! Datapath threads (`cloudnet vswitchd --dp-threads N`).
//!
//! Modelled on OVS's userspace datapath (ovs-vswitchd.conf.db(5),
//! Open_vSwitch `other_config:pmd-cpu-mask` and `pmd-rxq-assign`): each
//! thread polls the receive side of its own ports, keeps its own flow cache
//! (EMC + megaflows) per bridge, and has its own transmit batch, so that
//! one thread reads and sends while another forwards. What the threads
//! share — ports, MAC tables, OpenFlow tables, the connection tracker,
//! tunnels, egress schedulers, counters — stays in [`Datapath`] behind one
//! lock, held only while frames are looked up and their actions run; the
//! receive `read(2)` / `recvmmsg(2)` and the transmit of small frames
//! happen outside it. Tunnel sockets, the egress timer and housekeeping
//! (MAC aging, flow timeouts, conntrack sweeps) belong to thread 0.
//!
//! **Latency.** Nothing on the forwarding path waits: a thread blocks in
//! `epoll_wait(2)` (level-triggered, so a queue it did not drain wakes it
//! again at once) only when none of its fds is readable; a burst is
//! whatever one read finds, never held back to fill; the 100 ms timeout
//! only paces housekeeping. What a frame does cost is the wake-up of the
//! thread that reads it, so a round trip should wake as few as possible:
//! outputs to a multi-queue TAP go through the queue of the thread that
//! should read the VM's answer ([`super::rxq`]), which is then the thread
//! that forwarded the request and is still awake. A ping through one switch
//! wakes one datapath thread once; across a VXLAN tunnel, one thread per
//! host (twice on the pinging host, where the request and the answer
//! arrive apart). Shaped ports are the exception by design: their frames
//! leave when the egress timer says.

use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use nix::sys::epoll::{Epoll, EpollEvent, EpollTimeout};

use super::port::BUF_LEN;
use super::txbatch::{TxBatch, TxIo};
use super::{Datapath, BURST};

/// Most datapath threads (ports are spread over them; more than the
/// machine's cores only adds contention).
pub const MAX_THREADS: usize = 16;

/// Epoll events taken per wake-up.
const EVENTS: usize = 64;

/// The default number of datapath threads: one per core, at most two.
/// With more, threads mostly wait for the shared lock; on a two-core
/// machine two threads let one send while the other forwards.
pub fn default_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(2)
}

/// The flow caches of one bridge, one per datapath thread (OVS keeps an
/// EMC and a megaflow cache per PMD thread: lookups never contend).
pub struct ThreadCaches(Vec<flow::FlowCache>);

impl ThreadCaches {
    /// Caches for `threads` threads.
    pub fn new(threads: usize) -> ThreadCaches {
        ThreadCaches(
            (0..threads.max(1))
                .map(|_| flow::FlowCache::new(flow::cache::EMC_SLOTS, flow::cache::MAX_MEGAFLOWS))
                .collect(),
        )
    }

    /// The cache of thread `t` (thread 0's if out of range).
    pub fn get_mut(&mut self, t: usize) -> &mut flow::FlowCache {
        let t = if t < self.0.len() { t } else { 0 };
        &mut self.0[t]
    }

    /// Fold every cache's hits into the flows' counters.
    pub fn sync_stats(&mut self) {
        self.0.iter_mut().for_each(flow::FlowCache::sync_stats);
    }

    /// Counters summed over the threads.
    pub fn stats(&self) -> flow::cache::CacheStats {
        let mut s = flow::cache::CacheStats::default();
        for c in &self.0 {
            s.emc_hits += c.stats.emc_hits;
            s.megaflow_hits += c.stats.megaflow_hits;
            s.misses += c.stats.misses;
            s.flushes += c.stats.flushes;
        }
        s
    }

    /// Megaflows cached, summed over the threads.
    pub fn megaflows(&self) -> usize {
        self.0.iter().map(flow::FlowCache::megaflows).sum()
    }
}

/// What one thread owns: its epoll set and its buffers.
struct Worker {
    id: usize,
    epoll: Arc<Epoll>,
    rx: Vec<Vec<u8>>,
    rx_len: [usize; BURST],
    tx: Option<Box<TxBatch>>,
    /// Batched TAP reads and writes ([`netio::uring`]); None where io_uring
    /// is unavailable or turned off, and the thread uses `read(2)` /
    /// `writev(2)` per frame.
    uring: Option<netio::uring::Batch>,
    /// Reads queued per io_uring burst: twice what the last burst found,
    /// at least [`MIN_READS`], at most [`BURST`] — enough to drain a busy
    /// queue in one call without paying for many empty reads on a quiet one.
    reads: usize,
}

/// Fewest reads one io_uring burst queues.
const MIN_READS: usize = 4;

/// Environment variable that selects the TAP I/O method: `syscalls` turns
/// io_uring off (for comparison, or where it misbehaves); unset or
/// `io_uring` uses it when the kernel allows.
pub const TAP_IO_ENV: &str = "CLOUDNET_TAP_IO";

/// The io_uring batch for a new thread, or None with a log line saying why.
fn open_uring(id: usize, setting: Option<&str>) -> Option<netio::uring::Batch> {
    if setting == Some("syscalls") {
        tracing::info!(
            "datapath thread {id}: {TAP_IO_ENV}=syscalls, TAP I/O one frame per system call"
        );
        return None;
    }
    match netio::uring::Batch::new() {
        Ok(b) => Some(b),
        Err(e) => {
            tracing::warn!(
                "datapath thread {id}: io_uring unavailable ({e}); TAP I/O falls back to one read/write per frame"
            );
            None
        }
    }
}

fn lock(dp: &Mutex<Datapath>) -> std::sync::MutexGuard<'_, Datapath> {
    // A panic under the lock leaves plain data behind; carry on, as the
    // control side does.
    dp.lock().unwrap_or_else(|e| e.into_inner())
}

impl Worker {
    /// Run `f` under the lock with this thread's cache and batch lent to
    /// the datapath, after folding in the last transmit's outcome.
    fn locked<R>(&mut self, dp: &Mutex<Datapath>, f: impl FnOnce(&mut Datapath) -> R) -> R {
        let mut d = lock(dp);
        if let Some(tx) = self.tx.as_mut() {
            d.apply_tx(tx);
        }
        d.cur_thread = self.id;
        d.tx_thread = self.id;
        d.cur_tx = self.tx.take();
        let r = f(&mut d);
        self.tx = d.cur_tx.take();
        r
    }

    /// Send what the last locked section queued, without the lock.
    fn flush(&mut self) {
        if let Some(tx) = self.tx.as_mut() {
            tx.flush(&self.rx, self.uring.as_mut());
        }
    }

    /// Read one burst from `io` into the thread's buffers; returns how many
    /// frames and how many reads failed.
    fn read_burst(&mut self, io: &TxIo) -> (usize, u64) {
        match (io, self.uring.as_mut()) {
            (TxIo::Tap(t), Some(u)) => {
                let want = self.reads;
                let (n, errors) = u.read(
                    t.as_raw_fd(),
                    &mut self.rx[..want],
                    &mut self.rx_len[..want],
                );
                self.reads = (n * 2).clamp(MIN_READS, BURST);
                (n, errors)
            }
            (TxIo::Tap(t), None) => {
                let mut n = 0;
                while n < BURST {
                    match t.read(&mut self.rx[n]) {
                        Ok(len) => {
                            self.rx_len[n] = len;
                            n += 1;
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                        Err(_) => return (n, 1),
                    }
                }
                (n, 0)
            }
            (TxIo::Packet(s), _) => match s.recv_batch(&mut self.rx, &mut self.rx_len) {
                Ok(n) => (n, 0),
                Err(_) => (0, 1),
            },
        }
    }

    fn run(&mut self, dp: &Mutex<Datapath>, stop: &AtomicBool) {
        let mut events = [EpollEvent::empty(); EVENTS];
        let mut ready: [Option<(usize, u32, usize, TxIo)>; EVENTS] = std::array::from_fn(|_| None);
        while !stop.load(Ordering::Relaxed) {
            let n = match self.epoll.wait(&mut events, EpollTimeout::from(100u16)) {
                Ok(n) => n,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => {
                    tracing::error!("datapath thread {}: epoll_wait: {e}", self.id);
                    break;
                }
            };
            // Under the lock: tunnel sockets and the timer are served; for
            // ports, only their fd is taken.
            self.locked(dp, |d| {
                for (ev, r) in events[..n].iter().zip(ready.iter_mut()) {
                    let tok = ev.data();
                    if Datapath::is_port_token(tok) {
                        *r = d.rx_handle(tok);
                    } else {
                        d.service(tok);
                    }
                }
            });
            self.flush();
            for r in ready[..n].iter_mut() {
                let Some((slot, gen, queue, io)) = r.take() else {
                    continue;
                };
                let (k, errors) = self.read_burst(&io);
                drop(io);
                if k == 0 && errors == 0 {
                    continue;
                }
                let lens = self.rx_len;
                let mut from = 0;
                // At least once: failed reads are counted there.
                loop {
                    let mut rx = std::mem::take(&mut self.rx);
                    let errs = if from == 0 { errors } else { 0 };
                    from = self.locked(dp, |d| {
                        d.process_burst((slot, gen, queue), &mut rx, &lens[..k], from, errs)
                    });
                    self.rx = rx;
                    // Frames sent by reference are still in `self.rx`.
                    self.flush();
                    if from >= k {
                        break;
                    }
                }
            }
            // Only thread 0 has work left; another thread would take the
            // lock for nothing (and a contended lock is one more futex
            // wake-up on the path of the frames the lock holder forwards).
            if self.id == 0 {
                self.locked(dp, |d| {
                    d.run_egress();
                    d.housekeeping();
                });
                self.flush();
            }
        }
    }
}

/// The running datapath threads.
pub struct DpThread {
    stop: Arc<AtomicBool>,
    handles: Vec<std::thread::JoinHandle<()>>,
}

impl DpThread {
    /// Start one thread per epoll set of `dp` (see
    /// [`Datapath::with_threads`]).
    pub fn spawn(dp: Arc<Mutex<Datapath>>) -> std::io::Result<DpThread> {
        let stop = Arc::new(AtomicBool::new(false));
        let epolls = lock(&dp).epolls.clone();
        let setting = std::env::var(TAP_IO_ENV).ok();
        let mut t = DpThread {
            stop: stop.clone(),
            handles: Vec::with_capacity(epolls.len()),
        };
        for (id, epoll) in epolls.into_iter().enumerate() {
            let mut w = Worker {
                id,
                epoll,
                rx: (0..BURST).map(|_| vec![0u8; BUF_LEN]).collect(),
                rx_len: [0; BURST],
                tx: Some(Box::default()),
                uring: open_uring(id, setting.as_deref()),
                reads: MIN_READS,
            };
            let (dp, st) = (dp.clone(), stop.clone());
            // On error, dropping `t` stops and joins the threads started.
            let h = std::thread::Builder::new()
                .name(format!("datapath{id}"))
                .spawn(move || w.run(&dp, &st))?;
            t.handles.push(h);
        }
        Ok(t)
    }

    /// How many threads run.
    pub fn threads(&self) -> usize {
        self.handles.len()
    }
}

impl Drop for DpThread {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}
