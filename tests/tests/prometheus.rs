//! The Grafana dashboard and the Prometheus alerting rules of `deploy/`, checked
//! with the real tools: `promtool check rules` and `promtool test rules`, and a
//! real Prometheus server scraping a real router that served real traffic. Every
//! metric name in the dashboard's and the rules' expressions must be one that
//! Prometheus scraped, every expression must evaluate in Prometheus, and every
//! metric the router exports must be on the dashboard.
//!
//! `make e2e` installs Prometheus (`make prometheus-tools`: the distribution's
//! `prometheus` package, which brings `promtool`). When it cannot, the reason is
//! in `target/toolchains/prometheus.unavailable` and the tests that need the
//! tools report a skip with it (`passage_tests::skip`).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use passage_tests::client::{LoginOutcome, LoginParams, login, login_to_final_packet};
use passage_tests::session_server::{Behavior, SessionServer};
use passage_tests::{
    Passage, PassageSpec, expect_closed, http_get, parse_transfer, ping, plugin_wasm, skip,
    workspace_root,
};
use serde_json::Value;
use tokio::io::AsyncWriteExt;

fn deploy(path: &str) -> PathBuf {
    workspace_root().join("deploy").join(path)
}

fn read_yaml(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn read_dashboard() -> Value {
    let path = deploy("grafana/passage-dashboard.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Why Prometheus and promtool cannot be used here, if they cannot.
fn tools_unavailable() -> Option<String> {
    let marker = workspace_root()
        .join("target")
        .join("toolchains")
        .join("prometheus.unavailable");
    if let Ok(why) = std::fs::read_to_string(marker) {
        return Some(why.trim().to_owned());
    }
    for tool in ["prometheus", "promtool"] {
        let runs = Command::new(tool)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !runs {
            return Some(format!(
                "{tool} not found (`make test` installs it: make prometheus-tools)"
            ));
        }
    }
    None
}

fn promtool(args: &[&str], dir: &Path) -> String {
    let out = Command::new("promtool")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run promtool");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool {args:?} failed:\n{text}");
    text
}

#[test]
fn promtool_checks_the_rules_and_runs_their_unit_tests() {
    if let Some(why) = tools_unavailable() {
        return skip(&why);
    }
    let dir = deploy("prometheus");
    let checked = promtool(&["check", "rules", "passage-alerts.yaml"], &dir);
    assert!(checked.contains("SUCCESS"), "{checked}");
    let tested = promtool(&["test", "rules", "passage-alerts.test.yaml"], &dir);
    assert!(tested.contains("SUCCESS"), "{tested}");
}

/// The alerting rules of the plain file.
fn alert_rules() -> Vec<Value> {
    let rules = read_yaml(&deploy("prometheus/passage-alerts.yaml"));
    rules["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .flat_map(|g| g["rules"].as_array().expect("rules").clone())
        .collect()
}

#[test]
fn the_prometheus_rule_carries_the_plain_files_groups() {
    let plain = read_yaml(&deploy("prometheus/passage-alerts.yaml"));
    let custom = read_yaml(&deploy("kubernetes/prometheusrule.yaml"));
    assert_eq!(custom["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(custom["kind"], "PrometheusRule");
    assert!(custom["metadata"]["name"].is_string(), "{custom}");
    let (plain, custom) = (&plain["groups"], &custom["spec"]["groups"]);
    assert!(plain.as_array().is_some_and(|g| !g.is_empty()), "{plain}");
    // Rule by rule first, so that a difference names its rule.
    let rules = |groups: &Value| -> Vec<(String, Value)> {
        let mut out = Vec::new();
        for group in groups.as_array().into_iter().flatten() {
            for rule in group["rules"].as_array().into_iter().flatten() {
                let name = format!("{}/{}", group["name"], rule["alert"]);
                out.push((name, rule.clone()));
            }
        }
        out
    };
    for ((name, rule), (_, other)) in rules(plain).iter().zip(rules(custom).iter()) {
        assert_eq!(
            other, rule,
            "rule {name}: deploy/kubernetes/prometheusrule.yaml (left) differs from deploy/prometheus/passage-alerts.yaml (right)"
        );
    }
    assert_eq!(
        custom, plain,
        "deploy/kubernetes/prometheusrule.yaml's spec.groups differ from deploy/prometheus/passage-alerts.yaml's groups"
    );
}

/// Every alert says how bad it is and what to do, and has promtool cases where
/// it fires and where it must not.
#[test]
fn every_alert_has_severity_text_and_unit_tests_both_ways() {
    let tests = read_yaml(&deploy("prometheus/passage-alerts.test.yaml"));
    let mut fires = BTreeSet::new();
    let mut quiet = BTreeSet::new();
    for case in tests["tests"].as_array().expect("tests") {
        for check in case["alert_rule_test"].as_array().into_iter().flatten() {
            let name = check["alertname"].as_str().expect("alertname").to_owned();
            match check["exp_alerts"].as_array() {
                Some(alerts) if !alerts.is_empty() => fires.insert(name),
                _ => quiet.insert(name),
            };
        }
    }
    let rules = alert_rules();
    assert!(rules.len() >= 5, "{rules:?}");
    for rule in rules {
        let name = rule["alert"].as_str().expect("every rule is an alert");
        let severity = rule["labels"]["severity"].as_str().unwrap_or_default();
        assert!(
            ["critical", "warning"].contains(&severity),
            "{name}: severity {severity:?}"
        );
        for annotation in ["summary", "description"] {
            let text = rule["annotations"][annotation].as_str().unwrap_or_default();
            assert!(text.len() > 20, "{name}: {annotation} {text:?}");
        }
        assert!(fires.contains(name), "{name}: no test where it fires");
        assert!(quiet.contains(name), "{name}: no test where it stays quiet");
    }
}

// ---- metric names in PromQL ----

#[rustfmt::skip]
const KEYWORDS: &[&str] = &[
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
    "bool", "offset", "inf", "nan",
];

/// Aggregation operators: `sum by (x) (...)` puts a label list between the
/// operator and its parenthesis.
#[rustfmt::skip]
const AGGREGATIONS: &[&str] = &[
    "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
    "bottomk", "topk", "quantile", "limitk", "limit_ratio",
];

/// The metric names an expression selects: identifiers outside strings, label
/// matchers (`{...}`) and ranges (`[...]`) that are not functions, aggregations,
/// keywords or the label lists of `by (...)`, `without (...)`, `on (...)`...
fn metric_names(expr: &str) -> BTreeSet<String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut names = BTreeSet::new();
    let mut i = 0;
    let skip_to = |i: &mut usize, close: char| {
        while *i < chars.len() && chars[*i] != close {
            if matches!(chars[*i], '"' | '\'' | '`') {
                let quote = chars[*i];
                *i += 1;
                while *i < chars.len() && chars[*i] != quote {
                    *i += if chars[*i] == '\\' { 2 } else { 1 };
                }
            }
            *i += 1;
        }
    };
    while i < chars.len() {
        let c = chars[i];
        if matches!(c, '"' | '\'' | '`') {
            i += 1;
            skip_to(&mut i, c);
            i += 1;
        } else if c == '{' {
            skip_to(&mut i, '}');
            i += 1;
        } else if c == '[' {
            skip_to(&mut i, ']');
            i += 1;
        } else if c.is_ascii_digit() || c == '.' || c == '$' {
            // A number, a duration, or a Grafana variable.
            i += 1;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || "._".contains(chars[i])) {
                i += 1;
            }
        } else if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || "_:".contains(chars[i])) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let mut next = i;
            while next < chars.len() && chars[next].is_whitespace() {
                next += 1;
            }
            let call = chars.get(next) == Some(&'(');
            let lower = word.to_ascii_lowercase();
            if [
                "by",
                "without",
                "on",
                "ignoring",
                "group_left",
                "group_right",
            ]
            .contains(&lower.as_str())
            {
                if call {
                    i = next + 1;
                    skip_to(&mut i, ')');
                    i += 1;
                }
            } else if !call
                && !KEYWORDS.contains(&lower.as_str())
                && !AGGREGATIONS.contains(&lower.as_str())
            {
                names.insert(word);
            }
        } else {
            i += 1;
        }
    }
    names
}

#[test]
fn metric_names_are_read_out_of_promql() {
    let names = metric_names(
        r#"sum without (outcome) (rate(passage_a_total{outcome="x}y",b=~'c'}[5m] offset 1h)) / on (instance) group_left (pod) passage_b > bool 0.5e3 and max by(le)(process_c) unless vector(0) or absent(passage_d{q=`}`})"#,
    );
    let expected: BTreeSet<String> = ["passage_a_total", "passage_b", "process_c", "passage_d"]
        .map(String::from)
        .into();
    assert_eq!(names, expected);
    assert_eq!(
        metric_names(
            r#"histogram_quantile(0.95, sum by (le) (rate(x_bucket{instance=~"$instance"}[$__rate_interval])))"#
        ),
        BTreeSet::from(["x_bucket".to_owned()])
    );
}

/// Every PromQL expression of the dashboard: `(panel title, expr)`.
fn dashboard_exprs(dashboard: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for panel in panels(dashboard) {
        for target in panel["targets"].as_array().into_iter().flatten() {
            if let Some(expr) = target["expr"].as_str() {
                out.push((
                    panel["title"].as_str().unwrap_or("").to_owned(),
                    expr.to_owned(),
                ));
            }
        }
    }
    for var in dashboard["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if let Some(query) = var["query"]["query"].as_str()
            && let Some(inner) = query
                .strip_prefix("label_values(")
                .and_then(|q| q.rsplit_once(','))
        {
            out.push((format!("variable {}", var["name"]), inner.0.to_owned()));
        }
    }
    out
}

/// Panels, those inside collapsed rows too.
fn panels(dashboard: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        out.push(panel);
        out.extend(panel["panels"].as_array().into_iter().flatten());
    }
    out
}

