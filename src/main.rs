//! `portcullis`: see `portcullis --help`.

use clap::Parser;
use portcullis::{cli, config::Config, telemetry};
use portcullis_alloc as alloc;

/// See the `mimalloc` entry of `Cargo.toml` and `crates/alloc`:
/// memory freed after a whole policy body is built goes back to the system.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    // Before the runtime's threads start (glibc makes arenas as threads
    // first contend).
    let allocators = alloc::tune();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    runtime.block_on(run(allocators))
}

async fn run(allocators: alloc::Plan) -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    telemetry::init_logging(config.log_format, &config.log_filter);
    tracing::debug!(
        purge_delay_ms = ?allocators.purge_delay_ms,
        arena_max = ?allocators.arena_max,
        "allocator settings (None: the environment's own)"
    );
    match cli::run(cli, config).await {
        Ok(code) => std::process::ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(1)
        }
    }
}
