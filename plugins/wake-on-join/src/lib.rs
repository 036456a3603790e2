//! `wake-on-join`: a router plugin (contract 0.3.0) for backends that sleep when
//! empty. A player bound for a sleeping backend is held — the router keeps their
//! connection alive and shows them a message — while the plugin asks the
//! operator's orchestrator to wake the backend, and is sent there once the
//! orchestrator reports it ready (or the router's `routing.max_wait_ms` runs out).
//!
//! The orchestrator speaks two calls (any service can implement them in a few
//! lines in front of Docker, Kubernetes, Pterodactyl, ...):
//!
//! - `GET  <orchestrator>/servers/<id>` → `{"ready": true|false}` (other fields ignored)
//! - `POST <orchestrator>/servers/<id>/wake` → any 2xx
//!
//! ```toml
//! [plugins.wake-on-join]
//! orchestrator = "http://orchestrator.internal:8080"
//! targets = [
//!   { id = "survival", host = "10.0.0.5", port = 25565, hosts = ["survival.example.com"] },
//!   { id = "lobby", host = "10.0.0.6", port = 25565 },   # no hosts: everyone else
//! ]
//! poll_ms = 1000          # how often a waiting player is asked about again
//! wake_every_ms = 10000   # a wake call is repeated at most this often per backend
//! request_timeout_ms = 500
//!
//! [plugin_runtime.grants.wake-on-join]
//! http_allow = ["orchestrator.internal:8080"]
//! allow_private_networks = true   # the orchestrator has a private address
//! call_timeout_ms = 2000          # room for a status and a wake call
//! ```

use std::time::{Duration, Instant};

use passage_sdk::{
    Config, Message, Place, Placement, Player, PlayerContext, Plugin, Target, Wait, http, log,
};

/// A backend's state read at most this often, however many players wait for it.
const STATE_CACHE: Duration = Duration::from_millis(250);

#[derive(Debug)]
struct Backend {
    target: Target,
    /// Handshake host names sent here; empty: players no other backend claims.
    hosts: Vec<String>,
    /// `(when, ready)` of the last status read.
    checked: Option<(Instant, bool)>,
    woken_at: Option<Instant>,
}

#[derive(Debug)]
pub struct WakeOnJoin {
    orchestrator: String,
    backends: Vec<Backend>,
    poll_ms: u32,
    wake_every: Duration,
    timeout: Duration,
}

fn millis(config: &Config, key: &str, default: u32) -> Result<u32, String> {
    match config.get_i64(key)? {
        None => Ok(default),
        Some(v) => u32::try_from(v)
            .ok()
            .filter(|v| *v > 0)
            .ok_or_else(|| format!("`{key}` must be a positive number of milliseconds, got {v}")),
    }
}

