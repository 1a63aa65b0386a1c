//! AF_PACKET sockets bound to one netdev: how the switch uses an existing
//! interface (a veth, a NIC) as a `system` port (packet(7)).
//!
//! The socket is `SOCK_RAW` with `ETH_P_ALL`, bound to the interface, with
//! the interface in promiscuous mode (`PACKET_ADD_MEMBERSHIP` /
//! `PACKET_MR_PROMISC`, which the kernel undoes when the socket closes) so it
//! sees every frame on the wire, as a bridge port must.
//!
//! `PACKET_VNET_HDR` makes the kernel put a `virtio_net_hdr` before each
//! received frame and accept one before each sent frame. That is how frames
//! with an unfinished checksum (`CHECKSUM_PARTIAL`, common on veths, where
//! the sender's stack never computes it) and GSO super-frames are described
//! instead of being forwarded broken: the header travels with the frame to
//! the output port, which either hands it to the kernel (TAP, AF_PACKET) or
//! finishes it in software.
//!
//! `PACKET_IGNORE_OUTGOING` (Linux ≥ 4.20) keeps frames the host itself sends
//! on the interface, including ours, out of the receive queue.
//!
//! Receive and transmit are batched with `recvmmsg(2)` / `sendmmsg(2)`: up to
//! [`MAX_BATCH`] frames per system call.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use thiserror::Error;

use crate::tap::check_ifname;

/// Most frames moved by one [`AfPacket::recv_batch`] / [`AfPacket::send_batch`].
pub const MAX_BATCH: usize = 64;

/// Size of the `virtio_net_hdr` that `PACKET_VNET_HDR` puts before frames
/// (the legacy 10-byte layout, `struct virtio_net_hdr`).
pub const VNET_HDR_LEN: usize = 10;

