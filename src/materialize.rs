//! The `build-features` command: materialize synthetic users from the command line, the
//! stand-in for a nightly batch job.

use std::io::IsTerminal;

use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};

use crate::cli::StoreArgs;
use crate::limits::MAX_TTL_SECONDS;
use crate::ops::bootstrap::{self, Seeding};
use crate::registry_file::RegistryError;
use crate::store::{EventRule, FeatureStore, StoreConfig, StoreError};

/// Below this many users a progress bar would only flash by.
const PROGRESS_THRESHOLD: u64 = 10_000;

/// Materialize synthetic users into Redis, each with a key-level TTL.
#[derive(Debug, Parser)]
#[command(name = "build-features", version, about)]
pub struct BuildArgs {
    /// How many users to write (u0001, u0002, ...).
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(1..))]
    pub count: u64,
    /// Key-level TTL of every user, in seconds; default: the registry's batch TTL (86400).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=MAX_TTL_SECONDS))]
    pub ttl_seconds: Option<u64>,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Seed of the synthetic rows; the same seed writes the same rows.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Write every row whatever event time is stored (a reload after fixing a source); by
    /// default a row whose event is not newer than the stored one is skipped and counted.
    #[arg(long)]
    pub overwrite: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Writes the users and returns the line to print.
pub async fn build(args: BuildArgs) -> Result<String, BuildError> {
    let registry = args.store.registry(args.ttl_seconds, None)?;
    let store = FeatureStore::connect(&args.store.redis_url, StoreConfig::of(&registry)).await?;
    let bar = (std::io::stdout().is_terminal() && args.count >= PROGRESS_THRESHOLD).then(|| {
        ProgressBar::new(args.count).with_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} users · {per_sec} · eta {eta}")
                .expect("static template"),
        )
    });
    let rule = if args.overwrite {
        EventRule::Overwrite
    } else {
        EventRule::NewerOnly
    };
    let seeding = Seeding {
        count: args.count,
        seed: args.seed,
        ttl_seconds: None,
        rule,
    };
    let seeded = bootstrap::seed(&store, &registry, seeding, |done| {
        if let Some(bar) = &bar {
            bar.set_position(done as u64);
        }
    })
    .await?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    Ok(seeded.summary(&store))
}
