//! Adversarial end to end (issue 9): hostile framing, packets out of state, crypto
//! tricks, slow clients, forged cookies, a misbehaving session server and plugins
//! returning nonsense — against the real binary.
//!
//! Every test checks three things: the attacked connection ends (at its state's
//! deadline, short ones here, see [`TIMEOUTS`], or at once when a check refuses
//! it), a log line says which, and a well-behaved client is served at the same
//! time. No test measures how fast the machine is (see [`NO_HANG`]). Where an attack could make
//! memory grow, the router's resident memory is checked as well.

use std::collections::HashMap;
use std::io::Write;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use passage_tests::client::{
    Client, LoginOutcome, LoginParams, client_information, login, login_to_final_packet,
    minecraft_hash,
};
use passage_tests::cookie::unix_now;
use passage_tests::session_server::{Behavior, SessionServer, client_join};
use passage_tests::{
    Passage, PassageSpec, Ping, expect_closed, frame, handshake, nbt_text, parse_transfer, ping,
    plugin_wasm, read_frame, string, take_string, take_varint, varint,
};
use rsa::pkcs8::DecodePublicKey;
use rsa::{Pkcs1v15Encrypt, RsaPublicKey};
use sha2::Sha256;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The login deadline of [`TIMEOUTS`].
const LOGIN: Duration = Duration::from_millis(2000);
/// How long a test waits for something that must happen at all (a close, an
/// answer) before calling it a hang. It bounds a broken router, never measures a
/// working one: no test here depends on how fast the machine is; what ended a
/// connection is read from the router's log.
const NO_HANG: Duration = Duration::from_secs(30);

/// Short state deadlines, and no per-address budgets or caps: every client here
/// comes from 127.0.0.1, and the attacks must meet the deadlines, not the rate
/// limits (`flood.rs` tests the caps).
const TIMEOUTS: &str = "[timeouts]\nhandshake_ms = 1000\nstatus_ms = 1000\nlogin_ms = 2000\n\
                        configuration_ms = 2000\n\n[limits]\nstatus_per_second = 0.0\n\
                        login_per_second = 0.0\nmax_connections_per_address = 0\n";

/// The player every login uses, and the UUID `LoginParams::new` claims.
const NAME: &str = "Steve";
const UUID: &str = "8667ba71-b85a-4004-af54-457a9734eed7";

/// `top` holds top-level keys (they must precede every table), `tables` the rest.
fn start(top: &str, tables: &str, plugins: Vec<(&str, std::path::PathBuf)>) -> Passage {
    let config = format!("{top}\n{TIMEOUTS}\n{tables}");
    Passage::start(PassageSpec {
        config: &config,
        plugins,
        ..Default::default()
    })
}

/// No plugins: the configured fallback answers pings.
fn plain_router() -> Passage {
    start("", "", vec![])
}

fn offline_router(top: &str) -> Passage {
    start(top, "[auth]\nmode = \"offline\"\n", vec![])
}

fn online_router(session: &SessionServer, session_timeout_ms: u64) -> Passage {
    start(
        "",
        &format!(
            "[auth]\nsession_server = \"{}\"\nsession_timeout_ms = {session_timeout_ms}\n",
            session.url()
        ),
        vec![],
    )
}

/// A well-behaved server-list ping; it must be answered (the router would close
/// it at its status deadline otherwise).
async fn well_behaved_ping(router: &Passage) -> Ping {
    match tokio::time::timeout(NO_HANG, ping(router.addr, 767, "play.example.com")).await {
        Ok(Ok(p)) => p,
        Ok(Err(e)) => panic!("well-behaved ping failed: {e}\n{}", router.log()),
        Err(_) => panic!("well-behaved ping not answered in time\n{}", router.log()),
    }
}

/// Sends `bytes` on a fresh connection while a well-behaved client pings, and
/// waits for the router to close the attacking connection. Why it closed is
/// each test's log assertion (the check that refused it, not a deadline); the
/// bound here only keeps a broken router from hanging the suite.
async fn raw_attack(router: &Passage, bytes: &[u8]) {
    let mut stream = TcpStream::connect(router.addr).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    let (closed, _) = tokio::join!(
        expect_closed(&mut stream, NO_HANG),
        well_behaved_ping(router)
    );
    if let Err(e) = closed {
        panic!("{e}\n{}", router.log());
    }
}

/// How many log lines contain every one of `needles`.
fn count_lines(router: &Passage, needles: &[&str]) -> usize {
    router
        .log()
        .lines()
        .filter(|l| needles.iter().all(|n| l.contains(n)))
        .count()
}

