//! `wtmux sync`: printing what a sync did.

use std::io::Write;
use std::process::ExitCode;

use super::output::{shown, shown_path};
use crate::core::Result;
use crate::core::handoff;
use crate::core::sync::{self, SyncMethod, SyncOutcome, Synced};

#[derive(Debug, clap::Args)]
pub struct Args {
    branch: String,
    /// Rebase the branch onto base (default when merge_strategy = "rebase").
    #[arg(long, conflicts_with = "merge")]
    rebase: bool,
    /// Merge base into the branch (the default otherwise).
    #[arg(long)]
    merge: bool,
    /// On a conflict, do not hand it to the worktree's agent.
    #[arg(long)]
    no_handoff: bool,
}

/// Syncs and prints; exit 1 when git stopped on conflicts (left in the worktree), after
/// handing them to the worktree's agent (unless `--no-handoff`), if one runs there.
pub fn run(args: Args) -> Result<ExitCode> {
    let method = match (args.rebase, args.merge) {
        (true, _) => Some(SyncMethod::Rebase),
        (_, true) => Some(SyncMethod::Merge),
        _ => None,
    };
    let project = super::project()?;
    let synced = sync::sync(&project, &args.branch, method)?;
    print(&synced);
    if !args.no_handoff
        && let Some(text) = handoff::task(&project, &synced)
    {
        match handoff::send(&project, &synced, &text) {
            // The conflict line already says where it stays and what to do.
            Ok(handoff::HandOff::NoAgent) => {}
            Ok(handoff::HandOff::Sent) => say!(
                "handed the conflict to the agent of {}",
                shown(&synced.branch)
            ),
            Err(e) => warn!(
                "the conflict was not handed to an agent: {}",
                shown(&super::error::message(&e))
            ),
        }
    }
    Ok(match synced.outcome {
        SyncOutcome::Conflicted { .. } => ExitCode::FAILURE,
        _ => ExitCode::SUCCESS,
    })
}

fn commits(n: usize) -> String {
    format!("{n} commit{}", if n == 1 { "" } else { "s" })
}

fn print(synced: &Synced) {
    let (branch, base) = (shown(&synced.branch), shown(&synced.base));
    match &synced.outcome {
        SyncOutcome::UpToDate => say!("{branch} already has every commit of {base}"),
        SyncOutcome::Synced { head } => match synced.method {
            SyncMethod::Merge => say!(
                "merged {} of {base} into {branch}, now at {}",
                commits(synced.incoming.len()),
                &head[..7.min(head.len())]
            ),
            SyncMethod::Rebase => say!(
                "rebased {branch} onto {base} ({} new), now at {}",
                commits(synced.incoming.len()),
                &head[..7.min(head.len())]
            ),
        },
        SyncOutcome::Conflicted { operation, files } => {
            warn!(
                "{branch}: {} ({}) bringing in {} of {base}; the conflict stays in {}: resolve it there, run the checks, and commit (or abort with git {} --abort)",
                operation.summary(),
                shown(&files.join(", ")),
                commits(synced.incoming.len()),
                shown_path(&synced.path),
                synced.method
            );
        }
    }
}
