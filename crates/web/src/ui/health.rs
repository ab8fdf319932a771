//! The Redis panel: the server's version and key prefix, asked again on demand.

use leptos::prelude::*;

use super::widgets::Panel;
use super::{last_seen, Outage};
use crate::api::get_health;
use crate::model::StoreState;

#[component]
pub fn HealthPanel(
    latest: Signal<Option<StoreState>>,
    outage: Signal<Option<Outage>>,
) -> impl IntoView {
    let recheck = Action::new(|_: &()| get_health());
    // Asked again on Re-check, and whenever the state poll starts or stops failing, so the panel
    // follows Redis going away and coming back like every other panel.
    let health = Resource::new(
        move || (recheck.version().get(), outage.get()),
        |_| get_health(),
    );
    view! {
        <Panel id="health" title="Redis" commands="PING on every check (Re-check asks Redis now); the version comes from INFO server at startup, of every node on a cluster.">
            <Transition fallback=|| view! { <p>"Checking Redis…"</p> }>
                {move || health.get().map(|result| match result {
                    Ok(h) => view! {
                        <dl class="facts">
                            <dt>"Redis version"</dt>
                            <dd data-testid="redis-version">{h.redis_version}</dd>
                            <dt>"Mode"</dt>
                            <dd data-testid="redis-mode">{match h.masters.len() {
                                0 => h.redis_mode.clone(),
                                n => format!("{} ({n} masters: {})", h.redis_mode, h.masters.join(", ")),
                            }}</dd>
                            <dt>"Key prefix"</dt>
                            <dd data-testid="key-prefix"><code>{h.key_prefix}</code></dd>
                        </dl>
                    }.into_any(),
                    Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                })}
            </Transition>
            // What was checked last may be older than the failing state poll.
            <Show when=move || outage.get().is_some()>
                <p class="error" data-testid="redis-stale">{move || match outage.get() {
                    Some(Outage::Server) => format!(
                        "Unknown since {}: the feature-store server does not answer, and only it \
                         can ask Redis. Re-check asks again.",
                        last_seen(latest)
                    ),
                    _ => format!(
                        "Not answering since {}: the state poll fails. Re-check asks again.",
                        last_seen(latest)
                    ),
                }}</p>
            </Show>
            <button on:click=move |_| { recheck.dispatch(()); }>"Re-check"</button>
        </Panel>
    }
}
