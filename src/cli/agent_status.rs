//! `wtmux agent-status`: for agents' hooks, records the state of the agent of this worktree.

use std::process::ExitCode;

use crate::core::Result;
use crate::core::agent::{self, AgentState};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(value_enum)]
    state: PushedArg,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum PushedArg {
    Working,
    Waiting,
    Done,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let state = match args.state {
        PushedArg::Working => AgentState::Working,
        PushedArg::Waiting => AgentState::Waiting,
        PushedArg::Done => AgentState::Done,
    };
    // Hooks' stdout belongs to the agent (Gemini parses it as JSON): print nothing.
    agent::push(&super::background_project()?, state)?;
    Ok(ExitCode::SUCCESS)
}
