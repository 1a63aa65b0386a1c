//! The isolation oracle's parts: random intent, frames, the judge.
pub mod frames;
pub mod judge;
pub mod world;
