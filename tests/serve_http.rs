//! `record --listen` over loopback: the refusals (401, 404, 405, 413, 431,
//! 429), `promtool check metrics`, and `/session` streamed into a pane's
//! fold, through a connection that is cut mid-stream.
mod serve_support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serve_support::{free_port, get, request, skip_or_fail, wait_for, Recorder};
use trainwatt::app::PaneFeed;
use trainwatt::model::event::Event;
use trainwatt::model::fold::SessionFold;
use trainwatt::record::{ReadOptions, SessionReader};

#[test]
fn every_refusal_has_its_status() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "s3cret\n").unwrap();
    let port = free_port();
    let rec = Recorder::start(
        dir.path(),
        "guarded",
        port,
        &[
            "--listen-token-file",
            token_file.to_str().unwrap(),
            "--listen-max-clients",
            "3",
            "--duration",
            "40s",
        ],
    );
    let auth = "Authorization: Bearer s3cret\r\n";
    for path in ["/metrics", "/session", "/healthz", "/", "/nope"] {
        let r = get(port, path, "").unwrap();
        assert_eq!(r.status, 401, "{path} without a token");
        let r = get(port, path, "Authorization: Bearer s3creT\r\n").unwrap();
        assert_eq!(r.status, 401, "{path} with the wrong token");
    }
    wait_for("a snapshot", Duration::from_secs(10), || {
        (get(port, "/metrics", auth).ok()?.status == 200).then_some(())
    });
    let r = get(port, "/nope", auth).unwrap();
    assert_eq!(r.status, 404);
    assert!(r.body.contains("GET / lists them"), "{}", r.body);
    let r = get(port, "/", auth).unwrap();
    assert!(r.body.contains("/metrics") && r.body.contains("?from=N"));
    let r = request(
        port,
        &format!("POST /metrics HTTP/1.0\r\n{auth}Content-Length: 0\r\n\r\n"),
    )
    .unwrap();
    assert_eq!(r.status, 405);
    assert!(r.head.to_ascii_lowercase().contains("allow: get, head"));
    let r = request(
        port,
        &format!("GET /metrics HTTP/1.0\r\n{auth}Content-Length: 5\r\n\r\nhello"),
    )
    .unwrap();
    assert_eq!(r.status, 413);
    let big = "x".repeat(10_000);
    let r = get(port, "/metrics", &format!("{auth}X-Big: {big}\r\n")).unwrap();
    assert_eq!(r.status, 431);
    // Three streams hold every client slot: the fourth is told to come back.
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.write_all(format!("GET /session HTTP/1.1\r\nHost: x\r\n{auth}\r\n").as_bytes())
            .unwrap();
        let mut first = [0u8; 12];
        s.read_exact(&mut first).unwrap();
        assert_eq!(&first, b"HTTP/1.1 200");
        held.push(s);
    }
    let r = get(port, "/metrics", auth).unwrap();
    assert_eq!(r.status, 429, "{}", r.head);
    drop(held);
    wait_for("a free slot again", Duration::from_secs(10), || {
        (get(port, "/metrics", auth).ok()?.status == 200).then_some(())
    });
    drop(rec);
}

#[test]
fn session_on_stdout_answers_404_and_says_to_record_to_a_file() {
    let port = free_port();
    let mut child = serve_support::isolated::trainwatt()
        .args([
            "record",
            "--no-train",
            "--source",
            "estimate",
            "-q",
            "--stdout",
        ])
        .args(["--duration", "20s", "--listen", &port.to_string()])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let r = wait_for("the server", Duration::from_secs(15), || {
        get(port, "/session", "").ok()
    });
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(r.status, 404);
    assert!(r.body.contains("record to a file"), "{}", r.body);
}

#[test]
fn promtool_accepts_the_metrics() {
    let Ok(out) = std::process::Command::new("promtool")
        .arg("--version")
        .output()
    else {
        skip_or_fail("promtool is not installed (apt-get install prometheus)");
        return;
    };
    assert!(out.status.success());
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let rec = Recorder::start(dir.path(), "lint", port, &["--duration", "30s"]);
    let text = wait_for("metrics with energy", Duration::from_secs(10), || {
        let r = get(port, "/metrics", "").ok()?;
        r.body.contains("trainwatt_power_watts{").then_some(r.body)
    });
    let om = get(port, "/metrics", "Accept: application/openmetrics-text\r\n").unwrap();
    assert!(om.head.contains("application/openmetrics-text"));
    assert!(om.body.ends_with("# EOF\n"));
    drop(rec);
    let check = |body: &str| {
        let mut p = std::process::Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        p.stdin.take().unwrap().write_all(body.as_bytes()).unwrap();
        p.wait_with_output().unwrap()
    };
    let out = check(&text);
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A loopback proxy that cuts its first connection after `cut_after` bytes
/// from the server, and passes later ones through.
fn cutting_proxy(upstream: u16, cut_after: usize) -> (u16, Arc<AtomicBool>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let cut_done = Arc::new(AtomicBool::new(false));
    let flag = cut_done.clone();
    std::thread::spawn(move || {
        for (n, client) in l.incoming().enumerate() {
            let Ok(mut client) = client else { return };
            let Ok(mut server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                return;
            };
            let (mut c2, mut s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut c2, &mut s2);
            });
            let flag = flag.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 997];
                let mut sent = 0;
                loop {
                    let k = match server.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(k) => k,
                    };
                    if n == 0 && sent + k > cut_after {
                        let _ = client.write_all(&buf[..cut_after - sent]);
                        let _ = client.shutdown(std::net::Shutdown::Both);
                        let _ = server.shutdown(std::net::Shutdown::Both);
                        flag.store(true, Ordering::SeqCst);
                        return;
                    }
                    if client.write_all(&buf[..k]).is_err() {
                        break;
                    }
                    sent += k;
                }
                let _ = client.shutdown(std::net::Shutdown::Both);
            });
        }
    });
    (port, cut_done)
}

