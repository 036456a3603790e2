//! The configuration: schema with defaults, loading from a file and the
//! environment, and validation that names every problem with the key's path.

pub mod env;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::net::rate_limit::{MAX_RATE, MIN_RATE};

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
    /// How long an authentication cookie lets a player skip the session server
    /// after it was last issued (every transfer refreshes it).
    pub auth_cookie_expiry_secs: u64,
    /// How long refreshes can carry a cookie Passage minted without a new
    /// session check: its `extra.passage.verified_at` is at most this old.
    pub auth_cookie_max_age_secs: u64,
    /// Refuse cookies that carry no Passage record (minted by the reference
    /// router or a backend) instead of judging them by the seed's rules alone.
    pub auth_cookie_strict: bool,
    /// Packet compression threshold in bytes from Login on; negative disables it.
    pub compression_threshold: i32,
    pub log: Log,
    /// The status answered when no status plugin answers.
    pub status: FallbackStatus,
    pub plugin_runtime: PluginRuntime,
    pub routing: Routing,
    pub metrics: Metrics,
    pub limits: Limits,
    pub proxy_protocol: ProxyProtocol,
    pub shutdown: Shutdown,
    /// OpenTelemetry export of traces and metrics; off unless an endpoint is set.
    pub telemetry: Telemetry,
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
            auth_cookie_max_age_secs: 24 * 60 * 60,
            auth_cookie_strict: false,
            compression_threshold: -1,
            log: Log::default(),
            status: FallbackStatus::default(),
            plugin_runtime: PluginRuntime::default(),
            routing: Routing::default(),
            metrics: Metrics::default(),
            limits: Limits::default(),
            proxy_protocol: ProxyProtocol::default(),
            shutdown: Shutdown::default(),
            telemetry: Telemetry::default(),
            resource_packs: Vec::new(),
            messages: BTreeMap::new(),
            plugins: BTreeMap::new(),
        }
    }
}

/// Which plugins route players.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Routing {
    /// The strategy (or router) plugin that picks targets. May be left out when
    /// exactly one is loaded.
    pub strategy: Option<String>,
    /// Strategy (or router) plugin per handshake host name, overriding `strategy`:
    /// `"eu.example.com" = "eu-fill"`; `"*.example.com"` matches any subdomain.
    /// The most specific pattern wins.
    pub hosts: BTreeMap<String, String>,
    /// Used when the chosen strategy fails (trap, deadline, error, or backing off
    /// after repeated failures). Without it, the player gets the "routing failed"
    /// message.
    pub fallback_strategy: Option<String>,
    /// The admission plugins asked, in this order (the first deny wins). Left
    /// out: every loaded admission plugin, in file-name order.
    pub admission: Option<Vec<String>>,
    /// How long a player may be held when plugins answer "wait" (from the first
    /// such answer) before the host gives up with its own message.
    pub max_wait_ms: u64,
}

impl Default for Routing {
    fn default() -> Self {
        Routing {
            strategy: None,
            hosts: BTreeMap::new(),
            fallback_strategy: None,
            admission: None,
            max_wait_ms: 60_000,
        }
    }
}

impl Routing {
    pub fn max_wait(&self) -> Duration {
        Duration::from_millis(self.max_wait_ms)
    }
}

