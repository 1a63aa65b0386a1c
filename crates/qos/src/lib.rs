//! qos crate (work in progress).
