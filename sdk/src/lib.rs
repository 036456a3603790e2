//! Write Passage routing plugins in Rust.
//!
//! A plugin is a type that implements [`Plugin`] (how it is built from its config
//! table) and one role trait: [`Status`], [`Discovery`], [`Strategy`],
//! [`RouterPlugin`], or one of contract 0.3.0's [`Admission`], [`Selection`] and
//! [`Placement`]. One macro exports it as a WebAssembly component for
//! `wasm32-wasip2`:
//!
//! ```ignore
//! use passage_sdk::{Config, Plugin, Status, StatusRequest, StatusResponse, Text};
//!
//! struct Hello { motd: String }
//!
//! impl Plugin for Hello {
//!     fn new(config: Config) -> Result<Self, String> {
//!         Ok(Hello { motd: config.get_str("motd")?.unwrap_or("Hello").to_owned() })
//!     }
//! }
//!
//! impl Status for Hello {
//!     fn status(&mut self, _request: &StatusRequest) -> Option<StatusResponse> {
//!         Some(StatusResponse::new(Text::Plain(self.motd.clone())))
//!     }
//! }
//!
//! passage_sdk::export_status!(Hello);
//! ```
//!
//! The host calls a plugin's exports one at a time on each instance, so the plugin's
//! state needs no locking: every trait method gets `&mut self`.
//!
//! # Contract versions
//!
//! Each role is exported with the contract version that introduced it, so a plugin
//! built with this SDK loads in every router that knows its roles:
//!
//! | trait | macro | component exports |
//! |---|---|---|
//! | [`Status`] | [`export_status!`] | `passage:plugin/status@0.1.0` |
//! | [`Discovery`] | [`export_discovery!`] | `passage:plugin/discovery@0.1.0` |
//! | [`Strategy`] | [`export_strategy!`] | `passage:plugin/strategy@0.1.0` |
//! | [`RouterPlugin`] | [`export_router!`] | `passage:plugin/router@0.2.0` (needs a router that knows 0.2.0) |
//! | [`Status`] calling [`network::targets`] | [`export_live_status!`] | `passage:plugin/status@0.3.0`, imports `network` |
//! | [`Admission`] | [`export_admission!`] | `passage:plugin/admission@0.3.0` |
//! | [`Selection`] | [`export_selection!`] | `passage:plugin/selection@0.3.0` |
//! | [`Placement`] | [`export_placement!`] | `passage:plugin/placement@0.3.0` |
//!
//! The 0.3.0 roles need a router that knows contract 0.3.0; they answer with
//! reasons ([`Message`], shown in the player's language), can hold a player
//! ([`Wait`]) and can change the data that travels with the player
//! ([`PlayerContext::extra`], [`ExtraPatch`]).
//!
//! [`Player`] and [`Target`] are one type whatever the version: the 0.2.0 and 0.3.0
//! bindings reuse the 0.1.0 ones (their WIT records are identical). [`log`] writes
//! through the `log` import of the version the instance's role comes from, so a
//! router plugin imports `passage:plugin/log@0.2.0`, a 0.3.0 role
//! `passage:plugin/log@0.3.0`, and the others `passage:plugin/log@0.1.0`.

use std::cell::RefCell;
use std::thread::LocalKey;

#[doc(hidden)]
pub mod bindings {
    //! Raw wit-bindgen bindings, one module per world. Plugins use the re-exports at
    //! the crate root instead.

    pub mod discovery {
        wit_bindgen::generate!({
            world: "discovery-plugin",
            path: "../wit/0.1.0",
            default_bindings_module: "passage_sdk::bindings::discovery",
            pub_export_macro: true,
            export_macro_name: "export_discovery_world",
        });
    }

    pub mod strategy {
        wit_bindgen::generate!({
            world: "strategy-plugin",
            path: "../wit/0.1.0",
            default_bindings_module: "passage_sdk::bindings::strategy",
            pub_export_macro: true,
            export_macro_name: "export_strategy_world",
            with: {
                "passage:plugin/types@0.1.0": crate::bindings::discovery::passage::plugin::types,
                "passage:plugin/log@0.1.0": crate::bindings::discovery::passage::plugin::log,
            },
        });
    }

    pub mod status {
        wit_bindgen::generate!({
            world: "status-plugin",
            path: "../wit/0.1.0",
            default_bindings_module: "passage_sdk::bindings::status",
            pub_export_macro: true,
            export_macro_name: "export_status_world",
            with: {
                "passage:plugin/log@0.1.0": crate::bindings::discovery::passage::plugin::log,
            },
        });
    }

    /// Contract 0.2.0, router role. `types@0.2.0` is the same records as
    /// `types@0.1.0`, so the 0.1.0 Rust types serve both (lifting and lowering go
    /// field by field; nothing names the interface). `log@0.2.0` is generated, not
    /// mapped: an imported function is linked by its interface's name, and a router
    /// component must import `passage:plugin/log@0.2.0`, as its world says.
    pub mod router {
        wit_bindgen::generate!({
            world: "router-plugin",
            path: "../wit/0.2.0",
            default_bindings_module: "passage_sdk::bindings::router",
            pub_export_macro: true,
            export_macro_name: "export_router_world",
            with: {
                "passage:plugin/types@0.2.0": crate::bindings::discovery::passage::plugin::types,
            },
        });
    }

