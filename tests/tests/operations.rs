//! Operating Passage: metrics and health endpoints after real traffic, per-address
//! rate limits, the connection cap, the PROXY protocol from trusted and untrusted
//! addresses, idle sockets, and the drain on SIGTERM.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use passage_tests::client::{LoginOutcome, LoginParams, login, login_to_final_packet};
use passage_tests::session_server::{Behavior, SessionServer};
use passage_tests::{
    Passage, PassageSpec, expect_closed, http_get, parse_transfer, ping, ping_with_prefix,
    plugin_wasm,
};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

const ROUTING: &str = r#"
[plugins.fixed-discovery]
targets = [ { id = "lobby", host = "lobby.example.com", port = 25570 } ]
"#;

fn router(top: &str) -> Passage {
    let config = format!("{top}\n{ROUTING}");
    Passage::start(PassageSpec {
        config: &config,
        plugins: vec![
            ("fixed-status", plugin_wasm("fixed-status")),
            ("fixed-discovery", plugin_wasm("fixed-discovery")),
            ("player-fill", plugin_wasm("player-fill")),
        ],
        ..Default::default()
    })
}

/// The value of the sample whose line starts with `series` (name and labels).
fn sample(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no sample {series} in:\n{metrics}"))
}

async fn offline_transfer(addr: SocketAddr, name: &str) -> anyhow::Result<(String, i32)> {
    let params = LoginParams::new(775, name, None);
    let (id, body, _) = login_to_final_packet(addr, &params, "en_us").await?;
    anyhow::ensure!(id == 0x0B, "expected a Transfer, got packet {id:#x}");
    Ok(parse_transfer(&body))
}

