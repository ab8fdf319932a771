//! The `build-features` command, the batch jobs beside the server: `synthesize` (the demo's
//! synthetic users, the default), `materialize` (a window of the views' own Parquet or CSV
//! files) and `materialize-incremental` (from where the last run ended).

use std::io::IsTerminal;

use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use crate::api::input::parse_time;
use crate::cli::StoreArgs;
use crate::limits::MAX_TTL_SECONDS;
use crate::materialize::{self, Effect, MaterializeError, Span, Window};
use crate::model::ViewMaterialized;
use crate::ops::bootstrap::{self, Seeding};
use crate::registry::{Registry, View};
use crate::registry_file::RegistryError;
use crate::store::{EventRule, FeatureStore, StoreConfig, StoreError};

/// Below this many users a progress bar would only flash by.
const PROGRESS_THRESHOLD: u64 = 10_000;

/// Batch jobs for the feature store: synthetic users (the default), or a team's own rows
/// materialized from the files its feature views name.
#[derive(Debug, Parser)]
#[command(
    name = "build-features",
    version,
    about,
    args_conflicts_with_subcommands = true
)]
pub struct BuildArgs {
    #[command(subcommand)]
    pub job: Option<Job>,
    /// Without a subcommand: `synthesize`.
    #[command(flatten)]
    pub synthesize: SynthesizeArgs,
}

#[derive(Debug, Subcommand)]
pub enum Job {
    /// Materialize synthetic users, each with a key-level TTL (what `make run` shows).
    Synthesize(SynthesizeArgs),
    /// Materialize the rows of the views' sources whose event time lies in [start, end]: the
    /// latest per entity wins, a tie going to the later created time.
    Materialize(MaterializeArgs),
    /// Materialize each view from where its last incremental run ended (kept in Redis beside
    /// the data) up to --end.
    MaterializeIncremental(IncrementalArgs),
}

