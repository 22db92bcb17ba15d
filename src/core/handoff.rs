//! Handing a conflict back to the agent that can resolve it: when a sync stops on conflicts,
//! the worktree's agent gets a task naming the conflicted files, the commits of the other side
//! and what to do. The text comes from `handoff_template` (placeholders:
//! `config::HANDOFF_PLACEHOLDERS`); it is typed only into a pane proven to be the agent's
//! ([`super::agent::send`]).

use std::path::PathBuf;

use super::error::{Error, Result};
use super::sync::{SyncMethod, SyncOutcome, Synced};
use super::{Project, scope, worktree};

/// Used when `handoff_template` is not set (README documents it word for word).
pub const DEFAULT_TEMPLATE: &str = "Bringing {base} into {branch} stopped on conflicts ({operation}). \
Conflicted files: {files}. \
The other side's commits ({base}): {commits}. \
Resolve the conflicts in those files, keeping what both sides meant; run the checks; then {finish}.";

/// Used when `coordinate_template` is not set (README documents it word for word): the task
/// for the agent of a worktree predicted to conflict with a sibling (the popup's `c`).
pub const DEFAULT_COORDINATE_TEMPLATE: &str = "{branch} is predicted to conflict with another \
agent's work when both merge into {base}: {siblings}. \
Coordinate before either merges: look at what the other branch changes in those files \
(git diff {base}...<branch> -- <files>), keep your changes there small and compatible with it, \
and say what you changed in them.";

/// The task for the agent of a sync that stopped on conflicts (`None` for any other outcome).
pub fn task(project: &Project, synced: &Synced) -> Option<String> {
    let SyncOutcome::Conflicted { files, .. } = &synced.outcome else {
        return None;
    };
    let template = project
        .config
        .handoff_template
        .as_deref()
        .unwrap_or(DEFAULT_TEMPLATE);
    let commits: Vec<String> = synced
        .incoming
        .iter()
        .map(|(id, subject)| format!("{} {subject:?}", &id[..id.len().min(7)]))
        .collect();
    let finish = match synced.method {
        SyncMethod::Merge => "commit the merge (git commit --no-edit)",
        SyncMethod::Rebase => {
            "stage them and continue the rebase (git rebase --continue) until it is done"
        }
    };
    Some(expand(template, |name| {
        Some(match name {
            "branch" => one_line(&synced.branch),
            "base" => synced.base.clone(),
            "operation" => synced.method.to_string(),
            "files" => files
                .iter()
                .map(|f| one_line(f))
                .collect::<Vec<_>>()
                .join(", "),
            "commits" => commits.join("; "),
            "finish" => finish.to_string(),
            _ => return None,
        })
    }))
}

/// The task for the agent of `branch`, predicted (by the scope guard's `report`) to conflict
/// with sibling branches: which, and in which files. `None` when no conflict is predicted.
pub fn coordination(
    project: &Project,
    report: &crate::core::scope::Report,
    branch: &str,
) -> Option<String> {
    let siblings: Vec<(&str, &Vec<String>)> = report
        .pairs_of(branch)
        .filter(|(_, pair)| !pair.conflicts.is_empty())
        .map(|(other, pair)| (other, &pair.conflicts))
        .collect();
    if siblings.is_empty() {
        return None;
    }
    let files = |files: &[String]| {
        files
            .iter()
            .map(|f| one_line(f))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut all: Vec<String> = siblings
        .iter()
        .flat_map(|(_, f)| f.iter().cloned())
        .collect();
    all.sort();
    all.dedup();
    let template = project
        .config
        .coordinate_template
        .as_deref()
        .unwrap_or(DEFAULT_COORDINATE_TEMPLATE);
    Some(expand(template, |name| {
        Some(match name {
            "branch" => one_line(branch),
            "base" => report.base.clone(),
            "siblings" => siblings
                .iter()
                .map(|(other, conflicts)| format!("{} in {}", one_line(other), files(conflicts)))
                .collect::<Vec<_>>()
                .join("; "),
            "files" => files(&all),
            _ => return None,
        })
    }))
}

/// A coordination note, drafted: what the popup's `c` shows (editable) before it goes and what
/// `wtmux send --coordinate` sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoordinationDraft {
    pub branch: String,
    pub path: PathBuf,
    /// The sibling branches it is predicted to conflict with.
    pub siblings: Vec<String>,
    pub text: String,
}

