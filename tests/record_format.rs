//! Session files: round trips, crash leftovers and bad input.
use std::io::Write;
use std::path::Path;

use trainwatt::model::event::{
    Event, Marker, MarkerKind, RunStatus, SessionEnd, TrainConfig, TrainEvent,
};
use trainwatt::model::sample::{Channel, Role, Sample, Scope};
use trainwatt::record::{Header, ReadOptions, SessionReader, SessionWriter};

fn header() -> Header {
    let mut h = Header::new(
        vec![
            Channel::power("gpu0", Scope::GpuOnly, Role::Total, "nvml"),
            Channel::counter("gpu0_energy", Scope::GpuOnly, "nvml", "gpu0", None),
        ],
        100.0,
    );
    h.start_utc = "2026-11-28T04:00:00.000Z".into();
    h.train = Some(TrainConfig {
        model: "resnet18-cifar".into(),
        dataset: "synthetic:512".into(),
        batch_size: Some(16),
        epochs: Some(1),
        ..Default::default()
    });
    h
}

fn events() -> Vec<Event> {
    vec![
        Event::Train(TrainEvent::RunStart {
            t_s: 0.0,
            config: header().train.unwrap(),
        }),
        Event::Sample(Sample {
            t_s: 0.1,
            values: vec![Some(150.5), Some(1000.0)],
        }),
        Event::Sample(Sample {
            t_s: 0.2,
            values: vec![None, Some(1015.05)],
        }),
        Event::Marker(Marker {
            t_s: 0.25,
            kind: MarkerKind::SensorGap,
            text: "nvml: no answer for 2 s".into(),
            value: None,
        }),
        Event::Train(TrainEvent::Step {
            t_s: 0.3,
            epoch: 1,
            step: 3,
            steps_per_epoch: Some(32),
            loss: Some(2.25),
            images_per_s: Some(420.0),
            images: Some(48),
        }),
        Event::Train(TrainEvent::RunEnd {
            t_s: 0.4,
            status: RunStatus::OutOfMemory,
            message: Some("batch size 64: out of memory".into()),
        }),
    ]
}

fn write(path: &Path) {
    let mut w = SessionWriter::create(path, &header()).unwrap();
    for e in events() {
        w.write_event(&e).unwrap();
    }
    w.finish(Some(&SessionEnd {
        t_s: 0.5,
        samples: 2,
        energy_j: [("gpu0".to_string(), 15.0)].into_iter().collect(),
        sources: vec![],
    }))
    .unwrap();
}

fn read_all(path: &Path, lenient: bool) -> Result<(Header, Vec<Event>, SessionReader), String> {
    let mut r = SessionReader::open(
        path,
        ReadOptions {
            lenient,
            ..Default::default()
        },
    )
    .map_err(|e| e.to_string())?;
    let evs = r.collect_events().map_err(|e| e.to_string())?;
    Ok((r.header().clone(), evs, r))
}

#[test]
fn round_trip_plain_and_zstd() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["s.jsonl", "s.jsonl.zst"] {
        let p = dir.path().join(name);
        write(&p);
        let (h, evs, r) = read_all(&p, false).unwrap();
        assert_eq!(h, header());
        assert_eq!(&evs[..evs.len() - 1], &events()[..]);
        assert!(matches!(evs.last(), Some(Event::End(e)) if e.energy_j["gpu0"] == 15.0));
        assert!(r.stats.clean_end);
        assert_eq!(r.stats.torn_tail, None);
    }
}

#[test]
fn torn_last_line_is_reported_and_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("torn.jsonl");
    write(&p);
    let mut text = std::fs::read_to_string(&p).unwrap();
    // Drop the closing line and cut the last event in half, as kill -9 would.
    let cut = text.trim_end().rfind('\n').unwrap();
    text.truncate(cut);
    let cut2 = text.rfind('\n').unwrap();
    text.truncate(cut2 + 12);
    std::fs::write(&p, &text).unwrap();
    let (_, evs, r) = read_all(&p, false).unwrap();
    assert_eq!(evs.len(), events().len() - 1);
    let (line, bytes) = r.stats.torn_tail.unwrap();
    assert_eq!(line, 7);
    assert_eq!(bytes, 11);
    assert!(!r.stats.clean_end);
}

