//! Themes: flat TOML files (`themes/*.toml`), the built-in ones embedded in
//! the binary, resolved once into ready ratatui styles. Unknown keys and bad
//! colours are errors naming the file and line. `NO_COLOR` strips colours.
use std::path::Path;

use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;
use toml::Spanned;

/// The built-in themes, in the order `t` cycles through them.
pub const BUILTIN: [(&str, &str); 4] = [
    ("dark", include_str!("../../themes/dark.toml")),
    ("light", include_str!("../../themes/light.toml")),
    (
        "high-contrast",
        include_str!("../../themes/high-contrast.toml"),
    ),
    ("mono", include_str!("../../themes/mono.toml")),
];

#[derive(Debug, thiserror::Error)]
#[error("{file}{}: {msg}", line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct ThemeError {
    pub file: String,
    pub line: Option<usize>,
    pub msg: String,
}

/// Ready-to-use styles.
#[derive(Clone, Debug, PartialEq)]
pub struct Theme {
    pub name: String,
    pub base: Style,
    pub border: Style,
    pub title: Style,
    pub label: Style,
    pub value: Style,
    pub power: Style,
    pub energy: Style,
    pub gauge: Style,
    pub good: Style,
    pub warning: Style,
    pub error: Style,
    pub live: Style,
    pub replay: Style,
    pub estimate: Style,
    pub key: Style,
    pub status_bar: Style,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTheme {
    name: Option<Spanned<String>>,
    background: Option<Spanned<String>>,
    foreground: Option<Spanned<String>>,
    muted: Option<Spanned<String>>,
    border: Option<Spanned<String>>,
    title: Option<Spanned<String>>,
    accent: Option<Spanned<String>>,
    power: Option<Spanned<String>>,
    energy: Option<Spanned<String>>,
    progress: Option<Spanned<String>>,
    progress_track: Option<Spanned<String>>,
    good: Option<Spanned<String>>,
    warning: Option<Spanned<String>>,
    error: Option<Spanned<String>>,
    status_bar_fg: Option<Spanned<String>>,
    status_bar_bg: Option<Spanned<String>>,
}

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

impl Theme {
    /// The built-in theme called `name`.
    pub fn builtin(name: &str) -> Option<Theme> {
        let (n, text) = BUILTIN.iter().find(|(n, _)| *n == name)?;
        // The built-in themes are tested to parse (`builtins_parse_and_differ`).
        Theme::parse(text, &format!("themes/{n}.toml")).ok()
    }

    /// Parse a theme file's text. Keys left out take the dark theme's colours.
    pub fn parse(text: &str, file: &str) -> Result<Theme, ThemeError> {
        let raw: RawTheme = toml::from_str(text).map_err(|e| ThemeError {
            file: file.to_string(),
            line: e.span().map(|s| line_of(text, s.start)),
            msg: format!(
                "{} (theme keys: name, background, foreground, muted, border, title, accent, power, energy, progress, progress_track, good, warning, error, status_bar_fg, status_bar_bg)",
                e.message().trim()
            ),
        })?;
        let dark: Option<RawTheme> = if file == "themes/dark.toml" {
            None
        } else {
            toml::from_str(BUILTIN[0].1).ok()
        };
        let colour = |own: &Option<Spanned<String>>,
                      fallback: Option<&Option<Spanned<String>>>,
                      key: &str|
         -> Result<Color, ThemeError> {
            let v = match (own, fallback) {
                (Some(v), _) => v,
                (None, Some(Some(v))) => v,
                _ => {
                    return Err(ThemeError {
                        file: file.to_string(),
                        line: None,
                        msg: format!("missing colour `{key}`"),
                    })
                }
            };
            v.get_ref().parse::<Color>().map_err(|_| ThemeError {
                file: file.to_string(),
                line: own.as_ref().map(|s| line_of(text, s.span().start)),
                msg: format!(
                    "`{key}`: `{}` is not a colour (use a name like \"lightblue\", \"#rrggbb\", a 256-colour index, or \"reset\")",
                    v.get_ref()
                ),
            })
        };
        macro_rules! c {
            ($k:ident) => {
                colour(&raw.$k, dark.as_ref().map(|d| &d.$k), stringify!($k))?
            };
        }
        let name = raw
            .name
            .as_ref()
            .map(|n| n.get_ref().clone())
            .unwrap_or_else(|| {
                Path::new(file)
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "custom".into())
            });
        let palette = Palette {
            background: c!(background),
            foreground: c!(foreground),
            muted: c!(muted),
            border: c!(border),
            title: c!(title),
            accent: c!(accent),
            power: c!(power),
            energy: c!(energy),
            progress: c!(progress),
            progress_track: c!(progress_track),
            good: c!(good),
            warning: c!(warning),
            error: c!(error),
            status_bar_fg: c!(status_bar_fg),
            status_bar_bg: c!(status_bar_bg),
        };
        Ok(palette.resolve(name))
    }

    /// `NAME` of a built-in theme, or the path of a theme file.
    pub fn load(name_or_path: &str) -> Result<Theme, ThemeError> {
        if let Some(t) = Theme::builtin(name_or_path) {
            return Ok(t);
        }
        let path = Path::new(name_or_path);
        let looks_like_path = name_or_path.contains('/') || name_or_path.ends_with(".toml");
        if !looks_like_path && !path.exists() {
            return Err(ThemeError {
                file: name_or_path.to_string(),
                line: None,
                msg: format!(
                    "no built-in theme of that name (built in: {}); give a path to a .toml theme file to use your own",
                    BUILTIN.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
                ),
            });
        }
        let text = std::fs::read_to_string(path).map_err(|e| ThemeError {
            file: name_or_path.to_string(),
            line: None,
            msg: format!("cannot read theme file: {e}"),
        })?;
        Theme::parse(&text, name_or_path)
    }

