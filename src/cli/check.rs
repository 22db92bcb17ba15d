//! `wtmux check`: run the checks of one worktree (or all) under tmux, optionally following them.

use std::io::Write;
use std::process::ExitCode;

use super::output::{Stdout, shown, shown_path};
use crate::core::Result;
use crate::core::check::{self, Started};
use crate::core::worktree;
use crate::printable::EscapingLines;

#[derive(Debug, clap::Args)]
pub struct Args {
    branch: Option<String>,
    /// Check every worktree (at most `check_jobs` at once).
    #[arg(long, conflicts_with = "branch")]
    all: bool,
    /// Stream the output and exit non-zero when a check fails.
    #[arg(long)]
    wait: bool,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let project = super::project()?;
    let targets = if args.all {
        worktree::worktrees(&project)?
            .into_iter()
            .filter(|w| !w.prunable)
            .collect()
    } else {
        vec![worktree::find_or_current(&project, args.branch.as_deref())?]
    };
    for target in &targets {
        match check::start(&project, target)? {
            Started::Started { under_tmux } => say!(
                "checks started in {}{}",
                shown(&target.label()),
                if under_tmux {
                    ""
                } else {
                    " (not inside tmux: as a background process)"
                }
            ),
            Started::AlreadyRunning { name } => say!(
                "checks already running in {}{}",
                shown(&target.label()),
                name.map(|n| format!(" ({})", shown(&n)))
                    .unwrap_or_default()
            ),
        }
    }
    if !args.wait {
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = Stdout;
    let mut failed = 0;
    for target in &targets {
        // A check's output is outside text too: shown line by line, escaped.
        let mut escaped = EscapingLines::new(&mut out);
        let outcome = check::follow(&project, target, &mut escaped);
        escaped.finish().ok();
        let outcome = outcome?;
        if outcome.passed {
            writeln!(out, "✔ {}: checks passed", shown(&target.label())).ok();
        } else {
            failed += 1;
            writeln!(
                out,
                "✘ {}: check {} failed with exit {} (log: {})",
                shown(&target.label()),
                shown(outcome.failed.as_deref().unwrap_or("?")),
                outcome.exit_code.unwrap_or(-1),
                outcome.log.as_deref().map(shown_path).unwrap_or_default()
            )
            .ok();
        }
    }
    Ok(if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
