//! The trainwatt binary as the tests run it: never reading the tester's own
//! defaults file (`~/.config/trainwatt/config.toml`), so a developer's theme
//! or sources cannot change what a test sees. Tests of the config file point
//! `XDG_CONFIG_HOME` or `--config` at a file of their own.
#![allow(dead_code)]
use std::process::Command;

/// An `XDG_CONFIG_HOME` that holds no trainwatt folder.
pub const NO_CONFIG_HOME: &str = "/nonexistent/trainwatt-tests-config-home";

/// `trainwatt` with the user's config file out of the way.
pub fn trainwatt() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_trainwatt"));
    isolate(&mut c);
    c
}

/// Keep the user's config file away from `c` and what it starts.
pub fn isolate(c: &mut Command) -> &mut Command {
    c.env("XDG_CONFIG_HOME", NO_CONFIG_HOME)
        .env_remove("TRAINWATT_CONFIG")
}

/// The same for a shell command line (tmux panes, `sh -c`).
pub fn shell_prefix() -> String {
    format!("env -u TRAINWATT_CONFIG XDG_CONFIG_HOME={NO_CONFIG_HOME} ")
}
