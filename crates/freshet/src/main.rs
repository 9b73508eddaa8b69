//! The `freshet` binary: `freshet serve` runs the server; other subcommands (clients, admin tools) come later.

mod config;
mod serve;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// mimalloc instead of glibc's malloc: ingestion allocates and frees many small strings from several threads, and
/// glibc's allocator spent about 15% of the server's CPU on it in the ingestion benchmark.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(
    name = "freshet",
    version,
    about = "A self-hosted, wire-compatible Amazon Timestream"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server: the Timestream, IAM and STS APIs on one listener.
    Serve(config::ServeArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => {
            config::ServeConfig::resolve(args, &config::process_env()).and_then(serve::run)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
