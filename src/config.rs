//! The defaults file: `--config FILE`, else `$TRAINWATT_CONFIG`, else
//! `$XDG_CONFIG_HOME/trainwatt/config.toml` (`~/.config/trainwatt/config.toml`).
//!
//! Each key is the default of one command-line flag ([`KEYS`]): the file's
//! values become clap's defaults before the command line is parsed, so a flag
//! given on the command line always wins, `--help` shows the default in
//! effect, and a value is checked by the same parser as the flag's. Unknown
//! keys and bad values are errors naming the file and line. Relative paths in
//! the file are taken from the file's own folder, and `~/` from `$HOME`.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use toml::{Spanned, Value};

/// How a key's value is read.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    /// Text or a number, given to the flag as written.
    Plain,
    /// A file: relative to the config file's folder.
    Path,
    /// A built-in theme name, or a theme file (relative to the config file).
    Theme,
    /// A session file, `-` (standard input) or an `http://` address.
    Compare,
    /// A program: a name looked up on PATH, or a path (with a `/`).
    Program,
}

/// One key of the file: the flag it sets and the commands that have it (an
/// empty list: the top-level flag, which every command takes).
#[derive(Debug)]
pub struct Key {
    pub name: &'static str,
    /// The clap id of the flag (the field name in `cli`/`cmd`).
    pub arg: &'static str,
    pub commands: &'static [&'static str],
    kind: Kind,
    /// The line the README's example shows.
    pub example: &'static str,
}

const TUI: &[&str] = &["watch", "replay"];
const RUN: &[&str] = &["watch", "record", "sweep"];
const SENSE: &[&str] = &["watch", "record", "sweep", "sources"];
const TRAIN: &[&str] = &["watch", "record", "sweep", "train"];
const SERVE: &[&str] = &["watch", "record"];

/// Every key the file may hold, in the order the example lists them.
#[rustfmt::skip]
pub const KEYS: &[Key] = &[
    Key { name: "theme", arg: "theme", commands: TUI, kind: Kind::Theme, example: "theme = \"light\"                 # or a theme file: \"themes/solarized.toml\"" },
    Key { name: "align", arg: "align", commands: TUI, kind: Kind::Plain, example: "align = \"progress\"              # time | progress" },
    Key { name: "speed", arg: "speed", commands: TUI, kind: Kind::Plain, example: "speed = 4                        # replay speed" },
    Key { name: "compare", arg: "compare", commands: &["watch"], kind: Kind::Compare, example: "compare = \"~/sessions/server-bs32.jsonl\"   # or \"http://gpu-server:9464/session\"" },
    Key { name: "source", arg: "source", commands: SENSE, kind: Kind::Plain, example: "source = \"ina3221@10,rapl@50\"   # power sources, each with its own interval" },
    Key { name: "interval_ms", arg: "interval_ms", commands: SENSE, kind: Kind::Plain, example: "interval_ms = 100" },
    Key { name: "cpu_idle_w", arg: "cpu_idle_w", commands: SENSE, kind: Kind::Plain, example: "cpu_idle_w = 8                   # the CPU estimate's idle watts" },
    Key { name: "cpu_tdp_w", arg: "cpu_tdp_w", commands: SENSE, kind: Kind::Plain, example: "cpu_tdp_w = 45                   # and its full-load watts" },
    Key { name: "idle_calibration", arg: "idle_calibration", commands: RUN, kind: Kind::Plain, example: "idle_calibration = \"30s\"        # measure the idle floor first" },
    Key { name: "label", arg: "label", commands: RUN, kind: Kind::Plain, example: "label = \"lab-nano-3\"" },
    Key { name: "trainer", arg: "trainer", commands: TRAIN, kind: Kind::Plain, example: "trainer = \"python\"              # tch | python | auto" },
    Key { name: "python", arg: "python", commands: TRAIN, kind: Kind::Program, example: "python = \"/usr/bin/python3\"     # the Python with PyTorch" },
    Key { name: "listen", arg: "listen", commands: SERVE, kind: Kind::Plain, example: "listen = \"0.0.0.0:9464\"         # serve /metrics and /session" },
    Key { name: "listen_token_file", arg: "listen_token_file", commands: SERVE, kind: Kind::Path, example: "listen_token_file = \"~/.config/trainwatt/token\"" },
    Key { name: "carbon_intensity", arg: "carbon_intensity", commands: &[], kind: Kind::Plain, example: "carbon_intensity = 400           # g CO2e per kWh (your figure)" },
    Key { name: "price", arg: "price", commands: &[], kind: Kind::Plain, example: "price = 0.25                     # per kWh" },
    Key { name: "currency", arg: "currency", commands: &[], kind: Kind::Plain, example: "currency = \"EUR\"" },
];

