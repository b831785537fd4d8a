//! A real Prometheus (Debian's package) scrapes two `trainwatt record
//! --listen` processes every second. What it stored must be what the
//! session files say at the same instants, for both devices, and its
//! `increase()` must be right across a recorder restart (a counter reset).
mod serve_support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use serve_support::{file_joules_at, free_port, get, skip_or_fail, wait_for, Recorder};

struct Prometheus {
    child: Child,
    port: u16,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    fn start(dir: &Path, targets: &[u16]) -> Prometheus {
        let port = free_port();
        let list: Vec<String> = targets.iter().map(|p| format!("'127.0.0.1:{p}'")).collect();
        let config = format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
             scrape_configs:\n  - job_name: trainwatt\n    static_configs:\n      - targets: [{}]\n",
            list.join(", ")
        );
        let cfg = dir.join("prometheus.yml");
        std::fs::write(&cfg, config).unwrap();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("prometheus.log")).unwrap())
            .spawn()
            .expect("start prometheus");
        Prometheus { child, port }
    }

    /// `/api/v1/query`, the result array.
    fn query(&self, q: &str, time: Option<f64>) -> Option<Vec<Value>> {
        let mut path = format!("/api/v1/query?query={}", encode(q));
        if let Some(t) = time {
            path += &format!("&time={t:.3}");
        }
        let r = get(self.port, &path, "").ok()?;
        let v: Value = serde_json::from_str(&r.body).ok()?;
        (v["status"] == "success").then(|| v["data"]["result"].as_array().cloned())?
    }

    /// Raw samples (timestamp, value) of one series over the last `window`.
    fn samples(&self, selector: &str, window: &str) -> Vec<(f64, f64)> {
        let r = self
            .query(&format!("{selector}[{window}]"), None)
            .unwrap_or_default();
        r.first()
            .and_then(|s| s["values"].as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|p| Some((p[0].as_f64()?, p[1].as_str()?.parse().ok()?)))
            .collect()
    }
}

fn encode(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'.' | b'-' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// (Prometheus timestamp, session elapsed s, energy J) of each scrape of `label`.
fn scrapes(p: &Prometheus, label: &str) -> Vec<(f64, f64, f64)> {
    let e = p.samples(
        &format!("trainwatt_energy_joules_total{{role=\"total\",label=\"{label}\"}}"),
        "2m",
    );
    let t = p.samples(
        &format!("trainwatt_session_elapsed_seconds{{label=\"{label}\"}}"),
        "2m",
    );
    e.iter()
        .filter_map(|(ts, j)| {
            let (_, el) = t.iter().find(|(ts2, _)| (ts2 - ts).abs() < 1e-6)?;
            Some((*ts, *el, *j))
        })
        .collect()
}

fn assert_close(what: &str, got: f64, want: f64) {
    let tol = (want.abs() * 0.02).max(0.5);
    assert!(
        (got - want).abs() <= tol,
        "{what}: Prometheus has {got:.3} J, the session file {want:.3} J (more than 2% apart)"
    );
}

fn check_against_file(what: &str, scraped: &[(f64, f64, f64)], file: &Path) {
    for (_, el, j) in scraped {
        let want = file_joules_at(file, *el).expect("energy in the file");
        assert_close(&format!("{what} at {el:.2} s"), *j, want);
    }
}

#[test]
fn prometheus_scrapes_two_recorders_and_increase_survives_a_restart() {
    if Command::new("prometheus")
        .arg("--version")
        .output()
        .is_err()
    {
        skip_or_fail("prometheus is not installed (apt-get install prometheus)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (pa, pb) = (free_port(), free_port());
    let a = Recorder::start(dir.path(), "dev-a", pa, &["--duration", "50s"]);
    let b1 = Recorder::start(dir.path(), "dev-b", pb, &["--duration", "50s"]);
    let prom = Prometheus::start(dir.path(), &[pa, pb]);
    let long = Duration::from_secs(30);
    wait_for("six scrapes of dev-b", long, || {
        (scrapes(&prom, "dev-b").len() >= 6).then_some(())
    });
    // Restart dev-b on the same port: a new session, its counters from 0.
    let b1_file = b1.stop();
    let b2_dir = dir.path().join("second");
    std::fs::create_dir_all(&b2_dir).unwrap();
    let b2 = Recorder::start(&b2_dir, "dev-b", pb, &["--duration", "50s"]);
    let split = |s: &[(f64, f64, f64)]| {
        let k = s.windows(2).position(|w| w[1].1 < w[0].1).map(|i| i + 1);
        k.map(|k| (s[..k].to_vec(), s[k..].to_vec()))
    };
    let (first, second) = wait_for("six scrapes of the restarted dev-b", long, || {
        let s = scrapes(&prom, "dev-b");
        split(&s).filter(|(_, b)| b.len() >= 6)
    });
    let a_scrapes = scrapes(&prom, "dev-a");
    assert!(
        a_scrapes.len() >= 12,
        "dev-a scraped {} times",
        a_scrapes.len()
    );
    // Both devices, each with its host and label.
    let series = prom
        .query("trainwatt_energy_joules_total{role=\"total\"}", None)
        .unwrap();
    let mut labels: Vec<String> = series
        .iter()
        .map(|s| {
            assert!(s["metric"]["host"].as_str().is_some_and(|h| !h.is_empty()));
            s["metric"]["label"].as_str().unwrap().to_string()
        })
        .collect();
    labels.sort();
    assert_eq!(labels, ["dev-a", "dev-b"]);
    // The files are read once complete (a running recorder's last second
    // may still be in its buffer).
    let b2_file = b2.stop();
    let a_file = a.stop();
    check_against_file("dev-a", &a_scrapes, &a_file);
    check_against_file("dev-b (first run)", &first, &b1_file);
    check_against_file("dev-b (restarted)", &second, &b2_file);
    // increase() over exactly the scraped span: no extrapolation at either end.
    let (t_first, t_last) = (first[0].0, second.last().unwrap().0);
    let window_ms = ((t_last - t_first) * 1000.0).round() as i64 + 1;
    let q = format!(
        "increase(trainwatt_energy_joules_total{{role=\"total\",label=\"dev-b\"}}[{window_ms}ms])"
    );
    let inc: f64 = prom.query(&q, Some(t_last)).unwrap()[0]["value"][1]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let e1 = |t| file_joules_at(&b1_file, t).unwrap();
    let want = e1(first.last().unwrap().1) - e1(first[0].1)
        + file_joules_at(&b2_file, second.last().unwrap().1).unwrap();
    assert_close("increase() across the restart", inc, want);
    let resets = prom
        .query(
            &format!("resets(trainwatt_energy_joules_total{{role=\"total\",label=\"dev-b\"}}[{window_ms}ms])"),
            Some(t_last),
        )
        .unwrap();
    assert_eq!(
        resets[0]["value"][1], "1",
        "Prometheus saw the counter reset"
    );
    eprintln!(
        "prometheus: dev-a {} scrapes, dev-b {}+{}; increase() {inc:.2} J, files {want:.2} J",
        a_scrapes.len(),
        first.len(),
        second.len()
    );
}