    /// Contract 0.3.0. `types@0.3.0` is served by the 0.1.0 Rust types again;
    /// `context` and `log@0.3.0` are generated once (here) and shared by the
    /// other 0.3.0 worlds.
    pub mod admission {
        wit_bindgen::generate!({
            world: "admission-plugin",
            path: "../wit/0.3.0",
            default_bindings_module: "passage_sdk::bindings::admission",
            pub_export_macro: true,
            export_macro_name: "export_admission_world",
            with: {
                "passage:plugin/types@0.3.0": crate::bindings::discovery::passage::plugin::types,
            },
        });
    }

    pub mod selection {
        wit_bindgen::generate!({
            world: "selection-plugin",
            path: "../wit/0.3.0",
            default_bindings_module: "passage_sdk::bindings::selection",
            pub_export_macro: true,
            export_macro_name: "export_selection_world",
            with: {
                "passage:plugin/types@0.3.0": crate::bindings::discovery::passage::plugin::types,
                "passage:plugin/log@0.3.0": crate::bindings::admission::passage::plugin::log,
                "passage:plugin/context@0.3.0": crate::bindings::admission::passage::plugin::context,
            },
        });
    }

    pub mod placement {
        wit_bindgen::generate!({
            world: "placement-plugin",
            path: "../wit/0.3.0",
            default_bindings_module: "passage_sdk::bindings::placement",
            pub_export_macro: true,
            export_macro_name: "export_placement_world",
            // wasi:keyvalue is generated here: a placement plugin that uses the
            // buckets its operator grants calls these bindings (`keyvalue`).
            generate_all,
            with: {
                "passage:plugin/types@0.3.0": crate::bindings::discovery::passage::plugin::types,
                "passage:plugin/log@0.3.0": crate::bindings::admission::passage::plugin::log,
                "passage:plugin/context@0.3.0": crate::bindings::admission::passage::plugin::context,
                "passage:plugin/network@0.3.0": crate::bindings::live_status::passage::plugin::network,
            },
        });
    }

    pub mod live_status {
        wit_bindgen::generate!({
            world: "live-status-plugin",
            path: "../wit/0.3.0",
            default_bindings_module: "passage_sdk::bindings::live_status",
            pub_export_macro: true,
            export_macro_name: "export_live_status_world",
            with: {
                "passage:plugin/types@0.3.0": crate::bindings::discovery::passage::plugin::types,
                "passage:plugin/log@0.3.0": crate::bindings::admission::passage::plugin::log,
            },
        });
    }
}

pub use bindings::admission::exports::passage::plugin::admission::Verdict;
pub use bindings::admission::passage::plugin::context::{Localized, Message, PlayerContext, Wait};
pub use bindings::discovery::exports::passage::plugin::discovery::{Discovered, TargetList};
pub use bindings::discovery::passage::plugin::types::{Player, Target};
pub use bindings::placement::exports::passage::plugin::placement::{
    Held, Placed, Placement as Place,
};
pub use bindings::router::exports::passage::plugin::router::Routed;
pub use bindings::selection::exports::passage::plugin::selection::Selected;
pub use bindings::status::exports::passage::plugin::status::{
    PlayerSample, Players, StatusRequest, StatusResponse, Text,
};

/// The plugin's table from the router's configuration file (`[plugins.<name>]`).
#[derive(Debug, Clone, Default)]
pub struct Config(serde_json::Map<String, serde_json::Value>);

impl Config {
    /// Parses the JSON object the host passes to `configure`.
    pub fn from_json(json: &str) -> Result<Config, String> {
        match serde_json::from_str::<serde_json::Value>(json) {
            Ok(serde_json::Value::Object(map)) => Ok(Config(map)),
            Ok(other) => Err(format!("config must be a table, got {other}")),
            Err(e) => Err(format!("config is not valid JSON: {e}")),
        }
    }

    /// The whole table.
    pub fn table(&self) -> &serde_json::Map<String, serde_json::Value> {
        &self.0
    }

    /// A raw value.
    pub fn get(&self, key: &str) -> Option<&serde_json::Value> {
        self.0.get(key)
    }

    /// A string value; an error names the key when it has another type.
    pub fn get_str(&self, key: &str) -> Result<Option<&str>, String> {
        match self.0.get(key) {
            None => Ok(None),
            Some(serde_json::Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(format!("`{key}` must be a string, got {other}")),
        }
    }

    /// An integer value; an error names the key when it has another type.
    pub fn get_i64(&self, key: &str) -> Result<Option<i64>, String> {
        match self.0.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_i64()
                .map(Some)
                .ok_or_else(|| format!("`{key}` must be an integer, got {v}")),
        }
    }

