//! The configuration file: schema with defaults, loading, and validation with key paths.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use serde::Deserialize;

/// Everything Passage can be told. Every field has a default, so no file is needed.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address the Minecraft listener binds to.
    pub bind: SocketAddr,
    pub timeouts: Timeouts,
    pub auth: Auth,
    /// File holding the secret that signs `passage:authentication` cookies; it
    /// must be the same on every replica and backend that checks them. Without
    /// it, cookies are off. Env: `PASSAGE_AUTH_SECRET_FILE` or `AUTH_SECRET_FILE`.
    pub auth_secret_file: Option<PathBuf>,
    /// How long an authentication cookie lets a player skip the session server.
    pub auth_cookie_expiry_secs: u64,
    /// Packet compression threshold in bytes from Login on; negative disables it.
    pub compression_threshold: i32,
    pub log: Log,
    /// The status answered when no status plugin answers.
    pub status: FallbackStatus,
    pub plugin_runtime: PluginRuntime,
    pub routing: Routing,
    /// Resource packs offered in the configuration state, before the Transfer.
    pub resource_packs: Vec<ResourcePack>,
    /// Overrides of player-facing messages: `[messages.<locale>] <key> = "text"`.
    pub messages: BTreeMap<String, BTreeMap<String, String>>,
    /// Each plugin's own table, keyed by the plugin's name (its file name without
    /// `.wasm`), handed to the plugin as JSON.
    pub plugins: BTreeMap<String, toml::Table>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: SocketAddr::from(([0, 0, 0, 0], 25565)),
            timeouts: Timeouts::default(),
            auth: Auth::default(),
            auth_secret_file: None,
            auth_cookie_expiry_secs: 6 * 60 * 60,
            compression_threshold: -1,
            log: Log::default(),
            status: FallbackStatus::default(),
            plugin_runtime: PluginRuntime::default(),
            routing: Routing::default(),
            resource_packs: Vec::new(),
            messages: BTreeMap::new(),
            plugins: BTreeMap::new(),
        }
    }
}

/// Which plugins route players.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Routing {
    /// The strategy plugin that picks targets. May be left out when exactly one
    /// strategy plugin is loaded.
    pub strategy: Option<String>,
}

/// One `[[resource_packs]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourcePack {
    pub url: String,
    /// SHA-1 of the pack file, 40 hex digits.
    pub hash: String,
    /// A player who declines (or whose download fails) is disconnected.
    #[serde(default)]
    pub forced: bool,
    /// Plain text shown on the client's prompt.
    pub prompt: Option<String>,
    /// Stable id of the pack; default derived from the URL, so clients keep
    /// their cached copy across connections.
    pub uuid: Option<uuid::Uuid>,
}

impl ResourcePack {
    pub fn id(&self) -> uuid::Uuid {
        self.uuid
            .unwrap_or_else(|| uuid::Uuid::new_v3(&uuid::Uuid::NAMESPACE_URL, self.url.as_bytes()))
    }
}

/// Deadlines per protocol state, in milliseconds.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Timeouts {
    /// From accept to a complete handshake.
    pub handshake_ms: u64,
    /// The whole status exchange (request, response, ping, pong).
    pub status_ms: u64,
    /// The whole login state, from Login Start to Login Acknowledged, including
    /// the session-server call.
    pub login_ms: u64,
    /// The whole configuration state, until the Transfer.
    pub configuration_ms: u64,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            handshake_ms: 5_000,
            status_ms: 5_000,
            login_ms: 30_000,
            configuration_ms: 30_000,
        }
    }
}

impl Timeouts {
    pub fn handshake(&self) -> Duration {
        Duration::from_millis(self.handshake_ms)
    }
    pub fn status(&self) -> Duration {
        Duration::from_millis(self.status_ms)
    }
    pub fn login(&self) -> Duration {
        Duration::from_millis(self.login_ms)
    }
    pub fn configuration(&self) -> Duration {
        Duration::from_millis(self.configuration_ms)
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// Encryption and the Mojang session check (what public servers use).
    #[default]
    Online,
    /// No encryption, no session check; UUIDs derived from the name. Only behind
    /// something else that authenticates players.
    Offline,
}

/// How players are authenticated.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Auth {
    pub mode: AuthMode,
    /// Base URL of the session server (`/session/minecraft/hasJoined` is appended).
    pub session_server: String,
    /// Deadline of one `hasJoined` call.
    pub session_timeout_ms: u64,
    /// Send the client's IP to the session server (`prevent-proxy-connections`).
    pub send_client_ip: bool,
    /// Server id sent in the Encryption Request and hashed (vanilla: empty).
    pub server_id: String,
}

