//! lab crate (work in progress).
