//! Login end to end: the real binary, our own client (framing, RSA, CFB8, zlib
//! written from the spec), and a real local HTTP session server.

use std::time::{Duration, Instant};

use passage_tests::client::CompressedFrame;
use passage_tests::client::{LoginOutcome, LoginParams, login};
use passage_tests::session_server::{Behavior, SessionServer, TEXTURES_SIGNATURE, TEXTURES_VALUE};
use passage_tests::{Passage, PassageSpec, nbt_text, ping, plugin_wasm, string, varint};

/// `top` goes before the `[auth]` table, `auth` inside it.
fn online_router_with(session: &SessionServer, top: &str, auth: &str) -> Passage {
    let config = format!(
        "{top}\n[auth]\nsession_server = \"{}\"\nsession_timeout_ms = 500\n{auth}",
        session.url()
    );
    Passage::start(PassageSpec {
        config: &config,
        plugins: vec![],
        cache_dir: None,
        ..Default::default()
    })
}

fn online_router(session: &SessionServer) -> Passage {
    online_router_with(session, "", "")
}

/// Client Information in the 768+ layout (with particle status), or without it.
fn client_information(locale: &str, with_particles: bool) -> Vec<u8> {
    let mut b = Vec::new();
    string(&mut b, locale);
    b.push(10); // view distance
    varint(&mut b, 0); // chat mode
    b.push(1); // chat colors
    b.push(0x7f); // skin parts
    varint(&mut b, 1); // main hand
    b.push(0); // text filtering
    b.push(1); // server listing
    if with_particles {
        varint(&mut b, 0);
    }
    b
}

/// Drives a logged-in client through the start of configuration: it sends its
/// brand and Client Information as vanilla does, and returns the router's next
/// configuration packet.
async fn first_configuration_packet(client: &mut passage_tests::client::Client) -> (i32, Vec<u8>) {
    let mut brand = Vec::new();
    string(&mut brand, "minecraft:brand");
    string(&mut brand, "vanilla");
    client.send(0x02, &brand).await.unwrap();
    let particles = client.protocol >= 768;
    client
        .send(0x00, &client_information("en_us", particles))
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(10), client.recv())
        .await
        .expect("a configuration packet")
        .unwrap()
}

#[tokio::test]
async fn online_login_reaches_configuration_for_every_protocol() {
    let session = SessionServer::start(Behavior::Normal).await;
    let router = online_router(&session);
    for protocol in 766..=775 {
        let params = LoginParams::new(protocol, "Steve", Some(session.addr));
        let LoginOutcome::Configuration(mut client, profile, trace) =
            login(router.addr, &params).await.unwrap()
        else {
            panic!(
                "protocol {protocol}: disconnected during login\n{}",
                router.log()
            )
        };
        assert!(trace.encrypted);
        assert_eq!(trace.server_id.as_deref(), Some(""));
        assert_eq!(profile.uuid, params.uuid);
        assert_eq!(profile.name, "Steve");
        assert_eq!(
            profile.properties,
            vec![(
                "textures".to_owned(),
                TEXTURES_VALUE.to_owned(),
                Some(TEXTURES_SIGNATURE.to_owned())
            )]
        );
        // The router now speaks configuration, still encrypted. With no plugins
        // and no resource packs configured, its one answer to Client Information
        // is the configuration Disconnect (0x02, an NBT text component) saying
        // no server is available: decrypting and parsing it proves the cipher
        // state and the configuration layout.
        let (id, body) = first_configuration_packet(&mut client).await;
        assert_eq!(
            id, 0x02,
            "protocol {protocol}: configuration Disconnect expected"
        );
        let text = nbt_text(&body);
        assert!(
            text.starts_with("No server is available"),
            "protocol {protocol}: {text:?}"
        );
    }
    assert_eq!(session.has_joined_calls(), 10);
    assert_eq!(session.join_calls(), 10);
}

