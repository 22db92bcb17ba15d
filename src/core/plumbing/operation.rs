//! A git operation stopped half way in a worktree (a rebase, merge, cherry-pick, revert, `am`
//! or bisect waiting for the user): shown on its row and in `list --json` as
//! `"operation": {"kind": …, "conflicted": N}`, and a reason for every wtmux action that would
//! commit or move that worktree to refuse, naming it: committing there would record a half-done
//! state as if it were the user's work.

use std::fmt;

use git2::{Repository, RepositoryState};
use serde::{Deserialize, Serialize};

use super::error::Result;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operation {
    /// `rebase`, `merge`, `cherry-pick`, `revert`, `am` or `bisect`.
    pub kind: String,
    /// Paths with unresolved conflicts.
    pub conflicted: usize,
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a {} is in progress", self.kind)?;
        if self.conflicted > 0 {
            write!(
                f,
                " with {} conflicted file{}",
                self.conflicted,
                if self.conflicted == 1 { "" } else { "s" }
            )?;
        }
        Ok(())
    }
}

impl Operation {
    /// What a row says: `merging: 2 conflicted files`, `rebasing`.
    pub fn summary(&self) -> String {
        let doing = match self.kind.as_str() {
            "merge" => "merging",
            "rebase" => "rebasing",
            "cherry-pick" => "cherry-picking",
            "revert" => "reverting",
            "am" => "applying patches",
            "bisect" => "bisecting",
            other => other,
        };
        match self.conflicted {
            0 => doing.to_string(),
            n => format!(
                "{doing}: {n} conflicted file{}",
                if n == 1 { "" } else { "s" }
            ),
        }
    }
}

/// The operation stopped in the worktree `repo` was opened on, if any (git's own state files
/// in the worktree's git dir, and the index's conflict entries).
pub fn in_progress(repo: &Repository) -> Result<Option<Operation>> {
    let kind = match repo.state() {
        RepositoryState::Clean => return Ok(None),
        RepositoryState::Merge => "merge",
        RepositoryState::Revert | RepositoryState::RevertSequence => "revert",
        RepositoryState::CherryPick | RepositoryState::CherryPickSequence => "cherry-pick",
        RepositoryState::Bisect => "bisect",
        RepositoryState::Rebase
        | RepositoryState::RebaseInteractive
        | RepositoryState::RebaseMerge => "rebase",
        RepositoryState::ApplyMailbox | RepositoryState::ApplyMailboxOrRebase => "am",
    };
    Ok(Some(Operation {
        kind: kind.to_string(),
        conflicted: conflicted_paths(repo)?,
    }))
}

fn conflicted_paths(repo: &Repository) -> Result<usize> {
    Ok(conflicted_files(repo)?.len())
}

/// The paths with unresolved conflicts in the worktree's index, sorted.
pub fn conflicted_files(repo: &Repository) -> Result<Vec<String>> {
    let index = repo.index()?;
    if !index.has_conflicts() {
        return Ok(Vec::new());
    }
    let mut paths = std::collections::BTreeSet::new();
    for conflict in index.conflicts()? {
        let conflict = conflict?;
        if let Some(entry) = conflict.our.or(conflict.their).or(conflict.ancestor) {
            paths.insert(String::from_utf8_lossy(&entry.path).into_owned());
        }
    }
    Ok(paths.into_iter().collect())
}
