//! `import tegrastats` names the board from the rails and RAM total of the
//! shared real logs (../shared/fixtures), where that is unambiguous, and says
//! "inferred"; skipped with a reason when the fixtures are absent (a failure
//! under TRAINWATT_REQUIRE_ALL=1).
#[path = "support/require.rs"]
mod require;
mod sensor_fixture_support;

use sensor_fixture_support::{shared_fixtures, teg};

#[test]
fn shared_tegrastats_logs_name_their_board_where_unambiguous() {
    let root = shared_fixtures();
    if !require::require(root.is_some(), "the shared fixtures (../shared/fixtures)") {
        return;
    }
    let root = root.unwrap().join("tegrastats");
    let cases: &[(&str, Option<&str>)] = &[
        ("nano_jp4_sudo_training.log", Some("NVIDIA Jetson Nano 4GB")),
        (
            "xavieragx32_jp5_ts_mW_localized_date_header_100ms.log",
            Some("NVIDIA Jetson AGX Xavier 32GB"),
        ),
        (
            "jetsontools/xavieragx_16gb_sudo_readall_epochprefix_5ms.log",
            Some("NVIDIA Jetson AGX Xavier 16GB"),
        ),
        (
            "agxorin64_jp6_ts_llm.log",
            Some("NVIDIA Jetson AGX Orin 64GB"),
        ),
        (
            "jetsontools/orinagx_32gb_sudo_readall_epochprefix_5ms.log",
            Some("NVIDIA Jetson AGX Orin 32GB"),
        ),
        (
            "jetsontools/orinnx_16gb_sudo_readall_epochprefix_5ms.log",
            Some("NVIDIA Jetson Orin NX 16GB"),
        ),
        (
            "xaviernx_jp5_ts_idle_sudo_short.log",
            Some("NVIDIA Jetson Xavier NX 8GB"),
        ),
        (
            "tx2_l4t32_sudo_with_prompt.log",
            Some("NVIDIA Jetson TX2 series 8GB (TX2 or TX2i)"),
        ),
        // Orin Nano 8GB and Orin NX 8GB share rails, RAM and core count.
        ("orinnanosuper_jp62_ts_sudo_noswap_vlm.log", None),
    ];
    for (rel, want) in cases {
        let p = root.join(rel);
        let imp = teg(&p, Some(1000.0)).unwrap_or_else(|e| panic!("{rel}: {e}"));
        assert_eq!(imp.header.device.model.as_deref(), *want, "{rel}");
        let notes = imp.header.notes.join("\n");
        match want {
            Some(_) => assert!(notes.contains("device model inferred"), "{rel}: {notes}"),
            None => assert!(
                notes.contains("device model not inferred"),
                "{rel}: {notes}"
            ),
        }
    }
}
