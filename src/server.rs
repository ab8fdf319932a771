//! The server process: one FeatureStore and one streaming worker for its whole life, the Leptos
//! app and its API in front, and a graceful stop on Ctrl-C or SIGTERM.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use clap::Parser;
use leptos::prelude::*;
use tokio::net::TcpListener;

use crate::cli::StoreArgs;
use crate::connections::{self, ConnectionLimits};
use crate::http::hosts::AllowedHosts;
use crate::lease::{index_board, Lease, LeaseConfig, Role, SWITCH_BOARD, WORKER_BOARD};
use crate::limits::MAX_TTL_SECONDS;
use crate::ops::bootstrap::{self, Seeding};
use crate::ops::{Served, Service};
use crate::registry_file::RegistryError;
use crate::router::{router, HashedAssets};
use crate::store::{redact_url, EventRule, FeatureStore, StoreConfig, StoreError};
use crate::worker::WorkerConfig;

/// Seed of the users the server materializes, so every start shows the same users.
const USERS_SEED: u64 = 42;

/// The feature-store web app and API, backed by Redis >= 7.4.
#[derive(Debug, Parser)]
#[command(version, about, args_override_self = true)]
pub struct ServerArgs {
    /// Address to listen on; default: the host of LEPTOS_SITE_ADDR (which `cargo leptos`
    /// sets), else 127.0.0.1.
    #[arg(long, env = "FS_HOST")]
    pub host: Option<String>,
    /// Port to listen on; default: the port of LEPTOS_SITE_ADDR, else 8093.
    #[arg(long, env = "FS_PORT")]
    pub port: Option<u16>,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Key-level TTL of bulk-loaded entities, in seconds, overriding every batch view's TTL in
    /// the registry (default 86400).
    #[arg(long, env = "FS_BATCH_TTL_SECONDS", value_parser = clap::value_parser!(u64).range(1..=MAX_TTL_SECONDS))]
    pub batch_ttl_seconds: Option<u64>,
    /// Per-field TTL of streaming features, in seconds, overriding every streaming view's TTL in
    /// the registry (default 300).
    #[arg(long, env = "FS_STREAMING_TTL_SECONDS", value_parser = clap::value_parser!(u64).range(1..=MAX_TTL_SECONDS))]
    pub streaming_ttl_seconds: Option<u64>,
    /// Seconds between streaming worker ticks.
    #[arg(long, env = "FS_TICK_SECONDS", default_value_t = 1.0)]
    pub tick_seconds: f64,
    /// Users the worker updates per tick.
    #[arg(long, env = "FS_USERS_PER_TICK", default_value_t = 5)]
    pub users_per_tick: usize,
    /// Synthetic users materialized at startup (0 for none).
    #[arg(long, env = "FS_INITIAL_USERS", default_value_t = 200)]
    pub initial_users: u64,
    /// Keep the users already under the prefix instead of deleting them at startup.
    #[arg(long, env = "FS_NO_RESET")]
    pub no_reset: bool,
    /// Do not start the streaming worker (it can still be started from the UI).
    #[arg(long, env = "FS_NO_WORKER")]
    pub no_worker: bool,
    /// The longest a read waits for Redis before answering 504, in milliseconds; a caller may
    /// ask for less with an `x-deadline-ms` header.
    #[arg(long, env = "FS_READ_TIMEOUT_MS", default_value_t = 250,
          value_parser = clap::value_parser!(u64).range(1..=60_000))]
    pub read_timeout_ms: u64,
    /// Host names (`name` for any port, `name:port` for one) the server answers to, besides
    /// localhost, 127.0.0.1, [::1] and the address it listens on; `*` for any. Other names get
    /// 421, except on /livez, /readyz and /metrics.
    #[arg(long, env = "FS_ALLOWED_HOSTS", value_delimiter = ',')]
    pub allowed_hosts: Vec<String>,
    /// The longest a connection may take to send a request's head, counted from when the server
    /// starts waiting for it: a slow client is cut off, and an idle keep-alive connection is
    /// closed after it.
    #[arg(long, env = "FS_HEADER_TIMEOUT_SECONDS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=3_600))]
    pub header_timeout_seconds: u64,
    /// Most connections open at once; at the limit the one waiting longest for a request is
    /// closed to make room. Keep it well under the process's file limit (`ulimit -n`).
    #[arg(long, env = "FS_MAX_CONNECTIONS", default_value_t = 512,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_connections: u64,
    /// Feature values (entities × fields) reads may have in flight at once; a read that would
    /// pass it is answered 503 with Retry-After at once, before any Redis work. The default
    /// admits four of the largest reads (1,000 entities × 64 features).
    #[arg(long, env = "FS_MAX_READ_CELLS", default_value_t = 256_000,
          value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    pub max_read_cells: u64,
    /// Rows a second this server's materializations (the UI's, Feast's `/materialize` routes)
    /// send at most, in slices a hundredth of that each, so a run leaves Redis time for the
    /// reads it serves; by default as fast as Redis takes them (see `build-features
    /// materialize --max-rows-per-second`).
    #[arg(long, env = "FS_MATERIALIZE_MAX_ROWS_PER_SECOND", value_name = "ROWS")]
    pub materialize_max_rows_per_second: Option<std::num::NonZeroU32>,
    /// What this process does: `all` (serve, and stream and walk the keyspace while holding
    /// the lease), `serve` (reads and writes only), `worker` (the lease's work, and only probes
    /// and /metrics). Servers sharing a --key-prefix share one lease.
    #[arg(long, env = "FS_ROLE", default_value = "all")]
    pub role: Role,
    /// How long the lease lasts without renewal, in milliseconds: a dead holder's stream and
    /// index move to another server within twice this. Renewed at a third of it.
    #[arg(long, env = "FS_LEASE_TTL_MS", default_value_t = 5_000,
          value_parser = clap::value_parser!(u64).range(300..=600_000))]
    pub lease_ttl_ms: u64,
    /// How log lines are written: `text` for people, `json` for log shippers.
    #[arg(long, env = "FS_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("invalid --tick-seconds {0}: must be a positive number of seconds")]
    Tick(f64),
    #[error("cannot listen on {addr}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("cannot read the Leptos configuration: {0}")]
    Leptos(String),
    #[error("server stopped with an error: {0}")]
    Serve(std::io::Error),
}

