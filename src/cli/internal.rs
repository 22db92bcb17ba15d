//! The hidden commands wtmux runs itself, in the background or under tmux: the check runner,
//! post_merge, the agent wrapper, the two monitors, and `__content` (what the checks see).
//! Nobody reads what recovery would say there, so they do not recover (but `__content`, which a
//! person runs, does).

use std::io::Write;
use std::process::ExitCode;

use super::background_project;
use super::output::{Stdout, exit_status};
use crate::core::{Result, agent, check, merge};
use crate::printable::EscapingLines;

/// Runs the checks of a run record (`check::RUNNER_COMMAND`).
pub fn run_checks(key: &str) -> Result<ExitCode> {
    check::run(&background_project()?, key)?;
    Ok(ExitCode::SUCCESS)
}

/// What the checks and the merge gate see of a worktree: git's changed paths and the content
/// fingerprint, as JSON (`__content`).
/// With `display_racy_ms`, also what the display cache answers (asked first, so a stale
/// answer cannot hide behind a fresh computation) and where its answer came from, and the
/// changed paths as display asks git for them (of wtmux's refreshed copy of the index).
/// With `monitored`, also what display makes of it with the file-system monitor (asked first):
/// its changed paths and fingerprint, and whether the monitor was running.
pub fn content(
    path: &std::path::Path,
    display_racy_ms: Option<u64>,
    monitored: bool,
) -> Result<ExitCode> {
    let project = super::project()?;
    let monitored = if monitored {
        use crate::core::fsmonitor;
        let session = fsmonitor::sync(&project);
        let repo = git2::Repository::open(path)?;
        let changes = fsmonitor::changes_for_display(&project, &repo, path, session.as_deref())?;
        let content = fsmonitor::content_for_display(&project, path, session.as_deref(), &changes)?;
        serde_json::json!({
            "running": session.is_some(),
            "paths": changes.paths(),
            "tree": content.tree.to_string(),
        })
    } else {
        serde_json::Value::Null
    };
    let changes = crate::core::status::exact_changes(path)?;
    let display = match display_racy_ms {
        Some(ms) => {
            let (content, source) = crate::core::fingerprint_cache::content_from(
                &project.content_store()?,
                &project.common_dir,
                path,
                &changes,
                std::time::Duration::from_millis(ms),
            )?;
            serde_json::json!({
                "tree": content.tree.to_string(),
                "key": content.key,
                "source": format!("{source:?}").to_lowercase(),
                "paths": project.content_store()?.display_changes(path)?.paths(),
            })
        }
        None => serde_json::Value::Null,
    };
    // Display's `git add -A` of only the listed paths, where it applies (null where not).
    let listed = project
        .content_store()?
        .content_of_listed(path, &changes)?
        .map(|c| c.tree.to_string());
    let content = project.content_store()?.content(path, &changes)?;
    let json = serde_json::json!({
        "paths": changes.paths(),
        "tree": content.tree.to_string(),
        "key": content.key,
        "display": display,
        "listed": listed,
        "monitored": monitored,
    });
    writeln!(Stdout, "{json}").ok();
    Ok(ExitCode::SUCCESS)
}

/// The post_merge window (`merge::POST_MERGE_COMMAND`): runs that job and every one queued
/// after it, output escaped; after a failure it stays until Enter is pressed.
pub fn post_merge(key: &str) -> Result<ExitCode> {
    let project = background_project()?;
    let mut out = Stdout;
    let mut escaped = EscapingLines::new(&mut out);
    let end = merge::run_post_merge_window(
        &project,
        key,
        &mut escaped,
        &mut |out, last, failed| {
            let note = if last == failed {
                format!("[post_merge exited {last}; press Enter to close]")
            } else {
                format!(
                    "[post_merge exited {last}; one before it exited {failed}: press Enter to close]"
                )
            };
            let _ = writeln!(out, "\n{note}");
            let _ = out.flush();
        },
        &mut enter_pressed,
    );
    escaped.finish().ok();
    Ok(match end? {
        merge::WindowEnd::Succeeded => ExitCode::SUCCESS,
        merge::WindowEnd::Acknowledged(code) => exit_status(code),
    })
}

/// Whether a line was typed on stdin within `timeout` (it is read).
fn enter_pressed(timeout: std::time::Duration) -> bool {
    let mut fd = libc::pollfd {
        fd: 0,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd for the duration of the call.
    let ready = unsafe { libc::poll(&mut fd, 1, timeout.as_millis() as i32) };
    if ready <= 0 {
        return false;
    }
    let mut line = String::new();
    // End of input (no terminal) counts as pressed: nobody can press it.
    let _ = std::io::stdin().read_line(&mut line);
    true
}

/// The process an agent runs under (`agent::WRAPPER_COMMAND`); it never returns.
pub fn agent_wrapper(key: &str) -> Result<ExitCode> {
    match agent::run_wrapper(&background_project()?, key)? {}
}

pub fn agent_monitor() -> Result<ExitCode> {
    agent::run_monitor(&background_project()?)?;
    Ok(ExitCode::SUCCESS)
}

pub fn fs_monitor() -> Result<ExitCode> {
    crate::core::fsmonitor::run_daemon(&background_project()?)?;
    Ok(ExitCode::SUCCESS)
}
