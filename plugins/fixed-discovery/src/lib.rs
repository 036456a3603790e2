//! `fixed-discovery`: the backends listed in its config, the same for every player.

use passage_sdk::{
    Config, Discovered, Discovery, ExtraKeys, Player, Plugin, Target, TargetList, revision_of,
    targets_from_json,
};

#[derive(Debug)]
pub struct FixedDiscovery {
    targets: Vec<Target>,
    revision: u64,
}

impl Plugin for FixedDiscovery {
    fn new(config: Config) -> Result<Self, String> {
        config.deny_unknown(&["targets"])?;
        let targets: Vec<Target> = match config.get("targets") {
            None => Vec::new(),
            Some(serde_json::Value::Array(items)) => targets_from_json(items, ExtraKeys::Reject)?,
            Some(_) => return Err("`targets` must be a list of tables".to_owned()),
        };
        // The list never changes while this instance lives; its revision is a hash
        // of its contents so every instance (and every replica) agrees on it.
        Ok(FixedDiscovery {
            revision: revision_of(&targets),
            targets,
        })
    }
}

impl Discovery for FixedDiscovery {
    fn discover(&mut self, _player: &Player, known: Option<u64>) -> Result<Discovered, String> {
        if known == Some(self.revision) {
            return Ok(Discovered::Unchanged);
        }
        Ok(Discovered::Targets(TargetList {
            revision: self.revision,
            targets: self.targets.clone(),
        }))
    }
}

passage_sdk::export_discovery!(FixedDiscovery);
passage_sdk::manifest!();

#[cfg(test)]
mod tests {
    use super::*;

    fn plugin(json: &str) -> Result<FixedDiscovery, String> {
        FixedDiscovery::new(Config::from_json(json)?)
    }

    fn player() -> Player {
        Player::example()
    }

    #[test]
    fn lists_targets_then_answers_unchanged() {
        let mut p = plugin(
            r#"{"targets": [{"id": "lobby-1", "host": "10.0.0.1", "port": 25566,
                              "metadata": {"players": 3, "max_players": "100"}}]}"#,
        )
        .unwrap();
        let Discovered::Targets(list) = p.discover(&player(), None).unwrap() else {
            panic!("first call lists the targets")
        };
        assert_eq!(list.targets[0].port, 25566);
        assert!(
            list.targets[0]
                .metadata
                .contains(&("players".into(), "3".into()))
        );
        assert!(matches!(
            p.discover(&player(), Some(list.revision)).unwrap(),
            Discovered::Unchanged
        ));
    }

    #[test]
    fn rejects_bad_targets_naming_the_key() {
        let e = plugin(r#"{"targets": [{"id": "a", "host": "h", "port": 0}]}"#).unwrap_err();
        assert!(e.contains("targets[0].port"), "{e}");
        let e = plugin(r#"{"targets": [{"id": "a"}]}"#).unwrap_err();
        assert!(e.contains("targets[0].host"), "{e}");
        let e = plugin(r#"{"targets": [{"id": "a", "host": "h"}, {"id": "a", "host": "i"}]}"#)
            .unwrap_err();
        assert!(e.contains("twice"), "{e}");
    }
}
