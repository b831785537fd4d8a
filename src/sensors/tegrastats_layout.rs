//! The columns a tegrastats stream fills, shared by the live tegrastats
//! source and the tegrastats log importer (`import::tegrastats`).
use super::channel_names::make_unique;
use super::jetson_rails::{rail_channels, sum_of_rails, total_rule, TotalRule};
use super::tegrastats_parse::TegraLine;
use crate::model::sample::{Channel, Unit};

/// The columns a tegrastats stream fills: rails (and their sum where the
/// board has no total rail), then GPU load and clock, CPU loads, RAM, temperatures.
#[derive(Clone, Debug, PartialEq)]
pub struct TegraLayout {
    pub rails: Vec<String>,
    pub rule: TotalRule,
    pub has_sum: bool,
    pub cpus: usize,
    pub temps: Vec<String>,
    pub channels: Vec<Channel>,
    /// Generated channel names that a rail's name had taken, `(wanted, given)`:
    /// a rail called `gpu_load` keeps its name and the GPU load metric
    /// becomes `gpu_load_2`.
    pub renamed: Vec<(String, String)>,
}

impl TegraLayout {
    /// The layout for a set of lines: rails and temperature sensors in the
    /// order they first appear, the widest CPU list.
    pub fn from_lines<'a>(lines: impl IntoIterator<Item = &'a TegraLine>, source: &str) -> Self {
        let mut rails: Vec<String> = Vec::new();
        let mut temps: Vec<String> = Vec::new();
        let mut cpus = 0;
        for l in lines {
            for r in &l.rails {
                if !rails.contains(&r.name) {
                    rails.push(r.name.clone());
                }
            }
            for (t, _) in &l.temps_c {
                if !temps.contains(t) {
                    temps.push(t.clone());
                }
            }
            cpus = cpus.max(l.cpu_load_pct.len());
        }
        let rule = total_rule(&rails);
        let n_rails = rails.len();
        let (mut channels, has_sum) = rail_channels(&rails, &rule, source);
        channels.push(Channel::metric("gpu_load", Unit::Percent, source));
        channels.push(Channel::metric("gpu_freq", Unit::MHz, source));
        channels.push(Channel::metric("cpu_load", Unit::Percent, source));
        for k in 0..cpus {
            channels.push(Channel::metric(
                format!("cpu{k}_load"),
                Unit::Percent,
                source,
            ));
        }
        channels.push(Channel::metric("ram_used", Unit::MiB, source));
        for t in &temps {
            channels.push(Channel::metric(format!("temp_{t}"), Unit::C, source));
        }
        let renamed = make_unique(&mut channels, n_rails);
        TegraLayout {
            rails,
            rule,
            has_sum,
            cpus,
            temps,
            channels,
            renamed,
        }
    }

    /// One row of values for `l`, in watts for the rails; `None` for anything
    /// the line lacks.
    pub fn values(&self, l: &TegraLine) -> Vec<Option<f64>> {
        self.values_with(l, |_| true)
    }

    /// Like [`Self::values`], with rail readings (in watts) that `plausible`
    /// refuses left out as no reading, so a sum of rails never includes them.
    pub fn values_with(&self, l: &TegraLine, plausible: impl Fn(f64) -> bool) -> Vec<Option<f64>> {
        let mut out = Vec::with_capacity(self.channels.len());
        for name in &self.rails {
            out.push(
                l.rails
                    .iter()
                    .find(|r| &r.name == name)
                    .map(|r| r.cur_mw / 1e3)
                    .filter(|w| plausible(*w)),
            );
        }
        if self.has_sum {
            let s = sum_of_rails(&out);
            out.push(s);
        }
        out.push(l.gpu_load_pct);
        out.push(l.gpu_mhz);
        let online: Vec<f64> = l.cpu_load_pct.iter().flatten().copied().collect();
        out.push((!online.is_empty()).then(|| online.iter().sum::<f64>() / online.len() as f64));
        for k in 0..self.cpus {
            out.push(l.cpu_load_pct.get(k).copied().flatten());
        }
        out.push(l.ram_used_mb);
        for t in &self.temps {
            out.push(l.temps_c.iter().find(|(n, _)| n == t).and_then(|(_, c)| *c));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sensors::tegrastats_parse::parse_line;

    #[test]
    fn case7_a_rail_named_like_a_metric_keeps_its_name() {
        let l =
            parse_line("RAM 1/2MB GR3D_FREQ 5%@[300] gpu_load 5000mW/5000mW VDD_IN 9000mW/9000mW")
                .unwrap();
        let lay = TegraLayout::from_lines([&l], "tegrastats");
        let names: Vec<&str> = lay.channels.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names[..3], ["gpu_load", "VDD_IN", "gpu_load_2"]);
        assert_eq!(
            lay.renamed,
            [("gpu_load".to_string(), "gpu_load_2".to_string())]
        );
        let v = lay.values(&l);
        assert_eq!(v[..3], [Some(5.0), Some(9.0), Some(5.0)]);
    }
}
