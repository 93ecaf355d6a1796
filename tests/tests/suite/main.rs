//! One test binary for the whole suite, so it links once. Each module runs on both stores.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod agent;
mod agent_clients;
mod agent_probes;
mod api;
mod audit;
mod compose;
mod console;
mod delivery;
mod failover;
mod identity;
mod matrix;
mod openapi;
mod profiles;
mod restart;
mod rollouts;
mod rollouts_agents;
mod schemathesis;
mod store;
mod store_identity;
mod store_profiles;
