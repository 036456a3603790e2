//! `v2-roles`: a test plugin that exports the three roles of contract 0.1.0 at
//! contract version 0.2.0 — `passage:plugin/status@0.2.0`,
//! `passage:plugin/discovery@0.2.0` and `passage:plugin/strategy@0.2.0` — from one
//! component, and imports `passage:plugin/log@0.2.0`. It uses raw wit-bindgen
//! rather than `passage-sdk` (which exports these roles at 0.1.0).
//!
//! - status: plain description `v2 status`, version name `v2`, 1 of 2 players
//!   online, no favicon, no version protocol.
//! - discovery: the configured targets (or two defaults, `v2-a` and `v2-b`) at
//!   revision 1; `unchanged` when the host already holds revision 1.
//! - strategy: the **last** target of the last `set-targets`, so tests can tell it
//!   from strategies that choose the first.
//!
//! ```toml
//! [plugins.v2-roles]
//! targets = [{ id = "a", host = "10.0.0.1", port = 25565 }]
//! ```

use std::cell::RefCell;

use serde::Deserialize;

/// wit/0.2.0 has no world with all three roles, so one is assembled inline from the
/// per-role worlds of the 0.2.0 package, which is read from its folder (not copied).
mod bindings {
    wit_bindgen::generate!({
        inline: "
            package passage-tests:v2-roles;

            world v2-roles {
                include passage:plugin/status-plugin@0.2.0;
                include passage:plugin/discovery-plugin@0.2.0;
                include passage:plugin/strategy-plugin@0.2.0;
            }
        ",
        path: "../../../wit/0.2.0",
        world: "passage-tests:v2-roles/v2-roles",
        // The interfaces live in the 0.2.0 package, not in the inline one.
        generate_all,
    });
}

use bindings::exports::passage::plugin::{discovery, status, strategy};
use bindings::passage::plugin::log::{Level, log};
use bindings::passage::plugin::types::{Player, Target};

/// Revision of the (fixed) target list.
const REVISION: u64 = 1;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetConfig {
    id: String,
    host: String,
    port: u16,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    #[serde(default)]
    targets: Option<Vec<TargetConfig>>,
}

/// The discovered targets from a `configure` JSON object.
fn parse_config(json: &str) -> Result<Vec<Target>, String> {
    let value: serde_json::Value =
        serde_json::from_str(json).map_err(|e| format!("v2-roles: config is not JSON: {e}"))?;
    if !value.is_object() {
        return Err(format!("v2-roles: config must be a table, got {value}"));
    }
    let config: Config =
        serde_json::from_value(value).map_err(|e| format!("v2-roles: bad config: {e}"))?;
    let targets = match config.targets {
        Some(targets) => targets
            .into_iter()
            .map(|t| Target {
                id: t.id,
                host: t.host,
                port: t.port,
                metadata: Vec::new(),
            })
            .collect(),
        None => default_targets(),
    };
    for (i, t) in targets.iter().enumerate() {
        if targets[..i].iter().any(|o| o.id == t.id) {
            return Err(format!("v2-roles: `targets`: id `{}` appears twice", t.id));
        }
    }
    Ok(targets)
}

fn default_targets() -> Vec<Target> {
    [("v2-a", "10.2.0.1"), ("v2-b", "10.2.0.2")]
        .into_iter()
        .map(|(id, host)| Target {
            id: id.to_owned(),
            host: host.to_owned(),
            port: 25565,
            metadata: Vec::new(),
        })
        .collect()
}

#[derive(Default)]
struct State {
    /// Set by `configure` (shared by the roles: each role has its own instance, so
    /// only the one it configured is used).
    discovered: Option<Vec<Target>>,
    /// From the last `set-targets`.
    selectable: Vec<Target>,
}

thread_local! {
    static STATE: RefCell<State> = RefCell::new(State::default());
}

fn configure(role: &str, json: String) -> Result<(), String> {
    let targets = parse_config(&json)?;
    log(
        Level::Info,
        &format!(
            "v2-roles: {role} role configured (contract 0.2.0), {} targets",
            targets.len()
        ),
    );
    STATE.with_borrow_mut(|s| s.discovered = Some(targets));
    Ok(())
}

struct V2Roles;

impl status::Guest for V2Roles {
    fn configure(config: String) -> Result<(), String> {
        configure("status", config)
    }

