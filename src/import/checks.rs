//! What an importer accepts as a physical reading (DOMAIN.md: no board or
//! GPU here draws more than a few kW; a sensor's offset reads a little below
//! zero at idle). A reading outside the range is flagged with its line and
//! left out as no reading, never integrated.

/// Above this a single power channel is not a reading (the largest GPU
/// boards draw about 1.2 kW, a whole 8-GPU node about 10 kW).
pub const MAX_CHANNEL_W: f64 = 100_000.0;

/// Below this a power reading is not sensor noise around zero.
pub const MIN_CHANNEL_W: f64 = -5.0;

/// Whether `watts` can be a reading of one power channel.
pub fn plausible_watts(watts: f64) -> bool {
    watts.is_finite() && (MIN_CHANNEL_W..=MAX_CHANNEL_W).contains(&watts)
}

/// A reading as a short text: `1e308`, `290000000000`, `-0.4`.
pub fn short_number(v: f64) -> String {
    if v.abs() >= 1e15 {
        format!("{v:e}")
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_range_keeps_noise_and_refuses_the_impossible() {
        assert!(plausible_watts(-0.398));
        assert!(plausible_watts(700.0));
        assert!(!plausible_watts(290e6));
        assert!(!plausible_watts(1e308));
        assert!(!plausible_watts(-100.0));
        assert!(!plausible_watts(f64::NAN));
    }
}
