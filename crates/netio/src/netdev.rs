//! Netdev settings through `ioctl(2)` on a socket (netdevice(7)): the MTU
//! of an interface in the calling thread's network namespace, for
//! `mtu_request` on TAP and internal ports (ovs-vswitchd.conf.db(5)), e.g.
//! 1450 for VMs behind a VXLAN tunnel on a 1500-byte underlay.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::tap::{check_ifname, TapError};

/// `struct ifreq` with the `ifr_mtu` member of its union, padded to the
/// full 40 bytes of the 64-bit layout.
#[repr(C)]
struct IfReqMtu {
    name: [libc::c_char; libc::IFNAMSIZ],
    mtu: libc::c_int,
    _pad: [u8; 20],
}

fn request(name: &str, mtu: i32) -> Result<IfReqMtu, TapError> {
    check_ifname(name)?;
    let mut req = IfReqMtu {
        name: [0; libc::IFNAMSIZ],
        mtu,
        _pad: [0; 20],
    };
    for (d, s) in req.name.iter_mut().zip(name.bytes()) {
        *d = s as libc::c_char;
    }
    Ok(req)
}

fn ioctl_socket() -> io::Result<OwnedFd> {
    // SAFETY: plain system call with integer arguments.
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` is a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// Set the MTU of interface `name` (`SIOCSIFMTU`).
pub fn set_mtu(name: &str, mtu: u32) -> io::Result<()> {
    let mtu = i32::try_from(mtu).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let mut req = request(name, mtu).map_err(io::Error::other)?;
    let s = ioctl_socket()?;
    // SAFETY: SIOCSIFMTU reads one `struct ifreq`; `req` is a live,
    // NUL-terminated, full-size one.
    let rc = unsafe { libc::ioctl(s.as_raw_fd(), libc::SIOCSIFMTU, &mut req) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The MTU of interface `name` (`SIOCGIFMTU`).
pub fn mtu(name: &str) -> io::Result<u32> {
    let mut req = request(name, 0).map_err(io::Error::other)?;
    let s = ioctl_socket()?;
    // SAFETY: SIOCGIFMTU writes `ifr_mtu` of one `struct ifreq`; `req` is
    // a live, full-size one.
    let rc = unsafe { libc::ioctl(s.as_raw_fd(), libc::SIOCGIFMTU, &mut req) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    u32::try_from(req.mtu).map_err(|_| io::Error::other("negative MTU"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_mtu_reads_and_bad_names_fail() {
        assert!(mtu("lo").is_ok_and(|m| m > 0));
        assert!(mtu("no/such").is_err());
        assert!(set_mtu("this-name-is-too-long", 1400).is_err());
    }
}