#[tokio::test]
async fn metrics_after_real_traffic_and_health_endpoints() {
    let router = router("[auth]\nmode = \"offline\"\n");
    let metrics = router.metrics_addr();
    assert_eq!(http_get(metrics, "/healthz").await.unwrap().0, 200);
    assert_eq!(http_get(metrics, "/readyz").await.unwrap().0, 200);

    ping(router.addr, 775, "play.example.com").await.unwrap();
    ping(router.addr, 767, "play.example.com").await.unwrap();
    let target = offline_transfer(router.addr, "Steve").await.unwrap();
    assert_eq!(target, ("lobby.example.com".to_owned(), 25570));
    // A malformed connection: a handshake frame with a bad length.
    let mut bad = TcpStream::connect(router.addr).await.unwrap();
    bad.write_all(&[0xff, 0xff, 0xff, 0xff, 0xff, 0x01])
        .await
        .unwrap();
    expect_closed(&mut bad, Duration::from_secs(5))
        .await
        .unwrap();

    // Counters are updated when a connection's task ends: poll until they are.
    let deadline = Instant::now() + Duration::from_secs(20);
    let text = loop {
        let (code, text) = http_get(metrics, "/metrics").await.unwrap();
        assert_eq!(code, 200);
        // Every connection above, the pings included: a client has its pong
        // before the router's task for it has ended.
        if text.contains(r#"passage_connections_total{state="handshake",outcome="malformed"} 1"#)
            && text.contains(r#"outcome="transferred"} 1"#)
            && text.contains(r#"passage_connections_total{state="status",outcome="ok"} 2"#)
        {
            break text;
        }
        assert!(Instant::now() < deadline, "counters never settled:\n{text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let status_ok = r#"passage_connections_total{state="status",outcome="ok"}"#;
    assert_eq!(sample(&text, status_ok), 2.0);
    let transferred = r#"passage_connections_total{state="configuration",outcome="transferred"}"#;
    assert_eq!(sample(&text, transferred), 1.0);
    assert_eq!(sample(&text, "passage_status_duration_seconds_count"), 2.0);
    assert_eq!(sample(&text, "passage_login_duration_seconds_count"), 1.0);
    assert_eq!(sample(&text, "passage_routing_duration_seconds_count"), 1.0);
    assert_eq!(sample(&text, "passage_connections_active"), 0.0);
    assert_eq!(sample(&text, "passage_ready"), 1.0);
    let status_calls =
        r#"passage_plugin_call_duration_seconds_count{plugin="fixed-status",function="status"}"#;
    assert_eq!(sample(&text, status_calls), 2.0);
    let selects =
        r#"passage_plugin_call_duration_seconds_count{plugin="player-fill",function="select"}"#;
    assert_eq!(sample(&text, selects), 1.0);
    // Sub-second buckets exist.
    assert!(
        text.contains(r#"passage_status_duration_seconds_bucket{le="0.001"}"#),
        "{text}"
    );
    // No label value is client-chosen: the hostname and the player name appear nowhere.
    assert!(
        !text.contains("play.example.com") && !text.contains("Steve"),
        "{text}"
    );
}

#[tokio::test]
async fn session_server_and_cookie_metrics() {
    let session = SessionServer::start(Behavior::Normal).await;
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "a shared secret of enough length").unwrap();
    let top = format!(
        "auth_secret_file = \"{}\"\n[auth]\nsession_server = \"{}\"\n",
        secret.display(),
        session.url()
    );
    let router = router(&top);
    let params = LoginParams::new(775, "Alex", Some(session.addr));
    let (id, _, cookies) = login_to_final_packet(router.addr, &params, "en_us")
        .await
        .unwrap();
    assert_eq!(id, 0x0B);
    // Reconnect after the transfer with the cookies: the fast path.
    let mut again = params.clone();
    again.intent = 3;
    again.cookies = cookies;
    let (id, _, _) = login_to_final_packet(router.addr, &again, "en_us")
        .await
        .unwrap();
    assert_eq!(id, 0x0B);
    // A transfer without cookies: a miss, reason absent.
    let mut bare = params.clone();
    bare.intent = 3;
    let (id, _, _) = login_to_final_packet(router.addr, &bare, "en_us")
        .await
        .unwrap();
    assert_eq!(id, 0x0B);

    let (_, text) = http_get(router.metrics_addr(), "/metrics").await.unwrap();
    assert_eq!(
        sample(&text, "passage_session_server_duration_seconds_count"),
        2.0
    );
    assert_eq!(
        sample(
            &text,
            r#"passage_auth_cookie_total{result="hit",reason=""}"#
        ),
        1.0
    );
    assert_eq!(
        sample(
            &text,
            r#"passage_auth_cookie_total{result="miss",reason="absent"}"#
        ),
        1.0
    );

    session.set_behavior(Behavior::ServerError);
    let failed = login(router.addr, &params).await.unwrap();
    assert!(matches!(failed, LoginOutcome::Disconnected(..)));
    let (_, text) = http_get(router.metrics_addr(), "/metrics").await.unwrap();
    assert_eq!(
        sample(
            &text,
            r#"passage_session_server_failures_total{reason="server_error"}"#
        ),
        1.0
    );
    assert_eq!(
        sample(
            &text,
            r#"passage_session_server_calls_total{outcome="unavailable"}"#
        ),
        1.0
    );
    assert_eq!(
        sample(
            &text,
            r#"passage_session_server_calls_total{outcome="verified"}"#
        ),
        2.0
    );
}

#[tokio::test]
async fn status_rate_limit_trips_and_recovers() {
    let router = router("[limits]\nstatus_per_second = 2.0\nstatus_burst = 3\n");
    for _ in 0..3 {
        ping(router.addr, 775, "localhost").await.unwrap();
    }
    // The budget is spent: the next ping is closed without an answer.
    assert!(ping(router.addr, 775, "localhost").await.is_err());
    router.wait_for_log(&["over this address's budget", "rate_limit_status"]);
    // Two tokens a second: the address may ping again once one has come back
    // (a refused attempt costs no token, so trying meanwhile does not delay it).
    let refused = retry_until_served(|| ping(router.addr, 775, "localhost")).await;

    let (_, text) = http_get(router.metrics_addr(), "/metrics").await.unwrap();
    assert_eq!(
        sample(
            &text,
            r#"passage_connections_rejected_total{reason="rate_limit_status"}"#
        ),
        1.0 + refused as f64
    );
}

#[tokio::test]
async fn login_rate_limit_tells_the_player_and_recovers() {
    let router =
        router("[auth]\nmode = \"offline\"\n[limits]\nlogin_per_second = 2.0\nlogin_burst = 1\n");
    offline_transfer(router.addr, "Steve").await.unwrap();
    let refused = login(router.addr, &LoginParams::new(775, "Steve", None))
        .await
        .unwrap();
    let LoginOutcome::Disconnected(reason, _) = refused else {
        panic!("expected a disconnect");
    };
    assert!(reason.contains("Too many connection attempts"), "{reason}");
    // Status has its own budget, untouched by logins.
    ping(router.addr, 775, "localhost").await.unwrap();
    // Two logins a second: the next one is served once a token is back.
    retry_until_served(|| offline_transfer(router.addr, "Steve")).await;
}

/// Tries `attempt` until it succeeds (a budget refilled): how many tries were
/// refused first. Bounded only to catch a budget that never comes back.
async fn retry_until_served<T, F, Fut>(attempt: F) -> usize
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut refused = 0;
    while attempt().await.is_err() {
        refused += 1;
        assert!(Instant::now() < deadline, "the budget never came back");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    refused
}

fn proxy_v1(client: &str, port: u16) -> Vec<u8> {
    format!("PROXY TCP4 {client} 127.0.0.1 {port} 25565\r\n").into_bytes()
}

/// A v2 PROXY header for TCP over IPv4, written from the spec's layout.
fn proxy_v2(client: [u8; 4], port: u16) -> Vec<u8> {
    let mut h = b"\r\n\r\n\x00\r\nQUIT\n".to_vec();
    h.push(0x21); // version 2, PROXY
    h.push(0x11); // AF_INET, STREAM
    h.extend_from_slice(&12u16.to_be_bytes());
    h.extend_from_slice(&client);
    h.extend_from_slice(&[127, 0, 0, 1]);
    h.extend_from_slice(&port.to_be_bytes());
    h.extend_from_slice(&25565u16.to_be_bytes());
    h
}

#[tokio::test]
async fn proxy_protocol_from_a_trusted_proxy_carries_the_client_address() {
    let router = router(
        "[auth]\nmode = \"offline\"\n[proxy_protocol]\nenabled = true\ntrusted_networks = [\"127.0.0.0/8\"]\n",
    );
    ping_with_prefix(
        router.addr,
        &proxy_v1("203.0.113.7", 40001),
        775,
        "localhost",
    )
    .await
    .unwrap();
    router.wait_for_log(&["peer=203.0.113.7:40001", "proxy=127.0.0.1"]);
    ping_with_prefix(
        router.addr,
        &proxy_v2([198, 51, 100, 9], 40002),
        775,
        "localhost",
    )
    .await
    .unwrap();
    router.wait_for_log(&["peer=198.51.100.9:40002", "proxy=127.0.0.1"]);

    // A login sees the proxied address too (here in its log line).
    let mut params = LoginParams::new(775, "Steve", None);
    params.prefix = proxy_v2([198, 51, 100, 10], 40003);
    let (id, _, _) = login_to_final_packet(router.addr, &params, "en_us")
        .await
        .unwrap();
    assert_eq!(id, 0x0B);
    router.wait_for_log(&["peer=198.51.100.10:40003", "transfer"]);

    // From a trusted proxy, a connection without a header is refused.
    assert!(ping(router.addr, 775, "localhost").await.is_err());
    router.wait_for_log(&["bad PROXY protocol header"]);
}

#[tokio::test]
async fn proxy_protocol_from_an_untrusted_address_is_refused() {
    let router = router("[proxy_protocol]\nenabled = true\ntrusted_networks = [\"10.0.0.0/8\"]\n");
    let mut s = TcpStream::connect(router.addr).await.unwrap();
    s.write_all(&proxy_v1("203.0.113.7", 40001)).await.unwrap();
    expect_closed(&mut s, Duration::from_secs(3)).await.unwrap();
    router.wait_for_log(&["not in proxy_protocol.trusted_networks"]);
    let (_, text) = http_get(router.metrics_addr(), "/metrics").await.unwrap();
    assert_eq!(
        sample(
            &text,
            r#"passage_connections_rejected_total{reason="untrusted_proxy"}"#
        ),
        1.0
    );
}

/// 500 sockets that never send a byte hold no one up: each waits out its own
/// deadline in its own task. (The deadline, 30 s, is far longer than opening
/// them takes on any machine; the per-address cap is off, `flood.rs` tests it.)
async fn idle_sockets_do_not_delay_a_ping(router: &Passage, prefix: &[u8]) {
    let mut idle = Vec::new();
    for _ in 0..500 {
        idle.push(TcpStream::connect(router.addr).await.unwrap());
    }
    ping_with_prefix(router.addr, prefix, 775, "localhost")
        .await
        .unwrap();
    // Answered before any idle socket reached its deadline: none was closed.
    assert_eq!(
        router
            .log()
            .lines()
            .filter(|l| l.contains("timed out in state handshake")
                || l.contains("bad PROXY protocol header"))
            .count(),
        0,
        "the ping was answered only after idle sockets timed out\n{}",
        router.log()
    );
    drop(idle);
}

#[tokio::test]
async fn idle_sockets_without_proxy_protocol() {
    let router =
        router("[timeouts]\nhandshake_ms = 30000\n[limits]\nmax_connections_per_address = 0\n");
    idle_sockets_do_not_delay_a_ping(&router, &[]).await;
}

#[tokio::test]
async fn idle_sockets_with_proxy_protocol() {
    let router = router(
        "[timeouts]\nhandshake_ms = 30000\n[limits]\nmax_connections_per_address = 0\n\
         [proxy_protocol]\nenabled = true\ntrusted_networks = [\"127.0.0.1\"]\nheader_timeout_ms = 30000\n",
    );
    idle_sockets_do_not_delay_a_ping(&router, &proxy_v1("203.0.113.7", 40001)).await;
}

// Multi-threaded: the login runs in a spawned task while this one blocks on the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_an_in_flight_login_then_exits_0() {
    let session = SessionServer::start(Behavior::Held).await;
    let config = format!(
        "[auth]\nsession_server = \"{}\"\nsession_timeout_ms = 5000\n[shutdown]\ndrain_timeout_ms = 10000\n{ROUTING}",
        session.url()
    );
    let mut router = Passage::start(PassageSpec {
        config: &config,
        plugins: vec![
            ("fixed-discovery", plugin_wasm("fixed-discovery")),
            ("player-fill", plugin_wasm("player-fill")),
        ],
        ..Default::default()
    });
    let metrics = router.metrics_addr();
    let addr = router.addr;
    let session_addr = session.addr;
    let in_flight = tokio::spawn(async move {
        let params = LoginParams::new(775, "Steve", Some(session_addr));
        login_to_final_packet(addr, &params, "en_us").await
    });
    // Wait until the login is waiting on the session server, which answers
    // only when the test lets it.
    session.wait_for_has_joined_calls(1).await;
    router.signal("TERM");
    router.wait_for_log(&["stopped accepting; draining"]);

    assert_eq!(http_get(metrics, "/readyz").await.unwrap().0, 503);
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "the listener is closed during the drain"
    );
    session.release_held();
    let (id, body, _) = in_flight.await.unwrap().unwrap();
    assert_eq!(id, 0x0B, "the in-flight login still gets its Transfer");
    assert_eq!(parse_transfer(&body).0, "lobby.example.com");
    assert_eq!(
        router.wait_exit(Duration::from_secs(10)),
        Some(0),
        "{}",
        router.log()
    );
    router.wait_for_log(&["drained: every connection finished"]);
}

/// A v2 PROXY header for TCP over IPv6, written from the spec's layout.
fn proxy_v2_ipv6(client: std::net::Ipv6Addr, port: u16) -> Vec<u8> {
    let mut h = b"\r\n\r\n\x00\r\nQUIT\n".to_vec();
    h.push(0x21); // version 2, PROXY
    h.push(0x21); // AF_INET6, STREAM
    h.extend_from_slice(&36u16.to_be_bytes());
    h.extend_from_slice(&client.octets());
    h.extend_from_slice(&std::net::Ipv6Addr::LOCALHOST.octets());
    h.extend_from_slice(&port.to_be_bytes());
    h.extend_from_slice(&25565u16.to_be_bytes());
    h
}

/// Listening on IPv6 loopback: pings, a login to its Transfer, and a cookie
/// reconnect, whose IP binding compares IPv6 addresses.
#[tokio::test]
async fn a_router_bound_to_ipv6_loopback_serves_pings_logins_and_cookies() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        return passage_tests::skip("this machine has no IPv6 loopback (::1)");
    }
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "a shared secret of enough length").unwrap();
    let config = format!(
        "auth_secret_file = \"{}\"\n[auth]\nmode = \"offline\"\n{ROUTING}",
        secret.display()
    );
    let router = Passage::start(PassageSpec {
        config: &config,
        plugins: vec![
            ("fixed-discovery", plugin_wasm("fixed-discovery")),
            ("player-fill", plugin_wasm("player-fill")),
        ],
        bind: Some("[::1]:0"),
        ..Default::default()
    });
    assert!(router.addr.is_ipv6(), "{}", router.addr);
    ping(router.addr, 775, "localhost").await.unwrap();
    router.wait_for_log(&["peer=[::1]:"]);
    let params = LoginParams::new(775, "Steve", None);
    let (id, body, cookies) = login_to_final_packet(router.addr, &params, "en_us")
        .await
        .unwrap();
    assert_eq!(id, 0x0B);
    assert_eq!(parse_transfer(&body).0, "lobby.example.com");
    let auth: serde_json::Value =
        serde_json::from_slice(&cookies["passage:authentication"][32..]).unwrap();
    assert!(
        auth["client_addr"].as_str().unwrap().starts_with("[::1]:"),
        "{auth}"
    );
    let mut again = params.clone();
    again.intent = 3;
    again.cookies = cookies;
    let (id, _, _) = login_to_final_packet(router.addr, &again, "en_us")
        .await
        .unwrap();
    assert_eq!(id, 0x0B);
    router.wait_for_log(&["authenticated by cookie"]);
}

/// A trusted proxy forwarding IPv6 clients (PROXY v2, AF_INET6): the router
/// sees and logs the client's IPv6 address for pings and logins.
#[tokio::test]
async fn proxy_protocol_v2_carries_ipv6_client_addresses() {
    let router = router(
        "[auth]\nmode = \"offline\"\n[proxy_protocol]\nenabled = true\ntrusted_networks = [\"127.0.0.1/32\"]\n",
    );
    let client: std::net::Ipv6Addr = "2001:db8::7".parse().unwrap();
    ping_with_prefix(router.addr, &proxy_v2_ipv6(client, 40004), 775, "localhost")
        .await
        .unwrap();
    router.wait_for_log(&["peer=[2001:db8::7]:40004", "proxy=127.0.0.1"]);
    let mut params = LoginParams::new(775, "Steve", None);
    params.prefix = proxy_v2_ipv6("2001:db8::8".parse().unwrap(), 40005);
    let (id, _, cookies) = login_to_final_packet(router.addr, &params, "en_us")
        .await
        .unwrap();
    assert_eq!(id, 0x0B);
    router.wait_for_log(&["peer=[2001:db8::8]:40005", "transfer"]);
    assert!(cookies.contains_key("passage:session"));
}
