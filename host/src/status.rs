//! The server-list answer: status plugins in order, then the configured fallback,
//! rendered to the JSON a client expects and bounded to what the packet can carry.

use std::sync::Arc;

use base64::Engine as _;
use serde_json::{Value, json};

use crate::config::FallbackStatus;
use crate::plugins::Plugins;
use crate::plugins::types::{StatusReply, StatusRequest, Text};
use crate::versions;

/// The Status Response string is limited to 32767 UTF-16 units.
const MAX_STATUS_JSON: usize = 32767;
/// The client shows at most this many sample entries; more is wasted bytes.
const MAX_SAMPLE: usize = 12;
/// A 64x64 PNG as a data URI comfortably fits; anything larger is not an icon.
const MAX_FAVICON: usize = 24 * 1024;
const FAVICON_PREFIX: &str = "data:image/png;base64,";

pub struct StatusService {
    plugins: Arc<Plugins>,
    fallback: StatusReply,
}

/// What the client sees, with where it came from for the log.
pub struct StatusAnswer {
    pub json: String,
    pub source: Arc<str>,
    /// Plain-text parts for the pre-1.7 ping.
    pub version_name: String,
    pub motd_plain: String,
    pub online: i64,
    pub max: i64,
}

/// Reads a server icon file into the data URI the status JSON carries; errors
/// name the `status.favicon_file` key.
pub fn read_favicon(path: &std::path::Path) -> anyhow::Result<String> {
    let png = std::fs::read(path)
        .map_err(|e| anyhow::anyhow!("status.favicon_file: cannot read {}: {e}", path.display()))?;
    if !png.starts_with(b"\x89PNG\r\n\x1a\n") {
        anyhow::bail!("status.favicon_file: {} is not a PNG file", path.display());
    }
    let uri = format!(
        "{FAVICON_PREFIX}{}",
        base64::engine::general_purpose::STANDARD.encode(&png)
    );
    if uri.len() > MAX_FAVICON {
        anyhow::bail!(
            "status.favicon_file: {} is too large for a server icon (use a 64x64 PNG)",
            path.display()
        );
    }
    Ok(uri)
}

impl StatusService {
    pub fn new(plugins: Arc<Plugins>, fallback: &FallbackStatus) -> anyhow::Result<StatusService> {
        let favicon = match &fallback.favicon_file {
            None => None,
            Some(path) => Some(read_favicon(path)?),
        };
        Ok(StatusService {
            plugins,
            fallback: StatusReply {
                version_name: fallback.version_name.clone(),
                version_protocol: None,
                players: Some(crate::plugins::types::Players {
                    online: fallback.online_players,
                    max: fallback.max_players,
                    sample: Vec::new(),
                }),
                description: Text::Plain(fallback.motd.clone()),
                favicon,
                enforces_secure_chat: false,
            },
        })
    }

    /// Asks each status plugin in turn; the first answer wins. A plugin that
    /// declines, fails or answers something unusable is skipped (failures are
    /// logged), and the configured fallback answers when none did.
    pub async fn answer(&self, request: &StatusRequest) -> StatusAnswer {
        for plugin in &self.plugins.status {
            match plugin.status(request).await {
                Ok(Some(response)) => match render(&response, request.protocol) {
                    Ok(json) => return answer(json, plugin.name().into(), &response),
                    Err(why) => tracing::warn!(
                        plugin = plugin.name(),
                        "status plugin answer unusable: {why}"
                    ),
                },
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(plugin = plugin.name(), "status plugin {e}; using fallback")
                }
            }
        }
        let json = render(&self.fallback, request.protocol).unwrap_or_else(|_| {
            r#"{"version":{"name":"Passage","protocol":0},"description":{"text":""}}"#.to_owned()
        });
        answer(json, "fallback".into(), &self.fallback)
    }
}

fn answer(json: String, source: Arc<str>, r: &StatusReply) -> StatusAnswer {
    let (online, max) = r
        .players
        .as_ref()
        .map(|p| (i64::from(p.online), i64::from(p.max)))
        .unwrap_or((0, 0));
    StatusAnswer {
        json,
        source,
        version_name: r.version_name.clone(),
        motd_plain: plain_text(&r.description),
        online,
        max,
    }
}

