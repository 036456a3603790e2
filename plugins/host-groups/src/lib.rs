//! `host-groups`: routes by the address the player typed to the least loaded target of its group.

use std::collections::HashMap;

use passage_sdk::{Config, Player, Plugin, Strategy, Target};

#[derive(Debug)]
pub struct HostGroups {
    /// Exact server address (lower-case) → group.
    exact: HashMap<String, String>,
    /// Domain of a `*.` entry (lower-case, without the `*.`) → group.
    wildcard: HashMap<String, String>,
    /// Group for addresses no route matches; `None` leaves those players unrouted.
    default_group: Option<String>,
    /// Metadata key naming a target's group.
    group_key: String,
    /// Metadata key holding a target's current player count.
    players_key: String,
    /// Metadata key holding a target's capacity.
    capacity_key: String,
    /// Group → index of its least loaded target with room, recomputed when the
    /// targets change. A group without such a target has no entry.
    best: HashMap<String, usize>,
}

/// A server address as the handshake carries it: lower-case, no trailing dot.
fn normalize(address: &str) -> String {
    address.trim_end_matches('.').to_ascii_lowercase()
}

impl HostGroups {
    /// The group for a server address: an exact route, else the most specific
    /// wildcard route, else the default group.
    fn group_for(&self, address: &str) -> Option<&str> {
        let address = normalize(address);
        if let Some(group) = self.exact.get(&address) {
            return Some(group);
        }
        // `*.example.com` covers every name ending in `.example.com`; the longest
        // matching domain wins.
        let mut rest = address.as_str();
        while let Some((_, parent)) = rest.split_once('.') {
            if let Some(group) = self.wildcard.get(parent) {
                return Some(group);
            }
            rest = parent;
        }
        self.default_group.as_deref()
    }
}

impl Plugin for HostGroups {
    fn new(config: Config) -> Result<Self, String> {
        config.deny_unknown(&[
            "routes",
            "default_group",
            "group_key",
            "players_key",
            "capacity_key",
        ])?;
        let mut exact = HashMap::new();
        let mut wildcard = HashMap::new();
        match config.get("routes") {
            None => {}
            Some(serde_json::Value::Object(routes)) => {
                for (address, group) in routes {
                    let key = format!("`routes.\"{address}\"`");
                    let group = match group {
                        serde_json::Value::String(g) if !g.is_empty() => g.clone(),
                        _ => return Err(format!("{key} must be a non-empty group name")),
                    };
                    let address = normalize(address.trim());
                    let (map, domain) = match address.strip_prefix("*.") {
                        Some(domain) => (&mut wildcard, domain.to_owned()),
                        None => (&mut exact, address.clone()),
                    };
                    if domain.is_empty() || domain.contains('*') || domain.starts_with('.') {
                        return Err(format!(
                            "{key}: an address is a host name, or `*.` and a domain"
                        ));
                    }
                    if map.insert(domain, group).is_some() {
                        return Err(format!("{key}: address listed twice (case-insensitive)"));
                    }
                }
            }
            Some(_) => {
                return Err("`routes` must be a table of server address = group name".to_owned());
            }
        }
        let default_group = match config.get_str("default_group")? {
            Some("") => return Err("`default_group` must not be empty".to_owned()),
            other => other.map(str::to_owned),
        };
        Ok(HostGroups {
            exact,
            wildcard,
            default_group,
            group_key: config.get_name("group_key", "group")?,
            players_key: config.get_name("players_key", "players")?,
            capacity_key: config.get_name("capacity_key", "max_players")?,
            best: HashMap::new(),
        })
    }
}

