//! conntrack crate (work in progress).
