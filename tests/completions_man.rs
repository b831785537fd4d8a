//! `trainwatt completions SHELL` and `trainwatt man`: every subcommand is in
//! each script and in the manual page; the bash script is valid bash.
#[path = "support/isolated.rs"]
mod isolated;
use std::process::Command;

fn bin() -> Command {
    isolated::trainwatt()
}

/// The subcommands `trainwatt --help` lists (help excluded).
fn subcommands() -> Vec<String> {
    let o = bin().arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&o.stdout).into_owned();
    let v: Vec<String> = help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter(|l| !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .filter(|c| c != "help")
        .collect();
    assert!(v.len() >= 8, "{help}");
    v
}

fn run(args: &[&str]) -> String {
    let o = bin().args(args).output().unwrap();
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

#[test]
fn each_completion_script_names_every_subcommand() {
    let subs = subcommands();
    for shell in ["bash", "zsh", "fish"] {
        let text = run(&["completions", shell]);
        assert!(!text.trim().is_empty(), "{shell}: empty");
        for c in &subs {
            assert!(text.contains(c.as_str()), "{shell} script lacks `{c}`");
        }
        assert!(text.contains("carbon-intensity"), "{shell}: global flags");
    }
}

#[test]
fn bash_completion_parses() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("trainwatt.bash");
    std::fs::write(&f, run(&["completions", "bash"])).unwrap();
    match Command::new("bash").arg("-n").arg(&f).output() {
        Ok(o) => assert!(
            o.status.success(),
            "bash -n: {}",
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => {
            eprintln!("skipped: bash not runnable ({e})");
            assert!(
                std::env::var("TRAINWATT_REQUIRE_ALL").as_deref() != Ok("1"),
                "bash required"
            );
        }
    }
}

#[test]
fn man_page_is_roff_and_lists_subcommands() {
    let text = run(&["man"]);
    let th = text
        .lines()
        .find(|l| l.starts_with(".TH "))
        .expect(".TH header");
    assert!(th.contains("trainwatt"), "{th}");
    for c in subcommands() {
        assert!(
            text.contains(&format!("trainwatt\\-{c}")) || text.contains(c.as_str()),
            "man lacks `{c}`"
        );
    }
    assert!(text.contains(".SH"), "sections");
}

#[test]
fn unknown_shell_is_refused() {
    let o = bin().args(["completions", "tcsh"]).output().unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("bash"));
}
