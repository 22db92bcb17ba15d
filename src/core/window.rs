//! A worktree's tmux window: found by its tag, opened (again) on demand.

use std::path::Path;

use serde::Serialize;

use super::error::{Error, Result};
use super::tmux::Tmux;
use super::worktree::{find, worktree_env};
use super::{Project, branch};

#[derive(Debug, Clone, Serialize)]
pub struct Opened {
    pub window: String,
    /// The window was gone and was made again.
    pub created: bool,
}

/// A worktree whose directory is gone has no window to open (removing it is what is left).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryGone {
    pub worktree: String,
    pub path: std::path::PathBuf,
}

impl std::fmt::Display for DirectoryGone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the directory of {} is gone ({})",
            self.worktree,
            self.path.display()
        )
    }
}

impl std::error::Error for DirectoryGone {}

/// Focuses a worktree's window, creating it when it is gone.
pub fn open(project: &Project, name: &str) -> Result<Opened> {
    let worktree = find(project, name)?;
    if worktree.prunable {
        return Err(Error::step(DirectoryGone {
            worktree: worktree.label(),
            path: worktree.path.clone(),
        }));
    }
    let tmux = project.require_tmux()?;
    let (window, created) = match tmux.window_for(&worktree.path)? {
        Some(window) => (window, false),
        None => {
            let label = worktree.branch.clone().unwrap_or_else(|| {
                worktree
                    .path
                    .file_name()
                    .map(|f| f.to_string_lossy().into_owned())
                    .unwrap_or_default()
            });
            let session = tmux.current_session()?;
            let id = open_window(project, tmux, &session, &label, &worktree.path, &[])?;
            let window = tmux
                .window_for(&worktree.path)?
                .filter(|w| w.id == id)
                .ok_or_else(|| Error::CommandFailed {
                    command: "tmux new-window".into(),
                    detail: "the new window was not found".into(),
                })?;
            (window, true)
        }
    };
    tmux.focus(&window)?;
    Ok(Opened {
        window: window.id,
        created,
    })
}

/// Creates a worktree's tagged window running `command` (an argv; empty: a shell) and returns
/// its id.
pub(super) fn open_window(
    project: &Project,
    tmux: &Tmux,
    session: &str,
    branch_name: &str,
    path: &Path,
    command: &[String],
) -> Result<String> {
    tmux.new_window(
        session,
        path,
        &branch::slug(branch_name),
        Some(path),
        &worktree_env(project, branch_name, path),
        command,
    )
}
