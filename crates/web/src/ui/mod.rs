//! The web UI: server-rendered, then hydrated. Every panel calls the same server functions as
//! the HTTP API, so what the page shows is what `curl` gets. One file per panel; what they share
//! is in `widgets`.

mod batch;
mod features;
mod freshness;
mod health;
mod inspect;
mod materialize;
mod read;
mod state;
mod widgets;
mod worker;

use std::time::Duration;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, HashedStylesheet, MetaTags, Title};

use crate::api::error::ApiError;
use crate::api::{get_registry, get_state};
use crate::model::StoreState;

/// The HTML document around the app, rendered on the server only.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                // In the shell, not through leptos_meta: hydration re-adding it fetched it again.
                <link rel="icon" type="image/svg+xml" href="/favicon.svg"/>
                <AutoReload options=options.clone()/>
                <HashedStylesheet id="leptos" options=options.clone()/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// What every panel shares: a one-second clock (browser only), the last error, and a way to
/// ask the state panel to refresh now.
#[derive(Clone, Copy)]
struct Shared {
    /// Seconds since hydration; drives the TTL countdowns.
    clock: RwSignal<u64>,
    /// Seconds the page was visible; drives the state poll, which pauses while the tab is
    /// hidden.
    seen: RwSignal<u64>,
    /// The banner: which panel failed and what to do about it.
    banner: RwSignal<Option<(&'static str, String)>>,
    /// Bumped by any panel that changed the store.
    changed: RwSignal<u64>,
    /// Bumped by each reset that deleted the store: results read before it are gone.
    resets: RwSignal<u64>,
    /// False in the server-rendered page until the WASM has taken over: every button is
    /// disabled until then, so a click before hydration is refused visibly, never lost.
    hydrated: RwSignal<bool>,
    /// Which of the registry's entities Read, Batch scoring and Inspect serve, by position.
    entity: RwSignal<usize>,
    /// Its name, for the server functions; `None` for the first.
    entity_name: RwSignal<Option<String>>,
}

impl Shared {
    /// Clears the banner if `source` raised it: its input changed, so the error is history.
    fn clear(&self, source: &'static str) {
        if self
            .banner
            .with_untracked(|b| matches!(b, Some((s, _)) if *s == source))
        {
            self.banner.set(None);
        }
    }

    /// Whether the page can act yet (hydrated).
    fn ready(&self) -> bool {
        self.hydrated.get()
    }

