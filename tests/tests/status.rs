//! The status path end to end: the real binary, the real `fixed-status.wasm`, TCP.

use std::time::{Duration, Instant};

use passage_tests::http_stub::HttpStub;

use passage_tests::{Passage, PassageSpec, expect_closed, frame, handshake, ping, plugin_wasm};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const FIXED_STATUS_CONFIG: &str = r#"
[plugins.fixed-status]
motd = "§6Passage test network"
version_name = "TestNet 1.21"
online_players = 7
max_players = 123
sample = ["Steve", "Alex"]
favicon = "iVBORw0KGgoAAAANSUhEUg=="
"#;

fn fixed_status_router() -> Passage {
    Passage::start(PassageSpec {
        config: FIXED_STATUS_CONFIG,
        plugins: vec![("fixed-status", plugin_wasm("fixed-status"))],
        cache_dir: None,
        ..Default::default()
    })
}

#[tokio::test]
async fn fixed_status_plugin_answers_the_ping() {
    let router = fixed_status_router();
    let ping = ping(router.addr, 767, "play.example.com").await.unwrap();
    let s = &ping.status;
    assert_eq!(s["description"]["text"], "§6Passage test network");
    assert_eq!(s["version"]["name"], "TestNet 1.21");
    // A supported client sees its own protocol: no "outdated" marker.
    assert_eq!(s["version"]["protocol"], 767);
    assert_eq!(s["players"]["online"], 7);
    assert_eq!(s["players"]["max"], 123);
    assert_eq!(s["players"]["sample"][1]["name"], "Alex");
    assert_eq!(
        s["favicon"],
        "data:image/png;base64,iVBORw0KGgoAAAANSUhEUg=="
    );
    assert_eq!(s["enforcesSecureChat"], false);
    assert_eq!(ping.pong, 0x0102_0304_0506_0708);
    router.wait_for_log(&["status answered", "source=fixed-status"]);
}

#[tokio::test]
async fn old_client_is_told_the_newest_protocol() {
    let router = fixed_status_router();
    let ping = ping(router.addr, 47, "play.example.com").await.unwrap();
    assert_eq!(ping.status["version"]["protocol"], 775);
}

#[tokio::test]
async fn without_plugins_the_configured_fallback_answers() {
    let router = Passage::start(PassageSpec {
        config: "[status]\nmotd = \"fallback motd\"\nmax_players = 50\n",
        plugins: vec![],
        cache_dir: None,
        ..Default::default()
    });
    let ping = ping(router.addr, 772, "localhost").await.unwrap();
    assert_eq!(ping.status["description"]["text"], "fallback motd");
    assert_eq!(ping.status["players"]["max"], 50);
    assert_eq!(ping.status["version"]["protocol"], 772);
}