#[tokio::test]
async fn newer_unknown_protocol_is_served_with_the_newest_layouts() {
    let session = SessionServer::start(Behavior::Normal).await;
    let router = online_router(&session);
    let params = LoginParams::new(800, "Steve", Some(session.addr));
    assert!(matches!(
        login(router.addr, &params).await.unwrap(),
        LoginOutcome::Configuration(..)
    ));
}

async fn expect_disconnect(router: &Passage, params: &LoginParams, needle: &str) -> Duration {
    let started = Instant::now();
    let outcome = tokio::time::timeout(Duration::from_secs(10), login(router.addr, params))
        .await
        .expect("login ends within its deadline")
        .unwrap();
    match outcome {
        LoginOutcome::Disconnected(reason, _) => {
            assert!(reason.contains(needle), "{reason:?} lacks {needle:?}");
        }
        _ => panic!("expected a disconnect containing {needle:?}"),
    }
    started.elapsed()
}

/// A bad Encryption Response (wrong token, wrong secret length, garbage) must not
/// tell the client which part was wrong: every failure takes the same path, a
/// disconnect encrypted under a random key (so not even a decryptable reply
/// tells a valid secret from an invalid one), then the close.
#[tokio::test]
async fn bad_encryption_response_is_refused_without_saying_why() {
    let session = SessionServer::start(Behavior::Normal).await;
    let router = online_router(&session);
    for (wrong_token, secret_len) in [(true, 16), (false, 15), (true, 15)] {
        let mut params = LoginParams::new(767, "Steve", Some(session.addr));
        params.wrong_verify_token = wrong_token;
        params.secret_len = secret_len;
        params.stop_after_encryption_response = true;
        let LoginOutcome::SentEncryptionResponse(mut client) =
            login(router.addr, &params).await.unwrap()
        else {
            panic!("the router answered before the Encryption Response")
        };
        assert!(client.closed().await, "router closes the connection");
    }
    // One generic line each (the log arrives through a pipe: wait for it).
    router.wait_for_log_count(&["login refused: encryption response rejected"], 3);
    // None reached the session server, and the router keeps serving.
    assert_eq!(session.has_joined_calls(), 0);
    ping(router.addr, 767, "play.example.com").await.unwrap();
    let params = LoginParams::new(767, "Steve", Some(session.addr));
    assert!(matches!(
        login(router.addr, &params).await.unwrap(),
        LoginOutcome::Configuration(..)
    ));
}

#[tokio::test]
async fn session_server_saying_no_fails_verification() {
    let session = SessionServer::start(Behavior::NoContent).await;
    let router = online_router(&session);
    let params = LoginParams::new(768, "Steve", Some(session.addr));
    expect_disconnect(&router, &params, "Failed to verify username").await;
    // A client that never joined is refused by a normal session server too.
    session.set_behavior(Behavior::Normal);
    let params = LoginParams::new(768, "Steve", None);
    expect_disconnect(&router, &params, "Failed to verify username").await;
    // A profile for someone else is not this player.
    session.set_behavior(Behavior::WrongName);
    let params = LoginParams::new(768, "Steve", Some(session.addr));
    expect_disconnect(&router, &params, "Failed to verify username").await;
}

#[tokio::test]
async fn unavailable_session_server_gets_its_own_message() {
    // 429 is how Mojang's session server tells a busy router to slow down: an
    // outage, not a verdict on the player.
    for (behavior, reason) in [
        (Behavior::ServerError, "server_error"),
        (Behavior::Status(503), "server_error"),
        (Behavior::Status(429), "rate_limited"),
        (Behavior::Status(302), "redirect"),
        (Behavior::InvalidJson, "invalid_response"),
    ] {
        let session = SessionServer::start(behavior).await;
        let router = online_router(&session);
        let params = LoginParams::new(775, "Steve", Some(session.addr));
        expect_disconnect(
            &router,
            &params,
            "Authentication servers are unavailable. Please try again later.",
        )
        .await;
        let (_, metrics) = passage_tests::http_get(router.metrics_addr(), "/metrics")
            .await
            .unwrap();
        let series = format!("passage_session_server_failures_total{{reason=\"{reason}\"}} 1");
        assert!(
            metrics.contains(&series),
            "{behavior:?}: {series} missing\n{metrics}"
        );
    }
    // 403 is the session server's "no": failed to verify.
    let session = SessionServer::start(Behavior::Status(403)).await;
    let router = online_router(&session);
    let params = LoginParams::new(775, "Steve", Some(session.addr));
    expect_disconnect(&router, &params, "Failed to verify username!").await;
}

