//! Outbound HTTP through `wasi:http`: the `http-discovery` plugin against a real
//! local HTTP server, allowed by the operator's grant, and denied without one.

use std::time::{Duration, Instant};

use passage_tests::client::{LoginParams, login_to_final_packet};
use passage_tests::http_stub::HttpStub;
use passage_tests::{Passage, PassageSpec, nbt_text, parse_transfer, ping, plugin_wasm};

fn targets(host: &str) -> String {
    format!(
        r#"{{"targets":[{{"id":"served","host":"{host}","port":25565,"metadata":{{"players":3}}}}]}}"#
    )
}

fn start(endpoint: &HttpStub, grant: &str) -> Passage {
    let config = format!(
        "[auth]\nmode = \"offline\"\n[limits]\nlogin_per_second = 0\n\
         [plugins.http-discovery]\nurl = \"http://{}/targets\"\nrefresh_ms = 200\ntimeout_ms = 500\n{grant}",
        endpoint.addr
    );
    Passage::start(PassageSpec {
        config: &config,
        plugins: vec![
            ("http-discovery", plugin_wasm("http-discovery")),
            ("pick", plugin_wasm("flaky-strategy")),
        ],
        ..Default::default()
    })
}

/// Routes players until one is sent to a host `done` accepts (the router's view
/// changed), within a bound that only catches a view that never changes.
async fn route_until(router: &Passage, done: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let host = route(router)
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}", router.log()));
        if done(&host) {
            return host;
        }
        assert!(
            Instant::now() < deadline,
            "stayed at {host}\n{}",
            router.log()
        );
    }
}

async fn route(router: &Passage) -> Result<String, String> {
    let params = LoginParams::new(767, "Alex", None);
    match login_to_final_packet(router.addr, &params, "en_us").await {
        Ok((0x0B, body, _)) => Ok(parse_transfer(&body).0),
        Ok((_, body, _)) => Err(nbt_text(&body)),
        Err(e) => Err(e.to_string()),
    }
}

#[tokio::test]
async fn granted_http_discovery_follows_the_endpoint_and_keeps_the_last_good_list() {
    let endpoint = HttpStub::start(&targets("10.5.0.1")).await;
    let grant = format!(
        "[plugin_runtime.grants.http-discovery]\nhttp_allow = [\"{}\"]\ncall_timeout_ms = 2000\nmax_instances = 1\n",
        endpoint.addr
    );
    let router = start(&endpoint, &grant);
    assert_eq!(
        route(&router).await,
        Ok("10.5.0.1".to_owned()),
        "{}",
        router.log()
    );
    assert!(endpoint.hits() >= 1);

    // The list changes at the endpoint: once the plugin asks again (after its
    // refresh interval, on a later login), players follow.
    endpoint.set(200, &targets("10.5.0.2"));
    let hits = endpoint.hits();
    let host = route_until(&router, |host| host != "10.5.0.1").await;
    assert_eq!(host, "10.5.0.2");
    assert!(
        endpoint.hits() > hits,
        "the plugin asked the endpoint again"
    );

    // The endpoint fails: the last good list keeps serving, with a warning.
    endpoint.set(500, "oops");
    let hits = endpoint.hits();
    while endpoint.hits() == hits {
        assert_eq!(
            route(&router).await,
            Ok("10.5.0.2".to_owned()),
            "{}",
            router.log()
        );
    }
    // Asked and failed: the next player still gets the last good list.
    assert_eq!(route(&router).await, Ok("10.5.0.2".to_owned()));
    router.wait_for_log(&[
        "http-discovery",
        "WARN",
        "the endpoint answered 500",
        "keeping the last good list",
    ]);
}

#[tokio::test]
async fn http_discovery_without_a_grant_is_denied_and_the_router_is_unharmed() {
    let endpoint = HttpStub::start(&targets("10.5.0.1")).await;
    // A grant for another host does not cover this one.
    let router = start(
        &endpoint,
        "[plugin_runtime.grants.http-discovery]\nhttp_allow = [\"backends.example.com\"]\n",
    );
    // Its only discovery plugin fails (it has no list yet: its request was
    // denied), so routing fails, and the player is told so.
    let refused = route(&router).await.expect_err("no targets without HTTP");
    assert_eq!(
        refused,
        "The network could not choose a server for you. Please try again in a moment."
    );
    router.wait_for_log(&["routing failed", "no target list yet"]);
    let line = router.wait_for_log(&["outbound HTTP request denied", "http-discovery"]);
    assert!(line.contains(&endpoint.addr.port().to_string()), "{line}");
    assert!(
        line.contains("plugin_runtime.grants.http-discovery.http_allow"),
        "{line}"
    );
    // The plugin itself was told why.
    router.wait_for_log(&["denied by the router", "http_allow"]);
    assert_eq!(endpoint.hits(), 0, "no request left the router");
    // Everything else still works.
    ping(router.addr, 767, "play.example.com")
        .await
        .expect("ping");
}

/// A granted *name* that resolves to a loopback address (`localhost` does; a
/// community plugin's author who controls a granted name's DNS could aim it at
/// the admin endpoint, a cloud metadata service or the private network): the
/// router checks the address it resolves, refuses it, and the request never
/// arrives. Once the grant allows private networks, it does.
#[tokio::test]
async fn a_granted_name_resolving_to_a_private_address_is_refused_until_allowed() {
    let endpoint = HttpStub::start(&targets("10.5.0.1")).await;
    let port = endpoint.addr.port();
    let config = |extra: &str| {
        format!(
            "[auth]\nmode = \"offline\"\n[limits]\nlogin_per_second = 0\n\
             [plugins.http-discovery]\nurl = \"http://localhost:{port}/targets\"\nrefresh_ms = 200\ntimeout_ms = 500\n\
             [plugin_runtime.grants.http-discovery]\nhttp_allow = [\"localhost:{port}\"]\ncall_timeout_ms = 2000\n{extra}"
        )
    };
    let plugins = || {
        vec![
            ("http-discovery", plugin_wasm("http-discovery")),
            ("pick", plugin_wasm("flaky-strategy")),
        ]
    };
    let router = Passage::start(PassageSpec {
        config: &config(""),
        plugins: plugins(),
        ..Default::default()
    });
    let refused = route(&router).await.expect_err("no targets");
    assert_eq!(
        refused,
        "The network could not choose a server for you. Please try again in a moment."
    );
    let line = router.wait_for_log(&["outbound HTTP request refused", "http-discovery"]);
    for needle in [
        "localhost resolves to",
        "loopback",
        "plugin_runtime.grants.http-discovery.allow_private_networks = true",
    ] {
        assert!(line.contains(needle), "{needle} missing: {line}");
    }
    assert!(
        line.contains("127.0.0.1") || line.contains("::1"),
        "the address is named: {line}"
    );
    // The plugin was told why, and nothing reached the service.
    router.wait_for_log(&["refused by the router", "allow_private_networks"]);
    assert_eq!(endpoint.hits(), 0, "no request left the router");
    ping(router.addr, 767, "play.example.com")
        .await
        .expect("ping");
    drop(router);

    let router = Passage::start(PassageSpec {
        config: &config("allow_private_networks = true\n"),
        plugins: plugins(),
        ..Default::default()
    });
    assert_eq!(
        route(&router).await,
        Ok("10.5.0.1".to_owned()),
        "{}",
        router.log()
    );
    assert!(endpoint.hits() >= 1);
}