#[test]
fn truncated_zstd_loads_what_was_flushed() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("cut.jsonl.zst");
    let mut w = SessionWriter::create(&p, &header()).unwrap();
    for i in 0..500 {
        w.write_event(&Event::Sample(Sample {
            t_s: i as f64 * 0.1,
            values: vec![Some(100.0), None],
        }))
        .unwrap();
    }
    w.flush().unwrap();
    // Simulate a crash: the frame is never finished; take the bytes as they are now.
    let bytes = std::fs::read(&p).unwrap();
    std::mem::forget(w);
    std::fs::write(&p, &bytes).unwrap();
    let (_, evs, r) = read_all(&p, false).unwrap();
    assert_eq!(evs.len(), 500);
    assert!(!r.stats.clean_end);
}

#[test]
fn malformed_middle_line_names_file_and_line_unless_lenient() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bad.jsonl");
    write(&p);
    let mut lines: Vec<String> = std::fs::read_to_string(&p)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    lines.insert(3, "[0.15,oops]".into());
    lines.insert(5, "{\"ev\":\"warp\",\"t\":1}".into());
    std::fs::write(&p, lines.join("\n") + "\n").unwrap();
    let err = read_all(&p, false).err().unwrap();
    assert!(err.contains("bad.jsonl:4:"), "{err}");
    assert!(err.contains("--lenient"), "{err}");
    let (_, evs, r) = read_all(&p, true).unwrap();
    assert_eq!(evs.len(), events().len() + 1);
    assert_eq!(r.stats.skipped_count, 2);
    assert_eq!(r.stats.skipped[0].0, 4);
    assert!(r.stats.skipped[1].1.contains("unknown event kind `warp`"));
}

#[test]
fn unknown_schema_and_foreign_files_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("future.jsonl");
    let h = serde_json::to_string(&header())
        .unwrap()
        .replace("\"schema\":1", "\"schema\":7");
    std::fs::write(&p, h + "\n").unwrap();
    let err = read_all(&p, false).err().unwrap();
    assert!(
        err.contains("future.jsonl:1:") && err.contains("schema version 7"),
        "{err}"
    );

    let p = dir.path().join("tegra.log");
    std::fs::write(&p, "RAM 1/2MB CPU [1%@102] POM_5V_IN 900/900\n").unwrap();
    let err = read_all(&p, false).err().unwrap();
    assert!(err.contains("trainwatt import"), "{err}");

    let p = dir.path().join("empty.jsonl");
    std::fs::write(&p, "").unwrap();
    assert!(read_all(&p, false).err().unwrap().contains("empty file"));

    let err = read_all(&dir.path().join("missing.jsonl"), false)
        .err()
        .unwrap();
    assert!(
        err.contains("missing.jsonl") && err.contains("cannot open"),
        "{err}"
    );
}

#[test]
fn overlong_line_is_rejected_without_holding_it() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("long.jsonl");
    write(&p);
    let mut f = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
    f.write_all(b"[").unwrap();
    f.write_all(&vec![b'1'; 300_000]).unwrap();
    f.write_all(b"]\n[0.9,1,null]\n").unwrap();
    drop(f);
    let opts = ReadOptions {
        lenient: false,
        max_line_bytes: 64 * 1024,
    };
    let mut r = SessionReader::open(&p, opts.clone()).unwrap();
    let err = r.collect_events().err().unwrap().to_string();
    assert!(
        err.contains(":9:") && err.contains("longer than the 65536 byte limit"),
        "{err}"
    );
    let mut r = SessionReader::open(
        &p,
        ReadOptions {
            lenient: true,
            ..opts
        },
    )
    .unwrap();
    let evs = r.collect_events().unwrap();
    assert_eq!(r.stats.skipped_count, 1);
    assert!(matches!(evs.last(), Some(Event::Sample(s)) if s.t_s == 0.9));
}

