//! The materialize panel: bulk load synthetic entities, materialize views from their sources
//! (when the registry has any), or reset the store.

use leptos::prelude::*;

use super::widgets::{whole_number, NumberField, Panel};
use super::Shared;
use crate::api::{BulkLoad, MaterializeSources, ResetStore};
use crate::format::{duration_text, utc_text};
use crate::limits::PIPELINE_CHUNK;
use crate::model::{StoreState, ViewWatermark};
use crate::registry::Registry;

#[component]
pub fn MaterializePanel(
    registry: Signal<Option<Registry>>,
    latest: Signal<Option<StoreState>>,
) -> impl IntoView {
    let shared = expect_context::<Shared>();
    let count = RwSignal::new("200".to_string());
    let ttl = RwSignal::new("86400".to_string());
    let bulk = ServerAction::<BulkLoad>::new();
    let reset = ServerAction::<ResetStore>::new();
    // What the panel did, oldest first, so the messages read in the order things happened.
    let done = RwSignal::new(Vec::<String>::new());
    let note = move |message: String| {
        done.update(|done| {
            if done.len() == 3 {
                done.remove(0);
            }
            done.push(message);
        })
    };
    Effect::new(move |_| {
        if let Some(result) = bulk.value().get() {
            shared.report("Bulk load", &result);
            shared.changed.update(|n| *n += 1);
            if let Ok(loaded) = result {
                let each: Vec<String> = loaded
                    .entities
                    .iter()
                    .map(|e| format!("{} {}s", e.loaded, e.entity))
                    .collect();
                note(format!(
                    "Loaded {} with a {} s key TTL in {:.1} ms.",
                    each.join(", "),
                    loaded.ttl_seconds,
                    loaded.elapsed_ms
                ));
            }
        }
    });
    Effect::new(move |_| {
        if let Some(result) = reset.value().get() {
            shared.report("Reset", &result);
            shared.changed.update(|n| *n += 1);
            if let Ok(reset) = result {
                shared.resets.update(|n| *n += 1);
                note(format!("Reset deleted {} entities.", reset.deleted));
            }
        }
    });
    let load = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let parsed = whole_number("Count", &count.get_untracked())
            .and_then(|c| whole_number("Key TTL", &ttl.get_untracked()).map(|t| (c, t)));
        match parsed {
            Ok((count, ttl_seconds)) => {
                bulk.dispatch(BulkLoad { count, ttl_seconds });
            }
            Err(message) => shared.banner.set(Some(("Bulk load", message))),
        }
    };
    let confirm_reset = move |_| {
        let sure = window()
            .confirm_with_message("Delete every user under this prefix?")
            .unwrap_or(false);
        if sure {
            reset.dispatch(ResetStore {});
        }
    };
    let commands = format!(
        "Per user, one script: HSET all batch fields and EXPIRE together (a key of another type \
         is skipped); pipelined in chunks of {PIPELINE_CHUNK}."
    );
    view! {
        <Panel id="materialize" title="Materialize" commands>
            <form on:submit=load on:input=move |_| shared.clear("Bulk load")>
                <div class="form">
                    <NumberField id="bulk-count" label="Users" value=count/>
                    <NumberField id="bulk-ttl" label="Key TTL (s)" value=ttl/>
                </div>
                <div class="buttons">
                    <button type="submit" disabled=move || bulk.pending().get()>"Bulk-load"</button>
                    <button type="button" class="danger" on:click=confirm_reset
                        disabled=move || reset.pending().get()>
                        "Reset store"
                    </button>
                </div>
            </form>
            <p class="result" data-testid="bulk-result" aria-live="polite">
                {move || done.with(|done| done.join(" "))}
            </p>
            <SourcesForm registry latest/>
        </Panel>
    }
}

