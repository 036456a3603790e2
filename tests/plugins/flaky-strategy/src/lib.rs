//! `flaky-strategy`: a strategy plugin for end-to-end tests. It picks the first
//! target, except for players whose name says otherwise: `Trap` makes it panic,
//! `Ghost` makes it choose an id that does not exist, `Nobody` makes it choose none.
//!
//! It logs what it received for every player (`select for <name>: ...`), so a test
//! can check what reached a plugin. When the first target's metadata has a
//! `gate_url`, a player whose name starts with `Slow` is held until
//! `GET <gate_url>/<name>` answers: the test decides when the call ends (grant the
//! plugin that host and a long enough `call_timeout_ms`). The URL travels in the
//! targets rather than in this plugin's table, so a test can replace this plugin
//! by another that knows no such key.

use std::time::Duration;

use passage_sdk::{Config, Player, Plugin, Strategy, Target, log};

#[derive(Debug)]
pub struct Flaky;

/// Long enough for any test; the router's call deadline is the real bound.
const GATE_TIMEOUT: Duration = Duration::from_secs(120);

impl Plugin for Flaky {
    fn new(config: Config) -> Result<Self, String> {
        config.deny_unknown(&[])?;
        Ok(Flaky)
    }
}

impl Strategy for Flaky {
    fn select(&mut self, player: &Player, targets: &[Target]) -> Result<Option<String>, String> {
        log::info(&format!(
            "select for {}: uuid={} protocol={} address={}:{} locale={:?} last_target={:?} client_ip={}",
            player.name,
            player.uuid,
            player.protocol,
            player.server_address,
            player.server_port,
            player.locale,
            player.last_target,
            player.client_ip,
        ));
        if let Some(gate) = targets.first().and_then(|t| t.meta("gate_url"))
            && player.name.starts_with("Slow")
        {
            log::info(&format!("holding {} at the gate", player.name));
            let response =
                passage_sdk::http::get(&format!("{gate}/{}", player.name), GATE_TIMEOUT)?;
            log::info(&format!(
                "gate opened for {} ({})",
                player.name, response.status
            ));
        }
        match player.name.as_str() {
            "Trap" => panic!("flaky-strategy: deliberate panic"),
            "Ghost" => Ok(Some("no-such-target".to_owned())),
            "Nobody" => Ok(None),
            _ => Ok(targets.first().map(|t| t.id.clone())),
        }
    }
}

passage_sdk::export_strategy!(Flaky);
