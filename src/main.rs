//! The `feature-store` server binary: parse flags, serve, and turn any startup failure into one
//! line and a non-zero exit.

use std::process::ExitCode;

use clap::Parser;
use feature_store::server::{init_tracing, serve, ServerArgs};
use feature_store_core::chain;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args = ServerArgs::parse();
    // cargo-leptos sets this; a binary started by hand must not need it. Set while the process
    // is still single-threaded.
    if std::env::var_os("LEPTOS_OUTPUT_NAME").is_none() {
        std::env::set_var("LEPTOS_OUTPUT_NAME", env!("CARGO_PKG_NAME"));
    }
    init_tracing(args.log_format);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", chain(&e));
            ExitCode::FAILURE
        }
    }
}