#[test]
fn the_dashboard_is_an_importable_grafana_dashboard() {
    let dashboard = read_dashboard();
    let schema = dashboard["schemaVersion"].as_i64().expect("schemaVersion");
    assert!((36..=41).contains(&schema), "schemaVersion {schema}");
    assert!(dashboard["title"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(
        dashboard["uid"]
            .as_str()
            .is_some_and(|u| !u.is_empty() && u.len() <= 40)
    );
    let vars = dashboard["templating"]["list"]
        .as_array()
        .expect("templating.list");
    let var = |name: &str| {
        vars.iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("no ${name} variable"))
    };
    assert_eq!(var("datasource")["type"], "datasource");
    assert_eq!(var("datasource")["query"], "prometheus");
    let instance = var("instance");
    assert_eq!(instance["type"], "query");
    assert_eq!(instance["datasource"]["uid"], "${datasource}");
    assert!(
        instance["query"]["query"]
            .as_str()
            .unwrap()
            .contains("instance")
    );

    let mut ids = BTreeSet::new();
    let mut cells: BTreeMap<(i64, i64), String> = BTreeMap::new();
    let mut graphs = 0;
    for panel in panels(&dashboard) {
        let title = panel["title"].as_str().expect("every panel has a title");
        assert!(
            ids.insert(panel["id"].as_i64().expect("id")),
            "{title}: id reused"
        );
        let grid = &panel["gridPos"];
        let (x, y, w, h) = (
            grid["x"].as_i64().expect("x"),
            grid["y"].as_i64().expect("y"),
            grid["w"].as_i64().expect("w"),
            grid["h"].as_i64().expect("h"),
        );
        assert!(
            x >= 0 && w > 0 && x + w <= 24 && h > 0 && y >= 0,
            "{title}: {grid}"
        );
        for cx in x..x + w {
            for cy in y..y + h {
                if let Some(other) = cells.insert((cx, cy), title.to_owned()) {
                    panic!("{title} overlaps {other}");
                }
            }
        }
        if panel["type"] == "row" {
            continue;
        }
        graphs += 1;
        assert!(
            [
                "timeseries",
                "stat",
                "gauge",
                "bargauge",
                "table",
                "state-timeline"
            ]
            .contains(&panel["type"].as_str().unwrap_or_default()),
            "{title}: type {}",
            panel["type"]
        );
        assert_eq!(panel["datasource"]["uid"], "${datasource}", "{title}");
        let targets = panel["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{title}: no query");
        let mut refs = BTreeSet::new();
        for target in targets {
            assert!(
                refs.insert(target["refId"].as_str().expect("refId")),
                "{title}"
            );
            assert_eq!(target["datasource"]["uid"], "${datasource}", "{title}");
            let expr = target["expr"].as_str().expect("expr");
            // Every selector is narrowed to the chosen instances.
            let selectors = expr.matches(['{']).count();
            assert!(
                selectors > 0 && expr.matches(r#"instance=~"$instance""#).count() == selectors,
                "{title}: a selector without instance=~\"$instance\": {expr}"
            );
        }
    }
    assert!(graphs >= 20, "{graphs} panels");
    let used: BTreeSet<String> = dashboard_exprs(&dashboard)
        .iter()
        .flat_map(|(_, e)| metric_names(e))
        .collect();
    for needed in [
        "passage_connections_total",
        "passage_login_duration_seconds_bucket",
        "passage_session_server_failures_total",
        "passage_plugin_unhealthy",
        "passage_plugin_reloads_total",
        "passage_auth_cookie_total",
        "passage_ready",
        "process_resident_memory_bytes",
    ] {
        assert!(used.contains(needed), "no panel shows {needed}");
    }
}

// ---- a real Prometheus scraping a real router ----

/// A Prometheus server on a loopback port of its own, with a fresh storage
/// directory. Killed when dropped.
struct Prometheus {
    child: Child,
    addr: SocketAddr,
    log: Arc<Mutex<String>>,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    fn start(targets: &[SocketAddr], rule_files: &[PathBuf]) -> Prometheus {
        let dir = tempfile::tempdir().expect("temp dir");
        // A free port: taken from the kernel, released, handed to Prometheus.
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port");
        // JSON is YAML: the paths and addresses are quoted by serde_json.
        let config = serde_json::json!({
            "global": { "scrape_interval": "1s", "evaluation_interval": "1s" },
            "rule_files": rule_files,
            "scrape_configs": [{
                "job_name": "passage",
                "static_configs": [{ "targets": targets.iter().map(|a| a.to_string()).collect::<Vec<_>>() }],
            }],
        });
        let config_file = dir.path().join("prometheus.yml");
        std::fs::write(&config_file, config.to_string()).expect("write prometheus.yml");
        let mut child = Command::new("prometheus")
            .arg(format!("--config.file={}", config_file.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn prometheus");
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().expect("stderr piped");
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let mut prometheus = Prometheus {
            child,
            addr,
            log,
            _dir: dir,
        };
        prometheus.wait_until("it is ready", |p| {
            get(p.addr, "/-/ready").is_ok_and(|(code, _)| code == 200)
        });
        prometheus
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Polls `done` (every 50 ms, up to 60 s) while Prometheus runs.
    fn wait_until(&mut self, what: &str, done: impl Fn(&Prometheus) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if done(self) {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "prometheus exited with {status} waiting until {what}:\n{}",
                    self.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "prometheus: not {what} within 60 s:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `GET /api/v1/<path>`: the `data` of a successful answer, else the error.
    fn api(&self, path: &str) -> Result<Value, String> {
        let (code, body) = get(self.addr, &format!("/api/v1/{path}")).map_err(|e| e.to_string())?;
        let answer: Value = serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))?;
        if code == 200 && answer["status"] == "success" {
            Ok(answer["data"].clone())
        } else {
            Err(format!("HTTP {code}: {body}"))
        }
    }

    /// An instant query's result vector.
    fn query(&self, promql: &str) -> Result<Vec<Value>, String> {
        let data = self.api(&format!("query?query={}", percent_encode(promql)))?;
        match data["resultType"].as_str() {
            Some("vector") => Ok(data["result"].as_array().cloned().unwrap_or_default()),
            other => Err(format!("{promql}: result type {other:?}")),
        }
    }

    /// The value of the one series `promql` selects.
    fn value(&self, promql: &str) -> f64 {
        let result = self.query(promql).unwrap();
        assert_eq!(result.len(), 1, "{promql}: {result:?}");
        result[0]["value"][1]
            .as_str()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{promql}: {result:?}"))
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A blocking HTTP/1.0 GET (so the answer is never chunked): status and body.
fn get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut raw = String::new();
    stream.read_to_string(&mut raw)?;
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no end of the header"))?;
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other("no status code"))?;
    Ok((code, body.to_owned()))
}

/// The metric names of the series Prometheus stored.
fn series_names(prometheus: &Prometheus) -> BTreeSet<String> {
    prometheus
        .api("label/__name__/values")
        .unwrap()
        .as_array()
        .expect("names")
        .iter()
        .filter_map(|n| n.as_str().map(str::to_owned))
        .collect()
}

/// The families the routers described (`# TYPE`), by the names their samples
/// take.
fn described_families(prometheus: &Prometheus) -> BTreeMap<String, Vec<String>> {
    let target = percent_encode(r#"{job="passage"}"#);
    let metadata = prometheus
        .api(&format!("targets/metadata?match_target={target}"))
        .unwrap();
    let mut families = BTreeMap::new();
    for entry in metadata.as_array().expect("metadata") {
        let name = entry["metric"].as_str().expect("metric").to_owned();
        let samples = match entry["type"].as_str().unwrap_or_default() {
            "counter" => vec![format!("{}_total", name.trim_end_matches("_total"))],
            "histogram" => ["_bucket", "_count", "_sum"]
                .iter()
                .map(|suffix| format!("{name}{suffix}"))
                .collect(),
            _ => vec![name.clone()],
        };
        families.insert(name, samples);
    }
    families
}

/// The rules of a `/api/v1/rules` answer.
fn rules_of(data: &Value) -> Vec<&Value> {
    data["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|g| g["rules"].as_array().into_iter().flatten())
        .collect()
}

/// A dashboard expression as Prometheus can evaluate it: Grafana's variables
/// replaced (every instance; a 1-minute window).
fn grafana_to_promql(expr: &str) -> String {
    expr.replace(r#"instance=~"$instance""#, r#"instance=~".+""#)
        .replace("$__rate_interval", "1m")
}

/// Waits (up to 20 s) until the router's `/metrics` has every one of `lines`.
/// Counters are updated when a connection's task ends, a reload's when it is
/// applied: this is how a test knows they have.
async fn wait_for_metrics(router: &Passage, lines: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, text) = http_get(router.metrics_addr(), "/metrics").await.unwrap();
        if lines.iter().all(|l| text.lines().any(|t| t.starts_with(l))) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "not all of {lines:?} in:\n{text}\n--- log ---\n{}",
            router.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

const ROUTING: &str = r#"
[routing]
strategy = "player-fill"
[plugins.fixed-discovery]
targets = [ { id = "lobby", host = "lobby.example.com", port = 25570 } ]
"#;

/// An offline router: two pings, a third over the address's status budget that
/// also takes the slot of a silent socket (the router is full), an offline
/// login to its Transfer, a malformed handshake, a plugin reload; and a router
/// plugin granted a key-value bucket (`seats`, which opens it when configured).
async fn everyday_router() -> Passage {
    let config = format!(
        "[auth]\nmode = \"offline\"\n[limits]\nstatus_per_second = 0.01\nstatus_burst = 2\n\
         max_connections = 2\nmax_connections_per_address = 0\n\
         [plugin_runtime.grants.seats]\nkeyvalue = [\"seats\"]\n\
         [plugins.seats]\nbackends = [{{ id = \"event\", host = \"10.0.0.9\", capacity = 1 }}]\n{ROUTING}"
    );
    let router = Passage::start(PassageSpec {
        config: &config,
        plugins: vec![
            ("fixed-status", plugin_wasm("fixed-status")),
            ("fixed-discovery", plugin_wasm("fixed-discovery")),
            ("player-fill", plugin_wasm("player-fill")),
            ("seats", plugin_wasm("seats")),
        ],
        ..Default::default()
    });
    ping(router.addr, 775, "play.example.com").await.unwrap();
    ping(router.addr, 767, "play.example.com").await.unwrap();
    let params = LoginParams::new(775, "Steve", None);
    let (id, body, _) = login_to_final_packet(router.addr, &params, "en_us")
        .await
        .unwrap();
    assert_eq!(id, 0x0B, "a Transfer");
    assert_eq!(
        parse_transfer(&body),
        ("lobby.example.com".to_owned(), 25570)
    );
    let mut bad = tokio::net::TcpStream::connect(router.addr).await.unwrap();
    bad.write_all(&[0xff, 0xff, 0xff, 0xff, 0xff, 0x01])
        .await
        .unwrap();
    expect_closed(&mut bad, Duration::from_secs(5))
        .await
        .unwrap();
    wait_for_metrics(&router, &["passage_connections_active 0"]).await;
    // Full: two sockets that never speak. The next ping takes the older one's
    // slot, then finds the status budget spent.
    let mut silent = Vec::new();
    for _ in 0..2 {
        silent.push(tokio::net::TcpStream::connect(router.addr).await.unwrap());
    }
    wait_for_metrics(&router, &["passage_connections_active 2"]).await;
    assert!(ping(router.addr, 775, "play.example.com").await.is_err());
    expect_closed(&mut silent[0], Duration::from_secs(5))
        .await
        .unwrap();
    drop(silent);
    std::fs::copy(
        plugin_wasm("round-robin"),
        router.plugins_dir().join("round-robin.wasm"),
    )
    .unwrap();
    wait_for_metrics(
        &router,
        &[
            r#"passage_connections_total{state="handshake",outcome="malformed"} 1"#,
            r#"passage_connections_total{state="configuration",outcome="transferred"} 1"#,
            r#"passage_connections_total{state="status",outcome="rate_limited"} 1"#,
            r#"passage_connections_shed_total{reason="no_handshake"} 1"#,
            r#"passage_plugin_reloads_total{outcome="applied"} 1"#,
            "passage_connections_active 0",
        ],
    )
    .await;
    router
}

/// An online router with things going wrong: a session server that verifies
/// two logins (one a returning player without a cookie) and then fails, a
/// status plugin that traps (and, failing once, is unhealthy) and one that
/// loops to its deadline with a single instance, so that of three pings at once
/// the last finds it busy for its whole deadline.
async fn troubled_router(session: &SessionServer, secret: &Path) -> Passage {
    let config = format!(
        "auth_secret_file = \"{}\"\n[auth]\nsession_server = \"{}\"\n\
         [limits]\nstatus_per_second = 0\nlogin_per_second = 0\n\
         [plugin_runtime]\nfailure_threshold = 1\n\
         [plugin_runtime.grants.a-crash]\ncall_timeout_ms = 5000\n\
         [plugin_runtime.grants.b-spin]\ncall_timeout_ms = 300\nmax_instances = 1\n\
         [plugins.a-crash]\nmode = \"trap\"\n[plugins.b-spin]\nmode = \"loop\"\n{ROUTING}",
        secret.display(),
        session.url()
    );
    let router = Passage::start(PassageSpec {
        config: &config,
        plugins: vec![
            ("a-crash", plugin_wasm("misbehave")),
            ("b-spin", plugin_wasm("misbehave")),
            ("fixed-discovery", plugin_wasm("fixed-discovery")),
            ("player-fill", plugin_wasm("player-fill")),
        ],
        ..Default::default()
    });
    let params = LoginParams::new(775, "Alex", Some(session.addr));
    let (id, _, _) = login_to_final_packet(router.addr, &params, "en_us")
        .await
        .unwrap();
    assert_eq!(id, 0x0B, "{}", router.log());
    let mut bare = params.clone();
    bare.intent = 3;
    let (id, _, _) = login_to_final_packet(router.addr, &bare, "en_us")
        .await
        .unwrap();
    assert_eq!(id, 0x0B);
    session.set_behavior(Behavior::ServerError);
    let failed = login(router.addr, &params).await.unwrap();
    assert!(matches!(failed, LoginOutcome::Disconnected(..)));
    let (a, b, c) = tokio::join!(
        ping(router.addr, 775, "play.example.com"),
        ping(router.addr, 775, "play.example.com"),
        ping(router.addr, 775, "play.example.com"),
    );
    for answer in [a, b, c] {
        let answer = answer.unwrap();
        assert!(answer.status["version"].is_object(), "{:?}", answer.status);
    }
    wait_for_metrics(
        &router,
        &[
            r#"passage_session_server_calls_total{outcome="verified"} 2"#,
            r#"passage_session_server_calls_total{outcome="unavailable"} 1"#,
            r#"passage_session_server_failures_total{reason="server_error"} 1"#,
            r#"passage_auth_cookie_total{result="miss",reason="absent"} 1"#,
            r#"passage_plugin_traps_total{plugin="a-crash"}"#,
            r#"passage_plugin_unhealthy{plugin="a-crash"} 1"#,
            r#"passage_plugin_deadline_hits_total{plugin="b-spin"}"#,
            r#"passage_plugin_saturated_total{plugin="b-spin"}"#,
            r#"passage_connections_total{state="status",outcome="ok"} 3"#,
        ],
    )
    .await;
    router
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_the_router_and_every_dashboard_and_alert_metric_exists() {
    if let Some(why) = tools_unavailable() {
        return skip(&why);
    }
    let everyday = everyday_router().await;
    let session = SessionServer::start(Behavior::Normal).await;
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "a shared secret of enough length").unwrap();
    let troubled = troubled_router(&session, &secret).await;
    let (a, b) = (everyday.metrics_addr(), troubled.metrics_addr());

    let rule_file = deploy("prometheus/passage-alerts.yaml");
    // (Blocking calls from here on: the routers are other processes.)
    let prometheus = &mut Prometheus::start(&[a, b], std::slice::from_ref(&rule_file));
    // Three scrapes of each at least, so that rates over a minute have samples.
    prometheus.wait_until("it has scraped both routers three times", |p| {
        p.query("count_over_time(passage_ready[1m]) >= 3")
            .is_ok_and(|r| r.len() == 2)
    });
    prometheus.wait_until("every alerting rule has been evaluated", |p| {
        p.api("rules").is_ok_and(|data| {
            let rules = rules_of(&data);
            !rules.is_empty()
                && rules.iter().all(|r| {
                    r["lastEvaluation"]
                        .as_str()
                        .is_some_and(|t| !t.starts_with("0001"))
                })
        })
    });

    // The series, their labels and values, through the query API.
    let transferred = prometheus
        .query(&format!(
            r#"passage_connections_total{{instance="{a}",state="configuration",outcome="transferred"}}"#
        ))
        .unwrap();
    assert_eq!(transferred.len(), 1, "{transferred:?}");
    assert_eq!(transferred[0]["metric"]["job"], "passage");
    assert_eq!(transferred[0]["metric"]["instance"], a.to_string().as_str());
    assert_eq!(transferred[0]["value"][1], "1");
    let at = |instance: SocketAddr, selector: &str| {
        let (name, labels) = selector.split_once('{').unwrap_or((selector, "}"));
        let sep = if labels == "}" { "" } else { "," };
        prometheus.value(&format!(r#"{name}{{instance="{instance}"{sep}{labels}"#))
    };
    for (selector, expected) in [
        (
            r#"passage_connections_total{state="status",outcome="ok"}"#,
            2.0,
        ),
        (
            r#"passage_connections_total{state="status",outcome="rate_limited"}"#,
            1.0,
        ),
        (
            r#"passage_connections_total{state="handshake",outcome="malformed"}"#,
            1.0,
        ),
        (
            r#"passage_connections_rejected_total{reason="rate_limit_status"}"#,
            1.0,
        ),
        (
            r#"passage_connections_shed_total{reason="no_handshake"}"#,
            1.0,
        ),
        (r#"passage_plugin_reloads_total{outcome="applied"}"#, 1.0),
        ("passage_status_duration_seconds_count", 2.0),
        (r#"passage_status_duration_seconds_bucket{le="+Inf"}"#, 2.0),
        ("passage_login_duration_seconds_count", 1.0),
        ("passage_routing_duration_seconds_count", 1.0),
        (
            r#"passage_plugin_call_duration_seconds_count{plugin="fixed-status",function="status"}"#,
            2.0,
        ),
        (
            r#"passage_plugin_call_duration_seconds_count{plugin="player-fill",function="select"}"#,
            1.0,
        ),
        ("passage_connections_active", 0.0),
        ("passage_ready", 1.0),
    ] {
        assert_eq!(at(a, selector), expected, "{a}: {selector}");
    }
    for (selector, expected) in [
        (
            r#"passage_connections_total{state="configuration",outcome="transferred"}"#,
            2.0,
        ),
        (
            r#"passage_connections_total{state="login",outcome="auth_unavailable"}"#,
            1.0,
        ),
        (
            r#"passage_session_server_calls_total{outcome="verified"}"#,
            2.0,
        ),
        (
            r#"passage_session_server_calls_total{outcome="unavailable"}"#,
            1.0,
        ),
        (
            r#"passage_session_server_failures_total{reason="server_error"}"#,
            1.0,
        ),
        ("passage_session_server_duration_seconds_count", 3.0),
        (
            r#"passage_auth_cookie_total{result="miss",reason="absent"}"#,
            1.0,
        ),
        (r#"passage_plugin_unhealthy{plugin="a-crash"}"#, 1.0),
        (
            r#"passage_connections_total{state="status",outcome="ok"}"#,
            3.0,
        ),
    ] {
        assert_eq!(at(b, selector), expected, "{b}: {selector}");
    }
    // Of three calls at once to one instance, the first runs to its deadline;
    // the others wait as long, so one at least finds it still busy, and one
    // may get it and run to its deadline too.
    assert!(at(b, r#"passage_plugin_traps_total{plugin="a-crash"}"#) >= 1.0);
    let saturated = at(b, r#"passage_plugin_saturated_total{plugin="b-spin"}"#);
    let deadlines = at(b, r#"passage_plugin_deadline_hits_total{plugin="b-spin"}"#);
    assert!(
        saturated >= 1.0 && deadlines >= 1.0 && saturated + deadlines == 3.0,
        "saturated {saturated}, deadline hits {deadlines}"
    );
    // Nothing of the everyday router ended in the login state: no such series.
    let login = prometheus
        .query(&format!(
            r#"passage_connections_total{{instance="{a}",state="login"}}"#
        ))
        .unwrap();
    assert!(login.is_empty(), "{login:?}");

    // The process metrics describe the router's process.
    let rss = at(a, "process_resident_memory_bytes");
    let vm_rss = everyday.rss_kib() as f64 * 1024.0;
    assert!(
        rss > vm_rss / 2.0 && rss < vm_rss * 2.0,
        "process_resident_memory_bytes {rss}, VmRSS {vm_rss} bytes"
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let started = at(a, "process_start_time_seconds");
    assert!(
        started <= now && started > now - 600.0,
        "started {started}, now {now}"
    );
    assert!(at(a, "process_cpu_seconds_total") > 0.0);
    assert!(at(a, "process_open_fds") >= 3.0);

    // Every rule evaluated without an error in a real Prometheus.
    let rules = prometheus.api("rules").unwrap();
    assert_eq!(rules_of(&rules).len(), alert_rules().len());
    for rule in rules_of(&rules) {
        assert_eq!(rule["health"], "ok", "{rule}");
    }

    // Every metric name in an expression is one Prometheus scraped from the
    // routers (not one of its own, such as `up` or `ALERTS`) and holds series.
    let families = described_families(prometheus);
    let series: BTreeSet<String> = series_names(prometheus)
        .into_iter()
        .filter(|name| families.values().flatten().any(|n| n == name))
        .collect();
    let dashboard = read_dashboard();
    let mut exprs: Vec<(String, String)> = dashboard_exprs(&dashboard);
    for rule in alert_rules() {
        exprs.push((
            format!("alert {}", rule["alert"].as_str().unwrap()),
            rule["expr"].as_str().unwrap().to_owned(),
        ));
    }
    for (whose, expr) in &exprs {
        let names = metric_names(expr);
        assert!(!names.is_empty(), "{whose}: no metric in {expr}");
        for name in &names {
            assert!(
                series.contains(name),
                "{whose}: {name} is not a metric Prometheus scraped from the routers\n{expr}\nscraped: {series:?}"
            );
        }
    }

    // Every dashboard query evaluates and returns data (a wrong label value
    // would make it empty).
    for (title, expr) in dashboard_exprs(&dashboard) {
        let promql = grafana_to_promql(&expr);
        let result = prometheus
            .query(&promql)
            .unwrap_or_else(|e| panic!("panel {title}: {promql}: {e}"));
        assert!(!result.is_empty(), "panel {title}: no data for {promql}");
    }

    // Every family the routers export is on the dashboard.
    let on_dashboard: BTreeSet<String> = dashboard_exprs(&dashboard)
        .iter()
        .flat_map(|(_, e)| metric_names(e))
        .collect();
    assert!(
        families.contains_key("passage_plugin_saturated"),
        "{families:?}"
    );
    for (family, samples) in &families {
        assert!(
            samples.iter().any(|s| on_dashboard.contains(s)),
            "no dashboard panel shows {family} ({samples:?})"
        );
    }
}
