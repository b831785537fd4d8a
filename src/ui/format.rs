//! Numbers for people: watts, joules, watt-hours, durations, percentages.
//! Every figure carries its unit.

/// Power: "0.52 W", "12.3 W", "245 W", "1.25 kW".
pub fn watts(w: f64) -> String {
    let a = w.abs();
    if a >= 10_000.0 {
        format!("{:.2} kW", w / 1000.0)
    } else if a >= 100.0 {
        format!("{w:.0} W")
    } else if a >= 10.0 {
        format!("{w:.1} W")
    } else {
        format!("{w:.2} W")
    }
}

/// Power or a dash with the unit when there is no reading (never "0 W").
pub fn watts_opt(w: Option<f64>) -> String {
    w.map(watts).unwrap_or_else(|| "– W".to_string())
}

/// Energy: "8.20 J", "512 J", "12.3 kJ", "1.25 MJ".
pub fn joules(j: f64) -> String {
    let a = j.abs();
    if a >= 1e6 {
        format!("{:.2} MJ", j / 1e6)
    } else if a >= 1e4 {
        format!("{:.1} kJ", j / 1e3)
    } else if a >= 1e3 {
        format!("{:.2} kJ", j / 1e3)
    } else if a >= 10.0 {
        format!("{j:.0} J")
    } else {
        format!("{j:.2} J")
    }
}

/// Energy or a dash with the unit when it is unknown (never "0 J").
pub fn joules_opt(j: Option<f64>) -> String {
    j.map(joules).unwrap_or_else(|| "– J".to_string())
}

/// Watt-hours or a dash with the unit when the energy is unknown.
pub fn watt_hours_opt(j: Option<f64>) -> String {
    j.map(watt_hours).unwrap_or_else(|| "– Wh".to_string())
}

/// Energy in watt-hours: "0.0023 Wh", "0.342 Wh", "12.3 Wh", "1.25 kWh".
pub fn watt_hours(j: f64) -> String {
    let wh = j / 3600.0;
    let a = wh.abs();
    if a >= 1000.0 {
        format!("{:.2} kWh", wh / 1000.0)
    } else if a >= 10.0 {
        format!("{wh:.1} Wh")
    } else if a >= 0.1 {
        format!("{wh:.3} Wh")
    } else {
        format!("{wh:.4} Wh")
    }
}

/// A duration: "8.5 s", "42 s", "4m 05s", "1h 02m".
pub fn duration(s: f64) -> String {
    if !s.is_finite() || s < 0.0 {
        return "–".to_string();
    }
    if s < 10.0 {
        return format!("{s:.1} s");
    }
    let total = s.round() as u64;
    let (h, m, sec) = (total / 3600, (total % 3600) / 60, total % 60);
    if h > 0 {
        format!("{h}h {m:02}m")
    } else if m > 0 {
        format!("{m}m {sec:02}s")
    } else {
        format!("{sec} s")
    }
}

/// A clock position: "0:04:05", "6:00:00".
pub fn clock(s: f64) -> String {
    let total = if s.is_finite() && s > 0.0 {
        s.floor() as u64
    } else {
        0
    };
    format!(
        "{}:{:02}:{:02}",
        total / 3600,
        (total % 3600) / 60,
        total % 60
    )
}

/// A fraction as a percentage: "24.3%".
pub fn percent(f: f64) -> String {
    format!("{:.1}%", f * 100.0)
}

/// A replay speed: "0.25×", "1×", "64×".
pub fn speed(x: f64) -> String {
    if x >= 1.0 {
        format!("{x:.0}×")
    } else {
        format!("{x}×")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_everywhere() {
        assert_eq!(watts(0.523), "0.52 W");
        assert_eq!(watts(12.34), "12.3 W");
        assert_eq!(watts(245.4), "245 W");
        assert_eq!(watts(12_500.0), "12.50 kW");
        assert_eq!(watts_opt(None), "– W");
        assert_eq!(joules(8.2), "8.20 J");
        assert_eq!(joules(512.4), "512 J");
        assert_eq!(joules(1234.0), "1.23 kJ");
        assert_eq!(joules(12_345.0), "12.3 kJ");
        assert_eq!(joules(1_250_000.0), "1.25 MJ");
        assert_eq!(watt_hours(1234.0), "0.343 Wh");
        assert_eq!(watt_hours(8.0), "0.0022 Wh");
        assert_eq!(duration(8.46), "8.5 s");
        assert_eq!(duration(42.0), "42 s");
        assert_eq!(duration(245.0), "4m 05s");
        assert_eq!(duration(3725.0), "1h 02m");
        assert_eq!(clock(21600.0), "6:00:00");
        assert_eq!(percent(0.2434), "24.3%");
        assert_eq!(speed(0.25), "0.25×");
        assert_eq!(speed(64.0), "64×");
    }
}
