//! Carbon and cost: energy turned into grams of CO2e and money with factors the
//! user gives (`--carbon-intensity`, `--price`, `--currency`, or the config
//! file). No look-ups: a factor nobody gave is absent, and so is every figure
//! it would make. Unknown energy gives an unknown figure, never zero.
use serde::Serialize;

/// Joules in one kilowatt-hour.
pub const J_PER_KWH: f64 = 3.6e6;

/// The currency label used when the user gives a price but names no currency.
pub const DEFAULT_CURRENCY: &str = "currency units";

/// The user's factors. Each is their own figure, labelled as such wherever shown.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CostFactors {
    /// Grid carbon intensity, grams of CO2e per kWh.
    pub carbon_g_per_kwh: Option<f64>,
    /// Price of one kWh, in `currency`.
    pub price_per_kwh: Option<f64>,
    /// The label of the price's currency ("EUR", "USD", ...).
    pub currency: String,
}

impl Default for CostFactors {
    fn default() -> Self {
        CostFactors {
            carbon_g_per_kwh: None,
            price_per_kwh: None,
            currency: DEFAULT_CURRENCY.to_string(),
        }
    }
}

/// A factor that is not a finite, non-negative number.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{name} {value} is not usable: give a finite number of zero or more, such as {example}")]
pub struct BadFactor {
    pub name: &'static str,
    pub value: f64,
    pub example: &'static str,
}

impl CostFactors {
    /// Factors checked: negative, NaN or infinite values are refused.
    pub fn new(
        carbon_g_per_kwh: Option<f64>,
        price_per_kwh: Option<f64>,
        currency: Option<String>,
    ) -> Result<Self, BadFactor> {
        check("--carbon-intensity", carbon_g_per_kwh, "400")?;
        check("--price", price_per_kwh, "0.25")?;
        Ok(CostFactors {
            carbon_g_per_kwh,
            price_per_kwh,
            currency: currency
                .filter(|c| !c.trim().is_empty())
                .unwrap_or_else(|| DEFAULT_CURRENCY.to_string()),
        })
    }

    /// Whether any factor was given (otherwise nothing about carbon or cost is shown).
    pub fn any(&self) -> bool {
        self.carbon_g_per_kwh.is_some() || self.price_per_kwh.is_some()
    }

    /// Grams of CO2e for `joules`; `None` without a factor or without energy.
    pub fn grams_co2e(&self, joules: Option<f64>) -> Option<f64> {
        grams_co2e(joules, self.carbon_g_per_kwh)
    }

    /// Money for `joules`, in `currency`; `None` without a price or without energy.
    pub fn money(&self, joules: Option<f64>) -> Option<f64> {
        money(joules, self.price_per_kwh)
    }

    /// "at 400 gCO2e/kWh (your figure)", or `None` without a carbon factor.
    pub fn carbon_label(&self) -> Option<String> {
        self.carbon_g_per_kwh
            .map(|g| format!("at {} gCO2e/kWh (your figure)", trim(g)))
    }

    /// "at 0.25 EUR/kWh (your figure)", or `None` without a price.
    pub fn price_label(&self) -> Option<String> {
        self.price_per_kwh
            .map(|p| format!("at {} {}/kWh (your figure)", trim(p), self.currency))
    }
}

fn check(name: &'static str, v: Option<f64>, example: &'static str) -> Result<(), BadFactor> {
    match v {
        Some(x) if !(x.is_finite() && x >= 0.0) => Err(BadFactor {
            name,
            value: x,
            example,
        }),
        _ => Ok(()),
    }
}

/// Grams of CO2e for `joules` at `g_per_kwh`.
pub fn grams_co2e(joules: Option<f64>, g_per_kwh: Option<f64>) -> Option<f64> {
    let (j, g) = (joules?, g_per_kwh?);
    j.is_finite().then_some(j / J_PER_KWH * g)
}

/// Money for `joules` at `price_per_kwh`.
pub fn money(joules: Option<f64>, price_per_kwh: Option<f64>) -> Option<f64> {
    let (j, p) = (joules?, price_per_kwh?);
    j.is_finite().then_some(j / J_PER_KWH * p)
}

/// A factor as the user would write it: `400`, `0.25`, no trailing zeros.
fn trim(x: f64) -> String {
    format!("{x}")
}

