//! The freshness panel: how long since the worker last wrote and since the last bulk load,
//! against the TTLs that protect what they wrote, drawn over the last minute; and reads per
//! second. A stalled worker shows as a line climbing toward its TTL before any field expires.

use std::collections::VecDeque;

use leptos::prelude::*;

use super::widgets::Panel;
use crate::model::StoreState;

/// Polls kept: one a second, a minute.
const WINDOW: usize = 60;

#[derive(Clone, Copy, Debug, PartialEq)]
struct Sample {
    /// Seconds since the worker's last write, and since the last bulk load.
    worker_age: Option<f64>,
    load_age: Option<f64>,
    streaming_ttl: f64,
    batch_ttl: f64,
    reads_total: u64,
    as_of_unix_ms: u64,
}

impl Sample {
    fn of(state: &StoreState) -> Self {
        let age = |unix_ms: Option<u64>| {
            unix_ms.map(|ms| state.as_of_unix_ms.saturating_sub(ms) as f64 / 1000.0)
        };
        Sample {
            worker_age: age(state.worker.last_write_unix_ms),
            load_age: age(state.store.last_bulk_load_unix_ms),
            streaming_ttl: state.streaming_ttl_seconds as f64,
            batch_ttl: state.batch_ttl_seconds as f64,
            reads_total: state.store.reads_total,
            as_of_unix_ms: state.as_of_unix_ms,
        }
    }
}

/// SVG polyline points of `age / ttl` over the window: 0 at the bottom, the TTL at the top.
fn points(history: &VecDeque<Sample>, line: impl Fn(&Sample) -> Option<(f64, f64)>) -> String {
    let step = 300.0 / (WINDOW - 1) as f64;
    let first = WINDOW - history.len();
    history
        .iter()
        .enumerate()
        .filter_map(|(at, sample)| {
            let (age, ttl) = line(sample)?;
            let y = 100.0 - (age / ttl.max(1.0)).min(1.0) * 100.0;
            Some(format!("{:.1},{y:.1}", (first + at) as f64 * step))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn age_text(age: Option<f64>, ttl: f64, never: &str) -> String {
    match age {
        Some(age) => format!("{age:.1} s of a {ttl:.0} s TTL"),
        None => never.to_owned(),
    }
}

#[component]
pub fn FreshnessPanel(latest: Signal<Option<StoreState>>) -> impl IntoView {
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
    let last = move || history.with(|history| history.back().copied());
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
    view! {
        <Panel id="freshness" title="Freshness" commands="No Redis call: the ages come with the polled store state, drawn for the last minute against their TTLs (top of the chart).">
            <dl class="facts">
                <dt><span class="swatch worker"></span>"Since the worker's last write"</dt>
                <dd data-testid="worker-age">{move || last().map(|s| age_text(s.worker_age, s.streaming_ttl, "no write yet"))}</dd>
                <dt><span class="swatch load"></span>"Since the last bulk load"</dt>
                <dd data-testid="load-age">{move || last().map(|s| age_text(s.load_age, s.batch_ttl, "none by this server"))}</dd>
                <dt>"Reads per second"</dt>
                <dd data-testid="reads-per-second">{reads_per_second}</dd>
            </dl>
            <svg class="spark" viewBox="0 0 300 100" preserveAspectRatio="none" role="img"
                aria-label="Ages of the worker's last write and of the last bulk load over the last minute, as a share of their TTLs">
                <line class="ttl" x1="0" y1="1" x2="300" y2="1"/>
                <polyline class="worker" data-testid="worker-line"
                    points=move || history.with(|h| points(h, |s| Some((s.worker_age?, s.streaming_ttl))))/>
                <polyline class="load"
                    points=move || history.with(|h| points(h, |s| Some((s.load_age?, s.batch_ttl))))/>
            </svg>
        </Panel>
    }
}
