//! The inference read panel: pick an entity and features, read them with their freshness.

use leptos::prelude::*;

use super::widgets::{cleared_on_reset, countdown, picked_key, FeatureTable, Panel, UserPicker};
use super::Shared;
use crate::api::ReadFeatures;
use crate::model::{ReadResult, StoreState};
use crate::schema::{FeatureKind, FEATURES, READ_BY_DEFAULT};

#[component]
pub fn ReadPanel(latest: Signal<Option<StoreState>>) -> impl IntoView {
    let shared = expect_context::<Shared>();
    let user = RwSignal::new(String::new());
    let chosen = RwSignal::new(READ_BY_DEFAULT.map(str::to_owned).to_vec());
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
    let checkboxes = move |kind: FeatureKind| {
        FEATURES
            .iter()
            .filter(move |f| f.kind == kind)
            .map(|f| {
                let name = f.name;
                let id = format!("read-{name}");
                let label_for = id.clone();
                view! {
                    <label class="check" for=label_for>
                        <input type="checkbox" id=id
                            prop:checked=move || chosen.with(|c| c.iter().any(|n| n == name))
                            on:change=move |ev| {
                                let on = event_target_checked(&ev);
                                chosen.update(|c| {
                                    c.retain(|n| n != name);
                                    if on {
                                        c.push(name.to_owned());
                                    }
                                });
                            }
                        />
                        {name}
                    </label>
                }
            })
            .collect_view()
    };
    let submit = move |_| {
        // Keep schema order, whatever order the boxes were ticked in.
        let fields = FEATURES
            .iter()
            .map(|f| f.name.to_owned())
            .filter(|n| chosen.with_untracked(|c| c.contains(n)))
            .collect();
        run_read(ReadFeatures {
            user: user.get_untracked(),
            fields,
        });
    };
    // The exact command this read sends, for trying it in redis-cli.
    let key = picked_key(latest, user);
    let command = move || {
        let fields: Vec<&str> = FEATURES
            .iter()
            .map(|f| f.name)
            .filter(|n| chosen.with(|c| c.iter().any(|chosen| chosen == n)))
            .collect();
        format!("HMGET {} {}", key(), fields.join(" "))
    };
    view! {
        <Panel id="read" title="Inference read" commands="One HMGET for the chosen fields (timed); HTTL and TTL only to show freshness.">
            <code class="command" data-testid="read-command" title="One click selects it">{command}</code>
            <div class="form">
                <UserPicker id="read-user" user latest/>
            </div>
            <fieldset>
                <legend><span class="badge batch">"batch"</span>" features"</legend>
                {checkboxes(FeatureKind::Batch)}
            </fieldset>
            <fieldset>
                <legend><span class="badge streaming">"streaming"</span>" features"</legend>
                {checkboxes(FeatureKind::Streaming)}
            </fieldset>
            <button on:click=submit
                disabled=move || read.pending().get() || user.with(String::is_empty)>"Read"</button>
            {move || read.value().get().and_then(Result::ok).map(|r| {
                let head = format!(
                    "{}: {} of {} fields in {:.3} ms · key TTL ",
                    r.user, r.returned_count, r.fields.len(), r.elapsed_ms,
                );
                let key_ttl = r.key_ttl_seconds;
                let summary = move || format!("{head}{}", key_ttl.after(elapsed.get()).text("no key TTL"));
                view! {
                    <p class="result" data-testid="read-summary">{summary}</p>
                    <FeatureTable testid="read-table" rows=r.fields elapsed/>
                }
            })}
        </Panel>
    }
}
