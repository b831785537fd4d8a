//! One fold, every view: generated sessions (gaps, a total channel that
//! starts late or stops answering, implausible readings, counters that wrap,
//! idle calibration, training events, runs that never end) give the same
//! energy, uncovered time, average and peak power, J/image and training
//! window in the live fold, the replayed fold after any sequence of seeks,
//! the comparison strip, `inspect` and `summary --format json`; every
//! average is at most its peak; nothing unknown is shown as 0.
#[path = "support/isolated.rs"]
mod isolated;
use std::path::Path;
use std::sync::Arc;

use proptest::prelude::*;
use trainwatt::app::compare::compare;
use trainwatt::app::{Alignment, PaneView, State};
use trainwatt::model::event::{Event, Marker, MarkerKind, RunStatus, TrainConfig, TrainEvent};
use trainwatt::model::fold::SessionFold;
use trainwatt::model::sample::{Channel, Role, Sample, Scope};
use trainwatt::record::{Header, SessionWriter};
use trainwatt::replay::{ReplayEngine, ReplayIndex, ReplayOut};

#[derive(Clone, Debug)]
struct Spec {
    rows: usize,
    gpu_w: f64,
    /// The second total channel (CPU package) reports from this row to that one.
    cpu: Option<(usize, usize)>,
    gap: Option<(usize, usize)>,
    implausible_at: Option<usize>,
    idle_rows: Option<usize>,
    /// (start row, end row or None for a run that never ended)
    run: Option<(usize, Option<usize>)>,
    steps_per_epoch: u32,
    with_counter: bool,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        20usize..400,
        1.0f64..300.0,
        proptest::option::of((0usize..100, 50usize..500)),
        proptest::option::of((5usize..300, 1usize..120)),
        proptest::option::of(0usize..400),
        proptest::option::of(1usize..40),
        proptest::option::of((0usize..60, proptest::option::of(80usize..420))),
        1u32..8,
        any::<bool>(),
    )
        .prop_map(
            |(rows, gpu_w, cpu, gap, implausible_at, idle_rows, run, spe, with_counter)| Spec {
                rows,
                gpu_w: (gpu_w * 1000.0).round() / 1000.0,
                cpu,
                gap: gap.map(|(a, n)| (a, a + n)),
                implausible_at,
                idle_rows,
                run,
                steps_per_epoch: spe,
                with_counter,
            },
        )
}

fn channels(s: &Spec) -> Vec<Channel> {
    let mut c = vec![Channel::power("gpu0", Scope::GpuOnly, Role::Total, "nvml")];
    if s.with_counter {
        c.push(Channel::counter(
            "gpu0_energy",
            Scope::GpuOnly,
            "nvml",
            "gpu0",
            Some(500.0),
        ));
    }
    if s.cpu.is_some() {
        c.push(Channel::power(
            "package-0",
            Scope::CpuPackage,
            Role::Total,
            "rapl",
        ));
    }
    c
}

fn marker(t_s: f64, kind: MarkerKind) -> Event {
    Event::Marker(Marker {
        t_s,
        kind,
        text: String::new(),
        value: None,
    })
}

