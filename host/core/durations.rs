//! [`TaskDurations`]: a histogram of finished task attempts' run times per
//! phase, for the coordinator's metrics.

use std::time::Duration;

use super::ids::Phase;

/// Upper bounds of the histogram buckets, in seconds.
pub const BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0,
];

/// One phase's histogram.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Histogram {
    /// Count of observations at or below each bound of [`BUCKETS`]
    /// (cumulative, as Prometheus wants).
    pub cumulative: [u64; BUCKETS.len()],
    /// All observations.
    pub count: u64,
    /// Their sum, in seconds.
    pub sum: f64,
}

impl Histogram {
    fn observe(&mut self, d: Duration) {
        let secs = d.as_secs_f64();
        for (bound, n) in BUCKETS.iter().zip(self.cumulative.iter_mut()) {
            if secs <= *bound {
                *n += 1;
            }
        }
        self.count += 1;
        self.sum += secs;
    }
}

/// Run times of accepted task attempts, by phase.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TaskDurations {
    /// Map tasks.
    pub map: Histogram,
    /// Reduce tasks.
    pub reduce: Histogram,
}

impl TaskDurations {
    pub(crate) fn observe(&mut self, phase: Phase, d: Duration) {
        match phase {
            Phase::Map => self.map.observe(d),
            Phase::Reduce => self.reduce.observe(d),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_cumulative() {
        let mut t = TaskDurations::default();
        t.observe(Phase::Map, Duration::from_millis(30));
        t.observe(Phase::Map, Duration::from_secs(3));
        assert_eq!(t.map.count, 2);
        assert_eq!(t.map.cumulative[..4], [0, 0, 0, 1]);
        assert_eq!(t.map.cumulative[BUCKETS.len() - 1], 2);
        assert_eq!(t.map.cumulative[8], 1);
        assert_eq!(t.map.cumulative[9], 2);
        assert!((t.map.sum - 3.03).abs() < 1e-9);
        assert_eq!(t.reduce, Histogram::default());
    }
}