/// One `[[resource_packs]]` entry.
#[derive(Debug, Clone, PartialEq, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Deserialize)]
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
    /// How often a client waiting in configuration (resource packs, routing)
    /// hears a Keep Alive: vanilla clients give up after about 15 s of silence.
    pub keep_alive_ms: u64,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            handshake_ms: 5_000,
            status_ms: 5_000,
            login_ms: 30_000,
            configuration_ms: 30_000,
            keep_alive_ms: 2_000,
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
    pub fn keep_alive(&self) -> Duration {
        Duration::from_millis(self.keep_alive_ms)
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
#[derive(Debug, Clone, PartialEq, Deserialize)]
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

#[derive(Debug, Clone, PartialEq, Deserialize)]
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

/// `[telemetry]`: OpenTelemetry. Nothing is exported (and nothing costs
/// anything) unless `otlp_endpoint` is set.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Telemetry {
    /// Base URL of an OTLP/HTTP receiver (an OpenTelemetry Collector, or a
    /// vendor's), e.g. `http://otel-collector:4318`: traces go to `/v1/traces`,
    /// metrics to `/v1/metrics`. Protobuf encoding.
    pub otlp_endpoint: Option<String>,
    /// Export a trace per connection.
    pub traces: bool,
    /// Export the metrics of `/metrics` too.
    pub metrics: bool,
    /// How often spans are sent in batches and metrics pushed.
    pub export_interval_ms: u64,
    /// The share of connections traced, 0.0..=1.0 (by trace id, so a sampled
    /// trace is whole).
    pub sample_ratio: f64,
    /// `service.name` of the resource; replicas tell themselves apart by
    /// `service.instance.id` (the host name).
    pub service_name: String,
    /// How client addresses appear in spans: `network` (the /24 of an IPv4, the
    /// /48 of an IPv6: enough to see an abusive network, not a person), `full`,
    /// or `omit`. Logs are not affected.
    pub client_ip: ClientIpInTraces,
    /// A file of `name: value` lines sent as headers with every export (a
    /// vendor's API key), read at start-up. `OTEL_EXPORTER_OTLP_HEADERS` works too.
    pub headers_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientIpInTraces {
    Omit,
    Network,
    Full,
}

impl Default for Telemetry {
    fn default() -> Self {
        Telemetry {
            otlp_endpoint: None,
            traces: true,
            metrics: true,
            export_interval_ms: 5_000,
            sample_ratio: 1.0,
            service_name: "passage".to_owned(),
            client_ip: ClientIpInTraces::Network,
            headers_file: None,
        }
    }
}

impl Telemetry {
    pub fn export_interval(&self) -> Duration {
        Duration::from_millis(self.export_interval_ms)
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
#[derive(Debug, Clone, PartialEq, Deserialize)]
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
    /// Reload plugins when a `.wasm` in `dir` or the configuration file changes
    /// (SIGHUP always reloads).
    pub watch: bool,
    /// Failed calls in a row (trap, deadline, memory cap) after which a plugin is
    /// marked unhealthy and not called until its back-off passes.
    pub failure_threshold: u32,
    /// Longest back-off of an unhealthy plugin; it starts at one second and doubles.
    pub max_backoff_ms: u64,
    /// What the operator grants each plugin, by plugin name: limits that replace the
    /// defaults above, and capabilities (outbound HTTP, key-value buckets). Never
    /// taken from the plugin.
    pub grants: BTreeMap<String, Grant>,
    /// Minisign public keys (the `RW…` line of a `.pub` file) whose detached
    /// signatures (`<name>.wasm.minisig`) are trusted.
    pub trusted_keys: Vec<String>,
    /// What an unsigned plugin, or one signed by a key not in `trusted_keys`,
    /// gets: `off` (signatures are not read), `warn` (loaded with a WARN) or
    /// `require` (refused). A signature by a trusted key that does not match its
    /// file is refused under `warn` and `require`.
    pub signatures: SignaturePolicy,
    /// Plugins named by OCI reference (`<name> = "registry/repo:tag"`), pulled
    /// into `dir` at start-up when `<name>.wasm` is missing there.
    pub pull: BTreeMap<String, String>,
    /// The store behind the key-value buckets plugins are granted.
    pub keyvalue: KeyValue,
}

/// `plugin_runtime.signatures`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SignaturePolicy {
    Off,
    /// The default: every plugin that loaded before keeps loading, and the log
    /// says which ones are unsigned.
    #[default]
    Warn,
    Require,
}

/// `[plugin_runtime.keyvalue]`: where granted buckets live. Without a `url`,
/// in this process's memory (one replica; lost at exit). With one, on a
/// Redis or Valkey server every replica shares.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeyValue {
    /// `redis://host:6379/0`, or `rediss://host:6380/0` for TLS. No password
    /// in it: see `password_file` and `password_env`.
    pub url: Option<String>,
    /// An ACL user name, when the server has users (Redis 6+).
    pub username: Option<String>,
    /// A file holding the password (a Kubernetes Secret mounted as a file);
    /// surrounding whitespace is trimmed.
    pub password_file: Option<PathBuf>,
    /// The name of an environment variable holding the password.
    pub password_env: Option<String>,
    /// PEM file of the CA that signed the server's certificate (`rediss://` to
    /// a server not signed by a public CA).
    pub ca_file: Option<PathBuf>,
    /// Longest wait for one key-value operation; a plugin's operation is also
    /// cut at half its call deadline, so a store that does not answer fails the
    /// operation inside the plugin, not the plugin's call.
    pub timeout_ms: u64,
    /// `/readyz` answers "not ready" while the store cannot be reached. Off by
    /// default: plugins decide what a store outage means for players.
    pub ready_requires_store: bool,
    /// The in-memory store's cap on keys and values, all buckets together.
    pub memory_limit_mib: u64,
}

impl Default for KeyValue {
    fn default() -> Self {
        KeyValue {
            url: None,
            username: None,
            password_file: None,
            password_env: None,
            ca_file: None,
            timeout_ms: 50,
            ready_requires_store: false,
            memory_limit_mib: 64,
        }
    }
}

impl KeyValue {
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    /// Why `url` is not one to connect to, if it is not.
    fn url_problem(url: &str) -> Option<String> {
        let Some((scheme, rest)) = url.split_once("://") else {
            return Some("must be a redis:// or rediss:// URL".to_owned());
        };
        if scheme != "redis" && scheme != "rediss" {
            return Some("must be a redis:// or rediss:// URL".to_owned());
        }
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        if let Some((userinfo, _)) = authority.rsplit_once('@')
            && userinfo.contains(':')
        {
            return Some(
                "holds a password: give it in plugin_runtime.keyvalue.password_file or \
                 password_env instead, never in the configuration text"
                    .to_owned(),
            );
        }
        let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        if host.is_empty() {
            return Some("names no host".to_owned());
        }
        None
    }
}

