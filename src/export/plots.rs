//! SVG figures like the study's (plotters, SVG backend): training time,
//! energy and average power by batch size with 95% CI error bars (one figure
//! per epoch count), and time and energy by epochs (one figure per batch
//! size); one series per device. Only completed runs are plotted: an OOM
//! configuration has no point (the report's tables say OOM). Power modes get
//! their energy-against-time figure ([`super::pareto`]).
use std::ops::Range;
use std::path::{Path, PathBuf};

use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::ExportError;
use crate::model::stats::MeanCi;
use crate::model::study::{ConfigKey, ConfigStats, DeviceStudy};

const SIZE: (u32, u32) = (800, 520);
/// The series colours every figure uses, in order.
pub(super) const COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(23, 190, 207),
];

#[derive(Clone, Copy)]
enum Metric {
    Time,
    Energy,
    Power,
}

impl Metric {
    fn pick(self, c: &ConfigStats) -> Option<&MeanCi> {
        match self {
            Metric::Time => c.time_s.as_ref(),
            Metric::Energy => c.energy_j.as_ref(),
            Metric::Power => c.avg_power_w.as_ref(),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Metric::Time => "time",
            Metric::Energy => "energy",
            Metric::Power => "power",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Metric::Time => "Training time",
            Metric::Energy => "Training energy",
            Metric::Power => "Average power",
        }
    }

    fn axis(self) -> &'static str {
        match self {
            Metric::Time => "training time (s)",
            Metric::Energy => "energy (J)",
            Metric::Power => "average power (W)",
        }
    }

    /// Time is measured by the clock even when power is estimated.
    fn can_be_estimate(self) -> bool {
        !matches!(self, Metric::Time)
    }
}

#[derive(Clone, Copy)]
enum XAxis {
    BatchSize,
    Epochs,
}

/// One point: x, mean, optional interval.
type Point = (f64, f64, Option<(f64, f64)>);

struct Series {
    name: String,
    points: Vec<Point>,
}

/// The chart every figure draws on: cartesian, f64 both ways.
pub(super) type Chart<'a, 'b> =
    ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

pub(super) fn plot_err(path: &Path, e: impl std::fmt::Display) -> ExportError {
    ExportError::Plot {
        path: path.to_path_buf(),
        msg: e.to_string(),
    }
}

/// A white figure with `title`, the margins and label areas every figure
/// shares, and axes over `x` and `y`.
pub(super) fn chart_on<'a, 'b>(
    root: &'a DrawingArea<SVGBackend<'b>, Shift>,
    path: &Path,
    title: &str,
    x: Range<f64>,
    y: Range<f64>,
) -> Result<Chart<'a, 'b>, ExportError> {
    root.fill(&WHITE).map_err(|e| plot_err(path, e))?;
    ChartBuilder::on(root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(x, y)
        .map_err(|e| plot_err(path, e))
}

/// A series' line, named in the legend.
pub(super) fn draw_line(
    chart: &mut Chart,
    path: &Path,
    points: Vec<(f64, f64)>,
    color: RGBColor,
    name: &str,
) -> Result<(), ExportError> {
    chart
        .draw_series(LineSeries::new(points, color.stroke_width(2)))
        .map_err(|e| plot_err(path, e))?
        .label(name)
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
    Ok(())
}

/// The legend in the upper right, then the figure written out.
pub(super) fn finish<'a, 'b: 'a>(
    mut chart: Chart<'a, 'b>,
    root: &DrawingArea<SVGBackend<'b>, Shift>,
    path: &Path,
) -> Result<(), ExportError> {
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(|e| plot_err(path, e))?;
    root.present().map_err(|e| plot_err(path, e))
}

/// The axes' extent: whole-number x bounds half a step out (so tick labels
/// land on whole numbers: batch sizes 2^k, epoch counts), and room above the
/// highest interval.
struct Bounds {
    x: Range<f64>,
    y_top: f64,
    x_labels: usize,
}

impl Bounds {
    fn of(series: &[Series]) -> Bounds {
        let pts = series.iter().flat_map(|s| s.points.iter());
        let (mut x0, mut x1, mut y1) = (f64::INFINITY, f64::NEG_INFINITY, 0.0f64);
        for &(px, py, ci) in pts {
            x0 = x0.min(px);
            x1 = x1.max(px);
            y1 = y1.max(ci.map_or(py, |(_, hi)| hi.max(py)));
        }
        if !x0.is_finite() {
            // Nothing completed: an empty frame still says so.
            x0 = 0.0;
            x1 = 1.0;
        }
        let (x0, x1) = (x0.floor() - 0.5, x1.ceil() + 0.5);
        Bounds {
            x: x0..x1,
            y_top: if y1 > 0.0 { y1 * 1.1 } else { 1.0 },
            x_labels: ((x1 - x0).ceil() as usize + 1).min(12),
        }
    }
}

impl XAxis {
    fn desc(self) -> &'static str {
        match self {
            XAxis::BatchSize => "batch size (log2 axis)",
            XAxis::Epochs => "epochs",
        }
    }

    /// The tick label at `v`: whole batch sizes (the axis is log2) and
    /// epoch counts only.
    fn tick(self, v: f64) -> String {
        let whole = |n: f64| {
            if (n - n.round()).abs() < 1e-6 {
                format!("{}", n.round())
            } else {
                String::new()
            }
        };
        match self {
            XAxis::BatchSize => whole(v.exp2()),
            XAxis::Epochs => whole(v),
        }
    }
}

