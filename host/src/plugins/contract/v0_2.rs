//! Contract `passage:plugin@0.2.0` (`wit/0.2.0`): the router role, and 0.1.0's
//! roles repeated unchanged in shape. `types` and `log` are mapped onto the
//! host's one implementation (the `with` lines), the records each role interface
//! declares itself are converted here.

use crate::plugins::host_api::HostState;

mod router_world {
    wasmtime::component::bindgen!({
        world: "router-plugin",
        path: "../wit/0.2.0",
        exports: { default: async },
        with: {
            "passage:plugin/types@0.2.0": crate::plugins::types,
            "passage:plugin/log@0.2.0": crate::plugins::contract::v0_1::log,
        },
    });
}

mod status_world {
    wasmtime::component::bindgen!({
        world: "status-plugin",
        path: "../wit/0.2.0",
        exports: { default: async },
        with: { "passage:plugin/log@0.2.0": crate::plugins::contract::v0_1::log },
    });
}

mod discovery_world {
    wasmtime::component::bindgen!({
        world: "discovery-plugin",
        path: "../wit/0.2.0",
        exports: { default: async },
        with: {
            "passage:plugin/types@0.2.0": crate::plugins::types,
            "passage:plugin/log@0.2.0": crate::plugins::contract::v0_1::log,
        },
    });
}

mod strategy_world {
    wasmtime::component::bindgen!({
        world: "strategy-plugin",
        path: "../wit/0.2.0",
        exports: { default: async },
        with: {
            "passage:plugin/types@0.2.0": crate::plugins::types,
            "passage:plugin/log@0.2.0": crate::plugins::contract::v0_1::log,
        },
    });
}

crate::plugins::contract::status_role!(status_world::exports::passage::plugin::status);
crate::plugins::contract::discovery_role!(discovery_world::exports::passage::plugin::discovery);
crate::plugins::contract::strategy_role!();
crate::plugins::contract::router_role!(release);

pub type StatusPre = status_world::StatusPluginPre<HostState>;
pub type StatusBindings = status_world::StatusPlugin;
pub type DiscoveryPre = discovery_world::DiscoveryPluginPre<HostState>;
pub type DiscoveryBindings = discovery_world::DiscoveryPlugin;
pub type StrategyPre = strategy_world::StrategyPluginPre<HostState>;
pub type StrategyBindings = strategy_world::StrategyPlugin;
pub type RouterPre = router_world::RouterPluginPre<HostState>;
pub type RouterBindings = router_world::RouterPlugin;
