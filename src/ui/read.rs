//! The inference read panel: pick an entity and features, read them with their freshness.

use leptos::prelude::*;

use super::widgets::{
    breakable, cleared_on_reset, countdown, picked_key, FeatureTable, Panel, UserPicker,
};
use super::Shared;
use crate::api::ReadFeatures;
use crate::model::{ReadResult, StoreState};
use crate::registry::Registry;
use crate::schema::FeatureKind;

#[component]
pub fn ReadPanel(latest: Signal<Option<StoreState>>, registry: Signal<Registry>) -> impl IntoView {
    let shared = expect_context::<Shared>();
    let user = RwSignal::new(String::new());
    // `None` until a box is clicked: the registry's default choice.
    let ticked = RwSignal::new(None::<Vec<String>>);
    let chosen = Signal::derive(move || {
        ticked
            .get()
            .unwrap_or_else(|| registry.with(Registry::read_by_default))
    });
    // The chosen names in registry order, whatever order the boxes were ticked in.
    let fields = move || -> Vec<String> {
        let chosen = chosen.get();
        registry.with(|registry| {
            registry
                .features()
                .map(|(_, f)| f.name.clone())
                .filter(|name| chosen.contains(name))
                .collect()
        })
    };
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
    let checkbox = move |name: String| {
        let id = format!("read-{name}");
        let label_for = id.clone();
        let (is_on, toggled) = (name.clone(), name.clone());
        view! {
            <label class="check" for=label_for>
                <input type="checkbox" id=id
                    prop:checked=move || chosen.with(|c| c.contains(&is_on))
                    on:change=move |ev| {
                        let on = event_target_checked(&ev);
                        let mut names = chosen.get_untracked();
                        names.retain(|n| *n != toggled);
                        if on {
                            names.push(toggled.clone());
                        }
                        ticked.set(Some(names));
                    }
                />
                {breakable(&name)}
            </label>
        }
    };
    // One fieldset per feature view, named with its kind and TTL.
    let views = move || {
        registry.with(|registry| {
            registry
                .views
                .iter()
                .map(|view| {
                    let kind = view.kind.label();
                    let ttl = match view.kind {
                        FeatureKind::Batch => format!("key TTL {} s", view.ttl_seconds),
                        FeatureKind::Streaming => format!("field TTL {} s", view.ttl_seconds),
                    };
                    let names: Vec<String> = view.features.iter().map(|f| f.name.clone()).collect();
                    view! {
                        <fieldset>
                            <legend>
                                <span class=format!("badge {kind}")>{kind}</span>
                                " " {view.name.clone()} " · " {ttl}
                            </legend>
                            {names.into_iter().map(checkbox).collect_view()}
                        </fieldset>
                    }
                })
                .collect_view()
        })
    };
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        run_read(ReadFeatures {
            user: user.get_untracked(),
            fields: fields(),
        });
    };
    // The exact command this read sends, for trying it in redis-cli.
    let key = picked_key(latest, user);
    let command = move || format!("HMGET {} {}", key(), fields().join(" "));
    view! {
        <Panel id="read" title="Inference read" commands="One HMGET for the chosen fields (timed); HTTL and TTL only to show freshness.">
            <code class="command" data-testid="read-command" title="One click selects it">{command}</code>
            <form on:submit=submit on:input=move |_| shared.clear("Inference read")>
                <div class="form">
                    <UserPicker id="read-user" user latest/>
                </div>
                {views}
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
                    <FeatureTable testid="read-table" rows=r.fields elapsed/>
                }
            })}
            </div>
        </Panel>
    }
}
