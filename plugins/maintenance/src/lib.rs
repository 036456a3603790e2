//! `maintenance`: an admission plugin for maintenance windows. While `enabled`,
//! everyone but the players it lists (staff) is refused with a message; switching
//! it is a config change, which the router applies on reload without a restart.

use passage_sdk::{Admission, Config, Message, Player, PlayerContext, PlayerList, Plugin, Verdict};

#[derive(Debug)]
pub struct Maintenance {
    enabled: bool,
    allowed: PlayerList,
    message: Message,
}

/// The message key operators override with `[messages.<locale>] "maintenance.closed"`.
pub const CLOSED_KEY: &str = "maintenance.closed";

fn closed_message(until: Option<&str>) -> Message {
    match until {
        None => Message::localized(
            CLOSED_KEY,
            "The network is under maintenance. Please come back later.",
        )
        .translation(
            "en_us",
            "The network is under maintenance. Please come back later.",
        )
        .translation(
            "de_de",
            "Das Netzwerk wird gerade gewartet. Bitte komm später wieder.",
        )
        .translation("fr_fr", "Le réseau est en maintenance. Revenez plus tard.")
        .translation("es_es", "La red está en mantenimiento. Vuelve más tarde.")
        .translation("pt_br", "A rede está em manutenção. Volte mais tarde."),
        Some(until) => Message::localized(
            "maintenance.closed_until",
            "The network is under maintenance until {0}. Please come back then.",
        )
        .arg(until)
        .translation(
            "en_us",
            "The network is under maintenance until {0}. Please come back then.",
        )
        .translation(
            "de_de",
            "Das Netzwerk wird bis {0} gewartet. Bitte komm dann wieder.",
        )
        .translation(
            "fr_fr",
            "Le réseau est en maintenance jusqu'à {0}. Revenez à ce moment-là.",
        )
        .translation(
            "es_es",
            "La red está en mantenimiento hasta {0}. Vuelve entonces.",
        )
        .translation(
            "pt_br",
            "A rede está em manutenção até {0}. Volte depois disso.",
        ),
    }
}

impl Plugin for Maintenance {
    fn new(config: Config) -> Result<Self, String> {
        config.deny_unknown(&["enabled", "allow", "message", "until"])?;
        let enabled = config.get_bool("enabled")?.unwrap_or(true);
        let allowed = PlayerList::from_config(&config, "allow")?;
        let message = match config.get_str("message")? {
            Some(text) => Message::text(text),
            None => closed_message(config.get_str("until")?),
        };
        passage_sdk::log::info(if enabled {
            "maintenance is on: only the players in `allow` may join"
        } else {
            "maintenance is off"
        });
        Ok(Maintenance {
            enabled,
            allowed,
            message,
        })
    }
}

impl Admission for Maintenance {
    fn admit(&mut self, player: &Player, _context: &PlayerContext) -> Result<Verdict, String> {
        if !self.enabled || self.allowed.contains(player) {
            Ok(Verdict::Allow)
        } else {
            Ok(Verdict::Deny(self.message.clone()))
        }
    }
}

passage_sdk::export_admission!(Maintenance);
passage_sdk::manifest!();

#[cfg(test)]
mod tests {
    use super::*;

    fn plugin(json: &str) -> Maintenance {
        Maintenance::new(Config::from_json(json).unwrap()).unwrap()
    }

    #[test]
    fn on_refuses_all_but_staff_off_lets_everyone_in() {
        let ctx = PlayerContext::default();
        let alex = Player {
            name: "Alex".into(),
            uuid: "00000000-0000-0000-0000-000000000001".into(),
            ..Player::example()
        };
        let mut on = plugin(r#"{"allow":["Steve"]}"#);
        assert!(matches!(
            on.admit(&Player::example(), &ctx),
            Ok(Verdict::Allow)
        ));
        assert!(matches!(on.admit(&alex, &ctx), Ok(Verdict::Deny(_))));
        let mut off = plugin(r#"{"enabled":false}"#);
        assert!(matches!(off.admit(&alex, &ctx), Ok(Verdict::Allow)));
        let mut until = plugin(r#"{"until":"18:00 UTC"}"#);
        match until.admit(&alex, &ctx) {
            Ok(Verdict::Deny(Message::Localized(l))) => assert_eq!(l.args, ["18:00 UTC"]),
            other => panic!("{other:?}"),
        }
    }
}
