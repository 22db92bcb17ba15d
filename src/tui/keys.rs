//! Keys to actions, by mode.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::app::{Action, Mode};

pub fn action_for(mode: &Mode, key: KeyEvent) -> Option<Action> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
        return Some(Action::Quit);
    }
    match mode {
        Mode::Filter | Mode::NewBranch(_) | Mode::Handoff(_) => Some(match key.code {
            // Control and Alt chords are not text.
            KeyCode::Char(_)
                if key
                    .modifiers
                    .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT) =>
            {
                return None;
            }
            KeyCode::Enter => Action::Confirm,
            KeyCode::Esc => Action::Cancel,
            KeyCode::Backspace => Action::Backspace,
            KeyCode::Up => Action::Up,
            KeyCode::Down => Action::Down,
            KeyCode::Char(c) => Action::Char(c),
            _ => return None,
        }),
        Mode::Merge(_) | Mode::Remove { .. } => Some(match key.code {
            KeyCode::Char('y') | KeyCode::Enter => Action::Confirm,
            KeyCode::Char('n') | KeyCode::Esc => Action::Cancel,
            KeyCode::Char('f') | KeyCode::Char('F') => Action::Force,
            KeyCode::Char('k') => Action::ToggleKeep,
            KeyCode::Char('s') => Action::CycleStrategy,
            KeyCode::Char('q') => Action::Quit,
            _ => return None,
        }),
        Mode::Help => Some(Action::Cancel),
        Mode::Log { .. } => Some(match key.code {
            KeyCode::Up | KeyCode::Char('k') => Action::Up,
            KeyCode::Down | KeyCode::Char('j') => Action::Down,
            KeyCode::PageUp => Action::PageUp,
            KeyCode::PageDown | KeyCode::Char(' ') => Action::PageDown,
            KeyCode::Char('g') | KeyCode::Home => Action::Top,
            KeyCode::Char('G') | KeyCode::End => Action::Bottom,
            KeyCode::Esc | KeyCode::Char('q') | KeyCode::Char('l') => Action::Cancel,
            _ => return None,
        }),
        Mode::Normal => Some(match key.code {
            KeyCode::Up | KeyCode::Char('k') => Action::Up,
            KeyCode::Down | KeyCode::Char('j') => Action::Down,
            KeyCode::Char('g') | KeyCode::Home => Action::Top,
            KeyCode::Char('G') | KeyCode::End => Action::Bottom,
            KeyCode::PageUp => Action::PageUp,
            KeyCode::PageDown => Action::PageDown,
            KeyCode::Enter => Action::Enter,
            KeyCode::Char('n') => Action::New,
            KeyCode::Char('v') => Action::Verify,
            KeyCode::Char('V') => Action::VerifyAll,
            KeyCode::Char('u') => Action::Sync,
            KeyCode::Char('c') => Action::Coordinate,
            KeyCode::Char('m') => Action::Merge,
            KeyCode::Char('d') => Action::Remove,
            KeyCode::Char('l') => Action::ShowLog,
            KeyCode::Char('/') => Action::Filter,
            KeyCode::Char('r') => Action::Refresh,
            KeyCode::Char('?') => Action::Help,
            KeyCode::Char('q') => Action::Quit,
            KeyCode::Esc => Action::Cancel,
            _ => return None,
        }),
    }
}
