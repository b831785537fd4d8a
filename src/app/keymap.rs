//! Terminal key events to actions. The only place that knows key codes.
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::msg::Action;

/// Seconds a plain arrow seeks; with shift, [`SEEK_LONG_S`].
pub const SEEK_S: f64 = 10.0;
pub const SEEK_LONG_S: f64 = 60.0;

pub fn action_for(key: &KeyEvent) -> Option<Action> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    let shift = key.modifiers.contains(KeyModifiers::SHIFT);
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    Some(match key.code {
        KeyCode::Char('c') if ctrl => Action::Quit,
        KeyCode::Char('q') | KeyCode::Char('Q') => Action::Quit,
        KeyCode::Char(' ') => Action::TogglePause,
        KeyCode::Left => Action::Seek(if shift { -SEEK_LONG_S } else { -SEEK_S }),
        KeyCode::Right => Action::Seek(if shift { SEEK_LONG_S } else { SEEK_S }),
        // Terminals that send shift+arrow as capital letters in some modes.
        KeyCode::Char('+') | KeyCode::Char('=') => Action::Faster,
        KeyCode::Char('-') | KeyCode::Char('_') => Action::Slower,
        KeyCode::Char('a') => Action::ToggleAlign,
        KeyCode::Char('c') => Action::ToggleChannels,
        KeyCode::Char('t') => Action::NextTheme,
        KeyCode::Char('z') => Action::TogglePowerZoom,
        KeyCode::Char('s') => Action::ToggleSharedScale,
        KeyCode::Char('w') => Action::NextWindow,
        KeyCode::Char('e') => Action::ToggleStudy,
        KeyCode::Char('?') | KeyCode::Char('h') | KeyCode::F(1) => Action::ToggleHelp,
        KeyCode::Esc => Action::CloseOverlay,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(code: KeyCode, m: KeyModifiers) -> Option<Action> {
        action_for(&KeyEvent::new(code, m))
    }

    #[test]
    fn keys_map_to_actions() {
        assert_eq!(
            k(KeyCode::Char('c'), KeyModifiers::CONTROL),
            Some(Action::Quit)
        );
        assert_eq!(
            k(KeyCode::Char('c'), KeyModifiers::NONE),
            Some(Action::ToggleChannels)
        );
        assert_eq!(
            k(KeyCode::Right, KeyModifiers::SHIFT),
            Some(Action::Seek(60.0))
        );
        assert_eq!(
            k(KeyCode::Left, KeyModifiers::NONE),
            Some(Action::Seek(-10.0))
        );
        assert_eq!(
            k(KeyCode::Char(' '), KeyModifiers::NONE),
            Some(Action::TogglePause)
        );
        assert_eq!(
            k(KeyCode::Char('z'), KeyModifiers::NONE),
            Some(Action::TogglePowerZoom)
        );
        assert_eq!(
            k(KeyCode::Char('s'), KeyModifiers::NONE),
            Some(Action::ToggleSharedScale)
        );
        assert_eq!(
            k(KeyCode::Char('w'), KeyModifiers::NONE),
            Some(Action::NextWindow)
        );
        assert_eq!(
            k(KeyCode::Char('e'), KeyModifiers::NONE),
            Some(Action::ToggleStudy)
        );
        assert_eq!(k(KeyCode::Char('x'), KeyModifiers::NONE), None);
    }
}
