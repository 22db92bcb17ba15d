//! The core's errors and merge blockers in the popup's words, with its keys where a key helps.
//! Pure. The core names no flag or key; the CLI phrases the same facts with its flags
//! (`cli/error.rs`).

use crate::core::check::CheckState;
use crate::core::merge::{self, Blocker};
use crate::core::{Error, remove, window};

/// A core error as the popup says it.
pub fn error_text(error: &Error) -> String {
    if let Some(refused) = error.step_refusal::<merge::Refused>() {
        let reasons: Vec<String> = refused.blockers.iter().map(blocker).collect();
        return format!(
            "not merging {} into {}: {}",
            refused.branch,
            refused.base,
            reasons.join("; ")
        );
    }
    if let Some(refused) = error.step_refusal::<remove::WouldLoseWork>() {
        return format!("{refused} (d, f, y saves them to the trash, then removes)");
    }
    if let Some(gone) = error.step_refusal::<window::DirectoryGone>() {
        return format!("{gone}: d removes it");
    }
    match error {
        // Any other step's refusal: its facts, as they are.
        Error::Step(refusal) => refusal.to_string(),
        Error::Untrusted { file, keys } => format!(
            "not run: {} has commands ({}) you have not trusted yet; review them, then run \
             `wtmux trust` in a shell there",
            file.display(),
            keys.join(", ")
        ),
        other => other.to_string(),
    }
}

/// Why a merge cannot go ahead, and the key that helps, if one does.
pub fn blocker(blocker: &Blocker) -> String {
    let hint = match blocker {
        Blocker::NothingToMerge => " (d removes it)",
        Blocker::BranchDirty { .. } => ": commit them first",
        Blocker::ChecksNotPassed {
            state: CheckState::Running,
            ..
        } => " (wait for them)",
        // A failed check wants a fix, not another run.
        Blocker::ChecksNotPassed {
            state: CheckState::Failed,
            name: Some(_),
        } => "",
        Blocker::ChecksNotPassed { .. } => " (v runs them)",
        _ => "",
    };
    format!("{blocker}{hint}")
}

/// The merge dialog's warning that base moved on since the branch left it (`None` when not).
pub fn base_moved(
    base: &str,
    branch: &str,
    commits: usize,
    gate: crate::core::config::Gate,
) -> Option<String> {
    (commits > 0).then(|| {
        format!(
            "{base} moved on by {commits} commit{} since {branch} left it: the merge brings them \
             together untested{}",
            if commits == 1 { "" } else { "s" },
            match gate {
                crate::core::config::Gate::Merged => " (the merged gate checks the result first)",
                crate::core::config::Gate::Content => " (u brings them into the branch first)",
            }
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_popup_names_its_keys_and_no_flag() {
        let error = Error::step(merge::Refused {
            branch: "feat".into(),
            base: "main".into(),
            blockers: vec![
                Blocker::NothingToMerge,
                Blocker::ChecksNotPassed {
                    state: CheckState::Stale,
                    name: None,
                },
            ],
        });
        let text = error_text(&error);
        assert_eq!(
            text,
            "not merging feat into main: it has nothing that base lacks (d removes it); its \
             checks ran on other content than is being merged (v runs them)"
        );
        assert!(
            !text.contains("--") && !text.starts_with("refused"),
            "{text}"
        );
    }
}