/// One value set in the file: the flag's text and the line it is on.
#[derive(Debug, Clone)]
pub struct Entry {
    pub key: &'static Key,
    pub value: String,
    pub line: usize,
}

/// The config in effect: the file it came from (none when the default file
/// is absent) and the values it sets, in the file's order.
#[derive(Debug, Default, Clone)]
pub struct Config {
    pub path: Option<PathBuf>,
    pub entries: Vec<Entry>,
}

impl Config {
    /// The text a key was set to, if it was.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|e| e.key.name == name)
            .map(|e| e.value.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{}: cannot read the config file: {source}; fix its permissions or point --config elsewhere", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}:{line}: {message}; fix or remove that line (keys: {})", path.display(), key_names())]
    Parse {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{}:{line}: {key} = {value}: {message}; fix the value or remove that line", path.display())]
    Value {
        path: PathBuf,
        line: usize,
        key: &'static str,
        value: String,
        message: String,
    },
}

/// Every key, comma-separated.
pub fn key_names() -> String {
    KEYS.iter().map(|k| k.name).collect::<Vec<_>>().join(", ")
}

/// The file to read: `explicit` (from `--config`), else `$TRAINWATT_CONFIG`,
/// else the XDG location; `required` says whether a missing file is an error.
pub fn locate(explicit: Option<&Path>) -> Option<(PathBuf, bool)> {
    if let Some(p) = explicit {
        return Some((p.to_path_buf(), true));
    }
    if let Some(p) = std::env::var_os("TRAINWATT_CONFIG").filter(|p| !p.is_empty()) {
        return Some((PathBuf::from(p), true));
    }
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| home().map(|h| h.join(".config")))?;
    Some((base.join("trainwatt").join("config.toml"), false))
}

fn home() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

/// `--config FILE` or `--config=FILE` among the arguments, before `--` (what
/// follows is the user's own training command).
pub fn explicit_path(args: &[std::ffi::OsString]) -> Option<PathBuf> {
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        let s = a.to_string_lossy();
        if s == "--" {
            break;
        }
        if s == "--config" {
            return it.next().map(PathBuf::from);
        }
        if let Some(rest) = s.strip_prefix("--config=") {
            return Some(PathBuf::from(rest));
        }
    }
    None
}

/// Parse `text` read from `path`: every key known, every value a string or a
/// number, paths resolved (values are checked against their flags by [`apply`]).
/// A key twice is refused by the TOML parser itself.
pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
    let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
    // Keys and values with their spans, so an unknown key or a bad value
    // names its line.
    let table: BTreeMap<Spanned<String>, Spanned<Value>> =
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            line: e.span().map(|s| line_of(s.start)).unwrap_or(1),
            message: e.message().to_string(),
        })?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut entries = Vec::new();
    for (name, v) in &table {
        let Some(key) = KEYS.iter().find(|k| k.name == name.get_ref()) else {
            return Err(ConfigError::Parse {
                path: path.to_path_buf(),
                line: line_of(name.span().start),
                message: format!("unknown key `{}`", name.get_ref()),
            });
        };
        let line = line_of(v.span().start);
        let bad = |message: String| ConfigError::Value {
            path: path.to_path_buf(),
            line,
            key: key.name,
            value: v.get_ref().to_string(),
            message,
        };
        let text = match v.get_ref() {
            Value::String(s) if s.trim().is_empty() => {
                return Err(bad(
                    "empty; remove the line to use the built-in default".into()
                ))
            }
            Value::String(s) => s.clone(),
            Value::Integer(i) => i.to_string(),
            Value::Float(f) => f.to_string(),
            other => {
                return Err(bad(format!(
                    "a {} where a string or a number goes",
                    other.type_str()
                )))
            }
        };
        entries.push(Entry {
            key,
            value: resolve(key.kind, &text, dir),
            line,
        });
    }
    entries.sort_by_key(|e| e.line);
    Ok(Config {
        path: Some(path.to_path_buf()),
        entries,
    })
}

