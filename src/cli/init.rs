//! `wtmux init`: a commented .wtmux.toml in the main worktree.

use std::io::Write;
use std::process::ExitCode;

use super::output::shown_path;
use crate::core::{Error, Result, config, trust};

pub fn run() -> Result<ExitCode> {
    let project = super::project()?;
    let path = project.main_worktree.join(config::REPO_CONFIG_FILE);
    if path.exists() {
        return Err(Error::refused(format!("{} already exists", path.display())));
    }
    std::fs::write(&path, EXAMPLE).map_err(|e| Error::io(&path, e))?;
    // What wtmux writes itself is trusted.
    let written = config::Config::load(&project.main_worktree, None)?.repo_commands;
    if !written.keys.is_empty() {
        trust::grant(&project.main_worktree, &written.digest)?;
    }
    say!("wrote {}", shown_path(&path));
    Ok(ExitCode::SUCCESS)
}

/// The commented example `wtmux init` writes. It names the commands and flags that use each
/// key, so it is the CLI's text, not the core's.
const EXAMPLE: &str = r#"# wtmux configuration for this repository (layered over ~/.config/wtmux/config.toml).

# Branch that worktrees branch from and merge into; default: the main worktree's branch.
# base = "main"

# Where worktrees are created, relative to the main worktree (added to .git/info/exclude).
worktree_dir = ".worktrees"

# The agent started in a new worktree's tmux window: a name from [agents] or a command;
# "" starts just a shell. `wtmux add --agent NAME` picks another.
agent = ""

# Named agents. prompt = "arg" appends the task as one argument; "paste" types it into the
# agent once its pane is ready.
# [agents.claude]
# run = "claude"
# prompt = "arg"
# [agents.aider]
# run = "aider --no-auto-commits"
# prompt = "paste"

# When an agent turns waiting, done or exited: run this with the message as its argument,
# and/or ring the pane's bell (tmux shows it in the status line).
# notify = "notify-send wtmux"
# bell = false

# Observed agent state: output quiet this long means the agent stopped (waiting or done);
# a hook's "working" with no output for agent_hook_stale is corrected from what is observed.
# agent_quiet = "3s"
# agent_hook_stale = "30s"

# The task an agent gets when `wtmux sync` of its worktree stops on conflicts; placeholders
# {branch} {base} {operation} {files} {commits} {finish} (see README for the default).
# handoff_template = "..."

# The task the popup's `c` drafts (shown, editable) for the agent of a worktree predicted to
# conflict with a sibling; placeholders {branch} {base} {siblings} {files} (see README).
# coordinate_template = "..."

# Untracked files (globs, relative to the main worktree) copied / symlinked into new worktrees.
copy = []
symlink = []

# Run in a new worktree before the agent starts; a failure rolls the creation back.
post_create = []

# Run in the main worktree after a successful merge (the deploy step).
# post_merge = "make deploy"

# merge | rebase | squash
merge_strategy = "merge"

# "content": a merge needs the checks passed on the branch's content. "merged": also on the
# merge result, checked in a scratch worktree before base moves (base only holds checked content).
gate = "content"

# Start a worktree's checks by themselves (under tmux, like the popup's `v`) when its branch
# gets a new commit ("commit") and/or its agent finishes a turn ("done"); once per content:
# content already checked, or being checked, is not checked again. Default: [] (only by hand).
# verify_on = ["commit", "done"]

# How many worktrees `wtmux check --all` verifies at once (default: the number of cores).
# check_jobs = 2

# Days a removed worktree's saved state is kept before `wtmux trash --prune` drops it.
trash_days = 30
# `wtmux trash --prune` also drops the oldest saves beyond this total size ("none": no cap).
trash_max_size = "20 GiB"

# The verification loop: run in order with `sh -c` in the worktree, stopping at the first failure.
# A merge needs these to have passed on exactly the content being merged.
# [[check]]
# name = "test"
# run = "cargo test"
# timeout = "10m"
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::config::{MergeStrategy, VerifyOn, load_text as load};

    #[test]
    fn example_parses() {
        let config = load(EXAMPLE).unwrap();
        assert_eq!(config.trash_days, 30);
        assert_eq!(config.merge_strategy, MergeStrategy::Merge);
        assert!(config.verify_on.is_empty());
        let uncommented = EXAMPLE.replace("# verify_on =", "verify_on =");
        assert_eq!(
            load(&uncommented).unwrap().verify_on,
            [VerifyOn::Commit, VerifyOn::Done]
        );
        let err = load("verify_on = [\"push\"]\n").unwrap_err().to_string();
        assert!(err.contains(":1: key `verify_on`"), "{err}");
    }
}
