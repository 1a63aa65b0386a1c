//! TAP devices (/dev/net/tun), opened the way qemu opens a VM's NIC.
//!
//! A [`Tap`] owns the file descriptor of one TAP queue. Frames written to it
//! are *received* by the TAP netdev (they enter the kernel, or the network
//! namespace the netdev lives in, as if they came off a wire); frames the
//! kernel *transmits* on the netdev are read from it. That is exactly the
//! relation between qemu and a guest NIC, and it is how the switch attaches
//! VMs (Linux `Documentation/networking/tuntap.rst`).
//!
//! Options mirror qemu's `-netdev tap`: `IFF_NO_PI` always (no 4-byte packet
//! information prefix), `IFF_VNET_HDR` + `TUNSETVNETHDRSZ` to carry a
//! [`VirtioNetHdr`] before each frame, `TUNSETOFFLOAD` to let the kernel hand
//! over unchecksummed and 64 KB GSO frames, `IFF_MULTI_QUEUE` to open several
//! queues of one netdev, and `TUNSETPERSIST` to keep the netdev after the fd
//! is closed. The fd is non-blocking by default so it fits an epoll loop.

use std::ffi::CStr;
use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use thiserror::Error;

pub use crate::vnet::{GsoType, VirtioNetHdr, VnetHdrError, VnetHdrLen};

/// Longest interface name the kernel accepts (`IFNAMSIZ` - 1).
pub const MAX_IFNAME_LEN: usize = libc::IFNAMSIZ - 1;

