//! The store state panel: the index's entity count and how old it is (and each entity's), the
//! TTLs, the counters (every entity's together).

use leptos::prelude::*;

use super::widgets::Panel;
use super::{last_seen, Outage};
use crate::format::{duration_text, utc_text};
use crate::limits::SCAN_COUNT;
use crate::model::{EntityState, MaterializeRun, RunWindow, StoreState};

#[component]
pub fn StatePanel(
    latest: Signal<Option<StoreState>>,
    outage: Signal<Option<Outage>>,
) -> impl IntoView {
    let fact = move |f: fn(&StoreState) -> String| {
        move || latest.with(|s| s.as_ref().map(f).unwrap_or_else(|| "…".into()))
    };
    let commands = format!(
        "One background index per server walks SCAN MATCH prefix* TYPE hash COUNT {SCAN_COUNT}, \
         resting at least 1 s (4× the walk) between passes; no request scans. This panel polls \
         its last pass every second."
    );
    view! {
        <Panel id="state" title="Store state" commands>
            <dl class="facts">
                <dt>"Entities (≈, last index pass)"</dt>
                <dd data-testid="entity-count" class="big">{fact(|s| s.entity_count.to_string())}</dd>
                <dt>"Counted"</dt>
                <dd data-testid="entity-count-age" class:error=move || outage.get().is_some()>{move || if let Some(outage) = outage.get() {
                    format!(
                        "unavailable since {}: {}; the figures are the last ones seen",
                        last_seen(latest),
                        outage.cause()
                    )
                } else {
                    fact(|s| match s.entity_count_age_ms {
                        Some(age) => format!("{:.1} s ago", age as f64 / 1000.0),
                        None => "not yet".into(),
                    })()
                }}</dd>
                <dt>"Mode"</dt>
                <dd data-testid="state-mode">{fact(|s| if s.entities_per_master.is_empty() {
                    s.redis_mode.clone()
                } else {
                    let masters: Vec<String> = s.entities_per_master.iter()
                        .map(|m| format!("{} {}", m.master, m.entities))
                        .collect();
                    format!("{}: {}", s.redis_mode, masters.join(" · "))
                })}</dd>
                <dt>"Key prefix"</dt>
                <dd><code>{fact(|s| s.key_prefix.clone())}</code></dd>
                // The count above is the first entity's; with several, each one's.
                <Show when=move || latest.with(|s| s.as_ref().is_some_and(|s| s.entities.len() > 1))>
                    <dt>"Each entity"</dt>
                    <dd data-testid="entity-counts">{fact(|s| {
                        let each: Vec<String> = s.entities.iter()
                            .map(|e| format!("{} {} at {}", e.entity, e.count, e.key_prefix))
                            .collect();
                        each.join(" · ")
                    })}</dd>
                </Show>
                <dt>"Batch TTL (key)"</dt>
                <dd data-testid="batch-ttl">{fact(|s| each_ttl(s, |e| Some(e.batch_ttl_seconds)))}</dd>
                <dt>"Streaming TTL (field)"</dt>
                <dd data-testid="streaming-ttl">{fact(|s| each_ttl(s, |e| e.streaming_ttl_seconds))}</dd>
                <dt>"Batch writes"</dt>
                <dd data-testid="batch-writes">{fact(|s| s.store.batch_writes_total.to_string())}</dd>
                <dt>"Streaming writes"</dt>
                <dd data-testid="streaming-writes">{fact(|s| s.store.streaming_writes_total.to_string())}</dd>
                <dt>"Reads"</dt>
                <dd data-testid="reads">{fact(|s| s.store.reads_total.to_string())}</dd>
                <dt>"Fields read"</dt>
                <dd data-testid="read-fields">{fact(|s| s.store.read_fields_total.to_string())}</dd>
                <dt>"Worker"</dt>
                <dd data-testid="state-worker">{fact(|s| s.worker.label().to_string())}</dd>
                // Materializations, by Feast's routes or the panel: going on, then the last ended.
                <Show when=move || latest.with(|s| s.as_ref().is_some_and(|s| !s.materializations.is_empty()))>
                    <dt>"Materializations"</dt>
                    <dd data-testid="materializations">{move || latest.with(|s| {
                        s.as_ref().map(|s| s.materializations.iter().map(|run| {
                            let failed = run.error.is_some();
                            view! { <div class:error=failed>{run_text(run, s.as_of_unix_ms, &s.lease.replica)}</div> }
                        }).collect_view())
                    })}</dd>
                </Show>
            </dl>
        </Panel>
    }
}

/// One kind of TTL: the one every entity shares, else each entity's ("none": it has no view of
/// that kind), never the first entity's alone.
fn each_ttl(state: &StoreState, of: fn(&EntityState) -> Option<u64>) -> String {
    let text = |ttl: Option<u64>| ttl.map_or_else(|| "none".to_owned(), |ttl| format!("{ttl} s"));
    let each: Vec<Option<u64>> = state.entities.iter().map(of).collect();
    match each.first() {
        Some(&first) if each.iter().all(|&ttl| ttl == first) => text(first),
        Some(_) => {
            let named: Vec<String> = (state.entities.iter().zip(each))
                .map(|(entity, ttl)| format!("{} {}", entity.entity, text(ttl)))
                .collect();
            named.join(" · ")
        }
        None => "…".to_owned(),
    }
}

