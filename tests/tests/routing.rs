//! Routing end to end: login, configuration, discovery and strategy plugins,
//! and the Transfer — or a localized reason why not.

use std::collections::HashMap;

use passage_tests::client::{
    LoginOutcome, LoginParams, client_information, final_packet, login, login_to_final_packet,
};
use passage_tests::session_server::{Behavior, SessionServer};
use passage_tests::{
    Passage, PassageSpec, cookie, nbt_text, parse_transfer, plugin_wasm, take_string, varint,
};

const TARGETS: &str = r#"
[plugins.fixed-discovery]
targets = [
    { id = "lobby-1", host = "10.0.0.1", port = 25565, metadata = { players = 10, max_players = 100 } },
    { id = "lobby-2", host = "lobby-2.example.com", port = 25570, metadata = { players = 80, max_players = 100 } },
    { id = "lobby-3", host = "10.0.0.3", port = 25565, metadata = { players = 100, max_players = 100 } },
]
"#;

fn router(session: &SessionServer, strategy: &str, extra: &str) -> Passage {
    let config = format!(
        "{extra}\n[auth]\nsession_server = \"{}\"\nsession_timeout_ms = 2000\n{TARGETS}",
        session.url()
    );
    Passage::start(PassageSpec {
        config: &config,
        plugins: vec![
            ("fixed-discovery", plugin_wasm("fixed-discovery")),
            (strategy, plugin_wasm(strategy)),
        ],
        cache_dir: None,
        ..Default::default()
    })
}

/// Logs in, sends Client Information with `locale`, and returns the router's
/// final configuration packet (answering keep-alives on the way).
async fn configure(
    router: &Passage,
    session: &SessionServer,
    name: &str,
    protocol: i32,
    locale: &str,
) -> (i32, Vec<u8>) {
    let params = LoginParams::new(protocol, name, Some(session.addr));
    let (id, body, _) = configure_with(router, &params, locale).await;
    (id, body)
}

async fn configure_with(
    router: &Passage,
    params: &LoginParams,
    locale: &str,
) -> (i32, Vec<u8>, HashMap<String, Vec<u8>>) {
    match login_to_final_packet(router.addr, params, locale).await {
        Ok(done) => done,
        Err(e) => panic!("login failed: {e}\n{}", router.log()),
    }
}

#[tokio::test]
async fn online_login_is_transferred_to_the_fullest_lobby_with_room() {
    let session = SessionServer::start(Behavior::Normal).await;
    let router = router(&session, "player-fill", "");
    for protocol in [766, 775] {
        let (id, body) = configure(&router, &session, "Steve", protocol, "en_us").await;
        assert_eq!(id, 0x0B, "Transfer; log:\n{}", router.log());
        assert_eq!(
            parse_transfer(&body),
            ("lobby-2.example.com".to_owned(), 25570)
        );
    }
    router.wait_for_log(&["transfer", "target=lobby-2"]);
}

#[tokio::test]
async fn no_targets_gets_a_localized_disconnect() {
    let session = SessionServer::start(Behavior::Normal).await;
    let config = format!(
        "[auth]\nsession_server = \"{}\"\n[plugins.fixed-discovery]\ntargets = []\n",
        session.url()
    );
    let router = Passage::start(PassageSpec {
        config: &config,
        plugins: vec![
            ("fixed-discovery", plugin_wasm("fixed-discovery")),
            ("player-fill", plugin_wasm("player-fill")),
        ],
        cache_dir: None,
        ..Default::default()
    });
    let (id, body) = configure(&router, &session, "Steve", 767, "en_us").await;
    assert_eq!(id, 0x02, "configuration Disconnect");
    assert!(
        nbt_text(&body).starts_with("No server is available"),
        "{}",
        nbt_text(&body)
    );
    let (id, body) = configure(&router, &session, "Alex", 770, "de_DE").await;
    assert_eq!(id, 0x02);
    assert!(
        nbt_text(&body).starts_with("Zurzeit ist kein Server"),
        "{}",
        nbt_text(&body)
    );
}

