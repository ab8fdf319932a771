//! The time the service takes per read, kept in fixed buckets of plain atomics: recording costs
//! a few relaxed adds, never a lock, and the same numbers feed `/metrics` and the UI.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use crate::model::LatencyHistogram;

/// Upper bounds: 20 µs doubling to about 1.3 s, past any read deadline.
const BUCKETS: usize = 17;

#[derive(Debug, Default)]
pub struct ReadLatency {
    /// One more than the bounds: the last counts what took longer than all of them.
    counts: [AtomicU64; BUCKETS + 1],
    sum_ns: AtomicU64,
}

fn upper_bound_us(bucket: usize) -> u64 {
    20 << bucket
}

impl ReadLatency {
    pub fn observe(&self, took: Duration) {
        let us = took.as_micros();
        let bucket = (0..BUCKETS)
            .find(|&bucket| us <= u128::from(upper_bound_us(bucket)))
            .unwrap_or(BUCKETS);
        self.counts[bucket].fetch_add(1, Relaxed);
        self.sum_ns
            .fetch_add(u64::try_from(took.as_nanos()).unwrap_or(u64::MAX), Relaxed);
    }

    pub fn snapshot(&self) -> LatencyHistogram {
        LatencyHistogram {
            upper_bounds_us: (0..BUCKETS).map(upper_bound_us).collect(),
            counts: self
                .counts
                .iter()
                .map(|count| count.load(Relaxed))
                .collect(),
        }
    }

    /// Seconds spent in all the reads observed.
    pub fn sum_seconds(&self) -> f64 {
        self.sum_ns.load(Relaxed) as f64 / 1e9
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_read_lands_in_the_first_bucket_that_holds_it() {
        let latency = ReadLatency::default();
        for us in [0, 20, 21, 1_000_000, 10_000_000] {
            latency.observe(Duration::from_micros(us));
        }
        let snapshot = latency.snapshot();
        assert_eq!(snapshot.upper_bounds_us[..3], [20, 40, 80]);
        assert_eq!(snapshot.counts[..2], [2, 1]);
        // 1 s fits the bucket up to 1.31 s; 10 s overflows.
        assert_eq!(snapshot.counts[16..], [1, 1]);
        assert_eq!(snapshot.total(), 5);
        assert!((latency.sum_seconds() - 11.000_041).abs() < 1e-9);
    }
}