/// Materializes views from their files in the background, as `feast materialize` (a window)
/// or `feast materialize-incremental` (no start) would through this server; the Store state
/// panel shows the run. Shown only when some view has a source.
#[component]
fn SourcesForm(
    registry: Signal<Option<Registry>>,
    latest: Signal<Option<StoreState>>,
) -> impl IntoView {
    let shared = expect_context::<Shared>();
    let sourced = move || -> Vec<String> {
        registry.with(|r| {
            (r.iter().flat_map(|r| &r.views))
                .filter(|view| view.source.is_some())
                .map(|view| view.name.clone())
                .collect()
        })
    };
    // The view's name, or empty for every view with a source.
    let view = RwSignal::new(String::new());
    let from = RwSignal::new(String::new());
    let to = RwSignal::new(String::new());
    let run = ServerAction::<MaterializeSources>::new();
    let said = RwSignal::new(String::new());
    Effect::new(move |_| {
        if let Some(result) = run.value().get() {
            shared.report("Materialize", &result);
            // A refusal leaves no line about an earlier run that reads like this one's.
            let Ok(accepted) = result else {
                said.set(String::new());
                return;
            };
            shared.changed.update(|n| *n += 1);
            let from = match accepted.start_unix_ms {
                Some(ms) => format!("from {}", utc_text(ms)),
                None => "from where each view's last incremental run ended".to_owned(),
            };
            said.set(format!(
                "Materializing {} {from} to {} in the background: Store state shows how it goes.",
                accepted.feature_views.join(", "),
                utc_text(accepted.end_unix_ms)
            ));
        }
    });
    let start = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let typed = |text: String| Some(text.trim().to_owned()).filter(|t| !t.is_empty());
        run.dispatch(MaterializeSources {
            views: typed(view.get_untracked()).map(|name| vec![name]),
            start: typed(from.get_untracked()),
            end: typed(to.get_untracked()),
        });
    };
    view! {
        <Show when=move || !sourced().is_empty()>
            <form class="sources" on:submit=start on:input=move |_| shared.clear("Materialize")>
                <h3>"From the views' files"</h3>
                <div class="form">
                    <span class="field">
                        <label for="source-view">"View"</label>
                        <select id="source-view" data-testid="source-view"
                            on:change=move |ev| view.set(event_target_value(&ev))>
                            <option value="">"every view with a source"</option>
                            {sourced().into_iter().map(|name| view! {
                                <option value=name.clone()>{name.clone()}</option>
                            }).collect_view()}
                        </select>
                    </span>
                    <TimeField id="source-from" label="From" value=from
                        empty="from where the view's last incremental run ended"
                        placeholder="last run's end"/>
                    <TimeField id="source-to" label="To" value=to empty="now" placeholder="now"/>
                </div>
                <div class="buttons">
                    <button type="submit" disabled=move || run.pending().get()>"Materialize"</button>
                </div>
            </form>
            <p class="hint" data-testid="sources-starts">{move || {
                let marks = latest.with(|s| s.as_ref().map(|s| s.watermarks.clone()));
                registry.with(|r| {
                    let ttl = |view: &str| r.as_ref().and_then(|r| r.view(view)).map(|v| v.ttl_seconds);
                    starts_text(&marks.unwrap_or_default(), ttl)
                })
            }}</p>
            <p class="result" data-testid="sources-result" aria-live="polite">{move || said.get()}</p>
        </Show>
    }
}

/// Where a run with an empty From starts each view: where its last incremental run ended, else
/// its TTL (`ttl` of a view's name) before To.
fn starts_text(marks: &[ViewWatermark], ttl: impl Fn(&str) -> Option<u64>) -> String {
    let each: Vec<String> = (marks.iter())
        .map(|mark| match mark.ended_unix_ms {
            Some(ms) => format!(
                "{} at {}, where its last incremental run ended",
                mark.view,
                utc_text(ms)
            ),
            None if mark.unreadable => format!(
                "{} nowhere: its mark in Redis is not a time (delete it)",
                mark.view
            ),
            None => match ttl(&mark.view) {
                Some(ttl) => format!(
                    "{} {} (its TTL) before To: no incremental run of it has ended",
                    mark.view,
                    duration_text(ttl)
                ),
                None => format!("{} one TTL before To", mark.view),
            },
        })
        .collect();
    if each.is_empty() {
        return String::new();
    }
    format!("An empty From starts {}.", each.join("; "))
}

/// A time typed as the server reads one; `empty` says what a blank field means.
#[component]
fn TimeField(
    id: &'static str,
    label: &'static str,
    value: RwSignal<String>,
    empty: &'static str,
    placeholder: &'static str,
) -> impl IntoView {
    let title = format!("2026-12-01, 2026-12-01 10:00 (UTC) or RFC 3339; empty: {empty}");
    view! {
        <span class="field">
            <label for=id>{label}</label>
            <input id=id type="text" placeholder=placeholder title=title bind:value=value/>
        </span>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_from_says_where_each_view_starts() {
        let mark = |view: &str, ended_unix_ms, unreadable| ViewWatermark {
            view: view.into(),
            ended_unix_ms,
            unreadable,
        };
        let marks = [
            mark("user_batch", Some(3_600_000), false),
            mark("card_batch", None, false),
            mark("odd_batch", None, true),
        ];
        let ttl = |view: &str| (view == "card_batch").then_some(86_400);
        assert_eq!(
            starts_text(&marks, ttl),
            "An empty From starts user_batch at 1970-01-01 01:00:00 UTC, where its last \
             incremental run ended; card_batch 1 d 00 h 00 m (its TTL) before To: no incremental \
             run of it has ended; odd_batch nowhere: its mark in Redis is not a time (delete it)."
        );
        assert_eq!(starts_text(&[], ttl), "");
    }
}