    /// A boolean value; an error names the key when it has another type.
    pub fn get_bool(&self, key: &str) -> Result<Option<bool>, String> {
        match self.0.get(key) {
            None => Ok(None),
            Some(serde_json::Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(format!("`{key}` must be true or false, got {other}")),
        }
    }

    /// A non-empty string (such as a metadata key name), `default` when absent.
    pub fn get_name(&self, key: &str, default: &str) -> Result<String, String> {
        match self.get_str(key)? {
            None => Ok(default.to_owned()),
            Some("") => Err(format!("`{key}` must not be empty")),
            Some(s) => Ok(s.to_owned()),
        }
    }

    /// Rejects keys outside `known`, so a typo in the operator's file is an error
    /// instead of a silently ignored setting.
    pub fn deny_unknown(&self, known: &[&str]) -> Result<(), String> {
        match self.0.keys().find(|k| !known.contains(&k.as_str())) {
            Some(key) => Err(format!(
                "unknown key `{key}` (known keys: {})",
                known.join(", ")
            )),
            None => Ok(()),
        }
    }
}

/// How a plugin is built from its configuration. Called once per instance, before
/// any role method; an error refuses the plugin and the operator sees the message.
pub trait Plugin: Sized + 'static {
    fn new(config: Config) -> Result<Self, String>;
}

/// The status role: answer the server-list ping.
pub trait Status: Plugin {
    /// `None` lets the next status plugin (or the router's fallback) answer.
    fn status(&mut self, request: &StatusRequest) -> Option<StatusResponse>;
}

/// The discovery role: which backends exist.
pub trait Discovery: Plugin {
    /// Return [`Discovered::Unchanged`] when `known_revision` is the revision of your
    /// current list: then nothing crosses the boundary and a login stays cheap.
    fn discover(
        &mut self,
        player: &Player,
        known_revision: Option<u64>,
    ) -> Result<Discovered, String>;
}

/// The strategy role: pick one target for a player.
pub trait Strategy: Plugin {
    /// Called when the router's target set changed, before the next `select`. Use it
    /// to precompute (a hash ring, a sorted list); the SDK keeps the targets for you.
    fn targets_changed(&mut self, _targets: &[Target]) {}

    /// The id of the chosen target, `None` when none suits this player.
    fn select(&mut self, player: &Player, targets: &[Target]) -> Result<Option<String>, String>;
}

/// The router role (contract 0.2.0): discovery and strategy in one call, for
/// backends where choosing a target must also claim it (a game-server allocator, a
/// lobby with a fixed number of seats). A router takes the place of the discovery
/// and strategy plugins for the logins it serves. [`Placement`] is the same role
/// with reasons and waiting (contract 0.3.0).
///
/// Reservations live in the instance that made them: the host calls
/// [`release`](RouterPlugin::release) on that same instance, and not at all once it has
/// replaced that instance (after a panic or a missed deadline; the new instance is
/// built with [`Plugin::new`] and starts with nothing reserved). Each instance has
/// its own memory, so capacity counted in memory is counted per instance.
pub trait RouterPlugin: Plugin {
    /// The target for this player: [`Routed::to`], or [`Routed::reserved`] when you
    /// claimed it for them. `None` when no target suits this player (all are full).
    fn route(&mut self, player: &Player) -> Result<Option<Routed>, String>;

    /// The host could not use a reservation [`route`](RouterPlugin::route) returned (the
    /// player left, or the transfer could not be sent): free it. Called at most once
    /// per reservation. A reservation never released was used.
    fn release(&mut self, _reservation: &str) {}
}

/// The admission role (contract 0.3.0): may this player join? Asked once per
/// login, after authentication and before routing; with several admission
/// plugins the first [`Verdict::Deny`] wins.
pub trait Admission: Plugin {
    /// [`Verdict::Allow`], or [`Verdict::Deny`] with the message the player sees.
    /// An error refuses the player with the router's "could not choose a server"
    /// message and logs yours.
    fn admit(&mut self, player: &Player, context: &PlayerContext) -> Result<Verdict, String>;
}

/// The strategy role with reasons and waiting (contract 0.3.0): pick one target
/// for a player, refuse them with a reason, or hold them.
pub trait Selection: Plugin {
    /// Called when the router's target set changed, before the next `select`.
    fn targets_changed(&mut self, _targets: &[Target]) {}

    /// [`Selected::target`], [`Selected::None`], [`Selected::Reject`] or
    /// [`Selected::Wait`].
    fn select(
        &mut self,
        player: &Player,
        context: &PlayerContext,
        targets: &[Target],
    ) -> Result<Selected, String>;
}

/// The router role with reasons and waiting (contract 0.3.0). See [`RouterPlugin`]
/// for reservations; a reservation may also be held while the player waits
/// ([`Place::wait_holding`]): the host releases it when a later answer names
/// another, or none, or the player leaves.
pub trait Placement: Plugin {
    fn place(&mut self, player: &Player, context: &PlayerContext) -> Result<Place, String>;

    /// A reservation [`place`](Placement::place) returned that the host did not use.
    fn release(&mut self, _reservation: &str) {}
}

/// A change to the data that travels with the player: a JSON merge patch of
/// `extra` (RFC 7396: members set, `null` removes). At most 2 KiB.
pub type ExtraPatch = String;

