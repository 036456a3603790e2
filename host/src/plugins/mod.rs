//! WebAssembly plugins: the engine, the contract's versions, what plugins may
//! reach, and typed pools of warm instances called under deadlines.

pub mod adoption;
pub mod code_cache;
pub mod contract;
pub mod health;
pub mod host_api;
pub mod http_grant;
pub mod keyvalue;
pub mod limiter;
pub mod manifest;
pub mod outbound_http;
pub mod pool;
pub mod registry;
pub mod roles;
pub mod runtime;
pub mod signature;
pub mod types;

pub use pool::{PluginError, Pool, PoolView};
pub use registry::Plugins;
pub use roles::TargetSet;
pub use runtime::Runtime;