/// Why no coordination note can be drafted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotToCoordinate {
    #[error("{0} has no branch checked out (detached HEAD)")]
    Detached(String),
    #[error("{0} is not predicted to conflict with another branch")]
    NoConflictPredicted(String),
}

impl From<NotToCoordinate> for Error {
    fn from(refused: NotToCoordinate) -> Error {
        Error::step(refused)
    }
}

/// The coordination note for the agent of the worktree `name` (a branch or worktree name), from
/// the scope guard's answer now, not from one drawn earlier. Refused when the worktree has no
/// branch or is not predicted to conflict with any sibling.
pub fn draft_coordination(project: &Project, name: &str) -> Result<CoordinationDraft> {
    let w = worktree::find(project, name)?;
    let branch = w
        .branch
        .clone()
        .ok_or_else(|| NotToCoordinate::Detached(w.label()))?;
    let report = scope::analyze_for_display(project)?;
    let text = coordination(project, &report, &branch)
        .ok_or_else(|| NotToCoordinate::NoConflictPredicted(branch.clone()))?;
    let siblings = report
        .pairs_of(&branch)
        .filter(|(_, p)| !p.conflicts.is_empty())
        .map(|(other, _)| other.to_string())
        .collect();
    Ok(CoordinationDraft {
        branch,
        path: w.path,
        siblings,
        text,
    })
}

/// Fills a template's placeholders, in one pass, so a value holding `{files}` is never
/// expanded again; an unknown `{name}` stays as it is.
fn expand(template: &str, value_of: impl Fn(&str) -> Option<String>) -> String {
    let mut text = String::with_capacity(template.len() + 256);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        text.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let value = after
            .find('}')
            .and_then(|close| Some((value_of(&after[..close])?, close)));
        match value {
            Some((value, close)) => {
                text.push_str(&value);
                rest = &after[close + 1..];
            }
            None => {
                text.push('{');
                rest = after;
            }
        }
    }
    text.push_str(rest);
    text
}

/// A file name as one line of the task: quoted, escapes and all, when it holds a control
/// character (a newline would end the agent's message half way).
fn one_line(text: &str) -> String {
    if text.chars().any(char::is_control) {
        format!("{text:?}")
    } else {
        text.to_string()
    }
}

/// What became of a conflict's hand-off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandOff {
    /// Typed into the agent of the synced worktree.
    Sent,
    /// No agent runs there (none was started, or it has exited): the conflict stays in the
    /// worktree for whoever works there, and nothing was typed anywhere.
    NoAgent,
}

/// Types the task into the agent of the synced worktree, if one runs there.
pub fn send(project: &Project, synced: &Synced, text: &str) -> Result<HandOff> {
    if !super::agent::has_live_agent(project, &synced.path)? {
        return Ok(HandOff::NoAgent);
    }
    super::agent::send(project, &synced.path.to_string_lossy(), text)?;
    Ok(HandOff::Sent)
}

#[cfg(test)]
mod tests {
    use super::super::config::{placeholders_in, validate_coordinate_template, validate_template};
    use super::*;

    #[test]
    fn the_default_template_uses_only_known_placeholders() {
        assert_eq!(validate_template(DEFAULT_TEMPLATE), Ok(()));
        assert_eq!(
            placeholders_in("{files} and {x y} and {} {commits"),
            ["files"]
        );
        assert!(
            include_str!("../../README.md").contains(DEFAULT_TEMPLATE),
            "README shows the default word for word"
        );
        assert_eq!(
            validate_coordinate_template(DEFAULT_COORDINATE_TEMPLATE),
            Ok(())
        );
        assert!(
            include_str!("../../README.md").contains(DEFAULT_COORDINATE_TEMPLATE),
            "README shows the coordination default word for word"
        );
        assert!(validate_coordinate_template("{commits}").is_err());
        assert_eq!(one_line("a\nb.txt"), "\"a\\nb.txt\"");
        let err = validate_template("fix {file}").unwrap_err();
        assert!(err.contains("{file}") && err.contains("{files}"), "{err}");
    }
}
