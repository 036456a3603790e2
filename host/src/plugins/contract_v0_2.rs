//! Host-side bindings of contract `passage:plugin@0.2.0`: the router role.
//!
//! 0.2.0 repeats every interface of 0.1.0 unchanged in shape and adds `router`. Only
//! the new world is bound here; 0.1.0 components keep going through
//! [`bindings`](super::bindings), and the host tells the two apart by export name
//! ([`ROUTER_EXPORT`] against `…@0.1.0`).
//!
//! The Rust types of 0.1.0 serve both versions: `types@0.2.0` and `log@0.2.0` are
//! mapped onto the 0.1.0 modules, so a router takes and returns the host's one
//! [`Player`] and [`Target`]. This holds because wasmtime checks a component's
//! types by structure (field names and types, case names), never by the interface
//! that declared them; `typecheck` at instantiation proves it for every component.
//! What `with` cannot carry over is the import *name*: the 0.1.0 `log` module links
//! `passage:plugin/log@0.1.0`, so [`add_to_linker`] registers the same host function
//! a second time under the 0.2.0 names.
//!
//! [`Player`]: super::bindings::Player
//! [`Target`]: super::bindings::Target

use wasmtime::component::{HasSelf, Linker};

use super::bindings::discovery::passage::plugin::{log as log_v0_1, types as types_v0_1};
use super::host_api::HostState;

wasmtime::component::bindgen!({
    world: "router-plugin",
    path: "../wit/0.2.0",
    exports: { default: async },
    with: {
        "passage:plugin/types@0.2.0": crate::plugins::bindings::discovery::passage::plugin::types,
        "passage:plugin/log@0.2.0": crate::plugins::bindings::discovery::passage::plugin::log,
    },
});

pub use exports::passage::plugin::router::Routed;

/// Export name by which the host tells a router component (contract 0.2.0).
pub const ROUTER_EXPORT: &str = "passage:plugin/router@0.2.0";

/// Import names of contract 0.2.0 that the host provides.
const LOG_IMPORT: &str = "passage:plugin/log@0.2.0";
const TYPES_IMPORT: &str = "passage:plugin/types@0.2.0";

/// Links the imports of contract 0.2.0 (`log`, and the type-only `types`) with the
/// host functions of 0.1.0. Called by [`host_api::linker`](super::host_api::linker)
/// next to the 0.1.0 ones, so one linker serves components of both versions.
///
/// The world's generated `RouterPlugin::add_to_linker` is not used: through the
/// `with` mapping it would register the 0.1.0 names a second time.
pub fn add_to_linker(linker: &mut Linker<HostState>) -> anyhow::Result<()> {
    log_v0_1::add_to_linker_instance::<_, HasSelf<_>>(&mut linker.instance(LOG_IMPORT)?, |s| s)?;
    types_v0_1::add_to_linker_instance::<_, HasSelf<_>>(
        &mut linker.instance(TYPES_IMPORT)?,
        |s| s,
    )?;
    Ok(())
}

/// The roles 0.2.0 shares with 0.1.0, at their 0.2.0 export names. `with` maps the
/// imported `types` and `log` onto 0.1.0; the records each role interface declares
/// itself (status request and response, the discovery answer) are generated anew
/// and converted below, field by field, to the host's one set of types.
pub mod status {
    wasmtime::component::bindgen!({
        world: "status-plugin",
        path: "../wit/0.2.0",
        exports: { default: async },
        with: {
            "passage:plugin/log@0.2.0": crate::plugins::bindings::discovery::passage::plugin::log,
        },
    });
}

pub mod discovery {
    wasmtime::component::bindgen!({
        world: "discovery-plugin",
        path: "../wit/0.2.0",
        exports: { default: async },
        with: {
            "passage:plugin/types@0.2.0": crate::plugins::bindings::discovery::passage::plugin::types,
            "passage:plugin/log@0.2.0": crate::plugins::bindings::discovery::passage::plugin::log,
        },
    });
}

pub mod strategy {
    wasmtime::component::bindgen!({
        world: "strategy-plugin",
        path: "../wit/0.2.0",
        exports: { default: async },
        with: {
            "passage:plugin/types@0.2.0": crate::plugins::bindings::discovery::passage::plugin::types,
            "passage:plugin/log@0.2.0": crate::plugins::bindings::discovery::passage::plugin::log,
        },
    });
}

/// Export names of the 0.1.0 roles at version 0.2.0.
pub const STATUS_EXPORT: &str = "passage:plugin/status@0.2.0";
pub const DISCOVERY_EXPORT: &str = "passage:plugin/discovery@0.2.0";
pub const STRATEGY_EXPORT: &str = "passage:plugin/strategy@0.2.0";

/// The adapter between the host's types (0.1.0) and 0.2.0's own records.
pub mod adapt {
    use super::discovery::exports::passage::plugin::discovery as d2;
    use super::status::exports::passage::plugin::status as s2;
    use crate::plugins::bindings as v1;

