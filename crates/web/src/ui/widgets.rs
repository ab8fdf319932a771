//! What more than one panel shows: the panel frame, the error banner, the entity picker, the
//! feature table with its TTL countdowns, and the number input check.

use leptos::prelude::*;

use super::Shared;
use crate::api::error::ApiError;
use crate::model::{FeatureValue, StoreState, Ttl};
use crate::schema::{FeatureKind, ValueType};

#[component]
pub fn Banner() -> impl IntoView {
    let shared = expect_context::<Shared>();
    view! {
        <Show when=move || shared.banner.with(Option::is_some)>
            <div class="banner" role="alert" data-testid="banner">
                <strong>{move || shared.banner.with(|b| b.as_ref().map(|(s, _)| *s))}": "</strong>
                <span>{move || shared.banner.with(|b| b.as_ref().map(|(_, m)| m.clone()))}</span>
                <button class="link" on:click=move |_| shared.banner.set(None)>"Dismiss"</button>
            </div>
        </Show>
    }
}

/// A panel with a title and the one line naming the Redis commands behind it. Its controls
/// are disabled until the page is hydrated: before that, a click would do nothing and typed
/// text would be overwritten by hydration.
#[component]
pub fn Panel(
    id: &'static str,
    title: &'static str,
    #[prop(into)] commands: Signal<String>,
    children: Children,
) -> impl IntoView {
    let shared = expect_context::<Shared>();
    let heading = format!("{id}-title");
    let labelled_by = heading.clone();
    view! {
        <section class="panel" id=id aria-labelledby=labelled_by>
            <h2 id=heading>{title}</h2>
            <p class="commands">{commands}</p>
            <fieldset class="panel-body" disabled=move || !shared.ready()>
                {children()}
            </fieldset>
        </section>
    }
}

/// A number typed into a labelled field that stays with its label on a narrow screen.
#[component]
pub fn NumberField(
    id: &'static str,
    label: &'static str,
    value: RwSignal<String>,
) -> impl IntoView {
    view! {
        <span class="field">
            <label for=id>{label}</label>
            // `bind:` renders nothing on the server: the attribute gives the first page the value.
            <input id=id type="number" inputmode="numeric" value=value.get_untracked() bind:value=value/>
        </span>
    }
}

/// Parses a whole number typed into a field, or says which field is wrong.
pub fn whole_number(field: &str, raw: &str) -> Result<i64, String> {
    raw.trim()
        .parse()
        .map_err(|_| format!("{field} must be a whole number, got {raw:?}"))
}

/// The Redis key of the entity picked in `user`: the store's prefix and the id.
pub fn picked_key(
    latest: Signal<Option<StoreState>>,
    user: RwSignal<String>,
) -> impl Fn() -> String + Copy + Send + Sync + 'static {
    move || {
        let prefix = latest.with(|s| s.as_ref().map(|s| s.key_prefix.clone()).unwrap_or_default());
        format!("{prefix}{}", user.get())
    }
}

