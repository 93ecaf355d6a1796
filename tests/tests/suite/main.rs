//! One test binary for the whole suite, so it links once. Each module runs on both stores.

mod api;
mod compose;
mod openapi;
mod store;
