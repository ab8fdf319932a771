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
use leptos_meta::{provide_meta_context, HashedStylesheet, Link, MetaTags, Title};

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
    let stale = Signal::derive(move || state.with(|result| matches!(result, Some(Err(_)))));
    // Entities gone without a reset from this page (Redis restarted empty, another client's
    // reset): results read before are cleared like after a reset, never shown as current.
    Effect::new(move |before: Option<Option<u64>>| {
        let count = state.with(|result| match result {
            Some(Ok(state)) => Some(state.entity_count),
            _ => None,
        });
        let emptied = matches!((before.flatten(), count), (Some(was), Some(0)) if was > 0);
        if emptied {
            shared.resets.update(|n| *n += 1);
        }
        count.or(before.flatten())
    });
    // The feature views, once: they never change while the server runs.
    let registry = Resource::new(|| (), |_| get_registry());
    Effect::new(move |_| {
        if let Some(result) = registry.get() {
            shared.report("Feature registry", &result);
        }
    });
    let registry = Signal::derive(move || registry.get().and_then(Result::ok).unwrap_or_default());

    view! {
        <Title text="feature-store"/>
        <Link rel="icon" type_="image/svg+xml" href="/favicon.svg"/>
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
            <main class="grid">
                <health::HealthPanel latest stale/>
                <state::StatePanel latest stale/>
                <materialize::MaterializePanel/>
                <worker::WorkerPanel latest stale/>
                <freshness::FreshnessPanel latest stale/>
                <read::ReadPanel latest registry/>
                <batch::BatchPanel registry/>
                <inspect::InspectPanel latest/>
            </main>
        </Transition>
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