/// Errors from opening an AF_PACKET port.
#[derive(Debug, Error)]
pub enum AfPacketError {
    /// The interface name cannot name a netdev.
    #[error(transparent)]
    Name(#[from] crate::tap::TapError),
    /// No interface of that name exists in this network namespace.
    #[error("no such interface {0:?}")]
    NoSuchInterface(String),
    /// A system call failed.
    #[error("{op} on {name:?}: {source}")]
    Sys {
        /// What was being done.
        op: &'static str,
        /// The interface.
        name: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

/// How to open an AF_PACKET port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AfPacketOptions {
    /// Prefix frames with a 10-byte `virtio_net_hdr` (`PACKET_VNET_HDR`).
    pub vnet_hdr: bool,
    /// Put the interface in promiscuous mode for the socket's lifetime.
    pub promisc: bool,
    /// Bypass the qdisc layer on transmit (`PACKET_QDISC_BYPASS`). Off by
    /// default: the bypass path (`__dev_direct_xmit`) drops any frame that
    /// `validate_xmit_skb` had to segment or copy, so GSO frames sent with a
    /// virtio-net header to a netdev without TSO would be lost. Turn it on
    /// only for frames the device is known to take as they are.
    pub qdisc_bypass: bool,
    /// Socket buffer sizes (`SO_RCVBUFFORCE`/`SO_SNDBUFFORCE`), if set.
    pub buf_bytes: Option<usize>,
}

impl Default for AfPacketOptions {
    fn default() -> Self {
        AfPacketOptions {
            vnet_hdr: true,
            promisc: true,
            qdisc_bypass: false,
            buf_bytes: Some(4 << 20),
        }
    }
}

/// An AF_PACKET socket bound to one interface, non-blocking.
#[derive(Debug)]
pub struct AfPacket {
    fd: OwnedFd,
    ifindex: i32,
    name: String,
    vnet_hdr: bool,
}

/// Index of the interface `name` in the caller's network namespace.
pub fn ifindex(name: &str) -> Result<i32, AfPacketError> {
    check_ifname(name)?;
    let mut cname = [0u8; libc::IFNAMSIZ];
    cname[..name.len()].copy_from_slice(name.as_bytes());
    // SAFETY: `cname` is NUL-terminated (name ≤ 15 bytes in a zeroed 16-byte
    // array, checked above) and lives for the call.
    let idx = unsafe { libc::if_nametoindex(cname.as_ptr().cast()) };
    if idx == 0 {
        return Err(AfPacketError::NoSuchInterface(name.to_owned()));
    }
    Ok(idx as i32)
}

fn setsockopt<T>(fd: RawFd, level: i32, opt: i32, val: &T) -> io::Result<()> {
    // SAFETY: `val` points to a live `T` and we pass its exact size.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            opt,
            (val as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Control buffer per message, in 8-byte words: one `cmsghdr` (16) with a
/// `tpacket_auxdata` (20), aligned: `CMSG_SPACE(20)` = 40 bytes.
const CTL_WORDS: usize = 8;

/// `TP_STATUS_VLAN_VALID` / `TP_STATUS_VLAN_TPID_VALID` (linux/if_packet.h).
const TP_STATUS_VLAN_VALID: u32 = 1 << 4;
const TP_STATUS_VLAN_TPID_VALID: u32 = 1 << 6;

/// The (TPID, TCI) of the tag the kernel stripped, from the
/// `PACKET_AUXDATA` control message of a received message.
fn vlan_from_auxdata(hdr: &libc::msghdr) -> Option<(u16, u16)> {
    // SAFETY: `hdr` is a msghdr the kernel filled for a message we
    // received: msg_control/msg_controllen describe our live `ctl` buffer,
    // so the CMSG_* walk stays inside it.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(hdr);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_PACKET && (*c).cmsg_type == libc::PACKET_AUXDATA {
                let aux: libc::tpacket_auxdata =
                    std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                if aux.tp_status & TP_STATUS_VLAN_VALID == 0 && aux.tp_vlan_tci == 0 {
                    return None;
                }
                let tpid = if aux.tp_status & TP_STATUS_VLAN_TPID_VALID != 0 {
                    aux.tp_vlan_tpid
                } else {
                    0x8100
                };
                return Some((tpid, aux.tp_vlan_tci));
            }
            c = libc::CMSG_NXTHDR(hdr, c);
        }
    }
    None
}

/// Put an 802.1Q tag back after the MAC addresses of the frame at
/// `buf[hdr..len]`; returns the new length (unchanged if it does not fit).
/// A virtio header's `csum_start` and `hdr_len` move with the payload.
fn reinsert_vlan(buf: &mut [u8], len: usize, hdr: usize, tpid: u16, tci: u16) -> usize {
    let at = hdr + 12;
    if len < at || len + 4 > buf.len() {
        return len;
    }
    buf.copy_within(at..len, at + 4);
    buf[at..at + 2].copy_from_slice(&tpid.to_be_bytes());
    buf[at + 2..at + 4].copy_from_slice(&tci.to_be_bytes());
    if hdr >= VNET_HDR_LEN {
        let bump = |buf: &mut [u8], lo: usize| {
            let v = u16::from_le_bytes([buf[lo], buf[lo + 1]]).saturating_add(4);
            buf[lo..lo + 2].copy_from_slice(&v.to_le_bytes());
        };
        if buf[0] & 1 != 0 {
            bump(buf, 6); // csum_start (VIRTIO_NET_HDR_F_NEEDS_CSUM)
        }
        if buf[1] != 0 {
            bump(buf, 2); // hdr_len (GSO)
        }
    }
    len + 4
}

impl AfPacket {
    /// Open a socket on interface `name` (which must exist in the calling
    /// thread's network namespace).
    pub fn open(name: &str, opts: &AfPacketOptions) -> Result<AfPacket, AfPacketError> {
        let idx = ifindex(name)?;
        let sys = |op| {
            let name = name.to_owned();
            move |source| AfPacketError::Sys { op, name, source }
        };
        let proto = (libc::ETH_P_ALL as u16).to_be() as i32;
        // SAFETY: plain system call with integer arguments.
        let raw = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                proto,
            )
        };
        if raw < 0 {
            return Err(sys("socket(AF_PACKET)")(io::Error::last_os_error()));
        }
        // SAFETY: `raw` is a fresh descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let rfd = fd.as_raw_fd();
        // Options that shape what is received go before bind, so no frame
        // arrives in the wrong format.
        if opts.vnet_hdr {
            setsockopt(rfd, libc::SOL_PACKET, libc::PACKET_VNET_HDR, &1i32)
                .map_err(sys("PACKET_VNET_HDR"))?;
        }
        // PACKET_IGNORE_OUTGOING is 23 in <linux/if_packet.h>; older kernels
        // refuse it, and then outgoing frames are filtered by nothing: the
        // switch only loses a little work, since its own sends are never
        // looped back to the sending socket.
        let _ = setsockopt(rfd, libc::SOL_PACKET, 23, &1i32);
        // The kernel strips a received frame's 802.1Q tag before packet
        // taps see it (`skb_vlan_untag`) and reports it only in
        // PACKET_AUXDATA; `recv_batch` puts it back (packet(7)).
        setsockopt(rfd, libc::SOL_PACKET, libc::PACKET_AUXDATA, &1i32)
            .map_err(sys("PACKET_AUXDATA"))?;
        if opts.qdisc_bypass {
            let _ = setsockopt(rfd, libc::SOL_PACKET, libc::PACKET_QDISC_BYPASS, &1i32);
        }
        if let Some(b) = opts.buf_bytes {
            let b = b.min(i32::MAX as usize) as i32;
            let _ = setsockopt(rfd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, &b);
            let _ = setsockopt(rfd, libc::SOL_SOCKET, libc::SO_SNDBUFFORCE, &b);
        }
        // SAFETY: sockaddr_ll is plain old data; all-zero is a valid value.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
        sll.sll_ifindex = idx;
        // SAFETY: `sll` is a live sockaddr_ll and we pass its size.
        let rc = unsafe {
            libc::bind(
                rfd,
                (&sll as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(sys("bind")(io::Error::last_os_error()));
        }
        if opts.promisc {
            // SAFETY: packet_mreq is plain old data; all-zero is valid.
            let mut mr: libc::packet_mreq = unsafe { std::mem::zeroed() };
            mr.mr_ifindex = idx;
            mr.mr_type = libc::PACKET_MR_PROMISC as u16;
            setsockopt(rfd, libc::SOL_PACKET, libc::PACKET_ADD_MEMBERSHIP, &mr)
                .map_err(sys("PACKET_ADD_MEMBERSHIP"))?;
        }
        Ok(AfPacket {
            fd,
            ifindex: idx,
            name: name.to_owned(),
            vnet_hdr: opts.vnet_hdr,
        })
    }

    /// Interface name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Interface index.
    pub fn ifindex(&self) -> i32 {
        self.ifindex
    }

    /// Whether frames carry a [`VNET_HDR_LEN`]-byte virtio header.
    pub fn vnet_hdr(&self) -> bool {
        self.vnet_hdr
    }

    /// Receive up to `min(bufs.len(), MAX_BATCH)` frames in one
    /// `recvmmsg(2)`; `lens[i]` gets the length of frame `i` (header
    /// included). Returns how many were received; 0 when none was queued.
    /// A frame longer than its buffer is truncated (its length says so).
    ///
    /// A VLAN tag the kernel took off (reported in `PACKET_AUXDATA`) is put
    /// back in the frame, so the switch sees frames as they were on the
    /// wire; keep 4 bytes of room at the end of each buffer for it.
    pub fn recv_batch<B: AsMut<[u8]>>(
        &self,
        bufs: &mut [B],
        lens: &mut [usize],
    ) -> io::Result<usize> {
        let n = bufs.len().min(lens.len()).min(MAX_BATCH);
        if n == 0 {
            return Ok(0);
        }
        // SAFETY: iovec and mmsghdr are plain old data; all-zero (null
        // pointers, zero lengths) is a valid value for both.
        let mut iov: [libc::iovec; MAX_BATCH] = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        let mut msgs: [libc::mmsghdr; MAX_BATCH] = unsafe { std::mem::zeroed() };
        let mut ctl = [[0u64; CTL_WORDS]; MAX_BATCH];
        for i in 0..n {
            let b = bufs[i].as_mut();
            // Room for a reinserted tag stays free.
            iov[i].iov_base = b.as_mut_ptr().cast();
            iov[i].iov_len = b.len().saturating_sub(4);
            msgs[i].msg_hdr.msg_iov = &mut iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
            msgs[i].msg_hdr.msg_control = ctl[i].as_mut_ptr().cast();
            msgs[i].msg_hdr.msg_controllen = std::mem::size_of_val(&ctl[i]);
        }
        // SAFETY: `msgs[..n]` point at `iov[..n]`, which point into `bufs`,
        // and at `ctl[..n]`, all valid for writes and alive for the call;
        // no msg_name.
        let got = unsafe {
            crate::dgram::mmsg_dontwait(
                self.fd.as_raw_fd(),
                &mut msgs[..n],
                crate::dgram::Dir::Recv,
            )?
        };
        for i in 0..got {
            lens[i] = msgs[i].msg_len as usize;
            if let Some((tpid, tci)) = vlan_from_auxdata(&msgs[i].msg_hdr) {
                let hdr = if self.vnet_hdr { VNET_HDR_LEN } else { 0 };
                lens[i] = reinsert_vlan(bufs[i].as_mut(), lens[i], hdr, tpid, tci);
            }
        }
        Ok(got)
    }

    /// Send frames in one `sendmmsg(2)`, each given as up to four gathered
    /// pieces (e.g. virtio header, MAC addresses, a pushed VLAN tag, the
    /// rest). Returns how many frames the kernel took; 0 when its queue is
    /// full. Sends at most [`MAX_BATCH`].
    pub fn send_batch(&self, frames: &[[&[u8]; 4]]) -> io::Result<usize> {
        let n = frames.len().min(MAX_BATCH);
        if n == 0 {
            return Ok(0);
        }
        // SAFETY: plain old data; all-zero is valid.
        let mut iov: [[libc::iovec; 4]; MAX_BATCH] = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        let mut msgs: [libc::mmsghdr; MAX_BATCH] = unsafe { std::mem::zeroed() };
        for i in 0..n {
            let mut k = 0;
            for piece in frames[i].iter().filter(|p| !p.is_empty()) {
                iov[i][k].iov_base = piece.as_ptr() as *mut libc::c_void;
                iov[i][k].iov_len = piece.len();
                k += 1;
            }
            msgs[i].msg_hdr.msg_iov = iov[i].as_mut_ptr();
            msgs[i].msg_hdr.msg_iovlen = k;
        }
        // SAFETY: every iovec points into a live `&[u8]` of `frames` that the
        // kernel only reads; the arrays outlive the call.
        unsafe {
            crate::dgram::mmsg_dontwait(
                self.fd.as_raw_fd(),
                &mut msgs[..n],
                crate::dgram::Dir::Send,
            )
        }
    }
}

impl AsRawFd for AfPacket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl AsFd for AfPacket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vlan_reinserted_after_macs() {
        let mut b = [0u8; 40];
        b[0] = 1;
        b[6] = 34; // csum_start
        b[10..22].copy_from_slice(&[0xaa; 12]);
        b[22..24].copy_from_slice(&[0x08, 0x00]);
        b[24] = 0x45;
        let n = reinsert_vlan(&mut b, 25, VNET_HDR_LEN, 0x8100, 100);
        assert_eq!(n, 29);
        assert_eq!(&b[22..28], &[0x81, 0x00, 0, 100, 0x08, 0x00]);
        assert_eq!(b[28], 0x45);
        assert_eq!(b[6], 38, "csum_start moved with the payload");
        assert_eq!(
            reinsert_vlan(&mut b, 38, VNET_HDR_LEN, 0x8100, 1),
            38,
            "no room"
        );
    }

