//! model crate (work in progress).
