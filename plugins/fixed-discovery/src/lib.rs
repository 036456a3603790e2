//! `fixed-discovery`: the backends listed in its config, the same for every player.

use std::hash::{DefaultHasher, Hash, Hasher};

use passage_sdk::{Config, Discovered, Discovery, Player, Plugin, Target, TargetList};

#[derive(Debug)]
pub struct FixedDiscovery {
    targets: Vec<Target>,
    revision: u64,
}

fn target(i: usize, v: &serde_json::Value) -> Result<Target, String> {
    let key = |k: &str| format!("`targets[{i}].{k}`");
    let obj = v
        .as_object()
        .ok_or_else(|| format!("`targets[{i}]` must be a table"))?;
    if let Some(unknown) = obj
        .keys()
        .find(|k| !["id", "host", "port", "metadata"].contains(&k.as_str()))
    {
        return Err(format!("{}: unknown key", key(unknown)));
    }
    let string = |k: &str| -> Result<String, String> {
        match obj.get(k) {
            Some(serde_json::Value::String(s)) if !s.is_empty() => Ok(s.clone()),
            _ => Err(format!("{} must be a non-empty string", key(k))),
        }
    };
    let port = match obj.get("port") {
        None => 25565,
        Some(p) => p
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .filter(|p| *p != 0)
            .ok_or_else(|| format!("{} must be a port number (1-65535)", key("port")))?,
    };
    let metadata = match obj.get("metadata") {
        None => Vec::new(),
        Some(serde_json::Value::Object(m)) => m
            .iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => Ok((k.clone(), s.clone())),
                serde_json::Value::Number(n) => Ok((k.clone(), n.to_string())),
                serde_json::Value::Bool(b) => Ok((k.clone(), b.to_string())),
                _ => Err(format!(
                    "{} values must be strings or numbers",
                    key("metadata")
                )),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(format!("{} must be a table", key("metadata"))),
    };
    Ok(Target {
        id: string("id")?,
        host: string("host")?,
        port,
        metadata,
    })
}

impl Plugin for FixedDiscovery {
    fn new(config: Config) -> Result<Self, String> {
        config.deny_unknown(&["targets"])?;
        let targets: Vec<Target> = match config.get("targets") {
            None => Vec::new(),
            Some(serde_json::Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, v)| target(i, v))
                .collect::<Result<_, _>>()?,
            Some(_) => return Err("`targets` must be a list of tables".to_owned()),
        };
        let mut ids: Vec<&str> = targets.iter().map(|t| t.id.as_str()).collect();
        ids.sort_unstable();
        if let Some(w) = ids.windows(2).find(|w| w[0] == w[1]) {
            return Err(format!("`targets`: id `{}` appears twice", w[0]));
        }
        // The list never changes while this instance lives; its revision is a hash
        // of its contents so every instance (and every replica) agrees on it.
        let mut h = DefaultHasher::new();
        for t in &targets {
            (&t.id, &t.host, t.port, &t.metadata).hash(&mut h);
        }
        Ok(FixedDiscovery {
            targets,
            revision: h.finish(),
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