impl Strategy for HostGroups {
    fn targets_changed(&mut self, targets: &[Target]) {
        // Per group: the least loaded target with room; ties by id (ascending) so
        // every replica picks the same target.
        let mut best: HashMap<&str, (u64, &str, usize)> = HashMap::new();
        for (i, t) in targets.iter().enumerate() {
            let Some(group) = t.meta(&self.group_key) else {
                continue;
            };
            // Missing or non-numeric count: empty. Missing or non-numeric capacity: room.
            let players = t.meta_count(&self.players_key).unwrap_or(0);
            if t.meta_count(&self.capacity_key)
                .is_some_and(|capacity| players >= capacity)
            {
                continue;
            }
            let candidate = (players, t.id.as_str(), i);
            best.entry(group)
                .and_modify(|b| {
                    if (candidate.0, candidate.1) < (b.0, b.1) {
                        *b = candidate;
                    }
                })
                .or_insert(candidate);
        }
        self.best = best
            .into_iter()
            .map(|(group, (_, _, i))| (group.to_owned(), i))
            .collect();
    }

    fn select(&mut self, player: &Player, targets: &[Target]) -> Result<Option<String>, String> {
        // A group without room yields `None`: never another group.
        Ok(self
            .group_for(&player.server_address)
            .and_then(|group| self.best.get(group))
            .and_then(|&i| targets.get(i))
            .map(|t| t.id.clone()))
    }
}

passage_sdk::export_strategy!(HostGroups);
passage_sdk::manifest!();

#[cfg(test)]
mod tests {
    use super::*;

    fn target(id: &str, group: &str, players: u32, max: u32) -> Target {
        Target::new(id, "h", 25565)
            .with("group", group)
            .with("players", players)
            .with("max_players", max)
    }

    fn player(address: &str) -> Player {
        Player {
            server_address: address.into(),
            ..Player::example()
        }
    }

    fn plugin(json: &str) -> Result<HostGroups, String> {
        HostGroups::new(Config::from_json(json)?)
    }

