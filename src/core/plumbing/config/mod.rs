//! Configuration: the user file (`~/.config/wtmux/config.toml`) under the repository file
//! (`.wtmux.toml` in the main worktree). The repository wins, key by key. (The commented example
//! `wtmux init` writes is the CLI's text: `cli/init.rs`.)
//!
//! The files: `load` (reading and merging the layers, validation), `templates` (the task
//! templates' placeholders). This file holds the settings and their defaults.

mod load;
mod templates;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::error::{Error, Result};
use super::trust::RepoCommands;

pub use load::user_config_path;
#[cfg(test)]
pub(crate) use templates::placeholders_in;
pub use templates::{
    COORDINATE_PLACEHOLDERS, HANDOFF_PLACEHOLDERS, validate_coordinate_template, validate_template,
};

pub const REPO_CONFIG_FILE: &str = ".wtmux.toml";

/// The longest duration a setting may hold (timeouts, agent_quiet, agent_hook_stale): longer
/// ones are mistakes, and deadlines computed from them must not overflow.
pub const MAX_DURATION: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// The most days `trash_days` (and `trash --prune --older-than`) may hold: a century.
pub const MAX_TRASH_DAYS: u64 = 36_500;

/// A duration setting: parsed, greater than zero and at most [`MAX_DURATION`]; the error is the
/// reason, for a one-line message.
pub fn parse_duration(text: &str) -> std::result::Result<Duration, String> {
    let duration =
        humantime::parse_duration(text).map_err(|e| format!("{text:?} is not a duration ({e})"))?;
    if duration.is_zero() {
        return Err(format!("{text:?} must be greater than zero"));
    }
    if duration > MAX_DURATION {
        // humantime would say "30days".
        return Err(format!(
            "{text:?} is longer than {} days",
            MAX_DURATION.as_secs() / (24 * 60 * 60)
        ));
    }
    Ok(duration)
}

/// An age in days (`trash --prune --older-than`): a whole number up to [`MAX_TRASH_DAYS`];
/// the error is the reason, for a one-line message.
pub fn parse_days(text: &str) -> std::result::Result<u64, String> {
    match text.parse::<u64>() {
        Ok(days) => check_days(days),
        Err(_) if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) => {
            Err(format!("{text} is more than {MAX_TRASH_DAYS} days"))
        }
        Err(_) => Err(format!("{text:?} is not a whole number of days")),
    }
}

/// `days` when it is at most [`MAX_TRASH_DAYS`] (`trash_days` and `--older-than`).
pub fn check_days(days: u64) -> std::result::Result<u64, String> {
    if days > MAX_TRASH_DAYS {
        return Err(format!("{days} is more than {MAX_TRASH_DAYS} days"));
    }
    Ok(days)
}

/// Why a glob naming files of a worktree (`copy`/`symlink` patterns, declared scopes) cannot be
/// one: empty, naming the worktree itself (`.`), absolute, or leaving the worktree with `..`.
/// `None` when it stays inside.
pub fn glob_outside_problem(pattern: &str) -> Option<&'static str> {
    let path = Path::new(pattern);
    if pattern.trim().is_empty() {
        Some("is empty")
    } else if glob_as_matched(pattern).is_empty() {
        Some("names the worktree itself, not paths in it (`**` is every path)")
    } else if path.is_absolute() {
        Some("is absolute")
    } else if path
        .components()
        .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        Some("goes up with `..`")
    } else {
        None
    }
}

/// A worktree glob as it is matched against paths relative to the worktree (`src/a.rs`):
/// without `.` and empty components, so `./src/**` and `src//*.rs` name what they read as
/// (matched as written, they matched nothing). A trailing `/` stays.
pub fn glob_as_matched(pattern: &str) -> String {
    let mut matched = pattern
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect::<Vec<_>>()
        .join("/");
    if pattern.ends_with('/') && !matched.is_empty() {
        matched.push('/');
    }
    matched
}

