//! Batched TAP I/O through io_uring (`io_uring(7)`, crate `io-uring`).
//!
//! A TAP moves one frame per `read(2)` or `write(2)`, so forwarding a
//! small frame costs at least two system calls plus the `EAGAIN` read that
//! ends each burst. A [`Batch`] queues a burst of reads (or writes, to any
//! number of TAP fds) as submission entries and issues them with a single
//! `io_uring_enter(2)`: the kernel runs them one after the other, in queue
//! order, and posts one completion each.
//!
//! The operations are *synchronous batches*: every call pushes its entries,
//! submits them and reaps exactly as many completions before it returns.
//! The buffers an entry points at are borrowed for the duration of the call,
//! so they outlive every in-flight entry by construction, whatever happens
//! to the port afterwards (deletion, daemon shutdown): nothing is ever left
//! in flight between calls, and no cancellation is needed. The TAP fds are
//! non-blocking, so io_uring completes a read of an empty queue at once
//! with `-EAGAIN` (`REQ_F_NOWAIT`) instead of arming a poll for it.
//!
//! Where io_uring is unavailable (`kernel.io_uring_disabled`, a seccomp
//! filter, an old kernel: `EPERM` / `ENOSYS` / `EINVAL` from
//! `io_uring_setup`), [`Batch::new`] fails and the caller keeps its
//! `read(2)` / `writev(2)` loop.

use std::io;
use std::os::fd::RawFd;

use io_uring::{opcode, types, IoUring};

/// Most entries one call issues (the ring's size).
pub const DEPTH: usize = 256;

/// Slices one written frame may be gathered from.
pub const MAX_IOV: usize = 4;

/// One frame to write: the fd of the TAP queue and the pieces of the frame
/// (virtio header included), empty ones allowed.
pub type WriteReq<'a> = (RawFd, [&'a [u8]; MAX_IOV]);

/// A ring and the scratch space of one thread's batched reads and writes.
/// Not shared: each datapath thread owns one.
pub struct Batch {
    ring: IoUring,
    /// Result of each entry of the current call, by index.
    res: Box<[i32]>,
    /// The iovecs of batched writes; live until their entries complete,
    /// that is until the call that filled them returns.
    iov: Box<[[libc::iovec; MAX_IOV]]>,
    /// `io_uring_enter(2)` calls made (for syscalls-per-frame figures).
    enters: u64,
    /// `RWF_NOWAIT` on reads; cleared when the kernel refuses it for a
    /// file (`EOPNOTSUPP`), see [`Batch::read`].
    nowait: bool,
}

// SAFETY: the raw pointers in `iov` are scratch written and used within one
// call of `Batch::write` (they point into that call's borrowed frames) and
// are never dereferenced by this type between calls; the ring itself is
// `Send`. Moving the batch to another thread therefore moves no live borrow.
unsafe impl Send for Batch {}

impl std::fmt::Debug for Batch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "uring::Batch({} enters)", self.enters)
    }
}

/// Whether a `io_uring_enter(2)` error only asks to try again.
fn transient(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EINTR) | Some(libc::EAGAIN) | Some(libc::EBUSY)
    )
}

