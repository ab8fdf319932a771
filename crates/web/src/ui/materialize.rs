//! The materialize panel: bulk load synthetic entities, or reset the store.

use leptos::prelude::*;

use super::widgets::{whole_number, NumberField, Panel};
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
        </Panel>
    }
}