/// Errors from creating or configuring a TAP.
#[derive(Debug, Error)]
pub enum TapError {
    /// The name is empty, too long for `IFNAMSIZ`, or holds a NUL, '/' or
    /// whitespace (which the kernel rejects).
    #[error("invalid interface name {name:?}: {why}")]
    InvalidName {
        /// The offending name.
        name: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// A system call failed.
    #[error("{op} on TAP {name:?}: {source}")]
    Sys {
        /// What was being done (e.g. `TUNSETIFF`).
        op: &'static str,
        /// The interface name asked for.
        name: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

/// Offloads requested with `TUNSETOFFLOAD`: what this reader accepts from the
/// kernel (frames with partial checksums, GSO super-frames). They need
/// `IFF_VNET_HDR`, since the header is what describes such frames.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Offloads {
    /// `TUN_F_CSUM`: frames may carry `NEEDS_CSUM` (partial checksum).
    pub csum: bool,
    /// `TUN_F_TSO4`: TCP over IPv4 super-frames.
    pub tso4: bool,
    /// `TUN_F_TSO6`: TCP over IPv6 super-frames.
    pub tso6: bool,
    /// `TUN_F_TSO_ECN`: TSO frames with CWR set.
    pub tso_ecn: bool,
    /// `TUN_F_USO4 | TUN_F_USO6`: UDP segmentation (Linux ≥ 6.2). Dropped
    /// silently by [`Tap::set_offload`] where the kernel lacks it.
    pub uso: bool,
}

impl Offloads {
    /// Everything the switch can pass through: checksum, TSO4/6 with ECN and
    /// USO where the kernel has it.
    pub const ALL: Offloads = Offloads {
        csum: true,
        tso4: true,
        tso6: true,
        tso_ecn: true,
        uso: true,
    };

    fn bits(self) -> libc::c_uint {
        let mut b = 0;
        if self.csum {
            b |= libc::TUN_F_CSUM;
        }
        if self.tso4 {
            b |= libc::TUN_F_TSO4;
        }
        if self.tso6 {
            b |= libc::TUN_F_TSO6;
        }
        if self.tso_ecn {
            b |= libc::TUN_F_TSO_ECN;
        }
        if self.uso {
            b |= libc::TUN_F_USO4 | libc::TUN_F_USO6;
        }
        b
    }
}

/// How to open a TAP. `Default` is a plain single-queue, non-blocking TAP
/// without a virtio header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TapOptions {
    /// Prefix frames with a `virtio_net_hdr` of this size (`IFF_VNET_HDR`).
    pub vnet_hdr: Option<VnetHdrLen>,
    /// Offloads to enable; only honoured with `vnet_hdr`.
    pub offloads: Offloads,
    /// Open one queue of a multi-queue netdev (`IFF_MULTI_QUEUE`); opening the
    /// same name again attaches another queue.
    pub multi_queue: bool,
    /// `Some(true)`: keep the netdev after the fd closes; `Some(false)`: make
    /// an existing persistent netdev transient again; `None`: leave as is.
    pub persist: Option<bool>,
    /// Open with `O_NONBLOCK` (the default: reads return `WouldBlock`).
    pub nonblocking: bool,
}

impl Default for TapOptions {
    fn default() -> Self {
        TapOptions {
            vnet_hdr: None,
            offloads: Offloads::default(),
            multi_queue: false,
            persist: None,
            nonblocking: true,
        }
    }
}

/// `struct ifreq` with the `ifr_flags` member of its union; padded to the
/// full 40 bytes of the 64-bit layout so the kernel never reads past it.
#[repr(C)]
struct IfReqFlags {
    name: [libc::c_char; libc::IFNAMSIZ],
    flags: libc::c_short,
    _pad: [u8; 22],
}

/// One queue of a TAP netdev. Closing it (drop) removes the netdev unless it
/// is persistent or other queues are still open.
#[derive(Debug)]
pub struct Tap {
    fd: OwnedFd,
    name: String,
    vnet_hdr: Option<VnetHdrLen>,
    offloads: Offloads,
}

/// Check that `name` is a name the kernel will accept for a netdev.
pub fn check_ifname(name: &str) -> Result<(), TapError> {
    let bad = |why| {
        Err(TapError::InvalidName {
            name: name.to_owned(),
            why,
        })
    };
    if name.is_empty() {
        return bad("empty");
    }
    if name.len() > MAX_IFNAME_LEN {
        return bad("longer than 15 bytes (IFNAMSIZ)");
    }
    if name == "." || name == ".." {
        return bad("reserved");
    }
    if name
        .bytes()
        .any(|b| b == 0 || b == b'/' || b == b':' || b.is_ascii_whitespace())
    {
        return bad("holds NUL, '/', ':' or whitespace");
    }
    Ok(())
}

impl Tap {
    /// Create the TAP netdev `name`, or attach to it if it exists (persistent
    /// or, with `multi_queue`, another queue). The netdev is created in the
    /// network namespace of the calling thread and stays down: bring it up
    /// with `ip link set NAME up`.
    pub fn open(name: &str, opts: &TapOptions) -> Result<Tap, TapError> {
        check_ifname(name)?;
        let sys = |op| {
            let name = name.to_owned();
            move |source| TapError::Sys { op, name, source }
        };
        let mut flags = libc::O_RDWR | libc::O_CLOEXEC;
        if opts.nonblocking {
            flags |= libc::O_NONBLOCK;
        }
        let path = c"/dev/net/tun";
        // SAFETY: `path` is a valid NUL-terminated C string; `open` has no
        // other memory preconditions.
        let raw = unsafe { libc::open(path.as_ptr(), flags) };
        if raw < 0 {
            return Err(sys("open /dev/net/tun")(io::Error::last_os_error()));
        }
        // SAFETY: `raw` is a freshly opened descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };

        let mut ifr_flags = libc::IFF_TAP | libc::IFF_NO_PI;
        if opts.vnet_hdr.is_some() {
            ifr_flags |= libc::IFF_VNET_HDR;
        }
        if opts.multi_queue {
            ifr_flags |= libc::IFF_MULTI_QUEUE;
        }
        let mut req = IfReqFlags {
            name: [0; libc::IFNAMSIZ],
            // The IFF_* values used fit in 16 bits (highest is 0x4000).
            flags: ifr_flags as libc::c_short,
            _pad: [0; 22],
        };
        for (dst, src) in req.name.iter_mut().zip(name.bytes()) {
            *dst = src as libc::c_char;
        }
        // SAFETY: TUNSETIFF reads and writes one `struct ifreq`; `req` is a
        // live, properly aligned repr(C) value at least that large.
        let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETIFF, &mut req) };
        if rc < 0 {
            return Err(sys("TUNSETIFF")(io::Error::last_os_error()));
        }
        // The kernel writes back the name it used (same as asked, since we
        // never pass a `%d` template), NUL-terminated within IFNAMSIZ.
        let raw_name = req.name.map(|c| c as u8);
        let got = CStr::from_bytes_until_nul(&raw_name)
            .map(|c| c.to_string_lossy().into_owned())
            .unwrap_or_else(|_| name.to_owned());
        let mut tap = Tap {
            fd,
            name: got,
            vnet_hdr: opts.vnet_hdr,
            offloads: Offloads::default(),
        };
        if let Some(len) = opts.vnet_hdr {
            let mut sz: libc::c_int = len.bytes() as libc::c_int;
            // SAFETY: TUNSETVNETHDRSZ reads one `int` through the pointer;
            // `sz` is live for the call.
            let rc = unsafe { libc::ioctl(tap.fd.as_raw_fd(), libc::TUNSETVNETHDRSZ, &mut sz) };
            if rc < 0 {
                return Err(sys("TUNSETVNETHDRSZ")(io::Error::last_os_error()));
            }
            tap.set_offload(opts.offloads)?;
        }
        if let Some(p) = opts.persist {
            tap.set_persist(p)?;
        }
        Ok(tap)
    }

    /// Interface name of the netdev.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Size of the virtio header before each frame, if enabled.
    pub fn vnet_hdr(&self) -> Option<VnetHdrLen> {
        self.vnet_hdr
    }

    /// Offloads in force (after any fallback of [`Self::set_offload`]).
    pub fn offloads(&self) -> Offloads {
        self.offloads
    }

    /// Enable offloads (`TUNSETOFFLOAD`). Without a virtio header only the
    /// empty set is valid. If the kernel refuses USO (before Linux 6.2) the
    /// call is retried without it; the set in force is returned.
    pub fn set_offload(&mut self, want: Offloads) -> Result<Offloads, TapError> {
        let try_set = |o: Offloads| {
            // TUNSETOFFLOAD takes the flags as the ioctl's integer argument.
            // SAFETY: the argument is a plain integer, no memory is accessed.
            let rc = unsafe {
                libc::ioctl(
                    self.fd.as_raw_fd(),
                    libc::TUNSETOFFLOAD,
                    o.bits() as libc::c_ulong,
                )
            };
            if rc < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(o)
            }
        };
        let res = match try_set(want) {
            Err(e) if want.uso && e.raw_os_error() == Some(libc::EINVAL) => {
                try_set(Offloads { uso: false, ..want })
            }
            r => r,
        };
        let got = res.map_err(|source| TapError::Sys {
            op: "TUNSETOFFLOAD",
            name: self.name.clone(),
            source,
        })?;
        self.offloads = got;
        Ok(got)
    }

    /// Make the netdev persistent (it outlives this fd) or transient again
    /// (`TUNSETPERSIST`).
    pub fn set_persist(&self, persist: bool) -> Result<(), TapError> {
        // SAFETY: TUNSETPERSIST takes a plain integer argument.
        let rc = unsafe {
            libc::ioctl(
                self.fd.as_raw_fd(),
                libc::TUNSETPERSIST,
                libc::c_ulong::from(persist),
            )
        };
        if rc < 0 {
            return Err(TapError::Sys {
                op: "TUNSETPERSIST",
                name: self.name.clone(),
                source: io::Error::last_os_error(),
            });
        }
        Ok(())
    }

    /// Switch `O_NONBLOCK` on or off.
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        let fd = self.fd.as_raw_fd();
        // SAFETY: F_GETFL has no memory arguments; `fd` is owned and open.
        let fl = unsafe { libc::fcntl(fd, libc::F_GETFL) };
        if fl < 0 {
            return Err(io::Error::last_os_error());
        }
        let fl = if nonblocking {
            fl | libc::O_NONBLOCK
        } else {
            fl & !libc::O_NONBLOCK
        };
        // SAFETY: F_SETFL takes an integer argument; `fd` is owned and open.
        if unsafe { libc::fcntl(fd, libc::F_SETFL, fl) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Read one frame (with its virtio header when enabled) into `buf`.
    /// A frame longer than `buf` is truncated. On a non-blocking TAP with
    /// nothing queued this returns `ErrorKind::WouldBlock`.
    pub fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        // SAFETY: `buf` is valid for writes of `buf.len()` bytes.
        let n = unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        cvt_len(n)
    }

    /// Write one frame (prefixed by its virtio header when enabled).
    pub fn write(&self, frame: &[u8]) -> io::Result<usize> {
        // SAFETY: `frame` is valid for reads of `frame.len()` bytes.
        let n = unsafe { libc::write(self.fd.as_raw_fd(), frame.as_ptr().cast(), frame.len()) };
        cvt_len(n)
    }

    /// Read one frame scattered over `bufs` (e.g. virtio header into one
    /// buffer, frame into another).
    pub fn readv(&self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        let cnt = bufs.len().min(libc::c_int::MAX as usize) as libc::c_int;
        // SAFETY: `IoSliceMut` is ABI-compatible with `struct iovec` on Unix
        // (documented by std); every slice is valid for writes of its length.
        let n = unsafe { libc::readv(self.fd.as_raw_fd(), bufs.as_mut_ptr().cast(), cnt) };
        cvt_len(n)
    }

    /// Write one frame gathered from `bufs` (e.g. a header emitted on the
    /// stack followed by the payload) without copying them together.
    pub fn writev(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let cnt = bufs.len().min(libc::c_int::MAX as usize) as libc::c_int;
        // SAFETY: `IoSlice` is ABI-compatible with `struct iovec` on Unix;
        // every slice is valid for reads of its length.
        let n = unsafe { libc::writev(self.fd.as_raw_fd(), bufs.as_ptr().cast(), cnt) };
        cvt_len(n)
    }

    /// Wait until a frame can be read or `timeout` passes; true if readable.
    /// Meant for tests and simple tools; a daemon uses epoll on
    /// [`AsRawFd::as_raw_fd`].
    pub fn wait_readable(&self, timeout: Duration) -> io::Result<bool> {
        let mut pfd = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = timeout.as_millis().min(libc::c_int::MAX as u128) as libc::c_int;
        loop {
            // SAFETY: `pfd` is one live pollfd and we pass a count of 1.
            let rc = unsafe { libc::poll(&mut pfd, 1, ms) };
            if rc >= 0 {
                return Ok(rc > 0);
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }
}

fn cvt_len(n: isize) -> io::Result<usize> {
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

impl AsRawFd for Tap {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl AsFd for Tap {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl From<Tap> for OwnedFd {
    fn from(t: Tap) -> OwnedFd {
        t.fd
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(check_ifname("eth0").is_ok());
        assert!(check_ifname("abcdefghijklmno").is_ok());
        for bad in ["", "abcdefghijklmnop", "a b", "a/b", "a:1", ".."] {
            assert!(
                matches!(check_ifname(bad), Err(TapError::InvalidName { .. })),
                "{bad:?} accepted"
            );
        }
        let err = Tap::open("x".repeat(16).as_str(), &TapOptions::default()).unwrap_err();
        assert!(err.to_string().contains("xxxxxxxxxxxxxxxx"), "{err}");
    }

    #[test]
    fn offload_bits() {
        assert_eq!(Offloads::default().bits(), 0);
        let all = Offloads::ALL.bits();
        assert_eq!(all & libc::TUN_F_CSUM, libc::TUN_F_CSUM);
        assert_eq!(
            all,
            libc::TUN_F_CSUM
                | libc::TUN_F_TSO4
                | libc::TUN_F_TSO6
                | libc::TUN_F_TSO_ECN
                | libc::TUN_F_USO4
                | libc::TUN_F_USO6
        );
    }
}
