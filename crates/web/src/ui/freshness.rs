//! The freshness panel: how long since the worker last wrote and since the last bulk load,
//! against the TTLs that protect what they wrote, drawn over the last minute on a scale that
//! follows them; reads per second;
//! and read latency (p50, p99) from the server's own histograms. A stalled worker shows as a
//! line climbing toward its TTL before any field expires.

use std::collections::VecDeque;

use leptos::prelude::*;

use super::widgets::Panel;
use super::{last_seen, Outage};
use crate::model::{EntityState, LatencyHistogram, StoreState};

/// Polls kept: one a second, a minute.
const WINDOW: usize = 60;

#[derive(Clone, Debug, PartialEq)]
struct Sample {
    /// Seconds since the worker's last write, and since the last bulk load.
    worker_age: Option<f64>,
    load_age: Option<f64>,
    streaming_ttl: f64,
    /// The key TTL of the last load: its own, else the registry's.
    load_ttl: f64,
    reads_total: u64,
    as_of_unix_ms: u64,
    read_latency: LatencyHistogram,
    batch_read_latency: LatencyHistogram,
}

impl Sample {
    fn of(state: &StoreState) -> Self {
        let age = |unix_ms: Option<u64>| {
            unix_ms.map(|ms| state.as_of_unix_ms.saturating_sub(ms) as f64 / 1000.0)
        };
        // The worker and a bulk load write every entity: what they wrote starts expiring at
        // the shortest of the entities' TTLs.
        let shortest = |of: fn(&EntityState) -> Option<u64>, first: u64| {
            state.entities.iter().filter_map(of).min().unwrap_or(first) as f64
        };
        Sample {
            worker_age: age(state.worker.last_write_unix_ms),
            load_age: age(state.store.last_bulk_load_unix_ms),
            streaming_ttl: shortest(|e| e.streaming_ttl_seconds, state.streaming_ttl_seconds),
            load_ttl: state.store.last_bulk_load_ttl_seconds.map_or_else(
                || shortest(|e| Some(e.batch_ttl_seconds), state.batch_ttl_seconds),
                |ttl| ttl as f64,
            ),
            reads_total: state.store.reads_total,
            as_of_unix_ms: state.as_of_unix_ms,
            read_latency: state.read_latency.clone(),
            batch_read_latency: state.batch_read_latency.clone(),
        }
    }
}

