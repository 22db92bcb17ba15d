//! Core errors as the CLI says them: one line, with a hint naming the CLI's own flags and
//! commands where there is something to do. The core's errors carry facts and name no flag
//! (as jj's `cli/src/command_error.rs` phrases its library's errors); the popup phrases the
//! same facts with its keys (`tui/words.rs`).

use crate::core::merge::{self, Blocker};
use crate::core::{Error, check::CheckState, create, remove, window};

/// A core error as the CLI says it.
pub fn message(error: &Error) -> String {
    match error {
        Error::Step(_) => refusal(error),
        Error::Untrusted { .. } => format!("{error}: review them, then run `wtmux trust`"),
        Error::UnknownWorktree(_) => format!("{error} (see `wtmux list`)"),
        other => other.to_string(),
    }
}

/// A workflow step's refusal, with what the CLI can do about it.
fn refusal(error: &Error) -> String {
    if let Some(refused) = error.step_refusal::<merge::Refused>() {
        let reasons: Vec<String> = refused.blockers.iter().map(blocker).collect();
        return format!(
            "refused: not merging {} into {}: {}",
            refused.branch,
            refused.base,
            reasons.join("; ")
        );
    }
    if let Some(refused) = error.step_refusal::<remove::WouldLoseWork>() {
        return format!("refused: {refused} (--force saves them to the trash, then removes)");
    }
    if let Some(refused) = error.step_refusal::<create::Refused>() {
        return match refused {
            create::Refused::PromptWithoutAgent => {
                format!("refused: {refused}, or pass --agent NAME")
            }
            create::Refused::TmuxSilent { .. } => {
                format!("refused: {refused} (--no-window works without it)")
            }
            create::Refused::PatternLeavesMainWorktree { .. } => format!("refused: {refused}"),
        };
    }
    if let Some(gone) = error.step_refusal::<window::DirectoryGone>() {
        return format!("refused: {gone}; `wtmux remove` it");
    }
    error.to_string()
}

/// Why a merge cannot go ahead, and the command or flag that helps.
pub fn blocker(blocker: &Blocker) -> String {
    let hint = match blocker {
        Blocker::NothingToMerge => " (wtmux remove it)",
        Blocker::BranchDirty { .. } => ": commit them, or pass --commit MSG",
        Blocker::ChecksNotPassed {
            state: CheckState::Running,
            ..
        } => " (wtmux check --wait)",
        Blocker::ChecksNotPassed { .. } => " (wtmux check --wait; --force merges anyway)",
        _ => "",
    };
    format!("{blocker}{hint}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cli_names_wtmux_trust_for_untrusted_commands() {
        let error = Error::Untrusted {
            file: "/r/.wtmux.toml".into(),
            keys: vec!["check".into(), "post_create".into()],
        };
        let text = message(&error);
        assert!(text.contains("(check, post_create)") && text.ends_with("run `wtmux trust`"));
    }

    #[test]
    fn a_refused_merge_names_the_flags_that_help() {
        let error = Error::step(merge::Refused {
            branch: "feat".into(),
            base: "main".into(),
            blockers: vec![
                Blocker::BranchDirty {
                    files: vec!["a.txt".into()],
                },
                Blocker::ChecksNotPassed {
                    state: CheckState::Failed,
                    name: Some("test".into()),
                },
            ],
        });
        assert_eq!(
            message(&error),
            "refused: not merging feat into main: its worktree has 1 uncommitted file (a.txt): \
             commit them, or pass --commit MSG; check \"test\" failed on this content (wtmux \
             check --wait; --force merges anyway)"
        );
        // The core's own words name no flag.
        assert!(!error.to_string().contains("--"), "{error}");
    }
}