#[tokio::test]
async fn session_server_down_or_slow_ends_within_the_timeout() {
    // Down: a port nobody listens on.
    let session = SessionServer::start(Behavior::Normal).await;
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let router = Passage::start(PassageSpec {
        config: &format!(
            "[auth]\nsession_server = \"http://{closed}\"\nsession_timeout_ms = 500\n"
        ),
        plugins: vec![],
        cache_dir: None,
        ..Default::default()
    });
    let params = LoginParams::new(767, "Steve", Some(session.addr));
    expect_disconnect(&router, &params, "unavailable").await;

    // Slow: the session server never answers. The router gives up at its
    // session_timeout_ms (500 ms), and serves a ping while the call hangs.
    session.set_behavior(Behavior::Slow(Duration::from_secs(3600)));
    let router = online_router(&session);
    let calls_before = session.has_joined_calls();
    let slow = tokio::spawn({
        let addr = router.addr;
        let params = params.clone();
        async move { login(addr, &params).await.unwrap() }
    });
    // The router's hasJoined call is in flight...
    session.wait_for_has_joined_calls(calls_before + 1).await;
    // ...and another client is served meanwhile.
    ping(router.addr, 767, "play.example.com").await.unwrap();
    // Only the router's own deadline can end this login, since the session server
    // never answers; the outer bound only keeps a broken router from hanging the
    // suite.
    let outcome = tokio::time::timeout(Duration::from_secs(60), slow)
        .await
        .expect("the router gave up at its session timeout")
        .unwrap();
    match outcome {
        LoginOutcome::Disconnected(reason, _) => {
            assert!(reason.contains("unavailable"), "{reason}")
        }
        _ => panic!("a session server that never answers must not let the player in"),
    }
    router.wait_for_log(&["login refused: session server unavailable: timed out"]);
}

#[tokio::test]
async fn offline_mode_skips_encryption_and_derives_the_uuid() {
    let router = Passage::start(PassageSpec {
        config: "[auth]\nmode = \"offline\"\n",
        plugins: vec![],
        cache_dir: None,
        ..Default::default()
    });
    let params = LoginParams::new(769, "Notch", None);
    let LoginOutcome::Configuration(mut client, profile, trace) =
        login(router.addr, &params).await.unwrap()
    else {
        panic!("offline login disconnected")
    };
    assert!(!trace.encrypted);
    // Java's UUID.nameUUIDFromBytes("OfflinePlayer:Notch").
    assert_eq!(profile.uuid, 0xb50ad385_829d_3141_a216_7e7d7539ba7f);
    assert!(profile.properties.is_empty());
    first_configuration_packet(&mut client).await;
}

/// Every packet that arrived compressed-framed was compressed exactly when it was
/// at least `threshold` bytes (the router's rule, and what the vanilla client
/// checks from the other side); `what` names the step for the failure message.
fn assert_compressed_by_threshold(frames: &[CompressedFrame], threshold: i32, what: &str) {
    assert!(
        !frames.is_empty(),
        "{what}: no packet arrived compressed-framed"
    );
    for f in frames {
        assert_eq!(
            f.compressed,
            f.size >= threshold as usize,
            "{what}: packet {:#x} of {} bytes at threshold {threshold}: {frames:?}",
            f.id,
            f.size
        );
    }
}

