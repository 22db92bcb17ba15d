//! The hidden commands wtmux runs itself, in the background or under tmux: the check runner,
//! post_merge, the agent wrapper, the two monitors, and `__content` (what the checks see).
//! Nobody reads what recovery would say there, so they do not recover (but `__content`, which a
//! person runs, does).

use std::io::Write;

use super::background_project;
use super::output::Stdout;
use crate::core::{Result, agent, check, merge};
use crate::printable::EscapingLines;

/// Runs the checks of a run record (`check::RUNNER_COMMAND`).
pub fn run_checks(key: &str) -> Result<i32> {
    check::run(&background_project()?, key)?;
    Ok(0)
}

/// What the checks and the merge gate see of a worktree: git's changed paths and the content
/// fingerprint, as JSON (`__content`).
pub fn content(path: &std::path::Path) -> Result<i32> {
    let project = super::project()?;
    let changes = crate::core::status::exact_changes(path)?;
    let content = project.content_store()?.content(path, &changes)?;
    let json = serde_json::json!({
        "paths": changes.paths(),
        "tree": content.tree.to_string(),
        "key": content.key,
    });
    writeln!(Stdout, "{json}").ok();
    Ok(0)
}

/// post_merge in its tmux window (`merge::POST_MERGE_COMMAND`): output escaped, then waits
/// for Enter so it stays readable.
pub fn post_merge(key: &str) -> Result<i32> {
    let project = background_project()?;
    let mut out = Stdout;
    let mut escaped = EscapingLines::new(&mut out);
    let code = merge::run_post_merge_job(&project, key, &mut escaped);
    escaped.finish().ok();
    let code = code?;
    writeln!(out, "\n[post_merge exited {code}; press Enter to close]").ok();
    out.flush().ok();
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    Ok(code)
}

/// The process an agent runs under (`agent::WRAPPER_COMMAND`); it never returns.
pub fn agent_wrapper(key: &str) -> Result<i32> {
    match agent::run_wrapper(&background_project()?, key)? {}
}

pub fn agent_monitor() -> Result<i32> {
    agent::run_monitor(&background_project()?)?;
    Ok(0)
}

pub fn fs_monitor() -> Result<i32> {
    crate::core::fsmonitor::run_daemon(&background_project()?)?;
    Ok(0)
}