fn backend(value: &serde_json::Value) -> Result<Backend, String> {
    let field = |k: &str| value.get(k);
    let id = field("id")
        .and_then(|v| v.as_str())
        .ok_or("a target needs an `id`")?;
    let host = field("host")
        .and_then(|v| v.as_str())
        .ok_or_else(|| format!("target `{id}` needs a `host`"))?;
    let port = field("port")
        .and_then(|v| v.as_u64())
        .and_then(|p| u16::try_from(p).ok())
        .filter(|p| *p > 0)
        .ok_or_else(|| format!("target `{id}` needs a `port` (1-65535)"))?;
    let hosts = match field("hosts") {
        None => Vec::new(),
        Some(serde_json::Value::Array(hosts)) => hosts
            .iter()
            .map(|h| {
                h.as_str()
                    .map(str::to_ascii_lowercase)
                    .ok_or_else(|| format!("target `{id}`: `hosts` must be names"))
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(format!("target `{id}`: `hosts` must be a list of names")),
    };
    if let Some(unknown) = value.as_object().and_then(|o| {
        o.keys()
            .find(|k| !["id", "host", "port", "hosts"].contains(&k.as_str()))
    }) {
        return Err(format!(
            "target `{id}`: unknown key `{unknown}` (known: id, host, port, hosts)"
        ));
    }
    Ok(Backend {
        target: Target::new(id, host, port),
        hosts,
        checked: None,
        woken_at: None,
    })
}

impl Plugin for WakeOnJoin {
    fn new(config: Config) -> Result<Self, String> {
        config.deny_unknown(&[
            "orchestrator",
            "targets",
            "poll_ms",
            "wake_every_ms",
            "request_timeout_ms",
        ])?;
        let orchestrator = config
            .get_str("orchestrator")?
            .ok_or("`orchestrator` (the base URL of the service that wakes backends) is required")?
            .trim_end_matches('/')
            .to_owned();
        http::Url::parse(&orchestrator).map_err(|e| format!("`orchestrator`: {e}"))?;
        let backends = match config.get("targets") {
            Some(serde_json::Value::Array(list)) if !list.is_empty() => {
                list.iter().map(backend).collect::<Result<Vec<_>, _>>()?
            }
            _ => return Err("`targets` must list at least one backend".to_owned()),
        };
        Ok(WakeOnJoin {
            orchestrator,
            backends,
            poll_ms: millis(&config, "poll_ms", 1000)?,
            wake_every: Duration::from_millis(u64::from(millis(&config, "wake_every_ms", 10_000)?)),
            timeout: Duration::from_millis(u64::from(millis(&config, "request_timeout_ms", 500)?)),
        })
    }
}

/// What the player sees while their backend starts.
fn starting(id: &str) -> Message {
    Message::localized("wake-on-join.starting", "Starting {0} for you, one moment…")
        .arg(id)
        .translation("en_us", "Starting {0} for you, one moment…")
        .translation("de_de", "{0} wird für dich gestartet, einen Moment …")
        .translation("fr_fr", "Démarrage de {0} pour vous, un instant…")
        .translation("es_es", "Iniciando {0} para ti, un momento…")
        .translation("pt_br", "Iniciando {0} para você, um momento…")
}

impl WakeOnJoin {
    /// The backend for a player's handshake host.
    fn backend_for(&self, player: &Player) -> Option<usize> {
        let address = player.server_address.to_ascii_lowercase();
        self.backends
            .iter()
            .position(|b| b.hosts.contains(&address))
            .or_else(|| self.backends.iter().position(|b| b.hosts.is_empty()))
    }

    fn is_ready(&mut self, i: usize, now: Instant) -> Result<bool, String> {
        if let Some((at, ready)) = self.backends[i].checked
            && now.duration_since(at) < STATE_CACHE
        {
            return Ok(ready);
        }
        let url = format!(
            "{}/servers/{}",
            self.orchestrator, self.backends[i].target.id
        );
        let response = http::get(&url, self.timeout)?;
        if !response.is_success() {
            return Err(format!("GET {url}: status {}", response.status));
        }
        let state: serde_json::Value = serde_json::from_slice(&response.body)
            .map_err(|e| format!("GET {url}: not JSON: {e}"))?;
        let ready = state
            .get("ready")
            .and_then(serde_json::Value::as_bool)
            .ok_or_else(|| format!("GET {url}: no boolean `ready` in {state}"))?;
        self.backends[i].checked = Some((now, ready));
        Ok(ready)
    }

    fn wake(&mut self, i: usize, now: Instant) -> Result<(), String> {
        let backend = &self.backends[i];
        if backend
            .woken_at
            .is_some_and(|at| now.duration_since(at) < self.wake_every)
        {
            return Ok(());
        }
        let url = format!("{}/servers/{}/wake", self.orchestrator, backend.target.id);
        log::info(&format!("waking {}", backend.target.id));
        let response = http::post(&url, b"", self.timeout)?;
        if !response.is_success() {
            return Err(format!("POST {url}: status {}", response.status));
        }
        self.backends[i].woken_at = Some(now);
        Ok(())
    }
}

impl Placement for WakeOnJoin {
    fn place(&mut self, player: &Player, _context: &PlayerContext) -> Result<Place, String> {
        let Some(i) = self.backend_for(player) else {
            return Ok(Place::None);
        };
        let now = Instant::now();
        if self.is_ready(i, now)? {
            return Ok(Place::to(self.backends[i].target.clone()));
        }
        self.wake(i, now)?;
        let id = self.backends[i].target.id.clone();
        Ok(Place::wait(
            Wait::retry_after_ms(self.poll_ms).with_message(starting(&id)),
        ))
    }
}

passage_sdk::export_placement!(WakeOnJoin);
passage_sdk::manifest!();

#[cfg(test)]
mod tests {
    use super::*;

    fn plugin(json: &str) -> Result<WakeOnJoin, String> {
        WakeOnJoin::new(Config::from_json(json)?)
    }

    #[test]
    fn players_go_to_the_backend_of_their_host_name() {
        let p = plugin(
            r#"{"orchestrator":"http://o:1","targets":[
                {"id":"survival","host":"10.0.0.5","port":25565,"hosts":["survival.example.com"]},
                {"id":"lobby","host":"10.0.0.6","port":25565}]}"#,
        )
        .unwrap();
        let mut player = Player::example();
        assert_eq!(p.backend_for(&player), Some(1));
        player.server_address = "survival.example.com".into();
        assert_eq!(p.backend_for(&player), Some(0));
    }

    #[test]
    fn config_errors_say_what_is_missing() {
        assert!(
            plugin(r#"{"targets":[]}"#)
                .unwrap_err()
                .contains("orchestrator")
        );
        assert!(
            plugin(r#"{"orchestrator":"http://o:1","targets":[]}"#)
                .unwrap_err()
                .contains("targets")
        );
        let e =
            plugin(r#"{"orchestrator":"http://o:1","targets":[{"id":"a","host":"h","port":0}]}"#)
                .unwrap_err();
        assert!(e.contains("port"), "{e}");
        let e = plugin(r#"{"orchestrator":"o","targets":[{"id":"a","host":"h","port":1}]}"#)
            .unwrap_err();
        assert!(e.contains("orchestrator"), "{e}");
        let e = plugin(r#"{"orchestrator":"http://o:1","poll_ms":0,"targets":[{"id":"a","host":"h","port":1}]}"#).unwrap_err();
        assert!(e.contains("poll_ms"), "{e}");
    }
}