/// Grams shown with a unit that keeps the digits few: "12.3 g", "4.56 kg", "1.20 t".
pub fn format_grams(g: Option<f64>) -> String {
    match g {
        None => "–".to_string(),
        Some(g) if g >= 1e6 => format!("{:.2} t CO2e", g / 1e6),
        Some(g) if g >= 1e3 => format!("{:.2} kg CO2e", g / 1e3),
        Some(g) if g >= 10.0 => format!("{g:.1} g CO2e"),
        Some(g) => format!("{g:.2} g CO2e"),
    }
}

/// Money with its currency label: two decimals from 1 up ("12.50 EUR"), three
/// significant digits below ("0.000262 EUR"), so a small run is not shown as 0.
pub fn format_money(m: Option<f64>, currency: &str) -> String {
    match m {
        None => "–".to_string(),
        Some(m) if m >= 1.0 || m == 0.0 => format!("{m:.2} {currency}"),
        Some(m) => {
            let digits = (2 - m.log10().floor() as i32).clamp(2, 12) as usize;
            format!("{m:.digits$} {currency}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(c: Option<f64>, p: Option<f64>) -> CostFactors {
        CostFactors::new(c, p, Some("EUR".into())).unwrap()
    }

    #[test]
    fn one_kwh_at_hand_computed_factors() {
        let k = f(Some(400.0), Some(0.25));
        assert_eq!(k.grams_co2e(Some(3.6e6)), Some(400.0));
        assert_eq!(k.money(Some(3.6e6)), Some(0.25));
        // 1 Wh = 3600 J at 400 g/kWh is 0.4 g; at 0.25/kWh is 0.00025.
        assert!((k.grams_co2e(Some(3600.0)).unwrap() - 0.4).abs() < 1e-12);
        assert!((k.money(Some(3600.0)).unwrap() - 0.00025).abs() < 1e-15);
    }

    #[test]
    fn unknown_energy_is_unknown_not_zero() {
        let k = f(Some(400.0), Some(0.25));
        assert_eq!(k.grams_co2e(None), None);
        assert_eq!(k.money(None), None);
        assert_eq!(k.grams_co2e(Some(f64::NAN)), None);
        assert_eq!(format_grams(k.grams_co2e(None)), "–");
        assert_eq!(format_money(k.money(None), "EUR"), "–");
    }

    #[test]
    fn no_factor_no_figure() {
        let k = CostFactors::default();
        assert!(!k.any());
        assert_eq!(k.grams_co2e(Some(3.6e6)), None);
        assert_eq!(k.money(Some(3.6e6)), None);
        assert_eq!(k.carbon_label(), None);
        assert_eq!(k.currency, DEFAULT_CURRENCY);
    }

    #[test]
    fn zero_energy_is_zero_grams() {
        assert_eq!(f(Some(400.0), None).grams_co2e(Some(0.0)), Some(0.0));
    }

    #[test]
    fn labels_name_the_factor() {
        let k = f(Some(400.0), Some(0.25));
        assert_eq!(k.carbon_label().unwrap(), "at 400 gCO2e/kWh (your figure)");
        assert_eq!(k.price_label().unwrap(), "at 0.25 EUR/kWh (your figure)");
    }

    #[test]
    fn bad_factors_are_refused() {
        let e = CostFactors::new(Some(-1.0), None, None).unwrap_err();
        assert!(e.to_string().contains("--carbon-intensity -1"), "{e}");
        assert!(CostFactors::new(None, Some(f64::INFINITY), None).is_err());
        assert!(CostFactors::new(None, Some(f64::NAN), None).is_err());
    }

    #[test]
    fn formatting_scales_units() {
        assert_eq!(format_grams(Some(0.4)), "0.40 g CO2e");
        assert_eq!(format_grams(Some(400.0)), "400.0 g CO2e");
        assert_eq!(format_grams(Some(4560.0)), "4.56 kg CO2e");
        assert_eq!(format_money(Some(0.25), "EUR"), "0.250 EUR");
        assert_eq!(format_money(Some(0.000_262_3), "EUR"), "0.000262 EUR");
        assert_eq!(format_money(Some(0.0), "EUR"), "0.00 EUR");
        assert_eq!(format_money(Some(12.5), "EUR"), "12.50 EUR");
    }
}
