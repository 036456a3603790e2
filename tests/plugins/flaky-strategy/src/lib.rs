//! `flaky-strategy`: a strategy plugin for end-to-end tests. It picks the first
//! target, except for players whose name says otherwise: `Trap` makes it panic,
//! `Ghost` makes it choose an id that does not exist, `Nobody` makes it choose none.

use passage_sdk::{Config, Player, Plugin, Strategy, Target};

#[derive(Debug)]
pub struct Flaky;

impl Plugin for Flaky {
    fn new(_config: Config) -> Result<Self, String> {
        Ok(Flaky)
    }
}

impl Strategy for Flaky {
    fn select(&mut self, player: &Player, targets: &[Target]) -> Result<Option<String>, String> {
        match player.name.as_str() {
            "Trap" => panic!("flaky-strategy: deliberate panic"),
            "Ghost" => Ok(Some("no-such-target".to_owned())),
            "Nobody" => Ok(None),
            _ => Ok(targets.first().map(|t| t.id.clone())),
        }
    }
}

passage_sdk::export_strategy!(Flaky);
