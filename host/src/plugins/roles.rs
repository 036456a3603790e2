//! The contract's roles as pools serve them: for each, the component bound at
//! each contract version it exists in, and its calls in the host's types. Adding
//! a version is a variant here per role it has, and a module in `contract`.

use wasmtime::Store;
use wasmtime::component::InstancePre;

use super::contract::{v0_1, v0_2, v0_3};
use super::host_api::HostState;
use super::pool::{Api, PluginError, Pool, Role, RoleKind, Version};
use super::types::{
    Discovered, Placement, Player, PlayerContext, Selection, StatusReply, StatusRequest, Target,
    Verdict,
};

/// The targets a strategy selects from, with an id that changes whenever they do.
#[derive(Debug, Clone)]
pub struct TargetSet {
    pub id: u64,
    pub targets: Vec<Target>,
}

/// Binds and builds one role at every version it exists in: `$Pre` and
/// `$Bindings` get one variant per version, and `RoleKind` dispatches on them.
macro_rules! role {
    (
        $(#[$doc:meta])* $role:ident = Role::$variant:ident;
        $( $version:ident : $pre:ty, $bindings:ty, $configure:path; )+
    ) => {
        $(#[$doc])*
        pub struct $role;

        pub enum Pres {
            $( $version($pre), )+
        }

        pub enum Bindings {
            $( $version($bindings), )+
        }

        impl RoleKind for $role {
            const ROLE: Role = Role::$variant;
            type Pre = Pres;
            type Bindings = Bindings;

            fn pre(pre: InstancePre<HostState>, api: Api) -> anyhow::Result<Pres> {
                $(
                    if version_of(api) == stringify!($version) {
                        return Ok(Pres::$version(<$pre>::new(pre)?));
                    }
                )+
                anyhow::bail!("no {} binding for {:?}", Role::$variant, api)
            }

            async fn instantiate(
                pre: &Pres,
                store: &mut Store<HostState>,
            ) -> wasmtime::Result<Bindings> {
                Ok(match pre {
                    $( Pres::$version(p) => Bindings::$version(p.instantiate_async(store).await?), )+
                })
            }

            async fn configure(
                bindings: &Bindings,
                store: &mut Store<HostState>,
                config: &str,
            ) -> wasmtime::Result<Result<(), String>> {
                match bindings {
                    $( Bindings::$version(b) => $configure(b, store, config).await, )+
                }
            }
        }
    };
}

/// The variant name of an API in the role enums: its version, and at 0.3.0
/// whether it is an interface of 0.2.0 repeated.
fn version_of(api: Api) -> &'static str {
    match (api.version, api.repeated) {
        (Version::V0_1, _) => "V0_1",
        (Version::V0_2, _) => "V0_2",
        (Version::V0_3, false) => "V0_3",
        (Version::V0_3, true) => "V0_3Repeated",
    }
}

pub mod status {
    use super::*;

    role! {
        /// The server-list answer.
        Status = Role::Status;
        V0_1: v0_1::StatusPre, v0_1::StatusBindings, v0_1::configure_status;
        V0_2: v0_2::StatusPre, v0_2::StatusBindings, v0_2::configure_status;
        V0_3: v0_3::StatusPre, v0_3::StatusBindings, v0_3::configure_status;
    }

    impl Pool<Status> {
        /// `None`: the plugin declines (the next one, then the fallback, answers).
        pub async fn status(
            &self,
            request: &StatusRequest,
        ) -> Result<Option<StatusReply>, PluginError> {
            self.call("status", async |i| match &i.bindings {
                Bindings::V0_1(b) => v0_1::status(b, &mut i.store, request).await,
                Bindings::V0_2(b) => v0_2::status(b, &mut i.store, request).await,
                Bindings::V0_3(b) => v0_3::status(b, &mut i.store, request).await,
            })
            .await
        }
    }
}

pub mod discovery {
    use super::*;

    role! {
        /// Which backends exist.
        Discovery = Role::Discovery;
        V0_1: v0_1::DiscoveryPre, v0_1::DiscoveryBindings, v0_1::configure_discovery;
        V0_2: v0_2::DiscoveryPre, v0_2::DiscoveryBindings, v0_2::configure_discovery;
        V0_3: v0_3::DiscoveryPre, v0_3::DiscoveryBindings, v0_3::configure_discovery;
    }

    impl Pool<Discovery> {
        pub async fn discover(
            &self,
            player: &Player,
            known_revision: Option<u64>,
        ) -> Result<Discovered, PluginError> {
            self.call("discover", async |i| match &i.bindings {
                Bindings::V0_1(b) => v0_1::discover(b, &mut i.store, player, known_revision).await,
                Bindings::V0_2(b) => v0_2::discover(b, &mut i.store, player, known_revision).await,
                Bindings::V0_3(b) => v0_3::discover(b, &mut i.store, player, known_revision).await,
            })
            .await?
            .map_err(PluginError::returned)
        }
    }
}

pub mod strategy {
    use super::*;

    role! {
        /// Picks one target for a player from the discovered ones.
        Strategy = Role::Strategy;
        V0_1: v0_1::StrategyPre, v0_1::StrategyBindings, v0_1::configure_strategy;
        V0_2: v0_2::StrategyPre, v0_2::StrategyBindings, v0_2::configure_strategy;
        V0_3Repeated: v0_3::StrategyPre, v0_3::StrategyBindings, v0_3::configure_strategy;
        V0_3: v0_3::SelectionPre, v0_3::SelectionBindings, v0_3::configure_selection;
    }

    impl Pool<Strategy> {
        /// Selects from `set`, first handing the set to the instance if it has not
        /// seen this one yet: the full target list crosses the boundary only when
        /// it changes.
        pub async fn select(
            &self,
            set: &TargetSet,
            player: &Player,
            context: &PlayerContext,
        ) -> Result<Selection, PluginError> {
            self.call("select", async |i| {
                let store = &mut i.store;
                if i.target_set != Some(set.id) {
                    i.target_set = None;
                    match &i.bindings {
                        Bindings::V0_1(b) => v0_1::set_targets(b, store, &set.targets).await?,
                        Bindings::V0_2(b) => v0_2::set_targets(b, store, &set.targets).await?,
                        Bindings::V0_3Repeated(b) => {
                            v0_3::set_targets(b, store, &set.targets).await?
                        }
                        Bindings::V0_3(b) => {
                            v0_3::set_selection_targets(b, store, &set.targets).await?
                        }
                    }
                    i.target_set = Some(set.id);
                }
                match &i.bindings {
                    Bindings::V0_1(b) => v0_1::select(b, store, player).await,
                    Bindings::V0_2(b) => v0_2::select(b, store, player).await,
                    Bindings::V0_3Repeated(b) => v0_3::select(b, store, player).await,
                    Bindings::V0_3(b) => v0_3::select_with_context(b, store, player, context).await,
                }
            })
            .await?
            .map_err(PluginError::returned)
        }
    }
}

pub mod router {
    use super::*;

    role! {
        /// Discovers and selects in one call, with reservations.
        Router = Role::Router;
        V0_2: v0_2::RouterPre, v0_2::RouterBindings, v0_2::configure_router;
        V0_3Repeated: v0_3::RouterPre, v0_3::RouterBindings, v0_3::configure_router;
        V0_3: v0_3::PlacementPre, v0_3::PlacementBindings, v0_3::configure_placement;
    }

    impl Pool<Router> {
        /// A router's placement for `player`, and the serial of the instance that
        /// made it (its reservations live there).
        pub async fn place(
            &self,
            player: &Player,
            context: &PlayerContext,
        ) -> Result<(Placement, u64), PluginError> {
            let (answer, serial) = self
                .call("route", async |i| {
                    let store = &mut i.store;
                    let answer = match &i.bindings {
                        Bindings::V0_2(b) => v0_2::route(b, store, player).await?,
                        Bindings::V0_3Repeated(b) => v0_3::route(b, store, player).await?,
                        Bindings::V0_3(b) => v0_3::place(b, store, player, context).await?,
                    };
                    Ok((answer, i.serial))
                })
                .await?;
            Ok((answer.map_err(PluginError::returned)?, serial))
        }

        /// Gives a reservation back to the instance (`serial`) that made it; when
        /// that instance is gone, its reservations went with it.
        pub async fn release(&self, reservation: &str, serial: u64) -> Result<(), PluginError> {
            self.call("release", async |i| {
                if i.serial != serial {
                    return Ok(());
                }
                let store = &mut i.store;
                match &i.bindings {
                    Bindings::V0_2(b) => v0_2::release(b, store, reservation).await,
                    Bindings::V0_3Repeated(b) => v0_3::release_routed(b, store, reservation).await,
                    Bindings::V0_3(b) => v0_3::release_placed(b, store, reservation).await,
                }
            })
            .await
        }
    }
}

pub mod admission {
    use super::*;

    role! {
        /// May this player join.
        Admission = Role::Admission;
        V0_3: v0_3::AdmissionPre, v0_3::AdmissionBindings, v0_3::configure_admission;
    }

    impl Pool<Admission> {
        pub async fn admit(
            &self,
            player: &Player,
            context: &PlayerContext,
        ) -> Result<Verdict, PluginError> {
            self.call("admit", async |i| match &i.bindings {
                Bindings::V0_3(b) => v0_3::admit(b, &mut i.store, player, context).await,
            })
            .await?
            .map_err(PluginError::returned)
        }
    }
}

pub use admission::Admission;
pub use discovery::Discovery;
pub use router::Router;
pub use status::Status;
pub use strategy::Strategy;

#[cfg(test)]
mod tests {
    //! Each version's bindings against real components built by `make plugins`
    //! (which `make unit` runs first): a missing plugin fails the test rather than
    //! skipping it.

    use std::path::{Path, PathBuf};
    use std::sync::Arc;

    use super::*;
    use crate::plugins::Runtime;
    use crate::plugins::contract::roles_of;
    use crate::plugins::pool::PluginSettings;
    use crate::plugins::types::{Localized, Message, Wait};

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

    fn pool<R: RoleKind>(runtime: &Runtime, file: &str, config: &str) -> (Pool<R>, Api) {
        let (component, _) = runtime.load_component(&plugin(file)).unwrap();
        let api = roles_of(&component, runtime.engine())
            .into_iter()
            .find(|a| a.role == R::ROLE)
            .unwrap_or_else(|| panic!("{file} has no {} role", R::ROLE));
        let settings = PluginSettings {
            name: Arc::from(file),
            config_json: config.to_owned(),
            limits: crate::config::PluginRuntime::default().limits_for(file),
            log_budget: Default::default(),
            services: runtime.services(),
        };
        (Pool::new(runtime, &settings, api, &component).unwrap(), api)
    }

    fn runtime() -> (Runtime, tempfile::TempDir) {
        let cache = tempfile::tempdir().unwrap();
        (
            Runtime::new(Some(cache.path().to_path_buf())).unwrap(),
            cache,
        )
    }

    fn player(name: &str) -> Player {
        Player {
            name: name.to_owned(),
            uuid: format!("00000000-0000-0000-0000-{:012x}", name.len()),
            client_ip: "127.0.0.1".to_owned(),
            protocol: 767,
            server_address: "play.example.com".to_owned(),
            server_port: 25565,
            locale: None,
            last_target: None,
        }
    }

    fn target(id: &str) -> Target {
        Target {
            id: id.to_owned(),
            host: format!("{id}.example"),
            port: 25565,
            metadata: Vec::new(),
        }
    }

    #[tokio::test]
    async fn a_0_1_0_strategy_and_a_0_2_0_router_through_the_host_types() {
        let (runtime, _cache) = runtime();
        let (strategy, api) = pool::<Strategy>(&runtime, "round_robin", "{}");
        assert_eq!((api.version, api.repeated), (Version::V0_1, false));
        let set = TargetSet {
            id: 1,
            targets: vec![target("a"), target("b")],
        };
        let ctx = PlayerContext::default();
        let mut chosen = Vec::new();
        for _ in 0..2 {
            match strategy.select(&set, &player("Steve"), &ctx).await.unwrap() {
                Selection::Target { id, extra: None } => chosen.push(id),
                other => panic!("{other:?}"),
            }
        }
        chosen.sort();
        assert_eq!(chosen, ["a", "b"]);

        let config = r#"{"targets":[{"id":"lobby-1","host":"10.0.0.1","port":25565,"slots":1}]}"#;
        let (router, api) = pool::<Router>(&runtime, "reserving_router", config);
        assert_eq!(api.version, Version::V0_2);
        let (first, serial) = router.place(&player("Alex"), &ctx).await.unwrap();
        let Placement::Placed {
            target,
            reservation: Some(token),
            extra: None,
        } = first
        else {
            panic!("{first:?}")
        };
        assert_eq!((target.id.as_str(), target.port), ("lobby-1", 25565));
        assert_eq!(
            router.place(&player("Steve"), &ctx).await.unwrap().0,
            Placement::None,
            "full"
        );
        router.release(&token, serial).await.unwrap();
        assert!(matches!(
            router.place(&player("Steve"), &ctx).await.unwrap().0,
            Placement::Placed { .. }
        ));
        // A reservation of an instance that is gone is not passed to its successor.
        router.release("lobby-1#9", serial + 1).await.unwrap();
    }

    #[tokio::test]
    async fn contract_0_3_0_answers_with_reasons_waits_and_extra() {
        let (runtime, _cache) = runtime();
        let (admission, api) = pool::<Admission>(&runtime, "v3_roles", "{}");
        assert_eq!(api.version, Version::V0_3);
        let ctx = PlayerContext::default();
        assert_eq!(
            admission.admit(&player("Steve"), &ctx).await.unwrap(),
            Verdict::Allow
        );
        assert_eq!(
            admission.admit(&player("Banned"), &ctx).await.unwrap(),
            Verdict::Deny(Message::Text("You are banned from this test.".into()))
        );
        let broken = admission.admit(&player("Broken"), &ctx).await.unwrap_err();
        assert!(
            matches!(broken, PluginError::Returned(ref m) if m.contains("Broken")),
            "{broken}"
        );

        let (selection, api) = pool::<Strategy>(&runtime, "v3_roles", "{}");
        assert_eq!((api.version, api.repeated), (Version::V0_3, false));
        let set = TargetSet {
            id: 7,
            targets: vec![target("lobby")],
        };
        let mut extra = serde_json::Map::new();
        extra.insert("visits".into(), 4.into());
        let returning = PlayerContext { extra };
        assert_eq!(
            selection
                .select(&set, &player("Steve"), &returning)
                .await
                .unwrap(),
            Selection::Target {
                id: "lobby".into(),
                extra: Some(r#"{"visits":5}"#.into())
            }
        );
        assert_eq!(
            selection
                .select(&set, &player("RejectMe"), &ctx)
                .await
                .unwrap(),
            Selection::Reject(Message::Localized(Localized {
                key: "v3.rejected".into(),
                args: vec!["RejectMe".into()],
                translations: vec![("de_de".into(), "Geh weg, {0}.".into())],
                fallback: "Go away, {0}.".into(),
            }))
        );

        let config = r#"{"target":{"id":"event","host":"10.0.0.9","port":25565},"seats":0}"#;
        let (queue, _) = pool::<Router>(&runtime, "queue", config);
        let (held, _) = queue.place(&player("Steve"), &ctx).await.unwrap();
        let Placement::Wait {
            wait:
                Wait {
                    retry_after,
                    position: Some(1),
                    message: Some(Message::Localized(_)),
                },
            reservation: Some(token),
        } = held
        else {
            panic!("{held:?}")
        };
        assert_eq!(retry_after.as_millis(), 1000);
        assert!(token.starts_with("line:"), "{token}");
    }
}
