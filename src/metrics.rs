//! Prometheus metrics, `feature_store_*`: HTTP requests and their latency per route (recorded by
//! a middleware, a few atomic adds per request), Redis round trips and errors per store
//! operation (recorded by the store), and at scrape time what the service knows of the store,
//! the worker and the index (never a Redis call per scrape).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use crate::ops::Service;
use crate::store::unix_ms_now;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    /// The route's template, never the raw path: the label set stays bounded.
    route: String,
    /// The standard methods by name, anything else as `other`: the label set stays bounded.
    method: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

type Latency = Family<RouteLabels, Histogram, fn() -> Histogram>;

/// The registry and the metrics recorded as requests are served.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Latency,
}

impl Metrics {
    pub fn new(service: Arc<Service>) -> Self {
        let mut registry = Registry::with_prefix("feature_store");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by route template, method and status",
            requests.clone(),
        );
        // 50 µs to about 1.6 s.
        let latency: Latency =
            Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.000_05, 2.0, 16)));
        registry.register(
            "http_request_duration_seconds",
            "Time from request to response head, by route template",
            latency.clone(),
        );
        let redis = service.redis_telemetry();
        registry.register(
            "redis_op_duration_seconds",
            "Redis round trips of each store operation (read, batch_read, bulk_load, streaming_write, inspect, scan, reset, ping)",
            redis.durations.clone(),
        );
        registry.register(
            "redis_errors",
            "Failed Redis round trips, by store operation and kind (unavailable, deadline, wrong_type, other)",
            redis.errors.clone(),
        );
        registry.register_collector(Box::new(ServiceCollector(service)));
        Metrics {
            registry,
            requests,
            latency,
        }
    }

    /// The Prometheus (OpenMetrics) text of every metric, now.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }

    fn observe(&self, route: String, method: &'static str, status: u16, elapsed: Duration) {
        self.latency
            .get_or_create(&RouteLabels {
                route: route.clone(),
            })
            .observe(elapsed.as_secs_f64());
        self.requests
            .get_or_create(&RequestLabels {
                route,
                method,
                status,
            })
            .inc();
    }

    /// Starts timing `request`, labelled by its route's template.
    pub fn start(&self, request: &Request) -> Timing {
        Timing {
            route: request
                .extensions()
                .get::<MatchedPath>()
                .map_or("unmatched", MatchedPath::as_str)
                .to_owned(),
            method: method_label(request.method()),
            started: Instant::now(),
        }
    }

    /// Counts and times the request, answered with `status`.
    pub fn finish(&self, timing: Timing, status: axum::http::StatusCode) {
        self.observe(
            timing.route,
            timing.method,
            status.as_u16(),
            timing.started.elapsed(),
        );
    }
}

/// A request being timed, from its arrival to its response head.
pub struct Timing {
    route: String,
    method: &'static str,
    started: Instant,
}

/// A method's label: one of a closed set, so invented methods add no series.
fn method_label(method: &axum::http::Method) -> &'static str {
    match method.as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "PATCH" => "PATCH",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    }
}

/// `GET /metrics`.
pub fn routes(metrics: Arc<Metrics>) -> axum::Router {
    axum::Router::new()
        .route("/metrics", axum::routing::get(serve))
        .with_state(metrics)
}

