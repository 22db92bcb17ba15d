//! `wtmux add`: a branch, its worktree and its window (and the configured agent).

use std::io::Write;
use std::process::ExitCode;

use super::output::{shown, shown_path};
use crate::core::create::{self, AddOptions, NoWindow};
use crate::core::{Error, Result};

#[derive(Debug, clap::Args)]
pub struct Args {
    branch: String,
    /// Start point of a new branch (default: base).
    #[arg(long, value_name = "REF")]
    base: Option<String>,
    /// Do not open a tmux window.
    #[arg(long)]
    no_window: bool,
    /// Open the window with a shell only, without starting the agent.
    #[arg(long, conflicts_with_all = ["agent", "prompt", "prompt_file"])]
    no_agent: bool,
    /// Start this agent from [agents] instead of the default one.
    #[arg(long, value_name = "NAME")]
    agent: Option<String>,
    /// The agent's task.
    #[arg(long, value_name = "TEXT", conflicts_with = "prompt_file")]
    prompt: Option<String>,
    /// The agent's task, read from a file.
    #[arg(long, value_name = "FILE")]
    prompt_file: Option<std::path::PathBuf>,
    /// Files this worktree is meant to change (a glob such as 'modules/themes/**';
    /// repeatable): the scope guard flags changes outside it, or inside another's.
    #[arg(long, value_name = "GLOB", value_parser = scope_glob)]
    scope: Vec<String>,
}

/// A scope glob, checked as the core checks it, so a bad one is a usage error.
fn scope_glob(text: &str) -> std::result::Result<String, String> {
    crate::core::scope::check_glob(text)
        .map(|()| text.to_string())
        .map_err(|e| e.reason)
}

pub fn run(args: Args) -> Result<ExitCode> {
    let Args {
        branch,
        base,
        no_window,
        no_agent,
        agent,
        prompt,
        prompt_file,
        scope,
    } = args;
    let project = super::project()?;
    let prompt = match prompt_file {
        Some(file) => Some(std::fs::read_to_string(&file).map_err(|e| Error::io(&file, e))?),
        None => prompt,
    };
    let added = create::add(
        &project,
        &branch,
        &AddOptions {
            base: base.clone(),
            no_window,
            no_agent,
            agent,
            prompt,
            scope,
        },
    )?;
    if added.created_branch {
        let from = base.as_deref().unwrap_or(&project.base);
        say!(
            "created branch {} from {}",
            shown(&added.branch),
            shown(from)
        );
    } else {
        say!("checked out existing branch {}", shown(&added.branch));
        if base.is_some() {
            warn!("note: --base ignored, the branch already exists");
        }
    }
    say!("worktree {}", shown_path(&added.path));
    match (&added.window, &added.no_window_reason) {
        (Some(window), _) => say!(
            "window {window}{}",
            added
                .agent
                .as_ref()
                .map(|a| format!(" (agent {} started)", shown(a)))
                .unwrap_or_default()
        ),
        (None, Some(NoWindow::NotWanted)) => say!("no window made: --no-window"),
        (None, Some(NoWindow::NotInTmux)) => say!("no window made: not inside tmux"),
        (None, None) => {}
    }
    Ok(ExitCode::SUCCESS)
}
