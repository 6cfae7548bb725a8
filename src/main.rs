//! `portcullis`: see `portcullis --help`.

use clap::Parser;
use portcullis::{cli, config::Config, telemetry};

/// See the `mimalloc` entry of `Cargo.toml`: memory freed after a whole
/// policy body is built goes back to the system.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    telemetry::init_logging(config.log_format, &config.log_filter);
    match cli::run(cli, config).await {
        Ok(code) => std::process::ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(1)
        }
    }
}
