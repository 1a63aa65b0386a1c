//! UDP segmentation offload on send (`UDP_SEGMENT`, Linux ≥ 4.18) and
//! the socket options a tunnel's UDP send sockets need: one `sendmsg(2)`
//! hands the kernel a buffer of back-to-back datagram payloads of
//! `gso_size` bytes each (the last may be shorter); the kernel builds the
//! outer IPv4/UDP headers of every datagram and segments as late as it can
//! (in the NIC, or in software at the device), so one 64 KB super-frame
//! costs one system call and one traversal of the IP stack instead of one
//! per datagram. See udp(7) and the kernel's `udp_send_skb` /
//! `__udp_gso_segment`.

use std::io::{self, IoSlice};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsRawFd, BorrowedFd};

use crate::dgram::{mmsg_dontwait, Dir, MAX_BATCH};

/// `UDP_SEGMENT` (linux/udp.h): the `SOL_UDP` option and control message
/// carrying the segment size.
const UDP_SEGMENT: libc::c_int = 103;

/// `UDP_GRO` (linux/udp.h): the `SOL_UDP` option asking the kernel to
/// hand a socket coalesced datagrams, and the control message giving their
/// segment size.
const UDP_GRO: libc::c_int = 104;

/// Most segments one `UDP_SEGMENT` send may carry (`UDP_MAX_SEGMENTS`
/// of the kernel, 64 before Linux 6.9).
pub const MAX_SEGMENTS: usize = 64;

/// Most slices [`send_segmented_vectored`] takes: two per segment (headers,
/// payload) for [`MAX_SEGMENTS`] segments; well under `UIO_MAXIOV` (1024).
pub const MAX_IOV: usize = 2 * MAX_SEGMENTS;

/// Largest UDP payload of one IPv4 send: 65535 - 20 (IPv4) - 8 (UDP).
pub const MAX_PAYLOAD: usize = 65_507;

/// Set `IP_MTU_DISCOVER` on an IPv4 socket: `IP_PMTUDISC_DO` (DF set,
/// sends larger than the path MTU fail with `EMSGSIZE`, ip(7)) when `df`,
/// else `IP_PMTUDISC_DONT` (DF clear, the kernel fragments).
pub fn set_df(fd: BorrowedFd<'_>, df: bool) -> io::Result<()> {
    let v = if df {
        libc::IP_PMTUDISC_DO
    } else {
        libc::IP_PMTUDISC_DONT
    };
    set_int(fd, libc::IPPROTO_IP, libc::IP_MTU_DISCOVER, v)
}

/// `setsockopt(2)` of an int-valued option.
fn set_int(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
    v: libc::c_int,
) -> io::Result<()> {
    // SAFETY: `v` is a live c_int and the length passed is its size.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&v as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Turn on `UDP_GRO` on a UDP socket: the kernel may then deliver several
/// datagrams of one flow and equal size (the last may be shorter) as one,
/// with their size in a control message ([`recv_batch_gro`]); fewer,
/// larger reads, and a GSO packet from the peer is not segmented on the
/// way in.
pub fn set_gro(fd: BorrowedFd<'_>) -> io::Result<()> {
    set_int(fd, libc::SOL_UDP, UDP_GRO, 1)
}

/// Control area of one received message: room for the `UDP_GRO` int and
/// the `IP_TOS` byte (each `CMSG_SPACE` of 24 bytes on 64-bit Linux).
type GroCmsg = [u64; 8];

/// Per-message results of [`recv_batch_gro`] besides the data.
pub struct RecvMeta<'a> {
    /// Lengths received.
    pub lens: &'a mut [usize],
    /// Sources.
    pub srcs: &'a mut [SocketAddrV4],
    /// Segment size of a coalesced read, 0 for a single datagram.
    pub gso: &'a mut [u16],
    /// Outer TOS byte (`IP_TOS` control message, with [`set_recv_tos`]; 0
    /// without). All datagrams of a coalesced read share it: the kernel's
    /// GRO does not merge packets whose TOS differs (`inet_gro_receive`).
    pub tos: &'a mut [u8],
}

/// Ask for the TOS byte of each received datagram (`IP_RECVTOS`, ip(7)),
/// so that a tunnel endpoint can propagate ECN on decapsulation
/// (RFC 6040 §4.2).
pub fn set_recv_tos(fd: BorrowedFd<'_>) -> io::Result<()> {
    set_int(fd, libc::IPPROTO_IP, libc::IP_RECVTOS, 1)
}