#[tokio::test]
async fn operator_overrides_the_message() {
    let session = SessionServer::start(Behavior::Normal).await;
    let config = format!(
        "[auth]\nsession_server = \"{}\"\n[messages.fr_fr]\nno_server_available = \"Revenez vite !\"\n",
        session.url()
    );
    let router = Passage::start(PassageSpec {
        config: &config,
        plugins: vec![],
        cache_dir: None,
        ..Default::default()
    });
    let (id, body) = configure(&router, &session, "Steve", 767, "fr_fr").await;
    assert_eq!(id, 0x02);
    assert_eq!(nbt_text(&body), "Revenez vite !");
}

#[tokio::test]
async fn failing_strategy_gets_a_message_and_the_next_player_is_served() {
    let session = SessionServer::start(Behavior::Normal).await;
    let router = router(&session, "flaky-strategy", "");
    for name in ["Trap", "Ghost"] {
        let (id, body) = configure(&router, &session, name, 767, "en_us").await;
        assert_eq!(id, 0x02, "{name}: configuration Disconnect");
        assert!(
            nbt_text(&body).contains("could not choose a server"),
            "{}",
            nbt_text(&body)
        );
    }
    router.wait_for_log(&["routing failed", "flaky-strategy", "deliberate panic"]);
    router.wait_for_log(&["routing failed", "no-such-target"]);
    let (id, body) = configure(&router, &session, "Nobody", 767, "en_us").await;
    assert_eq!(id, 0x02);
    assert!(nbt_text(&body).starts_with("No server is available"));
    let (id, body) = configure(&router, &session, "Steve", 767, "en_us").await;
    assert_eq!(id, 0x0B, "the next player is transferred");
    assert_eq!(parse_transfer(&body).0, "10.0.0.1");
}

/// The secret file's text, and the HMAC key every implementation derives from it.
const SECRET_FILE: &str = "c2VjcmV0LXNoYXJlZC13aXRoLWJhY2tlbmRzLTEyMzQ=\n";

fn cookie_router(session: &SessionServer, expiry_secs: u64) -> (Passage, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("auth_secret");
    std::fs::write(&secret, SECRET_FILE).unwrap();
    let extra = format!(
        "auth_secret_file = \"{}\"\nauth_cookie_expiry_secs = {expiry_secs}\n",
        secret.display()
    );
    (router(session, "player-fill", &extra), dir)
}

/// The HMAC key: the secret file's bytes exactly as stored, trailing newline
/// included (the reference implementation's rule, and the router's).
fn cookie_key() -> &'static [u8] {
    SECRET_FILE.as_bytes()
}

/// Logs in for real, then reconnects with intent 3 carrying the cookies.
async fn first_visit(router: &Passage, session: &SessionServer) -> HashMap<String, Vec<u8>> {
    let params = LoginParams::new(767, "Steve", Some(session.addr));
    let (id, _, cookies) = configure_with(router, &params, "en_us").await;
    assert_eq!(id, 0x0B, "Transfer");
    assert!(
        cookies.contains_key("passage:authentication"),
        "{:?}",
        cookies.keys()
    );
    assert!(cookies.contains_key("passage:session"));
    cookies
}

fn returning(session: &SessionServer, cookies: HashMap<String, Vec<u8>>) -> LoginParams {
    let mut params = LoginParams::new(767, "Steve", Some(session.addr));
    params.intent = 3;
    params.cookies = cookies;
    params
}

/// `cookies` with the authentication cookie replaced by `json`, signed with the
/// shared key: what another replica or a backend would have stored.
fn with_auth_cookie(
    cookies: &HashMap<String, Vec<u8>>,
    json: &serde_json::Value,
) -> HashMap<String, Vec<u8>> {
    let mut cookies = cookies.clone();
    cookies.insert(
        "passage:authentication".to_owned(),
        cookie::sign(cookie_key(), json),
    );
    cookies
}

