//! `wtmux wait`: block until a worktree's agent is waiting, done or exited.

use std::io::Write;
use std::process::ExitCode;

use crate::core::agent::{self, AgentState};
use crate::core::{Result, config};

#[derive(Debug, clap::Args)]
pub struct Args {
    branch: String,
    #[arg(long, value_enum)]
    until: UntilArg,
    /// Give up after this long (e.g. 30s, 10m): exit 1.
    #[arg(long, value_parser = config::parse_duration)]
    timeout: Option<std::time::Duration>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum UntilArg {
    Waiting,
    Done,
    Exited,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let until = match args.until {
        UntilArg::Waiting => AgentState::Waiting,
        UntilArg::Done => AgentState::Done,
        UntilArg::Exited => AgentState::Exited,
    };
    let status = agent::wait(&super::project()?, &args.branch, until, args.timeout)?;
    match status.exit_code {
        Some(code) => say!("{} (status {code})", status.state.as_str()),
        None => say!("{}", status.state.as_str()),
    }
    Ok(ExitCode::SUCCESS)
}