/// Renders a response for a client speaking `client_protocol`. Oversized parts
/// are dropped (favicon first, then the sample) before giving up.
pub fn render(r: &StatusReply, client_protocol: i32) -> Result<String, String> {
    // Refuse what cannot fit before building anything: a plugin answering megabytes
    // must cost a length check, not several serializations on a runtime thread
    // (found by `adversarial::concurrent_pings_through_a_2_mib_motd_*`). The text
    // parts alone already exceed the limit when their UTF-8 bytes exceed three
    // times it (a UTF-16 unit takes at most three UTF-8 bytes).
    let description_len = match &r.description {
        Text::Plain(text) | Text::Json(text) => text.len(),
    };
    let text_len = description_len
        .saturating_add(r.version_name.len())
        .saturating_add(
            r.players
                .iter()
                .flat_map(|p| p.sample.iter().take(MAX_SAMPLE))
                .map(|s| s.name.len().saturating_add(s.id.len()))
                .sum(),
        );
    if text_len > 3 * MAX_STATUS_JSON {
        return Err(format!(
            "response text is {text_len} bytes, over the protocol's limit"
        ));
    }
    let protocol = r
        .version_protocol
        .unwrap_or(if versions::is_supported(client_protocol) {
            client_protocol
        } else {
            versions::NEWEST_KNOWN
        });
    let description = match &r.description {
        Text::Plain(text) => json!({ "text": text }),
        Text::Json(raw) => match serde_json::from_str::<Value>(raw) {
            Ok(v @ (Value::Object(_) | Value::Array(_) | Value::String(_))) => v,
            _ => return Err("description is not a JSON text component".to_owned()),
        },
    };
    let mut doc = json!({
        "version": { "name": r.version_name, "protocol": protocol },
        "description": description,
        "enforcesSecureChat": r.enforces_secure_chat,
    });
    if let Some(p) = &r.players {
        let sample: Vec<Value> = p
            .sample
            .iter()
            .take(MAX_SAMPLE)
            .map(|s| json!({ "name": s.name, "id": s.id }))
            .collect();
        doc["players"] = json!({ "max": p.max, "online": p.online, "sample": sample });
    }
    if let Some(icon) = &r.favicon {
        if icon.starts_with(FAVICON_PREFIX) && icon.len() <= MAX_FAVICON {
            doc["favicon"] = Value::String(icon.clone());
        } else {
            tracing::debug!("dropping a favicon that is not a small PNG data URI");
        }
    }
    let mut json = doc.to_string();
    if utf16_len(&json) > MAX_STATUS_JSON {
        if let Some(obj) = doc.as_object_mut() {
            obj.remove("favicon");
        }
        json = doc.to_string();
    }
    if utf16_len(&json) > MAX_STATUS_JSON {
        if let Some(players) = doc.get_mut("players").and_then(Value::as_object_mut) {
            players.remove("sample");
        }
        json = doc.to_string();
    }
    if utf16_len(&json) > MAX_STATUS_JSON {
        return Err(format!(
            "response is {} bytes, over the protocol's limit",
            json.len()
        ));
    }
    Ok(json)
}

fn utf16_len(s: &str) -> usize {
    s.encode_utf16().count()
}

/// The description without formatting structure, for the pre-1.7 ping.
fn plain_text(t: &Text) -> String {
    fn collect(v: &Value, out: &mut String) {
        match v {
            Value::String(s) => out.push_str(s),
            Value::Array(items) => items.iter().for_each(|i| collect(i, out)),
            Value::Object(o) => {
                if let Some(t) = o.get("text") {
                    collect(t, out);
                }
                if let Some(extra) = o.get("extra") {
                    collect(extra, out);
                }
            }
            _ => {}
        }
    }
    match t {
        Text::Plain(s) => s.clone(),
        Text::Json(raw) => {
            let mut out = String::new();
            if let Ok(v) = serde_json::from_str::<Value>(raw) {
                collect(&v, &mut out);
            }
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::types::{PlayerSample, Players};

    fn response() -> StatusReply {
        StatusReply {
            version_name: "Passage".into(),
            version_protocol: None,
            players: Some(Players {
                online: 3,
                max: 10,
                sample: vec![PlayerSample {
                    name: "Steve".into(),
                    id: "8667ba71-b85a-4004-af54-457a9734eed7".into(),
                }],
            }),
            description: Text::Plain("§aHello".into()),
            favicon: Some(format!("{FAVICON_PREFIX}AAAA")),
            enforces_secure_chat: true,
        }
    }

    #[test]
    fn renders_the_vanilla_shape() {
        let v: Value = serde_json::from_str(&render(&response(), 767).unwrap()).unwrap();
        assert_eq!(v["version"], json!({"name": "Passage", "protocol": 767}));
        assert_eq!(v["players"]["online"], 3);
        assert_eq!(v["players"]["sample"][0]["name"], "Steve");
        assert_eq!(v["description"], json!({"text": "§aHello"}));
        assert_eq!(v["favicon"], format!("{FAVICON_PREFIX}AAAA"));
        assert_eq!(v["enforcesSecureChat"], true);
    }

    #[test]
    fn unsupported_clients_see_the_newest_protocol() {
        let v: Value = serde_json::from_str(&render(&response(), 47).unwrap()).unwrap();
        assert_eq!(v["version"]["protocol"], versions::NEWEST_KNOWN);
    }

    #[test]
    fn invalid_json_description_is_refused() {
        let mut r = response();
        r.description = Text::Json("{not json".into());
        assert!(render(&r, 767).is_err());
    }

    #[test]
    fn invalid_or_huge_favicon_is_dropped() {
        let mut r = response();
        r.favicon = Some("http://example.com/icon.png".into());
        let v: Value = serde_json::from_str(&render(&r, 767).unwrap()).unwrap();
        assert!(v.get("favicon").is_none());
        r.favicon = Some(format!("{FAVICON_PREFIX}{}", "A".repeat(MAX_FAVICON)));
        let v: Value = serde_json::from_str(&render(&r, 767).unwrap()).unwrap();
        assert!(v.get("favicon").is_none());
    }

    #[test]
    fn oversized_motd_is_refused() {
        let mut r = response();
        r.description = Text::Plain("x".repeat(2_000_000));
        assert!(render(&r, 767).is_err());
    }

    #[test]
    fn plain_text_flattens_components() {
        let t = Text::Json(r#"{"text":"a","extra":[{"text":"b"},"c"]}"#.into());
        assert_eq!(plain_text(&t), "abc");
    }
}
