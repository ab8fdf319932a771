//! The batch scoring panel: one pipelined HMGET per entity, timed.

use leptos::prelude::*;

use super::features::{Chosen, FeaturePicker};
use super::widgets::{cleared_on_change, whole_number, NumberField, Panel};
use super::Shared;
use crate::api::BatchRead;
use crate::limits::PIPELINE_CHUNK;
use crate::registry::Registry;

#[component]
pub fn BatchPanel(registry: Signal<Option<Registry>>) -> impl IntoView {
    let shared = expect_context::<Shared>();
    let chosen = Chosen::new(registry, Registry::batch_read_default);
    let count = RwSignal::new("100".to_string());
    let batch = ServerAction::<BatchRead>::new();
    Effect::new(move |_| {
        if let Some(result) = batch.value().get() {
            shared.report("Batch scoring", &result);
        }
    });
    cleared_on_change(batch);
    let pasted = RwSignal::new(String::new());
    // Pasted ids, as a scoring service sends them, win over the count.
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let ids: Vec<String> = pasted.with_untracked(|text| {
            text.split(|c: char| c == ',' || c.is_whitespace())
                .filter(|id| !id.is_empty())
                .map(str::to_owned)
                .collect()
        });
        if !ids.is_empty() {
            batch.dispatch(BatchRead {
                count: None,
                ids: Some(ids),
                fields: Some(chosen.names()),
                entity: shared.entity_name.get_untracked(),
            });
            return;
        }
        match whole_number("Count", &count.get_untracked()) {
            Ok(count) => {
                batch.dispatch(BatchRead {
                    count: Some(count),
                    ids: None,
                    fields: Some(chosen.names()),
                    entity: shared.entity_name.get_untracked(),
                });
            }
            Err(message) => shared.banner.set(Some(("Batch scoring", message))),
        }
    };
    let commands =
        format!("One HMGET per user, pipelined in chunks of {PIPELINE_CHUNK} sent together: one round trip of latency.");
    view! {
        <Panel id="batch" title="Batch scoring" commands>
            <form on:submit=submit on:input=move |_| shared.clear("Batch scoring")>
                <div class="form">
                    <NumberField id="batch-count" label="Users" value=count/>
                    <label for="batch-ids">"or these ids"</label>
                    <textarea id="batch-ids" rows="2" placeholder="u0003, u0042, …" bind:value=pasted></textarea>
                </div>
                <FeaturePicker id="batch" chosen/>
                <button type="submit" disabled=move || batch.pending().get()>"Pipeline HMGET"</button>
            </form>
            <div aria-live="polite">
            {move || batch.value().get().and_then(Result::ok).map(|b| {
                // The sample shows the first field asked for.
                let first = b.fields.first().cloned().unwrap_or_default();
                let per_entity_us = b.elapsed_ms * 1000.0 / b.entity_count.max(1) as f64;
                view! {
                    <p class="result" data-testid="batch-summary">
                        {format!(
                            "{} users × {} fields in {:.3} ms ({per_entity_us:.1} µs per user): {}",
                            b.entity_count, b.field_count, b.elapsed_ms, b.fields.join(", ")
                        )}
                    </p>
                    <table data-testid="batch-sample">
                        <thead><tr>
                            <th>"User"</th>
                            <th title="Fields found of the fields asked: an absent field was never written or has expired; a missing user has none">
                                "Found / asked"
                            </th>
                            <th>{first.clone()}</th>
                        </tr></thead>
                        <tbody>
                            {b.sample.into_iter().map(|s| view! {
                                <tr>
                                    <td>{s.id}</td>
                                    <td>{format!("{} / {}", s.field_count, b.field_count)}</td>
                                    <td>{s.values.get(&first).cloned().unwrap_or_else(|| "missing or expired".into())}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                    {(!b.failed.is_empty()).then(|| view! {
                        <p class="error" data-testid="batch-failed">
                            {b.failed.iter().map(|f| f.error.clone()).collect::<Vec<_>>().join("; ")}
                        </p>
                    })}
                }
            })}
            </div>
        </Panel>
    }
}
