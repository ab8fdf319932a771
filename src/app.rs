//! The web UI: server-rendered, then hydrated. Every panel calls the same server functions as
//! the HTTP API, so what the page shows is what `curl` gets.

use std::time::Duration;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, Link, MetaTags, Stylesheet, Title};

use crate::api::{
    get_health, get_state, BatchRead, BulkLoad, Inspect, ReadFeatures, ReadResult, ResetStore,
    StoreState, ToggleWorker,
};
use crate::errors::ApiError;
use crate::model::WorkerStats;
use crate::schema::{FeatureKind, FEATURES};

/// The subset the Read panel starts with: batch and streaming features mixed, as a model
/// would ask for them.
const DEFAULT_READ: [&str; 5] = [
    "risk_segment",
    "tx_count_7d",
    "avg_amount_30d",
    "tx_count_5m",
    "failed_logins_15m",
];

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

/// What every panel shares: a one-second clock (browser only), the last error, and a way to
/// ask the state panel to refresh now.
#[derive(Clone, Copy)]
struct Shared {
    /// Seconds since hydration; drives the state refresh and the TTL countdowns.
    clock: RwSignal<u64>,
    /// The banner: which panel failed and what to do about it.
    banner: RwSignal<Option<(&'static str, String)>>,
    /// Bumped by any panel that changed the store.
    changed: RwSignal<u64>,
}

impl Shared {
    /// Shows an error in the banner, or clears the banner when the same panel succeeds again.
    fn report<T>(&self, source: &'static str, result: &Result<T, ApiError>) {
        match result {
            Err(e) => self.banner.set(Some((source, e.to_string()))),
            Ok(_) => {
                if self
                    .banner
                    .with_untracked(|b| matches!(b, Some((s, _)) if *s == source))
                {
                    self.banner.set(None);
                }
            }
        }
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    let shared = Shared {
        clock: RwSignal::new(0),
        banner: RwSignal::new(None),
        changed: RwSignal::new(0),
    };
    provide_context(shared);
    // Effects run only in the browser: start the clock, and mark the page as hydrated.
    Effect::new(move |_| {
        set_interval(
            move || shared.clock.update(|s| *s += 1),
            Duration::from_secs(1),
        );
        if let Some(body) = document().body() {
            let _ = body.set_attribute("data-hydrated", "true");
        }
    });
    let state = Resource::new(
        move || (shared.clock.get(), shared.changed.get()),
        |_| get_state(),
    );
    Effect::new(move |_| {
        if let Some(result) = state.get() {
            shared.report("Store state", &result);
        }
    });
    let latest = Signal::derive(move || state.get().and_then(Result::ok));

    view! {
        <Stylesheet id="leptos" href="/pkg/feature-store.css"/>
        <Title text="feature-store"/>
        <Link rel="icon" type_="image/svg+xml" href="/favicon.svg"/>
        <header class="top">
            <h1>"feature-store"</h1>
            <p class="tagline">
                "An online feature store on Redis: one hash per user, batch fields under a key TTL, "
                "streaming fields under their own per-field TTL."
            </p>
        </header>
        <Banner/>
        // Every panel reads the polled state, so they all sit inside one Transition: rendered
        // with the first state on the server, and kept on screen while it refreshes.
        <Transition fallback=|| view! { <p class="result">"Loading the store…"</p> }>
            <main class="grid">
                <HealthPanel/>
                <StatePanel latest/>
                <MaterializePanel/>
                <WorkerPanel latest/>
                <ReadPanel latest/>
                <BatchPanel/>
                <InspectPanel latest/>
            </main>
        </Transition>
    }
}

#[component]
fn Banner() -> impl IntoView {
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

/// A panel with a title and the one line naming the Redis commands behind it.
#[component]
fn Panel(
    id: &'static str,
    title: &'static str,
    commands: &'static str,
    children: Children,
) -> impl IntoView {
    let heading = format!("{id}-title");
    let labelled_by = heading.clone();
    view! {
        <section class="panel" id=id aria-labelledby=labelled_by>
            <h2 id=heading>{title}</h2>
            <p class="commands">{commands}</p>
            {children()}
        </section>
    }
}

#[component]
fn HealthPanel() -> impl IntoView {
    let recheck = Action::new(|_: &()| get_health());
    let health = Resource::new(move || recheck.version().get(), |_| get_health());
    view! {
        <Panel id="health" title="Redis" commands="INFO server, once at startup; this panel asks the server again.">
            <Transition fallback=|| view! { <p>"Checking Redis…"</p> }>
                {move || health.get().map(|result| match result {
                    Ok(h) => view! {
                        <dl class="facts">
                            <dt>"Redis version"</dt>
                            <dd data-testid="redis-version">{h.redis_version}</dd>
                            <dt>"Key prefix"</dt>
                            <dd data-testid="key-prefix"><code>{h.key_prefix}</code></dd>
                        </dl>
                    }.into_any(),
                    Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                })}
            </Transition>
            <button on:click=move |_| { recheck.dispatch(()); }>"Re-check"</button>
        </Panel>
    }
}

#[component]
fn StatePanel(latest: Signal<Option<StoreState>>) -> impl IntoView {
    let fact = move |f: fn(&StoreState) -> String| {
        move || latest.with(|s| s.as_ref().map(f).unwrap_or_else(|| "…".into()))
    };
    view! {
        <Panel id="state" title="Store state" commands="One background index per server walks SCAN MATCH prefix* TYPE hash COUNT 1000 about once a second; no request scans. This panel polls its last pass every second.">
            <dl class="facts">
                <dt>"Entities (≈, last index pass)"</dt>
                <dd data-testid="entity-count" class="big">{fact(|s| s.entity_count.to_string())}</dd>
                <dt>"Counted"</dt>
                <dd data-testid="entity-count-age">{fact(|s| match s.entity_count_age_ms {
                    Some(age) => format!("{:.1} s ago", age as f64 / 1000.0),
                    None => "not yet".into(),
                })}</dd>
                <dt>"Key prefix"</dt>
                <dd><code>{fact(|s| s.key_prefix.clone())}</code></dd>
                <dt>"Batch TTL (key)"</dt>
                <dd data-testid="batch-ttl">{fact(|s| format!("{} s", s.batch_ttl_seconds))}</dd>
                <dt>"Streaming TTL (field)"</dt>
                <dd data-testid="streaming-ttl">{fact(|s| format!("{} s", s.streaming_ttl_seconds))}</dd>
                <dt>"Batch writes"</dt>
                <dd data-testid="batch-writes">{fact(|s| s.store.batch_writes_total.to_string())}</dd>
                <dt>"Streaming writes"</dt>
                <dd data-testid="streaming-writes">{fact(|s| s.store.streaming_writes_total.to_string())}</dd>
                <dt>"Reads"</dt>
                <dd data-testid="reads">{fact(|s| s.store.reads_total.to_string())}</dd>
                <dt>"Fields read"</dt>
                <dd data-testid="read-fields">{fact(|s| s.store.read_fields_total.to_string())}</dd>
                <dt>"Worker"</dt>
                <dd data-testid="state-worker">{fact(|s| worker_label(&s.worker).to_string())}</dd>
            </dl>
        </Panel>
    }
}

fn worker_label(worker: &WorkerStats) -> &'static str {
    match (worker.running, worker.paused) {
        (false, _) => "stopped",
        (true, true) => "paused",
        (true, false) => "running",
    }
}

/// Parses a whole number typed into a field, or says which field is wrong.
fn whole_number(field: &str, raw: &str) -> Result<i64, String> {
    raw.trim()
        .parse()
        .map_err(|_| format!("{field} must be a whole number, got {raw:?}"))
}

#[component]
fn MaterializePanel() -> impl IntoView {
    let shared = expect_context::<Shared>();
    let count = RwSignal::new("200".to_string());
    let ttl = RwSignal::new("86400".to_string());
    let bulk = ServerAction::<BulkLoad>::new();
    let reset = ServerAction::<ResetStore>::new();
    Effect::new(move |_| {
        if let Some(result) = bulk.value().get() {
            shared.report("Bulk load", &result);
            shared.changed.update(|n| *n += 1);
        }
    });
    Effect::new(move |_| {
        if let Some(result) = reset.value().get() {
            shared.report("Reset", &result);
            shared.changed.update(|n| *n += 1);
        }
    });
    let load = move |_| {
        let parsed = whole_number("Count", &count.get_untracked())
            .and_then(|c| whole_number("Key TTL", &ttl.get_untracked()).map(|t| (c, t)));
        match parsed {
            Ok((count, ttl_seconds)) => {
                bulk.dispatch(BulkLoad { count, ttl_seconds });
            }
            Err(message) => shared.banner.set(Some(("Bulk load", message))),
        }
    };
    let confirm_reset = move |_| {
        let sure = window()
            .confirm_with_message("Delete every user under this prefix?")
            .unwrap_or(false);
        if sure {
            reset.dispatch(ResetStore {});
        }
    };
    view! {
        <Panel id="materialize" title="Materialize" commands="Per user, one script: HSET all batch fields and EXPIRE together (a key of another type is skipped); pipelined in chunks of 500.">
            <div class="form">
                <label for="bulk-count">"Users"</label>
                <input id="bulk-count" type="number" inputmode="numeric" bind:value=count/>
                <label for="bulk-ttl">"Key TTL (s)"</label>
                <input id="bulk-ttl" type="number" inputmode="numeric" bind:value=ttl/>
            </div>
            <div class="buttons">
                <button on:click=load disabled=move || bulk.pending().get()>"Bulk-load"</button>
                <button class="danger" on:click=confirm_reset disabled=move || reset.pending().get()>
                    "Reset store"
                </button>
            </div>
            <p class="result" data-testid="bulk-result" aria-live="polite">
                {move || match bulk.value().get() {
                    Some(Ok(done)) => format!(
                        "Loaded {} users with a {} s key TTL in {:.1} ms.",
                        done.loaded, done.ttl_seconds, done.elapsed_ms
                    ),
                    _ => String::new(),
                }}
                {move || match reset.value().get() {
                    Some(Ok(done)) => format!(" Reset deleted {} users.", done.deleted),
                    _ => String::new(),
                }}
            </p>
        </Panel>
    }
}

#[component]
fn WorkerPanel(latest: Signal<Option<StoreState>>) -> impl IntoView {
    let shared = expect_context::<Shared>();
    let toggle = ServerAction::<ToggleWorker>::new();
    Effect::new(move |_| {
        if let Some(result) = toggle.value().get() {
            shared.report("Streaming worker", &result);
            shared.changed.update(|n| *n += 1);
        }
    });
    let worker = move || latest.with(|s| s.as_ref().map(|s| s.worker.clone()));
    let label = move || worker().map_or("…", |w| worker_label(&w));
    let button = move || match worker() {
        Some(w) if w.running && !w.paused => "Pause",
        Some(w) if w.running => "Resume",
        _ => "Start",
    };
    view! {
        <Panel id="worker" title="Streaming worker" commands="Each tick, per sampled user, one script: only if the entity exists with its key TTL, HSETEX key EX ttl FIELDS 5 … (values and TTL atomically); otherwise the write is skipped.">
            <p>
                <span class=move || format!("badge {}", label()) data-testid="worker-badge">{label}</span>
            </p>
            <dl class="facts">
                <dt>"Ticks"</dt>
                <dd data-testid="worker-ticks">{move || worker().map(|w| w.tick_count)}</dd>
                <dt>"Users written"</dt>
                <dd data-testid="worker-writes">{move || worker().map(|w| w.writes_count)}</dd>
                <dt>"Skipped (entity gone)"</dt>
                <dd data-testid="worker-skipped">{move || worker().map(|w| w.skipped_count)}</dd>
                <dt>"Failed ticks"</dt>
                <dd>{move || worker().map(|w| w.error_count)}</dd>
                <dt>"Last error"</dt>
                <dd class:error=move || worker().is_some_and(|w| w.last_error.is_some())>
                    {move || worker().and_then(|w| w.last_error).unwrap_or_else(|| "none".into())}
                </dd>
            </dl>
            <button
                data-testid="worker-toggle"
                on:click=move |_| { toggle.dispatch(ToggleWorker {}); }
                disabled=move || toggle.pending().get()
            >{button}</button>
        </Panel>
    }
}

/// A select fed with the ids from the latest state.
#[component]
fn UserPicker(
    id: &'static str,
    user: RwSignal<String>,
    latest: Signal<Option<StoreState>>,
) -> impl IntoView {
    // Pick the first user once the list arrives, and again if the chosen one disappears.
    Effect::new(move |_| {
        latest.with(|state| {
            let Some(ids) = state.as_ref().map(|s| &s.entity_ids) else {
                return;
            };
            if !ids.contains(&user.get_untracked()) {
                if let Some(first) = ids.first() {
                    user.set(first.clone());
                }
            }
        })
    });
    view! {
        <label for=id>"User"</label>
        <select id=id
            on:change=move |ev| user.set(event_target_value(&ev))
            prop:value=move || user.get()
        >
            <For
                each=move || latest.with(|s| s.as_ref().map(|s| s.entity_ids.clone()).unwrap_or_default())
                key=|id| id.clone()
                let(id)
            >
                <option value=id.clone()>{id.clone()}</option>
            </For>
        </select>
    }
}

/// Seconds of TTL left now, given the TTL the server reported `elapsed` seconds ago. Only a
/// positive TTL counts down; -1 (none) and -2 (missing) are shown as they are.
fn ttl_now(reported: i64, elapsed: u64) -> i64 {
    if reported > 0 {
        (reported - elapsed as i64).max(0)
    } else {
        reported
    }
}

/// How a TTL reads in a table.
fn ttl_text(reported: i64, now: i64) -> String {
    match (reported, now) {
        (-2, _) => "missing".into(),
        (-1, _) => "no field TTL".into(),
        (_, 0) => "expired".into(),
        (_, left) => format!("{left} s"),
    }
}

fn kind_badge(kind: Option<FeatureKind>) -> impl IntoView {
    let label = kind.map_or("extra", FeatureKind::label);
    view! { <span class=format!("badge {label}")>{label}</span> }
}

/// Counts an action's result's TTLs down in the browser, and re-runs the last request once one
/// of them reaches 0 so the table re-syncs with the server. Returns the seconds since the
/// result arrived and the function to dispatch requests with.
fn countdown<I, O>(
    action: ServerAction<I>,
    ttls: impl Fn(&O) -> Vec<i64> + Send + Sync + 'static,
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
            Some(Ok(out)) => ttls(out).iter().any(|&t| t > 0 && ttl_now(t, elapsed) == 0),
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

#[component]
fn ReadPanel(latest: Signal<Option<StoreState>>) -> impl IntoView {
    let shared = expect_context::<Shared>();
    let user = RwSignal::new(String::new());
    let chosen = RwSignal::new(DEFAULT_READ.map(str::to_owned).to_vec());
    let read = ServerAction::<ReadFeatures>::new();
    Effect::new(move |_| {
        if let Some(result) = read.value().get() {
            shared.report("Inference read", &result);
        }
    });
    let (elapsed, run_read) = countdown(read, |r: &ReadResult| r.ttls.values().copied().collect());
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
    view! {
        <Panel id="read" title="Inference read" commands="One HMGET for the chosen fields (timed); HTTL and TTL only to show freshness.">
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
            <button on:click=submit disabled=move || read.pending().get()>"Read"</button>
            {move || read.value().get().and_then(Result::ok).map(|r| {
                let head = format!(
                    "{}: {} of {} fields in {:.3} ms · key TTL ",
                    r.user, r.returned_count, r.requested.len(), r.elapsed_ms,
                );
                let key_ttl = r.key_ttl_seconds;
                let summary = move || format!("{head}{}", ttl_text(key_ttl, ttl_now(key_ttl, elapsed.get())));
                let rows = r.requested.iter().map(|name| {
                    let value = r.values.get(name).cloned();
                    let reported = r.ttls.get(name).copied().unwrap_or(-2);
                    let kind = crate::schema::find(name).map(|f| f.kind);
                    let absent = value.is_none();
                    view! {
                        <tr data-field=name.clone() class:absent=absent>
                            <td>{name.clone()}</td>
                            <td class="value">{value.unwrap_or_else(|| "missing or expired".into())}</td>
                            <td>{kind_badge(kind)}</td>
                            <td class="ttl">{move || ttl_text(reported, ttl_now(reported, elapsed.get()))}</td>
                        </tr>
                    }
                }).collect_view();
                view! {
                    <p class="result" data-testid="read-summary">{summary}</p>
                    <table data-testid="read-table">
                        <thead><tr><th>"Field"</th><th>"Value"</th><th>"Kind"</th><th>"Field TTL"</th></tr></thead>
                        <tbody>{rows}</tbody>
                    </table>
                }
            })}
        </Panel>
    }
}

#[component]
fn BatchPanel() -> impl IntoView {
    let shared = expect_context::<Shared>();
    let count = RwSignal::new("100".to_string());
    let batch = ServerAction::<BatchRead>::new();
    Effect::new(move |_| {
        if let Some(result) = batch.value().get() {
            shared.report("Batch scoring", &result);
        }
    });
    let submit = move |_| match whole_number("Count", &count.get_untracked()) {
        Ok(count) => {
            batch.dispatch(BatchRead {
                count: Some(count),
                ids: None,
                fields: None,
            });
        }
        Err(message) => shared.banner.set(Some(("Batch scoring", message))),
    };
    view! {
        <Panel id="batch" title="Batch scoring" commands="One HMGET per user, all pipelined: one round trip per 500 users.">
            <div class="form">
                <label for="batch-count">"Users"</label>
                <input id="batch-count" type="number" inputmode="numeric" bind:value=count/>
            </div>
            <button on:click=submit disabled=move || batch.pending().get()>"Pipeline HMGET"</button>
            {move || batch.value().get().and_then(Result::ok).map(|b| view! {
                <p class="result" data-testid="batch-summary">
                    {format!("{} users × {} fields in {:.3} ms", b.entity_count, b.field_count, b.elapsed_ms)}
                </p>
                <table data-testid="batch-sample">
                    <thead><tr><th>"User"</th><th>"Fields found"</th><th>"risk_segment"</th></tr></thead>
                    <tbody>
                        {b.sample.into_iter().map(|s| view! {
                            <tr>
                                <td>{s.id}</td>
                                <td>{format!("{} / {}", s.field_count, b.field_count)}</td>
                                <td>{s.values.get("risk_segment").cloned().unwrap_or_default()}</td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            })}
        </Panel>
    }
}

#[component]
fn InspectPanel(latest: Signal<Option<StoreState>>) -> impl IntoView {
    let shared = expect_context::<Shared>();
    let user = RwSignal::new(String::new());
    let inspect = ServerAction::<Inspect>::new();
    Effect::new(move |_| {
        if let Some(result) = inspect.value().get() {
            shared.report("Inspect", &result);
        }
    });
    let (elapsed, run_inspect) = countdown(inspect, |i: &crate::api::Inspection| {
        i.fields.iter().map(|f| f.ttl_seconds).collect()
    });
    view! {
        <Panel id="inspect" title="Inspect one user" commands="HGETALL, HTTL and TTL: for inspection only, never on the hot path.">
            <div class="form">
                <UserPicker id="inspect-user" user latest/>
            </div>
            <button on:click=move |_| run_inspect(Inspect { user: user.get_untracked() })
                disabled=move || inspect.pending().get()>"Inspect"</button>
            {move || inspect.value().get().and_then(Result::ok).map(|i| {
                let key_ttl = i.key_ttl_seconds;
                let (user, exists) = (i.user.clone(), i.exists);
                let summary = move || if exists {
                    format!("{user} · key TTL {}", ttl_text(key_ttl, ttl_now(key_ttl, elapsed.get())))
                } else {
                    format!("{user} does not exist (expired or never loaded)")
                };
                view! {
                    <p class="result" data-testid="inspect-summary">{summary}</p>
                    <table data-testid="inspect-table">
                        <thead><tr><th>"Field"</th><th>"Value"</th><th>"Kind"</th><th>"Field TTL"</th></tr></thead>
                        <tbody>
                            {i.fields.into_iter().map(|f| {
                                let reported = f.ttl_seconds;
                                let absent = f.value.is_none();
                                let name = f.name.clone();
                                view! {
                                    <tr data-field=name class:absent=absent>
                                        <td>{f.name}</td>
                                        <td class="value">{f.value.unwrap_or_else(|| "missing or expired".into())}</td>
                                        <td>{kind_badge(f.kind)}</td>
                                        <td class="ttl">{move || ttl_text(reported, ttl_now(reported, elapsed.get()))}</td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                }
            })}
        </Panel>
    }
}
