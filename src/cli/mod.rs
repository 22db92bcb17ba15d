//! The command line: one file per command (`cli/<command>.rs`: its clap arguments and a
//! `run(args) -> Result<ExitCode>` that calls the core and prints through `output`); core errors are phrased by `error`, with
//! the CLI's flags. No workflow logic lives here.

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::core::oplock::OpLock;
use crate::core::{Error, Project, Result, recovery};

#[macro_use]
mod output;
mod add;
mod agent_status;
mod check;
mod completions;
mod conflicts;
mod demo;
mod doctor;
mod error;
mod init;
mod internal;
mod list;
mod merge;
mod open;
mod remove;
mod restore;
mod send;
mod setup;
mod sync;
mod trash;
mod trust;
mod ui;
mod wait;
use error::message;
use output::{Stdout, shown, usage_error_line};

#[derive(Debug, Parser)]
#[command(
    name = "wtmux",
    version,
    about = "Parallel coding agents, one git worktree and one tmux window each",
    long_about = None
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Open the dashboard (the default without a subcommand).
    Ui,
    /// Create a worktree and branch (or check out an existing branch), with its tmux window.
    Add(add::Args),
    /// Overlapping work and predicted conflicts across all worktrees, and a merge order.
    Conflicts(conflicts::Args),
    /// Bring base's new commits into a worktree's branch (a conflict stays in the worktree).
    Sync(sync::Args),
    /// Type text into a worktree's agent (then Enter).
    Send(send::Args),
    /// Wait until a worktree's agent is waiting, done or exited.
    Wait(wait::Args),
    /// For agents' hooks: record that the agent of this worktree is working, waiting or done.
    AgentStatus(agent_status::Args),
    /// Add wtmux's hooks to an agent's settings (merged; shows the change and asks first).
    Setup(setup::Args),
    /// List every worktree with its status.
    List(list::Args),
    /// Focus a worktree's tmux window, creating it if it is gone.
    Open(open::Args),
    /// Run the configured checks in a worktree (default: the current one) under tmux.
    Check(check::Args),
    /// Merge a branch into base, gated on its checks, then run post_merge and clean up.
    Merge(merge::Args),
    /// Remove a worktree, its branch and its window (work is saved to the trash first).
    Remove(remove::Args),
    /// List what removals saved (size, age, what each holds), or prune old saves.
    Trash(trash::Args),
    /// Bring back a removed worktree exactly as it was: directory, index, branch.
    Restore(restore::Args),
    /// Write a commented .wtmux.toml into the main worktree.
    Init,
    /// Show the background monitors (agents, file system): pid, uptime, watches, last event.
    Doctor(doctor::Args),
    /// Trust the commands this repository's .wtmux.toml defines (checks, post_create,
    /// post_merge, notify, agents) on this machine; a change to them needs trust again.
    Trust,
    /// Try wtmux on a throwaway repository, in a tmux session with Prefix + w bound.
    Demo(demo::Args),
    /// Print shell completions.
    Completions(completions::Args),
    #[command(name = crate::core::check::RUNNER_COMMAND, hide = true)]
    RunChecks { key: String },
    /// What the checks and the merge gate see of a worktree: git's changed paths and the
    /// content fingerprint (tree and key), as JSON.
    #[command(name = "__content", hide = true)]
    Content {
        path: std::path::PathBuf,
        /// Also the display cache's answer (computed first), trusting entries this old.
        #[arg(long)]
        display_racy_ms: Option<u64>,
        /// Also what display makes of it with the file-system monitor (asked first).
        #[arg(long)]
        monitored: bool,
    },
    #[command(name = crate::core::merge::POST_MERGE_COMMAND, hide = true)]
    PostMerge { key: String },
    #[command(name = crate::core::agent::WRAPPER_COMMAND, hide = true)]
    AgentWrapper { key: String },
    #[command(name = crate::core::agent::MONITOR_COMMAND, hide = true)]
    AgentMonitor,
    #[command(name = crate::core::fsmonitor::COMMAND, hide = true)]
    FsMonitor,
}

/// The exit code of a usage error (1 is a refusal or a failure).
const USAGE: u8 = 2;

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    crate::tui::STARTED.get_or_init(std::time::Instant::now);
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) if !error.use_stderr() => {
            // --help, --version
            let _ = write!(Stdout, "{}", error.render());
            return ExitCode::SUCCESS;
        }
        Err(error) => {
            let line = unknown_option(&error)
                .unwrap_or_else(|| usage_error_line(&error.render().to_string()));
            warn!("{}", shown(&line));
            return ExitCode::from(USAGE);
        }
    };
    match run(cli) {
        Ok(code) => code,
        Err(error) => {
            warn!("{}", shown(&message(&error)));
            ExitCode::FAILURE
        }
    }
}

