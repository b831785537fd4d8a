//! What an importer kept and skipped, shared by the tegrastats and nvidia-smi
//! importers so `trainwatt import` prints both the same way.
use std::collections::BTreeMap;

use super::timeline::ClockStep;
use crate::model::event::Event;
use crate::record::Header;

/// What an import kept and skipped, to print and to test against.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ImportReport {
    pub lines: u64,
    pub data_lines: u64,
    pub blank_lines: u64,
    pub skipped_lines: u64,
    /// A last line cut short (a log killed mid-write).
    pub truncated_lines: u64,
    /// NUL bytes removed (a log file preallocated or cut by a crash).
    pub nul_bytes: u64,
    /// Up to five skipped lines: (line number, text cut to 80 characters).
    pub skipped_examples: Vec<(u64, String)>,
    pub samples: u64,
    pub channels: Vec<String>,
    pub rails: Vec<String>,
    /// The total channel and why it was chosen.
    pub total_channel: Option<String>,
    pub total_reason: String,
    pub timing: String,
    pub placeholder_rails: u64,
    pub negative_readings: u64,
    pub duration_s: f64,
    /// Integrated energy of the total (None without a reading of every total channel).
    pub energy_j: Option<f64>,
    /// Energy per power channel.
    pub channel_energy_j: BTreeMap<String, f64>,
    pub uncovered_s: f64,
    /// How the number of GPUs was found (nvidia-smi logs).
    pub gpus: String,
    /// Timestamps that went back (a daylight-saving fall-back, an NTP step):
    /// the timeline continued one interval after the reading before.
    pub clock_steps: Vec<ClockStep>,
    /// Readings that could not be placed on the timeline, not integrated.
    pub unplaced_readings: u64,
    /// Power readings outside the physical range, left out as no reading.
    pub implausible_readings: u64,
    /// Up to five of them: (line number, what was wrong).
    pub implausible_examples: Vec<(u64, String)>,
    /// Generated channel names moved aside for a name from the log: (wanted, given).
    pub renamed_channels: Vec<(String, String)>,
}

/// A converted log: the header and events of a session, and the report.
#[derive(Clone, Debug)]
pub struct Imported {
    pub header: Header,
    pub events: Vec<Event>,
    pub report: ImportReport,
}

pub fn cut(s: &str, n: usize) -> String {
    let t: String = s.chars().filter(|c| *c != '\0').take(n).collect();
    if s.chars().count() > n {
        format!("{t}...")
    } else {
        t
    }
}

impl ImportReport {
    /// The lines `trainwatt import` prints: kept, skipped, channels, the total and why, energy.
    pub fn render(&self, out_path: &str) -> String {
        use std::fmt::Write as _;
        let mut o = String::new();
        let _ = writeln!(
            o,
            "lines       {} read: {} data, {} skipped, {} blank{}",
            self.lines,
            self.data_lines,
            self.skipped_lines,
            self.blank_lines,
            if self.truncated_lines > 0 {
                format!(", {} truncated last line skipped", self.truncated_lines)
            } else {
                String::new()
            }
        );
        for (n, t) in &self.skipped_examples {
            let _ = writeln!(o, "  skipped line {n}: {t}");
        }
        if self.nul_bytes > 0 {
            let _ = writeln!(o, "NUL bytes   {} removed", self.nul_bytes);
        }
        let _ = writeln!(
            o,
            "samples     {} over {:.1} s",
            self.samples, self.duration_s
        );
        if !self.rails.is_empty() {
            let _ = writeln!(o, "rails       {}", self.rails.join(", "));
        }
        let _ = writeln!(o, "channels    {}", self.channels.join(", "));
        let _ = writeln!(o, "timing      {}", self.timing);
        if !self.gpus.is_empty() {
            let _ = writeln!(o, "GPUs        {}", self.gpus);
        }
        let _ = writeln!(
            o,
            "total       {}: {}",
            self.total_channel.as_deref().unwrap_or("none"),
            self.total_reason
        );
        for (name, j) in &self.channel_energy_j {
            let _ = writeln!(o, "  {name:<20} {j:>12.1} J");
        }
        let _ = writeln!(
            o,
            "energy      {} in the total{}",
            self.energy_j.map_or_else(
                || "– J (no reading of every total channel)".to_string(),
                |j| format!("{j:.1} J ({:.4} Wh)", j / 3600.0)
            ),
            if self.uncovered_s > 0.0 {
                format!(", {:.1} s in gaps not counted", self.uncovered_s)
            } else {
                String::new()
            }
        );
        self.render_checks(&mut o);
        if self.placeholder_rails > 0 {
            let _ = writeln!(
                o,
                "NC rails    {} placeholder readings skipped",
                self.placeholder_rails
            );
        }
        if self.negative_readings > 0 {
            let _ = writeln!(
                o,
                "negative    {} rail readings below zero (kept as printed)",
                self.negative_readings
            );
        }
        let _ = writeln!(o, "written     {out_path}");
        o
    }

    /// Clock steps, unplaced and implausible readings, renamed channels.
    fn render_checks(&self, o: &mut String) {
        use std::fmt::Write as _;
        for c in &self.clock_steps {
            let _ = writeln!(
                o,
                "clock step  line {}: the time went back {:.1} s (`{}`); the timeline continues after the reading before",
                c.line, -c.step_s, c.text
            );
        }
        if self.unplaced_readings > 0 {
            let _ = writeln!(
                o,
                "skipped     {} readings that could not be placed on the timeline (not integrated)",
                self.unplaced_readings
            );
        }
        if self.implausible_readings > 0 {
            let _ = writeln!(
                o,
                "implausible {} power readings outside {} W .. {} W, left out as no reading",
                self.implausible_readings,
                super::checks::MIN_CHANNEL_W,
                super::checks::MAX_CHANNEL_W
            );
            for (n, t) in &self.implausible_examples {
                let _ = writeln!(o, "  line {n}: {t}");
            }
        }
        for (wanted, given) in &self.renamed_channels {
            let _ = writeln!(
                o,
                "renamed     generated channel `{wanted}` is `{given}`: the log names a channel `{wanted}`"
            );
        }
    }

    /// Note an implausible power reading on `line`.
    pub fn implausible(&mut self, line: u64, what: String) {
        self.implausible_readings += 1;
        if self.implausible_examples.len() < 5 {
            self.implausible_examples.push((line, what));
        }
    }
}

/// Header notes for what the checks found: clock steps, readings left out,
/// renamed channels (the report prints the same).
pub fn check_notes(header: &mut Header, rep: &ImportReport) {
    for c in &rep.clock_steps {
        header.notes.push(format!(
            "clock step at line {}: the time went back {:.3} s; the timeline continues one interval after the reading before",
            c.line, -c.step_s
        ));
    }
    if rep.unplaced_readings > 0 {
        header.notes.push(format!(
            "{} readings could not be placed on the timeline (no time of their own): skipped, not integrated",
            rep.unplaced_readings
        ));
    }
    if rep.implausible_readings > 0 {
        let lines: Vec<String> = rep
            .implausible_examples
            .iter()
            .map(|(n, t)| format!("line {n}: {t}"))
            .collect();
        header.notes.push(format!(
            "{} power readings outside {} W .. {} W left out as no reading ({})",
            rep.implausible_readings,
            super::checks::MIN_CHANNEL_W,
            super::checks::MAX_CHANNEL_W,
            lines.join("; ")
        ));
    }
    for (wanted, given) in &rep.renamed_channels {
        header.notes.push(format!(
            "generated channel `{wanted}` is named `{given}`: the log has a channel `{wanted}`"
        ));
    }
}
