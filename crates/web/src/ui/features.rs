//! The feature picker that Read and Batch share: one fieldset per feature view, named with its
//! kind and TTL, a box per feature.

use leptos::prelude::*;

use super::widgets::breakable;
use crate::registry::Registry;
use crate::schema::FeatureKind;

/// The features ticked in a picker: the registry's default for the panel until a box is
/// clicked, then what the user ticked, always in registry order.
#[derive(Clone, Copy)]
pub struct Chosen {
    /// `None` until the registry has arrived: nothing to pick yet.
    registry: Signal<Option<Registry>>,
    default: fn(&Registry) -> Vec<String>,
    ticked: RwSignal<Option<Vec<String>>>,
}

impl Chosen {
    pub fn new(registry: Signal<Option<Registry>>, default: fn(&Registry) -> Vec<String>) -> Self {
        Chosen {
            registry,
            default,
            ticked: RwSignal::new(None),
        }
    }

    fn is_on(&self, name: &str) -> bool {
        match self.ticked.get() {
            Some(ticked) => ticked.iter().any(|n| n == name),
            None => self.registry.with(|r| {
                r.as_ref()
                    .is_some_and(|r| (self.default)(r).iter().any(|n| n == name))
            }),
        }
    }

    /// The chosen names, in registry order.
    pub fn names(&self) -> Vec<String> {
        self.registry.with(|registry| {
            registry
                .iter()
                .flat_map(Registry::features)
                .map(|(_, f)| f.name.clone())
                .filter(|name| self.is_on(name))
                .collect()
        })
    }

    /// Ticks exactly `names` (those the registry knows).
    pub fn tick_only(&self, names: Vec<String>) {
        self.ticked.set(Some(names));
    }

    fn set(&self, name: &str, on: bool) {
        let mut names = self.names();
        names.retain(|n| n != name);
        if on {
            names.push(name.to_owned());
        }
        self.ticked.set(Some(names));
    }
}

#[component]
pub fn FeaturePicker(
    /// Prefix of each box's id: `read` gives `read-risk_segment`.
    id: &'static str,
    chosen: Chosen,
) -> impl IntoView {
    let checkbox = move |name: String| {
        let box_id = format!("{id}-{name}");
        let label_for = box_id.clone();
        let (is_on, toggled) = (name.clone(), name.clone());
        let on = move || chosen.is_on(&is_on);
        view! {
            <label class="check" for=label_for>
                // The attribute for the server's page, the property for the live one.
                <input type="checkbox" id=box_id checked=on.clone() prop:checked=on
                    on:change=move |ev| chosen.set(&toggled, event_target_checked(&ev))
                />
                {breakable(&name)}
            </label>
        }
    };
    move || {
        chosen.registry.with(|registry| {
            registry
                .iter()
                .flat_map(|registry| &registry.views)
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
                                " " {view.name.clone()} " · " <span class="nowrap">{ttl}</span>
                            </legend>
                            {names.into_iter().map(checkbox).collect_view()}
                        </fieldset>
                    }
                })
                .collect_view()
        })
    }
}
