//! `http-discovery`: the backends an HTTP endpoint lists, fetched again every
//! `refresh_ms`, with the last good list served while the endpoint fails.

use std::time::{Duration, Instant};

use passage_sdk::http::{Request, Url};
use passage_sdk::{
    Config, Discovered, Discovery, ExtraKeys, Player, Plugin, Target, TargetList, log, revision_of,
    targets_from_json,
};

/// `refresh_ms` when the config gives none, and the least it may be.
const DEFAULT_REFRESH: Duration = Duration::from_millis(5000);
const MIN_REFRESH: Duration = Duration::from_millis(100);
/// `timeout_ms` when the config gives none.
const DEFAULT_TIMEOUT: Duration = Duration::from_millis(1000);

pub struct HttpDiscovery {
    url: String,
    timeout: Duration,
    cache: Cache,
}

impl Plugin for HttpDiscovery {
    fn new(config: Config) -> Result<Self, String> {
        config.deny_unknown(&["url", "refresh_ms", "timeout_ms"])?;
        let url = config.get_str("url")?.ok_or(
            "`url` is required: the endpoint that lists the targets, http://… or https://…",
        )?;
        Url::parse(url).map_err(|e| format!("`url`: {e}"))?;
        let millis = |key: &str, default: Duration, min: u64| -> Result<Duration, String> {
            match config.get_i64(key)? {
                None => Ok(default),
                Some(ms) => u64::try_from(ms)
                    .ok()
                    .filter(|ms| *ms >= min)
                    .map(Duration::from_millis)
                    .ok_or_else(|| format!("`{key}` must be at least {min} (milliseconds)")),
            }
        };
        let refresh = millis(
            "refresh_ms",
            DEFAULT_REFRESH,
            MIN_REFRESH.as_millis() as u64,
        )?;
        let timeout = millis("timeout_ms", DEFAULT_TIMEOUT, 1)?;
        Ok(HttpDiscovery {
            url: url.to_owned(),
            timeout,
            cache: Cache::new(refresh),
        })
    }
}

impl HttpDiscovery {
    /// One fetch: the endpoint's list, or why there is none.
    fn fetch(url: &str, timeout: Duration) -> Result<Vec<Target>, String> {
        let response = Request::get(url)
            .header("accept", "application/json")
            .timeout(timeout)
            .send()?;
        if !response.is_success() {
            return Err(format!(
                "GET {url}: the endpoint answered {}",
                response.status
            ));
        }
        parse_targets(&response.body).map_err(|e| format!("GET {url}: {e}"))
    }
}

impl Discovery for HttpDiscovery {
    fn discover(&mut self, _player: &Player, known: Option<u64>) -> Result<Discovered, String> {
        let (url, timeout) = (&self.url, self.timeout);
        self.cache
            .discover(Instant::now(), known, || Self::fetch(url, timeout))
    }
}

passage_sdk::export_discovery!(HttpDiscovery);
passage_sdk::manifest!();

/// The endpoint's answer: `{"targets": [...]}` or a bare `[...]`. Each target is
/// `{"id", "host", "port" (default 25565), "metadata" (optional)}`; other keys are
/// ignored, so an endpoint may carry fields of its own. Metadata values may be
/// strings, numbers or booleans and become strings.
pub fn parse_targets(body: &[u8]) -> Result<Vec<Target>, String> {
    let json: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("the response is not valid JSON: {e}"))?;
    let items = match &json {
        serde_json::Value::Array(items) => items,
        serde_json::Value::Object(obj) => match obj.get("targets") {
            Some(serde_json::Value::Array(items)) => items,
            Some(_) => return Err("`targets` must be a list".to_owned()),
            None => return Err("the response has no `targets` list".to_owned()),
        },
        _ => return Err("the response must be a JSON object or list".to_owned()),
    };
    targets_from_json(items, ExtraKeys::Ignore)
}

/// The revision of a list: a hash of its contents, so every instance (and every
/// replica) that fetched the same list reports the same revision. A counter would
/// not do: the router holds one revision per plugin, whichever instance answered.
pub fn revision(targets: &[Target]) -> u64 {
    revision_of(targets)
}

