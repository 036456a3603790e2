//! `{{name}}`: a Passage strategy sending each player to the target with the
//! fewest players (metadata `players`, or the key set by `players_key`).

use passage_sdk::{Config, Player, Plugin, Strategy, Target};

pub struct Emptiest {
    key: String,
}

impl Plugin for Emptiest {
    fn new(config: Config) -> Result<Self, String> {
        // The router already checked the table against config.schema.json;
        // refusing unknown keys here too keeps unit tests honest.
        config.deny_unknown(&["players_key"])?;
        Ok(Emptiest {
            key: config.get_name("players_key", "players")?,
        })
    }
}

impl Strategy for Emptiest {
    fn select(&mut self, _player: &Player, targets: &[Target]) -> Result<Option<String>, String> {
        Ok(targets
            .iter()
            .min_by_key(|t| (t.meta_count(&self.key).unwrap_or(u64::MAX), t.id.clone()))
            .map(|t| t.id.clone()))
    }
}

passage_sdk::export_strategy!(Emptiest);
passage_sdk::manifest!();

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_emptiest() {
        let mut s = Emptiest::new(Config::default()).unwrap();
        let targets = [
            Target::new("a", "10.0.0.1", 25565).with("players", 5),
            Target::new("b", "10.0.0.2", 25565).with("players", 2),
        ];
        let chosen = s.select(&Player::example(), &targets).unwrap();
        assert_eq!(chosen.as_deref(), Some("b"));
    }
}