#[tokio::test]
async fn byte_by_byte_client_is_served() {
    // Every byte in its own segment: the frame reader must reassemble them.
    let router = fixed_status_router();
    let mut stream = TcpStream::connect(router.addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let mut out = handshake(770, "play.example.com", 25565, 1);
    out.extend(frame(0x00, &[]));
    for b in out {
        stream.write_all(&[b]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let (id, body) = passage_tests::read_frame(&mut stream).await.unwrap();
    assert_eq!(id, 0);
    let mut cursor = &body[..];
    let json: serde_json::Value =
        serde_json::from_str(&passage_tests::take_string(&mut cursor)).unwrap();
    assert_eq!(json["players"]["max"], 123);
}

/// Sends a legacy ping and returns the fields of the §1 kick string the router
/// answered with, after checking its framing (0xFF, UTF-16 length, UTF-16BE) and
/// that the router then closed the connection cleanly.
async fn legacy_ping(router: &Passage, ping: &[u8]) -> Vec<String> {
    let mut stream = TcpStream::connect(router.addr).await.unwrap();
    stream.write_all(ping).await.unwrap();
    let bytes = expect_closed(&mut stream, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(bytes.first(), Some(&0xFF), "kick packet: {bytes:02x?}");
    let units = u16::from_be_bytes([bytes[1], bytes[2]]) as usize;
    assert_eq!(bytes.len(), 3 + 2 * units, "the whole kick, then the close");
    let utf16: Vec<u16> = bytes[3..]
        .chunks_exact(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect();
    String::from_utf16(&utf16)
        .unwrap()
        .split('\0')
        .map(str::to_owned)
        .collect()
}

/// What the fixed-status plugin answers, in the §1 format 1.4-1.6 clients read.
fn expected_kick() -> Vec<String> {
    [
        "§1",
        "127",
        "TestNet 1.21",
        "§6Passage test network",
        "7",
        "123",
    ]
    .map(str::to_owned)
    .to_vec()
}

/// The 1.6 ping: `FE 01`, then a plugin message `FA` on channel `MC|PingHost`
/// with the protocol, host and port (UTF-16BE strings with u16 lengths).
fn ping_1_6(host: &str, port: u32) -> Vec<u8> {
    let utf16 = |s: &str| -> Vec<u8> {
        let units: Vec<u16> = s.encode_utf16().collect();
        let mut out = (units.len() as u16).to_be_bytes().to_vec();
        units
            .iter()
            .for_each(|u| out.extend_from_slice(&u.to_be_bytes()));
        out
    };
    let mut data = vec![78u8]; // protocol 78: 1.6.4
    data.extend(utf16(host));
    data.extend_from_slice(&port.to_be_bytes());
    let mut out = vec![0xFE, 0x01, 0xFA];
    out.extend(utf16("MC|PingHost"));
    out.extend_from_slice(&(data.len() as u16).to_be_bytes());
    out.extend(data);
    out
}

#[tokio::test]
async fn legacy_ping_gets_a_kick_with_the_motd() {
    let router = fixed_status_router();
    // 1.4-1.5: FE 01.
    assert_eq!(legacy_ping(&router, &[0xFE, 0x01]).await, expected_kick());
    // Before 1.4: a bare FE (such a client shows this newer format garbled, but
    // it is answered and closed, never left hanging).
    assert_eq!(legacy_ping(&router, &[0xFE]).await, expected_kick());
    // 1.6: FE 01 and the MC|PingHost plugin message, which the router reads
    // and discards after answering, so the answer is not lost to a reset.
    assert_eq!(
        legacy_ping(&router, &ping_1_6("play.example.com", 25565)).await,
        expected_kick()
    );
    router.wait_for_log_count(&["answered a legacy ping"], 3);
}

/// Legacy pings spend the same per-address status budget as modern ones.
#[tokio::test]
async fn legacy_pings_are_rate_limited_with_the_status_budget() {
    let router = Passage::start(PassageSpec {
        config: &format!(
            "[limits]\nstatus_per_second = 0.001\nstatus_burst = 2\n{FIXED_STATUS_CONFIG}"
        ),
        plugins: vec![("fixed-status", plugin_wasm("fixed-status"))],
        ..Default::default()
    });
    assert_eq!(legacy_ping(&router, &[0xFE, 0x01]).await, expected_kick());
    ping(router.addr, 767, "play.example.com").await.unwrap();
    // The budget is spent: closed without an answer, whichever form.
    for attempt in [vec![0xFE, 0x01], ping_1_6("play.example.com", 25565)] {
        let mut stream = TcpStream::connect(router.addr).await.unwrap();
        stream.write_all(&attempt).await.unwrap();
        let answer = expect_closed(&mut stream, Duration::from_secs(30))
            .await
            .unwrap();
        assert!(answer.is_empty(), "answered over budget: {answer:02x?}");
    }
    router.wait_for_log_count(&["over this address's budget", "rate_limit_status"], 2);
    assert!(ping(router.addr, 767, "play.example.com").await.is_err());
}

#[tokio::test]
async fn outdated_client_login_gets_a_clear_disconnect() {
    let router = fixed_status_router();
    for (protocol, expected) in [(47, "1.20.5 or newer"), (765, "1.20.5 or newer")] {
        let mut stream = TcpStream::connect(router.addr).await.unwrap();
        stream
            .write_all(&handshake(protocol, "play.example.com", 25565, 2))
            .await
            .unwrap();
        let (id, body) = passage_tests::read_frame(&mut stream).await.unwrap();
        assert_eq!(id, 0x00, "Login Disconnect");
        let mut cursor = &body[..];
        let reason: serde_json::Value =
            serde_json::from_str(&passage_tests::take_string(&mut cursor)).unwrap();
        assert!(
            reason["text"].as_str().unwrap().contains(expected),
            "{reason}"
        );
    }
}

#[tokio::test]
async fn malformed_input_closes_only_that_connection() {
    let router = fixed_status_router();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("negative length", vec![0xff, 0xff, 0xff, 0xff, 0x0f]),
        ("huge length", vec![0xff, 0xff, 0xff, 0xff, 0x07]),
        ("six-byte varint", vec![0x80, 0x80, 0x80, 0x80, 0x80, 0x01]),
        ("zero length", vec![0x00]),
        ("wrong packet id", frame(0x05, &[1, 2, 3])),
        ("bad intent", handshake(767, "a", 1, 9)),
        ("status packet in handshake state", frame(0x01, &[0; 8])),
    ];
    for (name, bytes) in cases {
        let mut stream = TcpStream::connect(router.addr).await.unwrap();
        stream.write_all(&bytes).await.unwrap();
        let left = expect_closed(&mut stream, Duration::from_secs(5)).await;
        assert!(left.is_ok(), "{name}: connection not closed");
        // The router keeps serving.
        ping(router.addr, 767, "play.example.com").await.unwrap();
    }
    router.wait_for_log(&["closing", "frame"]);
    router.wait_for_log(&["closing", "malformed packet"]);
}

#[tokio::test]
async fn second_status_request_and_trailing_bytes_are_refused() {
    let router = fixed_status_router();
    let mut stream = TcpStream::connect(router.addr).await.unwrap();
    let mut out = handshake(767, "x", 1, 1);
    out.extend(frame(0x00, &[]));
    stream.write_all(&out).await.unwrap();
    passage_tests::read_frame(&mut stream).await.unwrap();
    stream.write_all(&frame(0x00, &[])).await.unwrap();
    expect_closed(&mut stream, Duration::from_secs(5))
        .await
        .unwrap();

    let mut stream = TcpStream::connect(router.addr).await.unwrap();
    let mut out = handshake(767, "x", 1, 1);
    out.extend(frame(0x00, &[0xAA]));
    stream.write_all(&out).await.unwrap();
    expect_closed(&mut stream, Duration::from_secs(5))
        .await
        .unwrap();
    router.wait_for_log(&["closing", "trailing"]);
}

#[tokio::test]
async fn silent_client_is_dropped_at_the_handshake_deadline() {
    let router = Passage::start(PassageSpec {
        config: "[timeouts]\nhandshake_ms = 300\n",
        plugins: vec![],
        cache_dir: None,
        ..Default::default()
    });
    let mut stream = TcpStream::connect(router.addr).await.unwrap();
    expect_closed(&mut stream, Duration::from_secs(5))
        .await
        .unwrap();
    // A client that sends half a handshake is dropped too.
    let mut stream = TcpStream::connect(router.addr).await.unwrap();
    stream.write_all(&[0x10, 0x00]).await.unwrap();
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
        .await
        .expect("closed within the deadline")
        .unwrap_or(0);
    assert_eq!(n, 0);
    router.wait_for_log(&["timed out in state handshake"]);
}

#[tokio::test]
async fn compiled_plugins_are_cached_across_restarts() {
    let cache = tempfile::tempdir().unwrap();
    let first = Passage::start(cached_spec(cache.path()));
    first.wait_for_log(&["plugin loaded", "fixed-status", "code=\"compiled\""]);
    drop(first);
    let second = Passage::start(cached_spec(cache.path()));
    second.wait_for_log(&["plugin loaded", "fixed-status", "code=\"cached\""]);
    let ping = ping(second.addr, 767, "play.example.com").await.unwrap();
    assert_eq!(ping.status["players"]["max"], 123);
}

/// The user the tests run as (from /proc), to tell whether they may chown.
fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}

/// A router serving fixed-status with its compiled-code cache in `cache`.
fn cached_spec(cache: &std::path::Path) -> PassageSpec<'_> {
    PassageSpec {
        config: FIXED_STATUS_CONFIG,
        plugins: vec![("fixed-status", plugin_wasm("fixed-status"))],
        cache_dir: Some(cache),
        ..Default::default()
    }
}

/// A compiled-code cache that someone else could have written is never loaded:
/// a directory owned by another user (the router runs without a cache), and an
/// entry planted by another user in the router's own directory (compiled
/// instead). Without any cache location, none is made in the shared /tmp.
#[tokio::test]
async fn a_cache_someone_else_could_write_is_not_trusted() {
    if !running_as_root() {
        return passage_tests::skip("handing files to another user needs root (chown)");
    }
    let chown = |path: &std::path::Path| {
        let status = std::process::Command::new("chown")
            .args(["-R", "65534:65534"])
            .arg(path)
            .status()
            .unwrap();
        assert!(status.success(), "chown {}", path.display());
    };
    // Filled by a first router, then handed to another user (uid 65534).
    let cache = tempfile::tempdir().unwrap();
    drop(Passage::start(cached_spec(cache.path())));
    chown(&cache.path().join("passage"));
    let router = Passage::start(cached_spec(cache.path()));
    let line = router.wait_for_log(&["compiled-code cache off"]);
    assert!(line.contains("owned by uid 65534"), "{line}");
    router.wait_for_log(&["plugin loaded", "fixed-status", "code=\"compiled\""]);
    ping(router.addr, 767, "play.example.com").await.unwrap();
    drop(router);

    // The router's own directory, but an entry another user wrote.
    let cache = tempfile::tempdir().unwrap();
    drop(Passage::start(cached_spec(cache.path())));
    let dir = cache.path().join("passage");
    for entry in std::fs::read_dir(&dir).unwrap() {
        chown(&entry.unwrap().path());
    }
    let router = Passage::start(cached_spec(cache.path()));
    let line = router.wait_for_log(&["ignoring compiled-code cache entry"]);
    assert!(line.contains("owned by uid 65534"), "{line}");
    router.wait_for_log(&["plugin loaded", "fixed-status", "code=\"compiled\""]);
    ping(router.addr, 767, "play.example.com").await.unwrap();
}

/// Owned by the router's user but writable by group or others (a `chmod 777`,
/// a too-wide umask): the directory is not used and such an entry is not
/// loaded; the plugin is compiled instead.
#[tokio::test]
async fn a_cache_writable_by_others_is_not_trusted() {
    use std::os::unix::fs::PermissionsExt;
    let chmod = |path: &std::path::Path, mode: u32| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    let cache = tempfile::tempdir().unwrap();
    drop(Passage::start(cached_spec(cache.path())));
    let dir = cache.path().join("passage");
    chmod(&dir, 0o777);
    let router = Passage::start(cached_spec(cache.path()));
    let line = router.wait_for_log(&["compiled-code cache off"]);
    assert!(line.contains("writable by group or others"), "{line}");
    router.wait_for_log(&["plugin loaded", "fixed-status", "code=\"compiled\""]);
    drop(router);

    chmod(&dir, 0o700);
    for entry in std::fs::read_dir(&dir).unwrap() {
        chmod(&entry.unwrap().path(), 0o666);
    }
    let router = Passage::start(cached_spec(cache.path()));
    let line = router.wait_for_log(&["ignoring compiled-code cache entry"]);
    assert!(line.contains("writable by group or others"), "{line}");
    router.wait_for_log(&["plugin loaded", "fixed-status", "code=\"compiled\""]);
    ping(router.addr, 767, "play.example.com").await.unwrap();
}

/// With no cache location at all (no HOME, no XDG_CACHE_HOME, no cache_dir), the
/// router runs without a cache rather than in the world-writable temporary
/// directory.
#[tokio::test]
async fn without_a_cache_location_nothing_is_cached_in_tmp() {
    let tmp = tempfile::tempdir().unwrap();
    let router = Passage::start(PassageSpec {
        config: FIXED_STATUS_CONFIG,
        plugins: vec![("fixed-status", plugin_wasm("fixed-status"))],
        env: vec![
            ("XDG_CACHE_HOME", ""),
            ("HOME", ""),
            ("TMPDIR", tmp.path().to_str().unwrap()),
        ],
        ..Default::default()
    });
    router.wait_for_log(&["compiled-code cache off", "no plugin_runtime.cache_dir"]);
    router.wait_for_log(&["plugin loaded", "fixed-status", "code=\"compiled\""]);
    assert_eq!(
        std::fs::read_dir(tmp.path()).unwrap().count(),
        0,
        "nothing in TMPDIR"
    );
}

fn targets_json(players: [u32; 2]) -> String {
    format!(
        r#"{{"targets": [
            {{"id": "a", "host": "10.0.0.1", "port": 25565, "metadata": {{"players": {}, "max_players": 50}}}},
            {{"id": "b", "host": "10.0.0.2", "port": 25565, "metadata": {{"players": {}, "max_players": 70}}}}
        ]}}"#,
        players[0], players[1]
    )
}

