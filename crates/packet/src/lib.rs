//! Zero-copy packet views, emitters, checksums and flow-key extraction.
pub mod flowkey;
pub use flowkey::FlowKey;
