//! The invariants the fuzz targets check, in one place: `fuzz/fuzz_targets/*`
//! include this file by path and `tests/fuzz_regressions.rs` replays every
//! saved crash and seed through the same functions. Each function panics
//! (an assertion) when an invariant is broken; that is what the fuzzer and
//! the replay test catch.
#![allow(dead_code)]

use std::io::{Cursor, Write};
use std::sync::{Arc, Mutex};

use trainwatt::import::nvidia_smi::{import_nvidia_smi, CsvImportOptions};
use trainwatt::import::tegrastats::{import_tegrastats, TegraImportOptions};
use trainwatt::import::Imported;
use trainwatt::model::event::{Event, TrainEvent};
use trainwatt::model::fold::SessionFold;
use trainwatt::record::{ReadOptions, SessionReader, SessionWriter};

/// Inputs above this are cut: every target works on bounded input.
pub const MAX_INPUT: usize = 64 * 1024;
/// Session inputs up to this size are also checked zstd-compressed.
const MAX_ZSTD_INPUT: usize = 4 * 1024;
const NAME: &str = "fuzz.jsonl";

fn bounded(data: &[u8]) -> &[u8] {
    &data[..data.len().min(MAX_INPUT)]
}

fn finite_opt(v: Option<f64>, what: &str) {
    if let Some(x) = v {
        assert!(x.is_finite(), "{what} is not finite: {x}");
    }
}

/// Times and values of one event are finite.
fn check_event_finite(ev: &Event) {
    assert!(ev.t_s().is_finite(), "event time not finite: {ev:?}");
    match ev {
        Event::Sample(s) => s.values.iter().for_each(|v| finite_opt(*v, "sample value")),
        Event::Marker(m) => finite_opt(m.value, "marker value"),
        Event::Train(t) => check_train_finite(t),
        Event::End(_) => {}
    }
}

fn check_train_finite(t: &TrainEvent) {
    assert!(t.t_s().is_finite(), "train event time not finite: {t:?}");
    if let TrainEvent::Step {
        loss, images_per_s, ..
    } = t
    {
        finite_opt(*loss, "step loss");
        finite_opt(*images_per_s, "step images/s");
    }
    if let TrainEvent::EpochEnd { train_loss, .. } = t {
        finite_opt(*train_loss, "epoch loss");
    }
}

/// Fold events and check the figures: finite, averages not above peaks.
fn check_fold(fold: &SessionFold) {
    for (name, v) in [
        ("joules", fold.joules()),
        ("avg_w", fold.avg_w()),
        ("peak_w", fold.peak_w()),
        ("current_w", fold.current_w()),
        ("train_joules", fold.train_joules()),
        ("joules_per_image", fold.joules_per_image()),
    ] {
        finite_opt(v, name);
    }
    assert!(fold.elapsed_s().is_finite(), "elapsed not finite");
    assert!(fold.uncovered_s().is_finite(), "uncovered not finite");
    if let (Some(avg), Some(peak)) = (fold.avg_w(), fold.peak_w()) {
        // Relative slack for rounding in the integration.
        let slack = 1e-9 * peak.abs().max(avg.abs()).max(1.0);
        assert!(avg <= peak + slack, "average {avg} W above peak {peak} W");
    }
}

/// An error from the reader names the file; a content error (anything but
/// an empty input) names a line too.
fn check_read_error(e: &trainwatt::record::RecordError, name: &str) {
    let text = e.to_string();
    assert!(
        text.starts_with(name),
        "error does not name the file: {text}"
    );
    assert_eq!(e.file, name);
    if !e.msg.starts_with("empty file") && !e.msg.contains("zstd") && !e.msg.contains("read") {
        assert!(e.line.is_some(), "content error without a line: {text}");
    }
}

fn read_and_fold(name: &str, src: Box<dyn std::io::Read + Send>) {
    let opts = ReadOptions {
        lenient: false,
        max_line_bytes: 16 * 1024,
    };
    let mut r = match SessionReader::from_reader(name.into(), src, opts) {
        Ok(r) => r,
        Err(e) => return check_read_error(&e, name),
    };
    let mut fold = SessionFold::new(r.header());
    // Bounded input: at most one event per byte, plus the end.
    for _ in 0..=MAX_INPUT {
        match r.next_event() {
            Ok(Some(ev)) => {
                check_event_finite(&ev);
                fold.apply(&ev);
            }
            Ok(None) => break,
            Err(e) => {
                check_read_error(&e, name);
                break;
            }
        }
    }
    check_fold(&fold);
}

/// Session reader over arbitrary bytes, and the same bytes zstd-compressed.
pub fn session_reader(data: &[u8]) {
    let data = bounded(data);
    read_and_fold(NAME, Box::new(Cursor::new(data.to_vec())));
    if data.len() <= MAX_ZSTD_INPUT {
        let z = zstd::encode_all(data, 1).expect("zstd encodes in memory");
        let dec = zstd::stream::read::Decoder::new(Cursor::new(z)).expect("zstd decoder");
        read_and_fold("fuzz.jsonl.zst", Box::new(dec));
    }
}

