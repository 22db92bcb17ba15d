//! The command line: parses arguments, calls the core, prints. No workflow logic lives here.

use std::io::Write;

use clap::{CommandFactory, Parser, Subcommand};

use crate::core::agent::{self, AgentState};
use crate::core::check::{self, CheckState, CheckStatus, Started};
use crate::core::config::{self, MergeStrategy};
use crate::core::merge::{self, MergeOptions};
use crate::core::oplock::OpLock;
use crate::core::worktree::{self, AddOptions, RemoveOptions};
use crate::core::{Error, Project, Result, journal, scope, trash, trust};
use crate::printable::EscapingLines;

#[macro_use]
mod output;
mod sync;
use output::{Stdout, message, print_json, shown, shown_path, usage_error_line};

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
    Add {
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
        #[arg(long, value_name = "GLOB")]
        scope: Vec<String>,
    },
    /// Overlapping work and predicted conflicts across all worktrees, and a merge order.
    Conflicts {
        #[arg(long)]
        json: bool,
    },
    /// Bring base's new commits into a worktree's branch (a conflict stays in the worktree).
    Sync {
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
    },
    /// Type text into a worktree's agent (then Enter).
    Send { branch: String, text: String },
    /// Wait until a worktree's agent is waiting, done or exited.
    Wait {
        branch: String,
        #[arg(long, value_enum)]
        until: UntilArg,
        /// Give up after this long (e.g. 30s, 10m): exit 1.
        #[arg(long, value_parser = config::parse_duration)]
        timeout: Option<std::time::Duration>,
    },
    /// For agents' hooks: record that the agent of this worktree is working, waiting or done.
    AgentStatus {
        #[arg(value_enum)]
        state: PushedArg,
    },
    /// Add wtmux's hooks to an agent's settings (merged; shows the change and asks first).
    Setup {
        #[arg(value_enum)]
        agent: SetupArg,
        /// Apply without asking.
        #[arg(long)]
        yes: bool,
        /// The settings file (default: the agent's user settings under $HOME).
        #[arg(long, value_name = "FILE")]
        settings: Option<std::path::PathBuf>,
    },
    /// List every worktree with its status.
    List {
        /// Print the stable JSON schema documented in README.md.
        #[arg(long)]
        json: bool,
    },
    /// Focus a worktree's tmux window, creating it if it is gone.
    Open { branch: String },
    /// Run the configured checks in a worktree (default: the current one) under tmux.
    Check {
        branch: Option<String>,
        /// Check every worktree (at most `check_jobs` at once).
        #[arg(long, conflicts_with = "branch")]
        all: bool,
        /// Stream the output and exit non-zero when a check fails.
        #[arg(long)]
        wait: bool,
    },
    /// Merge a branch into base, gated on its checks, then run post_merge and clean up.
    Merge {
        #[arg(conflicts_with = "all_green")]
        branch: Option<String>,
        /// Merge every green branch, one by one, in an order that does not conflict; list
        /// every other branch with the reason (base is left clean after each step).
        #[arg(long)]
        all_green: bool,
        /// With --all-green: first run the checks of worktrees not checked on their current
        /// content, and wait for them.
        #[arg(long, requires = "all_green")]
        verify: bool,
        #[arg(long, value_enum)]
        strategy: Option<StrategyArg>,
        /// Commit the worktree's uncommitted changes with this message first.
        #[arg(long, value_name = "MSG")]
        commit: Option<String>,
        /// Keep worktree, branch and window afterwards.
        #[arg(long)]
        keep: bool,
        /// Merge even if the checks have not passed on this content.
        #[arg(long)]
        force: bool,
    },
    /// Remove a worktree, its branch and its window (work is saved to the trash first).
    Remove {
        branch: String,
        /// Remove even with uncommitted files or unmerged commits.
        #[arg(long)]
        force: bool,
        #[arg(long)]
        keep_branch: bool,
    },
    /// List what removals saved (size, age, what each holds), or prune old saves.
    Trash {
        /// Drop saves older than `trash_days` (config; default 30), then the oldest beyond
        /// `trash_max_size` (default 20 GiB).
        #[arg(long)]
        prune: bool,
        /// With --prune: drop saves older than this many days instead.
        #[arg(long, value_name = "DAYS", requires = "prune")]
        older_than: Option<u64>,
    },
    /// Bring back a removed worktree exactly as it was: directory, index, branch.
    Restore {
        /// The branch whose newest save comes back (not needed with --from).
        #[arg(required_unless_present = "from")]
        branch: Option<String>,
        /// Restore this save (an id from `wtmux trash`) instead of the branch's newest.
        #[arg(long, value_name = "ID")]
        from: Option<String>,
    },
    /// Write a commented .wtmux.toml into the main worktree.
    Init,
    /// Show the background monitors (agents, file system): pid, uptime, watches, last event.
    Doctor {
        /// Stop them and start them again.
        #[arg(long)]
        restart: bool,
    },
    /// Trust the commands this repository's .wtmux.toml defines (checks, post_create,
    /// post_merge, notify, agents) on this machine; a change to them needs trust again.
    Trust,
    /// Try wtmux on a throwaway repository, in a tmux session with Prefix + w bound.
    Demo {
        /// Set everything up, but do not attach to (or switch to) the demo session.
        #[arg(long)]
        no_attach: bool,
    },
    /// Print shell completions.
    Completions { shell: clap_complete::Shell },
    #[command(name = check::RUNNER_COMMAND, hide = true)]
    RunChecks { key: String },
    /// What the checks and the merge gate see of a worktree: git's changed paths and the
    /// content fingerprint (tree and key), as JSON.
    #[command(name = "__content", hide = true)]
    Content { path: std::path::PathBuf },
    #[command(name = merge::POST_MERGE_COMMAND, hide = true)]
    PostMerge { key: String },
    #[command(name = agent::WRAPPER_COMMAND, hide = true)]
    AgentWrapper { key: String },
    #[command(name = agent::MONITOR_COMMAND, hide = true)]
    AgentMonitor,
    #[command(name = crate::core::fsmonitor::COMMAND, hide = true)]
    FsMonitor,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum UntilArg {
    Waiting,
    Done,
    Exited,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum PushedArg {
    Working,
    Waiting,
    Done,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum SetupArg {
    Claude,
    Gemini,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum StrategyArg {
    Merge,
    Rebase,
    Squash,
}

impl From<StrategyArg> for MergeStrategy {
    fn from(arg: StrategyArg) -> Self {
        match arg {
            StrategyArg::Merge => MergeStrategy::Merge,
            StrategyArg::Rebase => MergeStrategy::Rebase,
            StrategyArg::Squash => MergeStrategy::Squash,
        }
    }
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
            worktree::plural(report.live_agents),
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
            worktree::plural(report.live_agents),
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

/// Runs the command line and returns the process exit code.
pub fn main() -> i32 {
    crate::tui::STARTED.get_or_init(std::time::Instant::now);
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) if !error.use_stderr() => {
            // --help, --version
            let _ = write!(Stdout, "{}", error.render());
            return 0;
        }
        Err(error) => {
            warn!("{}", shown(&usage_error_line(&error.render().to_string())));
            return 2;
        }
    };
    match run(cli) {
        Ok(code) => code,
        Err(error) => {
            warn!("{}", shown(&message(&error)));
            1
        }
    }
}

/// The repository of the current directory, after finishing or rolling back whatever an
/// interrupted wtmux operation left half done (one line each on stderr).
fn project() -> Result<Project> {
    let project = background_project()?;
    for recovered in journal::recover(&project)? {
        warn!("{}", shown(&recovered.to_string()));
    }
    Ok(project)
}

/// The operation lock, waiting for whoever holds it with one line saying whom.
fn take_lock(project: &Project, what: &str) -> Result<OpLock> {
    let lock = OpLock::acquire(project, what, &mut |holder| {
        warn!("waiting for {} to finish", shown(&holder.to_string()));
    })?;
    for recovered in lock.recovered() {
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

fn run(cli: Cli) -> Result<i32> {
    let command = cli.command.unwrap_or(Command::Ui);
    let mut out = Stdout;
    match command {
        Command::Ui => {
            // The popup binding hands over the pane it was opened from (`WTMUX_PANE`); the
            // repository is that pane's.
            let popup_pane = std::env::var("WTMUX_PANE").ok().filter(|p| !p.is_empty());
            let dir =
                popup_pane.and_then(|pane| crate::core::tmux::Tmux::from_env()?.pane_dir(&pane));
            let project = match dir {
                Some(dir) => Project::discover(&dir)?,
                None => project()?,
            };
            crate::tui::run(project)
        }
        Command::Add {
            branch,
            base,
            no_window,
            no_agent,
            agent,
            prompt,
            prompt_file,
            scope,
        } => {
            let project = project()?;
            let prompt = match prompt_file {
                Some(file) => {
                    Some(std::fs::read_to_string(&file).map_err(|e| Error::io(&file, e))?)
                }
                None => prompt,
            };
            let added = worktree::add(
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
                (None, Some(reason)) => say!("no window made: {}", shown(reason)),
                (None, None) => {}
            }
            Ok(0)
        }
        Command::List { json } => {
            let project = project()?;
            let listing = worktree::list(&project)?;
            if json {
                print_json(&listing)?;
            } else {
                print_listing(&mut out, &listing);
                if let Some(lost) = crate::core::fsmonitor::coverage_lost(&project) {
                    say!(
                        "file-system monitor: watching stopped at {} of {} directories (inotify limit {}); every listing scans every worktree",
                        lost.watched,
                        lost.wanted,
                        lost.limit
                            .map(|l| l.to_string())
                            .unwrap_or_else(|| "unknown".into())
                    );
                }
            }
            Ok(0)
        }
        Command::Open { branch } => {
            let project = project()?;
            let opened = worktree::open(&project, &branch)?;
            if opened.created {
                say!("window {} (created)", opened.window);
            } else {
                say!("window {}", opened.window);
            }
            Ok(0)
        }
        Command::Check { branch, all, wait } => {
            let project = project()?;
            let targets = if all {
                worktree::worktrees(&project)?
                    .into_iter()
                    .filter(|w| !w.prunable)
                    .collect()
            } else {
                vec![worktree::find_or_current(&project, branch.as_deref())?]
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
            if !wait {
                return Ok(0);
            }
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
            Ok(if failed > 0 { 1 } else { 0 })
        }
        Command::Merge {
            branch,
            all_green,
            verify,
            strategy,
            commit,
            keep,
            force,
        } => {
            let project = project()?;
            let options = MergeOptions {
                strategy: strategy.map(Into::into),
                commit_message: commit,
                keep,
                force,
            };
            let what = match (&branch, all_green) {
                (_, true) => "merge of every green branch".to_string(),
                (Some(branch), _) => format!("merge of {branch}"),
                (None, _) => "merge".to_string(),
            };
            let lock = take_lock(&project, &what)?;
            if all_green {
                return merge_all_green(&project, &lock, &options, verify);
            }
            let plan = merge::plan(&project, branch.as_deref(), &options)?;
            for warning in &plan.warnings {
                warn!("warning: {}", shown(warning));
            }
            let merged = {
                // post_merge's output, shown line by line, escaped.
                let mut escaped = EscapingLines::new(&mut out);
                let merged = merge::execute(&project, &lock, &plan, &mut escaped);
                escaped.finish().ok();
                merged?
            };
            if merged.forced_past_checks {
                warn!(
                    "WARNING: {} was merged WITHOUT passing checks on its content (--force)",
                    shown(&merged.branch)
                );
            }
            if let Some(commit) = &merged.committed {
                say!("committed {} on {}", &commit[..7], shown(&merged.branch));
            }
            say!(
                "merged {} into {} ({}), now at {}",
                shown(&merged.branch),
                shown(&merged.base),
                merged.strategy,
                &merged.commit[..merged.commit.len().min(7)]
            );
            let mut code = 0;
            if let Some(post) = &merged.post_merge {
                match (post.exit_code, &post.window) {
                    (Some(0), _) => say!("post_merge `{}` succeeded", shown(&post.command)),
                    (Some(code_), _) => {
                        warn!(
                            "post_merge `{}` failed with exit {code_} (log: {})",
                            shown(&post.command),
                            shown_path(&post.log)
                        );
                        code = 1;
                    }
                    (None, Some(window)) => say!(
                        "post_merge `{}` running in window {window} (log: {})",
                        shown(&post.command),
                        shown_path(&post.log)
                    ),
                    (None, None) => {}
                }
            }
            if let Some(removed) = &merged.removed {
                print_removed(removed);
            }
            if let Some(error) = &merged.cleanup_error {
                warn!("merged, but cleanup failed: {}", shown(&error.to_string()));
                code = 1;
            }
            Ok(code)
        }
        Command::Remove {
            branch,
            force,
            keep_branch,
        } => {
            let project = project()?;
            let lock = take_lock(&project, &format!("remove {branch}"))?;
            let removed = worktree::remove_with(
                &project,
                &lock,
                &branch,
                &RemoveOptions { force, keep_branch },
            )?;
            print_removed(&removed);
            Ok(0)
        }
        Command::Trash { prune, older_than } => {
            let project = project()?;
            if prune {
                let days = older_than.unwrap_or(project.config.trash_days);
                if days > config::MAX_TRASH_DAYS {
                    return Err(Error::refused(format!(
                        "--older-than {days} is more than {} days",
                        config::MAX_TRASH_DAYS
                    )));
                }
                let dropped = trash::prune(&project, days, project.config.trash_max_size)?;
                say!(
                    "pruned {} saved state{}",
                    dropped.len(),
                    worktree::plural(dropped.len())
                );
                return Ok(0);
            }
            let entries = trash::list(&project)?;
            if entries.is_empty() {
                say!("the trash is empty");
            }
            for mut entry in entries {
                let age = std::time::Duration::from_secs(
                    crate::core::now_unix().saturating_sub(entry.saved_at) / 60 * 60,
                );
                let holds = match entry.phase {
                    trash::Phase::Restored => format!(
                        "restored to {}",
                        shown_path(
                            entry
                                .restored_to
                                .as_deref()
                                .unwrap_or(std::path::Path::new("?"))
                        )
                    ),
                    _ => format!(
                        "{} uncommitted, {} commit{} not in {}",
                        entry.dirty.len(),
                        entry.unmerged.len(),
                        worktree::plural(entry.unmerged.len()),
                        shown(&project.base)
                    ),
                };
                let size = trash::size_of(&project, &mut entry);
                say!(
                    "{:<28} {:>10}  {:>9} ago  {holds}  [{}]",
                    shown(entry.branch.as_deref().unwrap_or("(detached)")),
                    bytesize::ByteSize::b(size)
                        .display()
                        .iec_short()
                        .to_string(),
                    if age.is_zero() {
                        "<1m".into()
                    } else {
                        humantime::format_duration(age).to_string()
                    },
                    shown(&entry.id)
                );
            }
            Ok(0)
        }
        Command::Restore { branch, from } => {
            let project = project()?;
            let what = branch.as_deref().or(from.as_deref()).unwrap_or_default();
            let lock = take_lock(&project, &format!("restore {what}"))?;
            let restored = trash::restore(
                &project,
                &lock,
                branch.as_deref().unwrap_or(""),
                from.as_deref(),
            )?;
            if let Some(was) = &restored.moved_from {
                say!("{} is taken; restoring beside it", shown_path(was));
            }
            say!(
                "restored {} at {} ({} uncommitted file{} as they were)",
                shown(restored.branch.as_deref().unwrap_or("a detached worktree")),
                shown_path(&restored.path),
                restored.restored_files,
                worktree::plural(restored.restored_files)
            );
            if project.tmux.is_some()
                && let Some(branch) = &restored.branch
            {
                say!("(wtmux open {} gives it a window)", shown(branch));
            }
            Ok(0)
        }
        Command::Init => {
            let project = project()?;
            let path = project.main_worktree.join(config::REPO_CONFIG_FILE);
            if path.exists() {
                return Err(Error::refused(format!("{} already exists", path.display())));
            }
            std::fs::write(&path, config::EXAMPLE).map_err(|e| Error::io(&path, e))?;
            // What wtmux writes itself is trusted.
            let written = config::Config::load(&project.main_worktree, None)?.repo_commands;
            if !written.keys.is_empty() {
                trust::grant(&project.main_worktree, &written.digest)?;
            }
            say!("wrote {}", shown_path(&path));
            Ok(0)
        }
        Command::Doctor { restart } => {
            let project = project()?;
            let report = if restart {
                crate::core::doctor::restart(&project)?
            } else {
                crate::core::doctor::report(&project)?
            };
            print_doctor(&report, restart);
            Ok(0)
        }
        Command::Trust => {
            let project = project()?;
            let commands = &project.config.repo_commands;
            if commands.keys.is_empty() {
                say!(
                    "{} defines no commands: nothing to trust",
                    shown_path(&project.main_worktree.join(config::REPO_CONFIG_FILE))
                );
                return Ok(0);
            }
            trust::grant(&project.main_worktree, &commands.digest)?;
            say!("trusted the commands of {}:", shown_path(&commands.file));
            for command in &commands.commands {
                say!("  {}", shown(command));
            }
            Ok(0)
        }
        Command::Demo { no_attach } => {
            let exe = crate::core::own_exe()?;
            let demo = crate::core::demo::create(&exe)?;
            say!("demo repository: {}", shown_path(&demo.repo));
            say!(
                "tmux session {}: press the prefix key (C-b), then w",
                demo.session
            );
            if no_attach {
                return Ok(0);
            }
            out.flush().ok();
            let mut tmux = std::process::Command::new("tmux");
            if std::env::var_os("TMUX").is_some() {
                tmux.args(["switch-client", "-t", &demo.session]);
                let status = tmux.status().map_err(|e| Error::io("tmux", e))?;
                return Ok(if status.success() { 0 } else { 1 });
            }
            use std::os::unix::process::CommandExt;
            let error = tmux.args(["attach-session", "-t", &demo.session]).exec();
            Err(Error::io("tmux attach-session", error))
        }
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "wtmux", &mut out);
            Ok(0)
        }
        Command::Sync {
            branch,
            rebase,
            merge,
            no_handoff,
        } => {
            use crate::core::sync::SyncMethod;
            let method = match (rebase, merge) {
                (true, _) => Some(SyncMethod::Rebase),
                (_, true) => Some(SyncMethod::Merge),
                _ => None,
            };
            sync::run(&project()?, &branch, method, !no_handoff)
        }
        Command::Send { branch, text } => {
            agent::send(&project()?, &branch, &text)?;
            Ok(0)
        }
        Command::Wait {
            branch,
            until,
            timeout,
        } => {
            let until = match until {
                UntilArg::Waiting => AgentState::Waiting,
                UntilArg::Done => AgentState::Done,
                UntilArg::Exited => AgentState::Exited,
            };
            let status = agent::wait(&project()?, &branch, until, timeout)?;
            match status.exit_code {
                Some(code) => say!("{} (status {code})", status.state.as_str()),
                None => say!("{}", status.state.as_str()),
            }
            Ok(0)
        }
        Command::AgentStatus { state } => {
            let state = match state {
                PushedArg::Working => AgentState::Working,
                PushedArg::Waiting => AgentState::Waiting,
                PushedArg::Done => AgentState::Done,
            };
            // Hooks' stdout belongs to the agent (Gemini parses it as JSON): print nothing.
            agent::push(&background_project()?, state)?;
            Ok(0)
        }
        Command::Setup {
            agent: which,
            yes,
            settings,
        } => {
            let which = match which {
                SetupArg::Claude => agent::HookedAgent::Claude,
                SetupArg::Gemini => agent::HookedAgent::Gemini,
            };
            let home = directories::BaseDirs::new()
                .map(|d| d.home_dir().to_path_buf())
                .ok_or_else(|| Error::refused("no home directory"))?;
            let path = settings.unwrap_or_else(|| which.settings_path(&home));
            let exe = crate::core::own_exe()?;
            let (old, new) = agent::plan_setup(&path, which, &exe.to_string_lossy())?;
            if old == new {
                say!("{} already has wtmux's hooks", shown_path(&path));
                return Ok(0);
            }
            say!("{}:", shown_path(&path));
            let _ = write!(Stdout, "{}", agent::line_diff(&old, &new));
            if !yes {
                let _ = write!(Stdout, "apply this change? [y/N] ");
                out.flush().ok();
                std::io::stdout().flush().ok();
                let mut answer = String::new();
                let _ = std::io::stdin().read_line(&mut answer);
                if !matches!(answer.trim(), "y" | "Y" | "yes") {
                    return Err(Error::refused(format!("{} not changed", path.display())));
                }
            }
            agent::apply_setup(&path, &old, &new)?;
            say!("wrote {}", shown_path(&path));
            Ok(0)
        }
        Command::AgentWrapper { key } => match agent::run_wrapper(&background_project()?, &key)? {},
        Command::FsMonitor => {
            crate::core::fsmonitor::run_daemon(&background_project()?)?;
            Ok(0)
        }
        Command::AgentMonitor => {
            agent::run_monitor(&background_project()?)?;
            Ok(0)
        }
        Command::Conflicts { json } => {
            let report = scope::analyze(&project()?)?;
            if json {
                print_json(&report)?;
            } else {
                print_conflicts(&mut out, &report);
            }
            Ok(0)
        }
        Command::RunChecks { key } => {
            check::run(&background_project()?, &key)?;
            Ok(0)
        }
        Command::Content { path } => {
            let project = project()?;
            let changes = crate::core::status::changes(&path)?;
            let content = project.content_store()?.content(&path, &changes)?;
            let json = serde_json::json!({
                "paths": changes.paths(),
                "tree": content.tree.to_string(),
                "key": content.key,
            });
            writeln!(out, "{json}").ok();
            Ok(0)
        }
        Command::PostMerge { key } => {
            let project = background_project()?;
            let mut escaped = EscapingLines::new(&mut out);
            let code = merge::run_post_merge_job(&project, &key, &mut escaped);
            escaped.finish().ok();
            let code = code?;
            writeln!(out, "\n[post_merge exited {code}; press Enter to close]").ok();
            out.flush().ok();
            let mut line = String::new();
            let _ = std::io::stdin().read_line(&mut line);
            Ok(code)
        }
    }
}

fn print_conflicts(out: &mut dyn Write, report: &scope::Report) {
    if report.worktrees.is_empty() {
        writeln!(out, "no active worktrees").ok();
        return;
    }
    for w in &report.worktrees {
        let mut notes = Vec::new();
        if !w.base_conflicts.is_empty() {
            notes.push(format!(
                "CONFLICTS with {}: {}",
                shown(&report.base),
                shown(&w.base_conflicts.join(", "))
            ));
        }
        if !w.outside_scope.is_empty() {
            notes.push(format!(
                "outside its scope: {}",
                shown(&w.outside_scope.join(", "))
            ));
        }
        for (other, files) in &w.in_others_scope {
            notes.push(format!(
                "inside {}'s scope: {}",
                shown(other),
                shown(&files.join(", "))
            ));
        }
        writeln!(
            out,
            "{:<30} {} file{} changed{}{}",
            shown(&w.branch),
            w.files.len(),
            worktree::plural(w.files.len()),
            match &w.not_green {
                None => ", green".to_string(),
                Some(why) => format!(", not green: {}", shown(&why.to_string())),
            },
            if notes.is_empty() {
                String::new()
            } else {
                format!("; {}", notes.join("; "))
            }
        )
        .ok();
    }
    if report.pairs.is_empty() {
        writeln!(out, "\nno two worktrees changed the same file").ok();
    } else {
        writeln!(out).ok();
    }
    for pair in &report.pairs {
        if pair.conflicts.is_empty() {
            writeln!(
                out,
                "{} ~ {}: overlap in {}, merge cleanly together",
                shown(&pair.a),
                shown(&pair.b),
                shown(&pair.overlap.join(", "))
            )
        } else {
            writeln!(
                out,
                "{} ✘ {}: CONFLICT in {}",
                shown(&pair.a),
                shown(&pair.b),
                shown(&pair.conflicts.join(", "))
            )
        }
        .ok();
    }
    let order = &report.merge_order;
    if !order.order.is_empty() || !order.blocked.is_empty() {
        writeln!(out).ok();
        writeln!(
            out,
            "merge order of the green branches: {}",
            if order.order.is_empty() {
                "-".to_string()
            } else {
                shown(&order.order.join(" → ")).into_owned()
            }
        )
        .ok();
        for (branch, why) in &order.blocked {
            writeln!(out, "  {} cannot follow: {}", shown(branch), shown(why)).ok();
        }
    }
}

/// `merge --all-green [--verify]`: exit 0 when every branch that was green and mergeable merged.
fn merge_all_green(
    project: &Project,
    lock: &OpLock,
    options: &MergeOptions,
    verify: bool,
) -> Result<i32> {
    struct Progress;
    impl merge::QueueProgress for Progress {
        fn verifying(&mut self, branches: &[String]) {
            say!(
                "running the checks of {} and waiting for them",
                shown(&branches.join(", "))
            );
        }
        fn merged(&mut self, merged: &merge::Merged) {
            say!(
                "merged {} into {}, now at {}",
                shown(&merged.branch),
                shown(&merged.base),
                &merged.commit[..merged.commit.len().min(7)]
            );
        }
    }
    let mut escaped = EscapingLines::new(Stdout);
    let queue = merge::merge_all_green(project, lock, options, verify, &mut escaped, &mut Progress);
    escaped.finish().ok();
    let queue = queue?;
    if queue.merged.is_empty() {
        say!("no green branch to merge");
    }
    for (branch, why) in &queue.left_out {
        warn!("not merging {}: {}", shown(branch), shown(&why.to_string()));
    }
    Ok(if queue.all_merged() { 0 } else { 1 })
}

fn print_removed(removed: &worktree::Removed) {
    if removed.stopped_processes > 0 {
        say!(
            "stopped {} process{} of its window",
            removed.stopped_processes,
            if removed.stopped_processes == 1 {
                ""
            } else {
                "es"
            }
        );
    }
    say!("removed worktree {}", shown_path(&removed.path));
    if removed.branch_deleted
        && let Some(branch) = &removed.branch
    {
        say!("deleted branch {}", shown(branch));
    }
    if removed.window_closed || removed.window_deferred {
        say!("closed its window");
    }
    if removed.branch_kept_moved
        && let Some(branch) = &removed.branch
    {
        say!(
            "kept branch {}: it moved after the worktree was saved",
            shown(branch)
        );
    }
    say!(
        "saved to the trash as {} (wtmux restore --from {})",
        shown(&removed.trash.id),
        shown(&removed.trash.id)
    );
}

/// A check state in a few characters, for tables.
pub fn check_label(status: &CheckStatus) -> String {
    match status.state {
        CheckState::None => "-".into(),
        CheckState::Running => format!("running {}", status.name.as_deref().unwrap_or("")),
        CheckState::Passed => "passed".into(),
        CheckState::Failed => format!("FAILED {}", status.name.as_deref().unwrap_or("")),
        CheckState::Stale => "stale".into(),
    }
}

fn print_listing(out: &mut dyn Write, listing: &worktree::Listing) {
    let rows: Vec<[String; 7]> = listing
        .worktrees
        .iter()
        .map(|row| {
            let branch = shown(row.branch.as_deref().unwrap_or("(detached)")).into_owned();
            [
                format!("{}{branch}", if row.is_main { "* " } else { "  " }),
                match (&row.operation, row.prunable, row.changed) {
                    (_, true, _) => "gone".into(),
                    (Some(op), _, _) => format!("~{} {}", row.changed, op.summary()),
                    (None, _, 0) => "clean".into(),
                    (None, _, changed) => format!("~{changed}"),
                },
                format!("↑{} ↓{}", row.ahead, row.behind),
                match (row.agent.state, row.agent.exit_code) {
                    (AgentState::None, _) => "-".to_string(),
                    (AgentState::Exited, Some(code)) => format!("exited {code}"),
                    (state, _) => state.as_str().to_string(),
                },
                shown(&check_label(&row.check)).into_owned(),
                row.window.clone().unwrap_or_else(|| "-".into()),
                format!(
                    "{} {}",
                    row.head.as_deref().unwrap_or("-------"),
                    shown(row.subject.as_deref().unwrap_or(""))
                ),
            ]
        })
        .collect();
    let headers = [
        "BRANCH", "CHANGES", "BASE", "AGENT", "CHECKS", "WINDOW", "HEAD",
    ];
    let mut widths = headers.map(|h| h.chars().count());
    for row in &rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if i + 1 == cells.len() {
                    c.clone()
                } else {
                    format!("{c:<w$}", w = widths[i])
                }
            })
            .collect::<Vec<_>>()
            .join("  ")
    };
    writeln!(out, "{}", line(&headers.map(String::from))).ok();
    for row in &rows {
        writeln!(out, "{}", line(row)).ok();
    }
    writeln!(out, "base: {}", shown(&listing.base)).ok();
}