/// `[plugin_runtime.grants.<name>]`: one plugin's limits and capabilities.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Grant {
    pub call_timeout_ms: Option<u64>,
    pub memory_limit_mib: Option<u64>,
    pub max_instances: Option<usize>,
    /// Hosts the plugin may send HTTP requests to through `wasi:http`: `host` or
    /// `host:port` (any port when none is given). Empty: no outbound HTTP at all.
    /// A name is reached only at the public addresses it resolves to; an IP
    /// address is reached as written, private or not.
    pub http_allow: Vec<String>,
    /// Let names in `http_allow` resolve to loopback, private (RFC 1918, ULA),
    /// link-local and other non-public addresses too.
    pub allow_private_networks: bool,
    /// The SHA-256 (64 hex digits) of the one build of the plugin these grants are
    /// for: a file with another digest is refused (`passage plugin lock` writes it).
    pub sha256: Option<String>,
    /// Key-value buckets the plugin may open (`wasi:keyvalue/store.open`).
    /// Empty: none. Two plugins share a bucket only when both name it.
    pub keyvalue: Vec<String>,
}

impl Default for PluginRuntime {
    fn default() -> Self {
        PluginRuntime {
            dir: PathBuf::from("plugins"),
            cache_dir: None,
            call_timeout_ms: 100,
            memory_limit_mib: 64,
            max_instances: 8,
            watch: true,
            failure_threshold: 3,
            max_backoff_ms: 60_000,
            grants: BTreeMap::new(),
            trusted_keys: Vec::new(),
            signatures: SignaturePolicy::default(),
            pull: BTreeMap::new(),
            keyvalue: KeyValue::default(),
        }
    }
}

/// The limits and capabilities in effect for one plugin: its grant over the defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginLimits {
    pub call_timeout: Duration,
    pub memory_limit: usize,
    pub max_instances: usize,
    pub http_allow: Vec<String>,
    pub allow_private_networks: bool,
    /// Key-value buckets it may open.
    pub keyvalue: Vec<String>,
    pub failure_threshold: u32,
    pub max_backoff: Duration,
}

impl PluginRuntime {
    /// The grant of plugin `name`, whatever its `-`/`_` spelling in the file.
    pub fn grant(&self, name: &str) -> Option<&Grant> {
        self.grants.get(name).or_else(|| {
            self.grants
                .iter()
                .find(|(n, _)| same_plugin_name(n, name))
                .map(|(_, g)| g)
        })
    }

    /// What plugin `name` runs under.
    pub fn limits_for(&self, name: &str) -> PluginLimits {
        let grant = self.grant(name).cloned().unwrap_or_default();
        PluginLimits {
            call_timeout: Duration::from_millis(
                grant.call_timeout_ms.unwrap_or(self.call_timeout_ms),
            ),
            memory_limit: mib_to_bytes(grant.memory_limit_mib.unwrap_or(self.memory_limit_mib)),
            max_instances: grant.max_instances.unwrap_or(self.max_instances),
            http_allow: grant.http_allow,
            allow_private_networks: grant.allow_private_networks,
            keyvalue: grant.keyvalue,
            failure_threshold: self.failure_threshold,
            max_backoff: Duration::from_millis(self.max_backoff_ms),
        }
    }

    /// Where compiled plugins are cached: `cache_dir`, else
    /// `$XDG_CACHE_HOME/passage`, else `~/.cache/passage`; `None` without any of
    /// them (never the shared temporary directory, where anyone could plant an
    /// entry first).
    pub fn cache_dir(&self) -> Option<PathBuf> {
        if let Some(dir) = &self.cache_dir {
            return Some(dir.clone());
        }
        let nonempty = |var| std::env::var_os(var).filter(|v| !v.is_empty());
        nonempty("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| nonempty("HOME").map(|h| PathBuf::from(h).join(".cache")))
            .map(|base| base.join("passage"))
    }
}

/// The HTTP endpoint for Prometheus and health probes.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Metrics {
    /// Address of `/metrics`, `/healthz` and `/readyz`; `""` or `"off"` disables
    /// the endpoint.
    pub bind: String,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            bind: "127.0.0.1:9464".to_owned(),
        }
    }
}

impl Metrics {
    /// The address to serve on, `None` when disabled. Valid after [`Config::validate`].
    pub fn addr(&self) -> Option<SocketAddr> {
        self.bind.parse().ok()
    }

    pub fn disabled(&self) -> bool {
        self.bind.is_empty() || self.bind == "off"
    }
}