fn draw(
    path: &Path,
    title: &str,
    x: XAxis,
    y_desc: &str,
    series: &[Series],
) -> Result<(), ExportError> {
    let bounds = Bounds::of(series);
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    let mut chart = chart_on(&root, path, title, bounds.x, 0.0..bounds.y_top)?;
    let fmt_x = move |v: &f64| x.tick(*v);
    chart
        .configure_mesh()
        .x_desc(x.desc())
        .y_desc(y_desc)
        .x_labels(bounds.x_labels)
        .x_label_formatter(&fmt_x)
        .draw()
        .map_err(|e| plot_err(path, e))?;
    for (i, s) in series.iter().enumerate() {
        draw_series(&mut chart, path, COLORS[i % COLORS.len()], s)?;
    }
    finish(chart, &root, path)
}

/// One device's line, points and 95% CI bars.
fn draw_series(
    chart: &mut Chart,
    path: &Path,
    color: RGBColor,
    s: &Series,
) -> Result<(), ExportError> {
    let line: Vec<(f64, f64)> = s.points.iter().map(|&(x, y, _)| (x, y)).collect();
    draw_line(chart, path, line.clone(), color, &s.name)?;
    chart
        .draw_series(line.iter().map(|&p| Circle::new(p, 4, color.filled())))
        .map_err(|e| plot_err(path, e))?;
    chart
        .draw_series(s.points.iter().filter_map(|&(x, y, ci)| {
            ci.map(|(lo, hi)| ErrorBar::new_vertical(x, lo, y, hi, color.stroke_width(1), 10))
        }))
        .map_err(|e| plot_err(path, e))?;
    Ok(())
}

fn point(x: f64, c: &ConfigStats, m: Metric) -> Option<Point> {
    if c.completed == 0 {
        return None;
    }
    let v = m.pick(c)?;
    Some((x, v.mean, v.low().zip(v.high())))
}

fn any_estimate(devices: &[DeviceStudy], m: Metric) -> bool {
    m.can_be_estimate() && devices.iter().any(|d| d.estimate)
}

fn series_name(d: &DeviceStudy, m: Metric) -> String {
    if d.estimate && m.can_be_estimate() {
        format!("{} ({}, estimate)", d.device, d.scope)
    } else {
        format!("{} ({})", d.device, d.scope)
    }
}

struct Figure {
    title: String,
    file: String,
    x_axis: XAxis,
}

/// One figure: a series per device of the configurations `x` places on the
/// x axis (None leaves a configuration out). Nothing is drawn when no device
/// has a completed run there (all OOM): the report's tables say so, an empty
/// figure would not.
fn figure(
    dir: &Path,
    devices: &[DeviceStudy],
    m: Metric,
    fig: &Figure,
    x: impl Fn(&ConfigStats) -> Option<f64>,
) -> Result<Option<PathBuf>, ExportError> {
    let series: Vec<Series> = devices
        .iter()
        .map(|d| Series {
            name: series_name(d, m),
            points: d
                .configs
                .iter()
                .filter_map(|c| point(x(c)?, c, m))
                .collect(),
        })
        .collect();
    if series.iter().all(|s| s.points.is_empty()) {
        return Ok(None);
    }
    let estimate = if any_estimate(devices, m) {
        " (estimate)"
    } else {
        ""
    };
    let title = format!("{} (mean, 95% CI){estimate}", fig.title);
    let path = dir.join(&fig.file);
    draw(&path, &title, fig.x_axis, m.axis(), &series)?;
    Ok(Some(path))
}

/// The values `pick` takes over every device's configurations, sorted, once each.
fn distinct(devices: &[DeviceStudy], pick: fn(&ConfigKey) -> Option<u32>) -> Vec<u32> {
    let mut v: Vec<u32> = devices
        .iter()
        .flat_map(|d| d.configs.iter().filter_map(|c| pick(&c.key)))
        .collect();
    v.sort();
    v.dedup();
    v
}

/// Write every figure into `dir`; returns the files written. A figure with
/// no completed run on any device is not drawn.
pub fn write_plots(dir: &Path, devices: &[DeviceStudy]) -> Result<Vec<PathBuf>, ExportError> {
    std::fs::create_dir_all(dir).map_err(|source| ExportError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut written = Vec::new();
    let epochs = distinct(devices, |k| k.epochs);
    let batches = distinct(devices, |k| k.batch_size);

    for &ep in &epochs {
        for m in [Metric::Time, Metric::Energy, Metric::Power] {
            let fig = Figure {
                title: format!("{} by batch size, {ep} epochs", m.title()),
                file: format!("{}_by_batch_ep{ep}.svg", m.name()),
                x_axis: XAxis::BatchSize,
            };
            let x = |c: &ConfigStats| {
                let b = c.key.batch_size.filter(|b| *b > 0)?;
                (c.key.epochs == Some(ep)).then(|| (b as f64).log2())
            };
            written.extend(figure(dir, devices, m, &fig, x)?);
        }
    }
    // By epochs only where there is more than one epoch count.
    if epochs.len() > 1 {
        for &bs in &batches {
            for m in [Metric::Time, Metric::Energy] {
                let fig = Figure {
                    title: format!("{} by epochs, batch size {bs}", m.title()),
                    file: format!("{}_by_epochs_bs{bs}.svg", m.name()),
                    x_axis: XAxis::Epochs,
                };
                let x = |c: &ConfigStats| {
                    (c.key.batch_size == Some(bs)).then_some(c.key.epochs? as f64)
                };
                written.extend(figure(dir, devices, m, &fig, x)?);
            }
        }
    }
    written.extend(super::pareto::write_pareto(dir, devices)?);
    Ok(written)
}
