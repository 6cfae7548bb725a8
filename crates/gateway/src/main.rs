//! `portcullis-gateway`: see the library docs and `docs/gateway.md`.

use std::path::PathBuf;

use clap::Parser;
use portcullis_gateway::config::{FileConfig, FileUpstream, LogFormat};

/// An MCP reverse proxy that enforces the Portcullis console's policy.
#[derive(Parser, Debug)]
#[command(name = "portcullis-gateway", version)]
struct Args {
    /// Configuration file (TOML).
    #[arg(long, short, env = "PORTCULLIS_GATEWAY_CONFIG")]
    config: Option<PathBuf>,
    /// Listen address (host:port).
    #[arg(long, env = "PORTCULLIS_GATEWAY_LISTEN")]
    listen: Option<String>,
    /// The console's base URL.
    #[arg(long, env = "PORTCULLIS_GATEWAY_CONSOLE_URL")]
    console_url: Option<String>,
    /// The access tokens' issuer, when it differs from the console URL.
    #[arg(long, env = "PORTCULLIS_GATEWAY_ISSUER")]
    issuer: Option<String>,
    /// The gateway's credential from the console (pcg_…).
    #[arg(long, env = "PORTCULLIS_GATEWAY_CREDENTIAL", hide_env_values = true)]
    credential: Option<String>,
    /// Where the last good bundle and the decision spool are kept.
    #[arg(long, env = "PORTCULLIS_GATEWAY_STATE_DIR")]
    state_dir: Option<PathBuf>,
    /// An upstream as RESOURCE_URL=UPSTREAM_URL (repeatable; adds to the file's).
    #[arg(long = "upstream")]
    upstreams: Vec<String>,
    /// Serving threads (0: one per CPU this process may use).
    #[arg(long, env = "PORTCULLIS_GATEWAY_WORKERS")]
    workers: Option<usize>,
    /// Log format: json or text.
    #[arg(long, env = "PORTCULLIS_GATEWAY_LOG_FORMAT")]
    log_format: Option<String>,
    /// Log filter (tracing EnvFilter syntax).
    #[arg(long, env = "PORTCULLIS_GATEWAY_LOG", default_value = "info")]
    log: String,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let config = match load(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("portcullis-gateway: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_new(&args.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    let _ = match config.log_format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
    // The policy loop, the decision sender and the change reports; requests
    // are served by the workers' own runtimes (`serve`).
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("portcullis-gateway: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let running = match portcullis_gateway::start(config).await {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "cannot start");
                return std::process::ExitCode::FAILURE;
            }
        };
        portcullis_listener::shutdown_signal().await;
        tracing::info!("shutting down");
        running.shutdown().await;
        std::process::ExitCode::SUCCESS
    })
}

fn load(
    args: &Args,
) -> Result<portcullis_gateway::config::Config, portcullis_gateway::config::ConfigError> {
    let mut file = match &args.config {
        Some(path) => FileConfig::read(path)?,
        None => FileConfig::default(),
    };
    if let Some(v) = &args.listen {
        file.listen = Some(v.clone());
    }
    if let Some(v) = &args.console_url {
        file.console.url = Some(v.clone());
    }
    if let Some(v) = &args.issuer {
        file.console.issuer = Some(v.clone());
    }
    if let Some(v) = &args.credential {
        file.console.credential = Some(v.clone());
    }
    if let Some(v) = args.workers {
        file.workers = Some(v);
    }
    if let Some(v) = &args.state_dir {
        file.state_dir = Some(v.clone());
    }
    if let Some(v) = &args.log_format {
        file.log_format = Some(match v.as_str() {
            "json" => LogFormat::Json,
            "text" => LogFormat::Text,
            _ => {
                return Err(portcullis_gateway::config::ConfigError {
                    field: "log_format".into(),
                    message: "use json or text".into(),
                })
            }
        });
    }
    for flag in &args.upstreams {
        file.upstream.push(FileUpstream::parse_flag(flag)?);
    }
    file.validate()
}
