//! Lists of players an operator writes in a plugin's config: names and UUIDs
//! mixed, as allowlists, ban lists and maintenance exceptions are written.

use std::collections::HashSet;

use crate::{Config, Player};

/// Names (matched case-insensitively, as Minecraft treats them) and UUIDs (with
/// or without hyphens, any case).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlayerList {
    names: HashSet<String>,
    uuids: HashSet<String>,
}

impl PlayerList {
    /// The list under `key`: an array of names and UUIDs. Absent: empty. An entry
    /// that is neither a valid name (1-16 of `A-Z a-z 0-9 _`) nor a UUID is an
    /// error naming it, so a typo never silently lets someone in or keeps them out.
    pub fn from_config(config: &Config, key: &str) -> Result<PlayerList, String> {
        let mut list = PlayerList::default();
        let entries = match config.get(key) {
            None => return Ok(list),
            Some(serde_json::Value::Array(entries)) => entries,
            Some(other) => {
                return Err(format!(
                    "`{key}` must be a list of names and UUIDs, got {other}"
                ));
            }
        };
        for entry in entries {
            let Some(entry) = entry.as_str() else {
                return Err(format!("`{key}`: {entry} is not a name or UUID"));
            };
            list.insert(entry)
                .map_err(|why| format!("`{key}`: `{entry}` {why}"))?;
        }
        Ok(list)
    }

    /// Adds a name or UUID.
    pub fn insert(&mut self, entry: &str) -> Result<(), String> {
        if let Some(uuid) = normalize_uuid(entry) {
            self.uuids.insert(uuid);
        } else if is_name(entry) {
            self.names.insert(entry.to_ascii_lowercase());
        } else {
            return Err("is neither a player name (1-16 letters, digits, _) nor a UUID".to_owned());
        }
        Ok(())
    }

    /// Whether the player is listed, by UUID or by name.
    pub fn contains(&self, player: &Player) -> bool {
        normalize_uuid(&player.uuid).is_some_and(|u| self.uuids.contains(&u))
            || self.names.contains(&player.name.to_ascii_lowercase())
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty() && self.uuids.is_empty()
    }

    pub fn len(&self) -> usize {
        self.names.len() + self.uuids.len()
    }
}

fn is_name(s: &str) -> bool {
    (1..=16).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// `8667ba71-b85a-4004-af54-457a9734eed7` from that or `8667BA71B85A4004AF54457A9734EED7`.
fn normalize_uuid(s: &str) -> Option<String> {
    let hex: String = match s.len() {
        36 => {
            let dashes = [8, 13, 18, 23];
            if !dashes.iter().all(|&i| s.as_bytes()[i] == b'-') {
                return None;
            }
            s.chars().filter(|&c| c != '-').collect()
        }
        32 => s.to_owned(),
        _ => return None,
    };
    if hex.len() != 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let h = hex.to_ascii_lowercase();
    Some(format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(json: &str) -> Config {
        Config::from_json(json).unwrap()
    }

    #[test]
    fn names_and_uuids_in_any_form() {
        let list = PlayerList::from_config(
            &config(r#"{"players":["alex","8667BA71B85A4004AF54457A9734EED7"]}"#),
            "players",
        )
        .unwrap();
        assert_eq!(list.len(), 2);
        assert!(list.contains(&Player::example()), "Steve's UUID is listed");
        let alex = Player {
            name: "Alex".into(),
            uuid: "00000000-0000-0000-0000-000000000001".into(),
            ..Player::example()
        };
        assert!(list.contains(&alex), "names match in any case");
        let herobrine = Player {
            name: "Herobrine".into(),
            uuid: "00000000-0000-0000-0000-000000000002".into(),
            ..Player::example()
        };
        assert!(!list.contains(&herobrine));
        assert!(
            PlayerList::from_config(&config("{}"), "players")
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn typos_are_errors_naming_the_entry() {
        for bad in [
            r#"{"p":["not a name"]}"#,
            r#"{"p":["8667ba71-b85a-4004-af54-457a9734eedZ"]}"#,
            r#"{"p":[42]}"#,
            r#"{"p":"Steve"}"#,
        ] {
            let e = PlayerList::from_config(&config(bad), "p").unwrap_err();
            assert!(e.starts_with("`p`"), "{e}");
        }
    }
}
