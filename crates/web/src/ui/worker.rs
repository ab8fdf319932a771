//! The streaming worker panel: what it has done, and the switch.

use leptos::prelude::*;

use super::widgets::Panel;
use super::{last_seen, Outage, Shared};
use crate::api::SwitchWorker;
use crate::model::{StoreState, WorkerAction};

#[component]
pub fn WorkerPanel(
    latest: Signal<Option<StoreState>>,
    outage: Signal<Option<Outage>>,
) -> impl IntoView {
    let shared = expect_context::<Shared>();
    let switch = ServerAction::<SwitchWorker>::new();
    Effect::new(move |_| {
        if let Some(result) = switch.value().get() {
            shared.report("Streaming worker", &result);
            shared.changed.update(|n| *n += 1);
        }
    });
    let worker = move || latest.with(|s| s.as_ref().map(|s| s.worker.clone()));
    // Among servers sharing the prefix, one holds the lease and streams; this panel may be
    // served by another, and shows the holder's counters.
    let streams_on = move || {
        latest.with(|s| {
            s.as_ref().map(|s| match &s.lease.holder {
                Some(holder) => format!(
                    "{holder} ({}, lease token {}, since {})",
                    if s.lease.held_here {
                        "this server"
                    } else {
                        "another server"
                    },
                    s.lease.token.unwrap_or(0),
                    s.lease
                        .holder_since_unix_ms
                        .map_or_else(|| "…".to_owned(), crate::format::utc_text),
                ),
                None => {
                    "no server holds the lease now: nothing streams until one takes it".to_owned()
                }
            })
        })
    };
    let label = move || worker().map_or("…", |w| w.label());
    // The button names what it asks for, from the worker's last known state.
    let action = move || match worker() {
        Some(w) if w.running && !w.paused => WorkerAction::Pause,
        Some(w) if w.running => WorkerAction::Resume,
        _ => WorkerAction::Start,
    };
    let button = move || match action() {
        WorkerAction::Start => "Start",
        WorkerAction::Pause => "Pause",
        WorkerAction::Resume => "Resume",
    };
    // The write command is the one this server picked for its Redis version.
    let commands = Signal::derive(move || {
        let write = latest.with(|s| s.as_ref().map(|s| s.streaming_write.clone()));
        format!(
            "Each tick, per sampled user, one script: only if the entity exists with its key TTL, \
             {} (values and TTL atomically); otherwise the write is skipped.",
            write.as_deref().unwrap_or("…")
        )
    });
    view! {
        <Panel id="worker" title="Streaming worker" commands>
            <p>
                // While the state poll fails the badge says the last state seen, greyed: the
                // worker may be running, but its ticks are failing.
                <span class=move || format!("badge {}{}", label(), if outage.get().is_some() { " stale" } else { "" })
                    data-testid="worker-badge">{label}</span>
            </p>
            // The counters below stop at the last poll that answered; ticks keep failing meanwhile.
            <Show when=move || outage.get().is_some()>
                <p class="error" data-testid="worker-stale">{move || match outage.get() {
                    Some(Outage::Server) => format!(
                        "As of {}, the last state seen: the feature-store server does not answer, \
                         so nothing is known of its worker until it does.",
                        last_seen(latest)
                    ),
                    _ => format!(
                        "As of {}, the last state seen: while Redis does not answer, the worker's \
                         ticks fail; their count shows once Redis answers again.",
                        last_seen(latest)
                    ),
                }}</p>
            </Show>
            <dl class="facts">
                <dt>"Streams on"</dt>
                <dd data-testid="worker-holder">{streams_on}</dd>
                <dt>"Ticks"</dt>
                <dd data-testid="worker-ticks">{move || worker().map(|w| w.tick_count)}</dd>
                <dt>"Users written"</dt>
                <dd data-testid="worker-writes">{move || worker().map(|w| w.writes_count)}</dd>
                <dt>"Skipped (entity gone)"</dt>
                <dd data-testid="worker-skipped">{move || worker().map(|w| w.skipped_count)}</dd>
                <dt>"Refused by the fence"</dt>
                <dd data-testid="worker-fenced">{move || worker().map(|w| w.fenced_count)}</dd>
                <dt>"Failed ticks"</dt>
                <dd data-testid="worker-failed">{move || worker().map(|w| w.error_count)}</dd>
                <dt>"Last error"</dt>
                // Still failing is an error; an error the worker has written past is history.
                <dd data-testid="worker-last-error"
                    class:error=move || worker().is_some_and(|w| w.last_error.is_some() && w.writes_since_last_error == 0)>
                    {move || worker().map(|w| match (w.last_error, w.last_error_unix_ms) {
                        (Some(message), Some(at)) => format!(
                            "{message} (at {}; {} writes since)",
                            crate::format::utc_text(at),
                            w.writes_since_last_error
                        ),
                        _ => "none".to_owned(),
                    })}
                </dd>
            </dl>
            <button
                data-testid="worker-toggle"
                on:click=move |_| { switch.dispatch(SwitchWorker { action: action() }); }
                disabled=move || switch.pending().get()
            >{button}</button>
        </Panel>
    }
}