/// The events of a session in the order a recorder writes them. Values sit
/// on the file's grid (0.1 ms, 1 mW) so writing them loses nothing.
fn events(s: &Spec) -> Vec<Event> {
    let n_ch = channels(s).len();
    let cpu_col = n_ch - 1;
    let mut evs = Vec::new();
    let mut counter = 0.0f64;
    let t_of = |k: usize| k as f64 / 10.0;
    if s.idle_rows.is_some() {
        evs.push(marker(0.0, MarkerKind::IdleStart));
    }
    let mut step = 0u32;
    for k in 0..s.rows {
        let t = t_of(k);
        if s.idle_rows == Some(k) {
            evs.push(marker(t, MarkerKind::IdleEnd));
        }
        if let Some((start, end)) = s.run {
            if k == start {
                evs.push(Event::Train(TrainEvent::RunStart {
                    t_s: t,
                    config: TrainConfig {
                        model: "resnet18".into(),
                        dataset: "synthetic:64".into(),
                        batch_size: Some(8),
                        epochs: Some(3),
                        steps_per_epoch: Some(s.steps_per_epoch),
                        ..Default::default()
                    },
                }));
            }
            let running = k > start && end.is_none_or(|e| k < e);
            if running && k % 7 == 0 && step < 3 * s.steps_per_epoch {
                step += 1;
                let epoch = (step - 1) / s.steps_per_epoch + 1;
                let in_epoch = (step - 1) % s.steps_per_epoch + 1;
                evs.push(Event::Train(TrainEvent::Step {
                    t_s: t,
                    epoch,
                    step: in_epoch,
                    steps_per_epoch: None,
                    loss: Some(1.0),
                    images_per_s: None,
                    images: Some(u64::from(step) * 8),
                }));
                if in_epoch == s.steps_per_epoch {
                    evs.push(Event::Train(TrainEvent::EpochEnd {
                        t_s: t,
                        epoch,
                        train_loss: None,
                        train_acc: None,
                        val_acc: Some(0.25 * f64::from(epoch)),
                        images: None,
                    }));
                }
            }
            if end == Some(k) {
                evs.push(Event::Train(TrainEvent::RunEnd {
                    t_s: t,
                    status: RunStatus::Completed,
                    message: None,
                }));
            }
        }
        if s.gap.is_some_and(|(a, b)| (a..b).contains(&k)) {
            continue;
        }
        let mut w = s.gpu_w + (k % 5) as f64;
        if s.implausible_at == Some(k) {
            w = 1e7; // 10 MW: implausible, never integrated
        }
        let mut values = vec![None; n_ch];
        values[0] = Some(w);
        if s.with_counter {
            if w <= 1e5 {
                counter = (counter + w * 0.1) % 500.0;
            }
            values[1] = Some((counter * 1000.0).round() / 1000.0);
        }
        evs.push(Event::Sample(Sample { t_s: t, values }));
        if let Some((from, to)) = s.cpu {
            if (from..to).contains(&k) {
                let mut v = vec![None; n_ch];
                v[cpu_col] = Some(40.0);
                evs.push(Event::Sample(Sample {
                    t_s: t + 0.05,
                    values: v,
                }));
            }
        }
    }
    evs
}

fn write(path: &Path, h: &Header, evs: &[Event]) {
    let mut w = SessionWriter::create(path, h).unwrap();
    for e in evs {
        w.write_event(e).unwrap();
    }
    w.finish(None).unwrap();
}

fn close(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(x), Some(y)) => (x - y).abs() <= 1e-6 * x.abs().max(y.abs()).max(1.0),
        _ => false,
    }
}

/// The figures every view must agree on.
#[derive(Debug)]
struct Figures {
    energy: Option<f64>,
    uncovered: f64,
    avg: Option<f64>,
    peak: Option<f64>,
    j_per_image: Option<f64>,
    window: Option<(f64, f64, Option<f64>)>,
}

fn figures(f: &SessionFold) -> Figures {
    Figures {
        energy: f.joules(),
        uncovered: f.uncovered_s(),
        avg: f.avg_w(),
        peak: f.peak_w(),
        j_per_image: f.joules_per_image(),
        window: f.training().map(|w| (w.start_s, w.end_s, w.joules())),
    }
}

fn same(a: &Figures, b: &Figures) -> bool {
    close(a.energy, b.energy)
        && close(Some(a.uncovered), Some(b.uncovered))
        && close(a.avg, b.avg)
        && close(a.peak, b.peak)
        && close(a.j_per_image, b.j_per_image)
        && match (a.window, b.window) {
            (None, None) => true,
            (Some(x), Some(y)) => {
                close(Some(x.0), Some(y.0)) && close(Some(x.1), Some(y.1)) && close(x.2, y.2)
            }
            _ => false,
        }
}

