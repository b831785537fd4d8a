//! `trainwatt replay` errors a user can hit: each is one clear message,
//! printed before the terminal is taken over.
#[path = "support/isolated.rs"]
mod isolated;

fn replay(args: &[&str]) -> (i32, String) {
    let out = isolated::trainwatt()
        .arg("replay")
        .args(args)
        .args(["--log", "/dev/null"])
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn missing_file_names_it() {
    let (code, err) = replay(&["/nonexistent/nano.jsonl"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("/nonexistent/nano.jsonl: cannot open"),
        "{err}"
    );
}

#[test]
fn malformed_line_names_file_and_line_and_the_way_out() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bad.jsonl");
    let h = trainwatt::record::Header::new(
        vec![trainwatt::model::sample::Channel::power(
            "cpu",
            trainwatt::model::sample::Scope::Estimate,
            trainwatt::model::sample::Role::Total,
            "cpu_estimate",
        )],
        100.0,
    );
    let text = format!(
        "{}\n[0.0,1.0]\n[0.1,oops]\n[0.2,1.0]\n",
        serde_json::to_string(&h).unwrap()
    );
    std::fs::write(&p, text).unwrap();
    let (code, err) = replay(&[p.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("bad.jsonl:3:"), "{err}");
    assert!(err.contains("--lenient"), "{err}");
}

#[test]
fn bad_theme_file_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let theme = dir.path().join("mine.toml");
    std::fs::write(&theme, "name = \"mine\"\npower = \"ultraviolet\"\n").unwrap();
    let session = dir.path().join("s.jsonl");
    let h = trainwatt::record::Header::new(Vec::new(), 100.0);
    std::fs::write(&session, serde_json::to_string(&h).unwrap() + "\n").unwrap();
    let (code, err) = replay(&[
        session.to_str().unwrap(),
        "--theme",
        theme.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(
        err.contains("mine.toml:2: `power`: `ultraviolet` is not a colour"),
        "{err}"
    );
}

#[test]
fn speed_out_of_range_says_the_range() {
    let (code, err) = replay(&["x.jsonl", "--speed", "100"]);
    assert_eq!(code, 2);
    assert!(err.contains("0.25 to 64"), "{err}");
}

#[test]
fn help_has_an_example() {
    let out = isolated::trainwatt()
        .args(["replay", "--help"])
        .output()
        .unwrap();
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(s.contains("Examples:"), "{s}");
    assert!(s.contains("--align"), "{s}");
}
