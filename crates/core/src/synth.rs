//! Synthetic data: the batch rows a nightly job would materialize, and the streaming events a
//! Flink job would emit. Seeded ChaCha keeps every row identical across runs and machines.

use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::domain::EntityId;
use crate::registry::{Registry, View};
use crate::schema::{Draw, FeatureKind, ValueType};
use crate::store::{unix_ms_now, EntityRow};

/// The id of the `n`th synthetic user (1-based): u0001 … u9999, u10000, …
pub fn user_id(n: u64) -> EntityId {
    entity_id("user", n)
}

/// The id of the `n`th synthetic entity named `entity` (1-based): its initial, then `n`
/// (`m0001` for a merchant).
pub fn entity_id(entity: &str, n: u64) -> EntityId {
    let initial = entity
        .chars()
        .next()
        .filter(char::is_ascii_alphanumeric)
        .unwrap_or('e');
    EntityId::parse(&format!("{initial}{n:04}")).expect("synthetic ids are valid")
}

/// How one feature's values are drawn: as the registry says, else by its type.
#[derive(Clone, Debug)]
struct Drawn {
    name: String,
    draw: Option<Draw>,
    value_type: ValueType,
}

/// The views of one kind in `registry`, each with its features.
fn plan(registry: &Registry, kind: FeatureKind) -> Vec<(View, Vec<Drawn>)> {
    registry
        .views_of(kind)
        .map(|view| {
            let features = view
                .features
                .iter()
                .map(|f| Drawn {
                    name: f.name.clone(),
                    draw: f.draw.clone(),
                    value_type: f.value_type,
                })
                .collect();
            (view.clone(), features)
        })
        .collect()
}

/// Each view's features drawn, then its event and write times (`now_ms`): the order a
/// materialization of each view writes them in. A small hash is a listpack, which HMGET
/// searches from its head, so a view's event time beside its features is found sooner than
/// one after every view's (1 µs of a 16 µs HMGET of 51 of 260 fields).
fn draw_views(
    plan: &[(View, Vec<Drawn>)],
    rng: &mut impl Rng,
    now_ms: u64,
) -> Vec<(String, String)> {
    // Sized once, as each row was before it was laid out view by view.
    let mut fields = Vec::with_capacity(plan.iter().map(|(_, features)| features.len() + 2).sum());
    for (view, features) in plan {
        fields.extend(
            features
                .iter()
                .map(|f| (f.name.clone(), draw(&mut *rng, f, now_ms))),
        );
        fields.extend(view.stamps(now_ms, now_ms));
    }
    fields
}

/// `count` batch rows of the demo registry for u0001 onwards.
pub fn synthesize_users(count: u64, seed: u64) -> impl Iterator<Item = EntityRow> {
    synthesize(&crate::registry_file::demo(), count, seed)
}

/// `count` batch rows of the registry's first entity (u0001 onwards for a user): each of its
/// batch views' features, then that view's event and write times, both now. Generated lazily,
/// so a million rows never sit in memory.
pub fn synthesize(registry: &Registry, count: u64, seed: u64) -> impl Iterator<Item = EntityRow> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let entity = registry.entity().name.clone();
    let plan = plan(&registry.of_entity(registry.entity()), FeatureKind::Batch);
    (1..=count).map(move |n| EntityRow {
        id: entity_id(&entity, n),
        fields: draw_views(&plan, &mut rng, unix_ms_now()),
        cleared: Vec::new(),
    })
}

/// One streaming event for an entity at `now_ms`: each streaming view of `registry`'s features,
/// then its event and write times, both `now_ms`, all written in one command.
pub fn streaming_features(
    registry: &Registry,
    rng: &mut impl Rng,
    now_ms: u64,
) -> Vec<(String, String)> {
    draw_views(&plan(registry, FeatureKind::Streaming), rng, now_ms)
}

/// A value in its stored string form.
fn draw(rng: &mut impl Rng, feature: &Drawn, now_ms: u64) -> String {
    // The loader checked every draw: lists are not empty, some weight is above 0.
    match &feature.draw {
        Some(Draw::OneOf(items)) => items.choose(rng).cloned().unwrap_or_default(),
        Some(Draw::Weighted(items)) => items
            .choose_weighted(rng, |(_, weight)| *weight)
            .map(|(value, _)| value.clone())
            .unwrap_or_default(),
        Some(Draw::Between(low, high)) if feature.value_type == ValueType::Int => {
            rng.random_range(*low as i64..=*high as i64).to_string()
        }
        Some(Draw::Between(low, high)) => amount(rng, *low, *high),
        None => match feature.value_type {
            ValueType::Int => rng.random_range(0..=100).to_string(),
            ValueType::Float => amount(rng, 0.0, 100.0),
            ValueType::Bool => rng.random_bool(0.5).to_string(),
            ValueType::String => format!("{}-{}", feature.name, rng.random_range(0..10)),
            ValueType::Timestamp => now_ms.to_string(),
        },
    }
}