fn sample_times(events: &[Event]) -> Vec<f64> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Sample(s) => Some(s.t_s),
            _ => None,
        })
        .collect()
}

#[test]
fn the_remote_pane_sees_energy_grow_and_resumes_a_cut_stream_without_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let rec = Recorder::start(dir.path(), "remote", port, &["--duration", "7s"]);
    // Cut in the middle of a line, about a second of samples in.
    let (proxy, cut) = cutting_proxy(port, 1500);
    let url = format!("http://127.0.0.1:{proxy}/session");
    let PaneFeed::Live { header, rx } = PaneFeed::from_url(&url, None).unwrap() else {
        panic!("a stream is a live feed");
    };
    assert_eq!(header.label.as_deref(), Some("remote"));
    let mut fold = SessionFold::new(&header);
    let mut events = Vec::new();
    let mut energy_seen = Vec::new();
    let start = Instant::now();
    while let Ok(ev) = rx.recv_timeout(Duration::from_secs(20)) {
        fold.apply(&ev);
        events.push(ev);
        if let Some(j) = fold.joules() {
            energy_seen.push((start.elapsed().as_secs_f64(), j));
        }
    }
    assert!(
        cut.load(Ordering::SeqCst),
        "the proxy cut the first connection"
    );
    assert!(fold.clean_end(), "the stream ran to the closing line");
    let (t0, j0) = energy_seen[0];
    let (t1, j1) = *energy_seen.last().unwrap();
    assert!(
        t1 - t0 > 3.0 && j1 > j0,
        "energy grew live: {j0} J → {j1} J"
    );
    let file = rec.stop();
    let mut r = SessionReader::open(&file, ReadOptions::default()).unwrap();
    let in_file = r.collect_events().unwrap();
    let (got, want) = (sample_times(&events), sample_times(&in_file));
    assert!(got.windows(2).all(|w| w[1] > w[0]), "no sample twice");
    assert_eq!(got, want, "every sample of the file, once, in order");
    assert_eq!(events.len(), in_file.len());
}

#[test]
fn the_dashboard_queries_are_valid_promql_over_served_metrics() {
    let dash: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/dashboards/trainwatt.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let exprs: Vec<String> = dash["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().unwrap().clone())
        .map(|t| t["expr"].as_str().unwrap().replace("$device", ".*"))
        .collect();
    assert!(exprs.len() >= 10);
    let served = trainwatt::serve::metrics::render(
        &sample_snapshot(),
        trainwatt::serve::metrics::SelfCost::read(),
        trainwatt::serve::metrics::Format::Text,
    );
    for e in &exprs {
        let names = e
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| w.starts_with("trainwatt_"));
        for n in names {
            assert!(served.contains(&format!("\n{n}{{")), "{n} is not served");
        }
    }
    if std::process::Command::new("promtool")
        .arg("--version")
        .output()
        .is_err()
    {
        skip_or_fail("promtool is not installed (apt-get install prometheus)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (i, e) in exprs.iter().enumerate() {
        rules += &format!(
            "      - record: dashboard:q{i}\n        expr: '{}'\n",
            e.replace('\'', "''")
        );
    }
    let f = dir.path().join("rules.yml");
    std::fs::write(&f, rules).unwrap();
    let out = std::process::Command::new("promtool")
        .args(["check", "rules"])
        .arg(&f)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every figure known, so every metric family is written.
fn sample_snapshot() -> trainwatt::serve::snapshot::MetricsSnapshot {
    use trainwatt::model::event::{Event, TrainConfig, TrainEvent};
    use trainwatt::model::sample::{Channel, Role, Sample, Scope};
    let mut h = trainwatt::record::Header::bare(
        vec![Channel::power("gpu0", Scope::GpuOnly, Role::Total, "nvml")],
        100.0,
    );
    h.train = Some(TrainConfig {
        model: "resnet18".into(),
        dataset: "synthetic:64".into(),
        epochs: Some(2),
        steps_per_epoch: Some(10),
        ..Default::default()
    });
    let mut f = SessionFold::new(&h);
    f.apply(&Event::Train(TrainEvent::RunStart {
        t_s: 0.0,
        config: h.train.clone().unwrap(),
    }));
    for i in 0..=20 {
        f.apply(&Event::Sample(Sample {
            t_s: i as f64 * 0.1,
            values: vec![Some(100.0)],
        }));
    }
    f.apply(&Event::Train(TrainEvent::EpochEnd {
        t_s: 2.0,
        epoch: 1,
        train_loss: Some(1.0),
        train_acc: None,
        val_acc: Some(0.5),
        images: Some(64),
    }));
    f.apply(&Event::Train(TrainEvent::Step {
        t_s: 2.0,
        epoch: 2,
        step: 1,
        steps_per_epoch: Some(10),
        loss: Some(0.9),
        images_per_s: None,
        images: Some(72),
    }));
    trainwatt::serve::snapshot::MetricsSnapshot::from_fold(&f, 0)
}
