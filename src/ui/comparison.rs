//! The comparison strip: time, energy, average power and joules per image of
//! the two sessions at equal progress (or equal elapsed time), and the
//! plain-language line.
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Widget};

use super::format::{duration, joules, joules_opt, percent, watts};
use super::theme::Theme;
use crate::app::compare::{compare, same, times, Basis, Comparison, Side};
use crate::app::state::State;
use crate::model::cost::{format_grams, format_money};

pub fn render(buf: &mut Buffer, area: Rect, state: &State, theme: &Theme) {
    let c = compare(state);
    let title = match &c {
        Some(c) => match c.basis {
            Basis::Progress(f) => format!(" at equal progress: {} of the run ", percent(f)),
            Basis::Time(t) => format!(" at equal elapsed time: {} ", duration(t)),
            Basis::Now => " each as far as it got ".to_string(),
        },
        None => " comparison ".to_string(),
    };
    let block = Block::new()
        .borders(Borders::TOP)
        .border_style(theme.border)
        .title_top(Line::from(Span::styled(title, theme.title)));
    let inner = block.inner(area);
    block.render(area, buf);
    if inner.height == 0 {
        return;
    }
    let Some(c) = c else {
        let name = state.panes.first().map(|p| p.name.as_str()).unwrap_or("");
        buf.set_stringn(
            inner.x,
            inner.y,
            format!("waiting for data from {name}"),
            inner.width as usize,
            theme.label,
        );
        return;
    };
    let mut sentence = vec![Span::styled(c.sentence(), theme.title)];
    if c.estimate {
        sentence.push(Span::raw("  "));
        sentence.push(Span::styled(" estimate ", theme.estimate));
    }
    for v in state.panes.iter().take(2) {
        let gap = v.pane.uncovered_s();
        if gap > 0.0 {
            sentence.push(Span::styled(
                format!("  {}: {} uncovered", v.name, duration(gap)),
                theme.warning,
            ));
        }
    }
    let sentence = Line::from(sentence);
    let ratio = |r: Option<f64>| match r {
        Some(r) if same(r) => " (same)".to_string(),
        Some(r) => format!(" ({})", times(r)),
        None => String::new(),
    };
    let jpi = |s: &Side| {
        s.joules_per_image()
            .map(joules)
            .unwrap_or_else(|| "–".to_string())
    };
    let avg = |s: &Side| s.avg_w().map(watts).unwrap_or_else(|| "– W".to_string());
    let v = theme.value;
    let time_energy = Line::from(vec![
        Span::styled("time ", theme.label),
        Span::styled(
            format!("{} vs {}", duration(c.a.elapsed_s), duration(c.b.elapsed_s)),
            v,
        ),
        Span::styled(ratio(c.time_ratio()), theme.key),
        Span::styled("   energy ", theme.label),
        Span::styled(
            format!("{} vs {}", joules_opt(c.a.joules), joules_opt(c.b.joules)),
            theme.energy,
        ),
        Span::styled(ratio(c.energy_ratio()), theme.key),
    ]);
    let power_image = Line::from(vec![
        Span::styled("avg power ", theme.label),
        Span::styled(format!("{} vs {}", avg(&c.a), avg(&c.b)), theme.power),
        Span::styled(ratio(c.power_ratio()), theme.key),
        Span::styled("   per image ", theme.label),
        Span::styled(format!("{} vs {}", jpi(&c.a), jpi(&c.b)), theme.energy),
    ]);
    // One line: the sentence; two: numbers then sentence; three: all but
    // carbon and cost, which then follow the per-image figures; four: all.
    let cost = cost_line(&c, state, theme);
    let mut power_image = power_image;
    let lines: Vec<&Line> = match (inner.height, &cost) {
        (1, _) => vec![&sentence],
        (2, _) => vec![&time_energy, &sentence],
        (3, Some(cost)) => {
            power_image.spans.push(Span::raw("  "));
            power_image.spans.extend(cost.spans.iter().cloned());
            vec![&time_energy, &power_image, &sentence]
        }
        (_, Some(cost)) if inner.height >= 4 => vec![&time_energy, &power_image, cost, &sentence],
        _ => vec![&time_energy, &power_image, &sentence],
    };
    for (i, l) in lines.into_iter().enumerate() {
        buf.set_line(inner.x, inner.y + i as u16, l, inner.width);
    }
}

/// "CO2e 1.20 g vs 0.61 g   cost 0.0003 vs 0.0002 EUR   at 400 gCO2e/kWh,
/// 0.25 EUR/kWh (your figures)": the energy of each side turned into carbon
/// and money with the user's factors; none without factors, "–" for a side
/// whose energy is unknown. The ratios are the energy's, not repeated.
fn cost_line(c: &Comparison, state: &State, theme: &Theme) -> Option<Line<'static>> {
    let f = &state.cost;
    if !f.any() {
        return None;
    }
    let mut spans = Vec::new();
    let mut factors = Vec::new();
    if let Some(g) = f.carbon_g_per_kwh {
        let grams = |j| {
            let s = format_grams(f.grams_co2e(j));
            s.trim_end_matches(" CO2e").to_string()
        };
        spans.push(Span::styled("CO2e ", theme.label));
        spans.push(Span::styled(
            format!("{} vs {}", grams(c.a.joules), grams(c.b.joules)),
            theme.energy,
        ));
        factors.push(format!("{g} gCO2e/kWh"));
    }
    if let Some(p) = f.price_per_kwh {
        let cur = f.currency.as_str();
        let money = |j| {
            let s = format_money(f.money(j), cur);
            s.trim_end_matches(cur).trim_end().to_string()
        };
        if !spans.is_empty() {
            spans.push(Span::raw("   "));
        }
        spans.push(Span::styled("cost ", theme.label));
        spans.push(Span::styled(
            format!("{} vs {} {cur}", money(c.a.joules), money(c.b.joules)),
            theme.energy,
        ));
        factors.push(format!("{p} {cur}/kWh"));
    }
    let plural = if factors.len() > 1 { "s" } else { "" };
    spans.push(Span::styled(
        format!("   at {} (your figure{plural})", factors.join(", ")),
        theme.label,
    ));
    Some(Line::from(spans))
}