#[tokio::test]
async fn returning_player_is_transferred_without_the_session_server() {
    let session = SessionServer::start(Behavior::Normal).await;
    let (router, _secret) = cookie_router(&session, 3600);
    let cookies = first_visit(&router, &session).await;
    assert_eq!(session.has_joined_calls(), 1);

    // The cookie's layout: 32-byte HMAC-SHA256 under the shared key, then the
    // JSON of the seed.
    let json = cookie::verify(cookie_key(), &cookies["passage:authentication"])
        .expect("the stored cookie verifies under the shared key");
    assert_eq!(json["user_name"], "Steve");
    assert_eq!(json["user_id"], "8667ba71-b85a-4004-af54-457a9734eed7");
    assert_eq!(json["target"], "lobby-2");
    assert_eq!(json["profile_properties"][0]["name"], "textures");
    assert!(
        json["client_addr"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:")
    );
    let first_session: serde_json::Value =
        serde_json::from_slice(&cookies["passage:session"]).unwrap();

    // The router's own cookie brings the player back without a session check.
    let params = returning(&session, cookies.clone());
    let (id, body, again) = configure_with(&router, &params, "en_us").await;
    assert_eq!(id, 0x0B, "transferred again");
    assert_eq!(parse_transfer(&body).0, "lobby-2.example.com");
    assert_eq!(
        session.has_joined_calls(),
        1,
        "no session-server call for the cookie"
    );
    router.wait_for_log(&["authenticated by cookie"]);
    // Same session id.
    let second_session: serde_json::Value =
        serde_json::from_slice(&again["passage:session"]).unwrap();
    assert_eq!(first_session["id"], second_session["id"]);
    router.wait_for_log(&[
        "transfer",
        &format!("session={}", first_session["id"].as_str().unwrap()),
    ]);

    // The refresh: an older cookie naming another target (as a backend that
    // moved the player would leave it, with data of its own in `extra`) comes
    // back with a new timestamp and the new target; identity, address, profile
    // properties and `extra` are kept exactly.
    let mut older = json.clone();
    let old_timestamp = cookie::unix_now() - 600;
    older["timestamp"] = old_timestamp.into();
    older["target"] = "lobby-1".into();
    older["extra"] = serde_json::json!({ "backend": { "rank": "vip" } });
    let before = cookie::unix_now();
    let params = returning(&session, with_auth_cookie(&cookies, &older));
    let (id, _, refreshed) = configure_with(&router, &params, "en_us").await;
    assert_eq!(id, 0x0B);
    assert_eq!(session.has_joined_calls(), 1, "still no session check");
    let fresh = cookie::verify(cookie_key(), &refreshed["passage:authentication"])
        .expect("the refreshed cookie verifies under the shared key");
    let timestamp = fresh["timestamp"].as_u64().unwrap();
    assert!(
        timestamp >= before && timestamp > old_timestamp,
        "timestamp {timestamp} not refreshed (was {old_timestamp}, login at {before})"
    );
    assert_eq!(fresh["target"], "lobby-2", "the new target");
    for kept in ["user_name", "user_id", "client_addr", "profile_properties"] {
        assert_eq!(fresh[kept], older[kept], "{kept} kept");
    }
    assert_eq!(fresh["extra"]["backend"], older["extra"]["backend"]);
}

/// Every refusal below is measured against a cookie the test minted with the
/// timestamp it chose, so none depends on how fast the machine runs a login.
#[tokio::test]
async fn tampered_expired_or_foreign_cookies_fall_back_to_full_authentication() {
    let session = SessionServer::start(Behavior::Normal).await;
    let (router, _secret) = cookie_router(&session, 3600);
    let cookies = first_visit(&router, &session).await;
    let json = cookie::verify(cookie_key(), &cookies["passage:authentication"]).unwrap();

    // A flipped byte in the JSON.
    let mut tampered = cookies.clone();
    let auth = tampered.get_mut("passage:authentication").unwrap();
    let last = auth.len() - 3;
    auth[last] ^= 0x01;
    let (id, ..) = configure_with(&router, &returning(&session, tampered), "en_us").await;
    assert_eq!(id, 0x0B);
    assert_eq!(session.has_joined_calls(), 2);
    router.wait_for_log(&["auth cookie rejected", "reason=\"bad_signature\""]);

    // From another IP (127.0.0.2 on loopback).
    let mut foreign = returning(&session, cookies.clone());
    foreign.source_ip = Some("127.0.0.2".parse().unwrap());
    let (id, ..) = configure_with(&router, &foreign, "en_us").await;
    assert_eq!(id, 0x0B);
    assert_eq!(session.has_joined_calls(), 3);
    router.wait_for_log(&["auth cookie rejected", "reason=\"other_ip\""]);

    // Just inside the hour of expiry: accepted, so the window is not shorter...
    let mut aged = json.clone();
    aged["timestamp"] = (cookie::unix_now() - 3500).into();
    let params = returning(&session, with_auth_cookie(&cookies, &aged));
    let (id, ..) = configure_with(&router, &params, "en_us").await;
    assert_eq!(id, 0x0B);
    assert_eq!(session.has_joined_calls(), 3, "accepted by cookie");
    // ...and a minute past it: expired.
    aged["timestamp"] = (cookie::unix_now() - 3660).into();
    let params = returning(&session, with_auth_cookie(&cookies, &aged));
    let (id, ..) = configure_with(&router, &params, "en_us").await;
    assert_eq!(id, 0x0B);
    assert_eq!(session.has_joined_calls(), 4);
    router.wait_for_log(&["auth cookie rejected", "reason=\"expired\""]);
}

/// Logs in and answers each Add Resource Pack with `results` (in order), then
/// returns the final packet.
async fn configure_with_packs(
    router: &Passage,
    session: &SessionServer,
    results: &[i32],
) -> (i32, Vec<u8>) {
    let params = LoginParams::new(775, "Steve", Some(session.addr));
    let LoginOutcome::Configuration(mut client, ..) = login(router.addr, &params).await.unwrap()
    else {
        panic!("login failed\n{}", router.log())
    };
    client
        .send(0x00, &client_information("de_de", 775))
        .await
        .unwrap();
    let (id, body) = client.recv().await.unwrap();
    assert_eq!(id, 0x09, "Add Resource Pack");
    let uuid = &body[..16];
    let mut r = &body[16..];
    assert_eq!(take_string(&mut r), "https://packs.example.com/lobby.zip");
    assert_eq!(
        take_string(&mut r),
        "0123456789abcdef0123456789abcdef01234567"
    );
    assert_eq!(r[0], 1, "forced");
    for result in results {
        let mut answer = uuid.to_vec();
        varint(&mut answer, *result);
        client.send(0x06, &answer).await.unwrap();
    }
    let (id, body, _) = final_packet(&mut client).await.unwrap();
    (id, body)
}

fn pack_router(session: &SessionServer) -> Passage {
    router(
        session,
        "player-fill",
        "[[resource_packs]]\nurl = \"https://packs.example.com/lobby.zip\"\n\
         hash = \"0123456789ABCDEF0123456789abcdef01234567\"\nforced = true\n\
         prompt = \"Needed for the lobby\"\n",
    )
}

#[tokio::test]
async fn forced_resource_pack_declined_disconnects_loaded_continues() {
    let session = SessionServer::start(Behavior::Normal).await;
    let router = pack_router(&session);
    // Declined: a localized disconnect.
    let (id, body) = configure_with_packs(&router, &session, &[1]).await;
    assert_eq!(id, 0x02);
    assert!(
        nbt_text(&body).contains("Ressourcenpaket"),
        "{}",
        nbt_text(&body)
    );
    // Accepted, downloaded, loaded: on to the Transfer.
    let (id, body) = configure_with_packs(&router, &session, &[3, 4, 0]).await;
    assert_eq!(id, 0x0B, "{}", router.log());
    assert_eq!(parse_transfer(&body).0, "lobby-2.example.com");
}

/// What reaches a plugin: every field of `player`, as a test strategy that logs
/// what it received reports it. The locale comes from Client Information
/// (lower-cased), the last target from the authentication cookie of a
/// returning player, the address and port from the handshake.
#[tokio::test]
async fn the_player_a_strategy_sees_carries_locale_and_last_target() {
    let session = SessionServer::start(Behavior::Normal).await;
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("auth_secret");
    std::fs::write(&secret, SECRET_FILE).unwrap();
    let extra = format!("auth_secret_file = \"{}\"\n", secret.display());
    let router = router(&session, "flaky-strategy", &extra);
    let mut params = LoginParams::new(770, "Steve", Some(session.addr));
    params.server_address = "Play.Example.COM.".to_owned();
    let (id, _, cookies) = configure_with(&router, &params, "de_DE").await;
    assert_eq!(id, 0x0B);
    let first = router.wait_for_log(&["select for Steve:"]);
    let port = router.addr.port();
    for field in [
        "uuid=8667ba71-b85a-4004-af54-457a9734eed7".to_owned(),
        "protocol=770".to_owned(),
        format!("address=play.example.com:{port}"),
        "locale=Some(\"de_de\")".to_owned(),
        "last_target=None".to_owned(),
        "client_ip=127.0.0.1".to_owned(),
    ] {
        assert!(first.contains(&field), "{field} missing in: {first}");
    }
    // flaky-strategy picks the first target; the cookie names it.
    let mut back = returning(&session, cookies);
    back.protocol = 775;
    let (id, ..) = configure_with(&router, &back, "fr_ca").await;
    assert_eq!(id, 0x0B);
    let second = router.wait_for_log_count(&["select for Steve:"], 2);
    assert!(second.contains("last_target=Some(\"lobby-1\")"), "{second}");
    assert!(second.contains("locale=Some(\"fr_ca\")"), "{second}");
    assert!(second.contains("protocol=775"), "{second}");
}

/// A router with `SECRET_FILE` and `extra` settings (top-level keys).
fn cookie_router_with(session: &SessionServer, extra: &str) -> (Passage, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("auth_secret");
    std::fs::write(&secret, SECRET_FILE).unwrap();
    let extra = format!("auth_secret_file = \"{}\"\n{extra}", secret.display());
    (router(session, "player-fill", &extra), dir)
}

/// A cookie as the reference router mints it: the seed's fields, an empty
/// `extra`, signed with the file's bytes.
fn reference_cookie(target: &str) -> serde_json::Value {
    serde_json::json!({
        "timestamp": cookie::unix_now(),
        "client_addr": "127.0.0.1:50318",
        "user_name": "Steve",
        "user_id": "8667ba71-b85a-4004-af54-457a9734eed7",
        "target": target,
        "profile_properties": [],
        "extra": {},
    })
}

/// With a secret file made as the cookie documentation says (`openssl rand
/// -base64 32 > auth_secret`: a trailing newline), cookies cross both ways with
/// implementations that key the HMAC with the file's exact bytes.
#[tokio::test]
async fn cookies_interoperate_with_the_reference_key_rule() {
    let session = SessionServer::start(Behavior::Normal).await;
    let (router, _secret) = cookie_router_with(&session, "");
    // Start-up says how the key was read, never what it is.
    let line = router.wait_for_log(&["auth secret read"]);
    assert!(
        line.contains("key_bytes=45") && line.contains("ends_in_whitespace=true"),
        "{line}"
    );
    assert!(
        !line.contains(SECRET_FILE.trim_end()),
        "the key was logged: {line}"
    );

    // Passage's cookie verifies under the reference's rule (the file's bytes),
    // not under the trimmed key, and records the session check it stands for.
    let cookies = first_visit(&router, &session).await;
    let auth = &cookies["passage:authentication"];
    let json = cookie::verify(SECRET_FILE.as_bytes(), auth).expect("reference rule");
    assert!(cookie::verify(SECRET_FILE.trim_end().as_bytes(), auth).is_none());
    assert_eq!(json["extra"]["passage"]["auth"], "online");
    let verified_at = json["extra"]["passage"]["verified_at"].as_u64().unwrap();
    assert!(verified_at.abs_diff(cookie::unix_now()) < 600, "{json}");

    // A cookie minted the reference's way (no Passage record) is judged by the
    // seed's rules alone: accepted, and refreshed without inventing a record.
    let params = returning(
        &session,
        with_auth_cookie(&cookies, &reference_cookie("lobby-1")),
    );
    let (id, _, again) = configure_with(&router, &params, "en_us").await;
    assert_eq!(id, 0x0B);
    assert_eq!(session.has_joined_calls(), 1, "accepted by cookie");
    let refreshed = cookie::verify(cookie_key(), &again["passage:authentication"]).unwrap();
    assert_eq!(refreshed["target"], "lobby-2");
    assert_eq!(refreshed["extra"], serde_json::json!({}));
}

/// `auth_cookie_strict = true`: a cookie without Passage's record is refused and
/// the player authenticates in full; Passage's own cookies still pass.
#[tokio::test]
async fn strict_cookies_refuse_cookies_without_a_passage_record() {
    let session = SessionServer::start(Behavior::Normal).await;
    let (router, _secret) = cookie_router_with(&session, "auth_cookie_strict = true\n");
    let cookies = first_visit(&router, &session).await;
    let params = returning(
        &session,
        with_auth_cookie(&cookies, &reference_cookie("lobby-1")),
    );
    let (id, ..) = configure_with(&router, &params, "en_us").await;
    assert_eq!(id, 0x0B);
    assert_eq!(session.has_joined_calls(), 2);
    router.wait_for_log(&["auth cookie rejected", "reason=\"no_provenance\""]);
    let (id, ..) = configure_with(&router, &returning(&session, cookies), "en_us").await;
    assert_eq!(id, 0x0B);
    assert_eq!(session.has_joined_calls(), 2, "Passage's own cookie passes");
}

/// Refreshes cannot carry a cookie past `auth_cookie_max_age_secs` since its
/// session check, and an online router never takes a cookie minted offline for
/// a session check. The ages come from timestamps the test sets.
#[tokio::test]
async fn old_or_offline_minted_cookies_mean_a_new_session_check() {
    let session = SessionServer::start(Behavior::Normal).await;
    let (router, _secret) = cookie_router_with(&session, "auth_cookie_max_age_secs = 3600\n");
    let cookies = first_visit(&router, &session).await;
    let json = cookie::verify(cookie_key(), &cookies["passage:authentication"]).unwrap();
    let with_record = |auth: &str, age: u64| {
        let mut c = json.clone();
        c["extra"]["passage"] =
            serde_json::json!({ "auth": auth, "verified_at": cookie::unix_now() - age });
        returning(&session, with_auth_cookie(&cookies, &c))
    };
    // Checked 50 minutes ago (the cookie itself refreshed just now): accepted.
    let (id, ..) = configure_with(&router, &with_record("online", 3000), "en_us").await;
    assert_eq!(id, 0x0B);
    assert_eq!(session.has_joined_calls(), 1);
    // Checked 70 minutes ago: the session server is asked again.
    let (id, ..) = configure_with(&router, &with_record("online", 4200), "en_us").await;
    assert_eq!(id, 0x0B);
    assert_eq!(session.has_joined_calls(), 2);
    router.wait_for_log(&["auth cookie rejected", "reason=\"session_check_due\""]);
    // Minted by a router in offline mode, however fresh.
    let (id, ..) = configure_with(&router, &with_record("offline", 0), "en_us").await;
    assert_eq!(id, 0x0B);
    assert_eq!(session.has_joined_calls(), 3);
    router.wait_for_log(&["auth cookie rejected", "reason=\"offline_minted\""]);
}
