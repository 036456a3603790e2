//! `player-fill`: sends each player to the fullest target that still has room, so
//! servers fill one after another. Reads the `players` and `max_players` metadata
//! of each target; a target without them counts as empty with room.

use passage_sdk::{Config, Player, Plugin, Strategy, Target};

#[derive(Debug)]
pub struct PlayerFill {
    /// Players kept free on each target (for friends joining, staff, ...).
    reserve: u64,
    /// Target indices, fullest first, recomputed when the targets change.
    order: Vec<usize>,
}

fn number(target: &Target, key: &str) -> Option<u64> {
    target
        .metadata
        .iter()
        .find(|(k, _)| k == key)
        .and_then(|(_, v)| v.parse().ok())
}

impl Plugin for PlayerFill {
    fn new(config: Config) -> Result<Self, String> {
        config.deny_unknown(&["reserve"])?;
        let reserve = match config.get_i64("reserve")? {
            None => 0,
            Some(r) => u64::try_from(r).map_err(|_| "`reserve` must not be negative".to_owned())?,
        };
        Ok(PlayerFill {
            reserve,
            order: Vec::new(),
        })
    }
}

impl Strategy for PlayerFill {
    fn targets_changed(&mut self, targets: &[Target]) {
        let reserve = self.reserve;
        let mut open: Vec<(u64, &str, usize)> = targets
            .iter()
            .enumerate()
            .filter_map(|(i, t)| {
                let players = number(t, "players").unwrap_or(0);
                let has_room = match number(t, "max_players") {
                    Some(max) => players.saturating_add(reserve) < max,
                    None => true,
                };
                has_room.then_some((players, t.id.as_str(), i))
            })
            .collect();
        // Fullest first; ties by id so every replica picks the same target.
        open.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
        self.order = open.into_iter().map(|(_, _, i)| i).collect();
    }

    fn select(&mut self, _player: &Player, targets: &[Target]) -> Result<Option<String>, String> {
        Ok(self
            .order
            .first()
            .and_then(|&i| targets.get(i))
            .map(|t| t.id.clone()))
    }
}

passage_sdk::export_strategy!(PlayerFill);

#[cfg(test)]
mod tests {
    use super::*;

    fn target(id: &str, players: u32, max: u32) -> Target {
        Target {
            id: id.into(),
            host: "h".into(),
            port: 25565,
            metadata: vec![
                ("players".into(), players.to_string()),
                ("max_players".into(), max.to_string()),
            ],
        }
    }

    fn player() -> Player {
        Player {
            name: "Steve".into(),
            uuid: "8667ba71-b85a-4004-af54-457a9734eed7".into(),
            client_ip: "127.0.0.1".into(),
            protocol: 767,
            server_address: "play.example.com".into(),
            server_port: 25565,
            locale: None,
            last_target: None,
        }
    }

    fn pick(reserve: i64, targets: &[Target]) -> Option<String> {
        let mut p =
            PlayerFill::new(Config::from_json(&format!(r#"{{"reserve": {reserve}}}"#)).unwrap())
                .unwrap();
        p.targets_changed(targets);
        p.select(&player(), targets).unwrap()
    }

    #[test]
    fn fullest_with_room_wins() {
        let t = [
            target("a", 10, 100),
            target("b", 99, 100),
            target("c", 100, 100),
        ];
        assert_eq!(pick(0, &t).as_deref(), Some("b"));
        assert_eq!(pick(1, &t).as_deref(), Some("a"));
    }

    #[test]
    fn none_when_all_full_or_no_targets() {
        assert_eq!(pick(0, &[target("a", 5, 5)]), None);
        assert_eq!(pick(0, &[]), None);
    }
}