impl PlayerContext {
    /// A context with this `extra` (for plugin unit tests).
    pub fn with_extra(extra: serde_json::Value) -> PlayerContext {
        PlayerContext {
            extra: extra.to_string(),
        }
    }

    /// `extra` parsed: the members other systems and plugins stored with the
    /// player. Empty when there are none (or the host sent something else).
    pub fn extra(&self) -> serde_json::Map<String, serde_json::Value> {
        match serde_json::from_str(&self.extra) {
            Ok(serde_json::Value::Object(map)) => map,
            _ => serde_json::Map::new(),
        }
    }
}

impl Default for PlayerContext {
    fn default() -> PlayerContext {
        PlayerContext {
            extra: "{}".to_owned(),
        }
    }
}

impl Message {
    /// Shown as it is (a JSON text component when it starts with `{`, `[` or `"`).
    pub fn text(text: impl Into<String>) -> Message {
        Message::Text(text.into())
    }

    /// A message the router translates: `key` (by convention `<plugin>.<name>`),
    /// with `fallback` when neither the operator nor the plugin has a text for the
    /// player's locale. Add [`arg`](Message::arg)s and
    /// [`translation`](Message::translation)s.
    pub fn localized(key: impl Into<String>, fallback: impl Into<String>) -> Message {
        Message::Localized(Localized {
            key: key.into(),
            args: Vec::new(),
            translations: Vec::new(),
            fallback: fallback.into(),
        })
    }

    /// Replaces the next `{n}` placeholder's value (`{0}` first).
    pub fn arg(mut self, value: impl ToString) -> Message {
        if let Message::Localized(l) = &mut self {
            l.args.push(value.to_string());
        }
        self
    }

    /// The text for one locale (`de_de`), placeholders included.
    pub fn translation(mut self, locale: &str, text: impl Into<String>) -> Message {
        if let Message::Localized(l) = &mut self {
            l.translations.push((locale.to_owned(), text.into()));
        }
        self
    }
}

impl Wait {
    /// Ask again after `ms` milliseconds (the router waits 50 ms to 30 s).
    pub fn retry_after_ms(ms: u32) -> Wait {
        Wait {
            retry_after_ms: ms,
            message: None,
            position: None,
        }
    }

    /// What the player sees while waiting (1.21.6 and newer show it).
    pub fn with_message(mut self, message: Message) -> Wait {
        self.message = Some(message);
        self
    }

    /// Their place in the line (1 = next).
    pub fn at_position(mut self, position: u32) -> Wait {
        self.position = Some(position);
        self
    }
}

impl Selected {
    /// The target with this id.
    pub fn target(id: impl Into<String>) -> Selected {
        Selected::Target((id.into(), None))
    }

    /// The target with this id, and a change to the player's `extra`.
    pub fn target_with_extra(id: impl Into<String>, patch: serde_json::Value) -> Selected {
        Selected::Target((id.into(), Some(patch.to_string())))
    }
}

impl Place {
    /// Send the player to `target`, nothing reserved.
    pub fn to(target: Target) -> Place {
        Place::Placed(Placed {
            target,
            reservation: None,
            extra: None,
        })
    }

    /// Send the player to `target`, which you reserved for them.
    pub fn reserved(target: Target, reservation: impl Into<String>) -> Place {
        Place::Placed(Placed {
            target,
            reservation: Some(reservation.into()),
            extra: None,
        })
    }

    /// Hold the player and ask again.
    pub fn wait(wait: Wait) -> Place {
        Place::Wait(Held {
            wait,
            reservation: None,
        })
    }

    /// Hold the player, keeping `reservation` for them meanwhile.
    pub fn wait_holding(wait: Wait, reservation: impl Into<String>) -> Place {
        Place::Wait(Held {
            wait,
            reservation: Some(reservation.into()),
        })
    }

    /// Adds a change to the player's `extra` to a [`Place::Placed`] answer.
    pub fn with_extra(mut self, patch: serde_json::Value) -> Place {
        if let Place::Placed(placed) = &mut self {
            placed.extra = Some(patch.to_string());
        }
        self
    }
}

/// What the router knows of the network now (status and placement plugins,
/// contract 0.3.0).
pub mod network {
    use crate::Target;

    /// The targets the router holds from its discovery plugins, at most a
    /// second old. Natively (unit tests) there is no router: an empty list.
    pub fn targets() -> Vec<Target> {
        #[cfg(target_arch = "wasm32")]
        {
            crate::bindings::live_status::passage::plugin::network::targets()
        }
        #[cfg(not(target_arch = "wasm32"))]
        {
            Vec::new()
        }
    }
}

impl Player {
    /// A typical player, for plugin unit tests: `Steve`, 1.21.1, `play.example.com`.
    pub fn example() -> Player {
        Player {
            name: "Steve".to_owned(),
            uuid: "8667ba71-b85a-4004-af54-457a9734eed7".to_owned(),
            client_ip: "127.0.0.1".to_owned(),
            protocol: 767,
            server_address: "play.example.com".to_owned(),
            server_port: 25565,
            locale: None,
            last_target: None,
        }
    }
}

