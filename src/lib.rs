//! Switchboard: signed chat-platform webhooks in, operations staff's Rhai rules in the
//! middle, provider API calls out — reliably, in order, and traceably.
//!
//! The modules follow the data: `inbound` (HTTP, `verify`, `decode`) → `event` → `store` →
//! `worker` (runs `rules`) → `actions` → `executor` → `providers`. `cli` holds one file per
//! command; `startup` wires the server; `config` reads `switchboard.toml`.
#![forbid(unsafe_code)]

pub mod admin;
pub mod backtest;
pub mod cli;
pub mod config;
pub mod domain;
pub mod dryrun;
pub mod executor;
pub mod fixture;
pub mod http;
pub mod inbound;
pub mod metrics;
pub mod providers;
pub mod rules;
pub mod startup;
pub mod store;
pub mod supervisor;
pub mod telemetry;
pub mod worker;
