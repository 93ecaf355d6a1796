//! What only one operating system has. Windows keeps environment variables in the registry.

#[cfg(windows)]
pub mod windows;
