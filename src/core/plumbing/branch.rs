//! Branch names: which ones wtmux accepts, and the slug that names a branch's worktree directory
//! and tmux window.
//!
//! The accepted set is deliberately narrower than git's: a branch name becomes a directory, a
//! window name and part of tmux targets, so only letters, digits and `._-/` are allowed. Names
//! that git itself accepts but that would be hostile elsewhere (`x;rm -rf ~`, `-rf`, spaces) are
//! rejected with the reason.

use super::error::{Error, Result};

/// Checks `name` and explains a rejection in a few words.
pub fn validate(name: &str) -> Result<()> {
    let reject = |reason: &str| {
        Err(Error::InvalidBranch {
            name: name.to_string(),
            reason: reason.to_string(),
        })
    };
    if name.is_empty() {
        return reject("it is empty");
    }
    if name.len() > 200 {
        return reject("it is longer than 200 characters");
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/')))
    {
        let what = match bad {
            ' ' => "a space".to_string(),
            '\n' | '\r' | '\t' => "a line break or tab".to_string(),
            c => format!("{c:?}"),
        };
        return reject(&format!(
            "it contains {what} (use letters, digits, '.', '_', '-' and '/')"
        ));
    }
    if name.starts_with('-') {
        return reject("it starts with '-'");
    }
    if name.starts_with('/') || name.ends_with('/') || name.contains("//") {
        return reject("it has an empty path component");
    }
    if name.contains("..") {
        return reject("it contains '..'");
    }
    if name.split('/').any(|part| part.starts_with('.')) {
        return reject("a component starts with '.'");
    }
    if name.split('/').any(|part| part.ends_with(".lock")) || name.ends_with('.') {
        return reject("it ends with '.lock' or '.'");
    }
    if name == "HEAD" || name == "@" {
        return reject("it is reserved by git");
    }
    if !git2::Branch::name_is_valid(name).unwrap_or(false) {
        return reject("git rejects it");
    }
    Ok(())
}

/// The worktree directory and window name for a branch: `/` becomes `-`.
pub fn slug(branch: &str) -> String {
    branch.replace('/', "-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_names_are_rejected() {
        for name in [
            "",
            "../x",
            "a/../../b",
            "-rf",
            "x;rm -rf ~",
            "with space",
            "new\nline",
            "a//b",
            "/abs",
            "x/",
            ".hidden",
            "a/.b",
            "x.lock",
            "HEAD",
            "a..b",
            "$(id)",
            "a\\b",
            "tab\there",
            "quote'",
            "ends.",
        ] {
            assert!(validate(name).is_err(), "{name:?} should be rejected");
        }
    }

    #[test]
    fn ordinary_names_pass() {
        for name in [
            "feat",
            "feat/login",
            "fix-123",
            "v1.2_x",
            "agent/claude/task-7",
        ] {
            validate(name).unwrap();
        }
    }

    #[test]
    fn rejection_says_why() {
        let err = validate("x;rm -rf ~").unwrap_err().to_string();
        assert!(err.contains("';'"), "{err}");
        let err = validate("-rf").unwrap_err().to_string();
        assert!(err.contains("starts with '-'"), "{err}");
    }

    #[test]
    fn slug_flattens_slashes() {
        assert_eq!(slug("agent/claude/task"), "agent-claude-task");
    }
}
