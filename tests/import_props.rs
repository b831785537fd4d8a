//! For any importer input, either the import fails with a message, or what
//! it writes loads with `SessionReader` and folds without error: random
//! bytes, and fixture-like tegrastats and nvidia-smi lines with special
//! numbers, colliding names, times that go back and cut lines.
use std::io::Write;
use std::sync::{Arc, Mutex};

use proptest::prelude::*;

use trainwatt::import::nvidia_smi::{import_nvidia_smi, CsvImportOptions};
use trainwatt::import::tegrastats::{import_tegrastats, TegraImportOptions};
use trainwatt::import::Imported;
use trainwatt::model::event::Event;
use trainwatt::model::fold::SessionFold;
use trainwatt::record::{ReadOptions, SessionReader, SessionWriter};

/// A stream whose bytes the test reads back (no file, no fsync per case).
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

/// Write, read back and fold; any failure is a test failure.
fn loads_and_folds(imp: &Imported) -> Result<(), TestCaseError> {
    let buf = Shared::default();
    let mut w = SessionWriter::to_stream(Box::new(buf.clone()), &imp.header)
        .map_err(|e| TestCaseError::fail(format!("header refused: {e}")))?;
    let mut end = None;
    for ev in &imp.events {
        match ev {
            Event::End(e) => end = Some(e.clone()),
            other => w
                .write_event(other)
                .map_err(|e| TestCaseError::fail(format!("event refused: {e}")))?,
        }
    }
    w.finish(end.as_ref())
        .map_err(|e| TestCaseError::fail(format!("closing line refused: {e}")))?;
    let bytes = buf.0.lock().unwrap().clone();
    let mut r = SessionReader::from_reader(
        "s.jsonl".into(),
        Box::new(std::io::Cursor::new(bytes)),
        ReadOptions::default(),
    )
    .map_err(|e| TestCaseError::fail(format!("does not load: {e}")))?;
    let evs = r
        .collect_events()
        .map_err(|e| TestCaseError::fail(format!("does not read: {e}")))?;
    prop_assert!(r.stats.clean_end);
    let mut fold = SessionFold::new(r.header());
    evs.iter().for_each(|e| fold.apply(e));
    prop_assert!(fold.joules().is_none_or(f64::is_finite));
    prop_assert!(
        evs.windows(2).all(|w| w[1].t_s() >= w[0].t_s()),
        "monotonic"
    );
    Ok(())
}

fn check(text: &str, interval_ms: Option<f64>, columns: Option<&str>) -> Result<(), TestCaseError> {
    let t = import_tegrastats(
        text,
        &TegraImportOptions {
            interval_ms,
            start: None,
            origin: "t.log".into(),
        },
    );
    match t {
        Ok(imp) => loads_and_folds(&imp)?,
        Err(e) => prop_assert!(e.to_string().starts_with("t.log: "), "{e}"),
    }
    let s = import_nvidia_smi(
        text,
        &CsvImportOptions {
            columns: columns.map(String::from),
            interval_ms,
            gpus: None,
            start: None,
            origin: "g.csv".into(),
        },
    );
    match s {
        Ok(imp) => loads_and_folds(&imp)?,
        Err(e) => prop_assert!(e.to_string().starts_with("g.csv: "), "{e}"),
    }
    Ok(())
}

fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u32..200_000).prop_map(|n| n.to_string()),
        (-2000i32..2000).prop_map(|n| n.to_string()),
        Just("1e306".to_string()),
        Just("1e308".to_string()),
        Just("-1e308".to_string()),
        Just("290000000000".to_string()),
        Just("9".repeat(400)),
        Just("inf".to_string()),
        Just("NaN".to_string()),
        Just("[N/A]".to_string()),
        Just("".to_string()),
        Just("0.1e306".to_string()),
    ]
}

