//! What the benchmarks share: the plugins `make plugins` built, a pool of one
//! of their roles as the router makes it, and a player.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use passage::plugins::contract::roles_of;
use passage::plugins::pool::{Limits, PluginSettings, RoleKind};
use passage::plugins::types::Player;
use passage::plugins::{Pool, Runtime};

pub fn wasm(name: &str) -> PathBuf {
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../target/wasm32-wasip2/plugin")
        .join(format!("{}.wasm", name.replace('-', "_")));
    assert!(
        file.is_file(),
        "{} missing: run `make bench`",
        file.display()
    );
    file
}

/// A pool of `name`'s role `R` with `config`, granted the key-value `buckets`.
pub fn pool<R: RoleKind>(
    rt: &Arc<Runtime>,
    name: &str,
    config: serde_json::Value,
    buckets: &[&str],
) -> Pool<R> {
    let (component, _) = rt.load_component(&wasm(name)).expect("plugin loads");
    let api = roles_of(&component, rt.engine())
        .into_iter()
        .find(|api| api.role == R::ROLE)
        .expect("the plugin serves the role");
    let settings = PluginSettings {
        name: name.into(),
        config_json: config.to_string(),
        limits: Limits {
            call_timeout: Duration::from_secs(5),
            memory_limit: 256 << 20,
            max_instances: 1,
            http_allow: Vec::new(),
            allow_private_networks: false,
            keyvalue: buckets.iter().map(|b| (*b).to_owned()).collect(),
            failure_threshold: 3,
            max_backoff: Duration::from_secs(60),
        },
        log_budget: Default::default(),
        services: rt.services(),
    };
    Pool::new(rt, &settings, api, &component).expect("plugin links")
}

pub fn player() -> Player {
    Player {
        name: "Steve".into(),
        uuid: "8667ba71-b85a-4004-af54-457a9734eed7".into(),
        client_ip: "203.0.113.7".into(),
        protocol: 767,
        server_address: "play.example.com".into(),
        server_port: 25565,
        locale: Some("en_us".into()),
        last_target: None,
    }
}
