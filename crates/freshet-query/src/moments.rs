//! Trino's `skewness(x)` and `kurtosis(x)`, which DataFusion lacks: the skewness and the excess kurtosis of the
//! values, from their central moments. The moments are updated one value at a time (Welford's method, extended to
//! the third and fourth moments by Terriberry) and merged pairwise (Pébay), as Trino does; null values are ignored.
//! `skewness` needs three values and `kurtosis` four, else the result is null.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Float64Type};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Signature, Volatility,
};
use datafusion::prelude::SessionContext;

pub fn register(ctx: &SessionContext) {
    for statistic in [Statistic::Skewness, Statistic::Kurtosis] {
        ctx.register_udaf(AggregateUDF::new_from_impl(MomentFunction {
            statistic,
            signature: Signature::uniform(1, vec![DataType::Float64], Volatility::Immutable),
        }));
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Statistic {
    Skewness,
    Kurtosis,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct MomentFunction {
    statistic: Statistic,
    signature: Signature,
}

impl AggregateUDFImpl for MomentFunction {
    fn name(&self) -> &str {
        match self.statistic {
            Statistic::Skewness => "skewness",
            Statistic::Kurtosis => "kurtosis",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(MomentsAccumulator {
            statistic: self.statistic,
            moments: Moments::default(),
        }))
    }

    fn state_fields(&self, _args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(["count", "mean", "m2", "m3", "m4"]
            .into_iter()
            .map(|name| Arc::new(Field::new(name, DataType::Float64, true)))
            .collect())
    }
}

/// The count, the mean, and the sums of the second, third and fourth powers of the deviations from the mean.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct Moments {
    n: f64,
    mean: f64,
    m2: f64,
    m3: f64,
    m4: f64,
}

impl Moments {
    fn add(&mut self, x: f64) {
        let n1 = self.n;
        self.n += 1.0;
        let n = self.n;
        let delta = x - self.mean;
        let delta_n = delta / n;
        let delta_n2 = delta_n * delta_n;
        let term1 = delta * delta_n * n1;
        self.mean += delta_n;
        self.m4 += term1 * delta_n2 * (n * n - 3.0 * n + 3.0) + 6.0 * delta_n2 * self.m2
            - 4.0 * delta_n * self.m3;
        self.m3 += term1 * delta_n * (n - 2.0) - 3.0 * delta_n * self.m2;
        self.m2 += term1;
    }

    fn merge(&mut self, other: &Moments) {
        if other.n == 0.0 {
            return;
        }
        if self.n == 0.0 {
            *self = *other;
            return;
        }
        let (na, nb) = (self.n, other.n);
        let n = na + nb;
        let delta = other.mean - self.mean;
        let delta2 = delta * delta;
        let delta3 = delta2 * delta;
        let delta4 = delta2 * delta2;
        let m4 = self.m4
            + other.m4
            + delta4 * na * nb * (na * na - na * nb + nb * nb) / (n * n * n)
            + 6.0 * delta2 * (na * na * other.m2 + nb * nb * self.m2) / (n * n)
            + 4.0 * delta * (na * other.m3 - nb * self.m3) / n;
        let m3 = self.m3
            + other.m3
            + delta3 * na * nb * (na - nb) / (n * n)
            + 3.0 * delta * (na * other.m2 - nb * self.m2) / n;
        let m2 = self.m2 + other.m2 + delta2 * na * nb / n;
        self.mean = (na * self.mean + nb * other.mean) / n;
        (self.n, self.m2, self.m3, self.m4) = (n, m2, m3, m4);
    }

    fn skewness(&self) -> Option<f64> {
        (self.n >= 3.0).then(|| self.n.sqrt() * self.m3 / self.m2.powf(1.5))
    }

    /// The excess kurtosis, with Trino's bias correction.
    fn kurtosis(&self) -> Option<f64> {
        let n = self.n;
        (n >= 4.0).then(|| {
            ((n - 1.0) * n * (n + 1.0)) / ((n - 2.0) * (n - 3.0)) * self.m4 / (self.m2 * self.m2)
                - 3.0 * ((n - 1.0) * (n - 1.0)) / ((n - 2.0) * (n - 3.0))
        })
    }
}

#[derive(Debug)]
struct MomentsAccumulator {
    statistic: Statistic,
    moments: Moments,
}

impl Accumulator for MomentsAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let values = values[0].as_primitive::<Float64Type>();
        for x in values.iter().flatten() {
            self.moments.add(x);
        }
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let column = |k: usize| states[k].as_primitive::<Float64Type>();
        let (n, mean, m2, m3, m4) = (column(0), column(1), column(2), column(3), column(4));
        for i in 0..n.len() {
            if n.is_null(i) {
                continue;
            }
            self.moments.merge(&Moments {
                n: n.value(i),
                mean: mean.value(i),
                m2: m2.value(i),
                m3: m3.value(i),
                m4: m4.value(i),
            });
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let m = self.moments;
        Ok([m.n, m.mean, m.m2, m.m3, m.m4]
            .into_iter()
            .map(|v| ScalarValue::Float64(Some(v)))
            .collect())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(ScalarValue::Float64(match self.statistic {
            Statistic::Skewness => self.moments.skewness(),
            Statistic::Kurtosis => self.moments.kurtosis(),
        }))
    }

    fn size(&self) -> usize {
        size_of_val(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The moments straight from their definitions, in two passes.
    fn two_pass(xs: &[f64]) -> Moments {
        let n = xs.len() as f64;
        let mean = xs.iter().sum::<f64>() / n;
        let power = |p: i32| xs.iter().map(|x| (x - mean).powi(p)).sum::<f64>();
        Moments {
            n,
            mean,
            m2: power(2),
            m3: power(3),
            m4: power(4),
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
    }

    #[test]
    fn online_and_merged_moments_match_their_definitions() {
        let xs: Vec<f64> = (0..200)
            .map(|i| ((i * 37) % 101) as f64 / 7.0 + (i as f64).sqrt())
            .collect();
        let expected = two_pass(&xs);
        let mut online = Moments::default();
        xs.iter().for_each(|&x| online.add(x));
        // Merged from three uneven parts, one of them empty.
        let mut merged = Moments::default();
        for part in [&xs[..13], &xs[13..13], &xs[13..]] {
            let mut m = Moments::default();
            part.iter().for_each(|&x| m.add(x));
            merged.merge(&m);
        }
        for m in [online, merged] {
            assert_eq!(m.n, expected.n);
            for (a, b) in [
                (m.mean, expected.mean),
                (m.m2, expected.m2),
                (m.m3, expected.m3),
                (m.m4, expected.m4),
            ] {
                assert!(close(a, b), "{a} against {b}");
            }
        }
    }

    #[test]
    fn skewness_and_kurtosis_need_three_and_four_values() {
        let of = |xs: &[f64]| {
            let mut m = Moments::default();
            xs.iter().for_each(|&x| m.add(x));
            (m.skewness(), m.kurtosis())
        };
        assert_eq!(of(&[1.0, 2.0]), (None, None));
        let (skewness, kurtosis) = of(&[1.0, 2.0, 4.0]);
        // sqrt(3) * (60/27) / (42/9)^1.5
        assert!(close(
            skewness.unwrap(),
            3f64.sqrt() * (60.0 / 27.0) / (42.0f64 / 9.0).powf(1.5)
        ));
        assert_eq!(kurtosis, None);
        // Symmetric values have no skewness.
        let (skewness, kurtosis) = of(&[1.0, 2.0, 3.0, 4.0]);
        assert!(close(skewness.unwrap(), 0.0));
        // n = 4, m2 = 5, m4 = 2 * (1.5^4 + 0.5^4) = 10.25: 60 / 2 * 10.25 / 25 - 27 / 2.
        assert!(close(kurtosis.unwrap(), 30.0 * 10.25 / 25.0 - 13.5));
    }
}