impl Target {
    /// A target without metadata.
    pub fn new(id: &str, host: &str, port: u16) -> Target {
        Target {
            id: id.to_owned(),
            host: host.to_owned(),
            port,
            metadata: Vec::new(),
        }
    }

    /// Adds one metadata pair (builder style, handy in tests).
    pub fn with(mut self, key: &str, value: impl ToString) -> Target {
        self.metadata.push((key.to_owned(), value.to_string()));
        self
    }

    /// The value of a metadata key, if present.
    pub fn meta(&self, key: &str) -> Option<&str> {
        self.metadata
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// A metadata value parsed as a count (e.g. `players`); `None` when absent or
    /// not a number.
    pub fn meta_count(&self, key: &str) -> Option<u64> {
        self.meta(key).and_then(|v| v.trim().parse().ok())
    }
}

impl Routed {
    /// A target, with nothing reserved.
    pub fn to(target: Target) -> Routed {
        Routed {
            target,
            reservation: None,
        }
    }

    /// A target reserved for this player; `reservation` comes back to
    /// [`RouterPlugin::release`] if the host cannot use it.
    pub fn reserved(target: Target, reservation: impl Into<String>) -> Routed {
        Routed {
            target,
            reservation: Some(reservation.into()),
        }
    }
}

impl StatusResponse {
    /// A response with this description, the router's default version text, and no
    /// player count.
    pub fn new(description: Text) -> StatusResponse {
        StatusResponse {
            version_name: "Passage".to_owned(),
            version_protocol: None,
            players: None,
            description,
            favicon: None,
            enforces_secure_chat: false,
        }
    }
}

#[cfg(feature = "build")]
pub mod build;
pub mod http;
pub mod keyvalue;
pub mod players;
pub mod status_settings;
pub mod targets;
pub use players::PlayerList;
pub use targets::{ExtraKeys, revision_of, targets_from_json};

/// Writing to the router's log. The host tags every line with the plugin's name.
///
/// Natively (a plugin's unit tests) there is no host: lines go to stderr.
pub mod log {
    use std::cell::Cell;

    use crate::bindings::discovery::passage::plugin::log::Level;

    /// A `log` import: 0.1.0's, or 0.2.0's for a router.
    pub(crate) type Sink = fn(Level, &str);

    thread_local! {
        /// Set by the export macro's `configure`, before `Plugin::new` runs. Only
        /// the macros name an import, so a component imports the `log` of the
        /// contract version its roles come from, and not the other one.
        pub(crate) static SINK: Cell<Option<Sink>> = const { Cell::new(None) };
    }

    fn write(level: Level, message: &str) {
        match SINK.with(Cell::get) {
            Some(sink) => sink(level, message),
            None => eprintln!("{level:?}: {message}"),
        }
    }

    pub fn trace(message: &str) {
        write(Level::Trace, message)
    }
    pub fn debug(message: &str) {
        write(Level::Debug, message)
    }
    pub fn info(message: &str) {
        write(Level::Info, message)
    }
    pub fn warn(message: &str) {
        write(Level::Warn, message)
    }
    pub fn error(message: &str) {
        write(Level::Error, message)
    }
}

/// Glue used by the export macros: one plugin value per instance, built by
/// `configure`. Not part of the public API.
#[doc(hidden)]
pub mod rt {
    use super::*;

    pub type Slot<T> = RefCell<Option<T>>;

    /// Log through `passage:plugin/log@0.1.0` (status, discovery, strategy).
    pub fn log_v0_1() {
        crate::log::SINK.with(|s| s.set(Some(log_0_1)));
    }

    /// Log through `passage:plugin/log@0.2.0` (router).
    pub fn log_v0_2() {
        crate::log::SINK.with(|s| s.set(Some(log_0_2)));
    }

    /// Log through `passage:plugin/log@0.3.0` (the 0.3.0 roles).
    pub fn log_v0_3() {
        crate::log::SINK.with(|s| s.set(Some(log_0_3)));
    }

    use crate::bindings::discovery::passage::plugin::log::Level as LevelV0_1;

    fn log_0_3(level: LevelV0_1, message: &str) {
        use crate::bindings::admission::passage::plugin::log::{Level, log};
        let level = match level {
            LevelV0_1::Trace => Level::Trace,
            LevelV0_1::Debug => Level::Debug,
            LevelV0_1::Info => Level::Info,
            LevelV0_1::Warn => Level::Warn,
            LevelV0_1::Error => Level::Error,
        };
        log(level, message)
    }

    fn log_0_1(level: LevelV0_1, message: &str) {
        crate::bindings::discovery::passage::plugin::log::log(level, message)
    }

    fn log_0_2(level: LevelV0_1, message: &str) {
        use crate::bindings::router::passage::plugin::log::{Level, log};
        let level = match level {
            LevelV0_1::Trace => Level::Trace,
            LevelV0_1::Debug => Level::Debug,
            LevelV0_1::Info => Level::Info,
            LevelV0_1::Warn => Level::Warn,
            LevelV0_1::Error => Level::Error,
        };
        log(level, message)
    }

