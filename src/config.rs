//! The defaults file: `$TRAINWATT_CONFIG`, else `$XDG_CONFIG_HOME/trainwatt/config.toml`
//! (`~/.config/trainwatt/config.toml`), or `--config FILE`. Flags on the command
//! line win over it. Unknown keys and bad values are errors naming the file
//! and line.
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// What the file may set.
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Grams of CO2e per kWh (`--carbon-intensity`).
    pub carbon_intensity: Option<f64>,
    /// Price per kWh (`--price`).
    pub price: Option<f64>,
    /// Currency label (`--currency`).
    pub currency: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{}: cannot read the config file: {source}; fix its permissions or point --config elsewhere", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}:{line}: {message}; fix or remove that line (keys: carbon_intensity, price, currency)", path.display())]
    Parse {
        path: PathBuf,
        line: usize,
        message: String,
    },
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
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some((base.join("trainwatt").join("config.toml"), false))
}

/// Parse `text` read from `path`.
pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
    toml::from_str(text).map_err(|e| ConfigError::Parse {
        path: path.to_path_buf(),
        line: e
            .span()
            .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1)
            .unwrap_or(1),
        message: e.message().to_string(),
    })
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
        assert_eq!(c.carbon_intensity, Some(400.0));
        assert_eq!(c.price, Some(0.25));
        assert_eq!(c.currency.as_deref(), Some("EUR"));
    }

    #[test]
    fn unknown_key_names_file_and_line() {
        let e = parse(Path::new("c.toml"), "price = 0.25\n\ncarbon = 400\n").unwrap_err();
        let m = e.to_string();
        assert!(m.starts_with("c.toml:3:"), "{m}");
        assert!(m.contains("carbon"), "{m}");
    }

    #[test]
    fn bad_value_names_file_and_line() {
        let e = parse(
            Path::new("c.toml"),
            "currency = \"EUR\"\nprice = \"cheap\"\n",
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("c.toml:2:"), "{e}");
    }

    #[test]
    fn explicit_file_missing_is_an_error() {
        let e = load(Some(Path::new("/nonexistent/trainwatt.toml"))).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/trainwatt.toml"), "{e}");
    }
}
