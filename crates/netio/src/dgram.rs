//! Batched receive on IPv4 datagram and raw sockets (`recvmmsg(2)`): how
//! the switch drains its tunnel sockets, up to [`MAX_BATCH`] packets per
//! system call, each with its sender's address.

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};

/// Most datagrams one [`recv_batch`] takes.
pub const MAX_BATCH: usize = 64;

/// Receive up to `min(bufs.len(), lens.len(), srcs.len(), MAX_BATCH)`
/// datagrams from the non-blocking socket `fd` in one `recvmmsg(2)`, each
/// written into `bufs[i][offset..]`; `lens[i]` gets its length and
/// `srcs[i]` its IPv4 source (port 0 for raw sockets). Returns how many
/// arrived; 0 when none was queued. A datagram longer than its buffer is
/// truncated.
pub fn recv_batch<B: AsMut<[u8]>>(
    fd: BorrowedFd<'_>,
    bufs: &mut [B],
    offset: usize,
    lens: &mut [usize],
    srcs: &mut [SocketAddrV4],
) -> io::Result<usize> {
    let n = bufs.len().min(lens.len()).min(srcs.len()).min(MAX_BATCH);
    if n == 0 {
        return Ok(0);
    }
    // SAFETY: iovec, mmsghdr and sockaddr_in are plain old data; all-zero
    // (null pointers, zero lengths) is a valid value for each.
    let mut iov: [libc::iovec; MAX_BATCH] = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let mut msgs: [libc::mmsghdr; MAX_BATCH] = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let mut names: [libc::sockaddr_in; MAX_BATCH] = unsafe { std::mem::zeroed() };
    for i in 0..n {
        let b = bufs[i].as_mut();
        let area = b.get_mut(offset..).unwrap_or(&mut []);
        iov[i].iov_base = area.as_mut_ptr().cast();
        iov[i].iov_len = area.len();
        msgs[i].msg_hdr.msg_iov = &mut iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
        msgs[i].msg_hdr.msg_name = (&mut names[i] as *mut libc::sockaddr_in).cast();
        msgs[i].msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as u32;
    }
    // SAFETY: `msgs[..n]` point at `iov[..n]` (into `bufs`) and `names[..n]`,
    // all valid for writes and alive for the call; no control buffer.
    let got = unsafe { mmsg_dontwait(fd.as_raw_fd(), &mut msgs[..n], Dir::Recv)? };
    for i in 0..got {
        lens[i] = msgs[i].msg_len as usize;
        let sa = &names[i];
        srcs[i] = if i32::from(sa.sin_family) == libc::AF_INET {
            SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(sa.sin_addr.s_addr)),
                u16::from_be(sa.sin_port),
            )
        } else {
            SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)
        };
    }
    Ok(got)
}

/// Send each of `pkts` as one datagram to `dst` in one `sendmmsg(2)`
/// (non-blocking). Returns how many the kernel took (0 when its queue is
/// full); an error only when it took none (the first packet's error).
pub fn send_batch_to(fd: BorrowedFd<'_>, pkts: &[&[u8]], dst: SocketAddrV4) -> io::Result<usize> {
    let n = pkts.len().min(MAX_BATCH);
    if n == 0 {
        return Ok(0);
    }
    // SAFETY: sockaddr_in, iovec and mmsghdr are plain old data; all-zero
    // is a valid value for each.
    let mut name: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    name.sin_family = libc::AF_INET as libc::sa_family_t;
    name.sin_port = dst.port().to_be();
    name.sin_addr.s_addr = u32::from(*dst.ip()).to_be();
    // SAFETY: as above.
    let mut iov: [libc::iovec; MAX_BATCH] = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let mut msgs: [libc::mmsghdr; MAX_BATCH] = unsafe { std::mem::zeroed() };
    for i in 0..n {
        // The kernel only reads through iov_base on send.
        iov[i].iov_base = pkts[i].as_ptr().cast_mut().cast();
        iov[i].iov_len = pkts[i].len();
        msgs[i].msg_hdr.msg_iov = &mut iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
        msgs[i].msg_hdr.msg_name = (&mut name as *mut libc::sockaddr_in).cast();
        msgs[i].msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as u32;
    }
    // SAFETY: `msgs[..n]` point at `iov[..n]` (into `pkts`, read only) and
    // at `name`, all alive for the call.
    unsafe { mmsg_dontwait(fd.as_raw_fd(), &mut msgs[..n], Dir::Send) }
}

/// Which of `recvmmsg(2)` / `sendmmsg(2)` [`mmsg_dontwait`] calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dir {
    /// `recvmmsg(2)`.
    Recv,
    /// `sendmmsg(2)`.
    Send,
}

/// `recvmmsg(2)` or `sendmmsg(2)` of `msgs.len()` messages without
/// blocking: how many were moved, 0 when the socket had nothing queued
/// (receive) or no room (send).
///
/// # Safety
/// Every buffer, name and control area `msgs` points at must be valid for
/// the lengths it states (for writes when receiving), for the duration of
/// the call.
pub(crate) unsafe fn mmsg_dontwait(
    fd: RawFd,
    msgs: &mut [libc::mmsghdr],
    dir: Dir,
) -> io::Result<usize> {
    let n = msgs.len() as libc::c_uint;
    // SAFETY: the caller vouches for the pointers inside `msgs`; the array
    // itself is a live, exclusive slice of `msgs.len()` entries.
    let rc = unsafe {
        match dir {
            Dir::Recv => libc::recvmmsg(
                fd,
                msgs.as_mut_ptr(),
                n,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            ),
            Dir::Send => libc::sendmmsg(fd, msgs.as_mut_ptr(), n, libc::MSG_DONTWAIT),
        }
    };
    if rc < 0 {
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::WouldBlock {
            return Ok(0);
        }
        return Err(e);
    }
    Ok(rc as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::os::fd::AsFd;

    #[test]
    fn batch_of_loopback_datagrams_with_sources() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_nonblocking(true).unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        for i in 0..3u8 {
            tx.send_to(&[i; 5], rx.local_addr().unwrap()).unwrap();
        }
        let mut bufs = vec![vec![0u8; 16]; 4];
        let mut lens = [0usize; 4];
        let mut srcs = [SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0); 4];
        // Loopback delivery is synchronous: all three are queued.
        let got = recv_batch(rx.as_fd(), &mut bufs, 2, &mut lens, &mut srcs).unwrap();
        assert_eq!(got, 3);
        let from = match tx.local_addr().unwrap() {
            std::net::SocketAddr::V4(a) => a,
            other => panic!("{other}"),
        };
        for i in 0..3 {
            assert_eq!(lens[i], 5);
            assert_eq!(&bufs[i][2..7], &[i as u8; 5]);
            assert_eq!(srcs[i], from);
        }
        assert_eq!(
            recv_batch(rx.as_fd(), &mut bufs, 0, &mut lens, &mut srcs).unwrap(),
            0
        );
        let to = match rx.local_addr().unwrap() {
            std::net::SocketAddr::V4(a) => a,
            other => panic!("{other}"),
        };
        assert_eq!(send_batch_to(tx.as_fd(), &[b"ab", b"cde"], to).unwrap(), 2);
        let got = recv_batch(rx.as_fd(), &mut bufs, 0, &mut lens, &mut srcs).unwrap();
        assert_eq!((got, &lens[..2]), (2, &[2usize, 3][..]));
        assert_eq!(&bufs[1][..3], b"cde");
    }
}
