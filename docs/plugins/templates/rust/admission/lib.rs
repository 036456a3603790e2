//! `{{name}}`: a Passage admission plugin keeping the players its table lists
//! (`deny`, names or UUIDs) out of the network, with a message in their
//! language; everyone else is let in.

use passage_sdk::{Admission, Config, Message, Player, PlayerContext, PlayerList, Plugin, Verdict};

pub struct Gate {
    denied: PlayerList,
}

/// The operator overrides these texts with `[messages.<locale>] "{{name}}.denied"`.
fn denied() -> Message {
    Message::localized("{{name}}.denied", "You may not join this network.")
        .translation("en_us", "You may not join this network.")
        .translation("de_de", "Du darfst diesem Netzwerk nicht beitreten.")
        .translation("fr_fr", "Vous ne pouvez pas rejoindre ce réseau.")
}

impl Plugin for Gate {
    fn new(config: Config) -> Result<Self, String> {
        // The router already checked the table against config.schema.json;
        // refusing unknown keys here too keeps unit tests honest.
        config.deny_unknown(&["deny"])?;
        Ok(Gate {
            denied: PlayerList::from_config(&config, "deny")?,
        })
    }
}

impl Admission for Gate {
    fn admit(&mut self, player: &Player, _context: &PlayerContext) -> Result<Verdict, String> {
        Ok(if self.denied.contains(player) {
            Verdict::Deny(denied())
        } else {
            Verdict::Allow
        })
    }
}

passage_sdk::export_admission!(Gate);
passage_sdk::manifest!();

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_listed_players_out() {
        let mut gate = Gate::new(Config::from_json(r#"{"deny": ["Steve"]}"#).unwrap()).unwrap();
        let context = PlayerContext::default();
        let steve = Player::example();
        assert!(matches!(gate.admit(&steve, &context), Ok(Verdict::Deny(_))));
        let alex = Player {
            name: "Alex".to_owned(),
            uuid: "ec561538-f3fd-461d-aff5-086b22154bce".to_owned(),
            ..Player::example()
        };
        assert!(matches!(gate.admit(&alex, &context), Ok(Verdict::Allow)));
    }
}
