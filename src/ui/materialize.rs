//! The materialize panel: bulk load synthetic entities, or reset the store.

use leptos::prelude::*;

use super::widgets::{whole_number, Panel};
use super::Shared;
use crate::api::{BulkLoad, ResetStore};
use crate::limits::PIPELINE_CHUNK;

#[component]
pub fn MaterializePanel() -> impl IntoView {
    let shared = expect_context::<Shared>();
    let count = RwSignal::new("200".to_string());
    let ttl = RwSignal::new("86400".to_string());
    let bulk = ServerAction::<BulkLoad>::new();
    let reset = ServerAction::<ResetStore>::new();
    Effect::new(move |_| {
        if let Some(result) = bulk.value().get() {
            shared.report("Bulk load", &result);
            shared.changed.update(|n| *n += 1);
        }
    });
    Effect::new(move |_| {
        if let Some(result) = reset.value().get() {
            shared.report("Reset", &result);
            shared.changed.update(|n| *n += 1);
            if result.is_ok() {
                shared.resets.update(|n| *n += 1);
            }
        }
    });
    let load = move |_| {
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
            <div class="form">
                <label for="bulk-count">"Users"</label>
                <input id="bulk-count" type="number" inputmode="numeric" bind:value=count/>
                <label for="bulk-ttl">"Key TTL (s)"</label>
                <input id="bulk-ttl" type="number" inputmode="numeric" bind:value=ttl/>
            </div>
            <div class="buttons">
                <button on:click=load disabled=move || bulk.pending().get()>"Bulk-load"</button>
                <button class="danger" on:click=confirm_reset disabled=move || reset.pending().get()>
                    "Reset store"
                </button>
            </div>
            <p class="result" data-testid="bulk-result" aria-live="polite">
                {move || match bulk.value().get() {
                    Some(Ok(done)) => format!(
                        "Loaded {} users with a {} s key TTL in {:.1} ms.",
                        done.loaded, done.ttl_seconds, done.elapsed_ms
                    ),
                    _ => String::new(),
                }}
                {move || match reset.value().get() {
                    Some(Ok(done)) => format!(" Reset deleted {} users.", done.deleted),
                    _ => String::new(),
                }}
            </p>
        </Panel>
    }
}
