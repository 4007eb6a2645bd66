//! The toolkit every test crate shares (`mod common;`): a config builder for the TOML the
//! tests write, the built binary run as a child process that is killed on drop and shows its
//! stderr when a test fails, ports taken by binding port 0, and `wait_until` helpers that
//! poll a condition instead of sleeping a fixed time.
//!
//! Each test crate uses only part of it, hence the one `allow(dead_code)` here.

#![allow(dead_code)]

pub mod config;
pub mod http;
pub mod process;
pub mod wait;
