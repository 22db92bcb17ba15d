//! `wtmux doctor`: the background monitors (agents, file system), or restarting them.

use std::io::Write;
use std::process::ExitCode;

use super::output::{shown, shown_path};
use crate::core::Result;
use crate::core::error::plural;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Stop them and start them again.
    #[arg(long)]
    restart: bool,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let project = super::project()?;
    let report = if args.restart {
        crate::core::doctor::restart(&project)?
    } else {
        crate::core::doctor::report(&project)?
    };
    print_doctor(&report, args.restart);
    if let Some(last) = report.hook_errors.last() {
        let now = crate::core::now_unix();
        say!(
            "agent hooks: {} error{} in the last day (log: {}); the last, {} ago: {}",
            report.hook_errors.len(),
            plural(report.hook_errors.len()),
            shown_path(&crate::core::agent::hook_errors_log(&project)),
            humantime::format_duration(std::time::Duration::from_secs(now.saturating_sub(last.at))),
            shown(&last.text)
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `wtmux doctor`'s lines.
fn print_doctor(report: &crate::core::doctor::Report, restarted: bool) {
    let now = crate::core::now_unix();
    let ago = |t: u64| {
        humantime::format_duration(std::time::Duration::from_secs(now.saturating_sub(t)))
            .to_string()
    };
    match &report.agents {
        Some(m) => say!(
            "agent monitor: pid {}, up {}, {} agent{} live, last change {}",
            m.pid,
            ago(m.started),
            report.live_agents,
            plural(report.live_agents),
            m.last_change
                .map(|t| format!("{} ago", ago(t)))
                .unwrap_or_else(|| "none yet".into())
        ),
        None if report.live_agents == 0 => {
            say!("agent monitor: not running (no agent is live; it starts with the next agent)")
        }
        None => say!(
            "agent monitor: NOT RUNNING with {} agent{} live{}",
            report.live_agents,
            plural(report.live_agents),
            if restarted {
                ""
            } else {
                " (the next `wtmux list` or popup starts it; or `wtmux doctor --restart`)"
            }
        ),
    }
    match &report.files {
        Some(d) => say!(
            "file-system monitor: pid {}, up {}, watching {} director{} (inotify limit {} for all of this user's watchers), last event {}",
            d.pid,
            ago(d.started),
            d.watched,
            if d.watched == 1 { "y" } else { "ies" },
            d.limit
                .map(|l| l.to_string())
                .unwrap_or_else(|| "unknown".into()),
            d.last_event
                .map(|t| format!("{} ago", ago(t)))
                .unwrap_or_else(|| "none yet".into())
        ),
        None => match report.files_gave_up.and_then(|t| t.elapsed().ok()) {
            Some(age) => say!(
                "file-system monitor: not running: {} ago it could not watch every directory (inotify limit {}); readers scan",
                humantime::format_duration(std::time::Duration::from_secs(age.as_secs())),
                crate::core::fsmonitor::inotify_limit()
                    .map(|l| l.to_string())
                    .unwrap_or_else(|| "unknown".into())
            ),
            None => say!(
                "file-system monitor: not running (inside tmux, the next `wtmux list` or popup starts it; readers scan meanwhile)"
            ),
        },
    }
}
