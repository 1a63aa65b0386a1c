//! AF_PACKET sockets on existing netdevs, batched.