/// An entity id field: any id can be typed (`u99999` too), and the first ids of the latest
/// state are offered as suggestions.
#[component]
pub fn UserPicker(
    id: &'static str,
    user: RwSignal<String>,
    latest: Signal<Option<StoreState>>,
) -> impl IntoView {
    // Start on an entity the worker has just streamed (its streaming fields are live), else on
    // the first one; none when the store is empty, so the panel's action is disabled instead of
    // reading a hidden id. Once the user has typed in the field (cleared it, say), the poll
    // never changes it again.
    let touched = RwSignal::new(false);
    // Once per poll, for the effect and the field both.
    let start = Memo::new(move |_| {
        latest.with(|state| {
            let state = state.as_ref()?;
            live_streamed(state)
                .into_iter()
                .next()
                .or_else(|| state.entity_ids.first().cloned())
        })
    });
    // Another entity picked: its ids, not the last one's.
    let shared = expect_context::<super::Shared>();
    Effect::new(move |before: Option<usize>| {
        let entity = shared.entity.get();
        if before.is_some_and(|before| before != entity) {
            touched.set(false);
            user.set(start.get_untracked().unwrap_or_default());
        }
        entity
    });
    Effect::new(move |_| {
        let start = start.get();
        if touched.get_untracked() || latest.with(Option::is_none) {
            return;
        }
        match start {
            None => user.set(String::new()),
            Some(start) if user.with_untracked(String::is_empty) => user.set(start),
            Some(_) => {}
        }
    });
    // What the field shows: effects do not run on the server, so the first page shows the id
    // the effect will pick once hydrated.
    let shown = move || {
        let typed = user.get();
        if typed.is_empty() && !touched.get() {
            start.get().unwrap_or_default()
        } else {
            typed
        }
    };
    // Suggest every listed id, or only those with live streaming fields.
    let streamed_only = RwSignal::new(false);
    let suggested = move || {
        latest.with(|s| {
            s.as_ref().map_or_else(Vec::new, |s| {
                if streamed_only.get() {
                    live_streamed(s)
                } else {
                    s.entity_ids.clone()
                }
            })
        })
    };
    let suggestions = format!("{id}-ids");
    let filter_id = format!("{id}-streamed");
    let filter_label_for = filter_id.clone();
    view! {
        <span class="field">
            <label for=id>"User"</label>
            <input id=id type="text" list=suggestions.clone() autocomplete="off" spellcheck="false"
                on:input=move |ev| {
                    touched.set(true);
                    user.set(event_target_value(&ev).trim().to_owned());
                }
                value=shown
                prop:value=shown
            />
        </span>
        <label class="check" for=filter_label_for>
            <input type="checkbox" id=filter_id
                checked=move || streamed_only.get()
                prop:checked=move || streamed_only.get()
                on:change=move |ev| streamed_only.set(event_target_checked(&ev))
            />
            "only with live streaming fields"
        </label>
        <datalist id=suggestions>
            <For
                each=suggested
                key=|id| id.clone()
                let(id)
            >
                <option value=id.clone()></option>
            </For>
        </datalist>
    }
}

/// Entities the worker wrote within the streaming TTL, newest first: their streaming fields
/// are live.
fn live_streamed(state: &StoreState) -> Vec<String> {
    let ttl_ms = state.streaming_ttl_seconds * 1000;
    state
        .worker
        .recent
        .iter()
        .filter(|write| state.as_of_unix_ms.saturating_sub(write.unix_ms) < ttl_ms)
        .map(|write| write.id.clone())
        .collect()
}

/// A field's kind: its view's, or what a field the store keeps for itself holds, or `extra`
/// (a field no view defines).
pub fn kind_badge(kind: Option<FeatureKind>, field: &str) -> impl IntoView {
    let (class, label) = match (kind, crate::registry::stamp_label(field)) {
        (Some(kind), _) => (kind.label(), kind.label()),
        (None, Some(stamp)) => ("stamp", stamp),
        (None, None) => ("extra", "extra"),
    };
    view! { <span class=format!("badge {class}")>{label}</span> }
}