/// Protection against floods: connection cap and per-client-address rate limits.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Connections served at once. When they are all taken, the one cheapest to
    /// lose (the oldest without a completed handshake, else one of the address
    /// holding the most) gives its slot to the newcomer; only when there is
    /// none is the newcomer closed at accept.
    pub max_connections: usize,
    /// Connections one client address (IPv6: one /64; behind the PROXY
    /// protocol, the address the header carries) holds at once, counted from
    /// accept, before the handshake; 0 disables. Many players share an address
    /// behind a NAT, but each login holds its connection for well under a
    /// second, so a few dozen at once is already a crowd.
    pub max_connections_per_address: usize,
    /// Client addresses (IPv6: /64 prefixes) whose budgets are remembered; past
    /// this the ones closest to a full budget are forgotten first.
    pub tracked_addresses: usize,
    /// Status pings per second per client address, refilled continuously; 0 disables.
    pub status_per_second: f64,
    /// Status pings a client address may send at once.
    pub status_burst: u32,
    /// Logins (and transfers in) per second per client address; 0 disables.
    pub login_per_second: f64,
    pub login_burst: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 10_000,
            max_connections_per_address: 64,
            tracked_addresses: 100_000,
            status_per_second: 20.0,
            status_burst: 40,
            login_per_second: 2.0,
            login_burst: 10,
        }
    }
}

/// HAProxy PROXY protocol (v1 and v2) in front of the Minecraft listener.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProxyProtocol {
    /// Off by default: with it on, every connection from a trusted network must
    /// start with a PROXY header.
    pub enabled: bool,
    /// Networks (CIDR, or single addresses) of the proxies allowed to send the
    /// header. Connections from elsewhere are refused while enabled.
    pub trusted_networks: Vec<String>,
    /// Deadline for the header, from accept.
    pub header_timeout_ms: u64,
}

impl Default for ProxyProtocol {
    fn default() -> Self {
        ProxyProtocol {
            enabled: false,
            trusted_networks: Vec::new(),
            header_timeout_ms: 3_000,
        }
    }
}

/// What SIGTERM and SIGINT do.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Shutdown {
    /// How long connections in flight may take to finish after the signal.
    pub drain_timeout_ms: u64,
}

impl Default for Shutdown {
    fn default() -> Self {
        Shutdown {
            drain_timeout_ms: 25_000,
        }
    }
}

impl Config {
    /// What a returned authentication cookie must meet beyond the seed's rules.
    pub fn cookie_policy(&self) -> crate::auth::cookie::CookiePolicy {
        crate::auth::cookie::CookiePolicy {
            online: self.auth.mode == AuthMode::Online,
            max_age_secs: self.auth_cookie_max_age_secs,
            strict: self.auth_cookie_strict,
        }
    }

    /// Reads a file and applies the environment's overrides; every problem found is
    /// reported, each naming its key (and the variable it came from).
    pub fn load(
        path: Option<&Path>,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Loaded, Problems> {
        let text = match path {
            Some(path) => std::fs::read_to_string(path).map_err(|e| {
                Problems(vec![format!(
                    "cannot read config file {}: {e}",
                    path.display()
                )])
            })?,
            None => String::new(),
        };
        Config::from_sources(&text, vars).map_err(|mut p| {
            if let Some(path) = path {
                p.0.insert(0, format!("invalid configuration in {}:", path.display()));
            }
            p
        })
    }

    /// A file's text alone, without the environment (tests, shipped examples).
    pub fn parse(text: &str) -> Result<Config, Problems> {
        Config::from_sources(text, std::iter::empty()).map(|l| l.config)
    }

    /// `text` (TOML) with the overrides among `vars` applied on top.
    ///
    /// Every leaf key is checked on its own, so one bad key does not hide the
    /// next. An override whose text parses as a TOML value of the wrong type for
    /// its key is retried as a plain string (`PASSAGE_STATUS__MOTD=1234`).
    pub fn from_sources(
        text: &str,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Loaded, Problems> {
        let mut doc: toml::Table = text.parse().map_err(|e| Problems(vec![format!("{e}")]))?;
        let overrides =
            env::collect(vars).map_err(|e| Problems(e.lines().map(str::to_owned).collect()))?;
        let mut from_env: BTreeMap<Vec<String>, &env::Override> = BTreeMap::new();
        let mut problems = Vec::new();
        for ov in &overrides {
            match env::apply(&mut doc, ov) {
                Ok(path) => {
                    from_env.insert(path, ov);
                }
                Err(e) => problems.push(e),
            }
        }

        let mut leaves = Vec::new();
        collect_leaves(&doc, &mut Vec::new(), &mut leaves);
        for path in leaves {
            let Err(e) = check_leaf(&doc, &path) else {
                continue;
            };
            let origin = from_env.get(&path);
            if let Some(ov) = origin {
                let as_text = toml::Value::String(ov.raw.clone());
                if !matches!(env::value_at(&doc, &path), Some(toml::Value::String(_))) {
                    set_leaf(&mut doc, &path, as_text);
                    if check_leaf(&doc, &path).is_ok() {
                        continue;
                    }
                }
            }
            let via = origin
                .map(|ov| format!(" (from {})", ov.var))
                .unwrap_or_default();
            problems.push(format!("{}{via}: {e}", path.join(".")));
        }
        if !problems.is_empty() {
            return Err(Problems(problems));
        }
        let config = Config::deserialize(toml::Value::Table(doc))
            .map_err(|e| Problems(vec![e.to_string()]))?;
        let problems = config.problems();
        if !problems.is_empty() {
            return Err(Problems(problems));
        }
        Ok(Loaded { config, overrides })
    }

    /// Checks what the types alone cannot; each problem starts with the key's path.
    pub fn validate(&self) -> Result<(), Problems> {
        let problems = self.problems();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Problems(problems))
        }
    }

