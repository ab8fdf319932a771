//! `build-features`: materialize synthetic users. All logic lives in `feature_store::build_features`.

use std::process::ExitCode;

use clap::Parser;
use feature_store::build_features::{build, BuildArgs};
use feature_store_core::chain;

#[tokio::main]
async fn main() -> ExitCode {
    match build(BuildArgs::parse()).await {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {}", chain(&e));
            ExitCode::FAILURE
        }
    }
}
