//! Command line: parsing, hard caps, and the loopback rule.

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use clap::{Parser, ValueEnum};

/// Most connections in flight at once.
pub const MAX_CONCURRENCY: usize = 10_000;
/// Most connections one run may attempt.
pub const MAX_COUNT: u64 = 10_000_000;
/// Longest run; also the deadline of a run given only `--count`.
pub const MAX_DURATION: Duration = Duration::from_secs(3600);
const MAX_CONNECT_TIMEOUT: Duration = Duration::from_secs(60);
const MAX_REQUEST_TIMEOUT: Duration = Duration::from_secs(300);
/// Longest `--name-prefix`: the rest of the 16 characters (at least 6 digits)
/// keeps names in flight at once distinct.
pub const MAX_PREFIX: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// Handshake (intent 1), status request, ping; checks the pong.
    Status,
    /// Login without encryption, configuration, until the Transfer.
    OfflineLogin,
    /// Login with encryption and a session-server `join`, until the Transfer.
    OnlineLogin,
    /// One login per worker to get cookies, then reconnects (intent 3) with them.
    CookieReconnect,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Status => "status",
            Mode::OfflineLogin => "offline-login",
            Mode::OnlineLogin => "online-login",
            Mode::CookieReconnect => "cookie-reconnect",
        }
    }
}

/// Load generator for Minecraft Java Edition routers (Passage or any other):
/// status pings, logins up to the Transfer, cookie reconnects. Stops by itself
/// (after --count connections or --duration, at most 1 h) or on Ctrl-C, and
/// prints a report.
#[derive(Debug, Parser)]
#[command(name = "passage-loadgen", version)]
pub struct Args {
    /// Server to load, HOST:PORT. Must be loopback unless --allow-non-loopback.
    #[arg(long)]
    pub target: String,
    #[arg(long, value_enum)]
    pub mode: Mode,
    /// Connections in flight at once (one worker each), at most 10000.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Stop after this many connections (at most 10000000).
    #[arg(long)]
    pub count: Option<u64>,
    /// Stop after this long (e.g. 10s, 500ms, 2m; at most 1h).
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Protocol version sent in the handshake (login modes: 766 or newer).
    #[arg(long, default_value_t = 767)]
    pub protocol: i32,
    /// Player names are PREFIX + a number (16 characters at most).
    #[arg(long, default_value = "Bot")]
    pub name_prefix: String,
    /// An external session server (HOST:PORT, plain HTTP) to post `join` to,
    /// instead of the built-in one.
    #[arg(long)]
    pub session_server: Option<String>,
    /// Port on 127.0.0.1 for the built-in session server (default: any free one).
    #[arg(long)]
    pub session_server_port: Option<u16>,
    /// cookie-reconnect: collect the cookies with an offline login.
    #[arg(long)]
    pub offline: bool,
    /// Server address sent in the handshake (default: the target's IP).
    #[arg(long)]
    pub server_address: Option<String>,
    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Deadline of the TCP connect.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub connect_timeout: Duration,
    /// Deadline of one exchange, from connected to the pong or the Transfer.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub request_timeout: Duration,
    /// Router process to measure: CPU time used during the run per connection
    /// (Linux, /proc/PID/stat).
    #[arg(long)]
    pub router_pid: Option<u32>,
    /// Allow a target (or session server) that is not a loopback address.
    #[arg(long)]
    pub allow_non_loopback: bool,
}

/// Where the online modes' client posts `join`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Session {
    /// Not needed (status, offline login).
    None,
    /// Start `passage_tests::session_server::SessionServer`, optionally
    /// reachable on this fixed port of 127.0.0.1.
    BuiltIn {
        port: Option<u16>,
    },
    External(SocketAddr),
}

/// A validated run.
#[derive(Debug, Clone)]
pub struct Config {
    pub target: SocketAddr,
    pub mode: Mode,
    /// Workers: `--concurrency`, but never more than `--count`.
    pub workers: usize,
    pub count: Option<u64>,
    pub duration: Option<Duration>,
    pub protocol: i32,
    pub name_prefix: String,
    pub session: Session,
    pub server_address: String,
    pub json: bool,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    pub router_pid: Option<u32>,
}

impl Config {
    /// When the run stops at the latest.
    pub fn deadline(&self) -> Duration {
        self.duration.unwrap_or(MAX_DURATION)
    }
}

