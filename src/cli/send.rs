//! `wtmux send`: type text into a worktree's agent (then Enter).

use std::process::ExitCode;

use crate::core::Result;
use crate::core::agent;

#[derive(Debug, clap::Args)]
pub struct Args {
    branch: String,
    text: String,
}

pub fn run(args: Args) -> Result<ExitCode> {
    agent::send(&super::project()?, &args.branch, &args.text)?;
    Ok(ExitCode::SUCCESS)
}