    fn problems(&self) -> Vec<String> {
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
        check(
            (1..=3_600_000).contains(&self.routing.max_wait_ms),
            "routing.max_wait_ms",
            "must be between 1 and 3600000",
        );
        check(
            (10..=10_000).contains(&t.keep_alive_ms),
            "timeouts.keep_alive_ms",
            "must be between 10 and 10000 (a client gives up after about 15 s of silence)",
        );
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
            (60..=30 * 24 * 3600).contains(&self.auth_cookie_max_age_secs),
            "auth_cookie_max_age_secs",
            "must be between 60 and 2592000 (30 days)",
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
            (1..=1000).contains(&r.failure_threshold),
            "plugin_runtime.failure_threshold",
            "must be between 1 and 1000",
        );
        check(
            (1_000..=3_600_000).contains(&r.max_backoff_ms),
            "plugin_runtime.max_backoff_ms",
            "must be between 1000 and 3600000",
        );
        for (name, g) in &r.grants {
            let key = format!("plugin_runtime.grants.{name}");
            check(
                is_plugin_name(name),
                &key,
                "a plugin name uses only a-z, 0-9, `-` and `_`",
            );
            if let Some(ms) = g.call_timeout_ms {
                check(
                    (1..=60_000).contains(&ms),
                    &format!("{key}.call_timeout_ms"),
                    "must be between 1 and 60000",
                );
            }
            if let Some(mib) = g.memory_limit_mib {
                check(
                    (1..=4096).contains(&mib),
                    &format!("{key}.memory_limit_mib"),
                    "must be between 1 and 4096",
                );
            }
            if let Some(n) = g.max_instances {
                check(
                    (1..=1024).contains(&n),
                    &format!("{key}.max_instances"),
                    "must be between 1 and 1024",
                );
            }
            for (i, bucket) in g.keyvalue.iter().enumerate() {
                check(
                    is_bucket_name(bucket),
                    &format!("{key}.keyvalue[{i}]"),
                    "a bucket name uses only a-z, 0-9, `-` and `_` (at most 64)",
                );
            }
            for (i, host) in g.http_allow.iter().enumerate() {
                let parsed = crate::plugins::http_grant::HostPattern::parse(host);
                check(
                    parsed.is_ok(),
                    &format!("{key}.http_allow[{i}]"),
                    &parsed.err().unwrap_or_default(),
                );
            }
            if let Some(pin) = &g.sha256 {
                check(
                    pin.len() == 64 && pin.bytes().all(|b| b.is_ascii_hexdigit()),
                    &format!("{key}.sha256"),
                    "must be the plugin file's SHA-256 as 64 hex digits (`passage plugin lock` writes it)",
                );
            }
        }
        for (i, text) in r.trusted_keys.iter().enumerate() {
            let parsed = crate::plugins::signature::TrustedKey::parse(text);
            check(
                parsed.is_ok(),
                &format!("plugin_runtime.trusted_keys[{i}]"),
                &parsed.err().map(|e| format!("{e:#}")).unwrap_or_default(),
            );
        }
        check(
            r.signatures != SignaturePolicy::Require || !r.trusted_keys.is_empty(),
            "plugin_runtime.signatures",
            "`require` needs at least one key in plugin_runtime.trusted_keys",
        );
        for (name, reference) in &r.pull {
            let key = format!("plugin_runtime.pull.{name}");
            check(
                is_plugin_name(name),
                &key,
                "a plugin name uses only a-z, 0-9, `-` and `_`",
            );
            let parsed = reference.parse::<crate::oci::Reference>();
            check(
                parsed.is_ok(),
                &key,
                &parsed.err().map(|e| format!("{e:#}")).unwrap_or_default(),
            );
        }
        let kv = &r.keyvalue;
        if let Some(url) = &kv.url {
            let why = KeyValue::url_problem(url);
            check(
                why.is_none(),
                "plugin_runtime.keyvalue.url",
                why.as_deref().unwrap_or_default(),
            );
        }
        check(
            kv.password_file.is_none() || kv.password_env.is_none(),
            "plugin_runtime.keyvalue.password_env",
            "give password_file or password_env, not both",
        );
        for (key, set) in [
            ("plugin_runtime.keyvalue.username", kv.username.is_some()),
            (
                "plugin_runtime.keyvalue.password_file",
                kv.password_file.is_some(),
            ),
            (
                "plugin_runtime.keyvalue.password_env",
                kv.password_env.is_some(),
            ),
            ("plugin_runtime.keyvalue.ca_file", kv.ca_file.is_some()),
        ] {
            check(
                !set || kv.url.is_some(),
                key,
                "only used with a url (the in-memory store has none)",
            );
        }
        if let Some(var) = &kv.password_env {
            check(
                !var.is_empty() && !var.contains('='),
                "plugin_runtime.keyvalue.password_env",
                "must name an environment variable",
            );
        }
        check(
            (1..=10_000).contains(&kv.timeout_ms),
            "plugin_runtime.keyvalue.timeout_ms",
            "must be between 1 and 10000",
        );
        check(
            (1..=4096).contains(&kv.memory_limit_mib),
            "plugin_runtime.keyvalue.memory_limit_mib",
            "must be between 1 and 4096",
        );
        for (pattern, strategy) in &self.routing.hosts {
            let key = format!("routing.hosts.\"{pattern}\"");
            check(
                crate::routing::valid_host_pattern(pattern),
                &key,
                "must be a host name, or `*.` followed by one (lower case)",
            );
            check(
                is_plugin_name(strategy),
                &key,
                "must name a plugin (a-z, 0-9, `-` and `_`)",
            );
        }
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
        if !self.metrics.disabled() && self.metrics.addr().is_none() {
            problems.push("metrics.bind: must be IP:PORT, or \"off\" to disable".to_owned());
        }
        let l = &self.limits;
        for (key, ok) in [
            (
                "limits.max_connections",
                (1..=1_000_000).contains(&l.max_connections),
            ),
            (
                "limits.tracked_addresses",
                (16..=10_000_000).contains(&l.tracked_addresses),
            ),
            (
                "limits.max_connections_per_address",
                l.max_connections_per_address <= 1_000_000,
            ),
        ] {
            if !ok {
                problems.push(format!("{key}: out of range (max_connections 1..=1000000, tracked_addresses 16..=10000000, max_connections_per_address 0..=1000000)"));
            }
        }
        for (key, rate, burst_key, burst) in [
            (
                "limits.status_per_second",
                l.status_per_second,
                "limits.status_burst",
                l.status_burst,
            ),
            (
                "limits.login_per_second",
                l.login_per_second,
                "limits.login_burst",
                l.login_burst,
            ),
        ] {
            // The limiter's own bounds, so the check and the limiter cannot disagree.
            if !(rate == 0.0 || (MIN_RATE..=MAX_RATE).contains(&rate)) {
                problems.push(format!(
                    "{key}: must be 0 (no limit) or between {MIN_RATE} and {MAX_RATE}"
                ));
            }
            if rate > 0.0 && burst == 0 {
                problems.push(format!("{burst_key}: must be at least 1 when {key} is set"));
            }
        }
        let p = &self.proxy_protocol;
        if let Err(e) = crate::net::trusted_networks::TrustedNetworks::parse(&p.trusted_networks) {
            for line in e.lines() {
                problems.push(format!("proxy_protocol.trusted_networks{line}"));
            }
        } else if p.enabled && p.trusted_networks.is_empty() {
            problems.push("proxy_protocol.trusted_networks: must list the proxies' networks when proxy_protocol.enabled is true".to_owned());
        }
        if !(1..=60_000).contains(&p.header_timeout_ms) {
            problems
                .push("proxy_protocol.header_timeout_ms: must be between 1 and 60000".to_owned());
        }
        if !(0..=3_600_000).contains(&self.shutdown.drain_timeout_ms) {
            problems.push("shutdown.drain_timeout_ms: must be between 0 and 3600000".to_owned());
        }
        let t = &self.telemetry;
        if let Some(endpoint) = &t.otlp_endpoint
            && !(endpoint.starts_with("http://") || endpoint.starts_with("https://"))
        {
            problems.push(
                "telemetry.otlp_endpoint: must be an http:// or https:// URL (the OTLP/HTTP receiver, e.g. http://otel-collector:4318)"
                    .to_owned(),
            );
        }
        if !(100..=600_000).contains(&t.export_interval_ms) {
            problems
                .push("telemetry.export_interval_ms: must be between 100 and 600000".to_owned());
        }
        if !(0.0..=1.0).contains(&t.sample_ratio) {
            problems.push("telemetry.sample_ratio: must be between 0.0 and 1.0".to_owned());
        }
        if t.service_name.trim().is_empty() {
            problems.push("telemetry.service_name: must not be empty".to_owned());
        }
        problems
    }

    /// A plugin's table as the JSON object its `configure` receives.
    pub fn plugin_config_json(&self, name: &str) -> String {
        match self.plugins.get(name) {
            Some(table) => serde_json::to_string(table).unwrap_or_else(|_| "{}".to_owned()),
            None => "{}".to_owned(),
        }
    }
}

