//! Synthetic data: the batch rows a nightly job would materialize, and the streaming events a
//! Flink job would emit. Seeded ChaCha keeps every row identical across runs and machines.

use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::domain::EntityId;
use crate::store::EntityRow;

pub const COUNTRIES: [&str; 10] = ["US", "GB", "DE", "FR", "IN", "BR", "JP", "AU", "CA", "NL"];
const RISK_SEGMENTS: [(&str, u32); 3] = [("low", 70), ("medium", 25), ("high", 5)];
const CHARGEBACKS: [(u32, u32); 4] = [(0, 85), (1, 10), (2, 4), (3, 1)];
const DEVICES: [&str; 7] = [
    "ios-1a4c",
    "ios-9f02",
    "and-7b21",
    "and-2d18",
    "web-chr-1",
    "web-saf-1",
    "web-ff-2",
];
const FAILED_LOGINS: [(u32, u32); 4] = [(0, 70), (1, 20), (2, 8), (5, 2)];

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
    let avg_amount = (rng.random_range(5.0..350.0_f64) * 100.0).round() / 100.0;
    vec![
        ("country_iso".into(), choose(rng, &COUNTRIES).to_string()),
        (
            "risk_segment".into(),
            weighted(rng, &RISK_SEGMENTS).to_string(),
        ),
        (
            "account_age_days".into(),
            rng.random_range(7..=2400_u32).to_string(),
        ),
        (
            "tx_count_7d".into(),
            rng.random_range(0..=80_u32).to_string(),
        ),
        ("avg_amount_30d".into(), avg_amount.to_string()),
        (
            "chargeback_count_180d".into(),
            weighted(rng, &CHARGEBACKS).to_string(),
        ),
    ]
}

/// One streaming event's five real-time features for a user, stamped `now_ms`.
pub fn streaming_features(rng: &mut impl Rng, now_ms: i64) -> Vec<(&'static str, String)> {
    vec![
        ("last_login_ts", now_ms.to_string()),
        ("last_device_id", choose(rng, &DEVICES).to_string()),
        ("tx_count_5m", rng.random_range(0..13_u32).to_string()),
        (
            "failed_logins_15m",
            weighted(rng, &FAILED_LOGINS).to_string(),
        ),
        ("session_country", choose(rng, &COUNTRIES).to_string()),
    ]
}

fn choose<'a>(rng: &mut impl Rng, items: &'a [&'a str]) -> &'a str {
    items.choose(rng).expect("non-empty constant list")
}

fn weighted<T: Copy>(rng: &mut impl Rng, items: &[(T, u32)]) -> T {
    items
        .choose_weighted(rng, |(_, weight)| *weight)
        .expect("constant weights are positive")
        .0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{self, FeatureKind};

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
            let age: u32 = get("account_age_days").parse().unwrap();
            assert!((7..=2400).contains(&age));
            let amount: f64 = get("avg_amount_30d").parse().unwrap();
            assert!((5.0..=350.0).contains(&amount));
            assert_eq!((amount * 100.0).round() / 100.0, amount);
            assert!(COUNTRIES.contains(&get("country_iso").as_str()));
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