/// A subcommand's unknown option, phrased by [`output::unknown_option_line`]; `None` for any
/// other usage error (clap's own line, shortened).
fn unknown_option(error: &clap::Error) -> Option<String> {
    use clap::CommandFactory;
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if error.kind() != ErrorKind::UnknownArgument {
        return None;
    }
    let text = |kind| match error.get(kind) {
        Some(ContextValue::String(text)) => Some(text.clone()),
        _ => None,
    };
    let invalid = text(ContextKind::InvalidArg)?;
    // Not an option but an argument too many (`sync feat extra`): clap's own line says so.
    if !invalid.starts_with('-') {
        return None;
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cli = Cli::command();
    let (at, command) = args.iter().enumerate().find_map(|(i, arg)| {
        (!arg.starts_with('-'))
            .then(|| cli.find_subcommand(arg))
            .flatten()
            .map(|c| (i, c))
    })?;
    let options: Vec<String> = command
        .get_arguments()
        .filter(|a| !a.is_hide_set())
        .filter_map(|a| a.get_long().map(|long| format!("--{long}")))
        .filter(|long| long != "--help")
        .collect();
    let after = &args[at + 1..];
    let typed_at = output::typed_argument(after, &invalid)?;
    let typed = after[typed_at].as_str();
    // Right after an option taking a value (`--prompt -rf`), it was meant as that value; `send`
    // takes free text, which may start with `-`; a branch never does.
    let takes_value = |option: &str| {
        command.get_arguments().any(|a| {
            a.get_long()
                .is_some_and(|long| option == format!("--{long}"))
                && a.get_action().takes_values()
        })
    };
    let hint = match typed_at.checked_sub(1).map(|i| after[i].as_str()) {
        Some(option) if takes_value(option) => Some(format!(
            "a value starting with - is written {option}={typed}"
        )),
        _ if command.get_name() == "send" => {
            Some("text starting with - goes after --: wtmux send <branch> -- <text>".into())
        }
        _ => None,
    };
    Some(output::unknown_option_line(
        command.get_name(),
        typed,
        text(ContextKind::SuggestedArg).as_deref(),
        &options,
        hint.as_deref(),
    ))
}

/// The repository of the current directory, after finishing or rolling back whatever an
/// interrupted wtmux operation left half done (one line each on stderr).
fn project() -> Result<Project> {
    let project = background_project()?;
    for recovered in recovery::recover(&project)? {
        warn!("{}", shown(&recovered.to_string()));
    }
    Ok(project)
}

/// The operation lock, waiting for whoever holds it with one line saying whom.
fn take_lock(project: &Project, what: &str) -> Result<OpLock> {
    let (lock, recovered) = recovery::acquire(project, what, &mut |holder| {
        warn!("waiting for {} to finish", shown(&holder.to_string()));
    })?;
    for recovered in recovered {
        warn!("{}", shown(&recovered.to_string()));
    }
    Ok(lock)
}

/// The repository, for the hidden commands that run in the background and for agents' hooks:
/// nobody would read what recovery says there, so the next command a person runs does it.
fn background_project() -> Result<Project> {
    let cwd = std::env::current_dir()
        .map_err(|_| Error::refused("the current directory no longer exists (cd elsewhere)"))?;
    Project::discover(&cwd)
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command.unwrap_or(Command::Ui) {
        Command::Ui => ui::run(),
        Command::Add(args) => add::run(args),
        Command::Conflicts(args) => conflicts::run(args),
        Command::Sync(args) => sync::run(args),
        Command::Send(args) => send::run(args),
        Command::Wait(args) => wait::run(args),
        Command::AgentStatus(args) => agent_status::run(args),
        Command::Setup(args) => setup::run(args),
        Command::List(args) => list::run(args),
        Command::Open(args) => open::run(args),
        Command::Check(args) => check::run(args),
        Command::Merge(args) => merge::run(args),
        Command::Remove(args) => remove::run(args),
        Command::Trash(args) => trash::run(args),
        Command::Restore(args) => restore::run(args),
        Command::Init => init::run(),
        Command::Doctor(args) => doctor::run(args),
        Command::Trust => trust::run(),
        Command::Demo(args) => demo::run(args),
        Command::Completions(args) => completions::run(args),
        Command::RunChecks { key } => internal::run_checks(&key),
        Command::Content {
            path,
            display_racy_ms,
            monitored,
        } => internal::content(&path, display_racy_ms, monitored),
        Command::PostMerge { key } => internal::post_merge(&key),
        Command::AgentWrapper { key } => internal::agent_wrapper(&key),
        Command::AgentMonitor => internal::agent_monitor(),
        Command::FsMonitor => internal::fs_monitor(),
    }
}
