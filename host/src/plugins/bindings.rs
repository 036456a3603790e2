//! Host-side bindings of contract `passage:plugin@0.1.0`, one module per world.
//!
//! Exports are async so a plugin call can yield to tokio at every epoch tick; the
//! `log` import stays synchronous (it only writes a tracing event).

pub mod discovery {
    wasmtime::component::bindgen!({
        world: "discovery-plugin",
        path: "../wit/0.1.0",
        exports: { default: async },
    });
}

pub mod strategy {
    wasmtime::component::bindgen!({
        world: "strategy-plugin",
        path: "../wit/0.1.0",
        exports: { default: async },
        with: {
            "passage:plugin/types": crate::plugins::bindings::discovery::passage::plugin::types,
            "passage:plugin/log": crate::plugins::bindings::discovery::passage::plugin::log,
        },
    });
}

pub mod status {
    wasmtime::component::bindgen!({
        world: "status-plugin",
        path: "../wit/0.1.0",
        exports: { default: async },
        with: {
            "passage:plugin/log": crate::plugins::bindings::discovery::passage::plugin::log,
        },
    });
}

pub use discovery::exports::passage::plugin::discovery::{Discovered, TargetList};
pub use discovery::passage::plugin::log::Level;
pub use discovery::passage::plugin::types::{Player, Target};
pub use status::exports::passage::plugin::status::{
    PlayerSample, Players, StatusRequest, StatusResponse, Text,
};

/// Export names by which the host tells a component's roles.
pub const STATUS_EXPORT: &str = "passage:plugin/status@0.1.0";
pub const DISCOVERY_EXPORT: &str = "passage:plugin/discovery@0.1.0";
pub const STRATEGY_EXPORT: &str = "passage:plugin/strategy@0.1.0";
