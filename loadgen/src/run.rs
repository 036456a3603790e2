//! The run: workers, the stop (count, duration, Ctrl-C), the report.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use passage_tests::session_server::{Behavior, SessionServer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Barrier, watch};

use crate::cli::{Config, Mode, Session};
use crate::cpu::Cpu;
use crate::proto::{Player, Target, login_once, status_once};
use crate::stats::{CookieSetup, Errors, Failure, Latency, Report, Tally};

/// First logins a cookie-reconnect worker tries before it gives up.
const SETUP_TRIES: u32 = 3;
const AUTH_COOKIE: &str = "passage:authentication";

/// `{prefix}{n}`, at most 16 characters: `n` wraps at the digits left over
/// (at least 10^6, more than the connections ever in flight).
pub fn player_name(prefix: &str, n: u64) -> String {
    let digits = 16usize.saturating_sub(prefix.len()).min(19) as u32;
    format!("{prefix}{}", n % 10u64.pow(digits))
}

/// A distinct UUID per player number (a version-4 layout).
pub fn player_uuid(n: u64) -> u128 {
    0x10ad_0000_0000_4000_8000_0000_0000_0000 | u128::from(n)
}

/// What every worker shares.
struct Shared {
    target: Target,
    mode: Mode,
    count: Option<u64>,
    prefix: String,
    /// Where the client posts `join` (online logins).
    session: Option<SocketAddr>,
    workers: usize,
    tickets: AtomicU64,
    /// cookie-reconnect: every worker's first login done (or given up).
    barrier: Barrier,
    /// When the measured part of the run began.
    started: OnceLock<Instant>,
    cpu: Option<Cpu>,
    cpu_before: OnceLock<u64>,
    go: watch::Sender<Option<Instant>>,
    warned_no_cookie: AtomicBool,
}

impl Shared {
    /// Starts the measured part: the clock, the router CPU, the duration.
    fn go(&self) {
        let now = Instant::now();
        if self.started.set(now).is_ok() {
            if let Some(cpu) = &self.cpu
                && let Ok(ticks) = cpu.ticks()
            {
                let _ = self.cpu_before.set(ticks);
            }
            self.go.send_replace(Some(now));
        }
    }

    /// The next connection number, unless the run is over.
    fn claim(&self, stop: &watch::Receiver<bool>) -> Option<u64> {
        if *stop.borrow() {
            return None;
        }
        let n = self.tickets.fetch_add(1, Ordering::Relaxed);
        match self.count {
            Some(count) if n >= count => None,
            _ => Some(n),
        }
    }
}

/// Polls a future, turning a panic (say, in the test client on a malformed
/// compressed packet) into a `protocol` failure.
struct CatchUnwind<F: Future>(Pin<Box<F>>);

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, Failure>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = self.0.as_mut();
        match std::panic::catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Err(payload) => {
                let msg = payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                Poll::Ready(Err(Failure::protocol(format!("client panicked: {msg}"))))
            }
        }
    }
}

/// Resolves once the run is told to stop.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    if stop.wait_for(|s| *s).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Runs one attempt unless the stop comes first (`None`: cancelled).
async fn guarded<T>(
    stop: &mut watch::Receiver<bool>,
    attempt: impl Future<Output = Result<T, Failure>>,
) -> Option<Result<T, Failure>> {
    let attempt = CatchUnwind(Box::pin(attempt));
    tokio::select! {
        biased;
        _ = stopped(stop) => None,
        result = attempt => Some(result.and_then(|r| r)),
    }
}

async fn worker(id: usize, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) -> Tally {
    let mut tally = Tally::default();
    if let Some(count) = shared.count {
        let share = count / shared.workers.max(1) as u64 + 1;
        tally
            .latencies_us
            .reserve(usize::try_from(share.min(1 << 16)).unwrap_or(0));
    }
    if shared.mode == Mode::CookieReconnect {
        cookie_worker(id, &shared, &mut stop, &mut tally).await;
        return tally;
    }
    let none = HashMap::new();
    while let Some(n) = shared.claim(&stop) {
        let name = player_name(&shared.prefix, n);
        let player = Player {
            name: &name,
            uuid: player_uuid(n),
            intent: 2,
            session: shared.session,
            cookies: &none,
        };
        let attempt = async {
            match shared.mode {
                Mode::Status => status_once(&shared.target, (n as i64) ^ 0x5eed_1e55).await,
                _ => login_once(&shared.target, &player).await.map(|t| t.latency),
            }
        };
        match guarded(&mut stop, attempt).await {
            None => {
                tally.cancelled += 1;
                break;
            }
            Some(Ok(latency)) => tally.success(latency),
            Some(Err(failure)) => tally.failure(&failure),
        }
    }
    tally
}

