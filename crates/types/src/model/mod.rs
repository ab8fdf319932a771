//! Plain data that crosses the wire between the server and the browser, and that the operations
//! answer with whatever the transport: the hydrated client decodes exactly what the server
//! encodes.

mod read;
mod state;
mod write;

pub use read::*;
pub use state::*;
pub use write::*;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls_keep_redis_integers_on_the_wire() {
        for (reply, ttl) in [
            (-2, Ttl::Missing),
            (-1, Ttl::Persistent),
            (42, Ttl::Left(42)),
        ] {
            assert_eq!(Ttl::from(reply), ttl);
            assert_eq!(serde_json::to_string(&ttl).unwrap(), reply.to_string());
        }
        assert_eq!(Ttl::Left(3).after(5), Ttl::Left(0));
    }

    #[test]
    fn latency_quantiles_interpolate_within_buckets_of_the_window() {
        let bounds = vec![100, 200, 400];
        let earlier = LatencyHistogram {
            upper_bounds_us: bounds.clone(),
            counts: vec![5, 0, 0, 0],
        };
        let now = LatencyHistogram {
            upper_bounds_us: bounds,
            counts: vec![5, 50, 49, 1],
        };
        let window = now.since(&earlier);
        assert_eq!(window.counts, vec![0, 50, 49, 1]);
        assert_eq!(window.quantile_us(0.5), Some(200.0));
        assert_eq!(window.quantile_us(0.25), Some(150.0));
        // The 99th of 100 lands at the top of the third bucket; above it, only "more than 400".
        assert_eq!(window.quantile_us(0.99), Some(400.0));
        assert_eq!(window.quantile_us(1.0), Some(400.0));
        assert_eq!(earlier.since(&earlier).quantile_us(0.5), None);
    }
}
