//! vswitch crate (work in progress).