/// A path as written in the file, made absolute the way a user means it.
fn resolve(kind: Kind, text: &str, dir: &Path) -> String {
    let is_path = match kind {
        Kind::Plain => false,
        Kind::Path => true,
        Kind::Theme => text.contains('/') || text.ends_with(".toml"),
        Kind::Compare => text != "-" && !text.contains("://"),
        Kind::Program => text.contains('/'),
    };
    if !is_path {
        return text.to_string();
    }
    let p = match text.strip_prefix("~/") {
        Some(rest) => match home() {
            Some(h) => h.join(rest),
            None => PathBuf::from(text),
        },
        None => PathBuf::from(text),
    };
    if p.is_absolute() {
        p.display().to_string()
    } else {
        dir.join(p).display().to_string()
    }
}

/// The config in effect: the located file, or none when the default file is absent.
pub fn load(explicit: Option<&Path>) -> Result<Config, ConfigError> {
    let Some((path, required)) = locate(explicit) else {
        return Ok(Config::default());
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => parse(&path, &text),
        Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
        Err(source) => Err(ConfigError::Read { path, source }),
    }
}

/// `cmd` with the file's values as the defaults of their flags, each checked
/// first by the flag's own parser (and a theme by loading it).
pub fn apply(config: &Config, mut cmd: clap::Command) -> Result<clap::Command, ConfigError> {
    let path = config.path.clone().unwrap_or_default();
    for e in &config.entries {
        let bad = |message: String| ConfigError::Value {
            path: path.clone(),
            line: e.line,
            key: e.key.name,
            value: format!("{:?}", e.value),
            message,
        };
        if e.key.kind == Kind::Theme {
            crate::ui::theme::Theme::load(&e.value).map_err(|t| bad(t.to_string()))?;
        }
        if e.key.commands.is_empty() {
            check(&cmd, e.key.arg, &e.value).map_err(&bad)?;
            let v = e.value.clone();
            cmd = cmd.mut_arg(e.key.arg, |a| with_default(a, v));
            continue;
        }
        for name in e.key.commands {
            let Some(sub) = cmd.find_subcommand(name) else {
                return Err(bad(format!("internal: trainwatt has no command `{name}`")));
            };
            check(sub, e.key.arg, &e.value).map_err(&bad)?;
            let v = e.value.clone();
            cmd = cmd.mut_subcommand(name, |s| s.mut_arg(e.key.arg, |a| with_default(a, v)));
        }
    }
    Ok(cmd)
}

/// `a` with the default `v`, and without the "[default: …]" its help text
/// gives for the built-in default (clap shows the one in effect).
fn with_default(a: clap::Arg, v: String) -> clap::Arg {
    fn strip(help: &clap::builder::StyledStr) -> String {
        let h = help.to_string();
        let Some(i) = h.find("[default: ") else {
            return h;
        };
        match h[i..].find(']') {
            Some(j) => format!("{}{}", h[..i].trim_end(), &h[i + j + 1..]),
            None => h,
        }
    }
    let help = a.get_help().map(strip);
    let long = a.get_long_help().map(strip);
    let mut a = a.default_value(v);
    if let Some(h) = help {
        a = a.help(h);
    }
    if let Some(h) = long {
        a = a.long_help(h);
    }
    a
}