    #[test]
    fn missing_interface_is_named() {
        let err = AfPacket::open("nosuchif0x", &AfPacketOptions::default()).unwrap_err();
        assert!(err.to_string().contains("nosuchif0x"), "{err}");
        let err = ifindex("").unwrap_err();
        assert!(matches!(err, AfPacketError::Name(_)), "{err}");
    }

    #[test]
    fn loopback_roundtrip() {
        // `lo` exists in every namespace; sending to it loops the frame
        // back to receivers other than the sender.
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            assert!(std::env::var("CI").as_deref() != Ok("true"), "needs root");
            eprintln!("skipping: needs root");
            return;
        }
        let opts = AfPacketOptions {
            vnet_hdr: false,
            promisc: false,
            qdisc_bypass: false,
            buf_bytes: None,
        };
        let a = AfPacket::open("lo", &opts).unwrap();
        let b = AfPacket::open("lo", &opts).unwrap();
        let mut frame = [0u8; 60];
        frame[12] = 0x88;
        frame[13] = 0xb5; // local experimental ethertype
        frame[14..20].copy_from_slice(b"cnetio");
        let sent = a
            .send_batch(&[[&frame[..14], &frame[14..], &[], &[]]])
            .unwrap();
        assert_eq!(sent, 1);
        let mut bufs = [[0u8; 128]; 4];
        let mut lens = [0usize; 4];
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        loop {
            let n = b.recv_batch(&mut bufs, &mut lens).unwrap();
            if (0..n).any(|i| lens[i] == 60 && &bufs[i][14..20] == b"cnetio") {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "frame never came back"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }
}
