//! Contract `passage:plugin@0.3.0` (`wit/0.3.0`): the admission role, the
//! strategy and router roles with reasons and waiting (`selection`,
//! `placement`), the `network` import for status plugins, and 0.2.0's
//! interfaces repeated unchanged in shape. `types` and `log` are mapped onto the
//! host's one implementation; everything else is converted here.

use std::time::Duration;

use wasmtime::Store;
use wasmtime::component::{HasSelf, Linker};

use crate::plugins::host_api::HostState;
use crate::plugins::types as host;

mod admission_world {
    wasmtime::component::bindgen!({
        world: "admission-plugin",
        path: "../wit/0.3.0",
        exports: { default: async },
        with: {
            "passage:plugin/types@0.3.0": crate::plugins::types,
            "passage:plugin/log@0.3.0": crate::plugins::contract::v0_1::log,
        },
    });
}

mod selection_world {
    wasmtime::component::bindgen!({
        world: "selection-plugin",
        path: "../wit/0.3.0",
        exports: { default: async },
        with: {
            "passage:plugin/types@0.3.0": crate::plugins::types,
            "passage:plugin/log@0.3.0": crate::plugins::contract::v0_1::log,
            "passage:plugin/context@0.3.0": super::admission_world::passage::plugin::context,
        },
    });
}

/// The placement world also binds what it imports beyond `log`:
/// `wasi:keyvalue` 0.2.0-draft and `keyvalue-ext`, implemented by
/// `plugins::keyvalue` (async: a Redis round trip; trappable: a handle the
/// instance does not own traps). Its `bucket` is the host's `BucketHandle`.
mod placement_world {
    wasmtime::component::bindgen!({
        world: "placement-plugin",
        path: "../wit/0.3.0",
        imports: { default: async | trappable },
        exports: { default: async },
        with: {
            "passage:plugin/types@0.3.0": crate::plugins::types,
            "passage:plugin/log@0.3.0": crate::plugins::contract::v0_1::log,
            "passage:plugin/context@0.3.0": super::admission_world::passage::plugin::context,
            "passage:plugin/network@0.3.0": super::status_world::passage::plugin::network,
            "wasi:keyvalue/store.bucket": crate::plugins::keyvalue::BucketHandle,
        },
        trappable_error_type: {
            "wasi:keyvalue/store.error" => crate::plugins::keyvalue::KvError,
        },
    });
}

mod status_world {
    wasmtime::component::bindgen!({
        world: "live-status-plugin",
        path: "../wit/0.3.0",
        imports: { default: async },
        exports: { default: async },
        with: {
            "passage:plugin/types@0.3.0": crate::plugins::types,
            "passage:plugin/log@0.3.0": crate::plugins::contract::v0_1::log,
        },
    });
}

mod discovery_world {
    wasmtime::component::bindgen!({
        world: "discovery-plugin",
        path: "../wit/0.3.0",
        exports: { default: async },
        with: {
            "passage:plugin/types@0.3.0": crate::plugins::types,
            "passage:plugin/log@0.3.0": crate::plugins::contract::v0_1::log,
        },
    });
}

mod strategy_world {
    wasmtime::component::bindgen!({
        world: "strategy-plugin",
        path: "../wit/0.3.0",
        exports: { default: async },
        with: {
            "passage:plugin/types@0.3.0": crate::plugins::types,
            "passage:plugin/log@0.3.0": crate::plugins::contract::v0_1::log,
        },
    });
}

mod router_world {
    wasmtime::component::bindgen!({
        world: "router-plugin",
        path: "../wit/0.3.0",
        exports: { default: async },
        with: {
            "passage:plugin/types@0.3.0": crate::plugins::types,
            "passage:plugin/log@0.3.0": crate::plugins::contract::v0_1::log,
        },
    });
}

use admission_world::exports::passage::plugin::admission as wit_admission;
use admission_world::passage::plugin::context as wit_context;
use placement_world::exports::passage::plugin::placement as wit_placement;
use selection_world::exports::passage::plugin::selection as wit_selection;

/// The `network` import, which status and placement plugins of 0.3.0 call.
pub use status_world::passage::plugin::network;

/// `wasi:keyvalue` 0.2.0-draft and the contract's `keyvalue-ext`, as
/// `plugins::keyvalue` implements them.
pub(crate) use placement_world::passage::plugin::keyvalue_ext;
pub(crate) use placement_world::wasi::keyvalue as wasi_keyvalue;

crate::plugins::contract::status_role!(status_world::exports::passage::plugin::status);
crate::plugins::contract::discovery_role!(discovery_world::exports::passage::plugin::discovery);
crate::plugins::contract::strategy_role!();
crate::plugins::contract::router_role!(release_routed);

/// Links 0.3.0's `network` import, `wasi:keyvalue` 0.2.0-draft and
/// `keyvalue-ext`.
pub fn add_to_linker(linker: &mut Linker<HostState>) -> anyhow::Result<()> {
    network::add_to_linker::<_, HasSelf<_>>(linker, |s| s)?;
    crate::plugins::keyvalue::wit::add_to_linker(linker)?;
    Ok(())
}

