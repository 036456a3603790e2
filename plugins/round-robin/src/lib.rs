//! `round-robin`: sends players to the targets in turn, in id order, skipping full ones.

use passage_sdk::{Config, Player, Plugin, Strategy, Target};

#[derive(Debug)]
pub struct RoundRobin {
    /// Leave out targets whose player count has reached their capacity.
    skip_full: bool,
    /// Metadata key holding a target's current player count.
    players_key: String,
    /// Metadata key holding a target's capacity.
    capacity_key: String,
    /// Ids of the targets in the rotation, sorted, recomputed when the targets change.
    ring: Vec<String>,
    /// Index in `ring` of the next target to hand out (always `< ring.len()`, or 0).
    next: usize,
}

impl RoundRobin {
    fn has_room(&self, target: &Target) -> bool {
        // Missing or non-numeric count: empty. Missing or non-numeric capacity: room.
        let players = target.meta_count(&self.players_key).unwrap_or(0);
        target
            .meta_count(&self.capacity_key)
            .is_none_or(|capacity| players < capacity)
    }
}

impl Plugin for RoundRobin {
    fn new(config: Config) -> Result<Self, String> {
        config.deny_unknown(&["skip_full", "players_key", "capacity_key"])?;
        Ok(RoundRobin {
            skip_full: config.get_bool("skip_full")?.unwrap_or(true),
            players_key: config.get_name("players_key", "players")?,
            capacity_key: config.get_name("capacity_key", "max_players")?,
            ring: Vec::new(),
            next: 0,
        })
    }
}

impl Strategy for RoundRobin {
    fn targets_changed(&mut self, targets: &[Target]) {
        // The id that would have come next, to carry on from there in the new set.
        let upcoming = self.ring.get(self.next).cloned();
        let mut ring: Vec<String> = targets
            .iter()
            .filter(|t| !self.skip_full || self.has_room(t))
            .map(|t| t.id.clone())
            .collect();
        // Id order, not discovery order: the rotation is the same whatever order the
        // targets arrive in.
        ring.sort_unstable();
        // Continue at the upcoming id, or the first one after it when it is gone;
        // past the end wraps to the start.
        self.next = match upcoming {
            Some(id) => ring.partition_point(|r| *r < id),
            None => 0,
        };
        if self.next >= ring.len() {
            self.next = 0;
        }
        self.ring = ring;
    }

    fn select(&mut self, _player: &Player, _targets: &[Target]) -> Result<Option<String>, String> {
        let Some(id) = self.ring.get(self.next) else {
            return Ok(None);
        };
        let id = id.clone();
        self.next = (self.next + 1) % self.ring.len();
        Ok(Some(id))
    }
}

passage_sdk::export_strategy!(RoundRobin);
passage_sdk::manifest!();

#[cfg(test)]
mod tests {
    use super::*;

    fn target(id: &str, players: u32, max: u32) -> Target {
        Target::new(id, "h", 25565)
            .with("players", players)
            .with("max_players", max)
    }

    fn player() -> Player {
        Player::example()
    }

    fn plugin(json: &str) -> Result<RoundRobin, String> {
        RoundRobin::new(Config::from_json(json)?)
    }

    fn with_targets(json: &str, targets: &[Target]) -> RoundRobin {
        let mut p = plugin(json).unwrap();
        p.targets_changed(targets);
        p
    }

    fn picks(p: &mut RoundRobin, targets: &[Target], n: usize) -> Vec<String> {
        (0..n)
            .map(|_| p.select(&player(), targets).unwrap().unwrap_or_default())
            .collect()
    }

    #[test]
    fn cycles_in_id_order_whatever_the_discovery_order() {
        let t = [target("c", 0, 10), target("a", 0, 10), target("b", 0, 10)];
        let mut p = with_targets("{}", &t);
        assert_eq!(picks(&mut p, &t, 4), ["a", "b", "c", "a"]);
    }

    #[test]
    fn skips_full_targets_unless_told_not_to() {
        let t = [target("a", 0, 10), target("b", 10, 10), target("c", 3, 10)];
        let mut p = with_targets("{}", &t);
        assert_eq!(picks(&mut p, &t, 3), ["a", "c", "a"]);
        let mut p = with_targets(r#"{"skip_full": false}"#, &t);
        assert_eq!(picks(&mut p, &t, 3), ["a", "b", "c"]);
    }

    #[test]
    fn custom_keys_and_targets_without_capacity() {
        let t = [
            Target {
                metadata: vec![("online".into(), "5".into()), ("slots".into(), "5".into())],
                ..target("a", 0, 10)
            },
            Target {
                metadata: vec![("online".into(), "9".into())],
                ..target("b", 0, 0)
            },
        ];
        let mut p = with_targets(r#"{"players_key": "online", "capacity_key": "slots"}"#, &t);
        assert_eq!(picks(&mut p, &t, 2), ["b", "b"]);
    }

    #[test]
    fn none_when_empty_or_all_full() {
        let mut p = with_targets("{}", &[]);
        assert_eq!(p.select(&player(), &[]).unwrap(), None);
        let t = [target("a", 10, 10)];
        let mut p = with_targets("{}", &t);
        assert_eq!(p.select(&player(), &t).unwrap(), None);
    }

    #[test]
    fn survives_the_target_set_changing() {
        let t = [
            target("a", 0, 10),
            target("b", 0, 10),
            target("c", 0, 10),
            target("d", 0, 10),
        ];
        let mut p = with_targets("{}", &t);
        assert_eq!(picks(&mut p, &t, 3), ["a", "b", "c"]);
        // `d` was next and is gone: wrap to the start.
        let small = [target("b", 0, 10), target("a", 0, 10)];
        p.targets_changed(&small);
        assert_eq!(picks(&mut p, &small, 3), ["a", "b", "a"]);
        // `b` is next and stays: carry on there, new ids join in order.
        p.targets_changed(&t);
        assert_eq!(picks(&mut p, &t, 4), ["b", "c", "d", "a"]);
        // `b` is next but now full: the next id after it.
        let b_full = [target("a", 0, 10), target("b", 10, 10), target("c", 0, 10)];
        p.targets_changed(&b_full);
        assert_eq!(picks(&mut p, &b_full, 3), ["c", "a", "c"]);
        // Down to nothing and back.
        p.targets_changed(&[]);
        assert_eq!(p.select(&player(), &[]).unwrap(), None);
        p.targets_changed(&t);
        assert_eq!(picks(&mut p, &t, 2), ["a", "b"]);
    }

    #[test]
    fn rejects_bad_config_naming_the_key() {
        let e = plugin(r#"{"skip_full": "yes"}"#).unwrap_err();
        assert!(e.contains("`skip_full`"), "{e}");
        let e = plugin(r#"{"players_key": ""}"#).unwrap_err();
        assert!(e.contains("`players_key`"), "{e}");
        let e = plugin(r#"{"capacity_key": 1}"#).unwrap_err();
        assert!(e.contains("`capacity_key`"), "{e}");
        let e = plugin(r#"{"skipfull": true}"#).unwrap_err();
        assert!(e.contains("`skipfull`"), "{e}");
    }
}
