//! store crate (work in progress).
