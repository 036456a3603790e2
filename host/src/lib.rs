//! Passage: a Minecraft transfer router whose routing logic lives in sandboxed
//! WebAssembly plugins. The binary (`main.rs`) wires these modules together.

pub mod auth;
pub mod commands;
pub mod config;
pub mod connection;
pub mod crypto;
pub mod http_endpoints;
pub mod l10n;
pub mod memory;
pub mod metrics;
pub mod net;
pub mod oci;
pub mod plugin_cli;
pub mod plugins;
pub mod protocol;
pub mod reload;
pub mod routing;
pub mod server;
pub mod status;
pub mod telemetry;
pub mod versions;
