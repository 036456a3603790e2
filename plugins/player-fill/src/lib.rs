//! `player-fill`: sends each player to the fullest target below capacity, filling servers in turn.

use passage_sdk::{Config, Player, Plugin, Strategy, Target};

#[derive(Debug)]
pub struct PlayerFill {
    /// Players kept free on each target (for friends joining, staff, ...).
    reserve: u64,
    /// Metadata key holding a target's current player count.
    players_key: String,
    /// Metadata key holding a target's capacity.
    capacity_key: String,
    /// Index of the chosen target, recomputed when the targets change.
    best: Option<usize>,
}

impl Plugin for PlayerFill {
    fn new(config: Config) -> Result<Self, String> {
        config.deny_unknown(&["reserve", "players_key", "capacity_key"])?;
        let reserve = match config.get_i64("reserve")? {
            None => 0,
            Some(r) => u64::try_from(r).map_err(|_| "`reserve` must not be negative".to_owned())?,
        };
        Ok(PlayerFill {
            reserve,
            players_key: config.get_name("players_key", "players")?,
            capacity_key: config.get_name("capacity_key", "max_players")?,
            best: None,
        })
    }
}

impl Strategy for PlayerFill {
    fn targets_changed(&mut self, targets: &[Target]) {
        let mut best: Option<(u64, &str, usize)> = None;
        for (i, t) in targets.iter().enumerate() {
            // A missing or non-numeric count is an empty server.
            let players = t.meta_count(&self.players_key).unwrap_or(0);
            // A target without a (numeric) capacity always has room.
            let has_room = match t.meta_count(&self.capacity_key) {
                Some(capacity) => players.saturating_add(self.reserve) < capacity,
                None => true,
            };
            if !has_room {
                continue;
            }
            // Fullest first; ties by id (ascending) so every replica picks the same target.
            let better = match best {
                None => true,
                Some((p, id, _)) => players > p || (players == p && t.id.as_str() < id),
            };
            if better {
                best = Some((players, &t.id, i));
            }
        }
        self.best = best.map(|(_, _, i)| i);
    }

    fn select(&mut self, _player: &Player, targets: &[Target]) -> Result<Option<String>, String> {
        Ok(self.best.and_then(|i| targets.get(i)).map(|t| t.id.clone()))
    }
}

passage_sdk::export_strategy!(PlayerFill);
passage_sdk::manifest!();

#[cfg(test)]
mod tests {
    use super::*;

    fn target_with(id: &str, metadata: &[(&str, &str)]) -> Target {
        Target {
            id: id.into(),
            host: "h".into(),
            port: 25565,
            metadata: metadata
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    fn target(id: &str, players: u32, max: u32) -> Target {
        target_with(
            id,
            &[
                ("players", &players.to_string()),
                ("max_players", &max.to_string()),
            ],
        )
    }

    fn player() -> Player {
        Player::example()
    }

    fn plugin(json: &str) -> Result<PlayerFill, String> {
        PlayerFill::new(Config::from_json(json)?)
    }

    fn pick_with(json: &str, targets: &[Target]) -> Option<String> {
        let mut p = plugin(json).unwrap();
        p.targets_changed(targets);
        p.select(&player(), targets).unwrap()
    }

    fn pick(reserve: i64, targets: &[Target]) -> Option<String> {
        pick_with(&format!(r#"{{"reserve": {reserve}}}"#), targets)
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

    #[test]
    fn ties_go_to_the_lowest_id_whatever_the_order() {
        let t = [target("c", 7, 10), target("a", 7, 10), target("b", 7, 10)];
        assert_eq!(pick(0, &t).as_deref(), Some("a"));
        let mut r = t.clone();
        r.reverse();
        assert_eq!(pick(0, &r).as_deref(), Some("a"));
    }

    #[test]
    fn missing_capacity_has_room_and_bad_count_is_zero() {
        let t = [
            target_with("a", &[("players", "500")]),
            target("b", 10, 100),
        ];
        assert_eq!(pick(0, &t).as_deref(), Some("a"));
        let t = [
            target_with("a", &[("players", "lots"), ("max_players", "100")]),
            target("b", 1, 100),
        ];
        assert_eq!(pick(0, &t).as_deref(), Some("b"));
        let t = [target_with(
            "a",
            &[("players", "lots"), ("max_players", "100")],
        )];
        assert_eq!(pick(0, &t).as_deref(), Some("a"));
    }

    #[test]
    fn custom_metadata_keys() {
        let t = [
            target_with("a", &[("online", "50"), ("slots", "50"), ("players", "1")]),
            target_with("b", &[("online", "20"), ("slots", "60"), ("players", "90")]),
            target_with("c", &[("online", "10"), ("slots", "60")]),
        ];
        let json = r#"{"players_key": "online", "capacity_key": "slots"}"#;
        assert_eq!(pick_with(json, &t).as_deref(), Some("b"));
        // The default keys are ignored once others are configured: `players` of b
        // does not count, and `a` is full by `slots`.
        let json = r#"{"players_key": "online", "capacity_key": "slots", "reserve": 40}"#;
        assert_eq!(pick_with(json, &t).as_deref(), Some("c"));
        // With the default keys, b (90 players, no max_players) is fullest.
        assert_eq!(pick_with("{}", &t).as_deref(), Some("b"));
    }

    #[test]
    fn rejects_bad_config_naming_the_key() {
        let e = plugin(r#"{"players_key": 3}"#).unwrap_err();
        assert!(e.contains("`players_key`"), "{e}");
        let e = plugin(r#"{"capacity_key": ""}"#).unwrap_err();
        assert!(e.contains("`capacity_key`"), "{e}");
        let e = plugin(r#"{"reserve": -1}"#).unwrap_err();
        assert!(e.contains("`reserve`"), "{e}");
        let e = plugin(r#"{"capacity": "max"}"#).unwrap_err();
        assert!(e.contains("`capacity`"), "{e}");
    }
}
