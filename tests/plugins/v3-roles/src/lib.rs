//! `v3-roles`: a test plugin with two roles of contract 0.3.0 from one component,
//! built with the SDK: admission and selection (the strategy role with reasons).
//! What it does depends on the player's name, so one plugin serves many tests:
//!
//! - admission: `Banned*` is denied with a plain text, `Broken*` makes `admit`
//!   return an error; everyone else is allowed.
//! - selection: `Reject*` is refused with a localized message (`v3.rejected`,
//!   English fallback, a German translation, the name as `{0}`); `Styled*` with a
//!   JSON text component; `Nobody*` gets `none`; `Huge*` is sent to the first
//!   target with an `extra` change over the 2 KiB limit; `Grow*` with a change
//!   that adds 1500 bytes to `extra` every login; everyone else is sent to the
//!   first target and `extra.visits` goes up by one.
//!
//! It logs the `extra` it received (`context for <name>: <json>`), so a test can
//! check what came back from the cookie.

use passage_sdk::{
    Admission, Config, Message, Player, PlayerContext, Plugin, Selected, Selection, Target,
    Verdict, log,
};

pub struct V3;

impl Plugin for V3 {
    fn new(config: Config) -> Result<Self, String> {
        config.deny_unknown(&[])?;
        Ok(V3)
    }
}

impl Admission for V3 {
    fn admit(&mut self, player: &Player, _context: &PlayerContext) -> Result<Verdict, String> {
        if player.name.starts_with("Banned") {
            Ok(Verdict::Deny(Message::text(
                "You are banned from this test.",
            )))
        } else if player.name.starts_with("Broken") {
            Err(format!("cannot decide about {}", player.name))
        } else {
            Ok(Verdict::Allow)
        }
    }
}

impl Selection for V3 {
    fn select(
        &mut self,
        player: &Player,
        context: &PlayerContext,
        targets: &[Target],
    ) -> Result<Selected, String> {
        let extra = context.extra();
        log::info(&format!(
            "context for {}: {}",
            player.name,
            serde_json::Value::Object(extra.clone())
        ));
        let Some(first) = targets.first() else {
            return Ok(Selected::None);
        };
        let name = player.name.as_str();
        Ok(if name.starts_with("Reject") {
            Selected::Reject(
                Message::localized("v3.rejected", "Go away, {0}.")
                    .arg(name)
                    .translation("de_de", "Geh weg, {0}."),
            )
        } else if name.starts_with("Styled") {
            Selected::Reject(Message::text(r#"{"text":"Styled refusal","color":"red"}"#))
        } else if name.starts_with("Nobody") {
            Selected::None
        } else if name.starts_with("Huge") {
            Selected::target_with_extra(&first.id, serde_json::json!({ "huge": "x".repeat(3000) }))
        } else if name.starts_with("Grow") {
            let n = extra.len();
            Selected::target_with_extra(
                &first.id,
                serde_json::json!({ format!("blob{n}"): "y".repeat(1500) }),
            )
        } else {
            let visits = extra.get("visits").and_then(|v| v.as_u64()).unwrap_or(0);
            Selected::target_with_extra(&first.id, serde_json::json!({ "visits": visits + 1 }))
        })
    }
}

passage_sdk::export_admission!(V3);
passage_sdk::export_selection!(V3);
