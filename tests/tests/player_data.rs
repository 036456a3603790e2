//! Data that travels with the player (contract 0.3.0): plugins receive the
//! `extra` object of the authentication cookie and may change it; the router
//! writes the change into the cookie it re-issues, signed as the rest, within
//! the size the client keeps.

use std::collections::HashMap;

use passage_tests::session_server::{Behavior, SessionServer};
use passage_tests::{Passage, PassageSpec, cookie, plugin_wasm, transferred_cookies};

const SECRET: &[u8] = b"a-secret-shared-by-every-replica-0123456789\n";

fn passage(session: &SessionServer) -> (Passage, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("auth_secret");
    std::fs::write(&secret, SECRET).unwrap();
    let config = format!(
        r#"
auth_secret_file = "{}"
[auth]
session_server = "{}"
[limits]
login_per_second = 0
[routing]
strategy = "v3-roles"
[plugins.fixed-discovery]
targets = [{{ id = "lobby", host = "10.0.0.1", port = 25565 }}]
"#,
        secret.display(),
        session.url()
    );
    let passage = Passage::start(PassageSpec {
        config: &config,
        plugins: vec![
            ("fixed-discovery", plugin_wasm("fixed-discovery")),
            ("v3-roles", plugin_wasm("v3-roles")),
        ],
        ..Default::default()
    });
    (passage, dir)
}

fn extra(cookies: &HashMap<String, Vec<u8>>) -> serde_json::Value {
    let payload = &cookies["passage:authentication"];
    assert!(payload.len() <= 5120, "{} bytes", payload.len());
    cookie::verify(SECRET, payload).expect("signed with the shared key")["extra"].clone()
}

#[tokio::test]
async fn extra_written_at_one_login_is_read_back_on_the_reconnect() {
    let session = SessionServer::start(Behavior::Normal).await;
    let (passage, _dir) = passage(&session);
    let first = transferred_cookies(&passage, session.addr, "Steve", &HashMap::new()).await;
    passage.wait_for_log(&["context for Steve: {}"]);
    let stored = extra(&first);
    assert_eq!(stored["visits"], 1, "{stored}");
    assert_eq!(
        stored["passage"]["auth"], "online",
        "Passage's own record is kept"
    );

    // The reconnect brings the cookie back: the plugin reads what it wrote
    // (without Passage's own key) and counts on.
    let second = transferred_cookies(&passage, session.addr, "Steve", &first).await;
    passage.wait_for_log(&["context for Steve: {\"visits\":1}"]);
    assert_eq!(
        session.has_joined_calls(),
        1,
        "the cookie authenticated the reconnect"
    );
    let stored = extra(&second);
    assert_eq!(stored["visits"], 2);
    assert_eq!(stored["passage"]["auth"], "online");

    // What another system (a backend) stored in `extra` reaches the plugin and
    // stays; the plugin's change is merged in.
    let mut json = cookie::verify(SECRET, &second["passage:authentication"]).unwrap();
    json["extra"]["backend"] = serde_json::json!({ "rank": "vip" });
    let mut third_in = second.clone();
    third_in.insert(
        "passage:authentication".to_owned(),
        cookie::sign(SECRET, &json),
    );
    let third = transferred_cookies(&passage, session.addr, "Steve", &third_in).await;
    passage.wait_for_log(&["context for Steve: {\"backend\":{\"rank\":\"vip\"},\"visits\":2}"]);
    let stored = extra(&third);
    assert_eq!(stored["visits"], 3);
    assert_eq!(stored["backend"]["rank"], "vip");
}

#[tokio::test]
async fn changes_over_the_limits_are_dropped_with_a_warning() {
    let session = SessionServer::start(Behavior::Normal).await;
    let (passage, _dir) = passage(&session);
    // One change over 2 KiB: refused, the player is still transferred.
    let huge = transferred_cookies(&passage, session.addr, "Huge", &HashMap::new()).await;
    let line = passage.wait_for_log(&["the player's data is stored unchanged", "over 2048"]);
    assert!(line.contains("plugin=v3-roles"), "{line}");
    assert!(extra(&huge).get("huge").is_none());

    // Changes that each fit but together outgrow the client's 5120 bytes: the
    // one that would overflow is dropped, the cookie stays storable.
    let mut cookies = HashMap::new();
    let mut sizes = Vec::new();
    for _ in 0..4 {
        cookies = transferred_cookies(&passage, session.addr, "Grower", &cookies).await;
        sizes.push(cookies["passage:authentication"].len());
    }
    passage.wait_for_log(&[
        "the player's data is stored unchanged",
        "over the client's limit",
    ]);
    let blobs = extra(&cookies)
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| k.starts_with("blob"))
        .count();
    assert!(
        (1..4).contains(&blobs),
        "{blobs} blobs; cookie sizes {sizes:?}"
    );
}
