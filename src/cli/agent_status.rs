//! `wtmux agent-status`: for agents' hooks, records the state of the agent of this worktree.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::core::agent::{self, AgentState};
use crate::core::{Error, Project, Result};

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

/// Records the state, printing nothing: hooks' stdout belongs to the agent (Gemini parses it as
/// JSON). Hooks run wherever the agent's tool runs, so outside a repository or a worktree wtmux
/// manages this does nothing and exits 0, quietly: a hook must never break the agent. Nor does
/// anything that keeps it from recording (a `.wtmux.toml` the agent is half way through
/// editing, a typo in the user's file): that goes, one line, to the repository's hook error
/// log, which `wtmux doctor` reads.
pub fn run(args: Args) -> Result<ExitCode> {
    let state = match args.state {
        PushedArg::Working => AgentState::Working,
        PushedArg::Waiting => AgentState::Waiting,
        PushedArg::Done => AgentState::Done,
    };
    let mut state_root = None;
    if let Err(error) = record(state, &mut state_root) {
        let name = clap::ValueEnum::to_possible_value(&args.state);
        let name = name.as_ref().map_or("?", |v| v.get_name());
        let text = format!(
            "agent-status {name} (in {}): {}",
            hook_dirs()
                .next()
                .map_or_else(|| "?".into(), |d| d.display().to_string()),
            super::error::message(&error)
        );
        // Where the error keeps the repository from loading, its git common dir still tells.
        if let Some(root) =
            state_root.or_else(|| hook_dirs().find_map(|d| agent::state_root_of(&d)))
        {
            // Escaped: a path or a value in the error must not act on the terminal that shows
            // the log (`cat`, `tail`).
            let text = crate::printable::printable(&text);
            let _ = agent::log_hook_error(&root, crate::core::now_unix(), &text);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn record(state: AgentState, state_root: &mut Option<PathBuf>) -> Result<()> {
    let Some(project) = hook_project()? else {
        return Ok(());
    };
    *state_root = Some(project.state.root().to_path_buf());
    match agent::push(&project, state)? {
        agent::Pushed::Recorded(_) | agent::Pushed::NotManaged => Ok(()),
    }
}

/// Where the hook looks for its worktree, in order: `$WTMUX_WORKTREE` (set for agents wtmux
/// starts, wherever the agent's tool has gone since), then the current directory.
fn hook_dirs() -> impl Iterator<Item = PathBuf> {
    let by_env = std::env::var_os("WTMUX_WORKTREE")
        .map(PathBuf::from)
        .filter(|worktree| worktree.is_dir());
    by_env.into_iter().chain(std::env::current_dir().ok())
}

/// The repository of the agent's worktree (`$WTMUX_WORKTREE`, set for agents wtmux starts,
/// wherever the agent's tool has gone since), else (it names no repository) of the current
/// directory; `None` where there is no repository wtmux could manage.
fn hook_project() -> Result<Option<Project>> {
    for dir in hook_dirs() {
        match Project::discover(&dir) {
            Ok(project) => return Ok(Some(project)),
            Err(
                Error::NotARepository(_)
                | Error::BareRepository(_)
                | Error::UnsupportedRepository { .. }
                | Error::NoBase(_),
            ) => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}