    pub fn configure<T: Plugin>(
        slot: &'static LocalKey<Slot<T>>,
        json: String,
    ) -> Result<(), String> {
        let plugin = T::new(Config::from_json(&json)?)?;
        slot.with(|s| *s.borrow_mut() = Some(plugin));
        Ok(())
    }

    pub fn with<T: Plugin, R>(
        slot: &'static LocalKey<Slot<T>>,
        f: impl FnOnce(&mut T) -> R,
    ) -> Result<R, String> {
        slot.with(|s| match s.borrow_mut().as_mut() {
            Some(plugin) => Ok(f(plugin)),
            None => Err("plugin used before configure".to_owned()),
        })
    }

    use crate::bindings::live_status::exports::passage::plugin::status as v0_3_status;

    /// The status records are declared by each version's `status` interface:
    /// 0.3.0's are converted to the ones [`Status`] uses.
    pub fn status_request_from_v0_3(r: v0_3_status::StatusRequest) -> StatusRequest {
        StatusRequest {
            client_ip: r.client_ip,
            protocol: r.protocol,
            server_address: r.server_address,
            server_port: r.server_port,
        }
    }

    pub fn status_response_to_v0_3(r: StatusResponse) -> v0_3_status::StatusResponse {
        v0_3_status::StatusResponse {
            version_name: r.version_name,
            version_protocol: r.version_protocol,
            players: r.players.map(|p| v0_3_status::Players {
                online: p.online,
                max: p.max,
                sample: p
                    .sample
                    .into_iter()
                    .map(|s| v0_3_status::PlayerSample {
                        name: s.name,
                        id: s.id,
                    })
                    .collect(),
            }),
            description: match r.description {
                Text::Plain(t) => v0_3_status::Text::Plain(t),
                Text::Json(t) => v0_3_status::Text::Json(t),
            },
            favicon: r.favicon,
            enforces_secure_chat: r.enforces_secure_chat,
        }
    }

    /// The target set of a strategy instance, kept between `select` calls.
    pub struct StrategyState<T> {
        pub plugin: Option<T>,
        pub targets: Vec<Target>,
    }

    pub type StrategySlot<T> = RefCell<StrategyState<T>>;

    pub const fn strategy_slot<T>() -> StrategySlot<T> {
        RefCell::new(StrategyState {
            plugin: None,
            targets: Vec::new(),
        })
    }

    pub fn strategy_configure<T: Strategy>(
        slot: &'static LocalKey<StrategySlot<T>>,
        json: String,
    ) -> Result<(), String> {
        let plugin = T::new(Config::from_json(&json)?)?;
        slot.with(|s| s.borrow_mut().plugin = Some(plugin));
        Ok(())
    }

    pub fn strategy_set_targets<T: Strategy>(
        slot: &'static LocalKey<StrategySlot<T>>,
        targets: Vec<Target>,
    ) {
        slot.with(|s| {
            let state = &mut *s.borrow_mut();
            state.targets = targets;
            if let Some(plugin) = state.plugin.as_mut() {
                plugin.targets_changed(&state.targets);
            }
        })
    }

    pub fn selection_configure<T: Selection>(
        slot: &'static LocalKey<StrategySlot<T>>,
        json: String,
    ) -> Result<(), String> {
        let plugin = T::new(Config::from_json(&json)?)?;
        slot.with(|s| s.borrow_mut().plugin = Some(plugin));
        Ok(())
    }

    pub fn selection_set_targets<T: Selection>(
        slot: &'static LocalKey<StrategySlot<T>>,
        targets: Vec<Target>,
    ) {
        slot.with(|s| {
            let state = &mut *s.borrow_mut();
            state.targets = targets;
            if let Some(plugin) = state.plugin.as_mut() {
                plugin.targets_changed(&state.targets);
            }
        })
    }

    pub fn selection_select<T: Selection>(
        slot: &'static LocalKey<StrategySlot<T>>,
        player: Player,
        context: PlayerContext,
    ) -> Result<Selected, String> {
        slot.with(|s| {
            let state = &mut *s.borrow_mut();
            match state.plugin.as_mut() {
                Some(plugin) => plugin.select(&player, &context, &state.targets),
                None => Err("plugin used before configure".to_owned()),
            }
        })
    }

