//! The plugin contract's versions: which role each exported interface is, and the
//! imports every version links. One module per version binds that version's WIT
//! and converts to and from the host's own types (`plugins::types`); nothing
//! outside the plugin runtime sees a generated type.
//!
//! A role is told from an export name, `passage:plugin/<interface>@<version>`; a
//! component may export several, and a role exported at two versions is served
//! through the newer one.

pub mod v0_1;
pub mod v0_2;
pub mod v0_3;

use wasmtime::component::{Component, HasSelf, Linker};

use super::host_api::HostState;

/// The roles of the contract; one component may export several.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    Status,
    Discovery,
    Strategy,
    /// Contract 0.2.0: discovery and selection in one call, with reservations.
    Router,
    /// Contract 0.3.0: may this player join.
    Admission,
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Role::Status => "status",
            Role::Discovery => "discovery",
            Role::Strategy => "strategy",
            Role::Router => "router",
            Role::Admission => "admission",
        })
    }
}

/// The contract versions the host implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Version {
    V0_1,
    V0_2,
    V0_3,
}

impl Version {
    pub fn as_str(self) -> &'static str {
        match self {
            Version::V0_1 => "0.1.0",
            Version::V0_2 => "0.2.0",
            Version::V0_3 => "0.3.0",
        }
    }
}

/// Which role at which version an exported interface serves. The roles that
/// 0.3.0 answers with reasons (`selection`, `placement`) serve the strategy and
/// router roles.
const EXPORTS: &[(&str, Role, Version)] = &[
    ("passage:plugin/status@0.1.0", Role::Status, Version::V0_1),
    (
        "passage:plugin/discovery@0.1.0",
        Role::Discovery,
        Version::V0_1,
    ),
    (
        "passage:plugin/strategy@0.1.0",
        Role::Strategy,
        Version::V0_1,
    ),
    ("passage:plugin/status@0.2.0", Role::Status, Version::V0_2),
    (
        "passage:plugin/discovery@0.2.0",
        Role::Discovery,
        Version::V0_2,
    ),
    (
        "passage:plugin/strategy@0.2.0",
        Role::Strategy,
        Version::V0_2,
    ),
    ("passage:plugin/router@0.2.0", Role::Router, Version::V0_2),
    ("passage:plugin/status@0.3.0", Role::Status, Version::V0_3),
    (
        "passage:plugin/discovery@0.3.0",
        Role::Discovery,
        Version::V0_3,
    ),
    (
        "passage:plugin/selection@0.3.0",
        Role::Strategy,
        Version::V0_3,
    ),
    (
        "passage:plugin/placement@0.3.0",
        Role::Router,
        Version::V0_3,
    ),
    (
        "passage:plugin/admission@0.3.0",
        Role::Admission,
        Version::V0_3,
    ),
];

/// The 0.3.0 copies of the strategy and router interfaces of 0.1.0/0.2.0 (same
/// shape, new package version). Served like their 0.2.0 originals.
const REPEATED_AT_0_3: &[(&str, Role)] = &[
    ("passage:plugin/strategy@0.3.0", Role::Strategy),
    ("passage:plugin/router@0.3.0", Role::Router),
];

/// How the host calls one role of a component: the role, and the exported
/// interface that serves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Api {
    pub role: Role,
    pub version: Version,
    /// The role's interface as 0.1.0/0.2.0 define it, exported at 0.3.0: bound
    /// through the 0.3.0 package but called like 0.2.0.
    pub repeated: bool,
}

impl Api {
    /// The contract version to report: the package the export is from.
    pub fn contract(&self) -> Version {
        self.version
    }
}