/// A configuration and the environment overrides that went into it.
#[derive(Debug)]
pub struct Loaded {
    pub config: Config,
    pub overrides: Vec<env::Override>,
}

/// Every problem found in a configuration, one per line, each starting with the
/// key's path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problems(pub Vec<String>);

impl std::fmt::Display for Problems {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join("\n"))
    }
}

impl std::error::Error for Problems {}

/// Paths of the keys to check one by one: values, arrays (checked whole) and each
/// plugin's table (free-form: the plugin itself judges it).
fn collect_leaves(table: &toml::Table, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    for (key, value) in table {
        prefix.push(key.clone());
        let is_plugin_table = prefix.len() == 2 && prefix[0] == "plugins";
        match value {
            toml::Value::Table(inner) if !is_plugin_table && !inner.is_empty() => {
                collect_leaves(inner, prefix, out)
            }
            _ => out.push(prefix.clone()),
        }
        prefix.pop();
    }
}

/// Deserializes a configuration holding only the key at `path` (everything else
/// default), so the error, if any, belongs to that key.
fn check_leaf(doc: &toml::Table, path: &[String]) -> Result<(), String> {
    let Some(value) = env::value_at(doc, path) else {
        return Ok(());
    };
    let mut alone = toml::Table::new();
    set_leaf(&mut alone, path, value.clone());
    Config::deserialize(toml::Value::Table(alone))
        .map(|_| ())
        .map_err(|e| e.to_string())
}

