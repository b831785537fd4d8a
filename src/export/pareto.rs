//! The power-mode figure: training energy against training time, one series
//! per power mode of a machine that ran in several (`sweep --power-modes`),
//! a point per configuration with 95% CI bars both ways, and each mode's
//! Pareto front (no other point of that mode is both faster and cheaper).
//! Which mode trains a configuration for the fewest joules within a deadline
//! is read off left to right.
use std::path::{Path, PathBuf};

use plotters::prelude::*;

use super::plots::{chart_on, draw_line, finish, plot_err, Chart, COLORS};
use super::ExportError;
use crate::model::study::DeviceStudy;

const SIZE: (u32, u32) = (800, 560);

/// One configuration of one mode: time and energy means with their
/// intervals, and its label ("bs 8, 1 ep").
struct Point {
    t: f64,
    e: f64,
    t_ci: Option<(f64, f64)>,
    e_ci: Option<(f64, f64)>,
    label: String,
}

fn points(d: &DeviceStudy) -> Vec<Point> {
    d.configs
        .iter()
        .filter(|c| c.completed > 0)
        .filter_map(|c| {
            let (t, e) = (c.time_s?, c.energy_j?);
            let part = |v: Option<u32>| v.map(|x| x.to_string()).unwrap_or("?".into());
            Some(Point {
                t: t.mean,
                e: e.mean,
                t_ci: t.low().zip(t.high()),
                e_ci: e.low().zip(e.high()),
                label: format!("bs {}, {} ep", part(c.key.batch_size), part(c.key.epochs)),
            })
        })
        .collect()
}

/// The points no other point beats on both time and energy, by time.
fn front(ps: &[Point]) -> Vec<(f64, f64)> {
    let mut v: Vec<(f64, f64)> = ps.iter().map(|p| (p.t, p.e)).collect();
    v.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    let mut best = f64::INFINITY;
    v.retain(|&(_, e)| {
        let keep = e < best;
        best = best.min(e);
        keep
    });
    v
}

/// Write `energy_vs_time_by_power_mode.svg` into `dir` when some machine ran
/// in several power modes and at least one run completed; None otherwise.
pub fn write_pareto(dir: &Path, devices: &[DeviceStudy]) -> Result<Option<PathBuf>, ExportError> {
    let split = in_several_modes(devices);
    let series = mode_series(&split);
    if series.is_empty() {
        return Ok(None);
    }
    let path = dir.join("energy_vs_time_by_power_mode.svg");
    let (t1, e1) = axis_tops(&series);
    let estimate = if split.iter().any(|d| d.estimate) {
        " (estimate)"
    } else {
        ""
    };
    let root = SVGBackend::new(&path, SIZE).into_drawing_area();
    let title = format!("Energy against time by power mode (mean, 95% CI){estimate}");
    let mut chart = chart_on(&root, &path, &title, 0.0..t1, 0.0..e1)?;
    chart
        .configure_mesh()
        .x_desc("training time (s)")
        .y_desc(format!("energy (J){estimate}"))
        .draw()
        .map_err(|e| plot_err(&path, e))?;
    for (i, (name, ps)) in series.iter().enumerate() {
        draw_mode(&mut chart, &path, COLORS[i % COLORS.len()], name, ps)?;
    }
    finish(chart, &root, &path)?;
    drop(root);
    Ok(Some(path))
}

/// The devices (machine and power mode) of machines that ran in several modes.
fn in_several_modes(devices: &[DeviceStudy]) -> Vec<&DeviceStudy> {
    devices
        .iter()
        .filter(|d| devices.iter().filter(|o| o.machine == d.machine).count() > 1)
        .collect()
}

/// A named series per mode with a completed configuration. With one
/// machine the legend names the mode alone.
fn mode_series(split: &[&DeviceStudy]) -> Vec<(String, Vec<Point>)> {
    split
        .iter()
        .map(|d| {
            let one = split.iter().all(|o| o.machine == split[0].machine);
            let name = match (&d.power_mode, one) {
                (Some(m), true) => m.clone(),
                _ => d.device.clone(),
            };
            (name, points(d))
        })
        .filter(|(_, p)| !p.is_empty())
        .collect()
}

/// The axes' ends: a tenth above the highest interval in time and energy.
fn axis_tops(series: &[(String, Vec<Point>)]) -> (f64, f64) {
    let (mut t1, mut e1) = (0.0f64, 0.0f64);
    for p in series.iter().flat_map(|(_, p)| p.iter()) {
        t1 = t1.max(p.t_ci.map_or(p.t, |(_, hi)| hi.max(p.t)));
        e1 = e1.max(p.e_ci.map_or(p.e, |(_, hi)| hi.max(p.e)));
    }
    let t1 = if t1 > 0.0 { t1 * 1.1 } else { 1.0 };
    let e1 = if e1 > 0.0 { e1 * 1.1 } else { 1.0 };
    (t1, e1)
}

/// One mode: its Pareto front as the line, CI bars both ways, and each
/// configuration's point and label.
fn draw_mode(
    chart: &mut Chart,
    path: &Path,
    color: RGBColor,
    name: &str,
    ps: &[Point],
) -> Result<(), ExportError> {
    draw_line(chart, path, front(ps), color, name)?;
    let style = color.stroke_width(1);
    chart
        .draw_series(ps.iter().filter_map(|p| {
            let (lo, hi) = p.e_ci?;
            Some(ErrorBar::new_vertical(p.t, lo, p.e, hi, style, 8))
        }))
        .map_err(|e| plot_err(path, e))?;
    chart
        .draw_series(ps.iter().filter_map(|p| {
            let (lo, hi) = p.t_ci?;
            Some(ErrorBar::new_horizontal(p.e, lo, p.t, hi, style, 8))
        }))
        .map_err(|e| plot_err(path, e))?;
    chart
        .draw_series(
            ps.iter()
                .map(|p| Circle::new((p.t, p.e), 4, color.filled())),
        )
        .map_err(|e| plot_err(path, e))?;
    chart
        .draw_series(
            ps.iter()
                .map(|p| Text::new(p.label.clone(), (p.t, p.e), ("sans-serif", 11).into_font())),
        )
        .map_err(|e| plot_err(path, e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(t: f64, e: f64) -> Point {
        Point {
            t,
            e,
            t_ci: None,
            e_ci: None,
            label: String::new(),
        }
    }

    #[test]
    fn the_front_keeps_what_nothing_beats_on_both() {
        let ps = [
            p(3.0, 10.0),
            p(1.0, 30.0),
            p(2.0, 40.0),
            p(4.0, 12.0),
            p(5.0, 5.0),
        ];
        assert_eq!(front(&ps), [(1.0, 30.0), (3.0, 10.0), (5.0, 5.0)]);
    }
}
