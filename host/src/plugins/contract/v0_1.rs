//! Contract `passage:plugin@0.1.0` (`wit/0.1.0`): the status, discovery and
//! strategy roles, bound and converted to the host's types. Its `log` interface
//! is the one host implementation every version links (`contract::add_to_linker`).

use crate::plugins::host_api::HostState;
use crate::plugins::types as host;

mod discovery_world {
    wasmtime::component::bindgen!({
        world: "discovery-plugin",
        path: "../wit/0.1.0",
        exports: { default: async },
        with: { "passage:plugin/types@0.1.0": crate::plugins::types },
    });
}

mod strategy_world {
    wasmtime::component::bindgen!({
        world: "strategy-plugin",
        path: "../wit/0.1.0",
        exports: { default: async },
        with: {
            "passage:plugin/types@0.1.0": crate::plugins::types,
            "passage:plugin/log@0.1.0": super::log,
        },
    });
}

mod status_world {
    wasmtime::component::bindgen!({
        world: "status-plugin",
        path: "../wit/0.1.0",
        exports: { default: async },
        with: { "passage:plugin/log@0.1.0": super::log },
    });
}

/// The `log` import: one host function, linked under every version's name.
pub use discovery_world::passage::plugin::log;

crate::plugins::contract::status_role!(status_world::exports::passage::plugin::status);
crate::plugins::contract::discovery_role!(discovery_world::exports::passage::plugin::discovery);
crate::plugins::contract::strategy_role!();

pub type StatusPre = status_world::StatusPluginPre<HostState>;
pub type StatusBindings = status_world::StatusPlugin;
pub type DiscoveryPre = discovery_world::DiscoveryPluginPre<HostState>;
pub type DiscoveryBindings = discovery_world::DiscoveryPlugin;
pub type StrategyPre = strategy_world::StrategyPluginPre<HostState>;
pub type StrategyBindings = strategy_world::StrategyPlugin;

/// 0.1.0's answer: an id, or none.
pub(super) fn selection(chosen: Option<String>) -> host::Selection {
    match chosen {
        Some(id) => host::Selection::Target { id, extra: None },
        None => host::Selection::None,
    }
}