/// [`crate::dgram::recv_batch`] on a socket with [`set_gro`]: `meta.gso[i]`
/// gets the segment size of a coalesced `bufs[i]` (it then holds
/// `ceil(lens[i] / gso[i])` datagrams back to back), or 0 for a single
/// datagram; `meta.tos[i]` the outer TOS.
pub fn recv_batch_gro<B: AsMut<[u8]>>(
    fd: BorrowedFd<'_>,
    bufs: &mut [B],
    offset: usize,
    meta: RecvMeta<'_>,
) -> io::Result<usize> {
    let RecvMeta {
        lens,
        srcs,
        gso,
        tos,
    } = meta;
    let n = bufs
        .len()
        .min(lens.len())
        .min(srcs.len())
        .min(gso.len())
        .min(tos.len())
        .min(MAX_BATCH);
    if n == 0 {
        return Ok(0);
    }
    // SAFETY: iovec, mmsghdr and sockaddr_in are plain old data; all-zero
    // is a valid value for each.
    let mut iov: [libc::iovec; MAX_BATCH] = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let mut msgs: [libc::mmsghdr; MAX_BATCH] = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let mut names: [libc::sockaddr_in; MAX_BATCH] = unsafe { std::mem::zeroed() };
    let mut ctl: [GroCmsg; MAX_BATCH] = [[0; 8]; MAX_BATCH];
    for i in 0..n {
        let area = bufs[i].as_mut().get_mut(offset..).unwrap_or(&mut []);
        iov[i].iov_base = area.as_mut_ptr().cast();
        iov[i].iov_len = area.len();
        let h = &mut msgs[i].msg_hdr;
        h.msg_iov = &mut iov[i];
        h.msg_iovlen = 1;
        h.msg_name = (&mut names[i] as *mut libc::sockaddr_in).cast();
        h.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as u32;
        h.msg_control = ctl[i].as_mut_ptr().cast();
        h.msg_controllen = std::mem::size_of::<GroCmsg>() as _;
    }
    // SAFETY: `msgs[..n]` point at `iov[..n]` (into `bufs`), `names[..n]`
    // and `ctl[..n]`, all valid for writes of the stated lengths and alive
    // for the call.
    let got = unsafe { mmsg_dontwait(fd.as_raw_fd(), &mut msgs[..n], Dir::Recv)? };
    for i in 0..got {
        lens[i] = msgs[i].msg_len as usize;
        let sa = &names[i];
        srcs[i] = SocketAddrV4::new(
            Ipv4Addr::from(u32::from_be(sa.sin_addr.s_addr)),
            u16::from_be(sa.sin_port),
        );
        gso[i] = 0;
        tos[i] = 0;
        let h = &msgs[i].msg_hdr;
        // SAFETY: `h` is the header the kernel filled, its control area
        // `ctl[i]` of `msg_controllen` bytes; CMSG_FIRSTHDR/NXTHDR stay
        // inside it or return null, a UDP_GRO message carries an int and
        // an IP_TOS one a byte (read unaligned, as CMSG_DATA only promises
        // byte alignment).
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(h);
            while !c.is_null() {
                let (level, ty) = ((*c).cmsg_level, (*c).cmsg_type);
                if level == libc::SOL_UDP && ty == UDP_GRO {
                    let v = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<libc::c_int>());
                    gso[i] = u16::try_from(v).unwrap_or(0);
                } else if level == libc::IPPROTO_IP && ty == libc::IP_TOS {
                    tos[i] = std::ptr::read_unaligned(libc::CMSG_DATA(c));
                }
                c = libc::CMSG_NXTHDR(h, c);
            }
        }
    }
    Ok(got)
}

/// Outer IPv4 fields of one [`send_segmented`] call, sent as `IP_TOS` and
/// `IP_TTL` control messages (ip(7)) so every datagram gets them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OuterIp {
    /// TOS byte (DSCP and ECN).
    pub tos: u8,
    /// Time to live.
    pub ttl: u8,
}

/// Control buffer: three `int`-sized control messages fit in 3 × 24 bytes
/// on 64-bit Linux; `u64` keeps it aligned as `cmsghdr` needs.
type CmsgBuf = [u64; 12];

