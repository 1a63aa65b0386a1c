//! Packet I/O with the kernel: TAP devices, AF_PACKET sockets, UDP/raw
//! tunnel sockets, netlink helpers. The only crate of the workspace that holds
//! `unsafe` code; every block carries a `// SAFETY:` comment.
pub mod afpacket;
pub mod dgram;
pub mod netdev;
pub mod tap;
pub mod udpgso;
pub mod uring;
pub mod vnet;
