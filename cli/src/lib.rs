//! The `switchyard` command line as a library: the API client, the credential it keeps, the
//! folder format of desired state, plans and their application, and each command.

pub mod api;
pub mod apply;
pub mod commands;
pub mod credentials;
pub mod export;
pub mod folder;
pub mod output;
pub mod plan;
pub mod profiles;