/// The last good list and when the endpoint was last asked: everything
/// `discover` decides, without HTTP (the fetch is passed in).
pub struct Cache {
    refresh: Duration,
    /// When the endpoint was last asked, successfully or not.
    last_attempt: Option<Instant>,
    /// The last list fetched and parsed, with its revision.
    good: Option<(u64, Vec<Target>)>,
    /// Why the last attempt failed; `None` after a success.
    failing: Option<String>,
}

impl Cache {
    pub fn new(refresh: Duration) -> Cache {
        Cache {
            refresh,
            last_attempt: None,
            good: None,
            failing: None,
        }
    }

    /// Fetches when the endpoint was last asked `refresh` ago or more (or never),
    /// then answers from the last good list: `unchanged` when the router holds its
    /// revision. A failed fetch is logged and the last good list kept; only when
    /// there has never been one is the answer an error. A failure waits for the
    /// next refresh too, so a down endpoint costs one login per `refresh`, not all.
    pub fn discover(
        &mut self,
        now: Instant,
        known: Option<u64>,
        fetch: impl FnOnce() -> Result<Vec<Target>, String>,
    ) -> Result<Discovered, String> {
        let due = self
            .last_attempt
            .is_none_or(|at| now.saturating_duration_since(at) >= self.refresh);
        if due {
            self.last_attempt = Some(now);
            self.refresh_with(fetch());
        }
        match &self.good {
            Some((rev, _)) if known == Some(*rev) => Ok(Discovered::Unchanged),
            Some((rev, targets)) => Ok(Discovered::Targets(TargetList {
                revision: *rev,
                targets: targets.clone(),
            })),
            None => Err(format!(
                "no target list yet: {}",
                self.failing.as_deref().unwrap_or("not fetched")
            )),
        }
    }

    fn refresh_with(&mut self, fetched: Result<Vec<Target>, String>) {
        match fetched {
            Ok(targets) => {
                if let Some(was) = self.failing.take() {
                    log::info(&format!("target list fetched again (after: {was})"));
                }
                let rev = revision(&targets);
                if self.good.as_ref().is_none_or(|(old, _)| *old != rev) {
                    log::debug(&format!("{} targets (revision {rev:016x})", targets.len()));
                    self.good = Some((rev, targets));
                }
            }
            Err(e) => {
                match &self.good {
                    Some((rev, targets)) => log::warn(&format!(
                        "{e}; keeping the last good list ({} targets, revision {rev:016x})",
                        targets.len()
                    )),
                    // The error is `discover`'s answer, which the router logs.
                    None => log::debug(&format!("{e}; no target list yet")),
                }
                self.failing = Some(e);
            }
        }
    }