    /// The themes `t` cycles through: the chosen one first, then the other
    /// built-in ones. With `no_color` every theme loses its colours.
    pub fn cycle(first: &str, no_color: bool) -> Result<Vec<Theme>, ThemeError> {
        let chosen = Theme::load(first)?;
        let mut v = vec![chosen];
        for (n, _) in BUILTIN {
            if v[0].name != n {
                v.extend(Theme::builtin(n));
            }
        }
        if no_color {
            v = v.into_iter().map(|t| t.without_colour()).collect();
        }
        Ok(v)
    }

    /// The same theme with every colour replaced by the terminal's own
    /// (`NO_COLOR`): emphasis stays as bold and reverse video.
    pub fn without_colour(self) -> Theme {
        let p = Palette::mono();
        let mut t = p.resolve(self.name.clone());
        t.name = format!("{} (NO_COLOR)", self.name);
        t
    }

    /// Whether `NO_COLOR` is set to a non-empty value (no-color.org).
    pub fn no_color_requested() -> bool {
        std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
    }
}

struct Palette {
    background: Color,
    foreground: Color,
    muted: Color,
    border: Color,
    title: Color,
    accent: Color,
    power: Color,
    energy: Color,
    progress: Color,
    progress_track: Color,
    good: Color,
    warning: Color,
    error: Color,
    status_bar_fg: Color,
    status_bar_bg: Color,
}

impl Palette {
    fn mono() -> Palette {
        let r = Color::Reset;
        Palette {
            background: r,
            foreground: r,
            muted: r,
            border: r,
            title: r,
            accent: r,
            power: r,
            energy: r,
            progress: r,
            progress_track: r,
            good: r,
            warning: r,
            error: r,
            status_bar_fg: r,
            status_bar_bg: r,
        }
    }

    fn resolve(&self, name: String) -> Theme {
        let fg = |c: Color| Style::new().fg(c);
        // Without a colour of its own, a warning is told by reverse video.
        let alert = |c: Color| {
            let s = fg(c).add_modifier(Modifier::BOLD);
            if c == Color::Reset {
                s.add_modifier(Modifier::REVERSED)
            } else {
                s
            }
        };
        let status_bar = if self.status_bar_fg == Color::Reset && self.status_bar_bg == Color::Reset
        {
            Style::new().add_modifier(Modifier::REVERSED)
        } else {
            Style::new().fg(self.status_bar_fg).bg(self.status_bar_bg)
        };
        Theme {
            name,
            base: Style::new().fg(self.foreground).bg(self.background),
            border: fg(self.border),
            title: fg(self.title).add_modifier(Modifier::BOLD),
            label: fg(self.muted),
            value: fg(self.foreground),
            power: fg(self.power),
            energy: fg(self.energy).add_modifier(Modifier::BOLD),
            gauge: Style::new().fg(self.progress).bg(self.progress_track),
            good: fg(self.good).add_modifier(Modifier::BOLD),
            warning: alert(self.warning),
            error: alert(self.error),
            live: fg(self.good).add_modifier(Modifier::BOLD),
            replay: fg(self.accent).add_modifier(Modifier::BOLD),
            estimate: alert(self.warning),
            key: fg(self.accent).add_modifier(Modifier::BOLD),
            status_bar,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_parse_and_differ() {
        let all: Vec<Theme> = BUILTIN
            .iter()
            .map(|(n, _)| Theme::builtin(n).unwrap())
            .collect();
        for i in 0..all.len() {
            for j in i + 1..all.len() {
                assert_ne!(
                    all[i].power, all[j].power,
                    "{} vs {}",
                    all[i].name, all[j].name
                );
            }
        }
    }

    #[test]
    fn unknown_key_names_file_and_line() {
        let e = Theme::parse(
            "name = \"x\"\npower = \"red\"\nsparkle = \"blue\"\n",
            "my.toml",
        )
        .unwrap_err();
        assert_eq!(e.file, "my.toml");
        assert_eq!(e.line, Some(3), "{e}");
        assert!(e.to_string().contains("sparkle"), "{e}");
    }

    #[test]
    fn bad_colour_names_file_line_and_value() {
        let e = Theme::parse("name = \"x\"\n\npower = \"reddish\"\n", "my.toml").unwrap_err();
        assert_eq!(e.line, Some(3));
        assert!(
            e.to_string().starts_with("my.toml:3: `power`: `reddish`"),
            "{e}"
        );
    }

    #[test]
    fn partial_theme_falls_back_to_dark_and_no_color_strips() {
        let t = Theme::parse("power = \"#ff0000\"\n", "red.toml").unwrap();
        assert_eq!(t.name, "red");
        assert_eq!(t.power.fg, Some(Color::Rgb(255, 0, 0)));
        assert_eq!(t.energy, Theme::builtin("dark").unwrap().energy);
        let m = t.without_colour();
        assert_eq!(m.power.fg, Some(Color::Reset));
        assert!(m.estimate.add_modifier.contains(Modifier::REVERSED));
    }

    #[test]
    fn unknown_theme_name_says_what_to_do() {
        let e = Theme::load("solarized").unwrap_err();
        assert!(e.to_string().contains("built in: dark, light"), "{e}");
    }
}
