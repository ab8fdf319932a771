//! The inference read panel: pick an entity and features, read them with their freshness.

use leptos::prelude::*;

use super::features::{Chosen, FeaturePicker};
use super::widgets::{
    cleared_on_change, countdown, picked_key, CommandLine, FeatureTable, Panel, UserPicker,
};
use super::Shared;
use crate::api::ReadFeatures;
use crate::model::{ReadResult, StoreState, Ttl};
use crate::registry::Registry;

/// The read's entity and features in the page's address (browser only).
mod deep_link {
    /// The entity and features the address names, if it names them.
    pub fn read() -> (Option<String>, Option<Vec<String>>) {
        #[cfg(feature = "hydrate")]
        {
            let search = leptos::prelude::window()
                .location()
                .search()
                .unwrap_or_default();
            if let Ok(params) = web_sys::UrlSearchParams::new_with_str(&search) {
                let features = params.get("features").map(|list| {
                    list.split(',')
                        .filter(|name| !name.is_empty())
                        .map(str::to_owned)
                        .collect()
                });
                return (params.get("user").filter(|u| !u.is_empty()), features);
            }
        }
        (None, None)
    }

    /// Puts them in the address without adding a history entry.
    pub fn write(user: &str, features: &[String]) {
        #[cfg(feature = "hydrate")]
        {
            if let Ok(params) = web_sys::UrlSearchParams::new() {
                params.set("user", user);
                params.set("features", &features.join(","));
                let url = format!("?{}", String::from(params.to_string()));
                let window = leptos::prelude::window();
                if window.location().search().ok().as_deref() == Some(url.as_str()) {
                    return;
                }
                if let Ok(history) = window.history() {
                    let _ = history.replace_state_with_url(
                        &wasm_bindgen::JsValue::NULL,
                        "",
                        Some(&url),
                    );
                }
            }
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = (user, features);
    }
}

#[component]
pub fn ReadPanel(
    latest: Signal<Option<StoreState>>,
    registry: Signal<Option<Registry>>,
) -> impl IntoView {
    let shared = expect_context::<Shared>();
    let user = RwSignal::new(String::new());
    let chosen = Chosen::new(registry, Registry::read_by_default);
    let read = ServerAction::<ReadFeatures>::new();
    Effect::new(move |_| {
        if let Some(result) = read.value().get() {
            shared.report("Inference read", &result);
        }
    });
    cleared_on_change(read);
    let (elapsed, run_read) = countdown(read, |r: &ReadResult| {
        r.fields.iter().map(|f| f.ttl_seconds).collect()
    });
    // Deep links: `?user=u0007&features=a,b` opens this read and runs it, and the
    // address follows every change, so a view can be shared.
    Effect::new(move |_| {
        let (linked_user, linked_features) = deep_link::read();
        if let Some(names) = linked_features {
            chosen.tick_only(names);
        }
        // A shared link shows its read, not only its form.
        if let Some(linked) = linked_user {
            user.set(linked.clone());
            let fields = untrack(|| chosen.names());
            if !fields.is_empty() {
                run_read(ReadFeatures {
                    user: linked,
                    fields,
                    entity: None,
                });
            }
        }
    });
    // Only once the form was edited: opening `/` keeps `/` (each address change also makes
    // Chromium fetch the favicon again).
    let edited = RwSignal::new(false);
    Effect::new(move |_| {
        let (user, names) = (user.get(), chosen.names());
        if edited.get() {
            deep_link::write(&user, &names);
        }
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        run_read(ReadFeatures {
            user: user.get_untracked(),
            fields: chosen.names(),
            entity: shared.entity_name.get_untracked(),
        });
    };
    // The exact command this read sends, for trying it in redis-cli.
    let key = picked_key(latest, user);
    let none_ticked = move || chosen.names().is_empty();
    let command = move || {
        if none_ticked() {
            "(tick at least one feature: HMGET needs a field)".to_owned()
        } else {
            format!("HMGET {} {}", key(), chosen.names().join(" "))
        }
    };
    view! {
        <Panel id="read" title="Inference read" commands="One HMGET for the chosen fields (timed); HTTL and TTL only to show freshness.">
            <CommandLine testid="read-command" command=Signal::derive(command)/>
            <form on:submit=submit on:input=move |_| { edited.set(true); shared.clear("Inference read"); }>
                <div class="form">
                    <UserPicker id="read-user" user latest/>
                </div>
                <FeaturePicker id="read" chosen/>
                <button type="submit"
                    disabled=move || read.pending().get() || user.with(String::is_empty) || none_ticked()>"Read"</button>
                <Show when=none_ticked>
                    <p class="hint" data-testid="read-hint">"Tick at least one feature to read."</p>
                </Show>
            </form>
            <div aria-live="polite">
            {move || read.value().get().and_then(Result::ok).map(|r| {
                let head = format!(
                    "{}: {} of {} fields in {:.3} ms · ",
                    r.user, r.returned_count, r.fields.len(), r.elapsed_ms,
                );
                let key_ttl = r.key_ttl_seconds;
                // Worded as Inspect words it: a missing key is an entity that does not exist.
                let summary = move || match key_ttl.after(elapsed.get()) {
                    Ttl::Missing => format!("{head}the user does not exist (expired or never loaded)"),
                    ttl => format!("{head}key TTL {}", crate::format::ttl_text(ttl, "no key TTL")),
                };
                view! {
                    <p class="result" data-testid="read-summary">{summary}</p>
                    <FeatureTable testid="read-table" rows=r.fields elapsed latest/>
                }
            })}
            </div>
        </Panel>
    }
}