/// `10s`, `500ms`, `2m`, `1h`, `1.5s`; a bare number is seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{s}` is not a duration (e.g. 10s, 500ms, 2m)"))?;
    let seconds = match unit.trim() {
        "" | "s" => value,
        "ms" => value / 1000.0,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        other => return Err(format!("unknown unit `{other}` in `{s}` (ms, s, m, h)")),
    };
    if !seconds.is_finite() || seconds > 1e9 {
        return Err(format!("`{s}` is too long"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

fn resolve(what: &str, s: &str) -> Result<SocketAddr, String> {
    s.to_socket_addrs()
        .map_err(|e| format!("{what} `{s}`: {e} (expected HOST:PORT)"))?
        .next()
        .ok_or_else(|| format!("{what} `{s}` resolves to no address"))
}

fn loopback_only(what: &str, addr: SocketAddr, allowed: bool) -> Result<(), String> {
    if addr.ip().is_loopback() || allowed {
        Ok(())
    } else {
        Err(format!(
            "{what} {addr} is not a loopback address; pass --allow-non-loopback to load \
             another machine (only where you are allowed to)"
        ))
    }
}

/// Checks every bound and rule; the error names the option.
pub fn validate(args: Args) -> Result<Config, String> {
    if args.count.is_none() && args.duration.is_none() {
        return Err("give --count N, --duration D, or both (the run stops at the first)".into());
    }
    if let Some(count) = args.count
        && !(1..=MAX_COUNT).contains(&count)
    {
        return Err(format!("--count must be 1..={MAX_COUNT}"));
    }
    if let Some(d) = args.duration
        && (d.is_zero() || d > MAX_DURATION)
    {
        return Err("--duration must be more than 0 and at most 1h".into());
    }
    if !(1..=MAX_CONCURRENCY).contains(&args.concurrency) {
        return Err(format!("--concurrency must be 1..={MAX_CONCURRENCY}"));
    }
    if args.connect_timeout.is_zero() || args.connect_timeout > MAX_CONNECT_TIMEOUT {
        return Err("--connect-timeout must be more than 0 and at most 60s".into());
    }
    if args.request_timeout.is_zero() || args.request_timeout > MAX_REQUEST_TIMEOUT {
        return Err("--request-timeout must be more than 0 and at most 300s".into());
    }
    let login = args.mode != Mode::Status;
    if args.protocol < 0 || (login && args.protocol < 766) {
        return Err(
            "--protocol: the login modes need 766 (1.20.5, the first with Transfer) or newer"
                .into(),
        );
    }
    let prefix = &args.name_prefix;
    if prefix.is_empty()
        || prefix.len() > MAX_PREFIX
        || !prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return Err(format!(
            "--name-prefix must be 1..={MAX_PREFIX} characters of A-Z, a-z, 0-9, _"
        ));
    }
    if args.offline && args.mode != Mode::CookieReconnect {
        return Err("--offline applies to cookie-reconnect only".into());
    }
    let online =
        args.mode == Mode::OnlineLogin || (args.mode == Mode::CookieReconnect && !args.offline);
    let session = match (&args.session_server, args.session_server_port) {
        (Some(_), Some(_)) => {
            return Err("--session-server and --session-server-port exclude each other".into());
        }
        (Some(_), None) | (None, Some(_)) if !online => {
            return Err(
                "a session server is used by online-login and cookie-reconnect (without --offline) only"
                    .into(),
            );
        }
        (Some(s), None) => {
            let addr = resolve("--session-server", s)?;
            loopback_only("--session-server", addr, args.allow_non_loopback)?;
            Session::External(addr)
        }
        (None, port) if online => Session::BuiltIn { port },
        (None, _) => Session::None,
    };
    if args.session_server_port == Some(0) {
        return Err("--session-server-port must not be 0 (leave it out for any free port)".into());
    }
    let target = resolve("--target", &args.target)?;
    loopback_only("--target", target, args.allow_non_loopback)?;
    let server_address = args
        .server_address
        .unwrap_or_else(|| target.ip().to_string());
    if server_address.is_empty() || server_address.len() > 255 {
        return Err("--server-address must be 1..=255 bytes".into());
    }
    let workers = match args.count {
        Some(count) => args
            .concurrency
            .min(usize::try_from(count).unwrap_or(usize::MAX)),
        None => args.concurrency,
    };
    Ok(Config {
        target,
        mode: args.mode,
        workers,
        count: args.count,
        duration: args.duration,
        protocol: args.protocol,
        name_prefix: args.name_prefix,
        session,
        server_address,
        json: args.json,
        connect_timeout: args.connect_timeout,
        request_timeout: args.request_timeout,
        router_pid: args.router_pid,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<Config, String> {
        let args =
            Args::try_parse_from(std::iter::once("passage-loadgen").chain(line.split_whitespace()))
                .map_err(|e| e.to_string())?;
        validate(args)
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("10 parsecs").is_err());
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn a_minimal_run() {
        let c = parse("--target 127.0.0.1:25565 --mode status --count 100").unwrap();
        assert_eq!(c.mode, Mode::Status);
        assert_eq!(c.workers, 16);
        assert_eq!(c.count, Some(100));
        assert_eq!(c.duration, None);
        assert_eq!(c.deadline(), MAX_DURATION, "a count-only run still ends");
        assert_eq!(c.protocol, 767);
        assert_eq!(c.server_address, "127.0.0.1");
        assert_eq!(c.session, Session::None);
        assert_eq!(c.connect_timeout, Duration::from_secs(5));
        assert_eq!(c.request_timeout, Duration::from_secs(10));
    }

    #[test]
    fn count_or_duration_is_required_and_both_are_allowed() {
        let e = parse("--target 127.0.0.1:25565 --mode status").unwrap_err();
        assert!(e.contains("--count"), "{e}");
        let c = parse("--target 127.0.0.1:1 --mode status --count 5 --duration 2s").unwrap();
        assert_eq!(
            (c.count, c.duration),
            (Some(5), Some(Duration::from_secs(2)))
        );
        assert_eq!(c.workers, 5, "no more workers than connections");
        let c = parse("--target 127.0.0.1:1 --mode status --duration 2s --concurrency 3").unwrap();
        assert_eq!((c.workers, c.deadline()), (3, Duration::from_secs(2)));
    }

    #[test]
    fn hard_caps() {
        let base = "--target 127.0.0.1:25565 --mode status";
        assert!(parse(&format!("{base} --count 10000000")).is_ok());
        assert!(parse(&format!("{base} --count 10000001")).is_err());
        assert!(parse(&format!("{base} --count 0")).is_err());
        assert!(parse(&format!("{base} --duration 1h")).is_ok());
        assert!(parse(&format!("{base} --duration 3601s")).is_err());
        assert!(parse(&format!("{base} --duration 0s")).is_err());
        assert!(parse(&format!("{base} --count 1 --concurrency 10000")).is_ok());
        assert!(parse(&format!("{base} --count 1 --concurrency 10001")).is_err());
        assert!(parse(&format!("{base} --count 1 --concurrency 0")).is_err());
        assert!(parse(&format!("{base} --count 1 --connect-timeout 0s")).is_err());
        assert!(parse(&format!("{base} --count 1 --request-timeout 301s")).is_err());
    }

    #[test]
    fn non_loopback_targets_need_the_flag() {
        let e = parse("--target 192.0.2.1:25565 --mode status --count 1").unwrap_err();
        assert!(e.contains("--allow-non-loopback"), "{e}");
        assert!(
            parse("--target 192.0.2.1:25565 --mode status --count 1 --allow-non-loopback").is_ok()
        );
        assert!(parse("--target [::1]:25565 --mode status --count 1").is_ok());
        assert!(parse("--target 127.0.0.2:25565 --mode status --count 1").is_ok());
        let e = parse(
            "--target 127.0.0.1:25565 --mode online-login --count 1 --session-server 192.0.2.1:80",
        )
        .unwrap_err();
        assert!(e.contains("--allow-non-loopback"), "{e}");
        assert!(
            parse("--target 127.0.0.1 --mode status --count 1").is_err(),
            "port needed"
        );
    }

    #[test]
    fn session_server_choice() {
        let base = "--target 127.0.0.1:25565 --count 1";
        let c = parse(&format!("{base} --mode online-login")).unwrap();
        assert_eq!(c.session, Session::BuiltIn { port: None });
        let c = parse(&format!(
            "{base} --mode online-login --session-server-port 8765"
        ))
        .unwrap();
        assert_eq!(c.session, Session::BuiltIn { port: Some(8765) });
        let c = parse(&format!(
            "{base} --mode cookie-reconnect --session-server 127.0.0.1:9"
        ))
        .unwrap();
        assert_eq!(c.session, Session::External("127.0.0.1:9".parse().unwrap()));
        let c = parse(&format!("{base} --mode cookie-reconnect --offline")).unwrap();
        assert_eq!(c.session, Session::None);
        assert!(
            parse(&format!(
                "{base} --mode offline-login --session-server-port 8765"
            ))
            .is_err()
        );
        assert!(parse(&format!("{base} --mode status --offline")).is_err());
        assert!(
            parse(&format!(
                "{base} --mode online-login --session-server 127.0.0.1:9 --session-server-port 8"
            ))
            .is_err()
        );
    }

    #[test]
    fn login_protocol_and_names() {
        let base = "--target 127.0.0.1:25565 --count 1";
        assert!(parse(&format!("{base} --mode offline-login --protocol 765")).is_err());
        assert!(parse(&format!("{base} --mode offline-login --protocol 766")).is_ok());
        assert!(parse(&format!("{base} --mode status --protocol 47")).is_ok());
        assert!(parse(&format!("{base} --mode offline-login --name-prefix Bot_1")).is_ok());
        assert!(parse(&format!("{base} --mode offline-login --name-prefix Bot-1")).is_err());
        assert!(
            parse(&format!(
                "{base} --mode offline-login --name-prefix ABCDEFGHIJK"
            ))
            .is_err()
        );
        assert!(
            parse(&format!(
                "{base} --mode offline-login --name-prefix ABCDEFGHIJ"
            ))
            .is_ok()
        );
    }

    #[test]
    fn unknown_mode_is_rejected_by_clap() {
        assert!(parse("--target 127.0.0.1:25565 --mode flood --count 1").is_err());
    }
}
