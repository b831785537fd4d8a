//! Which Jetson a tegrastats log came from, inferred from its rail names, its
//! RAM total and its CPU count, only where that is unambiguous (an imported
//! log has no device tree). The rail families are those of DOMAIN.md; the RAM
//! totals are what tegrastats prints on each module (less than the nominal
//! size: carve-outs).

/// What the rails and RAM say about the board.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BoardGuess {
    /// One board fits: its name.
    Named(String),
    /// Several boards fit; the words say which.
    Ambiguous(String),
    /// The rails are not a known Jetson family, or there is no RAM total.
    Unknown,
}

fn has(rails: &[String], name: &str) -> bool {
    rails.iter().any(|r| r == name)
}

fn within(gb: f64, lo: f64, hi: f64) -> bool {
    (lo..=hi).contains(&gb)
}

/// Infer the board from `rails` (placeholders removed), the RAM total in MB
/// (tegrastats' `RAM used/totalMB`) and the number of CPU cores listed.
pub fn infer_board(rails: &[String], ram_total_mb: Option<f64>, cpus: usize) -> BoardGuess {
    let Some(mb) = ram_total_mb.filter(|m| m.is_finite() && *m > 0.0) else {
        return BoardGuess::Unknown;
    };
    let gb = mb / 1024.0;
    let named = |s: &str| BoardGuess::Named(format!("NVIDIA Jetson {s}"));
    if has(rails, "POM_5V_IN") {
        // Jetson Nano: 3956-3964 MB on the 4GB module, about 1.9 GB on the 2GB.
        return if within(gb, 3.4, 4.2) {
            named("Nano 4GB")
        } else if within(gb, 1.6, 2.1) {
            named("Nano 2GB")
        } else {
            BoardGuess::Unknown
        };
    }
    let agx_xavier = ["GPU", "CPU", "SOC", "CV", "VDDRQ", "SYS5V"];
    if agx_xavier.iter().all(|r| has(rails, r)) {
        return if within(gb, 14.5, 16.2) {
            named("AGX Xavier 16GB")
        } else if within(gb, 29.0, 32.2) {
            named("AGX Xavier 32GB")
        } else if within(gb, 60.0, 64.2) {
            named("AGX Xavier 64GB")
        } else {
            BoardGuess::Unknown
        };
    }
    if ["VDD_GPU_SOC", "VDD_CPU_CV", "VIN_SYS_5V0"]
        .iter()
        .all(|r| has(rails, r))
    {
        return if within(gb, 29.0, 32.2) {
            named("AGX Orin 32GB")
        } else if within(gb, 60.0, 64.2) {
            named("AGX Orin 64GB")
        } else {
            BoardGuess::Unknown
        };
    }
    let tx2 = has(rails, "VDD_IN")
        && (has(rails, "VDD_SYS_GPU") || (has(rails, "VDD_WIFI") && has(rails, "VDD_DDR")));
    if tx2 {
        return if within(gb, 7.2, 8.1) {
            named("TX2 series 8GB (TX2 or TX2i)")
        } else if within(gb, 3.4, 4.1) {
            named("TX2 4GB")
        } else {
            BoardGuess::Unknown
        };
    }
    if ["VDD_IN", "VDD_CPU_GPU_CV", "VDD_SOC"]
        .iter()
        .all(|r| has(rails, r))
    {
        return nx_family(gb, cpus);
    }
    BoardGuess::Unknown
}

/// Xavier NX, Orin NX and Orin Nano share `VDD_IN VDD_CPU_GPU_CV VDD_SOC`:
/// RAM and core count separate some of them.
fn nx_family(gb: f64, cpus: usize) -> BoardGuess {
    let named = |s: &str| BoardGuess::Named(format!("NVIDIA Jetson {s}"));
    if within(gb, 3.0, 4.2) {
        named("Orin Nano 4GB")
    } else if within(gb, 6.4, 7.1) {
        // Xavier NX 8GB prints 6834-6855 MB; the Orin 8GB modules about 7.6 GB.
        named("Xavier NX 8GB")
    } else if within(gb, 7.2, 8.1) {
        BoardGuess::Ambiguous(format!(
            "the VDD_IN/VDD_CPU_GPU_CV/VDD_SOC rails with {gb:.1} GB RAM fit both the Orin NX 8GB and the Orin Nano 8GB"
        ))
    } else if within(gb, 14.5, 16.2) && cpus == 8 {
        named("Orin NX 16GB")
    } else if within(gb, 14.5, 16.2) && cpus == 6 {
        named("Xavier NX 16GB")
    } else {
        BoardGuess::Ambiguous(format!(
            "the VDD_IN/VDD_CPU_GPU_CV/VDD_SOC rails are shared by Xavier NX, Orin NX and Orin Nano, and {gb:.1} GB RAM with {cpus} CPU cores does not single one out"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn boards_are_named_only_where_unambiguous() {
        let nano = r(&["POM_5V_IN", "POM_5V_GPU", "POM_5V_CPU"]);
        assert_eq!(
            infer_board(&nano, Some(3964.0), 4),
            BoardGuess::Named("NVIDIA Jetson Nano 4GB".into())
        );
        assert_eq!(infer_board(&nano, None, 4), BoardGuess::Unknown);
        let nx = r(&["VDD_IN", "VDD_CPU_GPU_CV", "VDD_SOC"]);
        assert_eq!(
            infer_board(&nx, Some(15657.0), 8),
            BoardGuess::Named("NVIDIA Jetson Orin NX 16GB".into())
        );
        assert!(matches!(
            infer_board(&nx, Some(7607.0), 6),
            BoardGuess::Ambiguous(_)
        ));
        assert_eq!(
            infer_board(&nx, Some(6855.0), 6),
            BoardGuess::Named("NVIDIA Jetson Xavier NX 8GB".into())
        );
        let orin = r(&["VDD_GPU_SOC", "VDD_CPU_CV", "VIN_SYS_5V0"]);
        assert_eq!(
            infer_board(&orin, Some(62841.0), 12),
            BoardGuess::Named("NVIDIA Jetson AGX Orin 64GB".into())
        );
        assert_eq!(
            infer_board(&r(&["FOO"]), Some(4000.0), 4),
            BoardGuess::Unknown
        );
    }
}
