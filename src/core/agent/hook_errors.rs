//! What `wtmux agent-status` could not record. A hook must exit 0 and say nothing (the agent's
//! tool reads its output), so its errors go to a log instead, `<git common dir>/wtmux/
//! hook-errors.log`, one line each (`<unix seconds> <text>`), kept small: past
//! [`MAX_LOG_BYTES`] only its newer half stays. `wtmux doctor` reads the recent ones.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::core::Project;
use crate::core::error::{Error, Result};
use crate::core::state::lock_file;

const LOG: &str = "hook-errors.log";

/// The log never grows past this (a line is cut to [`MAX_LINE_BYTES`]).
const MAX_LOG_BYTES: u64 = 64 * 1024;
const MAX_LINE_BYTES: usize = 1024;

/// One error a hook swallowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookError {
    /// When (unix seconds).
    pub at: u64,
    pub text: String,
}

/// The wtmux state of the repository holding `dir`, if wtmux has any there: a repository
/// wtmux never ran in manages no worktree, so its hooks have nothing to record, and no log is
/// started there.
pub fn state_root_of(dir: &Path) -> Option<PathBuf> {
    let repo = git2::Repository::discover(dir).ok()?;
    let root = repo.commondir().join("wtmux");
    root.is_dir().then_some(root)
}

/// Appends one line for an error a hook swallowed to the log under `state_root` (see
/// [`state_root_of`]), on one line whatever `text` holds; past [`MAX_LOG_BYTES`], keeps the
/// newer half. Hooks run at once in several worktrees: appending and trimming take turns.
pub fn log_hook_error(state_root: &Path, at: u64, text: &str) -> Result<()> {
    let path = state_root.join(LOG);
    let lock = lock_file(&state_root.join(format!("{LOG}.lock")))?;
    lock.lock().map_err(|e| Error::io(&path, e))?;
    let mut line: String = text
        .chars()
        .map(|c| if c == '\n' || c == '\r' { ' ' } else { c })
        .collect();
    if line.len() > MAX_LINE_BYTES {
        let mut end = MAX_LINE_BYTES;
        while !line.is_char_boundary(end) {
            end -= 1;
        }
        line.truncate(end);
        line.push('…');
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| Error::io(&path, e))?;
    writeln!(file, "{at} {line}").map_err(|e| Error::io(&path, e))?;
    let size = file.metadata().map_err(|e| Error::io(&path, e))?.len();
    if size > MAX_LOG_BYTES {
        trim(&path)?;
    }
    Ok(())
}

/// Keeps the newer half of the log, whole lines, replacing it in one rename.
fn trim(path: &Path) -> Result<()> {
    let text = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let from = text.len().saturating_sub((MAX_LOG_BYTES / 2) as usize);
    let start = text[from..]
        .iter()
        .position(|b| *b == b'\n')
        .map_or(text.len(), |n| from + n + 1);
    let kept = path.with_extension("log.new");
    std::fs::write(&kept, &text[start..]).map_err(|e| Error::io(&kept, e))?;
    std::fs::rename(&kept, path).map_err(|e| Error::io(path, e))
}

/// Where the log is.
pub fn hook_errors_log(project: &Project) -> PathBuf {
    project.state.root().join(LOG)
}

/// The errors hooks swallowed at `since` (unix seconds) or later, oldest first.
pub fn hook_errors_since(project: &Project, since: u64) -> Vec<HookError> {
    let text = std::fs::read(hook_errors_log(project)).unwrap_or_default();
    String::from_utf8_lossy(&text)
        .lines()
        .filter_map(|line| {
            let (at, text) = line.split_once(' ')?;
            Some(HookError {
                at: at.parse().ok()?,
                text: text.to_string(),
            })
        })
        .filter(|e| e.at >= since)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_keeps_one_line_each_and_stays_small() {
        let dir = tempfile::tempdir().unwrap();
        log_hook_error(dir.path(), 7, "first\nsecond line").unwrap();
        let text = std::fs::read_to_string(dir.path().join(LOG)).unwrap();
        assert_eq!(text, "7 first second line\n");
        let long = "x".repeat(5000);
        for n in 0..500u64 {
            log_hook_error(dir.path(), 100 + n, &format!("{n} {long}")).unwrap();
            let size = std::fs::metadata(dir.path().join(LOG)).unwrap().len();
            assert!(size <= MAX_LOG_BYTES, "{n}: {size}");
        }
        let text = std::fs::read_to_string(dir.path().join(LOG)).unwrap();
        let last = text.lines().last().unwrap();
        assert!(last.starts_with("599 499 xxx") && last.ends_with('…'));
        assert!(
            text.lines().all(|l| l.len() <= MAX_LINE_BYTES + 8
                && l.split_once(' ')
                    .is_some_and(|(at, _)| at.parse::<u64>().is_ok())),
            "whole lines only"
        );
        assert!(text.lines().count() > 20, "the newer half stays");
    }
}