/// Send `payload` to `dst` on the non-blocking UDP socket `fd` as
/// datagrams of `gso_size` bytes (the last may be shorter) in one
/// `sendmsg(2)` with a `UDP_SEGMENT` control message. `payload` must hold
/// at most [`MAX_SEGMENTS`] segments and [`MAX_PAYLOAD`] bytes. Returns
/// the bytes the kernel took (all or an error); `WouldBlock` when the
/// socket's send queue is full; `EMSGSIZE` when one datagram exceeds the
/// path MTU and the socket has DF ([`set_df`]).
pub fn send_segmented(
    fd: BorrowedFd<'_>,
    payload: &[u8],
    gso_size: u16,
    dst: SocketAddrV4,
    outer: OuterIp,
) -> io::Result<usize> {
    send_segmented_vectored(fd, &[IoSlice::new(payload)], gso_size, dst, outer)
}

/// [`send_segmented`] of the concatenation of `iov` (at most
/// [`MAX_IOV`] slices): the kernel cuts the joined bytes every `gso_size`
/// whatever the slice boundaries, so a datagram may be its headers in one
/// slice and its payload, still in the frame it came in, in the next —
/// the payload is copied once, by the kernel, instead of into a staging
/// buffer first.
pub fn send_segmented_vectored(
    fd: BorrowedFd<'_>,
    iov: &[IoSlice<'_>],
    gso_size: u16,
    dst: SocketAddrV4,
    outer: OuterIp,
) -> io::Result<usize> {
    if iov.len() > MAX_IOV {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} iovecs, at most {MAX_IOV}", iov.len()),
        ));
    }
    // SAFETY: sockaddr_in and msghdr are plain old data; all-zero is a
    // valid value for each.
    let mut name: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    name.sin_family = libc::AF_INET as libc::sa_family_t;
    name.sin_port = dst.port().to_be();
    name.sin_addr.s_addr = u32::from(*dst.ip()).to_be();
    let mut cbuf: CmsgBuf = [0; 12];
    // SAFETY: as above.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = (&mut name as *mut libc::sockaddr_in).cast();
    msg.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // `IoSlice` is ABI-compatible with `iovec` (std::io::IoSlice docs);
    // the kernel only reads through the bases on send.
    msg.msg_iov = iov.as_ptr().cast_mut().cast();
    msg.msg_iovlen = iov.len() as _;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of::<CmsgBuf>() as _;
    let items: [(libc::c_int, libc::c_int, CmsgVal); 3] = [
        (libc::SOL_UDP, UDP_SEGMENT, CmsgVal::U16(gso_size)),
        (
            libc::IPPROTO_IP,
            libc::IP_TOS,
            CmsgVal::Int(outer.tos.into()),
        ),
        (
            libc::IPPROTO_IP,
            libc::IP_TTL,
            CmsgVal::Int(outer.ttl.into()),
        ),
    ];
    let mut used = 0usize;
    // SAFETY: `msg.msg_control` points at `cbuf`, aligned for cmsghdr and
    // `msg_controllen` bytes long; CMSG_FIRSTHDR/NXTHDR return a header
    // inside it or null, and CMSG_SPACE of each item fits (3 × 24 < 96).
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        for (level, ty, val) in items {
            if c.is_null() {
                return Err(io::Error::other("control buffer too small"));
            }
            let len = val.len();
            (*c).cmsg_level = level;
            (*c).cmsg_type = ty;
            (*c).cmsg_len = libc::CMSG_LEN(len as u32) as _;
            let data = libc::CMSG_DATA(c);
            match val {
                CmsgVal::U16(v) => std::ptr::copy_nonoverlapping(v.to_ne_bytes().as_ptr(), data, 2),
                CmsgVal::Int(v) => std::ptr::copy_nonoverlapping(v.to_ne_bytes().as_ptr(), data, 4),
            }
            used += libc::CMSG_SPACE(len as u32) as usize;
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    msg.msg_controllen = used as _;
    // SAFETY: `msg` points at `name`, `iov` (slices borrowed for the call,
    // read only, at most MAX_IOV ≤ UIO_MAXIOV of them) and `cbuf`, all
    // alive for the call.
    let rc = unsafe { libc::sendmsg(fd.as_raw_fd(), &msg, libc::MSG_DONTWAIT) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(rc as usize)
}

/// The value of one control message.
#[derive(Clone, Copy)]
enum CmsgVal {
    U16(u16),
    Int(libc::c_int),
}

impl CmsgVal {
    fn len(self) -> usize {
        match self {
            CmsgVal::U16(_) => 2,
            CmsgVal::Int(_) => 4,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, UdpSocket};
    use std::os::fd::AsFd;

    #[test]
    fn one_send_arrives_as_equal_datagrams() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_nonblocking(true).unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        set_df(tx.as_fd(), true).unwrap();
        let to = SocketAddrV4::new(Ipv4Addr::LOCALHOST, rx.local_addr().unwrap().port());
        // Three segments of 100 bytes and a last one of 30.
        let payload: Vec<u8> = (0..330u32).map(|i| (i / 100) as u8).collect();
        let outer = OuterIp { tos: 0, ttl: 64 };
        let n = send_segmented(tx.as_fd(), &payload, 100, to, outer).unwrap();
        assert_eq!(n, 330);
        let mut got = Vec::new();
        let mut buf = [0u8; 512];
        while let Ok(l) = rx.recv(&mut buf) {
            got.push(buf[..l].to_vec());
        }
        let lens: Vec<usize> = got.iter().map(Vec::len).collect();
        assert_eq!(lens, [100, 100, 100, 30]);
        for (i, d) in got.iter().enumerate() {
            assert!(d.iter().all(|&b| b == i as u8), "datagram {i} in order");
        }
    }

    #[test]
    fn gro_socket_reads_a_gso_send_whole() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_nonblocking(true).unwrap();
        set_gro(rx.as_fd()).unwrap();
        set_recv_tos(rx.as_fd()).unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = SocketAddrV4::new(Ipv4Addr::LOCALHOST, rx.local_addr().unwrap().port());
        let payload: Vec<u8> = (0..250u32).map(|i| (i / 100) as u8).collect();
        // DSCP 10 with ECT(0), then a single datagram with CE.
        let outer = OuterIp { tos: 0x2a, ttl: 64 };
        send_segmented(tx.as_fd(), &payload, 100, to, outer).unwrap();
        let ce = OuterIp { tos: 0x03, ttl: 64 };
        send_segmented(tx.as_fd(), b"single", 100, to, ce).unwrap();
        let mut bufs = vec![vec![0u8; 1024]; 4];
        let (mut lens, mut gso, mut tos) = ([0usize; 4], [0u16; 4], [0xffu8; 4]);
        let mut srcs = [SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0); 4];
        let meta = RecvMeta {
            lens: &mut lens,
            srcs: &mut srcs,
            gso: &mut gso,
            tos: &mut tos,
        };
        let got = recv_batch_gro(rx.as_fd(), &mut bufs, 3, meta).unwrap();
        assert_eq!(got, 2);
        assert_eq!(tos[..2], [0x2a, 0x03], "outer TOS of each read");
        // Loopback keeps the GSO packet whole up to the GRO socket.
        assert_eq!((lens[0], gso[0]), (250, 100));
        assert_eq!(&bufs[0][3..253], &payload[..]);
        assert_eq!((lens[1], gso[1]), (6, 0));
        assert_eq!(&bufs[1][3..9], b"single");
        assert_eq!(srcs[1].port(), tx.local_addr().unwrap().port());
    }

    #[test]
    fn vectored_send_cuts_datagrams_across_slices() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_nonblocking(true).unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = SocketAddrV4::new(Ipv4Addr::LOCALHOST, rx.local_addr().unwrap().port());
        // Three datagrams, each a 4-byte header slice and a payload slice
        // of 6 (the last of 2): the kernel joins them and cuts every 10.
        let (h, p) = ([0xaa_u8; 4], [1u8, 2, 3, 4, 5, 6]);
        let iov = [
            IoSlice::new(&h),
            IoSlice::new(&p),
            IoSlice::new(&h),
            IoSlice::new(&p),
            IoSlice::new(&h),
            IoSlice::new(&p[..2]),
        ];
        let outer = OuterIp { tos: 0, ttl: 64 };
        let n = send_segmented_vectored(tx.as_fd(), &iov, 10, to, outer).unwrap();
        assert_eq!(n, 26);
        let mut got = Vec::new();
        let mut buf = [0u8; 64];
        while let Ok(l) = rx.recv(&mut buf) {
            got.push(buf[..l].to_vec());
        }
        let full = [0xaa, 0xaa, 0xaa, 0xaa, 1, 2, 3, 4, 5, 6];
        assert_eq!(got, [&full[..], &full[..], &full[..6]]);
        let too_many = vec![IoSlice::new(&h); MAX_IOV + 1];
        let e = send_segmented_vectored(tx.as_fd(), &too_many, 10, to, outer).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn too_many_segments_is_an_error() {
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 9);
        let payload = vec![0u8; 10 * (MAX_SEGMENTS * 4 + 1)];
        let outer = OuterIp { tos: 0, ttl: 64 };
        assert!(send_segmented(tx.as_fd(), &payload, 10, to, outer).is_err());
    }
}