/// cookie-reconnect: one first login (not counted) for the cookies, the
/// barrier, then reconnects with intent 3 presenting the latest cookies.
async fn cookie_worker(
    id: usize,
    shared: &Shared,
    stop: &mut watch::Receiver<bool>,
    tally: &mut Tally,
) {
    let name = player_name(&shared.prefix, id as u64);
    let uuid = player_uuid(id as u64);
    let none = HashMap::new();
    let mut cookies = None;
    for attempt in 0..SETUP_TRIES {
        if attempt > 0 {
            let pause = tokio::time::sleep(Duration::from_millis(250));
            tokio::select! {
                _ = stopped(stop) => return,
                _ = pause => {}
            }
        }
        tally.setup_attempted += 1;
        let player = Player {
            name: &name,
            uuid,
            intent: 2,
            session: shared.session,
            cookies: &none,
        };
        match guarded(stop, login_once(&shared.target, &player)).await {
            None => return,
            Some(Ok(t)) => {
                cookies = Some(t.cookies);
                break;
            }
            Some(Err(failure)) => {
                tally.setup_failed += 1;
                tally.setup_errors.record(&failure);
            }
        }
    }
    if let Some(held) = &cookies
        && !held.contains_key(AUTH_COOKIE)
        && !shared.warned_no_cookie.swap(true, Ordering::Relaxed)
    {
        eprintln!(
            "passage-loadgen: the server stored no {AUTH_COOKIE} cookie (is auth_secret_file \
             set?); reconnects will authenticate in full"
        );
    }
    // Everyone's first login is done (or given up) before the clock starts.
    tokio::select! {
        _ = stopped(stop) => return,
        wait = shared.barrier.wait() => if wait.is_leader() { shared.go() },
    }
    let Some(mut cookies) = cookies else { return };
    while shared.claim(stop).is_some() {
        let player = Player {
            name: &name,
            uuid,
            intent: 3,
            session: shared.session,
            cookies: &cookies,
        };
        let result = guarded(stop, login_once(&shared.target, &player)).await;
        match result {
            None => {
                tally.cancelled += 1;
                break;
            }
            Some(Ok(t)) => {
                if t.encrypted {
                    tally.full_auth_reconnects += 1;
                }
                tally.success(t.latency);
                cookies.extend(t.cookies);
            }
            Some(Err(failure)) => tally.failure(&failure),
        }
    }
}