fn rail_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("VDD_IN".to_string()),
        Just("VDD_GPU_SOC".to_string()),
        Just("gpu_load".to_string()),
        Just("module_rails_sum".to_string()),
        Just("ram_used".to_string()),
        Just("temp_CPU".to_string()),
        Just("cpu0_load".to_string()),
        Just("NC".to_string()),
        "[A-Z][A-Z0-9_]{0,8}",
    ]
}

fn clock() -> impl Strategy<Value = (u32, u32, u32, u32)> {
    (0u32..24, 0u32..60, 0u32..60, 0u32..1000)
}

fn tegra_line() -> impl Strategy<Value = String> {
    (
        proptest::option::of(clock()),
        proptest::option::of(0u64..2_000_000_000),
        number(),
        prop::collection::vec((rail_name(), number(), number()), 0..4),
        proptest::option::of(("[A-Za-z]{1,5}", number())),
    )
        .prop_map(|(stamp, epoch, ram, rails, temp)| {
            let mut l = String::new();
            if let Some(e) = epoch {
                l.push_str(&format!("{e}.5::"));
            }
            if let Some((h, m, s, _)) = stamp {
                l.push_str(&format!("10-27-2024 {h:02}:{m:02}:{s:02} "));
            }
            l.push_str(&format!(
                "RAM {ram}/4096MB CPU [10%@1200,{ram}%@1] GR3D_FREQ {ram}%@[300] "
            ));
            if let Some((n, v)) = temp {
                l.push_str(&format!("{n}@{v}C "));
            }
            for (n, cur, avg) in rails {
                l.push_str(&format!("{n} {cur}mW/{avg}mW "));
            }
            l
        })
}

fn smi_line() -> impl Strategy<Value = String> {
    (
        clock(),
        prop_oneof![Just("0"), Just("1"), Just("_sum"), Just("1_util"), Just("")],
        number(),
        number(),
    )
        .prop_map(|((h, m, s, ms), idx, w, temp)| {
            format!("2024/10/27 {h:02}:{m:02}:{s:02}.{ms:03}, {idx}, {w} W, {temp}")
        })
}

/// A log from fixture-like lines, some cut short.
fn log(line: impl Strategy<Value = String>, header: &'static str) -> impl Strategy<Value = String> {
    (
        prop::collection::vec((line, any::<u8>()), 1..40),
        any::<bool>(),
    )
        .prop_map(move |(lines, with_header)| {
            let mut out = if with_header {
                format!("{header}\n")
            } else {
                String::new()
            };
            for (l, cut) in lines {
                let keep = if cut < 16 {
                    l.len() * usize::from(cut) / 16
                } else {
                    l.len()
                };
                let end = (0..=keep)
                    .rev()
                    .find(|&i| l.is_char_boundary(i))
                    .unwrap_or(0);
                out.push_str(&l[..end]);
                out.push('\n');
            }
            out
        })
}

fn interval() -> impl Strategy<Value = Option<f64>> {
    prop_oneof![
        Just(None),
        Just(Some(100.0)),
        Just(Some(3_600_000.0)),
        Just(Some(1e300)),
        Just(Some(0.0)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_bytes_fail_with_a_message_or_load(bytes in prop::collection::vec(any::<u8>(), 0..2048), iv in interval()) {
        check(&String::from_utf8_lossy(&bytes), iv, None)?;
        check(&String::from_utf8_lossy(&bytes), iv, Some("power.draw"))?;
    }

    #[test]
    fn tegrastats_like_logs_fail_with_a_message_or_load(text in log(tegra_line(), ""), iv in interval()) {
        check(&text, iv, None)?;
    }

    #[test]
    fn nvidia_smi_like_logs_fail_with_a_message_or_load(
        text in log(smi_line(), "timestamp, index, power.draw [W], temperature.gpu"),
        iv in interval(),
        columns in prop_oneof![Just(None), Just(Some("timestamp, index, power.draw, temperature.gpu")), Just(Some("timestamp, power.draw, power.draw, temperature.gpu"))],
    ) {
        check(&text, iv, columns)?;
    }
}