#[derive(Debug, Args)]
pub struct SynthesizeArgs {
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

#[derive(Debug, Args)]
pub struct MaterializeArgs {
    /// The window's start (included): `2026-11-01`, `2026-11-01 10:00:00` (UTC) or RFC 3339.
    #[arg(long, value_parser = parse_time)]
    pub start: u64,
    /// The window's end (included), written the same way.
    #[arg(long, value_parser = parse_time)]
    pub end: u64,
    #[command(flatten)]
    pub views: ViewArgs,
}

#[derive(Debug, Args)]
pub struct IncrementalArgs {
    /// Where this run ends (included), written as for `materialize`.
    #[arg(long, value_parser = parse_time)]
    pub end: u64,
    #[command(flatten)]
    pub views: ViewArgs,
}

#[derive(Debug, Args)]
pub struct ViewArgs {
    /// A view to materialize (repeatable); default: every view with a source.
    #[arg(long = "view", value_name = "VIEW")]
    pub names: Vec<String>,
    /// Read and check the files, print what would be written (counts and the first rows),
    /// write nothing and leave the watermark where it is.
    #[arg(long)]
    pub dry_run: bool,
    /// Send at most this many rows a second, in slices a hundredth of that each, so a load
    /// into a Redis that serves reads leaves it time for them (default: as fast as Redis takes
    /// them).
    #[arg(long, value_name = "ROWS")]
    pub max_rows_per_second: Option<std::num::NonZeroU32>,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Materialize(#[from] MaterializeError),
    #[error("no view {0:?} in the registry")]
    NoView(String),
    #[error("no view of the registry has a source to materialize from")]
    NoSources,
    /// Everything else was written; the summary above says which values were refused.
    #[error("some values were refused (listed above)")]
    Refused,
}

/// Runs the job; what to print, line by line, on success.
pub async fn build(args: BuildArgs) -> Result<String, BuildError> {
    match args.job {
        None => synthesize(args.synthesize).await,
        Some(Job::Synthesize(synth)) => synthesize(synth).await,
        Some(Job::Materialize(job)) => {
            let window = Window {
                start_ms: job.start,
                end_ms: job.end,
            };
            materialize_views(job.views, Span::Window(window)).await
        }
        Some(Job::MaterializeIncremental(job)) => {
            materialize_views(job.views, Span::Incremental { end_ms: job.end }).await
        }
    }
}

async fn synthesize(args: SynthesizeArgs) -> Result<String, BuildError> {
    let registry = args.store.registry(args.ttl_seconds, None)?;
    let store = FeatureStore::connect(&args.store.redis_url, StoreConfig::of(&registry)).await?;
    let bar = (std::io::stdout().is_terminal() && args.count >= PROGRESS_THRESHOLD).then(|| {
        ProgressBar::new(args.count * registry.entities.len() as u64).with_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} entities · {per_sec} · eta {eta}")
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
    Ok(seeded.summary())
}

/// Materializes each view asked for (or with a source) over `span`.
async fn materialize_views(args: ViewArgs, span: Span) -> Result<String, BuildError> {
    let registry = args.store.registry(None, None)?;
    let views = chosen(&registry, &args.names)?;
    let store = FeatureStore::connect(&args.store.redis_url, StoreConfig::of(&registry)).await?;
    let mut lines = Vec::new();
    let mut refused = false;
    for view in views {
        let bar = std::io::stdout().is_terminal().then(|| {
            ProgressBar::new_spinner().with_style(
                ProgressStyle::with_template("{spinner} {msg} · {elapsed}")
                    .expect("static template"),
            )
        });
        let effect = if args.dry_run {
            Effect::DryRun
        } else {
            Effect::Write {
                max_rows_per_second: args.max_rows_per_second,
            }
        };
        let store = store.for_entity(StoreConfig::of_entity(
            &registry,
            registry.entity_of(view).1,
        ));
        let report = materialize::run(&store, view, span, effect, |report| {
            if let Some(bar) = &bar {
                bar.set_message(progress_text(report));
                bar.tick();
            }
        })
        .await?;
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        refused |= !report.refused.is_empty();
        lines.push(summary(&report));
    }
    if refused {
        println!("{}", lines.join("\n"));
        return Err(BuildError::Refused);
    }
    Ok(lines.join("\n"))
}

/// The views `names` asks for, else every view with a source.
fn chosen<'r>(registry: &'r Registry, names: &[String]) -> Result<Vec<&'r View>, BuildError> {
    if names.is_empty() {
        let views: Vec<&View> = registry
            .views
            .iter()
            .filter(|v| v.source.is_some())
            .collect();
        return if views.is_empty() {
            Err(BuildError::NoSources)
        } else {
            Ok(views)
        };
    }
    names
        .iter()
        .map(|name| {
            registry
                .view(name)
                .ok_or_else(|| BuildError::NoView(name.clone()))
        })
        .collect()
}

/// The progress line: rows read, written, skipped, the rate, and (when the files' metadata
/// gives their rows) how far along and the time left.
fn progress_text(report: &ViewMaterialized) -> String {
    let seconds = (report.elapsed_ms / 1000.0).max(0.001);
    let rate = report.rows_read as f64 / seconds;
    let mut text = format!(
        "{}: {} rows read, {} written, {} older skipped · {rate:.0} rows/s",
        report.view, report.rows_read, report.written, report.skipped_older
    );
    if let Some(total) = report.rows_in_files.filter(|&total| total > 0) {
        let left = total.saturating_sub(report.rows_read) as f64 / rate.max(1.0);
        let done = 100.0 * report.rows_read as f64 / total as f64;
        text.push_str(&format!(" · {done:.0} % · eta {left:.0} s"));
    }
    text
}

/// One view's outcome in a line, and each refused column on its own.
fn summary(report: &ViewMaterialized) -> String {
    if report.dry_run {
        let mut text = format!(
            "Dry run of {} over {} file{}: {} rows read, {} would be written (less those older \
             than what is stored), {} outside the window; nothing written.",
            report.view,
            report.files,
            if report.files == 1 { "" } else { "s" },
            report.rows_read,
            report.written,
            report.outside_window,
        );
        for row in &report.sample {
            text.push_str(&format!("\n  {row}"));
        }
        return text + &refused_text(report);
    }
    let mut text = format!(
        "Materialized {} from {} file{} in {:.1} s: {} rows read, {} written, {} older skipped, {} outside the window",
        report.view,
        report.files,
        if report.files == 1 { "" } else { "s" },
        report.elapsed_ms / 1000.0,
        report.rows_read,
        report.written,
        report.skipped_older,
        report.outside_window,
    );
    if report.not_hashes > 0 {
        text.push_str(&format!(
            ", {} whose key is not an entity hash",
            report.not_hashes
        ));
    }
    text.push('.');
    text + &refused_text(report)
}

/// Each refused column on a line of its own.
fn refused_text(report: &ViewMaterialized) -> String {
    let mut text = String::new();
    for refused in &report.refused {
        text.push_str(&format!(
            "\n  refused {} value{} of column {:?} (must be {}), first at {}",
            refused.count,
            if refused.count == 1 { "" } else { "s" },
            refused.column,
            refused.rule,
            refused.first.join(", ")
        ));
    }
    text
}