impl Default for Auth {
    fn default() -> Self {
        Auth {
            mode: AuthMode::Online,
            session_server: "https://sessionserver.mojang.com".to_owned(),
            session_timeout_ms: 5_000,
            send_client_ip: false,
            server_id: String::new(),
        }
    }
}

impl Auth {
    pub fn session_timeout(&self) -> Duration {
        Duration::from_millis(self.session_timeout_ms)
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Log {
    /// A tracing filter such as `info` or `passage=debug`; `RUST_LOG` wins when set.
    pub level: String,
    pub format: LogFormat,
}

impl Default for Log {
    fn default() -> Self {
        Log {
            level: "info".to_owned(),
            format: LogFormat::Text,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FallbackStatus {
    /// Plain text; `§` codes allowed.
    pub motd: String,
    pub version_name: String,
    pub online_players: u32,
    pub max_players: u32,
    /// A 64x64 PNG read at start-up.
    pub favicon_file: Option<PathBuf>,
}

impl Default for FallbackStatus {
    fn default() -> Self {
        FallbackStatus {
            motd: "A Minecraft network routed by Passage".to_owned(),
            version_name: "Passage 1.20.5-26.1".to_owned(),
            online_players: 0,
            max_players: 0,
            favicon_file: None,
        }
    }
}

/// Limits the host enforces on every plugin call.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PluginRuntime {
    /// Directory scanned for `*.wasm` at start-up.
    pub dir: PathBuf,
    /// Where compiled plugins are cached; default `$XDG_CACHE_HOME/passage` (or
    /// `~/.cache/passage`).
    pub cache_dir: Option<PathBuf>,
    /// Deadline for one plugin call.
    pub call_timeout_ms: u64,
    /// Linear-memory cap per plugin instance.
    pub memory_limit_mib: u64,
    /// Warm instances kept per plugin; calls beyond this wait for a free one.
    pub max_instances: usize,
}

impl Default for PluginRuntime {
    fn default() -> Self {
        PluginRuntime {
            dir: PathBuf::from("plugins"),
            cache_dir: None,
            call_timeout_ms: 100,
            memory_limit_mib: 64,
            max_instances: 8,
        }
    }
}

impl PluginRuntime {
    pub fn call_timeout(&self) -> Duration {
        Duration::from_millis(self.call_timeout_ms)
    }

    pub fn memory_limit_bytes(&self) -> usize {
        usize::try_from(self.memory_limit_mib.saturating_mul(1 << 20)).unwrap_or(usize::MAX)
    }

    pub fn cache_dir(&self) -> PathBuf {
        if let Some(dir) = &self.cache_dir {
            return dir.clone();
        }
        let base = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
            .unwrap_or_else(std::env::temp_dir);
        base.join("passage")
    }
}

impl Config {
    /// Reads and validates a file; errors name the file, the line and the key.
    pub fn load(path: &Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        Config::parse(&text).with_context(|| format!("invalid config file {}", path.display()))
    }

    pub fn parse(text: &str) -> anyhow::Result<Config> {
        let config: Config = toml::from_str(text).map_err(|e| anyhow::anyhow!("{e}"))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks what the types alone cannot; each error starts with the key's path.
    pub fn validate(&self) -> anyhow::Result<()> {
        let mut problems = Vec::new();
        let mut check = |ok: bool, key: &str, msg: &str| {
            if !ok {
                problems.push(format!("{key}: {msg}"));
            }
        };
        let t = &self.timeouts;
        for (key, value) in [
            ("timeouts.handshake_ms", t.handshake_ms),
            ("timeouts.status_ms", t.status_ms),
            ("timeouts.login_ms", t.login_ms),
            ("timeouts.configuration_ms", t.configuration_ms),
        ] {
            check(
                (1..=600_000).contains(&value),
                key,
                "must be between 1 and 600000",
            );
        }
        let a = &self.auth;
        check(
            a.session_server.starts_with("http://") || a.session_server.starts_with("https://"),
            "auth.session_server",
            "must be an http:// or https:// URL",
        );
        check(
            (1..=60_000).contains(&a.session_timeout_ms),
            "auth.session_timeout_ms",
            "must be between 1 and 60000",
        );
        check(
            a.server_id.len() <= 20 && a.server_id.is_ascii(),
            "auth.server_id",
            "must be at most 20 ASCII characters",
        );
        check(
            self.compression_threshold <= 1 << 20,
            "compression_threshold",
            "must be at most 1048576 (negative disables compression)",
        );
        check(
            (1..=30 * 24 * 3600).contains(&self.auth_cookie_expiry_secs),
            "auth_cookie_expiry_secs",
            "must be between 1 and 2592000 (30 days)",
        );
        let r = &self.plugin_runtime;
        check(
            (1..=60_000).contains(&r.call_timeout_ms),
            "plugin_runtime.call_timeout_ms",
            "must be between 1 and 60000",
        );
        check(
            (1..=4096).contains(&r.memory_limit_mib),
            "plugin_runtime.memory_limit_mib",
            "must be between 1 and 4096",
        );
        check(
            (1..=1024).contains(&r.max_instances),
            "plugin_runtime.max_instances",
            "must be between 1 and 1024",
        );
        check(
            tracing_subscriber::EnvFilter::try_new(&self.log.level).is_ok(),
            "log.level",
            "is not a valid filter (e.g. `info` or `passage=debug`)",
        );
        for name in self.plugins.keys() {
            check(
                is_plugin_name(name),
                &format!("plugins.{name}"),
                "a plugin name uses only a-z, 0-9, `-` and `_`",
            );
        }
        for (i, pack) in self.resource_packs.iter().enumerate() {
            let key = format!("resource_packs[{i}]");
            if !(pack.url.starts_with("https://") || pack.url.starts_with("http://"))
                || pack.url.len() > 32767
            {
                problems.push(format!("{key}.url: must be an http:// or https:// URL"));
            }
            if pack.hash.len() != 40 || !pack.hash.bytes().all(|b| b.is_ascii_hexdigit()) {
                problems.push(format!(
                    "{key}.hash: must be the pack's SHA-1 as 40 hex digits"
                ));
            }
        }
        if let Err(e) = crate::l10n::Messages::new(&self.messages) {
            problems.push(e.to_string());
        }
        if problems.is_empty() {
            Ok(())
        } else {
            bail!("{}", problems.join("\n"))
        }
    }

    /// A plugin's table as the JSON object its `configure` receives.
    pub fn plugin_config_json(&self, name: &str) -> String {
        match self.plugins.get(name) {
            Some(table) => serde_json::to_string(table).unwrap_or_else(|_| "{}".to_owned()),
            None => "{}".to_owned(),
        }
    }
}

/// Plugin names come from file names and appear in logs and config keys.
pub fn is_plugin_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_gives_defaults() {
        let c = Config::parse("").unwrap();
        assert_eq!(c.bind, "0.0.0.0:25565".parse().unwrap());
        assert_eq!(c.plugin_runtime.dir, PathBuf::from("plugins"));
        assert_eq!(c.plugin_config_json("fixed-status"), "{}");
    }

    #[test]
    fn plugin_tables_become_json() {
        let c = Config::parse(
            "[plugins.fixed-status]\nmotd = \"hi\"\nmax_players = 5\nsample = [\"a\"]\n",
        )
        .unwrap();
        let v: serde_json::Value =
            serde_json::from_str(&c.plugin_config_json("fixed-status")).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"motd": "hi", "max_players": 5, "sample": ["a"]})
        );
    }

    #[test]
    fn unknown_key_is_named() {
        let e = Config::parse("[timeouts]\nhandshake_sec = 5\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("handshake_sec"), "{e}");
    }

    #[test]
    fn wrong_type_is_named() {
        let e = Config::parse("bind = 5\n").unwrap_err().to_string();
        assert!(e.contains("bind"), "{e}");
    }

    #[test]
    fn out_of_range_values_are_named_with_their_path() {
        let e = Config::parse("[plugin_runtime]\ncall_timeout_ms = 0\nmax_instances = 0\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("plugin_runtime.call_timeout_ms"), "{e}");
        assert!(e.contains("plugin_runtime.max_instances"), "{e}");
    }

    #[test]
    fn bad_plugin_name_is_named() {
        let e = Config::parse("[plugins.\"Bad Name\"]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("plugins.Bad Name"), "{e}");
    }
}

#[cfg(test)]
mod shipped_files {
    use super::Config;

    #[test]
    fn example_and_run_configs_are_valid() {
        Config::parse(include_str!("../../config/passage.example.toml")).unwrap();
        Config::parse(include_str!("../../config/passage.toml")).unwrap();
    }
}