fn amount(rng: &mut impl Rng, low: f64, high: f64) -> String {
    ((rng.random_range(low..=high) * 100.0).round() / 100.0).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::is_reserved;

    /// A row's features, without the write times.
    fn features(row: &EntityRow) -> Vec<&(String, String)> {
        row.fields
            .iter()
            .filter(|(name, _)| !is_reserved(name))
            .collect()
    }

    #[test]
    fn ids_keep_growing_past_four_digits() {
        assert_eq!(user_id(1).as_str(), "u0001");
        assert_eq!(user_id(9999).as_str(), "u9999");
        assert_eq!(user_id(10_000).as_str(), "u10000");
    }

    #[test]
    fn same_seed_gives_identical_features() {
        let rows = |seed| -> Vec<String> {
            synthesize_users(300, seed)
                .map(|row| format!("{} {:?}", row.id, features(&row)))
                .collect()
        };
        assert_eq!(rows(42), rows(42));
        assert_ne!(rows(42), rows(43));
    }

    #[test]
    fn rows_carry_exactly_the_batch_features_in_range_then_their_event_and_write_times() {
        let demo = crate::registry_file::demo();
        let registry = demo.of_entity(demo.entity());
        let mut expected: Vec<_> = registry.names_of(FeatureKind::Batch).collect();
        expected.extend(["_ts:user_batch", "_wt:user_batch"]);
        let before = unix_ms_now();
        for row in synthesize_users(2000, 7) {
            let names: Vec<_> = row.fields.iter().map(|(n, _)| n.as_str()).collect();
            assert_eq!(names, expected);
            let get = |name: &str| &row.fields.iter().find(|(n, _)| n == name).unwrap().1;
            let written: u64 = get("_ts:user_batch").parse().unwrap();
            assert!((before..=unix_ms_now()).contains(&written));
            assert_eq!(get("_wt:user_batch"), get("_ts:user_batch"));
            for (_, feature) in registry.features() {
                let Some(value) = row.fields.iter().find(|(n, _)| *n == feature.name) else {
                    continue;
                };
                let value = &value.1;
                match feature
                    .draw
                    .as_ref()
                    .expect("the demo draws every batch feature")
                {
                    Draw::Between(low, high) => {
                        let number: f64 = value.parse().unwrap();
                        assert!((*low..=*high).contains(&number));
                        assert_eq!((number * 100.0).round() / 100.0, number);
                    }
                    Draw::OneOf(items) => assert!(items.contains(value)),
                    Draw::Weighted(items) => assert!(items.iter().any(|(v, _)| v == value)),
                }
            }
        }
    }

    #[test]
    fn risk_segments_follow_their_weights() {
        let rows: Vec<_> = synthesize_users(20_000, 1).collect();
        let low = rows.iter().filter(|r| r.fields[1].1 == "low").count() as f64 / rows.len() as f64;
        assert!((0.67..0.73).contains(&low), "low share {low}");
    }

    #[test]
    fn streaming_events_carry_exactly_the_streaming_features_and_the_view_times() {
        let demo = crate::registry_file::demo();
        let registry = demo.of_entity(demo.entity());
        let mut rng = ChaCha8Rng::seed_from_u64(1337);
        let event = streaming_features(&registry, &mut rng, 1_700_000_000_000);
        let names: Vec<_> = event.iter().map(|(n, _)| n.as_str()).collect();
        let mut expected: Vec<_> = registry.names_of(FeatureKind::Streaming).collect();
        expected.extend(["_ts:user_stream", "_wt:user_stream"]);
        assert_eq!(names, expected);
        assert_eq!(event[0].1, "1700000000000");
        assert_eq!(event[5].1, "1700000000000");
        assert_eq!(event[6].1, "1700000000000");
    }

    #[test]
    fn each_views_times_follow_its_own_features() {
        let registry = crate::registry_file::parse(
            "[entity]\nname = \"card\"\njoin_key = \"card_id\"\nkey_prefix = \"c:\"\n\
             [[views]]\nname = \"a\"\nkind = \"batch\"\nttl_seconds = 60\n\
             features = [{ name = \"a1\", type = \"int\" }, { name = \"a2\", type = \"int\" }]\n\
             [[views]]\nname = \"b\"\nkind = \"batch\"\nttl_seconds = 60\n\
             features = [{ name = \"b1\", type = \"int\" }]\n",
            "test",
        )
        .unwrap();
        let row = synthesize(&registry, 1, 1).next().unwrap();
        let names: Vec<_> = row.fields.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            ["a1", "a2", "_ts:a", "_wt:a", "b1", "_ts:b", "_wt:b"]
        );
    }

    #[test]
    fn features_without_a_draw_are_drawn_by_type() {
        let registry = crate::registry_file::parse(
            "[entity]\nname = \"card\"\njoin_key = \"card_id\"\nkey_prefix = \"c:\"\n\
             [[views]]\nname = \"v\"\nkind = \"batch\"\nttl_seconds = 60\n\
             features = [{ name = \"n\", type = \"int\" }, { name = \"ok\", type = \"bool\" }]\n",
            "test",
        )
        .unwrap();
        let row = synthesize(&registry, 1, 1).next().unwrap();
        assert!(row.fields[0].1.parse::<u32>().unwrap() <= 100);
        assert!(row.fields[1].1.parse::<bool>().is_ok());
        assert_eq!(row.fields[2].0, "_ts:v");
    }
}
