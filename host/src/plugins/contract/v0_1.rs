//! Contract `passage:plugin@0.1.0` (`wit/0.1.0`): the status, discovery and
//! strategy roles, bound and converted to the host's types. Its `log` interface
//! is the one host implementation every version links (`contract::add_to_linker`).

use wasmtime::Store;

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
    Ok(answer.map(selection))
}

/// 0.1.0's answer: an id, or none.
pub(super) fn selection(chosen: Option<String>) -> host::Selection {
    match chosen {
        Some(id) => host::Selection::Target { id, extra: None },
        None => host::Selection::None,
    }
}
