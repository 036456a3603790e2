//! Outbound HTTP through `wasi:http`: the `http-discovery` plugin against a real
//! local HTTP server, allowed by the operator's grant, and denied without one.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use passage_tests::client::{LoginParams, login_to_final_packet};
use passage_tests::{Router, RouterSpec, nbt_text, parse_transfer, ping, plugin_wasm};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A one-route HTTP server answering every request with the current status and
/// body, counting requests.
struct Endpoint {
    addr: SocketAddr,
    answer: Arc<Mutex<(u16, String)>>,
    hits: Arc<Mutex<usize>>,
}

impl Endpoint {
    async fn start(body: &str) -> Endpoint {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let answer = Arc::new(Mutex::new((200, body.to_owned())));
        let hits = Arc::new(Mutex::new(0));
        let (a, h) = (answer.clone(), hits.clone());
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let (a, h) = (a.clone(), h.clone());
                tokio::spawn(async move {
                    let mut request = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buf[..n]),
                        }
                    }
                    *h.lock().unwrap() += 1;
                    let (status, body) = a.lock().unwrap().clone();
                    let response = format!(
                        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = stream.write_all(response.as_bytes()).await;
                });
            }
        });
        Endpoint { addr, answer, hits }
    }

    fn set(&self, status: u16, body: &str) {
        *self.answer.lock().unwrap() = (status, body.to_owned());
    }

    fn hits(&self) -> usize {
        *self.hits.lock().unwrap()
    }
}

fn targets(host: &str) -> String {
    format!(
        r#"{{"targets":[{{"id":"served","host":"{host}","port":25565,"metadata":{{"players":3}}}}]}}"#
    )
}

fn start(endpoint: &Endpoint, grant: &str) -> Router {
    let config = format!(
        "[auth]\nmode = \"offline\"\n[limits]\nlogin_per_second = 0\n\
         [plugins.http-discovery]\nurl = \"http://{}/targets\"\nrefresh_ms = 200\ntimeout_ms = 500\n{grant}",
        endpoint.addr
    );
    Router::start(RouterSpec {
        config: &config,
        plugins: vec![
            ("http-discovery", plugin_wasm("http-discovery")),
            ("pick", plugin_wasm("flaky-strategy")),
        ],
        ..Default::default()
    })
}

async fn route(router: &Router) -> Result<String, String> {
    let params = LoginParams::new(767, "Alex", None);
    match login_to_final_packet(router.addr, &params, "en_us").await {
        Ok((0x0B, body, _)) => Ok(parse_transfer(&body).0),
        Ok((_, body, _)) => Err(nbt_text(&body)),
        Err(e) => Err(e.to_string()),
    }
}

#[tokio::test]
async fn granted_http_discovery_follows_the_endpoint_and_keeps_the_last_good_list() {
    let endpoint = Endpoint::start(&targets("10.5.0.1")).await;
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

    // The list changes at the endpoint: after the refresh interval, players follow.
    endpoint.set(200, &targets("10.5.0.2"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        route(&router).await,
        Ok("10.5.0.2".to_owned()),
        "{}",
        router.log()
    );

    // The endpoint fails: the last good list keeps serving, with a warning.
    endpoint.set(500, "oops");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let hits = endpoint.hits();
    assert_eq!(
        route(&router).await,
        Ok("10.5.0.2".to_owned()),
        "{}",
        router.log()
    );
    assert!(
        endpoint.hits() > hits,
        "the plugin asked the endpoint again"
    );
    router.wait_for_log(&["http-discovery", "WARN"]);
}

#[tokio::test]
async fn http_discovery_without_a_grant_is_denied_and_the_router_is_unharmed() {
    let endpoint = Endpoint::start(&targets("10.5.0.1")).await;
    // A grant for another host does not cover this one.
    let router = start(
        &endpoint,
        "[plugin_runtime.grants.http-discovery]\nhttp_allow = [\"backends.example.com\"]\n",
    );
    let refused = route(&router).await.expect_err("no targets without HTTP");
    assert!(!refused.is_empty());
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
