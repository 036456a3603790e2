//! WebAssembly plugins: the engine, the contract bindings, what plugins may reach,
//! and warm instance pools called under deadlines.

pub mod adoption;
pub mod bindings;
pub mod code_cache;
pub mod contract_v0_2;
pub mod host_api;
pub mod http_grant;
pub mod limiter;
pub mod manifest;
pub mod outbound_http;
pub mod pool;
pub mod registry;
pub mod runtime;
pub mod signature;

pub use pool::{PluginError, PluginPool, Role, TargetSet};
pub use registry::Plugins;
pub use runtime::Runtime;
