//! Which Jetson power rail is the board's total, and which are parts of it.
//! Shared by the tegrastats parser, the tegrastats importer and the INA3221
//! reader, so every path applies the same per-board rule (DOMAIN.md).
use crate::model::sample::{Channel, Role, Scope};

/// Rails that are a board's total input: Nano `POM_5V_IN`; TX2, Xavier NX,
/// Orin NX and Orin Nano `VDD_IN`. Their siblings are parts of them.
pub const TOTAL_RAILS: &[&str] = &["POM_5V_IN", "VDD_IN"];

/// Name of the sum channel used where a board has no total rail (AGX Xavier,
/// AGX Orin).
pub const MODULE_SUM_CHANNEL: &str = "module_rails_sum";

/// `NC` rails are placeholders (AGX Orin JetPack 5 prints `NC 0mW/0mW` twice).
pub fn is_placeholder_rail(name: &str) -> bool {
    name == "NC" || name.eq_ignore_ascii_case("NC")
}

/// How a board's session total is formed from its rails.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TotalRule {
    /// One rail is the board's input (`POM_5V_IN`, `VDD_IN`); the others are parts of it.
    Rail(String),
    /// No total rail: the module figure is the sum of all rails.
    SumOfRails,
    /// No rails at all (tegrastats without root on JetPack 4/5).
    NoRails,
}

impl TotalRule {
    /// Why this total was chosen, in words a user can check against DOMAIN.md.
    pub fn explain(&self) -> String {
        match self {
            TotalRule::Rail(r) => format!(
                "{r} is the board's input rail (board input); the other rails are parts of it and are not added"
            ),
            TotalRule::SumOfRails => "no total rail (AGX Xavier / AGX Orin style): the total is the sum of the module rails (sum of module rails; on-module sensors do not see the carrier board)".to_string(),
            TotalRule::NoRails => "no power rails in the input (tegrastats without root prints none on JetPack 4/5)".to_string(),
        }
    }
}

/// The total rule for a set of rail names (placeholders already removed).
pub fn total_rule<S: AsRef<str>>(rails: &[S]) -> TotalRule {
    if rails.is_empty() {
        return TotalRule::NoRails;
    }
    for t in TOTAL_RAILS {
        if rails.iter().any(|r| r.as_ref() == *t) {
            return TotalRule::Rail((*t).to_string());
        }
    }
    TotalRule::SumOfRails
}

/// Power channels for `rails` under `rule`: one per rail (the total rail as
/// `BoardInput`/`Total`, the others as `Rail`/`Part`), plus a
/// `module_rails_sum` channel when the rule is a sum. Returns the channels and
/// whether a sum channel was appended (it comes last).
pub fn rail_channels<S: AsRef<str>>(
    rails: &[S],
    rule: &TotalRule,
    source: &str,
) -> (Vec<Channel>, bool) {
    let mut out: Vec<Channel> = rails
        .iter()
        .map(|r| {
            let r = r.as_ref();
            if matches!(rule, TotalRule::Rail(t) if t == r) {
                Channel::power(r, Scope::BoardInput, Role::Total, source)
            } else {
                Channel::power(r, Scope::Rail, Role::Part, source)
            }
        })
        .collect();
    let sum = *rule == TotalRule::SumOfRails;
    if sum {
        out.push(Channel::power(
            MODULE_SUM_CHANNEL,
            Scope::ModuleRailsSum,
            Role::Total,
            source,
        ));
    }
    (out, sum)
}

/// The sum of rail readings in watts, `None` unless every rail has a reading
/// (a partial sum would understate the module's power).
pub fn sum_of_rails(values: &[Option<f64>]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.iter().try_fold(0.0, |acc, v| v.map(|w| acc + w))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn total_rail_wins_wherever_it_is_printed() {
        // TX2: VDD_IN is not first.
        let tx2 = [
            "VDD_SYS_GPU",
            "VDD_SYS_SOC",
            "VDD_4V0_WIFI",
            "VDD_IN",
            "VDD_SYS_CPU",
            "VDD_SYS_DDR",
        ];
        assert_eq!(total_rule(&tx2), TotalRule::Rail("VDD_IN".into()));
        let nano = ["POM_5V_IN", "POM_5V_GPU", "POM_5V_CPU"];
        assert_eq!(total_rule(&nano), TotalRule::Rail("POM_5V_IN".into()));
        let (ch, sum) = rail_channels(&nano, &total_rule(&nano), "tegrastats");
        assert!(!sum);
        assert_eq!(ch[0].role, Role::Total);
        assert_eq!(ch[0].scope, Scope::BoardInput);
        assert!(ch[1..].iter().all(|c| c.role == Role::Part));
    }

    #[test]
    fn boards_without_total_rail_sum_their_rails() {
        let agx = ["GPU", "CPU", "SOC", "CV", "VDDRQ", "SYS5V"];
        assert_eq!(total_rule(&agx), TotalRule::SumOfRails);
        // VIN_SYS_5V0 is not a total.
        let orin = [
            "VDD_GPU_SOC",
            "VDD_CPU_CV",
            "VIN_SYS_5V0",
            "VDDQ_VDD2_1V8AO",
        ];
        let rule = total_rule(&orin);
        assert_eq!(rule, TotalRule::SumOfRails);
        let (ch, sum) = rail_channels(&orin, &rule, "ina3221");
        assert!(sum);
        assert_eq!(ch.len(), 5);
        assert_eq!(ch[4].scope, Scope::ModuleRailsSum);
        assert_eq!(ch[4].role, Role::Total);
        assert_eq!(total_rule::<&str>(&[]), TotalRule::NoRails);
    }

    #[test]
    fn sum_needs_every_rail() {
        assert_eq!(sum_of_rails(&[Some(1.0), Some(2.5)]), Some(3.5));
        assert_eq!(sum_of_rails(&[Some(1.0), None]), None);
        assert_eq!(sum_of_rails(&[]), None);
    }
}