    pub fn strategy_select<T: Strategy>(
        slot: &'static LocalKey<StrategySlot<T>>,
        player: Player,
    ) -> Result<Option<String>, String> {
        slot.with(|s| {
            let state = &mut *s.borrow_mut();
            match state.plugin.as_mut() {
                Some(plugin) => plugin.select(&player, &state.targets),
                None => Err("plugin used before configure".to_owned()),
            }
        })
    }
}

/// Exports a type implementing [`Status`] as a status plugin.
#[macro_export]
macro_rules! export_status {
    ($plugin:ty) => {
        const _: () = {
            ::std::thread_local! {
                static SLOT: $crate::rt::Slot<$plugin> = const { ::std::cell::RefCell::new(None) };
            }
            struct Export;
            impl $crate::bindings::status::exports::passage::plugin::status::Guest for Export {
                fn configure(config: String) -> Result<(), String> {
                    $crate::rt::log_v0_1();
                    $crate::rt::configure(&SLOT, config)
                }
                fn status(request: $crate::StatusRequest) -> Option<$crate::StatusResponse> {
                    $crate::rt::with(&SLOT, |p: &mut $plugin| {
                        <$plugin as $crate::Status>::status(p, &request)
                    })
                    .ok()
                    .flatten()
                }
            }
            // Natively (unit tests of a plugin's logic) nothing is exported: the
            // component export names are not valid native symbol names.
            #[cfg(target_arch = "wasm32")]
            $crate::bindings::status::export_status_world!(Export);
        };
    };
}

/// Exports a type implementing [`Discovery`] as a discovery plugin.
#[macro_export]
macro_rules! export_discovery {
    ($plugin:ty) => {
        const _: () = {
            ::std::thread_local! {
                static SLOT: $crate::rt::Slot<$plugin> = const { ::std::cell::RefCell::new(None) };
            }
            struct Export;
            impl $crate::bindings::discovery::exports::passage::plugin::discovery::Guest for Export {
                fn configure(config: String) -> Result<(), String> {
                    $crate::rt::log_v0_1();
                    $crate::rt::configure(&SLOT, config)
                }
                fn discover(
                    player: $crate::Player,
                    known_revision: Option<u64>,
                ) -> Result<$crate::Discovered, String> {
                    $crate::rt::with(&SLOT, |p: &mut $plugin| {
                        <$plugin as $crate::Discovery>::discover(p, &player, known_revision)
                    })?
                }
            }
            // Natively (unit tests of a plugin's logic) nothing is exported: the
            // component export names are not valid native symbol names.
            #[cfg(target_arch = "wasm32")]
            $crate::bindings::discovery::export_discovery_world!(Export);
        };
    };
}

/// Exports a type implementing [`Strategy`] as a strategy plugin.
#[macro_export]
macro_rules! export_strategy {
    ($plugin:ty) => {
        const _: () = {
            ::std::thread_local! {
                static SLOT: $crate::rt::StrategySlot<$plugin> = const { $crate::rt::strategy_slot() };
            }
            struct Export;
            impl $crate::bindings::strategy::exports::passage::plugin::strategy::Guest for Export {
                fn configure(config: String) -> Result<(), String> {
                    $crate::rt::log_v0_1();
                    $crate::rt::strategy_configure(&SLOT, config)
                }
                fn set_targets(targets: Vec<$crate::Target>) {
                    $crate::rt::strategy_set_targets(&SLOT, targets)
                }
                fn select(player: $crate::Player) -> Result<Option<String>, String> {
                    $crate::rt::strategy_select(&SLOT, player)
                }
            }
            // Natively (unit tests of a plugin's logic) nothing is exported: the
            // component export names are not valid native symbol names.
            #[cfg(target_arch = "wasm32")]
            $crate::bindings::strategy::export_strategy_world!(Export);
        };
    };
}

/// Exports a type implementing [`RouterPlugin`] as a router plugin (contract 0.2.0).
#[macro_export]
macro_rules! export_router {
    ($plugin:ty) => {
        const _: () = {
            ::std::thread_local! {
                static SLOT: $crate::rt::Slot<$plugin> = const { ::std::cell::RefCell::new(None) };
            }
            struct Export;
            impl $crate::bindings::router::exports::passage::plugin::router::Guest for Export {
                fn configure(config: String) -> Result<(), String> {
                    $crate::rt::log_v0_2();
                    $crate::rt::configure(&SLOT, config)
                }
                fn route(player: $crate::Player) -> Result<Option<$crate::Routed>, String> {
                    $crate::rt::with(&SLOT, |p: &mut $plugin| {
                        <$plugin as $crate::RouterPlugin>::route(p, &player)
                    })?
                }
                fn release(reservation: String) {
                    // Before `configure` there is nothing to release.
                    let _ = $crate::rt::with(&SLOT, |p: &mut $plugin| {
                        <$plugin as $crate::RouterPlugin>::release(p, &reservation)
                    });
                }
            }
            // Natively (unit tests of a plugin's logic) nothing is exported: the
            // component export names are not valid native symbol names.
            #[cfg(target_arch = "wasm32")]
            $crate::bindings::router::export_router_world!(Export);
        };
    };
}

/// Exports a type implementing [`Status`] as a status plugin of contract 0.3.0,
/// which may call [`network::targets`] (to show the network's player count).
#[macro_export]
macro_rules! export_live_status {
    ($plugin:ty) => {
        const _: () = {
            ::std::thread_local! {
                static SLOT: $crate::rt::Slot<$plugin> = const { ::std::cell::RefCell::new(None) };
            }
            struct Export;
            impl $crate::bindings::live_status::exports::passage::plugin::status::Guest for Export {
                fn configure(config: String) -> Result<(), String> {
                    $crate::rt::log_v0_3();
                    $crate::rt::configure(&SLOT, config)
                }
                fn status(
                    request: $crate::bindings::live_status::exports::passage::plugin::status::StatusRequest,
                ) -> Option<$crate::bindings::live_status::exports::passage::plugin::status::StatusResponse> {
                    let request = $crate::rt::status_request_from_v0_3(request);
                    $crate::rt::with(&SLOT, |p: &mut $plugin| {
                        <$plugin as $crate::Status>::status(p, &request)
                    })
                    .ok()
                    .flatten()
                    .map($crate::rt::status_response_to_v0_3)
                }
            }
            #[cfg(target_arch = "wasm32")]
            $crate::bindings::live_status::export_live_status_world!(Export);
        };
    };
}

/// Exports a type implementing [`Admission`] as an admission plugin (contract 0.3.0).
#[macro_export]
macro_rules! export_admission {
    ($plugin:ty) => {
        const _: () = {
            ::std::thread_local! {
                static SLOT: $crate::rt::Slot<$plugin> = const { ::std::cell::RefCell::new(None) };
            }
            struct Export;
            impl $crate::bindings::admission::exports::passage::plugin::admission::Guest for Export {
                fn configure(config: String) -> Result<(), String> {
                    $crate::rt::log_v0_3();
                    $crate::rt::configure(&SLOT, config)
                }
                fn admit(
                    player: $crate::Player,
                    context: $crate::PlayerContext,
                ) -> Result<$crate::Verdict, String> {
                    $crate::rt::with(&SLOT, |p: &mut $plugin| {
                        <$plugin as $crate::Admission>::admit(p, &player, &context)
                    })?
                }
            }
            #[cfg(target_arch = "wasm32")]
            $crate::bindings::admission::export_admission_world!(Export);
        };
    };
}

/// Exports a type implementing [`Selection`] as a strategy plugin of contract 0.3.0.
#[macro_export]
macro_rules! export_selection {
    ($plugin:ty) => {
        const _: () = {
            ::std::thread_local! {
                static SLOT: $crate::rt::StrategySlot<$plugin> = const { $crate::rt::strategy_slot() };
            }
            struct Export;
            impl $crate::bindings::selection::exports::passage::plugin::selection::Guest for Export {
                fn configure(config: String) -> Result<(), String> {
                    $crate::rt::log_v0_3();
                    $crate::rt::selection_configure(&SLOT, config)
                }
                fn set_targets(targets: Vec<$crate::Target>) {
                    $crate::rt::selection_set_targets(&SLOT, targets)
                }
                fn select(
                    player: $crate::Player,
                    context: $crate::PlayerContext,
                ) -> Result<$crate::Selected, String> {
                    $crate::rt::selection_select(&SLOT, player, context)
                }
            }
            #[cfg(target_arch = "wasm32")]
            $crate::bindings::selection::export_selection_world!(Export);
        };
    };
}

/// Exports a type implementing [`Placement`] as a router plugin of contract 0.3.0.
#[macro_export]
macro_rules! export_placement {
    ($plugin:ty) => {
        const _: () = {
            ::std::thread_local! {
                static SLOT: $crate::rt::Slot<$plugin> = const { ::std::cell::RefCell::new(None) };
            }
            struct Export;
            impl $crate::bindings::placement::exports::passage::plugin::placement::Guest for Export {
                fn configure(config: String) -> Result<(), String> {
                    $crate::rt::log_v0_3();
                    $crate::rt::configure(&SLOT, config)
                }
                fn place(
                    player: $crate::Player,
                    context: $crate::PlayerContext,
                ) -> Result<$crate::Place, String> {
                    $crate::rt::with(&SLOT, |p: &mut $plugin| {
                        <$plugin as $crate::Placement>::place(p, &player, &context)
                    })?
                }
                fn release(reservation: String) {
                    let _ = $crate::rt::with(&SLOT, |p: &mut $plugin| {
                        <$plugin as $crate::Placement>::release(p, &reservation)
                    });
                }
            }
            #[cfg(target_arch = "wasm32")]
            $crate::bindings::placement::export_placement_world!(Export);
        };
    };
}

/// Embeds the plugin's manifest (written by [`build::write_manifest`] in the
/// plugin's build script from its `Cargo.toml`) in the component, as the custom
/// section `passage-manifest` that `passage plugin inspect` and the router read
/// without running the plugin. Call it once, at the crate's top level:
///
/// ```ignore
/// passage_sdk::manifest!();
/// ```
#[macro_export]
macro_rules! manifest {
    () => {
        // Why `unsafe(link_section)` is sound here: the attribute is unsafe
        // because a static placed in an arbitrary section could be read as
        // something it is not (or clobber code on native targets). On wasm32 a
        // custom section is never loaded into memory or executed: the linker
        // copies the bytes into a section of that name and nothing in the
        // program refers to them. The static is plain bytes (`[u8; N]`), never
        // mutated, and only compiled for wasm32.
        #[cfg(target_arch = "wasm32")]
        #[unsafe(link_section = "passage-manifest")]
        #[used]
        static PASSAGE_MANIFEST: [u8; include_bytes!(concat!(
            env!("OUT_DIR"),
            "/passage-manifest.json"
        ))
        .len()] = *include_bytes!(concat!(env!("OUT_DIR"), "/passage-manifest.json"));
    };
}
