//! Small-sample statistics for repeated runs: mean, sample standard deviation
//! and the Student t confidence interval of the mean (n − 1 degrees of
//! freedom), as the study reported them for five runs per configuration.
//!
//! The t quantile is computed here (regularised incomplete beta function and
//! bisection on the t distribution's CDF), accurate to about 1e-10, so the
//! crate needs no statistics dependency.
use serde::Serialize;

/// The confidence level used throughout reports.
pub const CI_LEVEL: f64 = 0.95;

/// Mean of the values, `None` for an empty slice.
pub fn mean(xs: &[f64]) -> Option<f64> {
    (!xs.is_empty()).then(|| xs.iter().sum::<f64>() / xs.len() as f64)
}

/// Sample standard deviation (n − 1 in the denominator), `None` below two values.
pub fn sample_sd(xs: &[f64]) -> Option<f64> {
    if xs.len() < 2 {
        return None;
    }
    let m = mean(xs)?;
    let ss: f64 = xs.iter().map(|x| (x - m) * (x - m)).sum();
    Some((ss / (xs.len() - 1) as f64).sqrt())
}

/// A mean with its confidence interval. With a single value there is no
/// interval: `half_width` and `sd` are `None` (shown as "n=1, no interval"),
/// never a made-up zero-width interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct MeanCi {
    pub n: usize,
    pub mean: f64,
    /// Sample standard deviation; `None` when n = 1.
    pub sd: Option<f64>,
    /// Half width of the interval: t(1 − α/2, n − 1) · sd / √n; `None` when n = 1.
    pub half_width: Option<f64>,
    /// Confidence level of the interval, e.g. 0.95.
    pub level: f64,
}

impl MeanCi {
    pub fn low(&self) -> Option<f64> {
        self.half_width.map(|h| self.mean - h)
    }

    pub fn high(&self) -> Option<f64> {
        self.half_width.map(|h| self.mean + h)
    }
}

/// Mean and Student t interval of the finite values in `xs` at `level`
/// (e.g. [`CI_LEVEL`]). `None` when there is no finite value.
pub fn mean_ci(xs: &[f64], level: f64) -> Option<MeanCi> {
    let v: Vec<f64> = xs.iter().copied().filter(|x| x.is_finite()).collect();
    let m = mean(&v)?;
    let sd = sample_sd(&v);
    let half_width = sd.map(|sd| {
        let df = (v.len() - 1) as f64;
        t_quantile(0.5 + level / 2.0, df) * sd / (v.len() as f64).sqrt()
    });
    Some(MeanCi {
        n: v.len(),
        mean: m,
        sd,
        half_width,
        level,
    })
}

/// The `p` quantile of Student's t distribution with `df` degrees of freedom
/// (`df` > 0, 0 < `p` < 1). E.g. `t_quantile(0.975, 4.0)` ≈ 2.776445.
pub fn t_quantile(p: f64, df: f64) -> f64 {
    assert!(
        p > 0.0 && p < 1.0,
        "t_quantile: p must be in (0, 1), got {p}"
    );
    assert!(df > 0.0, "t_quantile: df must be positive, got {df}");
    if p == 0.5 {
        return 0.0;
    }
    if p < 0.5 {
        return -t_quantile(1.0 - p, df);
    }
    let mut hi = 1.0;
    while t_cdf(hi, df) < p {
        hi *= 2.0;
        if hi > 1e12 {
            return f64::INFINITY;
        }
    }
    let mut lo = 0.0;
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if t_cdf(mid, df) < p {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo <= 1e-13 * hi.max(1.0) {
            break;
        }
    }
    0.5 * (lo + hi)
}

/// Cumulative distribution function of Student's t with `df` degrees of freedom.
pub fn t_cdf(t: f64, df: f64) -> f64 {
    let x = df / (df + t * t);
    let tail = 0.5 * reg_inc_beta(df / 2.0, 0.5, x);
    if t >= 0.0 {
        1.0 - tail
    } else {
        tail
    }
}

/// Regularised incomplete beta function I_x(a, b) (continued fraction,
/// Numerical Recipes §6.4).
fn reg_inc_beta(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let ln_front = ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln();
    let front = ln_front.exp();
    if x < (a + 1.0) / (a + b + 2.0) {
        front * beta_cf(a, b, x) / a
    } else {
        1.0 - front * beta_cf(b, a, 1.0 - x) / b
    }
}

fn beta_cf(a: f64, b: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..400 {
        let m = m as f64;
        let m2 = 2.0 * m;
        let aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 + aa * d;
        if d.abs() < TINY {
            d = TINY;
        }
        c = 1.0 + aa / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        h *= d * c;
        let aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 + aa * d;
        if d.abs() < TINY {
            d = TINY;
        }
        c = 1.0 + aa / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        let del = d * c;
        h *= del;
        if (del - 1.0).abs() < 1e-15 {
            break;
        }
    }
    h
}

