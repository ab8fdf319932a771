//! The web UI: server-rendered, then hydrated. Every panel calls the same server functions as
//! the HTTP API.

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};

use crate::api::get_health;

/// The HTML document around the app, rendered on the server only.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    // Effects run only in the browser: this marks the page as hydrated for users and tests.
    Effect::new(|_| {
        if let Some(body) = document().body() {
            let _ = body.set_attribute("data-hydrated", "true");
        }
    });
    view! {
        <Stylesheet id="leptos" href="/pkg/feature-store.css"/>
        <Title text="feature-store"/>
        <main>
            <h1>"feature-store"</h1>
            <HealthPanel/>
        </main>
    }
}

#[component]
fn HealthPanel() -> impl IntoView {
    let recheck = Action::new(|_: &()| get_health());
    let health = Resource::new(move || recheck.version().get(), |_| get_health());
    view! {
        <section class="panel" aria-labelledby="health-title">
            <h2 id="health-title">"Redis"</h2>
            <Suspense fallback=|| view! { <p>"Checking Redis…"</p> }>
                {move || health.get().map(|result| match result {
                    Ok(h) => view! {
                        <dl class="facts">
                            <dt>"Redis version"</dt>
                            <dd data-testid="redis-version">{h.redis_version}</dd>
                            <dt>"Key prefix"</dt>
                            <dd data-testid="key-prefix"><code>{h.key_prefix}</code></dd>
                        </dl>
                    }.into_any(),
                    Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                })}
            </Suspense>
            <button
                on:click=move |_| { recheck.dispatch(()); }
            >"Re-check"</button>
        </section>
    }
}