/// The roles a component exports, newest version of each.
pub fn roles_of(component: &Component, engine: &wasmtime::Engine) -> Vec<Api> {
    let mut apis: Vec<Api> = component
        .component_type()
        .exports(engine)
        .filter_map(|(name, _)| {
            EXPORTS
                .iter()
                .find(|(n, ..)| *n == name)
                .map(|&(_, role, version)| Api {
                    role,
                    version,
                    repeated: false,
                })
                .or_else(|| {
                    REPEATED_AT_0_3
                        .iter()
                        .find(|(n, _)| *n == name)
                        .map(|&(_, role)| Api {
                            role,
                            version: Version::V0_3,
                            repeated: true,
                        })
                })
        })
        .collect();
    // Newest first within a role (and, at 0.3.0, the interface with reasons
    // before its repeated original), then one per role.
    apis.sort_by_key(|a| (a.role, std::cmp::Reverse(a.version), a.repeated));
    apis.dedup_by_key(|a| a.role);
    apis
}

/// Links what plugins of every version may import from the contract: `log` (one
/// host function under each version's name), the type-only `types`, and
/// 0.3.0's `network`.
pub fn add_to_linker(linker: &mut Linker<HostState>) -> anyhow::Result<()> {
    for version in ["0.1.0", "0.2.0", "0.3.0"] {
        v0_1::log::add_to_linker_instance::<_, HasSelf<_>>(
            &mut linker.instance(&format!("passage:plugin/log@{version}"))?,
            |s| s,
        )?;
        linker.instance(&format!("passage:plugin/types@{version}"))?;
    }
    v0_3::add_to_linker(linker)?;
    Ok(())
}

/// The status role, which every version declares alike in its `status`
/// interface: its records converted field by field, and its two calls on the
/// version's `StatusBindings`.
macro_rules! status_role {
    ($status:path) => {
        use $status as wit_status;

        fn status_request(r: &crate::plugins::types::StatusRequest) -> wit_status::StatusRequest {
            wit_status::StatusRequest {
                client_ip: r.client_ip.clone(),
                protocol: r.protocol,
                server_address: r.server_address.clone(),
                server_port: r.server_port,
            }
        }

        fn status_reply(r: wit_status::StatusResponse) -> crate::plugins::types::StatusReply {
            use crate::plugins::types as host;
            host::StatusReply {
                version_name: r.version_name,
                version_protocol: r.version_protocol,
                players: r.players.map(|p| host::Players {
                    online: p.online,
                    max: p.max,
                    sample: p
                        .sample
                        .into_iter()
                        .map(|s| host::PlayerSample {
                            name: s.name,
                            id: s.id,
                        })
                        .collect(),
                }),
                description: match r.description {
                    wit_status::Text::Plain(t) => host::Text::Plain(t),
                    wit_status::Text::Json(t) => host::Text::Json(t),
                },
                favicon: r.favicon,
                enforces_secure_chat: r.enforces_secure_chat,
            }
        }

        pub async fn configure_status(
            b: &StatusBindings,
            store: &mut wasmtime::Store<crate::plugins::host_api::HostState>,
            config: &str,
        ) -> wasmtime::Result<Result<(), String>> {
            b.passage_plugin_status()
                .call_configure(store, config)
                .await
        }

        pub async fn status(
            b: &StatusBindings,
            store: &mut wasmtime::Store<crate::plugins::host_api::HostState>,
            request: &crate::plugins::types::StatusRequest,
        ) -> wasmtime::Result<Option<crate::plugins::types::StatusReply>> {
            let answer = b
                .passage_plugin_status()
                .call_status(store, &status_request(request))
                .await?;
            Ok(answer.map(status_reply))
        }
    };
}