/// Runs the server until Ctrl-C or SIGTERM. The port is taken before any data is touched: a
/// second instance must fail here, not after it has reset the first one's users.
pub async fn serve(args: ServerArgs) -> Result<(), ServerError> {
    let addr = listen_addr(args.host.as_deref(), args.port);
    let listener = TcpListener::bind(&addr)
        .await
        .map_err(|source| ServerError::Bind { addr, source })?;
    Server::build(args, listener)
        .await?
        .run_until(shutdown_signal())
        .await
}

/// Where to listen: an explicit flag or FS_ variable wins, then what `cargo leptos` says in
/// LEPTOS_SITE_ADDR (so `cargo leptos watch` reloads the page it serves), then 127.0.0.1:8093.
fn listen_addr(host: Option<&str>, port: Option<u16>) -> String {
    let leptos: Option<SocketAddr> = std::env::var("LEPTOS_SITE_ADDR")
        .ok()
        .and_then(|addr| addr.parse().ok());
    let host = host.map_or_else(
        || leptos.map_or_else(|| "127.0.0.1".to_owned(), |addr| addr.ip().to_string()),
        str::to_owned,
    );
    let port = port.or(leptos.map(|addr| addr.port())).unwrap_or(8093);
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// A built server: connected to Redis, data prepared, worker started, not yet answering.
pub struct Server {
    listener: TcpListener,
    router: Router,
    service: Arc<Service>,
    local: SocketAddr,
    limits: ConnectionLimits,
}

impl Server {
    /// Connects, resets and materializes as the flags say, and starts the worker, on a listener
    /// the caller has bound (port 0 in tests).
    pub async fn build(args: ServerArgs, listener: TcpListener) -> Result<Server, ServerError> {
        let tick = Duration::try_from_secs_f64(args.tick_seconds)
            .ok()
            .filter(|tick| !tick.is_zero())
            .ok_or(ServerError::Tick(args.tick_seconds))?;
        let local = listener.local_addr().map_err(ServerError::Serve)?;
        let registry = Arc::new(
            args.store
                .registry(args.batch_ttl_seconds, args.streaming_ttl_seconds)?,
        );
        let config = StoreConfig::of(&registry);
        let store = Arc::new(FeatureStore::connect(&args.store.redis_url, config).await?);
        let mut leptos_options = get_configuration(None)
            .map_err(|e| ServerError::Leptos(e.to_string()))?
            .leptos_options;
        leptos_options.site_addr = local;
        // Decided from the files, not compiled in: a binary rebuilt by plain cargo (`cargo
        // bench`) serves the hashed build beside it, and one without hash.txt never panics.
        let assets = HashedAssets::find(&leptos_options);
        leptos_options.hash_files = assets.hashed();
        if !args.no_reset {
            bootstrap::reset(&store, &registry).await?;
        }
        if args.initial_users > 0 {
            let seeding = Seeding {
                count: args.initial_users,
                seed: USERS_SEED,
                ttl_seconds: None,
                rule: EventRule::NewerOnly,
            };
            let seeded = bootstrap::seed(&store, &registry, seeding, |_| {}).await?;
            tracing::info!("{}", seeded.summary());
        }
        let config = store.config();
        let lease = Arc::new(Lease::start(
            Arc::clone(&store),
            LeaseConfig {
                group: config.key_prefix.to_string(),
                replica: replica_id(local),
                ttl: Duration::from_millis(args.lease_ttl_ms),
                role: args.role,
                boards: registry
                    .entities
                    .iter()
                    .map(|entity| index_board(&entity.name))
                    .chain([WORKER_BOARD, SWITCH_BOARD].map(str::to_owned))
                    .collect(),
            },
        ));
        lease.settle().await;
        let served = Served::start_all(&registry, &store, &lease);
        let worker = Served::worker(
            &served,
            WorkerConfig {
                tick,
                users_per_tick: args.users_per_tick,
                registry: Arc::clone(&registry),
                ..WorkerConfig::default()
            },
        );
        if !args.no_worker && args.role.competes() {
            worker.start();
        }
        tracing::info!(
            "listening on http://{local} · role {} · Redis {} ({}, {}) · prefix {} · batch TTL {}s · streaming TTL {}s · {} feature views",
            args.role.name(),
            redact_url(&args.store.redis_url),
            store.redis_version(),
            store.redis_mode().name(),
            config.key_prefix,
            config.batch_ttl_seconds,
            config.streaming_ttl_seconds,
            registry.views.len(),
        );
        let service = Arc::new(
            Service::new(
                registry,
                served,
                worker,
                lease,
                USERS_SEED,
                Duration::from_millis(args.read_timeout_ms),
                usize::try_from(args.max_read_cells).unwrap_or(usize::MAX),
            )
            .pacing_materializations(args.materialize_max_rows_per_second),
        );
        // Every index has counted before the server answers (and before the worker samples).
        service.refresh_indexes().await;
        let allowed_hosts = AllowedHosts::new(local, &args.allowed_hosts);
        Ok(Server {
            listener,
            router: router(
                leptos_options,
                Arc::clone(&service),
                allowed_hosts,
                assets,
                args.role,
            ),
            service,
            local,
            limits: ConnectionLimits {
                header_timeout: Duration::from_secs(args.header_timeout_seconds),
                max_connections: usize::try_from(args.max_connections).unwrap_or(usize::MAX),
            },
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Serves until `shutdown` resolves, lets requests in flight finish, then stops the worker
    /// and the background materializations.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        connections::serve(self.listener, self.router, self.limits, shutdown).await;
        self.service.worker().stop().await;
        self.service.stop_background().await;
        // Another server takes over at once rather than when the lease runs out.
        self.service.lease().release().await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// This process among the servers sharing a lease: its address, pid and a nonce, so two
/// processes never share a name (in a container every one may listen on 0.0.0.0:8093).
fn replica_id(local: SocketAddr) -> String {
    format!(
        "{local}#{}-{:04x}",
        std::process::id(),
        rand::random::<u16>()
    )
}

/// Resolves on Ctrl-C or SIGTERM, whichever comes first.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!("cannot listen for Ctrl-C: {e}");
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::error!("cannot listen for SIGTERM: {e}");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight, then stopping the worker");
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One human-readable line per event.
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// Logs at info by default; `RUST_LOG` overrides. A line logged while serving a request is in
/// its `request{id=…}` span.
pub fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    match format {
        LogFormat::Text => logs
            // Colours only on a terminal: a log file gets plain text.
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
            .init(),
        LogFormat::Json => logs.json().init(),
    }
}
