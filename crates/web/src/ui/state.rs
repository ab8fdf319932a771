//! The store state panel: the index's entity count and how old it is (and each entity's), the
//! TTLs, the counters (every entity's together).

use leptos::prelude::*;

use super::widgets::Panel;
use super::{last_seen, Outage};
use crate::limits::SCAN_COUNT;
use crate::model::{EntityState, StoreState};

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
