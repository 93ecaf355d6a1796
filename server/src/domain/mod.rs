//! What the server keeps, free of HTTP and SQL.

pub mod audit;
pub mod devices;
pub mod health;
pub mod identity;
pub mod overrides;
pub mod profiles;
pub mod rollouts;
pub mod sealing;
pub mod signing;
