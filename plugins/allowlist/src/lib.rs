//! `allowlist`: an admission plugin that lets in only the players its config
//! lists (names and/or UUIDs) and tells everyone else why, in their language.

use passage_sdk::{Admission, Config, Message, Player, PlayerContext, PlayerList, Plugin, Verdict};

#[derive(Debug)]
pub struct Allowlist {
    players: PlayerList,
    message: Message,
}

/// The message key operators override with `[messages.<locale>] "allowlist.denied"`.
pub const DENIED_KEY: &str = "allowlist.denied";

/// What a refused player sees unless the config says otherwise.
pub fn denied_message() -> Message {
    Message::localized(DENIED_KEY, "You are not on this server's allowlist.")
        .translation("en_us", "You are not on this server's allowlist.")
        .translation("de_de", "Du stehst nicht auf der Allowlist dieses Servers.")
        .translation(
            "fr_fr",
            "Vous n'êtes pas sur la liste blanche de ce serveur.",
        )
        .translation(
            "es_es",
            "No estás en la lista de permitidos de este servidor.",
        )
        .translation(
            "pt_br",
            "Você não está na lista de permissões deste servidor.",
        )
}

impl Plugin for Allowlist {
    fn new(config: Config) -> Result<Self, String> {
        config.deny_unknown(&["players", "message"])?;
        let players = PlayerList::from_config(&config, "players")?;
        if players.is_empty() {
            passage_sdk::log::warn("`players` is empty: every player is refused");
        }
        let message = match config.get_str("message")? {
            Some(text) => Message::text(text),
            None => denied_message(),
        };
        Ok(Allowlist { players, message })
    }
}

impl Admission for Allowlist {
    fn admit(&mut self, player: &Player, _context: &PlayerContext) -> Result<Verdict, String> {
        if self.players.contains(player) {
            Ok(Verdict::Allow)
        } else {
            passage_sdk::log::info(&format!(
                "{} ({}) is not on the allowlist",
                player.name, player.uuid
            ));
            Ok(Verdict::Deny(self.message.clone()))
        }
    }
}

passage_sdk::export_admission!(Allowlist);
passage_sdk::manifest!();

#[cfg(test)]
mod tests {
    use super::*;

    fn plugin(json: &str) -> Result<Allowlist, String> {
        Allowlist::new(Config::from_json(json)?)
    }

    #[test]
    fn listed_players_are_let_in_by_name_or_uuid() {
        let mut by_name = plugin(r#"{"players":["steve"]}"#).unwrap();
        let ctx = PlayerContext::default();
        assert!(matches!(
            by_name.admit(&Player::example(), &ctx),
            Ok(Verdict::Allow)
        ));
        let mut by_uuid = plugin(r#"{"players":["8667ba71b85a4004af54457a9734eed7"]}"#).unwrap();
        assert!(matches!(
            by_uuid.admit(&Player::example(), &ctx),
            Ok(Verdict::Allow)
        ));
        let alex = Player {
            name: "Alex".into(),
            uuid: "00000000-0000-0000-0000-000000000001".into(),
            ..Player::example()
        };
        match by_name.admit(&alex, &ctx) {
            Ok(Verdict::Deny(Message::Localized(l))) => {
                assert_eq!(l.key, DENIED_KEY);
                assert!(l.translations.iter().any(|(loc, _)| loc == "de_de"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_message_and_typos_come_from_the_config() {
        let mut custom = plugin(r#"{"players":[],"message":"Friends only"}"#).unwrap();
        assert!(matches!(
            custom.admit(&Player::example(), &PlayerContext::default()),
            Ok(Verdict::Deny(Message::Text(t))) if t == "Friends only"
        ));
        assert!(
            plugin(r#"{"player":["steve"]}"#)
                .unwrap_err()
                .contains("unknown key")
        );
        assert!(plugin(r#"{"players":["no spaces"]}"#).is_err());
    }
}
