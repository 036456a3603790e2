//! `passage`: command line, logging set-up and start-up of the router.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use tracing_subscriber::EnvFilter;

use passage::config::{Config, LogFormat};
use passage::{plugins, server, status};

/// A Minecraft transfer router whose routing logic lives in WebAssembly plugins.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Configuration file (TOML). Without one, every setting has its default.
    #[arg(long, short, env = "PASSAGE_CONFIG")]
    config: Option<PathBuf>,
    /// Listen address, overriding `bind` from the file.
    #[arg(long)]
    bind: Option<SocketAddr>,
    /// Plugins directory, overriding `plugin_runtime.dir` from the file.
    #[arg(long)]
    plugins_dir: Option<PathBuf>,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let config = match load_config(&cli) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("passage: {e:#}");
            return std::process::ExitCode::from(2);
        }
    };
    init_logging(&config);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("passage: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(config)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("passage: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn load_config(cli: &Cli) -> anyhow::Result<Config> {
    let mut config = match &cli.config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    if let Some(bind) = cli.bind {
        config.bind = bind;
    }
    if let Some(dir) = &cli.plugins_dir {
        config.plugin_runtime.dir = dir.clone();
    }
    // The seed's deployments mount the secret and point AUTH_SECRET_FILE at it.
    if let Some(path) = std::env::var_os("PASSAGE_AUTH_SECRET_FILE")
        .or_else(|| std::env::var_os("AUTH_SECRET_FILE"))
        .filter(|p| !p.is_empty())
    {
        config.auth_secret_file = Some(PathBuf::from(path));
    }
    Ok(config)
}

fn init_logging(config: &Config) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&config.log.level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match config.log.format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

async fn run(config: Config) -> anyhow::Result<()> {
    let runtime = Arc::new(plugins::Runtime::new(config.plugin_runtime.cache_dir())?);
    let plugins = Arc::new(plugins::Plugins::load(runtime, &config).await?);
    tracing::info!(count = plugins.count(), dir = %config.plugin_runtime.dir.display(), "plugins ready");
    let status = status::StatusService::new(plugins.clone(), &config.status)?;
    // RSA key generation takes a moment: once at start-up, never on a login.
    let server_key = tokio::task::spawn_blocking(passage::crypto::ServerKey::generate)
        .await
        .context("key generation task failed")??;
    let session = passage::auth::session_server::SessionServer::new(
        &config.auth.session_server,
        config.auth.session_timeout(),
        config.auth.send_client_ip,
    )?;
    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .with_context(|| format!("cannot listen on {}", config.bind))?;
    let local = listener.local_addr()?;
    tracing::info!(auth = ?config.auth.mode, "listening on {local}");
    let messages = passage::l10n::Messages::new(&config.messages)?;
    let cookie_secret = match &config.auth_secret_file {
        Some(path) => Some(passage::auth::cookie::CookieSecret::from_file(path)?),
        None => {
            tracing::warn!(
                "no auth_secret_file: authentication cookies are off, every login asks the session server"
            );
            None
        }
    };
    if plugins.discovery.is_empty() || plugins.strategy.is_empty() {
        tracing::warn!(
            "no discovery or no strategy plugin loaded: players cannot be routed and will be told no server is available"
        );
    }
    let router =
        passage::routing::Router::new(plugins.clone(), config.routing.strategy.as_deref())?;
    let shared = Arc::new(server::Shared {
        config,
        status,
        server_key,
        session,
        router,
        messages,
        cookie_secret,
    });
    server::serve(listener, shared, shutdown_signal()).await;
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