/// Forwards a fixed port to the built-in session server (which binds any free
/// port), so the router can be configured before the run.
async fn forward(listener: TcpListener, to: SocketAddr) {
    loop {
        let Ok((mut inbound, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(async move {
            if let Ok(mut outbound) = TcpStream::connect(to).await {
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            }
        });
    }
}

async fn ctrl_c() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}

pub async fn run(cfg: Config) -> anyhow::Result<Report> {
    let mut _session_server = None;
    let session = match cfg.session {
        Session::None => None,
        Session::External(addr) => Some(addr),
        Session::BuiltIn { port } => {
            let server = SessionServer::start(Behavior::Normal).await;
            let url = match port {
                None => server.url(),
                Some(port) => {
                    let listener = TcpListener::bind(("127.0.0.1", port))
                        .await
                        .with_context(|| format!("--session-server-port {port}"))?;
                    tokio::spawn(forward(listener, server.addr));
                    format!("http://127.0.0.1:{port}")
                }
            };
            eprintln!(
                "passage-loadgen: session server at {url}; configure the router with \
                 auth.session_server = \"{url}\""
            );
            let addr = server.addr;
            _session_server = Some(server);
            Some(addr)
        }
    };
    let cpu = match cfg.router_pid {
        Some(pid) => Some(Cpu::new(pid).with_context(|| format!("--router-pid {pid}"))?),
        None => None,
    };
    let (go_tx, mut go_rx) = watch::channel(None);
    let shared = Arc::new(Shared {
        target: Target {
            addr: cfg.target,
            protocol: cfg.protocol,
            server_address: cfg.server_address.clone(),
            connect_timeout: cfg.connect_timeout,
            request_timeout: cfg.request_timeout,
        },
        mode: cfg.mode,
        count: cfg.count,
        prefix: cfg.name_prefix.clone(),
        session,
        workers: cfg.workers,
        tickets: AtomicU64::new(0),
        barrier: Barrier::new(cfg.workers),
        started: OnceLock::new(),
        cpu,
        cpu_before: OnceLock::new(),
        go: go_tx,
        warned_no_cookie: AtomicBool::new(false),
    });
    eprintln!(
        "passage-loadgen: {} against {}, {} workers, until {}{}{}",
        cfg.mode.name(),
        cfg.target,
        cfg.workers,
        cfg.count
            .map_or(String::new(), |c| format!("{c} connections")),
        if cfg.count.is_some() && cfg.duration.is_some() {
            " or "
        } else {
            ""
        },
        cfg.duration.map_or(String::new(), |d| format!("{d:?}")),
    );

    let (stop_tx, stop_rx) = watch::channel(false);
    let limit = cfg.deadline();
    let stopper = tokio::spawn(async move {
        let elapsed = async {
            let _ = go_rx.wait_for(Option::is_some).await;
            tokio::time::sleep(limit).await;
        };
        let reason = tokio::select! {
            _ = ctrl_c() => "interrupted",
            _ = elapsed => "duration",
        };
        let _ = stop_tx.send(true);
        reason
    });

    if cfg.mode != Mode::CookieReconnect {
        shared.go();
    }
    let mut handles = Vec::with_capacity(cfg.workers);
    for id in 0..cfg.workers {
        handles.push(tokio::spawn(worker(id, shared.clone(), stop_rx.clone())));
    }
    let mut tally = Tally::default();
    for handle in handles {
        match handle.await {
            Ok(t) => tally.merge(t),
            Err(e) => eprintln!("passage-loadgen: a worker failed: {e}"),
        }
    }
    let ended = Instant::now();
    let stopped_by = if stopper.is_finished() {
        stopper.await.unwrap_or("interrupted")
    } else {
        stopper.abort();
        if cfg.count.is_some() { "count" } else { "done" }
    };
    let started = shared.started.get().copied().unwrap_or(ended);
    let elapsed = ended.duration_since(started).as_secs_f64();

    let (mut router_cpu_seconds, mut router_cpu_us_per_connection) = (None, None);
    if let (Some(cpu), Some(before)) = (&shared.cpu, shared.cpu_before.get()) {
        match cpu.ticks() {
            Ok(after) => {
                let seconds = cpu.to_duration(after.saturating_sub(*before)).as_secs_f64();
                router_cpu_seconds = Some(seconds);
                if tally.attempted > 0 {
                    router_cpu_us_per_connection = Some(seconds * 1e6 / tally.attempted as f64);
                }
            }
            Err(e) => eprintln!("passage-loadgen: router CPU after the run: {e}"),
        }
    }
    let cookie = (cfg.mode == Mode::CookieReconnect).then(|| CookieSetup {
        setup_logins_attempted: tally.setup_attempted,
        setup_logins_failed: tally.setup_failed,
        setup_errors: std::mem::take(&mut tally.setup_errors.counts),
        reconnects_fully_authenticated: tally.full_auth_reconnects,
    });
    let Errors { counts, examples } = std::mem::take(&mut tally.errors);
    Ok(Report {
        mode: cfg.mode.name(),
        target: cfg.target.to_string(),
        protocol: cfg.protocol,
        concurrency: cfg.workers,
        stopped_by,
        connections_attempted: tally.attempted,
        connections_succeeded: tally.succeeded,
        connections_failed: tally.attempted - tally.succeeded,
        cancelled_in_flight: tally.cancelled,
        errors: counts,
        error_examples: examples,
        elapsed_seconds: elapsed,
        connections_per_second: if elapsed > 0.0 {
            tally.succeeded as f64 / elapsed
        } else {
            0.0
        },
        latency_us: Latency::of(&mut tally.latencies_us),
        router_cpu_seconds,
        router_cpu_us_per_connection,
        cookie,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_sixteen_characters() {
        assert_eq!(player_name("Bot", 0), "Bot0");
        assert_eq!(player_name("Bot", 12345), "Bot12345");
        assert_eq!(player_name("ABCDEFGHIJ", 999_999), "ABCDEFGHIJ999999");
        assert_eq!(player_name("ABCDEFGHIJ", 1_000_001), "ABCDEFGHIJ1");
        assert!(player_name("Bot", u64::MAX).len() <= 16);
        assert_ne!(player_uuid(1), player_uuid(2));
    }

    #[tokio::test]
    async fn a_panicking_attempt_is_a_protocol_failure() {
        let (_tx, mut rx) = watch::channel(false);
        let result = guarded(&mut rx, async { truncated() }).await;
        let failure = result.unwrap().unwrap_err();
        assert_eq!(failure.kind, crate::stats::Kind::Protocol);
        assert!(failure.detail.contains("VarInt truncated"));
    }

    fn truncated() -> Result<(), Failure> {
        panic!("VarInt truncated")
    }

    #[tokio::test]
    async fn the_stop_cancels_an_attempt_in_flight() {
        let (tx, mut rx) = watch::channel(false);
        tx.send(true).unwrap();
        let result = guarded(&mut rx, std::future::pending::<Result<(), Failure>>()).await;
        assert!(result.is_none());
    }
}
