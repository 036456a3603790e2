//! `network-status`: the server list shows the network's real player count: the
//! sum of the `players` metadata of the targets the router holds from discovery,
//! out of the sum of their `max_players`, next to the MOTD, version and favicon
//! of its config (the keys of [`passage_sdk::status_settings`]).
//!
//! It reads the targets through `network.targets` (contract 0.3.0) on each ping;
//! the router refreshes them from discovery when they are over a second old.

use passage_sdk::status_settings::{KEYS, StatusSettings};
use passage_sdk::{Config, Plugin, Status, StatusRequest, StatusResponse, Target, network};

#[derive(Debug)]
pub struct NetworkStatus {
    settings: StatusSettings,
    players_key: String,
    max_players_key: String,
}

impl Plugin for NetworkStatus {
    fn new(config: Config) -> Result<Self, String> {
        let mut known = KEYS.to_vec();
        known.extend(["players_key", "max_players_key"]);
        config.deny_unknown(&known)?;
        if config.get("online_players").is_some() {
            return Err("`online_players` is counted from the targets here; use fixed-status for a fixed count".to_owned());
        }
        Ok(NetworkStatus {
            settings: StatusSettings::from_config(&config)?,
            players_key: config.get_name("players_key", "players")?,
            max_players_key: config.get_name("max_players_key", "max_players")?,
        })
    }
}

impl NetworkStatus {
    /// `(online, max)` over `targets`; `max` is the configured `max_players` when
    /// no target says its own.
    fn count(&self, targets: &[Target], configured_max: u32) -> (u32, u32) {
        let sum = |key: &str| -> Option<u64> {
            let values: Vec<u64> = targets.iter().filter_map(|t| t.meta_count(key)).collect();
            (!values.is_empty()).then(|| values.iter().sum())
        };
        let clamp = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
        let online = sum(&self.players_key).map_or(0, clamp);
        let max = sum(&self.max_players_key).map_or(configured_max, clamp);
        (online, max)
    }
}

impl Status for NetworkStatus {
    fn status(&mut self, request: &StatusRequest) -> Option<StatusResponse> {
        let mut response = self.settings.response(request);
        if let Some(players) = response.players.as_mut() {
            let (online, max) = self.count(&network::targets(), players.max);
            players.online = online;
            players.max = max;
        }
        Some(response)
    }
}

passage_sdk::export_live_status!(NetworkStatus);
passage_sdk::manifest!();

#[cfg(test)]
mod tests {
    use super::*;

    fn plugin(json: &str) -> Result<NetworkStatus, String> {
        NetworkStatus::new(Config::from_json(json)?)
    }

    #[test]
    fn sums_the_targets_metadata() {
        let p = plugin("{}").unwrap();
        let targets = [
            Target::new("a", "10.0.0.1", 25565)
                .with("players", 3)
                .with("max_players", 50),
            Target::new("b", "10.0.0.2", 25565)
                .with("players", 4)
                .with("max_players", 50),
            Target::new("c", "10.0.0.3", 25565).with("players", "n/a"),
        ];
        assert_eq!(p.count(&targets, 100), (7, 100));
        assert_eq!(p.count(&[], 100), (0, 100));
        let only_counts = [Target::new("a", "10.0.0.1", 25565).with("players", 9)];
        assert_eq!(
            p.count(&only_counts, 100),
            (9, 100),
            "max falls back to the config"
        );
        let custom = plugin(r#"{"players_key":"online","max_players_key":"slots"}"#).unwrap();
        let t = [Target::new("a", "10.0.0.1", 1)
            .with("online", 1)
            .with("slots", 2)];
        assert_eq!(custom.count(&t, 100), (1, 2));
    }

    #[test]
    fn config_errors_name_the_key() {
        assert!(
            plugin(r#"{"online_players": 3}"#)
                .unwrap_err()
                .contains("online_players")
        );
        assert!(plugin(r#"{"motd": 1}"#).unwrap_err().contains("`motd`"));
        assert!(
            plugin(r#"{"players_key": ""}"#)
                .unwrap_err()
                .contains("players_key")
        );
    }
}
