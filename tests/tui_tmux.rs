//! The real binary in a real terminal (tmux): `trainwatt replay` on a small
//! session written here, keys sent (pause, seek, speed, alignment, quit),
//! the screen read back, and the terminal checked restored after quitting.
//! Skipped with a message when tmux is not installed (a failure under
//! `TRAINWATT_REQUIRE_ALL=1`, as in CI).
#[path = "support/isolated.rs"]
mod isolated;
mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use support::{session, Spec};

/// Whether tmux runs here; skips with a message, or fails under
/// `TRAINWATT_REQUIRE_ALL=1`.
fn have_tmux() -> bool {
    support::require::require(support::require::runs("tmux", &["-V"]), "tmux")
}

struct Tmux {
    socket: String,
}

impl Tmux {
    fn cmd(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .arg("-f")
            .arg("/dev/null")
            .args(args)
            .output()
            .expect("run tmux");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn screen(&self) -> String {
        self.cmd(&["capture-pane", "-p", "-t", "tw"])
    }

    fn display(&self, what: &str) -> String {
        self.cmd(&["display-message", "-p", "-t", "tw", what])
            .trim()
            .to_string()
    }

    /// Poll the screen until `pred` holds (bounded: 20 s).
    fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let s = self.screen();
            if pred(&s) {
                return s;
            }
            if Instant::now() > deadline {
                panic!("timed out waiting for {what}; screen:\n{s}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "tw"];
        args.extend_from_slice(keys);
        self.cmd(&args);
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
    }
}

/// The replay clock shown in the status bar, in seconds ("0:01:05 / ...").
fn clock_s(screen: &str) -> Option<u64> {
    let line = screen.lines().rev().find(|l| l.contains(" / "))?;
    let before = line.split(" / ").next()?;
    let hms = before.split_whitespace().last()?;
    let mut it = hms.split(':').map(|x| x.parse::<u64>().ok());
    let (h, m, s) = (it.next()??, it.next()??, it.next()??);
    Some(h * 3600 + m * 60 + s)
}

#[test]
fn replay_in_tmux_answers_keys_and_restores_the_terminal() {
    if !have_tmux() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("nano.jsonl");
    let (h, evs) = session(&Spec::nano());
    support::write(&file, &h, &evs);
    let log = dir.path().join("tw.log");

    let t = Tmux {
        socket: format!("trainwatt-test-{}", std::process::id()),
    };
    t.cmd(&["new-session", "-d", "-s", "tw", "-x", "120", "-y", "40"]);
    t.cmd(&["set-option", "-t", "tw", "remain-on-exit", "on"]);
    // A shell that outlives trainwatt, so the terminal's modes can be read
    // after it quits (tmux resets them for a dead pane).
    let cmd = format!(
        "{}'{}' replay '{}' --log '{}'; echo trainwatt-exited-$?; sleep 60",
        isolated::shell_prefix(),
        env!("CARGO_BIN_EXE_trainwatt"),
        file.display(),
        log.display()
    );
    t.cmd(&["respawn-pane", "-k", "-t", "tw", &cmd]);

    let s = t.wait_for("the whole replay screen", |s| {
        s.contains("REPLAY ▶ 1×") && s.contains("q quit")
    });
    assert!(s.contains("board input"), "{s}");
    assert!(s.contains("energy"), "{s}");
    assert_eq!(
        t.display("#{alternate_on}"),
        "1",
        "the TUI uses the alternate screen"
    );

    t.keys(&["Space"]);
    let s = t.wait_for("pause", |s| s.contains("REPLAY ⏸ 1×"));
    let before = clock_s(&s).expect("clock in the status bar");

    t.keys(&["Right", "Right", "Right"]);
    let s = t.wait_for("seek +30 s", |s| clock_s(s) == Some(before + 30));
    assert!(s.contains("⏸"), "still paused after seeking:\n{s}");

    t.keys(&["Left"]);
    t.wait_for("seek -10 s", |s| clock_s(s) == Some(before + 20));

    t.keys(&["+", "+"]);
    t.wait_for("speed 4×", |s| s.contains("REPLAY ⏸ 4×"));
    t.keys(&["-"]);
    t.wait_for("speed 2×", |s| s.contains("REPLAY ⏸ 2×"));

    t.keys(&["a"]);
    t.wait_for("alignment by progress", |s| s.contains("align: progress"));

    t.keys(&["?"]);
    t.wait_for("help", |s| s.contains("pause / resume the replay"));
    t.keys(&["Escape"]);
    t.wait_for("help closed", |s| !s.contains("pause / resume the replay"));

    t.keys(&["q"]);
    let s = t.wait_for("trainwatt to exit", |s| s.contains("trainwatt-exited-"));
    assert!(s.contains("trainwatt-exited-0"), "exit status 0:\n{s}");
    assert_eq!(t.display("#{alternate_on}"), "0", "alternate screen left");
    assert_eq!(t.display("#{cursor_flag}"), "1", "cursor shown again");
    assert!(
        !s.contains("REPLAY"),
        "the TUI is gone from the screen:\n{s}"
    );
    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        log_text.contains("TUI closed"),
        "log file written: {log_text}"
    );
}

#[test]
fn sigterm_restores_the_terminal() {
    if !have_tmux() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("nano.jsonl");
    let (h, evs) = session(&Spec::nano());
    support::write(&file, &h, &evs);
    let t = Tmux {
        socket: format!("trainwatt-test-term-{}", std::process::id()),
    };
    t.cmd(&["new-session", "-d", "-s", "tw", "-x", "100", "-y", "30"]);
    t.cmd(&["set-option", "-t", "tw", "remain-on-exit", "on"]);
    let cmd = format!(
        "{}'{}' replay '{}' --log '{}'; echo trainwatt-exited-$?; sleep 60",
        isolated::shell_prefix(),
        env!("CARGO_BIN_EXE_trainwatt"),
        file.display(),
        dir.path().join("log").display()
    );
    t.cmd(&["respawn-pane", "-k", "-t", "tw", &cmd]);
    t.wait_for("the replay screen", |s| s.contains("REPLAY ▶ 1×"));
    // The pane's shell runs trainwatt as its child.
    let shell = t.display("#{pane_pid}");
    let out = Command::new("ps")
        .args(["-o", "pid=", "--ppid", &shell])
        .output()
        .unwrap();
    let pid = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(!pid.is_empty(), "trainwatt's pid");
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let s = t.wait_for("trainwatt to exit on SIGTERM", |s| {
        s.contains("trainwatt-exited-")
    });
    assert!(
        s.contains("trainwatt-exited-0"),
        "clean exit on SIGTERM:\n{s}"
    );
    assert_eq!(t.display("#{alternate_on}"), "0", "alternate screen left");
    assert_eq!(t.display("#{cursor_flag}"), "1", "cursor shown again");
}

/// When the terminal goes away (ssh drops, tmux is killed), trainwatt must
/// exit, not spin: crossterm's reader loops forever on a hung-up terminal.
#[test]
fn a_vanished_terminal_ends_the_program() {
    if !have_tmux() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("nano.jsonl");
    let (h, evs) = session(&Spec::nano());
    support::write(&file, &h, &evs);
    let t = Tmux {
        socket: format!("trainwatt-test-hup-{}", std::process::id()),
    };
    t.cmd(&["new-session", "-d", "-s", "tw", "-x", "100", "-y", "30"]);
    let cmd = format!(
        "exec {}'{}' replay '{}' --log '{}'",
        isolated::shell_prefix(),
        env!("CARGO_BIN_EXE_trainwatt"),
        file.display(),
        dir.path().join("log").display()
    );
    t.cmd(&["respawn-pane", "-k", "-t", "tw", &cmd]);
    t.wait_for("the replay screen", |s| s.contains("REPLAY ▶ 1×"));
    let pid: i32 = t.display("#{pane_pid}").parse().expect("trainwatt's pid");
    // Take the terminal away; the process must be gone soon after.
    let _ = Command::new("tmux")
        .args(["-L", &t.socket, "kill-server"])
        .status();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        // SAFETY: signal 0 only checks that the process exists.
        let alive = unsafe { libc::kill(pid, 0) } == 0
            && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .is_ok_and(|s| s.contains(") Z "));
        if !alive {
            break;
        }
        if std::time::Instant::now() > deadline {
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("trainwatt kept running after its terminal went away");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// The chart keys in the real binary: `w` (time window), `z` (zoom), `s`
/// (shared scale), `e` (the study's picture), two replayed sessions.
#[test]
fn chart_keys_in_tmux() {
    if Command::new("tmux").arg("-V").output().is_err() {
        eprintln!("skipping: tmux is not installed");
        assert!(
            std::env::var("TRAINWATT_REQUIRE_ALL").as_deref() != Ok("1"),
            "TRAINWATT_REQUIRE_ALL=1 but tmux is not installed"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let nano = dir.path().join("nano.jsonl");
    let (h, evs) = session(&Spec::nano());
    support::write(&nano, &h, &evs);
    let server = dir.path().join("server.jsonl");
    let (h, evs) = session(&Spec::server());
    support::write(&server, &h, &evs);
    let t = Tmux {
        socket: format!("trainwatt-keys-{}", std::process::id()),
    };
    t.cmd(&["new-session", "-d", "-s", "tw", "-x", "120", "-y", "40"]);
    let cmd = format!(
        "{}'{}' replay '{}' '{}'",
        isolated::shell_prefix(),
        env!("CARGO_BIN_EXE_trainwatt"),
        nano.display(),
        server.display()
    );
    t.cmd(&["respawn-pane", "-k", "-t", "tw", &cmd]);
    t.wait_for("the chart", |s| {
        s.contains("whole run") && s.contains("W from 0")
    });
    // Some training progress first.
    t.wait_for("5 s of replay", |s| clock_s(s).is_some_and(|c| c >= 5));
    t.keys(&["w"]);
    t.wait_for("the 1 min window", |s| s.contains("last 1 min"));
    t.keys(&["w", "w", "w"]);
    t.wait_for("back to the whole run", |s| s.contains("whole run"));
    t.keys(&["z"]);
    t.wait_for("zoomed axis", |s| s.contains("W zoomed (z)"));
    t.keys(&["z", "s"]);
    t.wait_for("shared scale", |s| {
        s.matches("W from 0, shared").count() == 2
    });
    t.keys(&["e"]);
    t.wait_for("the study's picture", |s| {
        s.contains("energy and time against training progress")
    });
    t.keys(&["e", "?"]);
    t.wait_for("the keys in help", |s| {
        s.contains("both panes on one power scale")
            && s.contains("energy and time against progress")
    });
    t.keys(&["Escape", "q"]);
}
