//! The Switchyard server as a library, so tests run the very server the binary runs.

pub mod audit_checkpoints;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod config;
pub mod console;
pub mod delivery;
pub mod domain;
pub mod events;
pub mod fleet_metrics;
pub mod http;
pub mod keys;
pub mod publishing;
pub mod startup;
pub mod store;
pub mod telemetry;
