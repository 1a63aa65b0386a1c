//! TAP devices (/dev/net/tun), as qemu opens them.
