//! Synthetic data: the batch rows a nightly job would materialize, and the streaming events a
//! Flink job would emit. Seeded ChaCha keeps every row identical across runs and machines.

use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::domain::EntityId;
use crate::schema::{Demo, FeatureKind, FEATURES};
use crate::store::EntityRow;

/// The id of the `n`th synthetic user (1-based): u0001 … u9999, u10000, …
pub fn user_id(n: u64) -> EntityId {
    EntityId::parse(&format!("u{n:04}")).expect("synthetic ids are valid")
}

/// `count` batch rows for u0001 onwards, generated lazily so a million rows never sit in memory.
pub fn synthesize_users(count: u64, seed: u64) -> impl Iterator<Item = EntityRow> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (1..=count).map(move |n| EntityRow {
        id: user_id(n),
        fields: batch_features(&mut rng),
    })
}

fn batch_features(rng: &mut impl Rng) -> Vec<(String, String)> {
    FEATURES
        .iter()
        .filter(|f| f.kind == FeatureKind::Batch)
        .map(|f| (f.name.to_owned(), draw(rng, f.demo, 0)))
        .collect()
}

/// One streaming event's real-time features for an entity, stamped `now_ms`.
pub fn streaming_features(rng: &mut impl Rng, now_ms: i64) -> Vec<(&'static str, String)> {
    FEATURES
        .iter()
        .filter(|f| f.kind == FeatureKind::Streaming)
        .map(|f| (f.name, draw(rng, f.demo, now_ms)))
        .collect()
}

/// A value drawn the way the schema says, in its stored string form.
fn draw(rng: &mut impl Rng, demo: Demo, now_ms: i64) -> String {
    match demo {
        Demo::OneOf(items) => items
            .choose(rng)
            .expect("non-empty constant list")
            .to_string(),
        Demo::Weighted(items) => items
            .choose_weighted(rng, |(_, weight)| *weight)
            .expect("constant weights are positive")
            .0
            .to_owned(),
        Demo::Int(low, high) => rng.random_range(low..=high).to_string(),
        Demo::Amount(low, high) => {
            ((rng.random_range(low..high) * 100.0).round() / 100.0).to_string()
        }
        Demo::EventTime => now_ms.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{self, COUNTRIES};

    #[test]
    fn ids_keep_growing_past_four_digits() {
        assert_eq!(user_id(1).as_str(), "u0001");
        assert_eq!(user_id(9999).as_str(), "u9999");
        assert_eq!(user_id(10_000).as_str(), "u10000");
    }

    #[test]
    fn same_seed_gives_identical_rows() {
        let a: Vec<_> = synthesize_users(300, 42).collect();
        let b: Vec<_> = synthesize_users(300, 42).collect();
        let c: Vec<_> = synthesize_users(300, 43).collect();
        assert_eq!(format!("{a:?}"), format!("{b:?}"));
        assert_ne!(a, c);
    }

    #[test]
    fn rows_carry_exactly_the_schema_batch_features_in_range() {
        let batch: Vec<_> = schema::names_of(FeatureKind::Batch).collect();
        for row in synthesize_users(2000, 7) {
            let names: Vec<_> = row.fields.iter().map(|(n, _)| n.as_str()).collect();
            assert_eq!(names, batch);
            let get = |name: &str| &row.fields.iter().find(|(n, _)| n == name).unwrap().1;
            for feature in schema::FEATURES
                .iter()
                .filter(|f| f.kind == FeatureKind::Batch)
            {
                let value = get(feature.name);
                match feature.demo {
                    Demo::Int(low, high) => {
                        assert!((low..=high).contains(&value.parse::<u32>().unwrap()))
                    }
                    Demo::Amount(low, high) => {
                        let amount: f64 = value.parse().unwrap();
                        assert!((low..=high).contains(&amount));
                        assert_eq!((amount * 100.0).round() / 100.0, amount);
                    }
                    Demo::OneOf(items) => assert!(items.contains(&value.as_str())),
                    Demo::Weighted(items) => assert!(items.iter().any(|(v, _)| v == value)),
                    Demo::EventTime => unreachable!("no batch feature is an event time"),
                }
            }
            assert!(COUNTRIES.contains(&get(schema::FEATURES[0].name).as_str()));
        }
    }

    #[test]
    fn risk_segments_follow_their_weights() {
        let rows: Vec<_> = synthesize_users(20_000, 1).collect();
        let low = rows.iter().filter(|r| r.fields[1].1 == "low").count() as f64 / rows.len() as f64;
        assert!((0.67..0.73).contains(&low), "low share {low}");
    }

    #[test]
    fn streaming_events_carry_exactly_the_schema_streaming_features() {
        let mut rng = ChaCha8Rng::seed_from_u64(1337);
        let event = streaming_features(&mut rng, 1_700_000_000_000);
        let names: Vec<_> = event.iter().map(|(n, _)| *n).collect();
        assert_eq!(
            names,
            schema::names_of(FeatureKind::Streaming).collect::<Vec<_>>()
        );
        assert_eq!(event[0].1, "1700000000000");
    }
}
