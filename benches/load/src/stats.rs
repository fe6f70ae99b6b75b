//! Latency samples and the percentiles the report quotes.
//!
//! Samples are kept whole (a few hundred thousand `u64` at most per run) and sorted once,
//! so a percentile is exact rather than bucketed.

use std::time::Duration;

/// Latency samples in nanoseconds.
#[derive(Debug, Default, Clone)]
pub(crate) struct Samples {
    values: Vec<u64>,
    sorted: bool,
}

impl Samples {
    /// Adds one sample.
    pub(crate) fn push(&mut self, value: Duration) {
        self.values
            .push(u64::try_from(value.as_nanos()).unwrap_or(u64::MAX));
        self.sorted = false;
    }

    /// Adds every sample of `other`.
    pub(crate) fn extend(&mut self, other: Samples) {
        self.values.extend(other.values);
        self.sorted = false;
    }

    /// How many samples there are.
    pub(crate) fn len(&self) -> usize {
        self.values.len()
    }

    /// The `q` quantile (0 ≤ q ≤ 1) by nearest rank, in microseconds; 0 when empty.
    pub(crate) fn quantile_us(&mut self, q: f64) -> f64 {
        if self.values.is_empty() {
            return 0.0;
        }
        if !self.sorted {
            self.values.sort_unstable();
            self.sorted = true;
        }
        let n = self.values.len();
        // Nearest rank: the smallest value with at least q·n samples at or below it.
        let rank = (q.clamp(0.0, 1.0) * n as f64).ceil() as usize;
        let index = rank.clamp(1, n) - 1;
        self.values[index] as f64 / 1_000.0
    }

    /// The mean in microseconds; 0 when empty.
    pub(crate) fn mean_us(&self) -> f64 {
        if self.values.is_empty() {
            return 0.0;
        }
        let total: u128 = self.values.iter().map(|&v| u128::from(v)).sum();
        total as f64 / self.values.len() as f64 / 1_000.0
    }

    /// The usual summary.
    pub(crate) fn summary(&mut self) -> Summary {
        Summary {
            count: self.len() as u64,
            p50: self.quantile_us(0.50),
            p90: self.quantile_us(0.90),
            p99: self.quantile_us(0.99),
            p999: self.quantile_us(0.999),
            max: self.quantile_us(1.0),
            mean: self.mean_us(),
        }
    }
}

/// Percentiles of one run, in microseconds.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub(crate) struct Summary {
    /// Samples.
    pub(crate) count: u64,
    /// Median.
    pub(crate) p50: f64,
    /// 90th percentile.
    pub(crate) p90: f64,
    /// 99th percentile.
    pub(crate) p99: f64,
    /// 99.9th percentile.
    pub(crate) p999: f64,
    /// Largest sample.
    pub(crate) max: f64,
    /// Mean.
    pub(crate) mean: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from_us(values: impl IntoIterator<Item = u64>) -> Samples {
        let mut samples = Samples::default();
        for v in values {
            samples.push(Duration::from_micros(v));
        }
        samples
    }

    #[test]
    fn nearest_rank_percentiles_of_one_to_a_thousand() {
        let mut samples = from_us((1..=1000).rev());
        let s = samples.summary();
        assert_eq!(s.count, 1000);
        assert_eq!(s.p50, 500.0);
        assert_eq!(s.p90, 900.0);
        assert_eq!(s.p99, 990.0);
        assert_eq!(s.p999, 999.0);
        assert_eq!(s.max, 1000.0);
        assert_eq!(s.mean, 500.5);
    }

    #[test]
    fn small_sets_round_up_to_a_real_sample() {
        let mut samples = from_us([10, 30, 20]);
        assert_eq!(samples.quantile_us(0.0), 10.0);
        assert_eq!(samples.quantile_us(0.5), 20.0);
        assert_eq!(samples.quantile_us(0.99), 30.0);
        // Adding after a sort re-sorts.
        samples.push(Duration::from_micros(5));
        assert_eq!(samples.quantile_us(0.0), 5.0);
    }

    #[test]
    fn empty_is_zero_not_a_panic() {
        let mut samples = Samples::default();
        assert_eq!(samples.summary(), Summary::default());
    }

    #[test]
    fn extend_merges_workers() {
        let mut a = from_us([1, 2]);
        a.extend(from_us([3, 4]));
        assert_eq!(a.len(), 4);
        assert_eq!(a.quantile_us(1.0), 4.0);
    }
}