fn live_status_router(backends: &HttpStub, status_plugin: &str) -> Passage {
    let config = format!(
        r#"
[plugins.{status_plugin}]
motd = "The network"
[plugins.http-discovery]
url = "{}"
refresh_ms = 100
[plugin_runtime.grants.http-discovery]
http_allow = ["{}"]
allow_private_networks = true
call_timeout_ms = 2000
"#,
        backends.url("/targets"),
        backends.addr
    );
    Passage::start(PassageSpec {
        config: &config,
        plugins: vec![
            (status_plugin, plugin_wasm(status_plugin)),
            ("http-discovery", plugin_wasm("http-discovery")),
            ("player-fill", plugin_wasm("player-fill")),
        ],
        ..Default::default()
    })
}

/// The server list shows the network's real count: network-status sums what
/// discovery reports, and follows it when it changes.
#[tokio::test]
async fn the_player_count_follows_discovery() {
    let backends = HttpStub::start(&targets_json([3, 4])).await;
    let router = live_status_router(&backends, "network-status");
    router.wait_for_log(&[
        "plugin loaded",
        "plugin=network-status",
        "roles=status",
        "0.3.0",
    ]);
    let pong = ping(router.addr, 767, "play.example.com")
        .await
        .expect("ping");
    assert_eq!(pong.status["players"]["online"], 7, "{}", pong.status);
    assert_eq!(pong.status["players"]["max"], 120);
    assert_eq!(pong.status["description"]["text"], "The network");

    let asked = backends.hits();
    backends.set(200, &targets_json([10, 25]));
    // The router's view is at most a second old (then the next ping makes it ask
    // discovery again, and http-discovery its endpoint): pings, as a server list
    // refreshes, until one shows the new count. The pace only keeps the pings
    // few; the test waits for the count, however long the machine takes.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut pace = tokio::time::interval(Duration::from_millis(100));
    loop {
        pace.tick().await;
        let pong = ping(router.addr, 767, "play.example.com")
            .await
            .expect("ping");
        if pong.status["players"]["online"] == 35 {
            assert_eq!(pong.status["players"]["max"], 120);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "count stuck at {}",
            pong.status["players"]
        );
    }
    assert!(
        backends.hits() > asked,
        "discovery asked its endpoint again"
    );
}

/// A status plugin that does not ask for the network costs nothing extra: a
/// ping does not make the router ask discovery.
#[tokio::test]
async fn a_ping_that_does_not_ask_for_the_network_asks_discovery_nothing() {
    let backends = HttpStub::start(&targets_json([3, 4])).await;
    let router = live_status_router(&backends, "fixed-status");
    // Discovery has been asked by nobody yet.
    for _ in 0..20 {
        let pong = ping(router.addr, 767, "play.example.com")
            .await
            .expect("ping");
        assert_eq!(pong.status["description"]["text"], "The network");
    }
    assert_eq!(backends.hits(), 0, "{:?}", backends.paths());
}