    fn status(_request: status::StatusRequest) -> Option<status::StatusResponse> {
        Some(status::StatusResponse {
            version_name: "v2".to_owned(),
            version_protocol: None,
            players: Some(status::Players {
                online: 1,
                max: 2,
                sample: Vec::new(),
            }),
            description: status::Text::Plain("v2 status".to_owned()),
            favicon: None,
            enforces_secure_chat: false,
        })
    }
}

impl discovery::Guest for V2Roles {
    fn configure(config: String) -> Result<(), String> {
        configure("discovery", config)
    }

    fn discover(
        _player: Player,
        known_revision: Option<u64>,
    ) -> Result<discovery::Discovered, String> {
        if known_revision == Some(REVISION) {
            return Ok(discovery::Discovered::Unchanged);
        }
        let targets = STATE
            .with_borrow(|s| s.discovered.clone())
            .ok_or("v2-roles: discover before configure")?;
        Ok(discovery::Discovered::Targets(discovery::TargetList {
            revision: REVISION,
            targets,
        }))
    }
}

impl strategy::Guest for V2Roles {
    fn configure(config: String) -> Result<(), String> {
        configure("strategy", config)
    }

    fn set_targets(targets: Vec<Target>) {
        STATE.with_borrow_mut(|s| s.selectable = targets);
    }

    fn select(_player: Player) -> Result<Option<String>, String> {
        Ok(STATE.with_borrow(|s| s.selectable.last().map(|t| t.id.clone())))
    }
}

// Natively (unit tests) nothing is exported: the component export names are not
// valid native symbol names.
#[cfg(target_arch = "wasm32")]
bindings::export!(V2Roles with_types_in bindings);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_defaults_and_targets() {
        let ids = |json: &str| -> Vec<String> {
            parse_config(json)
                .unwrap()
                .into_iter()
                .map(|t| t.id)
                .collect()
        };
        assert_eq!(ids("{}"), ["v2-a", "v2-b"]);
        let t = parse_config(r#"{"targets":[{"id":"x","host":"h","port":7}]}"#).unwrap();
        assert_eq!(
            (t[0].id.as_str(), t[0].host.as_str(), t[0].port),
            ("x", "h", 7)
        );
        assert!(ids(r#"{"targets":[]}"#).is_empty());
    }

    #[test]
    fn rejects_bad_config() {
        for bad in [
            r#"{"extra":1}"#,
            r#"{"targets":[{"id":"a","host":"h","port":1,"slots":1}]}"#,
            r#"{"targets":[{"id":"a","host":"h"}]}"#,
            r#"{"targets":[{"id":"a","host":"h","port":1},{"id":"a","host":"h","port":2}]}"#,
            r#"[]"#,
            "not json",
        ] {
            assert!(parse_config(bad).is_err(), "{bad}");
        }
        assert!(
            parse_config(r#"{"extra":1}"#)
                .unwrap_err()
                .contains("unknown field `extra`")
        );
    }

    #[test]
    fn roles_answer() {
        STATE.with_borrow_mut(|s| s.discovered = Some(default_targets()));
        let player = Player {
            name: "Steve".to_owned(),
            uuid: "8667ba71-b85a-4004-af54-457a9734eed7".to_owned(),
            client_ip: "127.0.0.1".to_owned(),
            protocol: 767,
            server_address: "localhost".to_owned(),
            server_port: 25565,
            locale: None,
            last_target: None,
        };
        assert!(matches!(
            <V2Roles as discovery::Guest>::discover(player.clone(), Some(1)),
            Ok(discovery::Discovered::Unchanged)
        ));
        let Ok(discovery::Discovered::Targets(list)) =
            <V2Roles as discovery::Guest>::discover(player.clone(), None)
        else {
            panic!("expected targets");
        };
        assert_eq!(list.revision, 1);
        assert_eq!(list.targets.len(), 2);
        <V2Roles as strategy::Guest>::set_targets(list.targets);
        assert_eq!(
            <V2Roles as strategy::Guest>::select(player)
                .unwrap()
                .as_deref(),
            Some("v2-b")
        );
        let s = <V2Roles as status::Guest>::status(status::StatusRequest {
            client_ip: "127.0.0.1".to_owned(),
            protocol: 767,
            server_address: "localhost".to_owned(),
            server_port: 25565,
        })
        .unwrap();
        assert!(matches!(s.description, status::Text::Plain(ref t) if t == "v2 status"));
        assert_eq!(s.version_name, "v2");
        assert!(s.version_protocol.is_none() && s.favicon.is_none());
        let p = s.players.unwrap();
        assert_eq!((p.online, p.max), (1, 2));
    }
}