/// The reason `dir` cannot hold worktrees, judged from the text alone (the repository's view —
/// tracked files, symlinks — is [`crate::core::worktree`]'s): it must be a relative path inside
/// the main worktree, not the main worktree itself, and not inside `.git`.
pub fn worktree_dir_problem(dir: &Path) -> Option<&'static str> {
    use std::path::Component;
    if dir.is_absolute()
        || dir.components().any(|c| {
            matches!(
                c,
                Component::ParentDir | Component::RootDir | Component::Prefix(_)
            )
        })
    {
        return Some("must be a relative path inside the main worktree");
    }
    let mut normal = dir.components().filter(|c| !matches!(c, Component::CurDir));
    match normal.next() {
        None => Some("must be a directory below the main worktree, not the main worktree itself"),
        Some(first) if first.as_os_str() == ".git" => Some("must not be inside .git"),
        Some(_) => None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MergeStrategy {
    Merge,
    Rebase,
    Squash,
}

impl std::fmt::Display for MergeStrategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            MergeStrategy::Merge => "merge",
            MergeStrategy::Rebase => "rebase",
            MergeStrategy::Squash => "squash",
        })
    }
}

/// How an agent gets its task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum PromptMode {
    /// Appended to the command as one argument (never through a shell's parsing).
    #[default]
    Arg,
    /// Typed into the agent's pane once it is ready (a tmux paste buffer).
    Paste,
}

/// A named agent: `[agents.claude] run = "claude"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentSpec {
    pub name: String,
    /// Run with `sh -c` in the worktree.
    pub run: String,
    pub prompt: PromptMode,
}

/// What the merge gate asks to have passed its checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Gate {
    /// The branch's content.
    #[default]
    Content,
    /// Also the merge result, checked in a scratch worktree before base moves: base only ever
    /// holds content that passed.
    Merged,
}

/// What starts a worktree's checks by itself (`verify_on`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VerifyOn {
    /// Its branch got a new commit.
    Commit,
    /// Its agent finished a turn.
    Done,
}

/// One step of the verification loop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckSpec {
    pub name: String,
    /// Run with `sh -c` in the worktree.
    pub run: String,
    pub timeout: Option<Duration>,
}

/// The effective configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub base: Option<String>,
    pub worktree_dir: PathBuf,
    pub agent: String,
    pub copy: Vec<String>,
    pub symlink: Vec<String>,
    pub post_create: Vec<String>,
    pub post_merge: Option<String>,
    pub merge_strategy: MergeStrategy,
    pub gate: Gate,
    pub checks: Vec<CheckSpec>,
    pub check_jobs: usize,
    /// What starts a worktree's checks by itself (none: only `check` and `v`).
    pub verify_on: Vec<VerifyOn>,
    pub trash_days: u64,
    /// `trash --prune` drops the oldest saves until all together take at most this many bytes.
    pub trash_max_size: Option<u64>,
    pub agents: Vec<AgentSpec>,
    /// Run with the message as its one argument when an agent turns waiting, done or exited.
    pub notify: Option<String>,
    /// Ring the agent pane's bell on those turns too.
    pub bell: bool,
    /// The task an agent gets when a sync of its worktree conflicts (`None`: the default).
    pub handoff_template: Option<String>,
    /// The task the popup's `c` drafts for an agent whose branch is predicted to conflict with
    /// a sibling's (`None`: the default).
    pub coordinate_template: Option<String>,
    /// Output quiet for this long: the agent stopped working.
    pub agent_quiet: Duration,
    /// A hook's "working" with no output for this long is not believed any more.
    pub agent_hook_stale: Duration,
    /// The commands the repository file defines, and whether the user trusts them.
    pub repo_commands: RepoCommands,
}

impl Config {
    /// Refuses (with [`Error::Untrusted`]) when the command under `key` comes from the
    /// repository file and the user has not trusted that file's commands.
    pub fn require_trusted(&self, key: &str) -> Result<()> {
        self.repo_commands.require(key)
    }

    /// The agent a new worktree starts: `name` from `[agents]`, else the configured default
    /// (a name from `[agents]` or a command). `None`: just a shell. Refused when its command
    /// comes from an untrusted repository file.
    pub fn agent(&self, name: Option<&str>) -> Result<Option<AgentSpec>> {
        let spec = self.agent_spec(name)?;
        if let Some(spec) = &spec {
            if name.is_none() {
                self.require_trusted("agent")?;
            }
            if self.agents.iter().any(|a| a.name == spec.name) {
                self.require_trusted(&format!("agents.{}", spec.name))?;
            }
        }
        Ok(spec)
    }