pub type StatusPre = status_world::LiveStatusPluginPre<HostState>;
pub type StatusBindings = status_world::LiveStatusPlugin;
pub type DiscoveryPre = discovery_world::DiscoveryPluginPre<HostState>;
pub type DiscoveryBindings = discovery_world::DiscoveryPlugin;
/// `strategy@0.3.0`: 0.1.0's strategy at 0.3.0.
pub type StrategyPre = strategy_world::StrategyPluginPre<HostState>;
pub type StrategyBindings = strategy_world::StrategyPlugin;
pub type SelectionPre = selection_world::SelectionPluginPre<HostState>;
pub type SelectionBindings = selection_world::SelectionPlugin;
/// `router@0.3.0`: 0.2.0's router at 0.3.0.
pub type RouterPre = router_world::RouterPluginPre<HostState>;
pub type RouterBindings = router_world::RouterPlugin;
pub type PlacementPre = placement_world::PlacementPluginPre<HostState>;
pub type PlacementBindings = placement_world::PlacementPlugin;
pub type AdmissionPre = admission_world::AdmissionPluginPre<HostState>;
pub type AdmissionBindings = admission_world::AdmissionPlugin;

fn context(c: &host::PlayerContext) -> wit_context::PlayerContext {
    wit_context::PlayerContext {
        extra: c.extra_json(),
    }
}

fn message(m: wit_context::Message) -> host::Message {
    match m {
        wit_context::Message::Text(t) => host::Message::Text(t),
        wit_context::Message::Localized(l) => host::Message::Localized(host::Localized {
            key: l.key,
            args: l.args,
            translations: l.translations,
            fallback: l.fallback,
        }),
    }
}

fn wait(w: wit_context::Wait) -> host::Wait {
    host::Wait {
        retry_after: Duration::from_millis(u64::from(w.retry_after_ms)),
        message: w.message.map(message),
        position: w.position,
    }
}

pub async fn configure_selection(
    b: &SelectionBindings,
    store: &mut Store<HostState>,
    config: &str,
) -> wasmtime::Result<Result<(), String>> {
    b.passage_plugin_selection()
        .call_configure(store, config)
        .await
}

pub async fn set_selection_targets(
    b: &SelectionBindings,
    store: &mut Store<HostState>,
    targets: &[host::Target],
) -> wasmtime::Result<()> {
    b.passage_plugin_selection()
        .call_set_targets(store, targets)
        .await
}

pub async fn select_with_context(
    b: &SelectionBindings,
    store: &mut Store<HostState>,
    player: &host::Player,
    ctx: &host::PlayerContext,
) -> wasmtime::Result<Result<host::Selection, String>> {
    let answer = b
        .passage_plugin_selection()
        .call_select(store, player, &context(ctx))
        .await?;
    Ok(answer.map(|selected| match selected {
        wit_selection::Selected::Target((id, extra)) => host::Selection::Target { id, extra },
        wit_selection::Selected::None => host::Selection::None,
        wit_selection::Selected::Reject(m) => host::Selection::Reject(message(m)),
        wit_selection::Selected::Wait(w) => host::Selection::Wait(wait(w)),
    }))
}

pub async fn configure_placement(
    b: &PlacementBindings,
    store: &mut Store<HostState>,
    config: &str,
) -> wasmtime::Result<Result<(), String>> {
    b.passage_plugin_placement()
        .call_configure(store, config)
        .await
}

pub async fn place(
    b: &PlacementBindings,
    store: &mut Store<HostState>,
    player: &host::Player,
    ctx: &host::PlayerContext,
) -> wasmtime::Result<Result<host::Placement, String>> {
    let answer = b
        .passage_plugin_placement()
        .call_place(store, player, &context(ctx))
        .await?;
    Ok(answer.map(|placement| match placement {
        wit_placement::Placement::Placed(p) => host::Placement::Placed {
            target: p.target,
            reservation: p.reservation,
            extra: p.extra,
        },
        wit_placement::Placement::None => host::Placement::None,
        wit_placement::Placement::Reject(m) => host::Placement::Reject(message(m)),
        wit_placement::Placement::Wait(h) => host::Placement::Wait {
            wait: wait(h.wait),
            reservation: h.reservation,
        },
    }))
}

pub async fn release_placed(
    b: &PlacementBindings,
    store: &mut Store<HostState>,
    reservation: &str,
) -> wasmtime::Result<()> {
    b.passage_plugin_placement()
        .call_release(store, reservation)
        .await
}

pub async fn configure_admission(
    b: &AdmissionBindings,
    store: &mut Store<HostState>,
    config: &str,
) -> wasmtime::Result<Result<(), String>> {
    b.passage_plugin_admission()
        .call_configure(store, config)
        .await
}

pub async fn admit(
    b: &AdmissionBindings,
    store: &mut Store<HostState>,
    player: &host::Player,
    ctx: &host::PlayerContext,
) -> wasmtime::Result<Result<host::Verdict, String>> {
    let answer = b
        .passage_plugin_admission()
        .call_admit(store, player, &context(ctx))
        .await?;
    Ok(answer.map(|verdict| match verdict {
        wit_admission::Verdict::Allow => host::Verdict::Allow,
        wit_admission::Verdict::Deny(m) => host::Verdict::Deny(message(m)),
    }))
}
