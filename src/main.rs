//! The `feature-store` server binary: parse flags, serve, and turn any startup failure into one
//! line and a non-zero exit.

use std::process::ExitCode;

use clap::Parser;
use feature_store::server::{init_tracing, serve, ServerArgs};

#[tokio::main]
async fn main() -> ExitCode {
    let args = ServerArgs::parse();
    init_tracing();
    match serve(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