    fn agent_spec(&self, name: Option<&str>) -> Result<Option<AgentSpec>> {
        if let Some(name) = name {
            return self
                .agents
                .iter()
                .find(|a| a.name == name)
                .cloned()
                .map(Some)
                .ok_or_else(|| {
                    let known: Vec<&str> = self.agents.iter().map(|a| a.name.as_str()).collect();
                    Error::Config(format!(
                        "no agent named {name:?} in [agents] (configured: {})",
                        if known.is_empty() {
                            "none".to_string()
                        } else {
                            known.join(", ")
                        }
                    ))
                });
        }
        let default = self.agent.trim();
        if default.is_empty() {
            return Ok(None);
        }
        Ok(Some(
            self.agents
                .iter()
                .find(|a| a.name == default)
                .cloned()
                .unwrap_or_else(|| AgentSpec {
                    name: default
                        .split_whitespace()
                        .next()
                        .unwrap_or(default)
                        .to_string(),
                    run: default.to_string(),
                    prompt: PromptMode::Arg,
                }),
        ))
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            base: None,
            worktree_dir: PathBuf::from(".worktrees"),
            agent: String::new(),
            copy: Vec::new(),
            symlink: Vec::new(),
            post_create: Vec::new(),
            post_merge: None,
            merge_strategy: MergeStrategy::Merge,
            gate: Gate::Content,
            checks: Vec::new(),
            check_jobs: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
            verify_on: Vec::new(),
            trash_days: 30,
            trash_max_size: Some(20 * 1024 * 1024 * 1024),
            agents: Vec::new(),
            notify: None,
            bell: false,
            handoff_template: None,
            coordinate_template: None,
            agent_quiet: Duration::from_secs(3),
            agent_hook_stale: Duration::from_secs(30),
            repo_commands: RepoCommands::default(),
        }
    }
}

/// For tests: `text` as a repository's `.wtmux.toml`, loaded (in a throwaway directory).
#[cfg(test)]
pub(crate) fn load_text(text: &str) -> Result<Config> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(REPO_CONFIG_FILE), text).unwrap();
    Config::load(dir.path(), None)
}

#[cfg(test)]
mod tests {
    use super::load_text as load;
    use super::*;

    #[test]
    fn unknown_key_names_file_line_and_key() {
        let err = load("agent = \"x\"\n\nbogus = 1\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains(".wtmux.toml:3: key `bogus`"), "{err}");
        assert!(!err.contains('\n'));
    }

    #[test]
    fn wrong_type_names_line_and_key() {
        let err = load("copy = \"not a list\"\n").unwrap_err().to_string();
        assert!(err.contains(":1: key `copy`"), "{err}");
    }

    #[test]
    fn invalid_toml_is_one_line() {
        let err = load("[[check]\nname=").unwrap_err().to_string();
        assert!(err.contains(".wtmux.toml:1"), "{err}");
        assert!(!err.contains('\n'));
    }

    #[test]
    fn checks_parse_with_timeouts() {
        let config = load(
            "[[check]]\nname = \"a\"\nrun = \"true\"\ntimeout = \"10m\"\n[[check]]\nname = \"b\"\nrun = \"false\"\n",
        )
        .unwrap();
        assert_eq!(config.checks.len(), 2);
        assert_eq!(config.checks[0].timeout, Some(Duration::from_secs(600)));
        assert_eq!(config.checks[1].timeout, None);
    }

    #[test]
    fn bad_timeout_and_escaping_worktree_dir_are_refused() {
        let err = load("[[check]]\nname = \"a\"\nrun = \"true\"\ntimeout = \"soon\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains(":4: key `timeout`"), "{err}");
        let err = load("worktree_dir = \"../elsewhere\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("key `worktree_dir`"), "{err}");
    }

    #[test]
    fn repository_layer_wins_over_user_layer() {
        let dir = tempfile::tempdir().unwrap();
        let user = dir.path().join("user.toml");
        std::fs::write(&user, "agent = \"claude\"\npost_merge = \"deploy\"\n").unwrap();
        std::fs::write(dir.path().join(REPO_CONFIG_FILE), "agent = \"aider\"\n").unwrap();
        let config = Config::load(dir.path(), Some(&user)).unwrap();
        assert_eq!(config.agent, "aider");
        assert_eq!(config.post_merge.as_deref(), Some("deploy"));
    }
}