/// ln Γ(x) for x > 0 (Lanczos approximation, g = 7, n = 9).
fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection: Γ(x)Γ(1 − x) = π / sin(πx).
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = C[0];
    let t = x + G + 0.5;
    for (i, c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn t_quantiles_match_tables() {
        // Two-sided 95% critical values from standard t tables.
        let table = [
            (1.0, 12.706_204_736),
            (2.0, 4.302_652_730),
            (3.0, 3.182_446_305),
            (4.0, 2.776_445_105),
            (9.0, 2.262_157_163),
            (29.0, 2.045_229_642),
            (1000.0, 1.962_339_081),
        ];
        for (df, want) in table {
            let got = t_quantile(0.975, df);
            assert!(close(got, want, 1e-7), "df {df}: {got} vs {want}");
        }
        assert!(close(t_quantile(0.995, 4.0), 4.604_094_871, 1e-7));
        assert!(close(t_quantile(0.025, 4.0), -2.776_445_105, 1e-7));
        assert_eq!(t_quantile(0.5, 3.0), 0.0);
    }

    /// Critical values of a standard Student t table, to 4 decimals (upper
    /// 0.975 and 0.995 quantiles; cross-checked with mpmath's regularised
    /// incomplete beta function at 30 digits).
    const DF: [f64; 33] = [
        1., 2., 3., 4., 5., 6., 7., 8., 9., 10., 11., 12., 13., 14., 15., 16., 17., 18., 19., 20.,
        21., 22., 23., 24., 25., 26., 27., 28., 29., 30., 40., 60., 120.,
    ];
    const T_0975: [f64; 33] = [
        12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281, 2.2010,
        2.1788, 2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860, 2.0796, 2.0739,
        2.0687, 2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423, 2.0211, 2.0003, 1.9799,
    ];
    const T_0995: [f64; 33] = [
        63.6567, 9.9248, 5.8409, 4.6041, 4.0321, 3.7074, 3.4995, 3.3554, 3.2498, 3.1693, 3.1058,
        3.0545, 3.0123, 2.9768, 2.9467, 2.9208, 2.8982, 2.8784, 2.8609, 2.8453, 2.8314, 2.8188,
        2.8073, 2.7969, 2.7874, 2.7787, 2.7707, 2.7633, 2.7564, 2.7500, 2.7045, 2.6603, 2.6174,
    ];

    #[test]
    fn t_quantiles_match_the_published_table_to_4_decimals() {
        for (p, table) in [(0.975, T_0975), (0.995, T_0995)] {
            for (df, want) in DF.iter().zip(table) {
                let got = t_quantile(p, *df);
                // The table is rounded to 4 decimals.
                assert!(
                    close(got, want, 0.5e-4 + 1e-12),
                    "t({p}, {df}) = {got}, table {want}"
                );
                // Symmetry: the lower quantile is the negative.
                assert!(
                    close(t_quantile(1.0 - p, *df), -got, 1e-9),
                    "t({}, {df})",
                    1.0 - p
                );
            }
        }
    }

    #[test]
    fn t_cdf_of_cauchy_is_known() {
        // df = 1 is the Cauchy distribution: F(1) = 3/4.
        assert!(close(t_cdf(1.0, 1.0), 0.75, 1e-12));
        assert!(close(t_cdf(-1.0, 1.0), 0.25, 1e-12));
    }

    #[test]
    fn interval_n2_by_hand() {
        // xs = 10, 12: mean 11, sd = √2, se = √2/√2 = 1, t(0.975, 1) = 12.7062.
        let ci = mean_ci(&[10.0, 12.0], CI_LEVEL).unwrap();
        assert_eq!(ci.n, 2);
        assert!(close(ci.mean, 11.0, 1e-12));
        assert!(close(ci.sd.unwrap(), 2f64.sqrt(), 1e-12));
        assert!(close(ci.half_width.unwrap(), 12.706_204_736, 1e-7));
        assert!(close(ci.low().unwrap(), 11.0 - 12.706_204_736, 1e-7));
    }

    #[test]
    fn interval_n5_by_hand() {
        // xs = 1..5: mean 3, sd = √2.5 = 1.581139, se = 0.707107,
        // t(0.975, 4) = 2.776445, half width = 1.963243.
        let ci = mean_ci(&[1.0, 2.0, 3.0, 4.0, 5.0], CI_LEVEL).unwrap();
        assert!(close(ci.mean, 3.0, 1e-12));
        assert!(close(ci.sd.unwrap(), 2.5f64.sqrt(), 1e-12));
        assert!(close(ci.half_width.unwrap(), 1.963_243_4, 1e-6));
        // Study-like: five run times in seconds.
        let ci = mean_ci(&[480.0, 470.0, 495.0, 490.0, 465.0], CI_LEVEL).unwrap();
        // mean 480, deviations 0,-10,15,10,-15: ss = 650, sd = √162.5 = 12.7475,
        // se = 5.70088, half width = 2.776445 · 5.70088 = 15.8282.
        assert!(close(ci.mean, 480.0, 1e-9));
        assert!(close(ci.half_width.unwrap(), 15.828_19, 1e-4));
    }

    #[test]
    fn n1_has_no_interval_and_empty_has_nothing() {
        let ci = mean_ci(&[42.0], CI_LEVEL).unwrap();
        assert_eq!(ci.n, 1);
        assert_eq!(ci.mean, 42.0);
        assert_eq!(ci.sd, None);
        assert_eq!(ci.half_width, None);
        assert_eq!(ci.low(), None);
        assert!(mean_ci(&[], CI_LEVEL).is_none());
        assert!(mean_ci(&[f64::NAN], CI_LEVEL).is_none());
    }
}
