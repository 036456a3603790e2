//! `fixed-status`: answers the server-list ping with a fixed MOTD, version, player
//! counts and favicon taken from its `[plugins.fixed-status]` config table.

use passage_sdk::{
    Config, PlayerSample, Players, Plugin, Status, StatusRequest, StatusResponse, Text,
};

const KEYS: &[&str] = &[
    "motd",
    "motd_json",
    "version_name",
    "min_protocol",
    "max_protocol",
    "online_players",
    "max_players",
    "sample",
    "hide_players",
    "favicon",
    "enforces_secure_chat",
];

#[derive(Debug)]
pub struct FixedStatus {
    description: Text,
    version_name: String,
    protocols: std::ops::RangeInclusive<i32>,
    players: Option<Players>,
    favicon: Option<String>,
    enforces_secure_chat: bool,
}

fn protocol(config: &Config, key: &str, default: i32) -> Result<i32, String> {
    match config.get_i64(key)? {
        None => Ok(default),
        Some(v) => i32::try_from(v)
            .ok()
            .filter(|v| *v >= 0)
            .ok_or_else(|| format!("`{key}` must be a protocol number, got {v}")),
    }
}

fn count(config: &Config, key: &str, default: u32) -> Result<u32, String> {
    match config.get_i64(key)? {
        None => Ok(default),
        Some(v) => u32::try_from(v)
            .map_err(|_| format!("`{key}` must be between 0 and {}, got {v}", u32::MAX)),
    }
}

impl Plugin for FixedStatus {
    fn new(config: Config) -> Result<Self, String> {
        config.deny_unknown(KEYS)?;
        let description = match (config.get_str("motd")?, config.get_str("motd_json")?) {
            (Some(_), Some(_)) => return Err("set `motd` or `motd_json`, not both".to_owned()),
            (_, Some(json)) => {
                serde_json::from_str::<serde_json::Value>(json)
                    .map_err(|e| format!("`motd_json` is not valid JSON: {e}"))?;
                Text::Json(json.to_owned())
            }
            (Some(text), None) => Text::Plain(text.to_owned()),
            (None, None) => Text::Plain("A Minecraft network routed by Passage".to_owned()),
        };
        let min_protocol = protocol(&config, "min_protocol", 766)?;
        let max_protocol = protocol(&config, "max_protocol", 775)?;
        if min_protocol > max_protocol {
            return Err(format!(
                "`min_protocol` ({min_protocol}) is above `max_protocol` ({max_protocol})"
            ));
        }
        let sample = match config.get("sample") {
            None => Vec::new(),
            Some(serde_json::Value::Array(names)) => names
                .iter()
                .map(|n| match n.as_str() {
                    Some(name) => Ok(PlayerSample {
                        name: name.to_owned(),
                        // The client only shows the names; a nil id is what vanilla
                        // servers send for anonymous entries.
                        id: "00000000-0000-0000-0000-000000000000".to_owned(),
                    }),
                    None => Err(format!("`sample` must be a list of names, got {n}")),
                })
                .collect::<Result<_, _>>()?,
            Some(other) => return Err(format!("`sample` must be a list of names, got {other}")),
        };
        let players = if config.get_bool("hide_players")?.unwrap_or(false) {
            None
        } else {
            Some(Players {
                online: count(&config, "online_players", 0)?,
                max: count(&config, "max_players", 100)?,
                sample,
            })
        };
        let favicon = match config.get_str("favicon")? {
            None => None,
            Some(f) if f.starts_with("data:image/png;base64,") => Some(f.to_owned()),
            Some(f) if !f.is_empty() && !f.contains(':') => {
                Some(format!("data:image/png;base64,{f}"))
            }
            Some(_) => {
                return Err(
                    "`favicon` must be `data:image/png;base64,...` or bare base64 \
                            (`base64 -w0 server-icon.png`)"
                        .to_owned(),
                );
            }
        };
        Ok(FixedStatus {
            description,
            version_name: config
                .get_str("version_name")?
                .unwrap_or("Passage 1.20.5-26.1")
                .to_owned(),
            protocols: min_protocol..=max_protocol,
            players,
            favicon,
            enforces_secure_chat: config.get_bool("enforces_secure_chat")?.unwrap_or(false),
        })
    }
}

impl Status for FixedStatus {
    fn status(&mut self, request: &StatusRequest) -> Option<StatusResponse> {
        // Echo a supported client's own protocol so its list shows no "outdated"
        // warning; anything else sees the newest supported one.
        let protocol = if self.protocols.contains(&request.protocol) {
            request.protocol
        } else {
            *self.protocols.end()
        };
        Some(StatusResponse {
            version_name: self.version_name.clone(),
            version_protocol: Some(protocol),
            players: self.players.clone(),
            description: self.description.clone(),
            favicon: self.favicon.clone(),
            enforces_secure_chat: self.enforces_secure_chat,
        })
    }
}

passage_sdk::export_status!(FixedStatus);
passage_sdk::manifest!();

#[cfg(test)]
mod tests {
    use super::*;

    fn plugin(json: &str) -> Result<FixedStatus, String> {
        FixedStatus::new(Config::from_json(json)?)
    }

    fn request(protocol: i32) -> StatusRequest {
        StatusRequest {
            client_ip: "127.0.0.1".into(),
            protocol,
            server_address: "play.example.com".into(),
            server_port: 25565,
        }
    }

    #[test]
    fn echoes_supported_protocol_and_announces_newest_otherwise() {
        let mut p = plugin(r#"{"min_protocol": 766, "max_protocol": 770}"#).unwrap();
        assert_eq!(p.status(&request(768)).unwrap().version_protocol, Some(768));
        assert_eq!(p.status(&request(47)).unwrap().version_protocol, Some(770));
    }

    #[test]
    fn reads_counts_sample_and_favicon() {
        let mut p = plugin(
            r#"{"motd": "§aHi", "online_players": 42, "max_players": 500,
                "sample": ["Steve"], "favicon": "iVBORw0KGgo="}"#,
        )
        .unwrap();
        let r = p.status(&request(767)).unwrap();
        let players = r.players.unwrap();
        assert_eq!((players.online, players.max), (42, 500));
        assert_eq!(players.sample[0].name, "Steve");
        assert_eq!(
            r.favicon.as_deref(),
            Some("data:image/png;base64,iVBORw0KGgo=")
        );
        assert!(matches!(r.description, Text::Plain(ref t) if t == "§aHi"));
    }

    #[test]
    fn rejects_bad_config_naming_the_key() {
        assert!(plugin(r#"{"motd": 5}"#).unwrap_err().contains("`motd`"));
        assert!(
            plugin(r#"{"max_players": -1}"#)
                .unwrap_err()
                .contains("`max_players`")
        );
        assert!(plugin(r#"{"mtod": "x"}"#).unwrap_err().contains("`mtod`"));
        assert!(
            plugin(r#"{"motd_json": "{"}"#)
                .unwrap_err()
                .contains("`motd_json`")
        );
    }
}