/// A stream whose bytes are read back (no file).
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Every file trainwatt writes, trainwatt reads back, with finite energy.
fn writes_and_reads_back(imp: &Imported) {
    imp.events.iter().for_each(check_event_finite);
    let buf = Shared::default();
    let mut w = SessionWriter::to_stream(Box::new(buf.clone()), &imp.header)
        .unwrap_or_else(|e| panic!("imported header refused by the writer: {e}"));
    let mut end = None;
    for ev in &imp.events {
        match ev {
            Event::End(e) => end = Some(e.clone()),
            other => w
                .write_event(other)
                .unwrap_or_else(|e| panic!("imported event refused by the writer: {e}")),
        }
    }
    w.finish(end.as_ref())
        .unwrap_or_else(|e| panic!("closing line refused: {e}"));
    let bytes = buf.0.lock().unwrap().clone();
    let mut r = SessionReader::from_reader(
        NAME.into(),
        Box::new(Cursor::new(bytes)),
        ReadOptions::default(),
    )
    .unwrap_or_else(|e| panic!("written session does not load: {e}"));
    let evs = r
        .collect_events()
        .unwrap_or_else(|e| panic!("written session does not read: {e}"));
    assert!(r.stats.clean_end, "written session has no closing line");
    let mut fold = SessionFold::new(r.header());
    for ev in &evs {
        check_event_finite(ev);
        fold.apply(ev);
    }
    check_fold(&fold);
    // None is allowed (one reading, or all at one instant: no interval to
    // integrate); a figure that is there is finite (checked in check_fold).
    assert!(
        fold.joules().is_none_or(f64::is_finite),
        "imported energy not finite: {:?}",
        fold.joules()
    );
}

/// The tegrastats line parser on each line, then the log importer.
pub fn tegrastats(data: &[u8]) {
    let text = String::from_utf8_lossy(bounded(data));
    for line in text.lines() {
        if let Ok(l) = trainwatt::sensors::tegrastats_parse::parse_line(line) {
            for rail in &l.rails {
                assert!(
                    rail.cur_mw.is_finite(),
                    "rail {} cur {}",
                    rail.name,
                    rail.cur_mw
                );
                assert!(
                    rail.avg_mw.is_finite(),
                    "rail {} avg {}",
                    rail.name,
                    rail.avg_mw
                );
            }
        }
    }
    let opts = TegraImportOptions {
        interval_ms: None,
        start: None,
        origin: "t.log".into(),
    };
    match import_tegrastats(&text, &opts) {
        Ok(imp) => writes_and_reads_back(&imp),
        Err(e) => assert!(e.to_string().starts_with("t.log: "), "{e}"),
    }
}

/// The nvidia-smi CSV importer; the first byte picks options.
pub fn nvidia_smi(data: &[u8]) {
    let data = bounded(data);
    let (sel, rest) = data.split_first().map_or((0, data), |(s, r)| (*s, r));
    let text = String::from_utf8_lossy(rest);
    let opts = CsvImportOptions {
        columns: (sel & 1 == 1).then(|| "timestamp,index,power.draw".to_string()),
        interval_ms: (sel & 2 == 2).then_some(100.0),
        gpus: (sel & 4 == 4).then_some(usize::from(sel >> 4).max(1)),
        start: None,
        origin: "g.csv".into(),
    };
    match import_nvidia_smi(&text, &opts) {
        Ok(imp) => writes_and_reads_back(&imp),
        Err(e) => assert!(e.to_string().starts_with("g.csv: "), "{e}"),
    }
}

/// What the protocol fuzzing saw about accuracies (reported, not asserted:
/// the protocol passes accuracies through as given).
pub fn protocol(data: &[u8]) {
    use trainwatt::train::protocol::{parse_line, ProtocolState};
    let text = String::from_utf8_lossy(bounded(data));
    let mut state = ProtocolState::new(None);
    for (i, line) in text.lines().enumerate() {
        let Some(msg) = parse_line(line) else {
            continue;
        };
        let t = i as f64 * 0.5;
        if let Some(ev) = state.to_event(&msg, t) {
            check_train_finite(&ev);
        }
    }
}

/// The theme loader: no panic, and an error names the file and a line.
pub fn theme(data: &[u8]) {
    let text = String::from_utf8_lossy(bounded(data));
    if let Err(e) = trainwatt::ui::theme::Theme::parse(&text, "t.toml") {
        let s = e.to_string();
        assert!(s.starts_with("t.toml"), "theme error without the file: {s}");
        assert!(e.line.is_some(), "theme error without a line: {s}");
    }
}

/// The check a target name stands for.
pub fn by_target(name: &str) -> Option<fn(&[u8])> {
    Some(match name {
        "session_reader" => session_reader,
        "tegrastats" => tegrastats,
        "nvidia_smi" => nvidia_smi,
        "protocol" => protocol,
        "theme" => theme,
        _ => return None,
    })
}
