//! Where each client reads its settings, and in what order: one module per client, each rule
//! with the client's own documentation or source named beside it.

pub mod shell;
