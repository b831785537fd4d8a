//! Carbon and cost beside an energy figure, when the user gave the factors
//! (`--carbon-intensity`, `--price`): "≈ 0.42 g CO2e · 0.000262 EUR". Unknown
//! energy is unknown carbon and cost ("–"), never 0.
use ratatui::text::Span;

use super::theme::Theme;
use crate::model::cost::{format_grams, format_money, CostFactors};

/// The spans to append after an energy figure (none without factors).
pub fn spans(cost: &CostFactors, joules: Option<f64>, theme: &Theme) -> Vec<Span<'static>> {
    let mut parts = Vec::new();
    if cost.carbon_g_per_kwh.is_some() {
        parts.push(format_grams(cost.grams_co2e(joules)));
    }
    if cost.price_per_kwh.is_some() {
        parts.push(format_money(cost.money(joules), &cost.currency));
    }
    if parts.is_empty() {
        return Vec::new();
    }
    vec![
        Span::styled("  ≈ ", theme.label),
        Span::styled(parts.join(" · "), theme.energy),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn carbon_and_money_follow_the_energy_and_unknown_stays_unknown() {
        let theme = Theme::builtin("dark").unwrap();
        let none = CostFactors::default();
        assert!(spans(&none, Some(3.6e6), &theme).is_empty());
        let c = CostFactors::new(Some(400.0), Some(0.25), Some("EUR".into())).unwrap();
        let text: String = spans(&c, Some(3.6e6), &theme)
            .iter()
            .map(|s| s.content.to_string())
            .collect();
        assert_eq!(text, "  ≈ 400.0 g CO2e · 0.250 EUR");
        let text: String = spans(&c, None, &theme)
            .iter()
            .map(|s| s.content.to_string())
            .collect();
        assert_eq!(text, "  ≈ – · –");
    }
}