fn end_with(j: f64) -> SessionEnd {
    SessionEnd {
        t_s: 1.0,
        samples: 1,
        energy_j: [("gpu0".to_string(), j)].into_iter().collect(),
        sources: Vec::new(),
    }
}

#[test]
fn the_writer_refuses_what_the_reader_would_refuse_before_writing_it() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("v.jsonl");
    let mut twice = header();
    twice.channels[1].name = "gpu0".into();
    let e = SessionWriter::create(&p, &twice).err().unwrap().to_string();
    assert!(e.contains("declared twice"), "{e}");
    assert!(!p.exists(), "nothing is written for a refused header");
    for ms in [f64::INFINITY, 1e300, 0.0, -1.0, 1e-4] {
        let mut h = header();
        h.interval_ms = ms;
        let e = SessionWriter::create(&p, &h).err().unwrap().to_string();
        assert!(e.contains("out of range"), "{ms}: {e}");
    }
    let mut w = SessionWriter::create(&p, &header()).unwrap();
    for bad in [
        Event::Sample(Sample {
            t_s: 0.1,
            values: vec![Some(f64::INFINITY), None],
        }),
        Event::Sample(Sample {
            t_s: f64::NAN,
            values: vec![None, None],
        }),
        Event::End(end_with(f64::INFINITY)),
    ] {
        let e = w.write_event(&bad).err().unwrap().to_string();
        assert!(e.contains("v.jsonl") && e.contains("finite"), "{e}");
    }
    w.finish(Some(&end_with(5.0))).unwrap();
    let mut r = SessionReader::open(&p, ReadOptions::default()).unwrap();
    let evs = r.collect_events().unwrap();
    assert_eq!(evs.len(), 1, "only the good closing line was written");
    assert!(r.stats.clean_end);
}

#[test]
fn header_interval_out_of_range_is_refused_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("far.jsonl");
    let good = serde_json::to_string(&header()).unwrap();
    for ms in ["1e300", "0", "0.0001", "86400001"] {
        let h = good.replace("\"interval_ms\":100.0", &format!("\"interval_ms\":{ms}"));
        assert_ne!(h, good);
        std::fs::write(&p, format!("{h}\n[0.1,1,null]\n")).unwrap();
        let e = SessionReader::open(&p, ReadOptions::default())
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("far.jsonl:1:") && e.contains("out of range"),
            "{ms}: {e}"
        );
    }
}

#[test]
fn a_directory_and_an_endless_line_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let e = SessionReader::open(dir.path(), ReadOptions::default())
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("is a directory") && !e.contains("empty file"),
        "{e}"
    );
    if !Path::new("/dev/zero").exists() {
        println!("skipped the /dev/zero half: no /dev/zero here");
        assert!(
            std::env::var("TRAINWATT_REQUIRE_ALL").is_err(),
            "/dev/zero is required"
        );
        return;
    }
    for lenient in [false, true] {
        let opts = ReadOptions {
            lenient,
            max_line_bytes: 1 << 20,
        };
        let e = SessionReader::open(Path::new("/dev/zero"), opts)
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("/dev/zero:1:") && e.contains("longer than"),
            "{e}"
        );
    }
}

#[test]
fn a_full_device_names_the_file() {
    let full = Path::new("/dev/full");
    if !full.exists() {
        println!("skipped: no /dev/full here");
        assert!(
            std::env::var("TRAINWATT_REQUIRE_ALL").is_err(),
            "/dev/full is required"
        );
        return;
    }
    // The header is flushed at once: writing it fails, naming the file.
    let e = SessionWriter::create(full, &header())
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("/dev/full") && e.contains("No space left"),
        "{e}"
    );
}