/// Compression on the wire in both directions, for thresholds that compress
/// everything (0), some packets (64) and nothing (1 MiB); and on a cookie
/// reconnect, which skips the key exchange but not compression.
#[tokio::test]
async fn compression_works_above_and_below_the_threshold() {
    let session = SessionServer::start(Behavior::Normal).await;
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("auth_secret");
    std::fs::write(&secret, "c2VjcmV0LXNoYXJlZC13aXRoLWJhY2tlbmRzLTEyMzQ=\n").unwrap();
    for threshold in [0, 64, 1 << 20] {
        let config = format!(
            "compression_threshold = {threshold}\nauth_secret_file = \"{}\"\n\
             [auth]\nsession_server = \"{}\"\n\
             [plugins.fixed-discovery]\ntargets = [{{ id = \"lobby\", host = \"lobby.example.com\", port = 25570 }}]\n",
            secret.display(),
            session.url()
        );
        let router = Passage::start(PassageSpec {
            config: &config,
            plugins: vec![
                ("fixed-discovery", plugin_wasm("fixed-discovery")),
                ("player-fill", plugin_wasm("player-fill")),
            ],
            ..Default::default()
        });
        let mut cookies = std::collections::HashMap::new();
        for (intent, what) in [(2, "login"), (3, "cookie reconnect")] {
            let what = format!("threshold {threshold}, {what}");
            let mut params = LoginParams::new(770, "Steve", Some(session.addr));
            params.intent = intent;
            params.cookies = cookies.clone();
            let LoginOutcome::Configuration(mut client, profile, trace) =
                login(router.addr, &params).await.unwrap()
            else {
                panic!("{what}: disconnected\n{}", router.log())
            };
            assert_eq!(trace.compression, Some(threshold), "{what}");
            assert_eq!(trace.encrypted, intent == 2, "{what}: key exchange");
            assert_eq!(profile.name, "Steve");
            // Login Success (with the textures property) is the first packet
            // after Set Compression.
            assert_eq!(client.compressed_frames[0].id, 0x02, "{what}");
            // A serverbound packet above the threshold, compressed by the client.
            let mut big = Vec::new();
            string(&mut big, "passage:test");
            big.extend(vec![7u8; 2000]);
            client.send(0x02, &big).await.unwrap();
            client
                .send(0x00, &client_information("en_us", true))
                .await
                .unwrap();
            let (id, _, stored) = passage_tests::client::final_packet(&mut client)
                .await
                .unwrap();
            assert_eq!(id, 0x0B, "{what}: Transfer\n{}", router.log());
            assert_compressed_by_threshold(&client.compressed_frames, threshold, &what);
            let sizes: Vec<usize> = client.compressed_frames.iter().map(|f| f.size).collect();
            if threshold == 64 {
                // The rule was tested both ways: packets on either side of it.
                assert!(
                    sizes.iter().any(|s| *s >= 64) && sizes.iter().any(|s| *s < 64),
                    "{what}: {sizes:?}"
                );
            }
            cookies = stored;
        }
    }
    // The reconnects were authenticated by cookie: one session check per threshold.
    assert_eq!(session.has_joined_calls(), 3);
}

#[tokio::test]
async fn old_client_is_told_which_versions_can_join() {
    let session = SessionServer::start(Behavior::Normal).await;
    let router = online_router(&session);
    let params = LoginParams::new(765, "Steve", Some(session.addr));
    expect_disconnect(&router, &params, "1.20.5").await;
    // Its ping is still answered.
    ping(router.addr, 765, "play.example.com").await.unwrap();
}

#[tokio::test]
async fn the_session_server_sees_url_encoded_parameters_and_optional_ip() {
    let session = SessionServer::start(Behavior::Normal).await;
    let router = online_router_with(&session, "", "send_client_ip = true\n");
    let params = LoginParams::new(767, "Steve", Some(session.addr));
    assert!(matches!(
        login(router.addr, &params).await.unwrap(),
        LoginOutcome::Configuration(..)
    ));
    let query = session.has_joined_queries().pop().unwrap();
    assert!(query.contains("username=Steve"), "{query}");
    assert!(query.contains("serverId="), "{query}");
    assert!(query.contains("ip=127.0.0.1"), "{query}");
}