/// Waits (up to 10 s) until at least `n` log lines contain every one of `needles`.
fn wait_for_lines(router: &Passage, needles: &[&str], n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while count_lines(router, needles) < n {
        assert!(
            Instant::now() < deadline,
            "fewer than {n} log lines contain {needles:?} ({} do)",
            count_lines(router, needles)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until the router serves `n` connections (its `connections_active`).
async fn wait_for_active(router: &Passage, n: usize) {
    let deadline = Instant::now() + NO_HANG;
    loop {
        let (_, text) = passage_tests::http_get(router.metrics_addr(), "/metrics")
            .await
            .unwrap();
        let active = text.lines().find_map(|l| {
            l.strip_prefix("passage_connections_active ")?
                .trim()
                .parse::<f64>()
                .ok()
        });
        if active.is_some_and(|a| a >= n as f64) {
            return;
        }
        assert!(Instant::now() < deadline, "{active:?} active, not {n}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn login_start(name: &str) -> Vec<u8> {
    let mut body = Vec::new();
    string(&mut body, name);
    body.extend_from_slice(&0x8667ba71_b85a_4004_af54_457a9734eed7u128.to_be_bytes());
    body
}

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    z.write_all(data).unwrap();
    z.finish().unwrap()
}

/// A compressed-framing frame whose data length says `declared` and whose zlib
/// stream is `compressed`.
fn compressed_frame(declared: i32, compressed: &[u8]) -> Vec<u8> {
    let mut inner = Vec::new();
    varint(&mut inner, declared);
    inner.extend_from_slice(compressed);
    let mut out = Vec::new();
    varint(&mut out, inner.len() as i32);
    out.extend(inner);
    out
}

/// The router must not have grown by more than `limit_mib` since `baseline_kib`.
fn assert_rss_bounded(router: &Passage, baseline_kib: u64, limit_mib: u64, what: &str) {
    let now = router.rss_kib();
    let grown = now.saturating_sub(baseline_kib);
    eprintln!("{what}: RSS {baseline_kib} -> {now} KiB");
    assert!(
        grown <= limit_mib * 1024,
        "{what}: RSS grew by {grown} KiB ({baseline_kib} -> {now} KiB), over {limit_mib} MiB"
    );
}

// ---------------------------------------------------------------------------
// Lengths
// ---------------------------------------------------------------------------

#[tokio::test]
async fn negative_frame_length_is_refused_at_once() {
    let router = plain_router();
    raw_attack(&router, &[0xff, 0xff, 0xff, 0xff, 0x0f]).await;
    router.wait_for_log(&["closing: frame length", "negative length -1"]);
}

#[tokio::test]
async fn frame_length_0x7fffffff_is_refused_without_allocating() {
    let router = plain_router();
    well_behaved_ping(&router).await;
    let baseline = router.rss_kib();
    raw_attack(&router, &[0xff, 0xff, 0xff, 0xff, 0x07]).await;
    router.wait_for_log(&["closing: frame of 2147483647 bytes exceeds the maximum"]);
    assert_rss_bounded(&router, baseline, 30, "after a 2 GiB length prefix");
}

#[tokio::test]
async fn five_byte_varint_length_is_legal_but_bounded() {
    let router = plain_router();
    // A 5-byte VarInt is legal: a padded encoding of a real handshake's length is
    // read like the short one, and the ping is answered.
    let hs = handshake(767, "play.example.com", 25565, 1);
    let payload = &hs[1..]; // the canonical one-byte length dropped
    let len = payload.len() as u8;
    assert!(len < 0x80);
    let mut out = vec![len | 0x80, 0x80, 0x80, 0x80, 0x00];
    out.extend_from_slice(payload);
    out.extend(frame(0x00, &[]));
    let mut stream = TcpStream::connect(router.addr).await.unwrap();
    stream.write_all(&out).await.unwrap();
    let (id, _) = tokio::time::timeout(NO_HANG, read_frame(&mut stream))
        .await
        .expect("status answered")
        .unwrap();
    assert_eq!(id, 0x00, "Status Response");
    // A 5-byte VarInt saying 2^28 is refused by its value, before any body.
    raw_attack(&router, &[0x80, 0x80, 0x80, 0x80, 0x01]).await;
    router.wait_for_log(&["closing: frame of 268435456 bytes exceeds the maximum"]);
}

#[tokio::test]
async fn six_byte_varint_length_is_refused() {
    let router = plain_router();
    raw_attack(&router, &[0x80, 0x80, 0x80, 0x80, 0x80, 0x01]).await;
    router.wait_for_log(&["closing: frame length", "VarInt longer than 5 bytes"]);
}

#[tokio::test]
async fn frame_larger_than_any_serverbound_packet_is_refused_before_its_body() {
    let router = offline_router("");
    // Handshake state: a 100000-byte "handshake"; only its first bytes are sent.
    let mut bytes = Vec::new();
    varint(&mut bytes, 100_000);
    bytes.extend_from_slice(&[0x00, 0xff, 0x05, 0x10]);
    raw_attack(&router, &bytes).await;
    router.wait_for_log(&["closing: frame of 100000 bytes exceeds the maximum"]);
    // Login state: after a valid handshake, a 100000-byte Login Start.
    let mut bytes = handshake(767, "play.example.com", 25565, 2);
    varint(&mut bytes, 100_000);
    bytes.push(0x00);
    raw_attack(&router, &bytes).await;
    wait_for_lines(
        &router,
        &["closing: frame of 100000 bytes exceeds the maximum"],
        2,
    );
}

/// Logs in offline with compression on (threshold 256) and returns the client in
/// the configuration state.
async fn compressed_client(router: &Passage) -> Client {
    let params = LoginParams::new(767, NAME, None);
    match login(router.addr, &params).await.unwrap() {
        LoginOutcome::Configuration(client, _, trace) => {
            assert_eq!(trace.compression, Some(256));
            client
        }
        _ => panic!("offline login failed\n{}", router.log()),
    }
}

#[tokio::test]
async fn compressed_frame_inflating_past_its_declared_size_is_refused() {
    let router = offline_router("compression_threshold = 256");
    let mut client = compressed_client(&router).await;
    // Declares 300 bytes; the zlib data inflates to 5000 (a Plugin Message).
    let mut packet = vec![0x02];
    string(&mut packet, "passage:test");
    packet.resize(5000, 7);
    client
        .send_raw(&compressed_frame(300, &zlib(&packet)))
        .await
        .unwrap();
    well_behaved_ping(&router).await;
    assert!(client.closed().await, "connection left open");
    router
        .wait_for_log(&["closing: compressed frame: inflates to more than the declared 300 bytes"]);
}

#[tokio::test]
async fn zlib_bomb_costs_no_more_than_its_declared_size() {
    let router = offline_router("compression_threshold = 256");
    well_behaved_ping(&router).await;
    let baseline = router.rss_kib();
    // 64 MiB of zeros compress to ~64 KiB: too big a frame in configuration, so
    // use 16 MiB (~16 KiB compressed, under the 32 KiB frame bound), ten times.
    let bomb = zlib(&vec![0u8; 16 << 20]);
    assert!(bomb.len() < 32 * 1024, "{} bytes", bomb.len());
    for _ in 0..10 {
        let mut client = compressed_client(&router).await;
        client
            .send_raw(&compressed_frame(300, &bomb))
            .await
            .unwrap();
        assert!(client.closed().await, "connection left open");
    }
    well_behaved_ping(&router).await;
    wait_for_lines(
        &router,
        &["closing: compressed frame: inflates to more than the declared 300 bytes"],
        10,
    );
    assert_rss_bounded(&router, baseline, 30, "after ten 16 MiB zlib bombs");
}

// ---------------------------------------------------------------------------
// State abuse
// ---------------------------------------------------------------------------

#[tokio::test]
async fn status_packet_in_the_login_state_is_refused() {
    let router = offline_router("");
    let mut bytes = handshake(767, "play.example.com", 25565, 2);
    bytes.extend(frame(0x01, &42i64.to_be_bytes())); // a status Ping Request
    raw_attack(&router, &bytes).await;
    router.wait_for_log(&["closing: malformed packet: unknown packet id 0x01 in state login"]);
}

#[tokio::test]
async fn second_handshake_is_refused() {
    let router = offline_router("");
    // After a status handshake, the second one is read as a Status Request with
    // a body it must not have.
    let mut bytes = handshake(767, "a", 1, 1);
    bytes.extend(handshake(767, "a", 1, 1));
    raw_attack(&router, &bytes).await;
    router.wait_for_log(&[
        "closing: malformed packet: status request",
        "unexpected trailing bytes",
    ]);
    // After a login handshake, it is no Login Start either.
    let mut bytes = handshake(767, "play.example.com", 25565, 2);
    bytes.extend(handshake(767, "play.example.com", 25565, 2));
    raw_attack(&router, &bytes).await;
    router.wait_for_log(&["closing: malformed packet: login start"]);
}

#[tokio::test]
async fn login_acknowledged_before_login_start_is_refused() {
    let router = offline_router("");
    let mut bytes = handshake(767, "play.example.com", 25565, 2);
    bytes.extend(frame(0x03, &[]));
    raw_attack(&router, &bytes).await;
    router.wait_for_log(&["closing: malformed packet: unknown packet id 0x03 in state login"]);
}

#[tokio::test]
async fn configuration_packet_before_login_acknowledged_is_refused() {
    let router = offline_router("");
    let mut client = Client::connect(router.addr, 767).await.unwrap();
    let mut bytes = handshake(767, "play.example.com", 25565, 2);
    bytes.extend(frame(0x00, &login_start(NAME)));
    client.send_raw(&bytes).await.unwrap();
    let (id, _) = client.recv().await.unwrap();
    assert_eq!(id, 0x02, "Login Success");
    // Client Information (configuration 0x00) instead of Login Acknowledged.
    client
        .send(0x00, &client_information("en_us", 767))
        .await
        .unwrap();
    well_behaved_ping(&router).await;
    assert!(client.closed().await, "connection left open");
    router.wait_for_log(&["closing: malformed packet: unknown packet id 0x00 in state login"]);
}

#[tokio::test]
async fn trailing_bytes_after_a_packet_are_refused() {
    let router = plain_router();
    let mut bytes = handshake(767, "play.example.com", 25565, 1);
    bytes.extend(frame(0x00, &[0xAA])); // Status Request + one byte
    raw_attack(&router, &bytes).await;
    router
        .wait_for_log(&["closing: malformed packet: status request: 1 unexpected trailing bytes"]);
}

// ---------------------------------------------------------------------------
// Crypto (online mode)
// ---------------------------------------------------------------------------

struct EncryptionRequest {
    server_id: String,
    public_key: Vec<u8>,
    verify_token: Vec<u8>,
}

/// Handshake and Login Start in online mode; returns the client and the router's
/// Encryption Request.
async fn start_online_login(router: &Passage) -> (Client, EncryptionRequest) {
    let mut client = Client::connect(router.addr, 767).await.unwrap();
    let mut bytes = handshake(767, "play.example.com", 25565, 2);
    bytes.extend(frame(0x00, &login_start(NAME)));
    client.send_raw(&bytes).await.unwrap();
    let (id, body) = client.recv().await.unwrap();
    assert_eq!(id, 0x01, "Encryption Request");
    let mut r = &body[..];
    let server_id = take_string(&mut r);
    let n = take_varint(&mut r) as usize;
    let public_key = r[..n].to_vec();
    r = &r[n..];
    let n = take_varint(&mut r) as usize;
    let verify_token = r[..n].to_vec();
    (
        client,
        EncryptionRequest {
            server_id,
            public_key,
            verify_token,
        },
    )
}

fn encryption_response(shared_secret: &[u8], verify_token: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    varint(&mut body, shared_secret.len() as i32);
    body.extend_from_slice(shared_secret);
    varint(&mut body, verify_token.len() as i32);
    body.extend_from_slice(verify_token);
    body
}

/// Sends `response` as the Encryption Response and checks the router closes the
/// connection, refusing with its one generic log line (not at a deadline) while a
/// well-behaved client is served.
async fn refused_encryption_response(router: &Passage, mut client: Client, response: &[u8]) {
    let before = count_lines(router, &["login refused: encryption response rejected"]);
    client.send(0x01, response).await.unwrap();
    well_behaved_ping(router).await;
    assert!(client.closed().await, "connection left open");
    wait_for_lines(
        router,
        &["login refused: encryption response rejected"],
        before + 1,
    );
}

#[tokio::test]
async fn garbage_rsa_ciphertext_is_refused() {
    let session = SessionServer::start(Behavior::Normal).await;
    let router = online_router(&session, 1000);
    let (client, _) = start_online_login(&router).await;
    let mut garbage = [0u8; 256];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut garbage);
    let response = encryption_response(&garbage[..128], &garbage[128..]);
    refused_encryption_response(&router, client, &response).await;
    assert_eq!(session.has_joined_calls(), 0);
}

#[tokio::test]
async fn replayed_encryption_response_is_refused() {
    let session = SessionServer::start(Behavior::Normal).await;
    let router = online_router(&session, 1000);
    // Connection A: an honest Encryption Response, captured on the way out.
    let (mut a, request) = start_online_login(&router).await;
    let mut secret = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut secret);
    let hash = minecraft_hash(&[request.server_id.as_bytes(), &secret, &request.public_key]);
    let undashed = UUID.replace('-', "");
    assert_eq!(
        client_join(session.addr, NAME, &undashed, &hash)
            .await
            .unwrap(),
        204
    );
    let key = RsaPublicKey::from_public_key_der(&request.public_key).unwrap();
    let mut rng = rand::rngs::OsRng;
    let captured = encryption_response(
        &key.encrypt(&mut rng, Pkcs1v15Encrypt, &secret).unwrap(),
        &key.encrypt(&mut rng, Pkcs1v15Encrypt, &request.verify_token)
            .unwrap(),
    );
    a.send(0x01, &captured).await.unwrap();
    a.enable_encryption(&secret);
    let (id, _) = a.recv().await.unwrap();
    assert_eq!(id, 0x02, "A is logged in: the captured response was valid");
    assert_eq!(session.has_joined_calls(), 1);
    // Connection B replays A's bytes: its verify token differs, so it is refused
    // before the session server is asked.
    let (b, request_b) = start_online_login(&router).await;
    assert_ne!(request_b.verify_token, request.verify_token);
    refused_encryption_response(&router, b, &captured).await;
    assert_eq!(session.has_joined_calls(), 1);
}

/// A login whose Encryption Response is wrong as `params` says.
async fn refused_login(router: &Passage, params: &LoginParams) {
    let before = count_lines(router, &["login refused: encryption response rejected"]);
    let (outcome, _) = tokio::join!(login(router.addr, params), well_behaved_ping(router));
    let LoginOutcome::SentEncryptionResponse(mut client) = outcome.unwrap() else {
        panic!("the router answered before the Encryption Response")
    };
    assert!(client.closed().await, "connection left open");
    wait_for_lines(
        router,
        &["login refused: encryption response rejected"],
        before + 1,
    );
}

#[tokio::test]
async fn wrong_verify_token_is_refused() {
    let session = SessionServer::start(Behavior::Normal).await;
    let router = online_router(&session, 1000);
    let mut params = LoginParams::new(767, NAME, Some(session.addr));
    params.wrong_verify_token = true;
    params.stop_after_encryption_response = true;
    refused_login(&router, &params).await;
    assert_eq!(session.has_joined_calls(), 0);
}

#[tokio::test]
async fn shared_secret_of_the_wrong_length_is_refused() {
    let session = SessionServer::start(Behavior::Normal).await;
    let router = online_router(&session, 1000);
    for secret_len in [15, 32] {
        let mut params = LoginParams::new(767, NAME, Some(session.addr));
        params.secret_len = secret_len;
        params.stop_after_encryption_response = true;
        refused_login(&router, &params).await;
    }
    assert_eq!(session.has_joined_calls(), 0);
}

// ---------------------------------------------------------------------------
// Slow clients
// ---------------------------------------------------------------------------

/// 1000 sockets that never send a byte hold no one up, and each is closed at its
/// own handshake deadline. They are opened a hundred at a time, each hundred once
/// the router has taken the last (so the listen backlog never overflows into
/// SYN retransmits, which would make a loaded machine's connects take seconds),
/// and the deadline (10 s) is far longer than that takes: the ping must be
/// answered while every silent socket is still open.
#[tokio::test]
async fn thousand_silent_sockets_are_closed_at_the_handshake_deadline() {
    const SILENT: Duration = Duration::from_secs(10);
    let router = Passage::start(PassageSpec {
        config: TIMEOUTS,
        env: vec![("PASSAGE_TIMEOUTS__HANDSHAKE_MS", "10000")],
        ..Default::default()
    });
    well_behaved_ping(&router).await;
    let baseline = router.rss_kib();
    let mut silent = tokio::task::JoinSet::new();
    for batch in 1..=10 {
        for _ in 0..100 {
            let mut stream = TcpStream::connect(router.addr).await.unwrap();
            let opened = Instant::now();
            silent.spawn(async move {
                let closed = expect_closed(&mut stream, SILENT + NO_HANG).await;
                (closed.is_ok(), opened.elapsed())
            });
        }
        wait_for_active(&router, 100 * batch).await;
    }
    // While they wait, a real client is served: before any of them is closed.
    well_behaved_ping(&router).await;
    assert_eq!(
        count_lines(&router, &["closing: timed out in state handshake"]),
        0,
        "the ping was answered only after silent sockets timed out"
    );
    let peak = router.rss_kib();
    eprintln!("1000 silent sockets open: RSS {baseline} -> {peak} KiB");
    while let Some(done) = silent.join_next().await {
        let (closed, after) = done.unwrap();
        assert!(closed, "a silent socket is still open after {after:?}");
        // Never before the deadline (`opened` is taken after the connect, so at
        // most a scheduling tick after the router's accept).
        assert!(
            after >= SILENT - Duration::from_millis(100),
            "a silent socket was closed after {after:?}, before the deadline"
        );
    }
    wait_for_lines(&router, &["closing: timed out in state handshake"], 1000);
    well_behaved_ping(&router).await;
    assert!(
        peak.saturating_sub(baseline) <= 30 * 1024,
        "1000 silent sockets cost {} KiB",
        peak.saturating_sub(baseline)
    );
    assert_rss_bounded(&router, baseline, 30, "after 1000 silent sockets");
}

/// Bytes of the Login Start a trickling client announces: at one byte a second
/// it would take this many seconds to finish it.
const TRICKLED_LOGIN_START: u8 = 0x20;

/// Connects and sends a handshake (login) and the length of a 32-byte Login
/// Start; the rest is left to [`trickle`].
async fn start_trickle(addr: std::net::SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let mut first = handshake(767, "play.example.com", addr.port(), 2);
    first.push(TRICKLED_LOGIN_START);
    stream.write_all(&first).await.unwrap();
    stream
}

/// Sends one byte a second until the router closes; how long that took and how
/// many bytes were trickled.
async fn trickle(mut stream: TcpStream) -> (Duration, usize) {
    let started = Instant::now();
    let mut sent = 0;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await; // the first tick is immediate: skip it
    let mut buf = [0u8; 64];
    loop {
        assert!(started.elapsed() < NO_HANG * 2, "never closed");
        tokio::select! {
            _ = tick.tick() => {
                if stream.write_all(b"A").await.is_err() {
                    break;
                }
                sent += 1;
            }
            read = stream.read(&mut buf) => match read {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            },
        }
    }
    (started.elapsed(), sent)
}

#[tokio::test]
async fn hundred_trickling_sockets_are_closed_at_the_login_deadline() {
    let router = offline_router("");
    let mut trickling = tokio::task::JoinSet::new();
    for _ in 0..100 {
        let stream = start_trickle(router.addr).await;
        trickling.spawn(trickle(stream));
    }
    well_behaved_ping(&router).await;
    let (mut earliest, mut latest) = (Duration::MAX, Duration::ZERO);
    while let Some(done) = trickling.join_next().await {
        let (after, sent) = done.unwrap();
        earliest = earliest.min(after);
        latest = latest.max(after);
        // Closed by the login deadline although a byte came every second (less
        // than the deadline apart): the deadline is for the whole state, not for
        // silence. Never before it, and long before the Login Start was complete.
        assert!(sent >= 1, "closed before trickling ({after:?})");
        assert!(
            after >= LOGIN - Duration::from_millis(300),
            "closed after {after:?}, before the login deadline"
        );
        assert!(
            sent < usize::from(TRICKLED_LOGIN_START),
            "the whole Login Start was trickled ({sent} bytes in {after:?}) before the close"
        );
    }
    eprintln!("trickling sockets closed after {earliest:?} to {latest:?}");
    wait_for_lines(&router, &["closing: timed out in state login"], 100);
    well_behaved_ping(&router).await;
}

// ---------------------------------------------------------------------------
// Cookies
// ---------------------------------------------------------------------------

const COOKIE_SECRET: &str = "adversarial-cookie-secret-0123456789abcdef";

fn cookie_router(session: &SessionServer, expiry_secs: u64) -> (Passage, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("auth_secret");
    // No trailing newline: the key is exactly COOKIE_SECRET.
    std::fs::write(&secret, COOKIE_SECRET).unwrap();
    let top = format!(
        "auth_secret_file = \"{}\"\nauth_cookie_expiry_secs = {expiry_secs}\n",
        secret.display()
    );
    let tables = format!(
        "[auth]\nsession_server = \"{}\"\nsession_timeout_ms = 1000\n",
        session.url()
    );
    (start(&top, &tables, vec![]), dir)
}

/// The cookie's JSON in the documented format.
fn cookie_json(timestamp: u64, client_addr: &str) -> serde_json::Value {
    serde_json::json!({
        "timestamp": timestamp,
        "client_addr": client_addr,
        "user_name": NAME,
        "user_id": UUID,
        "target": "lobby",
        "profile_properties": [],
        "extra": {},
    })
}

/// `HMAC-SHA256(key, json) || json`, with `json` as given (byte for byte).
fn sign(json: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(COOKIE_SECRET.as_bytes()).unwrap();
    mac.update(json);
    let mut out = mac.finalize().into_bytes().to_vec();
    out.extend_from_slice(json);
    out
}

fn fresh_cookie() -> Vec<u8> {
    sign(&serde_json::to_vec(&cookie_json(unix_now(), "127.0.0.1:40000")).unwrap())
}

/// A reconnect after a Transfer (intent 3) holding `cookie`.
fn returning(session: &SessionServer, cookie: Vec<u8>) -> LoginParams {
    let mut params = LoginParams::new(767, NAME, Some(session.addr));
    params.intent = 3;
    params.cookies = HashMap::from([("passage:authentication".to_owned(), cookie)]);
    params
}

/// Logs in with `params` to the end of configuration (no plugins: a "no server"
/// Disconnect), within the login and configuration deadlines, while a
/// well-behaved client pings.
async fn login_to_the_end(router: &Passage, params: &LoginParams) {
    let (done, _) = tokio::join!(
        login_to_final_packet(router.addr, params, "en_us"),
        well_behaved_ping(router)
    );
    let (id, body, _) = done.unwrap_or_else(|e| panic!("login failed: {e}\n{}", router.log()));
    assert_eq!(id, 0x02, "configuration Disconnect");
    assert!(nbt_text(&body).starts_with("No server is available"));
}

/// The cookie is refused for `reason` and the player authenticates in full.
async fn falls_back(router: &Passage, session: &SessionServer, cookie: Vec<u8>, reason: &str) {
    let before = session.has_joined_calls();
    login_to_the_end(router, &returning(session, cookie)).await;
    assert_eq!(
        session.has_joined_calls(),
        before + 1,
        "full authentication with the session server"
    );
    router.wait_for_log(&[
        "auth cookie rejected; authenticating in full",
        &format!("reason=\"{reason}\""),
    ]);
}

/// The control: a cookie signed here the documented way is accepted, so the
/// refusals below are for the defect each one carries.
#[tokio::test]
async fn self_signed_cookie_in_the_documented_format_is_accepted() {
    let session = SessionServer::start(Behavior::Normal).await;
    let (mut router, _secret) = cookie_router(&session, 60);
    login_to_the_end(&router, &returning(&session, fresh_cookie())).await;
    assert_eq!(session.has_joined_calls(), 0);
    router.wait_for_log(&["authenticated by cookie"]);
    assert!(router.is_running());
}

#[tokio::test]
async fn cookie_with_a_forged_signature_falls_back() {
    let session = SessionServer::start(Behavior::Normal).await;
    let (mut router, _secret) = cookie_router(&session, 60);
    let mut cookie = fresh_cookie();
    cookie[..32].copy_from_slice(&[0x5a; 32]);
    falls_back(&router, &session, cookie, "bad_signature").await;
    assert!(router.is_running());
}

#[tokio::test]
async fn cookie_with_a_flipped_json_byte_falls_back() {
    let session = SessionServer::start(Behavior::Normal).await;
    let (mut router, _secret) = cookie_router(&session, 60);
    let mut cookie = fresh_cookie();
    // Inside the JSON: "lobby" becomes "lobbx" (still valid JSON).
    let at = cookie
        .windows(5)
        .position(|w| w == b"lobby")
        .expect("target in the cookie")
        + 4;
    cookie[at] ^= 0x01;
    falls_back(&router, &session, cookie, "bad_signature").await;
    assert!(router.is_running());
}

#[tokio::test]
async fn expired_cookie_falls_back() {
    let session = SessionServer::start(Behavior::Normal).await;
    let (mut router, _secret) = cookie_router(&session, 60);
    let json = cookie_json(unix_now() - 3600, "127.0.0.1:40000");
    falls_back(
        &router,
        &session,
        sign(&serde_json::to_vec(&json).unwrap()),
        "expired",
    )
    .await;
    assert!(router.is_running());
}

#[tokio::test]
async fn cookie_from_another_ip_falls_back() {
    let session = SessionServer::start(Behavior::Normal).await;
    let (mut router, _secret) = cookie_router(&session, 60);
    // Issued to 127.0.0.1, presented from 127.0.0.2.
    let mut params = returning(&session, fresh_cookie());
    params.source_ip = Some("127.0.0.2".parse().unwrap());
    login_to_the_end(&router, &params).await;
    assert_eq!(session.has_joined_calls(), 1);
    router.wait_for_log(&["auth cookie rejected", "reason=\"other_ip\""]);
    assert!(router.is_running());
}

#[tokio::test]
async fn oversized_cookie_is_refused_without_a_crash() {
    let session = SessionServer::start(Behavior::Normal).await;
    let (mut router, _secret) = cookie_router(&session, 60);
    // Validly signed, but one byte over the 5120 the Cookie Response may carry;
    // then one that does not even fit the login state's frame bound.
    for (size, needle) in [
        (5121, "cookie payload: length 5121 exceeds the maximum 5120"),
        (9000, "bytes exceeds the maximum"),
    ] {
        let mut json = cookie_json(unix_now(), "127.0.0.1:40000");
        let bare = serde_json::to_vec(&json).unwrap().len();
        let pad = size - 32 - bare - r#""pad":"""#.len();
        json["extra"]["pad"] = serde_json::Value::String("x".repeat(pad));
        let cookie = sign(&serde_json::to_vec(&json).unwrap());
        assert_eq!(cookie.len(), size);
        let params = returning(&session, cookie);
        let (outcome, _) = tokio::join!(
            tokio::time::timeout(NO_HANG, login(router.addr, &params)),
            well_behaved_ping(&router)
        );
        let outcome = outcome.expect("the connection was closed");
        assert!(
            outcome.is_err(),
            "a {size}-byte cookie was not refused\n{}",
            router.log()
        );
        router.wait_for_log(&["closing:", needle]);
    }
    assert_eq!(session.has_joined_calls(), 0);
    assert!(router.is_running());
}

#[tokio::test]
async fn signed_cookie_with_missing_fields_falls_back() {
    let session = SessionServer::start(Behavior::Normal).await;
    let (mut router, _secret) = cookie_router(&session, 60);
    let json = serde_json::json!({ "timestamp": unix_now(), "user_name": NAME });
    falls_back(
        &router,
        &session,
        sign(&serde_json::to_vec(&json).unwrap()),
        "malformed",
    )
    .await;
    assert!(router.is_running());
}

/// One cookie, judged by its age against each replica's window: the same bytes
/// are accepted by a router whose expiry covers the cookie's age and refused by
/// one whose window it has outlived. The age is set in the cookie, so no login
/// has to fit into a window of real time.
#[tokio::test]
async fn cookie_older_than_the_expiry_window_falls_back() {
    let session = SessionServer::start(Behavior::Normal).await;
    let cookie =
        sign(&serde_json::to_vec(&cookie_json(unix_now() - 120, "127.0.0.1:40000")).unwrap());
    let (patient, _secret) = cookie_router(&session, 600);
    login_to_the_end(&patient, &returning(&session, cookie.clone())).await;
    assert_eq!(session.has_joined_calls(), 0);
    patient.wait_for_log(&["authenticated by cookie"]);
    let (mut strict, _secret) = cookie_router(&session, 60);
    falls_back(&strict, &session, cookie, "expired").await;
    assert!(strict.is_running());
}

// ---------------------------------------------------------------------------
// Session server
// ---------------------------------------------------------------------------

/// An online login that must end with a Login Disconnect containing `message`,
/// while a well-behaved client is served. Which deadline or check ended it is
/// each test's log assertion.
async fn disconnected(router: &Passage, session: &SessionServer, message: &str) {
    let params = LoginParams::new(767, NAME, Some(session.addr));
    let (outcome, _) = tokio::join!(
        tokio::time::timeout(NO_HANG, login(router.addr, &params)),
        well_behaved_ping(router)
    );
    let outcome = outcome.expect("the login ended").unwrap();
    let LoginOutcome::Disconnected(reason, _) = outcome else {
        panic!("expected a Login Disconnect\n{}", router.log())
    };
    assert!(reason.contains(message), "{reason:?} lacks {message:?}");
}

#[tokio::test]
async fn session_server_500_ends_with_a_disconnect() {
    let session = SessionServer::start(Behavior::ServerError).await;
    let router = online_router(&session, 1000);
    disconnected(&router, &session, "unavailable").await;
    router.wait_for_log(&["login refused: session server unavailable: HTTP status 500"]);
}

#[tokio::test]
async fn session_server_invalid_json_ends_with_a_disconnect() {
    let session = SessionServer::start(Behavior::InvalidJson).await;
    let router = online_router(&session, 1000);
    disconnected(&router, &session, "unavailable").await;
    router.wait_for_log(&["login refused: session server unavailable: invalid profile JSON"]);
}

#[tokio::test]
async fn session_server_profile_for_another_name_ends_with_a_disconnect() {
    let session = SessionServer::start(Behavior::WrongName).await;
    let router = online_router(&session, 1000);
    disconnected(&router, &session, "Failed to verify").await;
    router.wait_for_log(&["session server returned a profile for another name"]);
    router.wait_for_log(&["login refused: the session server did not verify the player"]);
}

#[tokio::test]
async fn slow_session_server_is_cut_at_the_session_timeout() {
    // It never answers: only the router's own timeout can end the login.
    let session = SessionServer::start(Behavior::Slow(Duration::from_secs(3600))).await;
    let router = online_router(&session, 500);
    disconnected(&router, &session, "unavailable").await;
    router.wait_for_log(&["login refused: session server unavailable: timed out"]);
}

#[tokio::test]
async fn slow_session_server_is_cut_at_the_login_deadline() {
    // A session timeout longer than the whole login: the login deadline wins.
    let session = SessionServer::start(Behavior::Slow(Duration::from_secs(3600))).await;
    let router = online_router(&session, 10_000);
    disconnected(&router, &session, "unavailable").await;
    router.wait_for_log(&["login refused: session server unavailable: login deadline reached"]);
}

// ---------------------------------------------------------------------------
// Plugins
// ---------------------------------------------------------------------------

/// Plugin calls get a deadline that a debug build meets comfortably.
const PLUGIN_RUNTIME: &str = "[plugin_runtime]\ncall_timeout_ms = 500\n";

fn routing_router(discovery: &str, tables: &str) -> Passage {
    start(
        "",
        &format!("[auth]\nmode = \"offline\"\n{PLUGIN_RUNTIME}{tables}"),
        vec![
            (discovery, plugin_wasm(discovery)),
            ("flaky-strategy", plugin_wasm("flaky-strategy")),
        ],
    )
}

/// An offline login to its final configuration packet, while a well-behaved
/// client pings.
async fn route(router: &Passage, name: &str) -> (i32, Vec<u8>) {
    let params = LoginParams::new(767, name, None);
    let (done, _) = tokio::join!(
        login_to_final_packet(router.addr, &params, "en_us"),
        well_behaved_ping(router)
    );
    let (id, body, _) = done.unwrap_or_else(|e| panic!("login failed: {e}\n{}", router.log()));
    (id, body)
}

#[tokio::test]
async fn targets_with_an_invalid_host_or_port_0_are_never_transferred_to() {
    let router = routing_router("misbehave", "[plugins.misbehave]\nmode = \"bad-targets\"\n");
    let (id, body) = route(&router, NAME).await;
    assert_eq!(id, 0x0B, "Transfer\n{}", router.log());
    assert_eq!(parse_transfer(&body), ("10.0.0.1".to_owned(), 25565));
    router.wait_for_log(&["ignoring target: its port is 0", "zero-port"]);
    router.wait_for_log(&[
        "ignoring target: its host is not a host name or IP address",
        "bad-host",
    ]);
}

#[tokio::test]
async fn only_invalid_targets_means_no_server_available() {
    let router = routing_router(
        "misbehave",
        "[plugins.misbehave]\nmode = \"only-bad-targets\"\n",
    );
    let (id, body) = route(&router, NAME).await;
    assert_eq!(id, 0x02, "configuration Disconnect\n{}", router.log());
    assert!(nbt_text(&body).starts_with("No server is available"));
    router.wait_for_log(&["ignoring target: its port is 0"]);
    router.wait_for_log(&["routing found no backend: discovery found no targets"]);
}

#[tokio::test]
async fn strategy_choosing_an_unknown_id_gets_a_disconnect() {
    let router = routing_router(
        "fixed-discovery",
        "[plugins.fixed-discovery]\ntargets = [ { id = \"lobby\", host = \"10.0.0.1\", port = 25565 } ]\n",
    );
    // flaky-strategy chooses "no-such-target" for the player Ghost.
    let (id, body) = route(&router, "Ghost").await;
    assert_eq!(id, 0x02, "configuration Disconnect\n{}", router.log());
    assert!(
        nbt_text(&body).contains("could not choose a server"),
        "{}",
        nbt_text(&body)
    );
    router.wait_for_log(&[
        "routing failed",
        "chose `no-such-target`, which is not a known target",
    ]);
    // The next player is transferred.
    let (id, body) = route(&router, NAME).await;
    assert_eq!(id, 0x0B);
    assert_eq!(parse_transfer(&body).0, "10.0.0.1");
}

fn status_router(mode: &str) -> Passage {
    let config = format!(
        "{TIMEOUTS}\n{PLUGIN_RUNTIME}\n[status]\nmotd = \"fallback\"\n\n\
         [plugins.misbehave]\nmode = \"{mode}\"\n"
    );
    Passage::start(PassageSpec {
        config: &config,
        plugins: vec![("misbehave", plugin_wasm("misbehave"))],
        // The default status deadline: a debug build checking a 2 MiB answer on a
        // busy machine must not be cut short by the short deadline of TIMEOUTS.
        env: vec![("PASSAGE_TIMEOUTS__STATUS_MS", "5000")],
        ..Default::default()
    })
}

/// A ping through the misbehaving plugin, answered, while a well-behaved ping
/// (`ok.test`, which the plugin answers normally) is served too.
async fn ping_through(router: &Passage) -> Ping {
    let (attacked, ok) = tokio::join!(
        tokio::time::timeout(NO_HANG, ping(router.addr, 767, "play.test")),
        tokio::time::timeout(NO_HANG, ping(router.addr, 767, "ok.test"))
    );
    let log = || router.log();
    let ok = ok
        .unwrap_or_else(|_| panic!("the well-behaved ping hung\n{}", log()))
        .unwrap();
    assert_eq!(ok.status["description"]["text"], "misbehave ok");
    attacked
        .unwrap_or_else(|_| panic!("the ping through the plugin hung\n{}", log()))
        .unwrap_or_else(|e| panic!("{e}\n{}", log()))
}

#[tokio::test]
async fn status_plugin_returning_a_2_mib_motd_gets_the_fallback() {
    let mut router = status_router("huge-motd");
    for _ in 0..3 {
        let p = ping_through(&router).await;
        assert_eq!(p.status["description"]["text"], "fallback");
        let raw = p.status.to_string();
        assert!(raw.len() < 32 * 1024, "{} bytes", raw.len());
    }
    router.wait_for_log(&["plugin=\"misbehave\"", "over the protocol's limit"]);
    assert!(router.is_running());
}

#[tokio::test]
async fn status_plugin_returning_an_invalid_favicon_is_answered_without_it() {
    for mode in ["bad-favicon", "huge-favicon"] {
        let mut router = status_router(mode);
        let p = ping_through(&router).await;
        assert_eq!(p.status["description"]["text"], "misbehave icon", "{mode}");
        assert!(p.status.get("favicon").is_none(), "{mode}: {}", p.status);
        router.wait_for_log(&["dropping a favicon that is not a small PNG data URI"]);
        assert!(router.is_running());
    }
}

#[tokio::test]
// Was a bug: status::render serialized the whole 2 MiB answer up to three times
// on a runtime thread, stalling every ping behind it; it now refuses oversized
// text by its length, before building anything. The log tells which check
// refused each answer, so this needs no stopwatch.
async fn concurrent_pings_through_a_2_mib_motd_do_not_stall_the_router() {
    // The short status deadline of TIMEOUTS (1 s), no override.
    let config = format!(
        "{TIMEOUTS}\n{PLUGIN_RUNTIME}\n[status]\nmotd = \"fallback\"\n\n\
         [plugins.misbehave]\nmode = \"huge-motd\"\n"
    );
    let router = Passage::start(PassageSpec {
        config: &config,
        plugins: vec![("misbehave", plugin_wasm("misbehave"))],
        ..Default::default()
    });
    // Warm the instances, so no compile or instantiation is in the way.
    ping(router.addr, 767, "ok.test").await.unwrap();
    let mut attackers = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let addr = router.addr;
        attackers.spawn(async move {
            tokio::time::timeout(NO_HANG, ping(addr, 767, "play.test")).await
        });
    }
    let ok = ping(router.addr, 767, "ok.test").await.unwrap();
    assert_eq!(ok.status["description"]["text"], "misbehave ok");
    while let Some(done) = attackers.join_next().await {
        let answered = done.unwrap().expect("an attacking ping hung").unwrap();
        assert_eq!(answered.status["description"]["text"], "fallback");
    }
    // Each 2 MiB answer was refused by the length check that runs before any
    // JSON is built (the check after building words it "response is ...").
    wait_for_lines(
        &router,
        &[
            "status plugin answer unusable: response text is",
            "over the protocol's limit",
        ],
        16,
    );
    assert_eq!(
        count_lines(&router, &["status plugin answer unusable: response is"]),
        0
    );
}

#[tokio::test]
async fn a_discovery_answer_of_200_000_targets_is_refused_whole() {
    let router = start(
        "",
        "[auth]\nmode = \"offline\"\n[plugin_runtime]\ncall_timeout_ms = 30000\n\
         [plugins.misbehave]\nmode = \"huge-targets\"\n",
        vec![
            ("misbehave", plugin_wasm("misbehave")),
            ("flaky-strategy", plugin_wasm("flaky-strategy")),
        ],
    );
    well_behaved_ping(&router).await;
    let baseline = router.rss_kib();
    let (id, body) = route(&router, NAME).await;
    assert_eq!(id, 0x02, "configuration Disconnect\n{}", router.log());
    assert!(nbt_text(&body).starts_with("No server is available"));
    router.wait_for_log(&[
        "discovery answer refused: over 10000 targets",
        "targets=200000",
    ]);
    // None of them was kept: the next login is refused the same way.
    let (id, _) = route(&router, NAME).await;
    assert_eq!(id, 0x02);
    assert_rss_bounded(&router, baseline, 64, "after two 200 000-target answers");
}

#[tokio::test]
async fn a_target_with_10_000_metadata_pairs_is_dropped() {
    let router = routing_router("misbehave", "[plugins.misbehave]\nmode = \"fat-targets\"\n");
    // flaky-strategy picks the first target left: the fat one is gone.
    let (id, body) = route(&router, NAME).await;
    assert_eq!(id, 0x0B, "Transfer\n{}", router.log());
    assert_eq!(parse_transfer(&body), ("10.0.0.1".to_owned(), 25565));
    router.wait_for_log(&[
        "ignoring target: it has more than 64 metadata entries",
        "fat",
    ]);
}

/// A plugin writing a million log lines in one call: the router logs at most
/// its budget (200 at once, 50 a second), says how many it dropped, and keeps
/// serving.
#[tokio::test]
async fn a_plugin_logging_a_million_lines_is_rate_limited() {
    let config = format!(
        "{TIMEOUTS}\n[plugin_runtime]\ncall_timeout_ms = 30000\n[status]\nmotd = \"fallback\"\n\n\
         [plugins.misbehave]\nmode = \"log-flood\"\n"
    );
    let router = Passage::start(PassageSpec {
        config: &config,
        plugins: vec![("misbehave", plugin_wasm("misbehave"))],
        env: vec![("PASSAGE_TIMEOUTS__STATUS_MS", "60000")],
        ..Default::default()
    });
    let started = Instant::now();
    for _ in 0..2 {
        let p = ping_through(&router).await;
        assert_eq!(p.status["description"]["text"], "misbehave flooded");
    }
    // Every line that passes reports the lines dropped before it: by the second
    // flood, the whole first one is accounted for, lines logged or dropped.
    router.wait_for_log(&["plugin log lines dropped", "misbehave"]);
    let log = router.log();
    let dropped: u64 = log
        .lines()
        .filter(|l| l.contains("plugin log lines dropped"))
        .filter_map(|l| {
            l.split("dropped=")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum();
    let logged = count_lines(&router, &["misbehave: flood line"]) as u64;
    assert!(
        dropped + logged >= 1_000_000,
        "{logged} logged and {dropped} dropped of two floods of a million"
    );
    let budget = 200.0 + 50.0 * (started.elapsed().as_secs_f64() + 1.0);
    assert!(
        logged as f64 <= budget,
        "{logged} flood lines logged, over the budget of {budget}"
    );
}

/// A plugin's line cannot forge the router's own: newlines and other control
/// characters are escaped, so it stays one line, tagged with the plugin.
#[tokio::test]
async fn a_plugin_cannot_forge_log_lines() {
    let router = status_router("log-forge");
    let p = ping_through(&router).await;
    assert_eq!(p.status["description"]["text"], "misbehave forged");
    let line = router.wait_for_log(&["misbehave: innocent"]);
    assert!(
        line.contains(
            r"innocent\n2026-12-01T00:00:00.000000Z ERROR passage: FORGED line\r\u{1b}[31mred"
        ),
        "{line}"
    );
    assert!(line.contains("misbehave"), "{line}");
    assert!(
        !router
            .log()
            .lines()
            .any(|l| l.starts_with("2026-12-01T00:00:00.000000Z ERROR passage: FORGED")),
        "{}",
        router.log()
    );
}
