//! Contract `passage:plugin@0.2.0` (`wit/0.2.0`): the router role, and 0.1.0's
//! roles repeated unchanged in shape. `types` and `log` are mapped onto the
//! host's one implementation (the `with` lines), the records each role interface
//! declares itself are converted here.

use wasmtime::Store;

use crate::plugins::host_api::HostState;
use crate::plugins::types as host;

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

crate::plugins::contract::status_conversions!(status_world::exports::passage::plugin::status);
crate::plugins::contract::discovery_conversions!(
    discovery_world::exports::passage::plugin::discovery
);

pub type StatusPre = status_world::StatusPluginPre<HostState>;
pub type StatusBindings = status_world::StatusPlugin;
pub type DiscoveryPre = discovery_world::DiscoveryPluginPre<HostState>;
pub type DiscoveryBindings = discovery_world::DiscoveryPlugin;
pub type StrategyPre = strategy_world::StrategyPluginPre<HostState>;
pub type StrategyBindings = strategy_world::StrategyPlugin;
pub type RouterPre = router_world::RouterPluginPre<HostState>;
pub type RouterBindings = router_world::RouterPlugin;

pub async fn configure_status(
    b: &StatusBindings,
    store: &mut Store<HostState>,
    config: &str,
) -> wasmtime::Result<Result<(), String>> {
    b.passage_plugin_status()
        .call_configure(store, config)
        .await
}

pub async fn status(
    b: &StatusBindings,
    store: &mut Store<HostState>,
    request: &host::StatusRequest,
) -> wasmtime::Result<Option<host::StatusReply>> {
    let answer = b
        .passage_plugin_status()
        .call_status(store, &status_request(request))
        .await?;
    Ok(answer.map(status_reply))
}

pub async fn configure_discovery(
    b: &DiscoveryBindings,
    store: &mut Store<HostState>,
    config: &str,
) -> wasmtime::Result<Result<(), String>> {
    b.passage_plugin_discovery()
        .call_configure(store, config)
        .await
}

pub async fn discover(
    b: &DiscoveryBindings,
    store: &mut Store<HostState>,
    player: &host::Player,
    known: Option<u64>,
) -> wasmtime::Result<Result<host::Discovered, String>> {
    let answer = b
        .passage_plugin_discovery()
        .call_discover(store, player, known)
        .await?;
    Ok(answer.map(discovered))
}

pub async fn configure_strategy(
    b: &StrategyBindings,
    store: &mut Store<HostState>,
    config: &str,
) -> wasmtime::Result<Result<(), String>> {
    b.passage_plugin_strategy()
        .call_configure(store, config)
        .await
}

pub async fn set_targets(
    b: &StrategyBindings,
    store: &mut Store<HostState>,
    targets: &[host::Target],
) -> wasmtime::Result<()> {
    b.passage_plugin_strategy()
        .call_set_targets(store, targets)
        .await
}

pub async fn select(
    b: &StrategyBindings,
    store: &mut Store<HostState>,
    player: &host::Player,
) -> wasmtime::Result<Result<host::Selection, String>> {
    let answer = b
        .passage_plugin_strategy()
        .call_select(store, player)
        .await?;
    Ok(answer.map(super::v0_1::selection))
}

pub async fn configure_router(
    b: &RouterBindings,
    store: &mut Store<HostState>,
    config: &str,
) -> wasmtime::Result<Result<(), String>> {
    b.passage_plugin_router()
        .call_configure(store, config)
        .await
}

pub async fn route(
    b: &RouterBindings,
    store: &mut Store<HostState>,
    player: &host::Player,
) -> wasmtime::Result<Result<host::Placement, String>> {
    let answer = b.passage_plugin_router().call_route(store, player).await?;
    Ok(answer.map(|routed| match routed {
        Some(r) => host::Placement::Placed {
            target: r.target,
            reservation: r.reservation,
            extra: None,
        },
        None => host::Placement::None,
    }))
}

pub async fn release(
    b: &RouterBindings,
    store: &mut Store<HostState>,
    reservation: &str,
) -> wasmtime::Result<()> {
    b.passage_plugin_router()
        .call_release(store, reservation)
        .await
}
