//! `wtmux send`: type text into a worktree's agent (then Enter); with `--coordinate`, the note
//! the popup's `c` drafts for an agent predicted to conflict with a sibling.

use std::io::Write;
use std::process::ExitCode;

use super::output::{Stdout, shown};
use crate::core::{Result, agent, handoff};

#[derive(Debug, clap::Args)]
pub struct Args {
    branch: String,
    #[arg(required_unless_present = "coordinate")]
    text: Option<String>,
    /// Send the coordination note (from `coordinate_template`): which sibling branches this one
    /// is predicted to conflict with, and in which files.
    #[arg(long, conflicts_with = "text")]
    coordinate: bool,
    /// With --coordinate: print the note and send nothing (edit it, then `wtmux send <branch>
    /// "<text>"`).
    #[arg(long, requires = "coordinate")]
    print: bool,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let project = super::project()?;
    let Some(text) = args.text else {
        let draft = handoff::draft_coordination(&project, &args.branch)?;
        if args.print {
            writeln!(Stdout, "{}", shown(&draft.text)).ok();
            return Ok(ExitCode::SUCCESS);
        }
        agent::send(&project, &draft.path.to_string_lossy(), &draft.text)?;
        writeln!(
            Stdout,
            "sent to the agent of {}: predicted to conflict with {}",
            shown(&draft.branch),
            shown(&draft.siblings.join(", "))
        )
        .ok();
        return Ok(ExitCode::SUCCESS);
    };
    agent::send(&project, &args.branch, &text)?;
    Ok(ExitCode::SUCCESS)
}
