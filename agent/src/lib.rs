//! The Switchyard agent as a library, so that its tests exercise the very code the binary
//! runs.

pub mod agent;
pub mod clients;
pub mod clock;
pub mod engine;
pub mod failover;
pub mod files;
pub mod formats;
pub mod log;
pub mod pacing;
pub mod place;
pub mod plan;
pub mod platform;
pub mod probe;
pub mod server;
pub mod state;