/// One materialization as the panel lists it: its views, the server running it unless it is
/// this one (`here`), and where it stands `now` (Unix ms).
fn run_text(run: &MaterializeRun, now: u64, here: &str) -> String {
    let ago = |unix_ms: u64| duration_text(now.saturating_sub(unix_ms) / 1000);
    let rows = format!("{} rows read, {} written", run.rows_read, run.written);
    let how = match (run.finished_unix_ms, &run.error) {
        (None, _) if run.waiting => format!(
            "waiting for another admin operation since {} ago",
            ago(run.asked_unix_ms)
        ),
        (None, _) => format!("running for {}: {rows} so far", ago(run.asked_unix_ms)),
        (Some(end), None) => format!("done {} ago: {rows}", ago(end)),
        (Some(end), Some(error)) => format!("failed {} ago after {rows}: {error}", ago(end)),
    };
    let pace = run
        .max_rows_per_second
        .map(|rows| format!("at most {rows} rows/s"));
    let marks: Vec<&str> = [
        run.incremental.then_some("incremental"),
        run.background.then_some("background"),
        pace.as_deref(),
    ]
    .into_iter()
    .flatten()
    .collect();
    let kind = if marks.is_empty() {
        String::new()
    } else {
        format!(" ({})", marks.join(", "))
    };
    let server = if run.server.is_empty() || run.server == here {
        String::new()
    } else {
        format!(" on {}", run.server)
    };
    format!(
        "{}{kind}{server}: {how}{}",
        run.views.join(", "),
        windows_text(&run.windows)
    )
}

/// The run's windows: one, when every view's is the same.
fn windows_text(windows: &[RunWindow]) -> String {
    let span = |w: &RunWindow| {
        format!(
            "from {} to {}",
            utc_text(w.start_unix_ms),
            utc_text(w.end_unix_ms)
        )
    };
    match windows {
        [] => String::new(),
        [first, rest @ ..]
            if (rest.iter()).all(|w| {
                (w.start_unix_ms, w.end_unix_ms) == (first.start_unix_ms, first.end_unix_ms)
            }) =>
        {
            format!("; {}", span(first))
        }
        _ => {
            let each: Vec<String> = (windows.iter())
                .map(|w| format!("{} {}", w.view, span(w)))
                .collect();
            format!("; {}", each.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HERE: &str = "127.0.0.1:8093#41-00ab";

    #[test]
    fn a_run_reads_as_waiting_running_done_or_failed() {
        let now = 1_764_114_074_000;
        let mut run = MaterializeRun {
            views: vec!["user_batch".into()],
            server: HERE.into(),
            background: true,
            asked_unix_ms: now - 12_000,
            waiting: true,
            ..MaterializeRun::default()
        };
        assert_eq!(
            run_text(&run, now, HERE),
            "user_batch (background): waiting for another admin operation since 12 s ago"
        );
        run.waiting = false;
        (run.rows_read, run.written) = (40, 39);
        assert_eq!(
            run_text(&run, now, HERE),
            "user_batch (background): running for 12 s: 40 rows read, 39 written so far"
        );
        run.finished_unix_ms = Some(now - 3_000);
        assert_eq!(
            run_text(&run, now, HERE),
            "user_batch (background): done 3 s ago: 40 rows read, 39 written"
        );
        run.error = Some("source path \"a.parquet\" matches no file".into());
        (run.background, run.incremental) = (false, true);
        assert_eq!(
            run_text(&run, now, HERE),
            "user_batch (incremental): failed 3 s ago after 40 rows read, 39 written: \
             source path \"a.parquet\" matches no file"
        );
        // A paced run says so: a slow run is not taken for a stuck one.
        (run.finished_unix_ms, run.error) = (None, None);
        (run.background, run.max_rows_per_second) = (true, Some(1000));
        assert_eq!(
            run_text(&run, now, HERE),
            "user_batch (incremental, background, at most 1000 rows/s): running for 12 s: 40 \
             rows read, 39 written so far"
        );
    }

    #[test]
    fn another_servers_run_names_it() {
        let run = MaterializeRun {
            views: vec!["user_batch".into()],
            server: "10.0.0.5:8093#7-1f2e".into(),
            background: true,
            asked_unix_ms: 1_000,
            ..MaterializeRun::default()
        };
        assert_eq!(
            run_text(&run, 4_000, HERE),
            "user_batch (background) on 10.0.0.5:8093#7-1f2e: running for 3 s: 0 rows read, 0 \
             written so far"
        );
    }

    #[test]
    fn a_run_says_its_window_once_when_every_view_shares_it() {
        let hour = 3_600_000;
        let window = |view: &str, start: u64, end: u64| RunWindow {
            view: view.into(),
            start_unix_ms: start,
            end_unix_ms: end,
        };
        let mut run = MaterializeRun {
            views: vec!["user_batch".into(), "card_batch".into()],
            server: HERE.into(),
            incremental: true,
            asked_unix_ms: 0,
            finished_unix_ms: Some(hour),
            windows: vec![window("user_batch", 0, hour), window("card_batch", 0, hour)],
            ..MaterializeRun::default()
        };
        assert_eq!(
            run_text(&run, hour, HERE),
            "user_batch, card_batch (incremental): done 0 s ago: 0 rows read, 0 written; from \
             1970-01-01 00:00:00 UTC to 1970-01-01 01:00:00 UTC"
        );
        run.windows[1].start_unix_ms = hour / 2;
        assert_eq!(
            run_text(&run, hour, HERE),
            "user_batch, card_batch (incremental): done 0 s ago: 0 rows read, 0 written; \
             user_batch from 1970-01-01 00:00:00 UTC to 1970-01-01 01:00:00 UTC, card_batch \
             from 1970-01-01 00:30:00 UTC to 1970-01-01 01:00:00 UTC"
        );
    }
}