impl Batch {
    /// A ring of [`DEPTH`] entries. Fails where io_uring is unavailable
    /// (the caller falls back to plain system calls and says so).
    pub fn new() -> io::Result<Batch> {
        let empty = libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        };
        Ok(Batch {
            // COOP_TASKRUN: completions are run on our own next entry to
            // the kernel rather than by interrupting the thread (Linux 5.19;
            // without it where the kernel refuses the flag).
            ring: IoUring::builder()
                .setup_coop_taskrun()
                .build(DEPTH as u32)
                .or_else(|_| IoUring::new(DEPTH as u32))?,
            res: vec![0; DEPTH].into_boxed_slice(),
            iov: vec![[empty; MAX_IOV]; DEPTH].into_boxed_slice(),
            enters: 0,
            nowait: true,
        })
    }

    /// `io_uring_enter(2)` calls made so far.
    pub fn enters(&self) -> u64 {
        self.enters
    }

    /// Submit the `n` entries pushed and reap their `n` completions into
    /// `self.res`. Returns only when all `n` completed: that is what keeps
    /// the buffers they point at alive long enough. An error that is not
    /// transient would leave entries pointing at buffers about to be freed,
    /// so the process aborts (it means a broken ring, not bad input).
    fn run(&mut self, n: usize) {
        let mut reaped = 0;
        while reaped < n {
            self.enters += 1;
            if let Err(e) = self.ring.submit_and_wait(n - reaped) {
                if !transient(&e) {
                    eprintln!("io_uring_enter failed with entries in flight: {e}");
                    std::process::abort();
                }
            }
            for c in self.ring.completion() {
                if let Some(r) = self.res.get_mut(c.user_data() as usize) {
                    *r = c.result();
                    reaped += 1;
                }
            }
        }
    }

    /// Read up to `bufs.len()` (at most [`DEPTH`]) frames from the
    /// non-blocking fd `fd` in one `io_uring_enter(2)`. Frames land at the
    /// front of `bufs` in arrival order (buffers are swapped, not copied,
    /// if a read in the middle found the queue empty), their lengths in
    /// `lens`. Returns the number of frames and of failed reads (errors
    /// other than `EAGAIN`).
    ///
    /// A read of an empty queue must complete at once rather than wait:
    /// io_uring arms a poll for it unless the request is `NOWAIT`, and it
    /// ignores `O_NONBLOCK` for files that support non-blocking attempts
    /// (`FMODE_NOWAIT`, io_uring/rw.c `io_rw_init_file`). So reads carry
    /// `RWF_NOWAIT`; a file that lacks `FMODE_NOWAIT` refuses that flag with
    /// `EOPNOTSUPP`, and for such a file `O_NONBLOCK` alone is what makes
    /// the read return `EAGAIN`: the burst is then read again without it.
    pub fn read(&mut self, fd: RawFd, bufs: &mut [Vec<u8>], lens: &mut [usize]) -> (usize, u64) {
        let r = self.read_with(fd, bufs, lens, self.nowait);
        if self.nowait && r.0 == 0 && self.res[0] == -libc::EOPNOTSUPP {
            self.nowait = false;
            return self.read_with(fd, bufs, lens, false);
        }
        r
    }

    fn read_with(
        &mut self,
        fd: RawFd,
        bufs: &mut [Vec<u8>],
        lens: &mut [usize],
        nowait: bool,
    ) -> (usize, u64) {
        let n = bufs.len().min(lens.len()).min(DEPTH);
        if n == 0 {
            return (0, 0);
        }
        let flags = if nowait { libc::RWF_NOWAIT } else { 0 };
        {
            let mut sq = self.ring.submission();
            for (i, b) in bufs[..n].iter_mut().enumerate() {
                let len = u32::try_from(b.len()).unwrap_or(u32::MAX);
                let e = opcode::Read::new(types::Fd(fd), b.as_mut_ptr(), len)
                    .rw_flags(flags)
                    .build()
                    .user_data(i as u64);
                // SAFETY: the entry points at `b`, valid for writes of
                // `len` bytes and borrowed mutably until this function
                // returns; `run` below reaps every entry pushed here before
                // that. The queue holds DEPTH entries, none pending (each
                // call empties it), so the push cannot fail.
                if unsafe { sq.push(&e) }.is_err() {
                    unreachable!("submission queue holds DEPTH entries");
                }
            }
        }
        self.run(n);
        let (mut got, mut errors) = (0, 0);
        for i in 0..n {
            let r = self.res[i];
            if r >= 0 {
                bufs.swap(got, i);
                lens[got] = r as usize;
                got += 1;
            } else if r != -libc::EAGAIN {
                errors += 1;
            }
        }
        (got, errors)
    }

    /// Write each frame of `reqs` (at most [`DEPTH`]) to its fd, all in one
    /// `io_uring_enter(2)`, in order. `done(i, result)` is told what became
    /// of frame `i` (bytes written, or the error, `WouldBlock` when the
    /// TAP's queue was full).
    pub fn write(&mut self, reqs: &[WriteReq<'_>], mut done: impl FnMut(usize, io::Result<usize>)) {
        let n = reqs.len().min(DEPTH);
        {
            let mut sq = self.ring.submission();
            for (i, (fd, pieces)) in reqs[..n].iter().enumerate() {
                let iov = &mut self.iov[i];
                for (v, p) in iov.iter_mut().zip(pieces) {
                    *v = libc::iovec {
                        iov_base: p.as_ptr() as *mut libc::c_void,
                        iov_len: p.len(),
                    };
                }
                let e = opcode::Writev::new(types::Fd(*fd), iov.as_ptr(), MAX_IOV as u32)
                    .build()
                    .user_data(i as u64);
                // SAFETY: the entry points at `self.iov[i]`, whose iovecs
                // point into `reqs`; both are borrowed until this function
                // returns and `run` reaps every entry before that. The kernel
                // only reads them. The queue has room (see `read`).
                if unsafe { sq.push(&e) }.is_err() {
                    unreachable!("submission queue holds DEPTH entries");
                }
            }
        }
        self.run(n);
        for i in 0..n {
            let r = self.res[i];
            done(
                i,
                if r >= 0 {
                    Ok(r as usize)
                } else {
                    Err(io::Error::from_raw_os_error(-r))
                },
            );
        }
        for i in n..reqs.len() {
            done(i, Err(io::Error::from(io::ErrorKind::OutOfMemory)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

    /// A non-blocking datagram socket pair: message boundaries like a TAP.
    fn pair() -> (OwnedFd, OwnedFd) {
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for the two descriptors written.
        let rc = unsafe {
            libc::socketpair(
                libc::AF_UNIX,
                libc::SOCK_DGRAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                0,
                fds.as_mut_ptr(),
            )
        };
        assert_eq!(rc, 0, "{}", io::Error::last_os_error());
        // SAFETY: both descriptors are fresh and owned by nothing else.
        unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
    }

    #[test]
    fn writes_and_reads_a_burst_in_order() {
        let Ok(mut b) = Batch::new() else {
            eprintln!("skipped: io_uring unavailable");
            return;
        };
        let (a, z) = pair();
        let frames: Vec<Vec<u8>> = (0..10u8).map(|i| vec![i; 20 + usize::from(i)]).collect();
        let reqs: Vec<WriteReq> = frames
            .iter()
            .map(|f| (a.as_raw_fd(), [&f[..3], &f[3..], &[][..], &[][..]]))
            .collect();
        let mut ok = 0;
        b.write(&reqs, |i, r| {
            assert_eq!(r.expect("write"), frames[i].len());
            ok += 1;
        });
        assert_eq!(ok, 10);
        let before = b.enters();
        // More reads than frames: the extra ones find the queue empty.
        let mut bufs: Vec<Vec<u8>> = (0..16).map(|_| vec![0u8; 64]).collect();
        let mut lens = [0usize; 16];
        let (got, errors) = b.read(z.as_raw_fd(), &mut bufs, &mut lens);
        assert_eq!((got, errors), (10, 0));
        assert_eq!(b.enters() - before, 1, "one io_uring_enter for the burst");
        for i in 0..got {
            assert_eq!(&bufs[i][..lens[i]], &frames[i][..], "frame {i}");
        }
        // Empty queue: nothing, and no error.
        assert_eq!(b.read(z.as_raw_fd(), &mut bufs, &mut lens), (0, 0));
    }

    #[test]
    fn errors_are_reported_per_entry() {
        let Ok(mut b) = Batch::new() else {
            eprintln!("skipped: io_uring unavailable");
            return;
        };
        let (a, z) = pair();
        drop(z);
        let data = [1u8; 8];
        let mut seen = Vec::new();
        b.write(&[(a.as_raw_fd(), [&data[..], &[], &[], &[]])], |i, r| {
            seen.push((i, r.is_err()))
        });
        assert_eq!(seen, vec![(0, true)], "peer closed: the write fails");
        let mut bufs = vec![vec![0u8; 8]; 2];
        let mut lens = [0usize; 2];
        let (got, errors) = b.read(-1, &mut bufs, &mut lens);
        assert_eq!((got, errors), (0, 2), "bad fd: each read fails");
    }
}