    pub fn status_request(r: &v1::StatusRequest) -> s2::StatusRequest {
        s2::StatusRequest {
            client_ip: r.client_ip.clone(),
            protocol: r.protocol,
            server_address: r.server_address.clone(),
            server_port: r.server_port,
        }
    }

    pub fn status_response(r: s2::StatusResponse) -> v1::StatusResponse {
        v1::StatusResponse {
            version_name: r.version_name,
            version_protocol: r.version_protocol,
            players: r.players.map(|p| v1::Players {
                online: p.online,
                max: p.max,
                sample: p
                    .sample
                    .into_iter()
                    .map(|s| v1::PlayerSample {
                        name: s.name,
                        id: s.id,
                    })
                    .collect(),
            }),
            description: match r.description {
                s2::Text::Plain(t) => v1::Text::Plain(t),
                s2::Text::Json(t) => v1::Text::Json(t),
            },
            favicon: r.favicon,
            enforces_secure_chat: r.enforces_secure_chat,
        }
    }

    pub fn discovered(d: d2::Discovered) -> v1::Discovered {
        match d {
            d2::Discovered::Unchanged => v1::Discovered::Unchanged,
            d2::Discovered::Targets(list) => v1::Discovered::Targets(v1::TargetList {
                revision: list.revision,
                targets: list.targets,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};
    use std::sync::{Arc, Mutex};

    use wasmtime::Store;
    use wasmtime::component::Component;

    use super::*;
    use crate::plugins::Runtime;
    use crate::plugins::bindings::{Player, STRATEGY_EXPORT, Target, strategy};

    /// A plugin built by `make plugins` (which `make unit` runs first): missing
    /// is a failure, not a skip, so these tests cannot pass without running.
    fn plugin(name: &str) -> PathBuf {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../target/wasm32-wasip2/plugin")
            .join(format!("{name}.wasm"));
        assert!(
            path.exists(),
            "{} is missing: run `make plugins` (or `make unit`, which builds them)",
            path.display()
        );
        path
    }

    fn store(runtime: &Runtime, name: &str) -> Store<HostState> {
        let limits = crate::config::PluginRuntime::default().limits_for(name);
        let mut store = Store::new(
            runtime.engine(),
            HostState::new(name.into(), &limits, Default::default()),
        );
        store.limiter(|s| s.limiter());
        store.set_epoch_deadline(1);
        store.epoch_deadline_async_yield_and_update(1);
        store
    }

    fn interfaces(runtime: &Runtime, component: &Component) -> (Vec<String>, Vec<String>) {
        let ty = component.component_type();
        let ours = |n: &str| n.starts_with("passage:");
        let imports = ty.imports(runtime.engine()).map(|(n, _)| n.to_owned());
        let exports = ty.exports(runtime.engine()).map(|(n, _)| n.to_owned());
        (
            imports.filter(|n| ours(n)).collect(),
            exports.filter(|n| ours(n)).collect(),
        )
    }

    fn player(name: &str) -> Player {
        Player {
            name: name.to_owned(),
            uuid: "8667ba71-b85a-4004-af54-457a9734eed7".to_owned(),
            client_ip: "127.0.0.1".to_owned(),
            protocol: 767,
            server_address: "play.example.com".to_owned(),
            server_port: 25565,
            locale: None,
            last_target: None,
        }
    }

    /// Log lines written on this thread while the guard lives.
    #[derive(Clone, Default)]
    struct Logs(Arc<Mutex<Vec<u8>>>);

    impl Logs {
        fn capture(&self) -> tracing::subscriber::DefaultGuard {
            let logs = self.clone();
            let subscriber = tracing_subscriber::fmt()
                .with_writer(move || logs.clone())
                .with_max_level(tracing::Level::TRACE)
                .with_ansi(false)
                .finish();
            tracing::subscriber::set_default(subscriber)
        }

        fn text(&self) -> String {
            String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
        }
    }

    impl std::io::Write for Logs {
        fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(data);
            Ok(data.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    const CONFIG: &str = r#"{"targets":[
        {"id":"lobby-1","host":"10.0.0.1","port":25565,"slots":1},
        {"id":"lobby-2","host":"10.0.0.2","port":25566,"slots":1}]}"#;

    #[tokio::test]
    async fn router_component_uses_the_0_1_types_and_log() -> anyhow::Result<()> {
        let path = plugin("reserving_router");
        let cache = tempfile::tempdir()?;
        let runtime = Runtime::new(Some(cache.path().to_path_buf()))?;
        let (component, _) = runtime.load_component(&path)?;

        // A 0.2.0 component through and through: no 0.1.0 import sneaked in.
        let (imports, exports) = interfaces(&runtime, &component);
        assert_eq!(exports, [ROUTER_EXPORT]);
        assert!(imports.contains(&LOG_IMPORT.to_owned()), "{imports:?}");
        assert!(imports.iter().all(|n| n.ends_with("@0.2.0")), "{imports:?}");

        // `RouterPluginPre::new` type-checks the export against the Rust types,
        // which are the 0.1.0 `Player` and `Target`.
        let pre = RouterPluginPre::new(runtime.linker().instantiate_pre(&component)?)?;
        let _ticking = runtime.epoch_gate().enter();
        let mut store = store(&runtime, "reserving-router");
        let plugin = pre.instantiate_async(&mut store).await?;
        let router = plugin.passage_plugin_router();
        router
            .call_configure(&mut store, CONFIG)
            .await?
            .map_err(anyhow::Error::msg)?;

        let first = router
            .call_route(&mut store, &player("Alex"))
            .await?
            .map_err(anyhow::Error::msg)?
            .expect("a free slot");
        // The host's own `Target`, lifted from the 0.2.0 record.
        let target: &Target = &first.target;
        assert_eq!(
            (target.id.as_str(), target.host.as_str(), target.port),
            ("lobby-1", "10.0.0.1", 25565)
        );
        assert_eq!(target.metadata, [("free".to_owned(), "0".to_owned())]);
        assert_eq!(first.reservation.as_deref(), Some("lobby-1#1"));

        let second = router
            .call_route(&mut store, &player("Steve"))
            .await?
            .map_err(anyhow::Error::msg)?
            .expect("a free slot");
        assert_eq!(second.target.id, "lobby-2");
        assert_eq!(second.reservation.as_deref(), Some("lobby-2#2"));

        // Full, until a reservation comes back.
        let full = router.call_route(&mut store, &player("Herobrine")).await?;
        assert!(matches!(full, Ok(None)), "{full:?}");
        router.call_release(&mut store, "lobby-1#1").await?;
        // Unknown now: the plugin frees nothing and warns through `log@0.2.0`, which
        // reaches the 0.1.0 host function (tagged with the plugin's name).
        let logs = Logs::default();
        {
            let _capture = logs.capture();
            router.call_release(&mut store, "lobby-1#1").await?;
        }
        let logged = logs.text();
        assert!(
            logged.contains("WARN")
                && logged.contains("reserving-router")
                && logged.contains("release of unknown reservation `lobby-1#1`"),
            "{logged}"
        );
        let again = router
            .call_route(&mut store, &player("Herobrine"))
            .await?
            .map_err(anyhow::Error::msg)?
            .expect("the released slot");
        assert_eq!(again.target.id, "lobby-1");
        assert_eq!(again.reservation.as_deref(), Some("lobby-1#3"));
        let full = router.call_route(&mut store, &player("Notch")).await?;
        assert!(matches!(full, Ok(None)), "{full:?}");

        // A panic is a trap, as for the 0.1.0 roles.
        let trapped = router.call_route(&mut store, &player("Trap")).await;
        assert!(trapped.is_err(), "{trapped:?}");
        assert!(store.data().stderr_tail().contains("deliberate panic"));
        Ok(())
    }

    #[tokio::test]
    async fn same_linker_still_runs_0_1_components() -> anyhow::Result<()> {
        let path = plugin("round_robin");
        let cache = tempfile::tempdir()?;
        let runtime = Runtime::new(Some(cache.path().to_path_buf()))?;
        let (component, _) = runtime.load_component(&path)?;
        let (imports, exports) = interfaces(&runtime, &component);
        assert_eq!(exports, [STRATEGY_EXPORT]);
        assert!(imports.iter().all(|n| n.ends_with("@0.1.0")), "{imports:?}");

        let pre = strategy::StrategyPluginPre::new(runtime.linker().instantiate_pre(&component)?)?;
        let _ticking = runtime.epoch_gate().enter();
        let mut store = store(&runtime, "round-robin");
        let plugin = pre.instantiate_async(&mut store).await?;
        let api = plugin.passage_plugin_strategy();
        api.call_configure(&mut store, "{}")
            .await?
            .map_err(anyhow::Error::msg)?;
        let targets = ["a", "b"].map(|id| Target {
            id: id.to_owned(),
            host: format!("{id}.example"),
            port: 25565,
            metadata: Vec::new(),
        });
        api.call_set_targets(&mut store, &targets).await?;
        let mut chosen = Vec::new();
        for _ in 0..2 {
            let id = api.call_select(&mut store, &player("Steve")).await?;
            chosen.push(id.map_err(anyhow::Error::msg)?.expect("a target"));
        }
        chosen.sort();
        assert_eq!(chosen, ["a", "b"]);

        // And a router would not pass for a 0.1.0 role, nor the reverse.
        assert!(RouterPluginPre::new(runtime.linker().instantiate_pre(&component)?).is_err());
        Ok(())
    }
}
