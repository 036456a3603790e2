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