/// The discovery role, alike in every version's `discovery` interface: its
/// answer converted, and its two calls on the version's `DiscoveryBindings`.
macro_rules! discovery_role {
    ($discovery:path) => {
        use $discovery as wit_discovery;

        fn discovered(d: wit_discovery::Discovered) -> crate::plugins::types::Discovered {
            match d {
                wit_discovery::Discovered::Unchanged => {
                    crate::plugins::types::Discovered::Unchanged
                }
                wit_discovery::Discovered::Targets(list) => {
                    crate::plugins::types::Discovered::Targets {
                        revision: list.revision,
                        targets: list.targets,
                    }
                }
            }
        }

        pub async fn configure_discovery(
            b: &DiscoveryBindings,
            store: &mut wasmtime::Store<crate::plugins::host_api::HostState>,
            config: &str,
        ) -> wasmtime::Result<Result<(), String>> {
            b.passage_plugin_discovery()
                .call_configure(store, config)
                .await
        }

        pub async fn discover(
            b: &DiscoveryBindings,
            store: &mut wasmtime::Store<crate::plugins::host_api::HostState>,
            player: &crate::plugins::types::Player,
            known: Option<u64>,
        ) -> wasmtime::Result<Result<crate::plugins::types::Discovered, String>> {
            let answer = b
                .passage_plugin_discovery()
                .call_discover(store, player, known)
                .await?;
            Ok(answer.map(discovered))
        }
    };
}

/// 0.1.0's strategy role, repeated unchanged by 0.2.0 and 0.3.0: its three
/// calls on the version's `StrategyBindings`.
macro_rules! strategy_role {
    () => {
        pub async fn configure_strategy(
            b: &StrategyBindings,
            store: &mut wasmtime::Store<crate::plugins::host_api::HostState>,
            config: &str,
        ) -> wasmtime::Result<Result<(), String>> {
            b.passage_plugin_strategy()
                .call_configure(store, config)
                .await
        }

        pub async fn set_targets(
            b: &StrategyBindings,
            store: &mut wasmtime::Store<crate::plugins::host_api::HostState>,
            targets: &[crate::plugins::types::Target],
        ) -> wasmtime::Result<()> {
            b.passage_plugin_strategy()
                .call_set_targets(store, targets)
                .await
        }

        pub async fn select(
            b: &StrategyBindings,
            store: &mut wasmtime::Store<crate::plugins::host_api::HostState>,
            player: &crate::plugins::types::Player,
        ) -> wasmtime::Result<Result<crate::plugins::types::Selection, String>> {
            let answer = b
                .passage_plugin_strategy()
                .call_select(store, player)
                .await?;
            Ok(answer.map(crate::plugins::contract::v0_1::selection))
        }
    };
}

/// 0.2.0's router role, repeated unchanged by 0.3.0: its three calls on the
/// version's `RouterBindings` (`$release` names the last).
macro_rules! router_role {
    ($release:ident) => {
        pub async fn configure_router(
            b: &RouterBindings,
            store: &mut wasmtime::Store<crate::plugins::host_api::HostState>,
            config: &str,
        ) -> wasmtime::Result<Result<(), String>> {
            b.passage_plugin_router()
                .call_configure(store, config)
                .await
        }

        pub async fn route(
            b: &RouterBindings,
            store: &mut wasmtime::Store<crate::plugins::host_api::HostState>,
            player: &crate::plugins::types::Player,
        ) -> wasmtime::Result<Result<crate::plugins::types::Placement, String>> {
            use crate::plugins::types::Placement;
            let answer = b.passage_plugin_router().call_route(store, player).await?;
            Ok(answer.map(|routed| match routed {
                Some(r) => Placement::Placed {
                    target: r.target,
                    reservation: r.reservation,
                    extra: None,
                },
                None => Placement::None,
            }))
        }

        pub async fn $release(
            b: &RouterBindings,
            store: &mut wasmtime::Store<crate::plugins::host_api::HostState>,
            reservation: &str,
        ) -> wasmtime::Result<()> {
            b.passage_plugin_router()
                .call_release(store, reservation)
                .await
        }
    };
}

pub(crate) use {discovery_role, router_role, status_role, strategy_role};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_export_is_known_once() {
        let mut names: Vec<&str> = EXPORTS
            .iter()
            .map(|(n, ..)| *n)
            .chain(REPEATED_AT_0_3.iter().map(|(n, _)| *n))
            .collect();
        let all = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), all);
    }
}