fn json_f(v: &serde_json::Value) -> Option<f64> {
    v.as_f64()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn every_view_reads_the_same_figures(s in spec(), seeks in proptest::collection::vec(0.0f64..45.0, 0..6)) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.jsonl");
        let h = Header::new(channels(&s), 100.0);
        let evs = events(&s);
        write(&path, &h, &evs);

        // Live: the events as they arrive.
        let mut live = SessionFold::new(&h);
        for e in &evs {
            live.apply(e);
        }
        let lf = figures(&live);

        // Averages never exceed peaks; unknown is never 0.
        if let (Some(a), Some(p)) = (live.avg_w(), live.peak_w()) {
            prop_assert!(a <= p + 1e-9, "avg {a} > peak {p}");
        }
        if let Some(w) = live.training() {
            if let (Some(a), Some(p)) = (w.avg_w(), live.peak_w()) {
                prop_assert!(a <= p + 1e-9, "training avg {a} > peak {p}");
            }
        }
        if live.cum().is_none() {
            prop_assert_eq!(live.joules(), None);
        }

        // Replay: the engine after seeks, folding with resets like the app.
        let mut engine = ReplayEngine::open(&path, false).unwrap();
        let mut replay = SessionFold::new(engine.header());
        let hdr = engine.header().clone();
        for target in seeks.iter().chain(std::iter::once(&1e9)) {
            engine.advance_to(*target, &mut |out| match out {
                ReplayOut::Reset => replay = SessionFold::new(&hdr),
                ReplayOut::Event(e) => replay.apply(&e),
            }).unwrap();
        }
        let rf = figures(&replay);
        prop_assert!(same(&lf, &rf), "live {lf:?} vs replay {rf:?}");

        // The comparison strip: the session against its own index.
        let index = Arc::new(ReplayIndex::build(&h, evs.clone()));
        let mut a = PaneView::live("local", h.clone());
        a.pane = live.clone();
        let state = State::new(vec![a, PaneView::replay("same", h.clone(), index)], Alignment::Time, 1.0, 1, 0.0);
        if let Some(c) = compare(&state) {
            let whole_or_run = live.training().map(|w| w.joules()).unwrap_or(live.joules());
            if live.progress().is_none() || live.progress() == Some(0.0) {
                prop_assert!(close(c.a.joules, live.joules()), "strip a {:?} vs {:?}", c.a, live.joules());
                prop_assert!(close(c.b.joules, live.joules()), "strip b {:?} vs {:?}", c.b, live.joules());
            } else {
                prop_assert!(close(c.a.joules, c.b.joules), "strip {:?} vs {:?} ({whole_or_run:?})", c.a, c.b);
            }
        }

        // summary --format json, from the real binary.
        let out = isolated::trainwatt()
            .args(["summary", "--format", "json"])
            .arg(&path)
            .output()
            .unwrap();
        prop_assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let js = &doc["sessions"][0];
        prop_assert!(close(json_f(&js["energy_j"]), lf.energy), "json energy {} vs {:?}", js["energy_j"], lf.energy);
        prop_assert!(close(json_f(&js["uncovered_s"]), Some(lf.uncovered)));
        prop_assert!(close(json_f(&js["avg_power_w"]), lf.avg));
        prop_assert!(close(json_f(&js["peak_power_w"]), lf.peak));
        prop_assert!(close(json_f(&js["j_per_image"]), lf.j_per_image));
        match lf.window {
            None => prop_assert!(js["training"].is_null()),
            Some((a, b, j)) => {
                let w = &js["training"];
                prop_assert!(close(json_f(&w["start_s"]), Some(a)));
                prop_assert!(close(json_f(&w["end_s"]), Some(b)));
                prop_assert!(close(json_f(&w["energy_j"]), j));
            }
        }

        // inspect, from the real binary: the total line.
        let out = isolated::trainwatt()
            .arg("inspect")
            .arg(&path)
            .output()
            .unwrap();
        prop_assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout);
        let total = text.lines().rev().find(|l| l.starts_with("total ")).unwrap().to_string();
        match lf.energy {
            Some(j) => prop_assert!(total.contains(&format!("{j:.1} J")), "{total} vs {j}"),
            None => prop_assert!(total.contains("– J"), "{total}"),
        }
    }
}