fn set_leaf(doc: &mut toml::Table, path: &[String], value: toml::Value) {
    let Some((last, tables)) = path.split_last() else {
        return;
    };
    if let Ok(table) = env::table_mut(doc, tables) {
        table.insert(last.clone(), value);
    }
}

fn mib_to_bytes(mib: u64) -> usize {
    usize::try_from(mib.saturating_mul(1 << 20)).unwrap_or(usize::MAX)
}

/// Whether two spellings name the same plugin: `-` and `_` are interchangeable,
/// since environment variable names cannot hold a `-`.
pub fn same_plugin_name(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .all(|(x, y)| x == y || (matches!(x, b'-' | b'_') && matches!(y, b'-' | b'_')))
}

/// Bucket names appear in Redis keys (`passage:kv:<bucket>:<key>`), logs and
/// metrics: the same alphabet as plugin names, so a bucket cannot reach into
/// another's keys.
pub fn is_bucket_name(name: &str) -> bool {
    is_plugin_name(name)
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
    fn plugin_names_match_whatever_their_dashes() {
        assert!(same_plugin_name("http-discovery", "http_discovery"));
        assert!(same_plugin_name("a-b_c", "a_b-c"));
        assert!(!same_plugin_name("http-discovery", "httpdiscovery"));
        assert!(!same_plugin_name("ab", "a-"));
    }

    #[test]
    fn grants_override_the_defaults_for_their_plugin_only() {
        let c = Config::parse(
            "[plugin_runtime]\ncall_timeout_ms = 100\n\
             [plugin_runtime.grants.http_discovery]\ncall_timeout_ms = 2000\nhttp_allow = [\"a.example:8080\"]\n",
        )
        .unwrap();
        let granted = c.plugin_runtime.limits_for("http-discovery");
        assert_eq!(granted.call_timeout, Duration::from_millis(2000));
        assert_eq!(granted.http_allow, ["a.example:8080"]);
        assert_eq!(granted.memory_limit, 64 << 20);
        let other = c.plugin_runtime.limits_for("fixed-status");
        assert_eq!(other.call_timeout, Duration::from_millis(100));
        assert!(other.http_allow.is_empty());
    }

    #[test]
    fn keyvalue_grants_and_store_settings_are_checked() {
        let c = Config::parse(
            "[plugin_runtime.grants.seats]\nkeyvalue = [\"seats\", \"lines\"]\n\
             [plugin_runtime.keyvalue]\nurl = \"rediss://user@redis.example:6380/0\"\npassword_env = \"REDIS_PASSWORD\"\n",
        )
        .unwrap();
        assert_eq!(
            c.plugin_runtime.limits_for("seats").keyvalue,
            ["seats", "lines"]
        );
        assert!(c.plugin_runtime.limits_for("other").keyvalue.is_empty());
        assert_eq!(
            c.plugin_runtime.keyvalue.timeout(),
            Duration::from_millis(50)
        );
        let e = Config::parse(
            "[plugin_runtime.grants.seats]\nkeyvalue = [\"Seats:x\"]\n\
             [plugin_runtime.keyvalue]\nurl = \"redis://:hunter2@redis:6379\"\n\
             password_file = \"/run/pw\"\npassword_env = \"PW\"\ntimeout_ms = 0\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("plugin_runtime.grants.seats.keyvalue[0]"), "{e}");
        assert!(
            e.contains("plugin_runtime.keyvalue.url: holds a password: give it in"),
            "{e}"
        );
        assert!(!e.contains("hunter2"), "the password is not repeated: {e}");
        assert!(e.contains("not both"), "{e}");
        assert!(e.contains("plugin_runtime.keyvalue.timeout_ms"), "{e}");
        for bad in ["http://redis:6379", "redis://", "unix:///tmp/redis.sock"] {
            let e = Config::parse(&format!("[plugin_runtime.keyvalue]\nurl = \"{bad}\"\n"))
                .unwrap_err()
                .to_string();
            assert!(e.contains("plugin_runtime.keyvalue.url"), "{bad}: {e}");
        }
        let e = Config::parse("[plugin_runtime.keyvalue]\npassword_env = \"PW\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("only used with a url"), "{e}");
    }

    #[test]
    fn bad_grants_and_routing_hosts_are_reported_by_key() {
        let e = Config::parse(
            "[plugin_runtime.grants.x]\ncall_timeout_ms = 0\nhttp_allow = [\"http://x/\"]\n\
             [routing.hosts]\n\"EU.example.com\" = \"fill\"\n\"*.ok.example.com\" = \"Bad Name\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("plugin_runtime.grants.x.call_timeout_ms"), "{e}");
        assert!(e.contains("plugin_runtime.grants.x.http_allow[0]"), "{e}");
        assert!(e.contains("routing.hosts.\"EU.example.com\""), "{e}");
        assert!(
            e.contains("routing.hosts.\"*.ok.example.com\": must name a plugin"),
            "{e}"
        );
    }

    fn env(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn environment_overrides_nested_multi_word_keys() {
        let file =
            "[plugin_runtime]\ncall_timeout_ms = 50\n[plugins.fixed-status]\nmax_players = 5\n";
        let loaded = Config::from_sources(
            file,
            env(&[
                ("PASSAGE_PLUGIN_RUNTIME__CALL_TIMEOUT_MS", "250"),
                ("PASSAGE_PLUGINS__FIXED_STATUS__MAX_PLAYERS", "900"),
                ("PASSAGE_AUTH_COOKIE_EXPIRY_SECS", "60"),
                (
                    "PASSAGE_PROXY_PROTOCOL__TRUSTED_NETWORKS",
                    r#"["10.0.0.0/8", "fd00::/8"]"#,
                ),
                ("PASSAGE_PROXY_PROTOCOL__ENABLED", "true"),
                ("PASSAGE_LIMITS__STATUS_PER_SECOND", "7.5"),
                ("PASSAGE_LIMITS__LOGIN_PER_SECOND", "3"),
                ("PASSAGE_METRICS__BIND", "0.0.0.0:9100"),
            ]),
        )
        .unwrap();
        let c = loaded.config;
        assert_eq!(c.plugin_runtime.call_timeout_ms, 250);
        assert_eq!(c.auth_cookie_expiry_secs, 60);
        assert!(c.proxy_protocol.enabled);
        assert_eq!(
            c.proxy_protocol.trusted_networks,
            ["10.0.0.0/8", "fd00::/8"]
        );
        assert_eq!(c.limits.status_per_second, 7.5);
        // An integer where a float is expected is fine, as in the file.
        assert_eq!(c.limits.login_per_second, 3.0);
        assert_eq!(c.metrics.addr(), Some("0.0.0.0:9100".parse().unwrap()));
        let v: serde_json::Value =
            serde_json::from_str(&c.plugin_config_json("fixed-status")).unwrap();
        assert_eq!(v["max_players"], 900);
        assert_eq!(loaded.overrides.len(), 8);
    }

    #[test]
    fn environment_strings_that_look_like_numbers_stay_strings() {
        let c = Config::from_sources(
            "",
            env(&[
                ("PASSAGE_STATUS__MOTD", "1234"),
                ("PASSAGE_AUTH__SERVER_ID", "true"),
            ]),
        )
        .unwrap()
        .config;
        assert_eq!(c.status.motd, "1234");
        assert_eq!(c.auth.server_id, "true");
    }

    #[test]
    fn environment_mistakes_name_the_variable_and_the_key() {
        let e = Config::from_sources(
            "",
            env(&[
                ("PASSAGE_TIMEOUTS__STATUS_MS", "soon"),
                ("PASSAGE_PLUGIN_RUNTIME__CALL_TIMEOUT", "5"),
                ("PASSAGE_LIMITS__MAX_CONNECTIONS", "1.5"),
            ]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("timeouts.status_ms (from PASSAGE_TIMEOUTS__STATUS_MS)"),
            "{e}"
        );
        assert!(
            e.contains("plugin_runtime.call_timeout (from PASSAGE_PLUGIN_RUNTIME__CALL_TIMEOUT): unknown field"),
            "{e}"
        );
        assert!(
            e.contains("limits.max_connections (from PASSAGE_LIMITS__MAX_CONNECTIONS)"),
            "{e}"
        );
    }

    #[test]
    fn every_bad_key_of_a_file_is_reported() {
        let e = Config::parse("bind = 5\n[timeouts]\nstatus_ms = \"x\"\n[auth]\nmode = \"maybe\"\n[limits]\nlogin_burst = 0\n")
            .unwrap_err();
        let keys: Vec<&str> = e.0.iter().map(|p| p.split(':').next().unwrap()).collect();
        assert_eq!(keys, ["auth.mode", "bind", "timeouts.status_ms"], "{e}");
        // Range checks run once the types are right.
        let e = Config::parse("[limits]\nlogin_burst = 0\nmax_connections = 0\n").unwrap_err();
        assert_eq!(e.0.len(), 2, "{e}");
    }

    #[test]
    fn proxy_protocol_needs_trusted_networks() {
        let e = Config::parse("[proxy_protocol]\nenabled = true\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("proxy_protocol.trusted_networks"), "{e}");
        let e = Config::parse("[proxy_protocol]\ntrusted_networks = [\"10.0.0.1/8\"]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("proxy_protocol.trusted_networks[0]"), "{e}");
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
        Config::parse(include_str!("../../../config/passage.example.toml")).unwrap();
        Config::parse(include_str!("../../../config/passage.toml")).unwrap();
    }
}