async fn serve(State(metrics): State<Arc<Metrics>>) -> Response {
    match metrics.encode() {
        Ok(text) => (
            [(
                CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(e) => {
            tracing::error!("cannot encode the metrics: {e}");
            axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// What the service knows at scrape time, as metrics.
struct ServiceCollector(Arc<Service>);

impl std::fmt::Debug for ServiceCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServiceCollector")
    }
}

impl Collector for ServiceCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let state = self.0.snapshot();
        let (store, worker) = (&state.store, &state.worker);
        let now_ms = unix_ms_now();
        let age_seconds =
            |unix_ms: Option<u64>| unix_ms.map(|ms| now_ms.saturating_sub(ms) as f64 / 1e3);
        let counters = [
            (
                "batch_writes",
                "Entities written by bulk loads",
                store.batch_writes_total,
            ),
            (
                "streaming_writes",
                "Streaming writes that landed",
                store.streaming_writes_total,
            ),
            (
                "older_events_skipped",
                "Rows not written by the event-time rule: an event at least as new was stored",
                store.older_events_skipped_total,
            ),
            (
                "reads",
                "Entities read (a batch read counts each)",
                store.reads_total,
            ),
            ("worker_ticks", "Worker ticks run", worker.tick_count),
            (
                "worker_writes",
                "Entities the worker wrote",
                worker.writes_count,
            ),
            (
                "worker_skipped",
                "Worker writes skipped: the entity was gone",
                worker.skipped_count,
            ),
            (
                "worker_errors",
                "Worker ticks that failed",
                worker.error_count,
            ),
            (
                "worker_fenced",
                "Worker writes the lease's fence refused: this server had lost the lease",
                worker.fenced_count,
            ),
        ];
        for (name, help, value) in counters {
            counter(&mut encoder, name, help, value)?;
        }
        let missing = store
            .requested_fields_total
            .saturating_sub(store.read_fields_total);
        let values = ConstCounter::new(store.read_fields_total);
        let family = encoder.encode_descriptor(
            "feature_values_served",
            "Feature values asked for, by whether they were present or missing (never written or expired)",
            None,
            values.metric_type(),
        )?;
        let mut family = family;
        values.encode(family.encode_family(&[("status", "present")])?)?;
        ConstCounter::new(missing).encode(family.encode_family(&[("status", "missing")])?)?;

        let runs = self.0.materialize_counts();
        let mut family = encoder.encode_descriptor(
            "materializations",
            "Materializations (Feast's /materialize routes, /api/materialize) that ended, by outcome (done, failed: an error or cut short)",
            None,
            MetricType::Counter,
        )?;
        for (outcome, count) in [("done", runs.done), ("failed", runs.failed)] {
            ConstCounter::new(count).encode(family.encode_family(&[("outcome", outcome)])?)?;
        }
        let gauges = [
            (
                "materializations_running",
                "Materializations going on or waiting for another admin operation",
                Some(runs.running as f64),
            ),
            (
                "entities",
                "Entities at the index's last pass",
                Some(state.entity_count as f64),
            ),
            (
                "entities_age_seconds",
                "Age of that count",
                state.entity_count_age_ms.map(|ms| ms as f64 / 1e3),
            ),
            (
                "worker_running",
                "1 while the worker task runs",
                Some(f64::from(u8::from(worker.running))),
            ),
            (
                "worker_paused",
                "1 while the worker is paused",
                Some(f64::from(u8::from(worker.paused))),
            ),
            (
                "worker_last_write_age_seconds",
                "Seconds since the worker last wrote; compare with the streaming TTL",
                age_seconds(worker.last_write_unix_ms),
            ),
            (
                "lease_held",
                "1 while this server holds the lease: it streams and walks the keyspace",
                Some(f64::from(u8::from(state.lease.held_here))),
            ),
            (
                "lease_token",
                "The lease's fencing token as last seen; it grows at each new holder",
                state.lease.token.map(|token| token as f64),
            ),
            (
                "lease_held_seconds",
                "Seconds the lease holder has held it",
                age_seconds(state.lease.holder_since_unix_ms),
            ),
            (
                "last_bulk_load_age_seconds",
                "Seconds since this server's last bulk load wrote (its last part, while one goes on); compare with the batch TTL",
                age_seconds(store.last_bulk_load_unix_ms),
            ),
            (
                "last_bulk_load_rows",
                "Entities written by that load (so far, while it goes on)",
                store
                    .last_bulk_load_unix_ms
                    .map(|_| store.last_bulk_load_rows as f64),
            ),
            (
                "batch_ttl_seconds",
                "Key-level TTL of bulk-loaded entities",
                Some(state.batch_ttl_seconds as f64),
            ),
            (
                "streaming_ttl_seconds",
                "Per-field TTL of streaming features",
                Some(state.streaming_ttl_seconds as f64),
            ),
        ];
        for (name, help, value) in gauges {
            // A time that has not happened yet is left out rather than shown as 0.
            if let Some(value) = value {
                let gauge = ConstGauge::new(value);
                gauge.encode(encoder.encode_descriptor(
                    name,
                    help,
                    None,
                    gauge.metric_type(),
                )?)?;
            }
        }
        let mut family = encoder.encode_descriptor(
            "read_duration_seconds",
            "Time the service took per read (kind=read) and per batch read (kind=batch_read), Redis round trip included, answered or not",
            None,
            MetricType::Histogram,
        )?;
        for (kind, latency) in self.0.read_latencies() {
            let snapshot = latency.snapshot();
            let buckets: Vec<(f64, u64)> = snapshot
                .upper_bounds_us
                .iter()
                .map(|&us| us as f64 / 1e6)
                .chain([f64::MAX])
                .zip(snapshot.counts.iter().copied())
                .collect();
            family
                .encode_family(&[("kind", kind)])?
                .encode_histogram::<NoLabelSet>(
                    latency.sum_seconds(),
                    snapshot.total(),
                    &buckets,
                    None,
                )?;
        }

        let info = ConstGauge::new(1_i64);
        let mut family = encoder.encode_descriptor(
            "build_info",
            "1, labelled with the server's version, Redis's version and the Redis mode",
            None,
            info.metric_type(),
        )?;
        info.encode(family.encode_family(&[
            ("version", env!("CARGO_PKG_VERSION")),
            ("redis_version", state.redis_version.as_str()),
            ("redis_mode", state.redis_mode.as_str()),
            ("role", state.lease.role.as_str()),
            ("replica", state.lease.replica.as_str()),
        ])?)?;
        // Who holds the lease, by name: one series, the value when it took it.
        if let Some(holder) = &state.lease.holder {
            let since = ConstGauge::new(state.lease.holder_since_unix_ms.unwrap_or(0) as f64 / 1e3);
            let mut family = encoder.encode_descriptor(
                "lease_holder",
                "The server holding the lease (label holder); the value is when it took it, in Unix seconds",
                None,
                since.metric_type(),
            )?;
            since.encode(family.encode_family(&[("holder", holder.as_str())])?)?;
        }
        Ok(())
    }
}

fn counter(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: u64,
) -> Result<(), std::fmt::Error> {
    let counter = ConstCounter::new(value);
    counter.encode(encoder.encode_descriptor(name, help, None, counter.metric_type())?)
}
