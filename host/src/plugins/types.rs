//! What plugins are asked about and answer with, in the host's own types. Every
//! contract version's module (`contract::v0_*`) converts to and from these; the
//! rest of the router never sees a type generated from the WIT.
//!
//! `Player` and `Target` are the records of the contract's `types` interface, which
//! every version repeats unchanged: they carry the component-model derives, so they
//! cross the boundary as they are (no copy per call), and each version's bindings
//! map its `types` interface onto this module (`with`). wasmtime checks a
//! component's types by structure (field names and types), so the layout here must
//! stay that of the WIT record, which the instantiation of every plugin proves.

use std::time::Duration;

use wasmtime::component::{ComponentType, Lift, Lower};

/// The player being routed, as far as Passage knows them at the time of the call.
#[derive(ComponentType, Lift, Lower, Clone, Debug, PartialEq, Eq)]
#[component(record)]
pub struct Player {
    /// Name from Login Start (online mode: confirmed by the session server).
    #[component(name = "name")]
    pub name: String,
    /// Hyphenated lower-case UUID.
    #[component(name = "uuid")]
    pub uuid: String,
    /// The client's IP address (no port).
    #[component(name = "client-ip")]
    pub client_ip: String,
    /// Protocol version from the handshake.
    #[component(name = "protocol")]
    pub protocol: i32,
    /// Server address from the handshake (normalized).
    #[component(name = "server-address")]
    pub server_address: String,
    #[component(name = "server-port")]
    pub server_port: u16,
    /// Client locale once the client has sent it.
    #[component(name = "locale")]
    pub locale: Option<String>,
    /// Id of the target this player was last transferred to (from the cookie).
    #[component(name = "last-target")]
    pub last_target: Option<String>,
}

/// A backend a player can be transferred to.
#[derive(ComponentType, Lift, Lower, Clone, Debug, PartialEq, Eq)]
#[component(record)]
pub struct Target {
    #[component(name = "id")]
    pub id: String,
    #[component(name = "host")]
    pub host: String,
    #[component(name = "port")]
    pub port: u16,
    #[component(name = "metadata")]
    pub metadata: Vec<(String, String)>,
}

impl Target {
    /// The value of a metadata key, if present.
    pub fn meta(&self, key: &str) -> Option<&str> {
        self.metadata
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// What a status plugin is asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusRequest {
    pub client_ip: String,
    pub protocol: i32,
    pub server_address: String,
    pub server_port: u16,
}

/// A status plugin's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusReply {
    pub version_name: String,
    /// `None`: announce the client's own protocol when Passage can route it.
    pub version_protocol: Option<i32>,
    /// `None` hides the player count.
    pub players: Option<Players>,
    pub description: Text,
    pub favicon: Option<String>,
    pub enforces_secure_chat: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Players {
    pub online: u32,
    pub max: u32,
    pub sample: Vec<PlayerSample>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlayerSample {
    pub name: String,
    pub id: String,
}

/// A description (MOTD).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Text {
    /// Plain text; `§` codes kept.
    Plain(String),
    /// A JSON text component.
    Json(String),
}

/// A discovery plugin's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Discovered {
    /// The targets of the revision the host said it holds.
    Unchanged,
    Targets {
        revision: u64,
        targets: Vec<Target>,
    },
}

/// What travels with the player besides `Player` (contract 0.3.0 and newer).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PlayerContext {
    /// The authentication cookie's `extra` without Passage's own key.
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl PlayerContext {
    /// `extra` as the JSON text plugins receive.
    pub fn extra_json(&self) -> String {
        serde_json::Value::Object(self.extra.clone()).to_string()
    }
}

/// Something a plugin wants the player to see.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// Shown as it is: plain text, or a JSON text component.
    Text(String),
    Localized(Localized),
}

/// A message the host translates (see `l10n::Messages::plugin_text`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Localized {
    pub key: String,
    pub args: Vec<String>,
    pub translations: Vec<(String, String)>,
    pub fallback: String,
}

/// "Hold the player and ask again."
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wait {
    pub retry_after: Duration,
    pub message: Option<Message>,
    pub position: Option<u32>,
}

/// A JSON merge patch (RFC 7396) for the player's `extra`.
pub type ExtraPatch = String;

/// A strategy's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selection {
    Target {
        id: String,
        extra: Option<ExtraPatch>,
    },
    /// No target suits this player.
    None,
    Reject(Message),
    Wait(Wait),
}

/// A router's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Placement {
    Placed {
        target: Target,
        reservation: Option<String>,
        extra: Option<ExtraPatch>,
    },
    None,
    Reject(Message),
    Wait {
        wait: Wait,
        reservation: Option<String>,
    },
}

/// An admission plugin's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    Deny(Message),
}

/// The items bindgen expects of a mapped `types` interface: the contract's
/// `types` has records only, so there is nothing to link but its (empty)
/// instance, under the name of each version that imports it.
pub trait HostWithStore<T>: wasmtime::component::HasData {}
impl<H: ?Sized, T> HostWithStore<T> for H where H: wasmtime::component::HasData {}
pub trait Host {}
impl<H: Host + ?Sized> Host for &mut H {}

pub fn add_to_linker_instance<T, D>(
    _inst: &mut wasmtime::component::LinkerInstance<'_, T>,
    _host_getter: fn(&mut T) -> D::Data<'_>,
) -> wasmtime::Result<()>
where
    D: HostWithStore<T>,
    for<'a> D::Data<'a>: Host,
    T: 'static,
{
    Ok(())
}

pub fn add_to_linker<T, D>(
    linker: &mut wasmtime::component::Linker<T>,
    host_getter: fn(&mut T) -> D::Data<'_>,
) -> wasmtime::Result<()>
where
    D: HostWithStore<T>,
    for<'a> D::Data<'a>: Host,
    T: 'static,
{
    let mut inst = linker.instance("passage:plugin/types@0.1.0")?;
    add_to_linker_instance::<T, D>(&mut inst, host_getter)
}
