//! What only one operating system has: Windows keeps environment variables in the registry and
//! runs background programs as services; Linux runs them as systemd units.

#[cfg(windows)]
pub mod service;
#[cfg(not(windows))]
pub mod systemd;
#[cfg(windows)]
pub mod windows;