    /// Shows an error in the banner, or clears the banner when the same panel succeeds again.
    fn report<T>(&self, source: &'static str, result: &Result<T, ApiError>) {
        match result {
            Err(e) => self.banner.set(Some((source, e.to_string()))),
            Ok(_) => self.clear(source),
        }
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    let shared = Shared {
        clock: RwSignal::new(0),
        seen: RwSignal::new(0),
        banner: RwSignal::new(None),
        changed: RwSignal::new(0),
        resets: RwSignal::new(0),
        hydrated: RwSignal::new(false),
        entity: RwSignal::new(0),
        entity_name: RwSignal::new(None),
    };
    provide_context(shared);
    // Effects run only in the browser: start the clock, and mark the page as hydrated.
    Effect::new(move |_| {
        set_interval(
            move || {
                shared.clock.update(|s| *s += 1);
                if !document().hidden() {
                    shared.seen.update(|s| *s += 1);
                }
            },
            Duration::from_secs(1),
        );
        if let Some(body) = document().body() {
            let _ = body.set_attribute("data-hydrated", "true");
        }
        shared.hydrated.set(true);
    });
    let state = Resource::new(
        move || (shared.seen.get(), shared.changed.get()),
        |_| get_state(),
    );
    Effect::new(move |_| {
        if let Some(result) = state.get() {
            shared.report("Store state", &result);
        }
    });
    // While a poll fails (Redis down), panels keep the last state they saw, marked stale, instead
    // of turning blank or flipping the worker's button to "Start".
    let last_known = StoredValue::new(None::<StoreState>);
    let latest = Signal::derive(move || match state.get() {
        Some(Ok(fresh)) => {
            last_known.set_value(Some(fresh.clone()));
            Some(fresh)
        }
        _ => last_known.get_value(),
    });
    let outage = Signal::derive(move || {
        state.with(|result| match result {
            Some(Err(e)) => Some(Outage::of(e)),
            _ => None,
        })
    });
    // Data gone without a reset from this page (Redis restarted, empty or reloaded; another
    // client's reset): results read before are cleared like after a reset, never shown as
    // current. Seen as the count dropping to zero, or as Redis's run ids changing.
    Effect::new(move |before: Option<Option<(u64, Vec<String>)>>| {
        let now = state.with(|result| match result {
            Some(Ok(state)) => Some((state.entity_count, state.redis_run_ids.clone())),
            _ => None,
        });
        let before = before.flatten();
        if let (Some((was, was_run)), Some((count, run))) = (&before, &now) {
            if (*was > 0 && *count == 0) || was_run != run {
                shared.resets.update(|n| *n += 1);
            }
        }
        now.or(before)
    });
    // The feature views, once: they never change while the server runs.
    let registry = Resource::new(|| (), |_| get_registry());
    Effect::new(move |_| {
        if let Some(result) = registry.get() {
            shared.report("Feature registry", &result);
        }
    });
    let full = Signal::derive(move || registry.get().and_then(Result::ok));
    // Read, Batch scoring and Inspect serve the picked entity: its views, prefix and ids.
    let registry = Signal::derive(move || {
        full.get().map(|r| {
            let at = shared.entity.get().min(r.entities.len().saturating_sub(1));
            r.of_entity(&r.entities[at])
        })
    });
    let picked = Signal::derive(move || latest.get().map(|s| s.for_entity(shared.entity.get())));

    view! {
        <Title text="feature-store"/>
        <header class="top">
            <h1>"feature-store"</h1>
            <p class="tagline">
                "An online feature store on Redis: one hash per entity, batch views under a key TTL, "
                "streaming views under their own per-field TTL."
            </p>
        </header>
        <p class="notice" data-testid="starting" hidden=move || shared.hydrated.get()>
            "Starting the app: the fields and buttons work once it has loaded."
        </p>
        <widgets::Banner/>
        <aside class="try" aria-label="Things to try">
            <strong>"Things to try: "</strong>
            "pause the worker and watch the streaming fields of a user expire one by one in Read while its batch fields stay; "
            "bulk-load with a 60 s key TTL and watch the entity count fall as whole users expire; "
            "copy a panel's command and run it in redis-cli."
        </aside>
        // Every panel reads the polled state, so they all sit inside one Transition: rendered
        // with the first state on the server, and kept on screen while it refreshes.
        <Transition fallback=|| view! { <p class="result">"Loading the store…"</p> }>
            <EntityPicker registry=full/>
            <main class="grid">
                <health::HealthPanel latest outage/>
                <state::StatePanel latest outage/>
                <materialize::MaterializePanel registry=full latest/>
                <worker::WorkerPanel latest outage/>
                // Read and Inspect take a whole row (style/main.css), so no cell stays empty.
                <read::ReadPanel latest=picked registry/>
                <freshness::FreshnessPanel latest outage/>
                <batch::BatchPanel registry/>
                <inspect::InspectPanel latest=picked/>
            </main>
        </Transition>
    }
}

/// Which entity Read, Batch scoring and Inspect serve; shown only when the registry has more
/// than one.
#[component]
fn EntityPicker(registry: Signal<Option<crate::registry::Registry>>) -> impl IntoView {
    let shared = expect_context::<Shared>();
    let names = move || {
        registry.with(|r| {
            r.as_ref()
                .map(|r| {
                    r.entities
                        .iter()
                        .map(|e| e.name.clone())
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        })
    };
    view! {
        <Show when=move || { names().len() > 1 }>
            <nav class="entity-picker" aria-label="Entity">
                <label for="entity">"Entity for Read, Batch scoring and Inspect "</label>
                <select id="entity" data-testid="entity-picker"
                    on:change=move |ev| {
                        let at: usize = event_target_value(&ev).parse().unwrap_or(0);
                        shared.entity.set(at);
                        shared.entity_name.set((at > 0).then(|| names()[at].clone()));
                    }>
                    {names().into_iter().enumerate().map(|(at, name)| view! {
                        <option value=at.to_string() selected=move || shared.entity.get() == at>{name}</option>
                    }).collect_view()}
                </select>
            </nav>
        </Show>
    }
}

/// Who does not answer while the state poll fails: the panels' figures are stale either way,
/// but what to do about it differs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outage {
    /// The feature-store server (stopped, or the network to it).
    Server,
    /// Redis, as the server reports it (refused, timed out, or failing).
    Redis,
}

impl Outage {
    fn of(error: &ApiError) -> Self {
        match error {
            ApiError::Unreachable { .. } => Outage::Server,
            _ => Outage::Redis,
        }
    }

    /// The cause, in a user's words, to go into a sentence.
    fn cause(self) -> &'static str {
        match self {
            Outage::Server => "the feature-store server does not answer",
            Outage::Redis => "Redis does not answer",
        }
    }
}

/// When the last state that answered was made, for panels that show it while Redis is down.
fn last_seen(latest: Signal<Option<StoreState>>) -> String {
    latest.with(|state| {
        state.as_ref().map_or_else(
            || "the first poll".to_owned(),
            |state| crate::format::utc_text(state.as_of_unix_ms),
        )
    })
}