/// Run `value` through the parser of `--arg` on `owner`, as if given on the
/// command line (a message without clap's "error:" and usage lines).
fn check(owner: &clap::Command, arg: &str, value: &str) -> Result<(), String> {
    let Some(a) = owner.get_arguments().find(|a| a.get_id() == arg) else {
        return Err(format!(
            "internal: `{}` has no flag {arg}",
            owner.get_name()
        ));
    };
    let long = a.get_long().unwrap_or(arg);
    // The flag alone: its parser, long name and value name, none of its
    // relations to the other flags.
    let mut probe = clap::Arg::new("value")
        .long(long.to_string())
        .num_args(1)
        .value_parser(a.get_value_parser().clone());
    if let Some(names) = a.get_value_names() {
        probe = probe.value_names(names.iter().cloned());
    }
    clap::Command::new(owner.get_name().to_string())
        .no_binary_name(true)
        .disable_help_flag(true)
        .arg(probe)
        .try_get_matches_from([format!("--{long}={value}")])
        .map(|_| ())
        .map_err(|e| {
            e.to_string()
                .lines()
                .map(|l| l.trim().trim_start_matches("error: "))
                .filter(|l| {
                    !l.is_empty()
                        && !l.starts_with("For more information")
                        && !l.starts_with("Usage:")
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
}

/// A commented example holding every key (`trainwatt config --example`).
pub fn example() -> String {
    let mut s = String::from(
        "# trainwatt defaults: each key is the default of the flag of the same name\n\
         # (dashes as underscores); a flag on the command line wins.\n",
    );
    for k in KEYS {
        s.push_str("# ");
        s.push_str(k.example);
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_factors() {
        let c = parse(
            Path::new("c.toml"),
            "carbon_intensity = 400\nprice = 0.25\ncurrency = \"EUR\"\n",
        )
        .unwrap();
        assert_eq!(c.get("carbon_intensity"), Some("400"));
        assert_eq!(c.get("price"), Some("0.25"));
        assert_eq!(c.get("currency"), Some("EUR"));
        assert_eq!(c.entries[1].line, 2);
    }

    #[test]
    fn unknown_key_names_file_and_line() {
        let e = parse(Path::new("c.toml"), "price = 0.25\n\ncarbon = 400\n").unwrap_err();
        let m = e.to_string();
        assert!(m.starts_with("c.toml:3:"), "{m}");
        assert!(m.contains("carbon"), "{m}");
        assert!(m.contains("carbon_intensity"), "lists the keys: {m}");
    }

    #[test]
    fn a_table_or_an_empty_value_names_file_and_line() {
        let e = parse(Path::new("c.toml"), "currency = \"EUR\"\nprice = [1]\n").unwrap_err();
        assert!(e.to_string().starts_with("c.toml:2: price = [1]"), "{e}");
        let e = parse(Path::new("c.toml"), "\nlabel = \" \"\n").unwrap_err();
        assert!(e.to_string().starts_with("c.toml:2: label"), "{e}");
    }

    #[test]
    fn explicit_file_missing_is_an_error() {
        let e = load(Some(Path::new("/nonexistent/trainwatt.toml"))).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/trainwatt.toml"), "{e}");
    }

    #[test]
    fn paths_are_taken_from_the_config_files_folder() {
        let c = parse(
            Path::new("/etc/tw/config.toml"),
            "compare = \"nano.jsonl\"\ntheme = \"dark\"\npython = \"python3\"\nlisten_token_file = \"/run/token\"\n",
        )
        .unwrap();
        assert_eq!(c.get("compare"), Some("/etc/tw/nano.jsonl"));
        assert_eq!(c.get("theme"), Some("dark"), "a built-in name stays a name");
        assert_eq!(c.get("python"), Some("python3"), "a program stays on PATH");
        assert_eq!(c.get("listen_token_file"), Some("/run/token"));
        let c = parse(Path::new("c.toml"), "compare = \"http://h:9464/session\"\n").unwrap();
        assert_eq!(c.get("compare"), Some("http://h:9464/session"));
    }

    #[test]
    fn explicit_path_is_found_before_the_users_command() {
        let a = |v: &[&str]| v.iter().map(std::ffi::OsString::from).collect::<Vec<_>>();
        assert_eq!(
            explicit_path(&a(&["tw", "watch", "--config", "x.toml"])),
            Some(PathBuf::from("x.toml"))
        );
        assert_eq!(
            explicit_path(&a(&["tw", "--config=y.toml", "record"])),
            Some(PathBuf::from("y.toml"))
        );
        assert_eq!(
            explicit_path(&a(&["tw", "watch", "--", "app", "--config", "z"])),
            None
        );
    }

    #[test]
    fn the_example_parses_once_uncommented() {
        let text: String = example()
            .lines()
            .filter_map(|l| l.strip_prefix("# "))
            .filter(|l| l.contains(" = "))
            .map(|l| format!("{l}\n"))
            .collect();
        let c = parse(Path::new("/x/c.toml"), &text).unwrap();
        assert_eq!(c.entries.len(), KEYS.len());
    }
}
