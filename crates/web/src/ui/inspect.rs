//! The inspect panel: every field of one entity with its TTL, never on the hot path.

use leptos::prelude::*;

use super::widgets::{
    cleared_on_change, countdown, picked_key, CommandLine, FeatureTable, Panel, UserPicker,
};
use super::Shared;
use crate::api::Inspect;
use crate::model::{Inspection, StoreState};

#[component]
pub fn InspectPanel(latest: Signal<Option<StoreState>>) -> impl IntoView {
    let shared = expect_context::<Shared>();
    let user = RwSignal::new(String::new());
    let inspect = ServerAction::<Inspect>::new();
    Effect::new(move |_| {
        if let Some(result) = inspect.value().get() {
            shared.report("Inspect", &result);
        }
    });
    cleared_on_change(inspect);
    let (elapsed, run_inspect) = countdown(inspect, |i: &Inspection| {
        i.fields.iter().map(|f| f.ttl_seconds).collect()
    });
    let key = picked_key(latest, user);
    let command = move || format!("HGETALL {}", key());
    view! {
        <Panel id="inspect" title="Inspect one user" commands="HGETALL, HTTL and TTL: for inspection only, never on the hot path.">
            <CommandLine testid="inspect-command" command=Signal::derive(command)/>
            <form
                on:submit=move |ev: leptos::ev::SubmitEvent| {
                    ev.prevent_default();
                    run_inspect(Inspect {
                        user: user.get_untracked(),
                        entity: shared.entity_name.get_untracked(),
                    });
                }
                on:input=move |_| shared.clear("Inspect")
            >
                <div class="form">
                    <UserPicker id="inspect-user" user latest/>
                </div>
                <button type="submit"
                    disabled=move || inspect.pending().get() || user.with(String::is_empty)>"Inspect"</button>
            </form>
            <div aria-live="polite">
            {move || inspect.value().get().and_then(Result::ok).map(|i| {
                let key_ttl = i.key_ttl_seconds;
                let (user, exists) = (i.user.clone(), i.exists);
                let summary = move || if exists {
                    format!("{user} · key TTL {}", crate::format::ttl_text(key_ttl.after(elapsed.get()), "no key TTL"))
                } else {
                    format!("{user} does not exist (expired or never loaded)")
                };
                view! {
                    <p class="result" data-testid="inspect-summary">{summary}</p>
                    <FeatureTable testid="inspect-table" rows=i.fields elapsed latest/>
                }
            })}
            </div>
        </Panel>
    }
}
