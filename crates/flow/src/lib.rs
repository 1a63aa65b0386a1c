//! flow crate (work in progress).