#[tokio::test]
async fn configured_server_id_is_sent_and_hashed() {
    let session = SessionServer::start(Behavior::Normal).await;
    let router = online_router_with(&session, "", "server_id = \"passage-01\"\n");
    let params = LoginParams::new(771, "Steve", Some(session.addr));
    // The client hashes the id it received; the session server only confirms
    // the player when the router hashed the same id.
    let LoginOutcome::Configuration(_, _, trace) = login(router.addr, &params).await.unwrap()
    else {
        panic!("login with a server id failed\n{}", router.log())
    };
    assert_eq!(trace.server_id.as_deref(), Some("passage-01"));
}

#[tokio::test]
async fn unexpected_login_packets_close_only_that_connection() {
    let router = Passage::start(PassageSpec {
        config: "[auth]\nmode = \"offline\"\n",
        plugins: vec![],
        cache_dir: None,
        ..Default::default()
    });
    // A configuration packet before Login Start; a Login Start with trailing bytes;
    // a Login Start whose name is too long.
    let mut too_long = Vec::new();
    string(&mut too_long, "ThisNameIsFarTooLong");
    too_long.extend_from_slice(&[0u8; 16]);
    let mut trailing = Vec::new();
    string(&mut trailing, "Steve");
    trailing.extend_from_slice(&[0u8; 17]);
    for body in [
        passage_tests::frame(0x07, &[1, 2, 3]),
        passage_tests::frame(0x00, &trailing),
        passage_tests::frame(0x00, &too_long),
    ] {
        let mut c = passage_tests::client::Client::connect(router.addr, 767)
            .await
            .unwrap();
        let mut bytes = passage_tests::handshake(767, "play.example.com", 25565, 2);
        bytes.extend(body);
        c.send_raw(&bytes).await.unwrap();
        assert!(c.closed().await);
    }
    router.wait_for_log(&["closing", "malformed packet"]);
    // A Login Plugin Response nobody asked for, before Login Acknowledged, is
    // tolerated: the login still completes.
    let mut c = passage_tests::client::Client::connect(router.addr, 767)
        .await
        .unwrap();
    let mut start = Vec::new();
    string(&mut start, "Alex");
    start.extend_from_slice(&[0u8; 16]);
    let mut bytes = passage_tests::handshake(767, "play.example.com", 25565, 2);
    bytes.extend(passage_tests::frame(0x00, &start));
    c.send_raw(&bytes).await.unwrap();
    let (id, _) = c.recv().await.unwrap();
    assert_eq!(id, 0x02, "Login Success");
    c.send(0x02, &[0x05, 0x00]).await.unwrap(); // Login Plugin Response, not understood
    c.send(0x03, &[]).await.unwrap(); // Login Acknowledged
    let (id, _) = first_configuration_packet(&mut c).await;
    assert_eq!(id, 0x02, "configuration Disconnect");

    // But not without end: 17 unasked-for answers close the connection.
    let mut c = passage_tests::client::Client::connect(router.addr, 767)
        .await
        .unwrap();
    let mut bytes = passage_tests::handshake(767, "play.example.com", 25565, 2);
    bytes.extend(passage_tests::frame(0x00, &start));
    c.send_raw(&bytes).await.unwrap();
    let (id, _) = c.recv().await.unwrap();
    assert_eq!(id, 0x02, "Login Success");
    for i in 0..17 {
        c.send(0x02, &[i, 0x00]).await.unwrap();
    }
    assert!(c.closed().await, "still open after 17 ignored packets");
    router.wait_for_log(&["closing: malformed packet", "login (too many packets)"]);
}
