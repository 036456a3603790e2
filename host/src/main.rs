//! `passage`: command line, logging set-up and start-up of the router.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use passage::config::Config;
use passage::reload::{Active, Live, Reloader};
use passage::{plugins, server};

/// A Minecraft transfer router whose routing logic lives in WebAssembly plugins.
///
/// Without a subcommand, runs the router (`passage run`).
#[derive(Debug, Parser)]
#[command(version, about, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the router (the default).
    Run(RunArgs),
    /// Work with configuration files.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Work with the shared auth secret.
    #[command(subcommand)]
    Secret(SecretCommand),
    /// List the running router's plugins: role, contract version, limits,
    /// capabilities and health (from its /plugins endpoint on `metrics.bind`).
    Plugins {
        /// Configuration file, to find `metrics.bind`.
        #[arg(long, short, env = "PASSAGE_CONFIG")]
        config: Option<PathBuf>,
        /// The router's metrics address, overriding the configuration's.
        #[arg(long)]
        admin: Option<SocketAddr>,
        /// Print the raw JSON.
        #[arg(long)]
        json: bool,
    },
    /// Work with one plugin file.
    #[command(subcommand)]
    Plugin(PluginCommand),
}

#[derive(Debug, Subcommand)]
enum PluginCommand {
    /// Load a `.wasm` exactly as the router would (compile, check it implements
    /// the contract, link it, call `configure` with its table from the
    /// configuration) without starting the router. Exit code 0 when it would
    /// load, 1 otherwise.
    Check {
        file: PathBuf,
        /// Configuration file holding the plugin's table and grants.
        #[arg(long, short, env = "PASSAGE_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Everything to know before adopting a plugin, without running it: its
    /// manifest, SHA-256, signature, imports, the capabilities it asks for
    /// against those the configuration grants, and the grant lines to add.
    /// TARGET is a file or an OCI reference (REGISTRY/REPO:TAG).
    Inspect {
        target: String,
        /// Configuration file holding the plugin's table, grants and trusted keys.
        #[arg(long, short, env = "PASSAGE_CONFIG")]
        config: Option<PathBuf>,
        /// The name it would be installed under (default: the file name, or the
        /// manifest's name for a reference).
        #[arg(long)]
        name: Option<String>,
        /// Plain HTTP to a registry that is not on this machine.
        #[arg(long)]
        insecure: bool,
    },
    /// Pin every plugin of the plugins directory: write its SHA-256 into
    /// `[plugin_runtime.grants.<name>] sha256` of the configuration file,
    /// keeping the file's comments.
    Lock {
        /// The configuration file to edit (created if missing).
        #[arg(long, short, env = "PASSAGE_CONFIG", default_value = "passage.toml")]
        config: PathBuf,
        /// The plugins directory (default: plugin_runtime.dir of the configuration).
        #[arg(long)]
        plugins_dir: Option<PathBuf>,
    },
    /// Work with the manifest inside a component.
    #[command(subcommand)]
    Manifest(ManifestCommand),
    /// Make a signing key pair (minisign format, no password): PREFIX.key and PREFIX.pub.
    Keygen {
        #[arg(long, short, default_value = "passage-signing")]
        output: PathBuf,
        /// Replace existing key files.
        #[arg(long)]
        force: bool,
    },
    /// Sign a plugin: writes FILE.minisig (minisign format). An encrypted key's
    /// password is read from PASSAGE_KEY_PASSWORD.
    Sign {
        file: PathBuf,
        /// The secret key (`passage plugin keygen`, or `minisign -G`).
        #[arg(long, short)]
        key: PathBuf,
    },
    /// Publish a plugin to an OCI registry (the wasm artifact layout; its
    /// .minisig, if any, travels as an annotation). Credentials, if needed:
    /// PASSAGE_REGISTRY_USERNAME and PASSAGE_REGISTRY_PASSWORD.
    Push {
        file: PathBuf,
        /// REGISTRY/REPO:TAG
        reference: String,
        /// Plain HTTP to a registry that is not on this machine.
        #[arg(long)]
        insecure: bool,
    },
    /// Download a plugin from an OCI registry into the plugins directory, after
    /// checking its digests, its pin and the signature policy; it appears whole
    /// (a running router hot-loads it).
    Pull {
        /// REGISTRY/REPO:TAG or REGISTRY/REPO@sha256:DIGEST
        reference: String,
        /// The plugin's name (file `<name>.wasm`); default: its manifest's name.
        #[arg(long)]
        name: Option<String>,
        /// Configuration file: plugins directory, pins, trusted keys, policy.
        #[arg(long, short, env = "PASSAGE_CONFIG")]
        config: Option<PathBuf>,
        /// The plugins directory (default: plugin_runtime.dir of the configuration).
        #[arg(long)]
        plugins_dir: Option<PathBuf>,
        /// Plain HTTP to a registry that is not on this machine.
        #[arg(long)]
        insecure: bool,
    },
    /// Start a new plugin from the templates (docs/plugins/templates/).
    New {
        name: String,
        #[arg(long, value_enum, default_value = "rust")]
        lang: passage::plugin_cli::scaffold::Lang,
        /// What it does: pick targets (`strategy`, contract 0.1.0) or let
        /// players in (`admission`, contract 0.3.0).
        #[arg(long, value_enum, default_value = "strategy")]
        role: passage::plugin_cli::scaffold::Role,
        /// Where to create it (default: ./NAME).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// The passage-sdk crate a Rust plugin depends on (the sdk/ folder of a
        /// Passage checkout); default ../passage/sdk.
        #[arg(long)]
        sdk: Option<PathBuf>,
    },
    /// Run a strategy or router plugin through the real runtime against
    /// generated or given players and targets, and print what it chose, how
    /// often, and how long each call took. Nobody is routed.
    Simulate {
        file: PathBuf,
        /// Generated players.
        #[arg(long, default_value_t = 1000)]
        players: usize,
        /// Players from a JSON file: [{"name", "uuid"?, "client_ip"?, "server_address"?, "locale"?}].
        #[arg(long, conflicts_with = "players")]
        players_file: Option<PathBuf>,
        /// Generated targets (with players, max_players, group and weight metadata).
        #[arg(long, default_value_t = 5)]
        targets: usize,
        /// Targets from a JSON file: [{"id", "host", "port", "metadata"}] (as fixed-discovery takes them).
        #[arg(long, conflicts_with = "targets")]
        targets_file: Option<PathBuf>,
        /// The server address generated players typed.
        #[arg(long, default_value = "play.example.com")]
        address: String,
        /// Seed of the generated metadata.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Configuration file holding the plugin's table and grants.
        #[arg(long, short, env = "PASSAGE_CONFIG")]
        config: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum ManifestCommand {
    /// Write a manifest (JSON) into a component, replacing the one at its top
    /// level: the build step of Python and JavaScript plugins.
    Set {
        file: PathBuf,
        /// The manifest JSON.
        #[arg(long)]
        from: PathBuf,
        /// Write the result here instead of replacing FILE.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Print a component's manifest as JSON.
    Show { file: PathBuf },
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Report every problem of a configuration (file plus PASSAGE_* environment
    /// overrides) with its key's path, and check the files and plugins it names.
    /// Exit code 0 when the router would start with it, 2 otherwise.
    Check {
        /// The file to check; without one, the defaults plus the environment.
        file: Option<PathBuf>,
        /// Ignore PASSAGE_* environment variables.
        #[arg(long)]
        no_env: bool,
    },
}

#[derive(Debug, Subcommand)]
enum SecretCommand {
    /// Write a new random auth secret (256 bits, base64) to PATH with mode 0600.
    Generate {
        path: PathBuf,
        /// Replace an existing file.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Clone, Args)]
struct RunArgs {
    /// Configuration file (TOML). Without one, every setting has its default.
    /// PASSAGE_<KEY> environment variables override it (see the example config).
    #[arg(long, short, env = "PASSAGE_CONFIG")]
    config: Option<PathBuf>,
    /// Listen address, overriding `bind` from the file and the environment.
    #[arg(long)]
    bind: Option<SocketAddr>,
    /// Plugins directory, overriding `plugin_runtime.dir`.
    #[arg(long)]
    plugins_dir: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        None => run_router(&cli.run),
        Some(Command::Run(args)) => run_router(&args),
        Some(Command::Config(ConfigCommand::Check { file, no_env })) => {
            let vars = if no_env { Vec::new() } else { environment() };
            let report = passage::commands::check_config(file.as_deref(), vars);
            for line in &report.overrides {
                println!("env: {line}");
            }
            for line in &report.warnings {
                println!("warning: {line}");
            }
            for line in &report.errors {
                println!("error: {line}");
            }
            if report.ok() {
                println!("ok: the router would start with this configuration");
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            }
        }
        Some(Command::Plugins {
            config,
            admin,
            json,
        }) => list_plugins(config, admin, json),
        Some(Command::Plugin(PluginCommand::Check { file, config })) => check_plugin(&file, config),
        Some(Command::Plugin(command)) => plugin_command(command),
        Some(Command::Secret(SecretCommand::Generate { path, force })) => {
            match passage::commands::generate_secret(&path, force) {
                Ok(()) => {
                    println!(
                        "wrote a new auth secret to {} (mode 0600); give the same file to every replica and backend",
                        path.display()
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("passage: {e:#}");
                    ExitCode::from(2)
                }
            }
        }
    }
}

fn list_plugins(config: Option<PathBuf>, admin: Option<SocketAddr>, json: bool) -> ExitCode {
    let addr = match admin {
        Some(addr) => addr,
        None => {
            let config = match config_for_command(config.as_deref()) {
                Ok(config) => config,
                Err(code) => return code,
            };
            let Some(mut addr) = config.metrics.addr() else {
                eprintln!(
                    "passage: metrics.bind is off, so the router has no endpoint to ask; give --admin"
                );
                return ExitCode::from(2);
            };
            if addr.ip().is_unspecified() {
                addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
            }
            addr
        }
    };
    let answer =
        match current_thread().and_then(|rt| rt.block_on(passage::commands::fetch_plugins(addr))) {
            Ok(answer) => answer,
            Err(e) => {
                eprintln!("passage: {e:#}");
                return ExitCode::FAILURE;
            }
        };
    if json {
        println!("{answer:#}");
    } else {
        print!("{}", passage::commands::render_plugins(&answer));
    }
    ExitCode::SUCCESS
}

fn check_plugin(file: &std::path::Path, config: Option<PathBuf>) -> ExitCode {
    let config = match config_for_command(config.as_deref()) {
        Ok(config) => config,
        Err(code) => return code,
    };
    // Plugin log lines (and the compile time) go to stderr, the report to stdout.
    init_logging(&config);
    match current_thread()
        .and_then(|rt| rt.block_on(passage::commands::check_plugin(file, &config)))
    {
        Ok(report) => {
            print!("{report}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("refused: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The sharing commands (`passage::plugin_cli`): the report on stdout, exit 1
/// with the reason on stderr.
fn plugin_command(command: PluginCommand) -> ExitCode {
    use passage::plugin_cli as cli;
    let config = |path: Option<&std::path::Path>| config_for_command(path);
    let result: anyhow::Result<String> = match command {
        PluginCommand::Check { .. } => unreachable!("handled by check_plugin"),
        PluginCommand::Inspect {
            target,
            config: path,
            name,
            insecure,
        } => {
            let config = match config(path.as_deref()) {
                Ok(c) => c,
                Err(code) => return code,
            };
            current_thread().and_then(|rt| {
                rt.block_on(async {
                    let subject =
                        cli::inspect::load_subject(&target, name.as_deref(), insecure).await?;
                    cli::inspect::report(&subject, &config)
                })
            })
        }
        PluginCommand::Lock {
            config: path,
            plugins_dir,
        } => {
            let dir = match plugins_dir {
                Some(dir) => dir,
                None => match config(path.exists().then_some(path.as_path())) {
                    Ok(c) => c.plugin_runtime.dir,
                    Err(code) => return code,
                },
            };
            cli::lock::lock(&path, &dir).map(|lines| {
                let mut out: String = lines.iter().map(|l| format!("{l}\n")).collect();
                out.push_str(&format!(
                    "wrote {}: a file whose digest differs from its pin is refused at start-up and on reload\n",
                    path.display()
                ));
                out
            })
        }
        PluginCommand::Manifest(ManifestCommand::Set { file, from, output }) => {
            cli::sign::manifest_set(&file, &from, output.as_deref()).map(|out| {
                format!(
                    "wrote the manifest of {} into {}\n",
                    from.display(),
                    out.display()
                )
            })
        }
        PluginCommand::Manifest(ManifestCommand::Show { file }) => {
            passage::plugins::runtime::read_wasm(&file)
                .and_then(|wasm| passage::plugins::manifest::read(&wasm))
                .and_then(|m| match m {
                    Some(m) => Ok(format!("{}\n", serde_json::to_string_pretty(&m)?)),
                    None => anyhow::bail!("{} carries no passage-manifest section", file.display()),
                })
        }
        PluginCommand::Keygen { output, force } => {
            cli::sign::keygen(&output, force).map(|(secret, public, line)| {
                format!(
                    "wrote {} (secret, mode 0600: keep it out of the repository) and {}\n\
                 public key: {line}\n\
                 operators trusting it add to [plugin_runtime]: trusted_keys = [\"{line}\"]\n",
                    secret.display(),
                    public.display()
                )
            })
        }
        PluginCommand::Sign { file, key } => cli::sign::sign(&file, &key).map(|(sig, public)| {
            format!(
                "wrote {}\nverify with: minisign -Vm {} -P {public}\n",
                sig.display(),
                file.display()
            )
        }),
        PluginCommand::Push {
            file,
            reference,
            insecure,
        } => current_thread()
            .and_then(|rt| rt.block_on(cli::publish::push(&file, &reference, insecure)))
            .map(|p| {
                format!(
                    "pushed {} as {}@{} (layer {}, {}) in {} ms\n",
                    file.display(),
                    p.reference,
                    p.manifest_digest,
                    p.layer_digest,
                    if p.signed {
                        "signed"
                    } else {
                        "unsigned: no .minisig beside it"
                    },
                    p.elapsed_ms
                )
            }),
        PluginCommand::Pull {
            reference,
            name,
            config: path,
            plugins_dir,
            insecure,
        } => {
            let mut config = match config(path.as_deref()) {
                Ok(c) => c,
                Err(code) => return code,
            };
            if let Some(dir) = plugins_dir {
                config.plugin_runtime.dir = dir;
            }
            let dir = config.plugin_runtime.dir.clone();
            current_thread()
                .and_then(|rt| {
                    rt.block_on(cli::publish::pull(&reference, name.as_deref(), &config, &dir, insecure))
                })
                .map(|p| {
                    format!(
                        "pulled {reference} ({}) into {} in {} ms\nsha256:    {}\nsignature: {}\n{}",
                        p.manifest_digest,
                        p.path.display(),
                        p.elapsed_ms,
                        p.sha256,
                        p.verdict.map(|v| v.to_string()).unwrap_or_else(|| "not checked (plugin_runtime.signatures = \"off\")".to_owned()),
                        p.next
                    )
                })
        }
        PluginCommand::New {
            name,
            lang,
            role,
            dir,
            sdk,
        } => cli::scaffold::new_plugin(&name, lang, role, dir.as_deref(), sdk.as_deref()).map(
            |(dir, files)| {
                let mut out = format!("created {} ({lang:?}):\n", dir.display());
                for f in files {
                    out.push_str(&format!("  {}\n", f.display()));
                }
                out.push_str("see its README.md to build, check and publish it\n");
                out
            },
        ),
        PluginCommand::Simulate {
            file,
            players,
            players_file,
            targets,
            targets_file,
            address,
            seed,
            config: path,
        } => {
            let config = match config(path.as_deref()) {
                Ok(c) => c,
                Err(code) => return code,
            };
            init_logging(&config);
            current_thread().and_then(|rt| {
                rt.block_on(cli::simulate::simulate(
                    &file,
                    &config,
                    cli::simulate::Options {
                        players,
                        players_file: players_file.as_deref(),
                        targets,
                        targets_file: targets_file.as_deref(),
                        address,
                        seed,
                    },
                ))
            })
        }
    };
    match result {
        Ok(report) => {
            print!("{report}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("passage: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The configuration a subcommand reads (file plus environment); on a problem,
/// the message is printed and the exit code for a bad configuration returned.
fn config_for_command(path: Option<&std::path::Path>) -> Result<Config, ExitCode> {
    Config::load(path, environment())
        .map(|loaded| loaded.config)
        .map_err(|e| {
            eprintln!("passage: {e}");
            ExitCode::from(2)
        })
}

fn current_thread() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

fn run_router(args: &RunArgs) -> ExitCode {
    let config = match load_config(args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("passage: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("passage: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // The exporters send on the runtime, so they come after it; the log
    // subscriber needs them (the OpenTelemetry layer), so it comes after them.
    let telemetry = match passage::telemetry::Telemetry::start(&config.telemetry, runtime.handle())
    {
        Ok(telemetry) => telemetry,
        Err(e) => {
            eprintln!("passage: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    passage::telemetry::install_subscriber(&config.log, telemetry.as_ref());
    if let Some(endpoint) = &config.telemetry.otlp_endpoint {
        tracing::info!(
            endpoint = %endpoint,
            traces = config.telemetry.traces,
            metrics = config.telemetry.metrics,
            sample_ratio = config.telemetry.sample_ratio,
            "exporting telemetry over OTLP/HTTP"
        );
    }
    let result = runtime.block_on(run(config, args.clone()));
    // The last spans and metrics leave while the runtime still runs.
    if let Some(telemetry) = &telemetry {
        telemetry.shutdown();
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("passage: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The process environment, with the seed's `AUTH_SECRET_FILE` read as
/// `PASSAGE_AUTH_SECRET_FILE` when the latter is not set.
fn environment() -> Vec<(String, String)> {
    let mut vars: Vec<(String, String)> = std::env::vars().collect();
    if !vars.iter().any(|(k, _)| k == "PASSAGE_AUTH_SECRET_FILE")
        && let Some((_, v)) = vars.iter().find(|(k, _)| k == "AUTH_SECRET_FILE")
    {
        let v = v.clone();
        vars.push(("PASSAGE_AUTH_SECRET_FILE".to_owned(), v));
    }
    vars
}

fn load_config(args: &RunArgs) -> Result<Config, passage::config::Problems> {
    let loaded = Config::load(args.config.as_deref(), environment())?;
    let mut config = loaded.config;
    if let Some(bind) = args.bind {
        config.bind = bind;
    }
    if let Some(dir) = &args.plugins_dir {
        config.plugin_runtime.dir = dir.clone();
    }
    Ok(config)
}

fn init_logging(config: &Config) {
    passage::telemetry::install_subscriber(&config.log, None);
}

async fn run(config: Config, args: RunArgs) -> anyhow::Result<()> {
    // `[plugin_runtime.pull]`: plugins named by reference and missing from the
    // directory are fetched (and checked) before anything loads.
    passage::plugin_cli::publish::pull_missing(&config).await?;
    let runtime = Arc::new(plugins::Runtime::new(config.plugin_runtime.cache_dir())?);
    // Before the plugins: their `configure` may open buckets already.
    let store = plugins::keyvalue::KeyValue::from_config(&config.plugin_runtime.keyvalue)?;
    let _ = runtime.services().set_keyvalue(store);
    passage::metrics::metrics()
        .set_ready_requires_store(config.plugin_runtime.keyvalue.ready_requires_store);
    let plugins = Arc::new(plugins::Plugins::load(runtime.clone(), &config).await?);
    tracing::info!(count = plugins.count(), dir = %config.plugin_runtime.dir.display(), "plugins ready");
    if plugins.router.is_empty() && (plugins.discovery.is_empty() || plugins.strategy.is_empty()) {
        tracing::warn!(
            "no discovery or no strategy plugin loaded: players cannot be routed and will be told no server is available"
        );
    }
    let live = Arc::new(Live::new(Active::new(plugins, &config, 0)?));
    runtime
        .services()
        .set_network(Arc::new(passage::reload::LiveNetwork(Arc::downgrade(
            &live,
        ))));
    // RSA key generation takes a moment: once at start-up, never on a login.
    let server_key = tokio::task::spawn_blocking(passage::crypto::ServerKey::generate)
        .await
        .context("key generation task failed")??;
    let session = passage::auth::session_server::SessionServer::new(
        &config.auth.session_server,
        config.auth.session_timeout(),
        config.auth.send_client_ip,
    )?;
    let guards = server::Guards::new(&config)?;
    // The operator endpoint first: /healthz answers while the rest starts, and
    // /readyz says "not ready" until the listener is up. It serves until the
    // process exits, so it keeps answering (unready) during the drain.
    if let Some(addr) = config.metrics.addr() {
        let metrics_listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("metrics.bind: cannot listen on {addr}"))?;
        tracing::info!(
            "metrics on http://{}/metrics",
            metrics_listener.local_addr()?
        );
        tokio::spawn(passage::http_endpoints::serve(
            metrics_listener,
            Some(live.clone()),
        ));
    }
    let listener =
        server::listen(config.bind).with_context(|| format!("cannot listen on {}", config.bind))?;
    let local = listener.local_addr()?;
    let messages = passage::l10n::Messages::new(&config.messages)?;
    let cookie_secret = match &config.auth_secret_file {
        Some(path) => {
            let secret = passage::auth::cookie::CookieSecret::from_file(path)?;
            // Enough to tell whether two replicas (or a backend) read the same
            // key, never the key itself.
            let shape = secret.shape();
            tracing::info!(
                path = %path.display(),
                key_bytes = shape.len,
                ends_in_whitespace = shape.trailing_whitespace,
                also_accepts_trimmed_key = shape.accepts_trimmed,
                "auth secret read: the cookie HMAC key is the file's bytes exactly as stored{}",
                if shape.trailing_whitespace {
                    " (its trailing newline included, as the reference implementation reads it)"
                } else {
                    ""
                }
            );
            Some(secret)
        }
        None => {
            tracing::warn!(
                "no auth_secret_file: authentication cookies are off, every login asks the session server"
            );
            None
        }
    };
    let reloader = Reloader::new(
        runtime,
        live.clone(),
        config.clone(),
        args.config.clone(),
        Box::new(move || load_config(&args)),
    );
    reloader.spawn();
    let shared = Arc::new(server::Shared {
        config,
        live,
        server_key,
        session,
        messages,
        cookie_secret,
        guards,
        draining: tokio::sync::watch::Sender::new(false),
    });
    passage::metrics::metrics().set_ready(true);
    // Logged once everything is ready: tests and operators wait for this line.
    tracing::info!(auth = ?shared.config.auth.mode, "listening on {local}");
    // On a worker thread, not in `block_on`: connection tasks spawned from a worker
    // go to that worker's own queue, while a spawn from the main thread must wake a
    // worker through a futex for every connection (measured: futex calls fell from
    // 12-14 % to 1.3 % of a status ping's samples; BENCHMARKS.md).
    tokio::spawn(server::serve(listener, shared, shutdown_signal()))
        .await
        .context("the accept loop failed")?;
    Ok(())
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!("cannot watch SIGTERM: {e}");
                std::future::pending::<()>().await
            }
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received"),
        () = term => tracing::info!("SIGTERM received"),
    }
}