    /// The revision of the list served now, if any.
    pub fn revision(&self) -> Option<u64> {
        self.good.as_ref().map(|(rev, _)| *rev)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plugin(json: &str) -> Result<HttpDiscovery, String> {
        HttpDiscovery::new(Config::from_json(json)?)
    }

    #[test]
    fn config() {
        let p = plugin(r#"{"url": "http://backends.internal:8080/targets"}"#).unwrap();
        assert_eq!(p.timeout, DEFAULT_TIMEOUT);
        assert_eq!(p.cache.refresh, DEFAULT_REFRESH);
        let p = plugin(r#"{"url": "https://b/t", "refresh_ms": 100, "timeout_ms": 250}"#).unwrap();
        assert_eq!(p.timeout, Duration::from_millis(250));
        assert_eq!(p.cache.refresh, MIN_REFRESH);

        for (json, says) in [
            (r#"{}"#, "`url` is required"),
            (r#"{"url": "backends.internal/t"}"#, "http:// or https://"),
            (r#"{"url": 3}"#, "`url` must be a string"),
            (
                r#"{"url": "http://b/", "refresh_ms": 99}"#,
                "`refresh_ms` must be at least 100",
            ),
            (
                r#"{"url": "http://b/", "timeout_ms": 0}"#,
                "`timeout_ms` must be at least 1",
            ),
            (
                r#"{"url": "http://b/", "timeout_ms": "1s"}"#,
                "must be an integer",
            ),
            (
                r#"{"url": "http://b/", "targets_key": "x"}"#,
                "unknown key `targets_key`",
            ),
        ] {
            let e = plugin(json).err().unwrap();
            assert!(e.contains(says), "{json}: {e}");
        }
    }

    #[test]
    fn parses_both_shapes() {
        let body = br#"{"targets": [
            {"id": "lobby-1", "host": "10.0.0.1", "port": 25566,
             "metadata": {"players": 10, "group": "lobby", "open": true, "load": 0.5}},
            {"id": "lobby-2", "host": "lobby-2.internal", "region": "eu"}
        ], "generated_at": "now"}"#;
        let t = parse_targets(body).unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!((t[0].id.as_str(), t[0].port), ("lobby-1", 25566));
        assert_eq!(t[0].meta("players"), Some("10"));
        assert_eq!(t[0].meta("group"), Some("lobby"));
        assert_eq!(t[0].meta("open"), Some("true"));
        assert_eq!(t[0].meta("load"), Some("0.5"));
        assert_eq!(t[1].port, 25565);
        assert!(t[1].metadata.is_empty());

        let bare = parse_targets(br#"[{"id": "a", "host": "h"}]"#).unwrap();
        assert_eq!(bare[0].id, "a");
        assert!(parse_targets(br#"{"targets": []}"#).unwrap().is_empty());
    }

    #[test]
    fn rejects_bad_answers_naming_the_key() {
        for (body, says) in [
            (&br#"not json"#[..], "not valid JSON"),
            (br#""targets""#, "object or list"),
            (br#"{"servers": []}"#, "no `targets` list"),
            (br#"{"targets": {}}"#, "`targets` must be a list"),
            (br#"[1]"#, "`targets[0]` must be an object"),
            (br#"[{"host": "h"}]"#, "`targets[0].id`"),
            (br#"[{"id": "a", "host": ""}]"#, "`targets[0].host`"),
            (
                br#"[{"id": "a", "host": "h", "port": 70000}]"#,
                "`targets[0].port`",
            ),
            (
                br#"[{"id": "a", "host": "h", "port": "25565"}]"#,
                "`targets[0].port`",
            ),
            (
                br#"[{"id": "a", "host": "h", "metadata": []}]"#,
                "`targets[0].metadata`",
            ),
            (
                br#"[{"id": "a", "host": "h", "metadata": {"x": [1]}}]"#,
                "`targets[0].metadata.x`",
            ),
            (
                br#"[{"id": "a", "host": "h"}, {"id": "a", "host": "i"}]"#,
                "`a` appears twice",
            ),
        ] {
            let e = parse_targets(body).unwrap_err();
            assert!(e.contains(says), "{}: {e}", String::from_utf8_lossy(body));
        }
    }

    fn list(players: u32) -> Vec<Target> {
        vec![
            Target::new("a", "10.0.0.1", 25565).with("players", players),
            Target::new("b", "10.0.0.2", 25565),
        ]
    }

    fn targets(d: Result<Discovered, String>) -> TargetList {
        match d.unwrap() {
            Discovered::Targets(list) => list,
            Discovered::Unchanged => panic!("expected a list, got unchanged"),
        }
    }

    fn unchanged(d: Result<Discovered, String>) -> bool {
        matches!(d, Ok(Discovered::Unchanged))
    }

    const REFRESH: Duration = Duration::from_millis(5000);

    #[test]
    fn fetches_once_per_refresh_and_answers_unchanged() {
        let t0 = Instant::now();
        let mut cache = Cache::new(REFRESH);
        let mut fetches = 0;
        let mut fetch = |l: Vec<Target>| {
            fetches += 1;
            move || Ok(l)
        };
        let first = targets(cache.discover(t0, None, fetch(list(1))));
        assert_eq!(first.targets.len(), 2);
        assert_eq!(first.revision, revision(&list(1)));

        // Within the refresh period: no fetch (a fetch would panic).
        let no_fetch = || -> Result<Vec<Target>, String> { panic!("fetched too early") };
        let later = t0 + Duration::from_millis(4999);
        assert!(unchanged(cache.discover(
            later,
            Some(first.revision),
            no_fetch
        )));
        // A host without the list (a fresh router, another revision) gets it again.
        let again = targets(cache.discover(later, None, no_fetch));
        assert_eq!(again.revision, first.revision);
        assert_eq!(
            targets(cache.discover(later, Some(7), no_fetch)).revision,
            first.revision
        );

        // Due again, same list: same revision, so unchanged.
        let t1 = t0 + REFRESH;
        assert!(unchanged(cache.discover(
            t1,
            Some(first.revision),
            fetch(list(1))
        )));

        // A different list: a new revision.
        let t2 = t1 + REFRESH;
        let changed = targets(cache.discover(t2, Some(first.revision), fetch(list(2))));
        assert_ne!(changed.revision, first.revision);
        assert_eq!(changed.targets[0].meta("players"), Some("2"));
        assert_eq!(cache.revision(), Some(changed.revision));
        assert_eq!(fetches, 3);
    }

    #[test]
    fn revision_is_the_content_not_the_instance() {
        // Two instances (two caches) that fetched the same list agree on its
        // revision, whatever happened before.
        let t0 = Instant::now();
        let mut a = Cache::new(REFRESH);
        let mut b = Cache::new(REFRESH);
        targets(a.discover(t0, None, || Ok(list(5))));
        targets(a.discover(t0 + REFRESH, None, || Ok(list(1))));
        let rb = targets(b.discover(t0, None, || Ok(list(1)))).revision;
        assert_eq!(a.revision(), Some(rb));
        assert_ne!(revision(&list(1)), revision(&list(5)));
        assert_ne!(revision(&[]), revision(&list(1)));
    }

    #[test]
    fn keeps_the_last_good_list_while_the_endpoint_fails() {
        let t0 = Instant::now();
        let mut cache = Cache::new(REFRESH);
        let good = targets(cache.discover(t0, None, || Ok(list(1))));

        let t1 = t0 + REFRESH;
        let down = || Err("GET http://b/: connection refused by b:80".to_owned());
        assert!(unchanged(cache.discover(t1, Some(good.revision), down)));
        assert_eq!(
            targets(cache.discover(t1, None, down)).revision,
            good.revision
        );
        assert_eq!(
            cache.failing.as_deref(),
            Some("GET http://b/: connection refused by b:80")
        );

        // A bad answer is a failure too, the good list stays.
        let t2 = t1 + REFRESH;
        let bad = || parse_targets(b"{}").map_err(|e| format!("GET http://b/: {e}"));
        assert!(unchanged(cache.discover(t2, Some(good.revision), bad)));

        // Back up with a new list.
        let t3 = t2 + REFRESH;
        let back = targets(cache.discover(t3, Some(good.revision), || Ok(list(3))));
        assert_ne!(back.revision, good.revision);
        assert!(cache.failing.is_none());
    }

    #[test]
    fn an_error_only_while_there_never_was_a_list() {
        let t0 = Instant::now();
        let mut cache = Cache::new(REFRESH);
        let denied = || {
            Err(
                "request to b:80 denied by the router: not in this plugin's http_allow grant"
                    .to_owned(),
            )
        };
        let e = cache.discover(t0, None, denied).unwrap_err();
        assert!(
            e.contains("no target list yet") && e.contains("http_allow"),
            "{e}"
        );

        // Until the next refresh the same error, without asking the endpoint.
        let no_fetch = || -> Result<Vec<Target>, String> { panic!("fetched too early") };
        let e2 = cache
            .discover(t0 + Duration::from_millis(10), None, no_fetch)
            .unwrap_err();
        assert_eq!(e, e2);

        // Then it is asked again, and an empty list is a good list.
        let empty = targets(cache.discover(t0 + REFRESH, None, || Ok(Vec::new())));
        assert!(empty.targets.is_empty());
        assert_eq!(empty.revision, revision(&[]));
    }

    #[test]
    fn natively_the_fetch_fails_with_a_clear_error() {
        let mut p = plugin(r#"{"url": "http://127.0.0.1:1/targets"}"#).unwrap();
        let e = p.discover(&Player::example(), None).unwrap_err();
        assert!(
            e.contains("no target list yet") && e.contains("only inside the router"),
            "{e}"
        );
    }
}