    const ROUTES: &str = r#"{"routes": {
        "survival.example.com": "survival",
        "*.survival.example.com": "survival",
        "Creative.Example.com": "creative",
        "*.example.com": "minigames"
    }, "default_group": "lobby"}"#;

    fn targets() -> Vec<Target> {
        vec![
            target("survival-2", "survival", 30, 100),
            target("survival-1", "survival", 40, 100),
            target("creative-1", "creative", 5, 50),
            target("games-1", "minigames", 0, 20),
            target("lobby-1", "lobby", 10, 100),
        ]
    }

    fn pick(p: &mut HostGroups, targets: &[Target], address: &str) -> Option<String> {
        p.select(&player(address), targets).unwrap()
    }

    fn routed(json: &str, targets: &[Target]) -> HostGroups {
        let mut p = plugin(json).unwrap();
        p.targets_changed(targets);
        p
    }

    #[test]
    fn exact_host() {
        let t = targets();
        let mut p = routed(ROUTES, &t);
        assert_eq!(
            pick(&mut p, &t, "creative.example.com").as_deref(),
            Some("creative-1")
        );
        assert_eq!(
            pick(&mut p, &t, "survival.example.com").as_deref(),
            Some("survival-2")
        );
    }

    #[test]
    fn wildcard_host_most_specific_wins() {
        let t = targets();
        let mut p = routed(ROUTES, &t);
        assert_eq!(
            pick(&mut p, &t, "eu.survival.example.com").as_deref(),
            Some("survival-2")
        );
        assert_eq!(
            pick(&mut p, &t, "a.b.survival.example.com").as_deref(),
            Some("survival-2")
        );
        assert_eq!(
            pick(&mut p, &t, "skywars.example.com").as_deref(),
            Some("games-1")
        );
        // `*.example.com` does not cover `example.com` itself.
        assert_eq!(pick(&mut p, &t, "example.com").as_deref(), Some("lobby-1"));
    }

    #[test]
    fn case_insensitive_host() {
        let t = targets();
        let mut p = routed(ROUTES, &t);
        assert_eq!(
            pick(&mut p, &t, "CREATIVE.example.COM").as_deref(),
            Some("creative-1")
        );
        assert_eq!(
            pick(&mut p, &t, "Eu.Survival.Example.Com.").as_deref(),
            Some("survival-2")
        );
    }

    #[test]
    fn default_group_for_unmatched_addresses() {
        let t = targets();
        let mut p = routed(ROUTES, &t);
        assert_eq!(pick(&mut p, &t, "10.0.0.1").as_deref(), Some("lobby-1"));
        assert_eq!(
            pick(&mut p, &t, "play.other.net").as_deref(),
            Some("lobby-1")
        );
    }

    #[test]
    fn no_default_means_none() {
        let t = targets();
        let mut p = routed(r#"{"routes": {"creative.example.com": "creative"}}"#, &t);
        assert_eq!(pick(&mut p, &t, "survival.example.com"), None);
        assert_eq!(
            pick(&mut p, &t, "creative.example.com").as_deref(),
            Some("creative-1")
        );
    }

    #[test]
    fn full_group_is_none_without_fallback() {
        let t = [
            target("survival-1", "survival", 100, 100),
            target("survival-2", "survival", 120, 100),
            target("lobby-1", "lobby", 0, 100),
        ];
        let mut p = routed(ROUTES, &t);
        assert_eq!(pick(&mut p, &t, "survival.example.com"), None);
        // A group with no targets at all is no different.
        assert_eq!(pick(&mut p, &t, "creative.example.com"), None);
    }

    #[test]
    fn least_loaded_with_room_wins_ties_by_id() {
        let t = [
            target("s-c", "survival", 10, 100),
            target("s-b", "survival", 10, 100),
            target("s-a", "survival", 9, 9),
            target("s-d", "survival", 50, 100),
        ];
        let mut p = routed(ROUTES, &t);
        assert_eq!(
            pick(&mut p, &t, "survival.example.com").as_deref(),
            Some("s-b")
        );
        // Missing capacity is room; a missing or non-numeric count is 0.
        let t = [
            target("s-a", "survival", 10, 100),
            Target {
                metadata: vec![
                    ("group".into(), "survival".into()),
                    ("players".into(), "?".into()),
                ],
                ..target("s-z", "", 0, 0)
            },
        ];
        p.targets_changed(&t);
        assert_eq!(
            pick(&mut p, &t, "survival.example.com").as_deref(),
            Some("s-z")
        );
    }

    #[test]
    fn custom_metadata_keys() {
        let meta = |id: &str, pool: &str, online: &str| Target {
            metadata: vec![
                ("pool".into(), pool.into()),
                ("online".into(), online.into()),
                ("slots".into(), "10".into()),
            ],
            ..target(id, "survival", 0, 100)
        };
        let t = [
            meta("a", "pvp", "3"),
            meta("b", "pvp", "2"),
            meta("c", "pvp", "10"),
        ];
        let json = r#"{"routes": {"pvp.example.com": "pvp"}, "group_key": "pool",
                       "players_key": "online", "capacity_key": "slots"}"#;
        let mut p = routed(json, &t);
        assert_eq!(pick(&mut p, &t, "pvp.example.com").as_deref(), Some("b"));
    }

    #[test]
    fn rejects_bad_config_naming_the_key() {
        let e = plugin(r#"{"routes": {"a.example.com": 1}}"#).unwrap_err();
        assert!(e.contains(r#"`routes."a.example.com"`"#), "{e}");
        let e = plugin(r#"{"routes": {"*.": "x"}}"#).unwrap_err();
        assert!(e.contains(r#"`routes."*."`"#), "{e}");
        let e = plugin(r#"{"routes": {"a.*.com": "x"}}"#).unwrap_err();
        assert!(e.contains("routes"), "{e}");
        let e = plugin(r#"{"routes": {"A.com": "x", "a.com": "y"}}"#).unwrap_err();
        assert!(e.contains("twice"), "{e}");
        let e = plugin(r#"{"routes": ["a.com"]}"#).unwrap_err();
        assert!(e.contains("`routes`"), "{e}");
        let e = plugin(r#"{"default_group": 3}"#).unwrap_err();
        assert!(e.contains("`default_group`"), "{e}");
        let e = plugin(r#"{"group_key": ""}"#).unwrap_err();
        assert!(e.contains("`group_key`"), "{e}");
        let e = plugin(r#"{"route": {}}"#).unwrap_err();
        assert!(e.contains("`route`"), "{e}");
    }
}