/// One row per feature: name, value, kind and a field TTL that counts down `elapsed` seconds
/// after the rows were read. Read and Inspect both show their result with it.
#[component]
pub fn FeatureTable(
    testid: &'static str,
    rows: Vec<FeatureValue>,
    elapsed: Signal<u64>,
    /// The latest state of the picked entity: its streaming TTL is what a field's bar is
    /// measured against.
    latest: Signal<Option<StoreState>>,
) -> impl IntoView {
    let field_ttl_seconds =
        move || latest.with(|s| s.as_ref().map_or(0, |s| s.streaming_ttl_seconds));
    view! {
        <table class="features" data-testid=testid>
            <thead><tr><th>"Field"</th><th>"Value"</th><th>"Kind"</th><th>"Field TTL"</th></tr></thead>
            <tbody>
                {rows.into_iter().map(|row| {
                    let ttl = row.ttl_seconds;
                    let absent = row.value.is_none();
                    let field = row.name.clone();
                    // A time for people, the stored value on hover.
                    let (shown, raw) = match (&row.value, row.value_type, &row.typed) {
                        (None, _, _) => ("missing or expired".to_owned(), String::new()),
                        (Some(raw), Some(ValueType::Timestamp), Some(typed)) => (
                            typed.as_u64().map_or_else(|| raw.clone(), crate::format::utc_text),
                            raw.clone(),
                        ),
                        (Some(raw), _, _) => (raw.clone(), raw.clone()),
                    };
                    view! {
                        <tr data-field=field class:absent=absent>
                            <td class="name">{breakable(&row.name)}</td>
                            <td class="value" title=raw>{shown}</td>
                            <td class="kind">{kind_badge(row.kind, &row.name)}</td>
                            <td class="ttl" title=move || ttl.after(elapsed.get()).seconds_text()>
                                {move || crate::format::ttl_text(ttl.after(elapsed.get()), "no field TTL")}
                                {move || match ttl.after(elapsed.get()) {
                                    Ttl::Left(left) => Some(ttl_bar(left, field_ttl_seconds())),
                                    _ => None,
                                }}
                            </td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}

/// A panel's exact Redis command for its current input, with a button that copies it, to try
/// in `redis-cli`.
#[component]
pub fn CommandLine(testid: &'static str, #[prop(into)] command: Signal<String>) -> impl IntoView {
    let copied = RwSignal::new(false);
    let copy = move |_| {
        #[cfg(feature = "hydrate")]
        {
            let _ = window()
                .navigator()
                .clipboard()
                .write_text(&command.get_untracked());
        }
        copied.set(true);
        set_timeout(move || copied.set(false), std::time::Duration::from_secs(2));
    };
    view! {
        <div class="command-line">
            <code class="command" data-testid=testid>{command}</code>
            <button type="button" class="link" data-testid=format!("{testid}-copy") on:click=copy>
                {move || if copied.get() { "Copied" } else { "Copy" }}
            </button>
        </div>
    }
}

/// What is left of a TTL, as a bar: full when just written, empty when it expires.
pub fn ttl_bar(left: u64, full: u64) -> impl IntoView {
    let share = (left as f64 / full.max(1) as f64).min(1.0) * 100.0;
    view! {
        <span class="bar" aria-hidden="true"><span style=format!("width: {share:.0}%")></span></span>
    }
}

/// A feature name that may wrap after each `_` on a narrow screen, never inside a word.
pub fn breakable(name: &str) -> impl IntoView {
    let parts: Vec<String> = name.split_inclusive('_').map(str::to_owned).collect();
    parts
        .into_iter()
        .map(|part| view! { {part}<wbr/> })
        .collect_view()
}

/// Clears `action`'s result when the store is reset (what it showed no longer exists) or
/// another entity is picked (the panel no longer serves the one it showed, nor its TTLs).
pub fn cleared_on_change<I, O>(action: ServerAction<I>)
where
    I: leptos::server_fn::ServerFn<Output = O, Error = ApiError> + Clone + Send + Sync + 'static,
    O: Clone + Send + Sync + 'static,
{
    let shared = expect_context::<Shared>();
    Effect::new(move |previous: Option<(u64, usize)>| {
        let now = (shared.resets.get(), shared.entity.get());
        if previous.is_some_and(|previous| previous != now) {
            action.value().set(None);
        }
        now
    });
}

/// Counts an action's result's TTLs down in the browser, and re-runs the last request once one
/// of them reaches 0 so the table re-syncs with the server. Returns the seconds since the
/// result arrived and the function to dispatch requests with.
pub fn countdown<I, O>(
    action: ServerAction<I>,
    ttls: impl Fn(&O) -> Vec<Ttl> + Send + Sync + 'static,
) -> (Signal<u64>, impl Fn(I) + Copy + 'static)
where
    I: leptos::server_fn::ServerFn<Output = O, Error = ApiError> + Clone + Send + Sync + 'static,
    O: Clone + Send + Sync + 'static,
{
    let shared = expect_context::<Shared>();
    let fetched_at = RwSignal::new(0u64);
    let last_input = StoredValue::new(None::<I>);
    let run = move |input: I| {
        last_input.set_value(Some(input.clone()));
        action.dispatch(input);
    };
    Effect::new(move |_| {
        if action.value().with(Option::is_some) {
            fetched_at.set(shared.clock.get_untracked());
        }
    });
    let elapsed = Signal::derive(move || shared.clock.get().saturating_sub(fetched_at.get()));
    Effect::new(move |_| {
        let elapsed = elapsed.get();
        let expired = action.value().with_untracked(|v| match v {
            Some(Ok(out)) => ttls(out)
                .iter()
                .any(|&ttl| ttl != Ttl::Left(0) && ttl.after(elapsed) == Ttl::Left(0)),
            _ => false,
        });
        if expired && !action.pending().get_untracked() {
            if let Some(input) = last_input.get_value() {
                action.dispatch(input);
            }
        }
    });
    (elapsed, run)
}