/// SVG polyline points of `value / top` per poll of the window, newest at the right: 0 at the
/// bottom, `top` (or more) at the top; a poll without a value leaves a gap.
fn points(values: impl ExactSizeIterator<Item = Option<(f64, f64)>>) -> String {
    let step = 300.0 / (WINDOW - 1) as f64;
    let first = WINDOW - values.len();
    values
        .enumerate()
        .filter_map(|(at, value)| {
            let (value, top) = value?;
            let y = 100.0 - (value / top.max(1.0)).min(1.0) * 100.0;
            Some(format!("{:.1},{y:.1}", (first + at) as f64 * step))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Latency of what happened between each poll and the one before it, at quantile `q`, in µs.
fn interval_quantiles(
    history: &VecDeque<Sample>,
    latency: fn(&Sample) -> &LatencyHistogram,
    q: f64,
) -> Vec<Option<f64>> {
    let mut quantiles = vec![None];
    quantiles.extend(
        history
            .iter()
            .zip(history.iter().skip(1))
            .map(|(before, after)| latency(after).since(latency(before)).quantile_us(q)),
    );
    quantiles.truncate(history.len());
    quantiles
}

/// "p50 … · p99 …" over the whole window, or what is missing.
fn window_latency_text(
    history: &VecDeque<Sample>,
    latency: fn(&Sample) -> &LatencyHistogram,
) -> String {
    let (Some(first), Some(last)) = (history.front(), history.back()) else {
        return "…".to_owned();
    };
    let window = latency(last).since(latency(first));
    match (window.quantile_us(0.5), window.quantile_us(0.99)) {
        (Some(p50), Some(p99)) => format!(
            "p50 {} · p99 {} ({} read{})",
            micros_text(p50),
            micros_text(p99),
            window.total(),
            if window.total() == 1 { "" } else { "s" }
        ),
        _ => "no reads in the last minute".to_owned(),
    }
}

fn micros_text(us: f64) -> String {
    if us < 1000.0 {
        format!("{us:.0} µs")
    } else {
        format!("{:.1} ms", us / 1000.0)
    }
}

fn age_text(age: Option<f64>, ttl: f64, never: &str) -> String {
    match age {
        Some(age) => format!("{age:.1} s of a {ttl:.0} s TTL"),
        None => never.to_owned(),
    }
}

#[component]
pub fn FreshnessPanel(
    latest: Signal<Option<StoreState>>,
    outage: Signal<Option<Outage>>,
) -> impl IntoView {
    let history = RwSignal::new(VecDeque::<Sample>::with_capacity(WINDOW));
    Effect::new(move |_| {
        let Some(sample) = latest.with(|state| state.as_ref().map(Sample::of)) else {
            return;
        };
        history.update(|history| {
            if history
                .back()
                .is_some_and(|last| last.as_of_unix_ms == sample.as_of_unix_ms)
            {
                return;
            }
            if history.len() == WINDOW {
                history.pop_front();
            }
            history.push_back(sample);
        });
    });
    let last = move || history.with(|history| history.back().cloned());
    let reads_per_second = move || {
        history.with(|history| {
            let (Some(before), Some(now)) = (history.iter().rev().nth(1), history.back()) else {
                return "…".to_owned();
            };
            let seconds = now.as_of_unix_ms.saturating_sub(before.as_of_unix_ms) as f64 / 1000.0;
            let reads = now.reads_total.saturating_sub(before.reads_total) as f64;
            format!("{:.0}", reads / seconds.max(0.001))
        })
    };
    // The age chart's top: a quarter above the highest age of the window (10 s at least), up
    // to the larger TTL. Against the TTLs themselves, ages of seconds under a day-long key TTL
    // would lie flat on the floor; a TTL within the scale is drawn as a dashed line.
    let age_chart = Memo::new(move |_| {
        history.with(|history| {
            let highest = history
                .iter()
                .flat_map(|s| [s.worker_age, s.load_age])
                .flatten()
                .fold(0.0, f64::max);
            let ttls = history
                .back()
                .map_or([0.0, 0.0], |s| [s.streaming_ttl, s.load_ttl]);
            let top = (highest * 1.25)
                .max(10.0)
                .min(ttls[0].max(ttls[1]).max(1.0));
            let worker = points(history.iter().map(|s| Some((s.worker_age?, top))));
            let load = points(history.iter().map(|s| Some((s.load_age?, top))));
            let ttl_heights: Vec<f64> = ttls
                .into_iter()
                .filter(|&ttl| ttl > 0.0 && ttl <= top)
                .map(|ttl| 100.0 - ttl / top * 100.0)
                .collect();
            (worker, load, ttl_heights, format!("top: {top:.0} s"))
        })
    });
    // The latency chart's top: the highest p99 of the window, so both lines always fit. Once
    // per poll, for the two lines and the caption.
    let latency_lines = Memo::new(move |_| {
        history.with(|history| {
            let p50 = interval_quantiles(history, |s| &s.read_latency, 0.5);
            let p99 = interval_quantiles(history, |s| &s.read_latency, 0.99);
            let highest = p99.iter().flatten().copied().reduce(f64::max);
            let top = highest.unwrap_or(1.0);
            let line = |quantiles: Vec<Option<f64>>| {
                points(quantiles.into_iter().map(|us| us.map(|us| (us, top))))
            };
            let caption = match highest {
                Some(top) => format!("top: {}", micros_text(top)),
                None => "no reads in the last minute".to_owned(),
            };
            (line(p50), line(p99), caption)
        })
    });
    view! {
        <Panel id="freshness" title="Freshness" commands="No Redis call: the ages and the server's read-latency histograms come with the polled store state, drawn for the last minute; ages on a scale that follows them.">
            // The ages below stop at the last poll that answered; they are not the store's now.
            <Show when=move || outage.get().is_some()>
                <p class="error" data-testid="freshness-stale">{move || format!(
                    "As of {}, the last state seen: {}, so these ages are stale.",
                    last_seen(latest),
                    outage.get().map_or("", Outage::cause)
                )}</p>
            </Show>
            <dl class="facts">
                <dt><span class="swatch worker"></span>"Since the worker's last write"</dt>
                <dd data-testid="worker-age">{move || last().map(|s| age_text(s.worker_age, s.streaming_ttl, "no write yet"))}</dd>
                <dt><span class="swatch load"></span>"Since the last bulk load"</dt>
                <dd data-testid="load-age">{move || last().map(|s| age_text(s.load_age, s.load_ttl, "none by this server"))}</dd>
                <dt>"Reads per second"</dt>
                <dd data-testid="reads-per-second">{reads_per_second}</dd>
                <dt><span class="swatch p99"></span>"Read latency, last minute"</dt>
                <dd data-testid="read-latency">{move || history.with(|h| window_latency_text(h, |s| &s.read_latency))}</dd>
                <dt>"Batch read latency, last minute"</dt>
                <dd data-testid="batch-read-latency">{move || history.with(|h| window_latency_text(h, |s| &s.batch_read_latency))}</dd>
            </dl>
            <p class="chart-caption" data-testid="age-caption">
                "Ages over the last minute; " {move || age_chart.with(|chart| chart.3.clone())}
                "; a dashed line is a TTL within that scale"
            </p>
            <svg class="spark" viewBox="0 0 300 100" preserveAspectRatio="none" role="img"
                aria-label="Ages of the worker's last write and of the last bulk load over the last minute">
                {move || age_chart.with(|chart| chart.2.iter().map(|&y| view! {
                    <line class="ttl" x1="0" y1=y x2="300" y2=y/>
                }).collect_view())}
                <polyline class="worker" data-testid="worker-line" points=move || age_chart.with(|chart| chart.0.clone())/>
                <polyline class="load" points=move || age_chart.with(|chart| chart.1.clone())/>
            </svg>
            <p class="chart-caption" data-testid="latency-caption">"Read latency per second, p50 and p99; " {move || latency_lines.with(|lines| lines.2.clone())}</p>
            <svg class="spark" viewBox="0 0 300 100" preserveAspectRatio="none" role="img"
                aria-label="Read latency over the last minute, p50 and p99 of each second">
                <polyline class="p50" data-testid="p50-line" points=move || latency_lines.with(|lines| lines.0.clone())/>
                <polyline class="p99" data-testid="p99-line" points=move || latency_lines.with(|lines| lines.1.clone())/>
            </svg>
        </Panel>
    }
}
