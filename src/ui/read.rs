//! The inference read panel: pick an entity and features, read them with their freshness.

use leptos::prelude::*;

use super::features::{Chosen, FeaturePicker};
use super::widgets::{
    cleared_on_reset, countdown, picked_key, CommandLine, FeatureTable, Panel, UserPicker,
};
use super::Shared;
use crate::api::ReadFeatures;
use crate::model::{ReadResult, StoreState};
use crate::registry::Registry;

#[component]
pub fn ReadPanel(latest: Signal<Option<StoreState>>, registry: Signal<Registry>) -> impl IntoView {
    let shared = expect_context::<Shared>();
    let user = RwSignal::new(String::new());
    let chosen = Chosen::new(registry, Registry::read_by_default);
    let read = ServerAction::<ReadFeatures>::new();
    Effect::new(move |_| {
        if let Some(result) = read.value().get() {
            shared.report("Inference read", &result);
        }
    });
    cleared_on_reset(read);
    let (elapsed, run_read) = countdown(read, |r: &ReadResult| {
        r.fields.iter().map(|f| f.ttl_seconds).collect()
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        run_read(ReadFeatures {
            user: user.get_untracked(),
            fields: chosen.names(),
        });
    };
    // The exact command this read sends, for trying it in redis-cli.
    let key = picked_key(latest, user);
    let field_ttl_seconds =
        Signal::derive(move || latest.with(|s| s.as_ref().map_or(0, |s| s.streaming_ttl_seconds)));
    let command = move || format!("HMGET {} {}", key(), chosen.names().join(" "));
    view! {
        <Panel id="read" title="Inference read" commands="One HMGET for the chosen fields (timed); HTTL and TTL only to show freshness.">
            <CommandLine testid="read-command" command=Signal::derive(command)/>
            <form on:submit=submit on:input=move |_| shared.clear("Inference read")>
                <div class="form">
                    <UserPicker id="read-user" user latest/>
                </div>
                <FeaturePicker id="read" chosen/>
                <button type="submit"
                    disabled=move || !shared.ready() || read.pending().get() || user.with(String::is_empty)>"Read"</button>
            </form>
            <div aria-live="polite">
            {move || read.value().get().and_then(Result::ok).map(|r| {
                let head = format!(
                    "{}: {} of {} fields in {:.3} ms · key TTL ",
                    r.user, r.returned_count, r.fields.len(), r.elapsed_ms,
                );
                let key_ttl = r.key_ttl_seconds;
                let summary = move || format!("{head}{}", key_ttl.after(elapsed.get()).text("no key TTL"));
                view! {
                    <p class="result" data-testid="read-summary">{summary}</p>
                    <FeatureTable testid="read-table" rows=r.fields elapsed field_ttl_seconds/>
                }
            })}
            </div>
        </Panel>
    }
}
