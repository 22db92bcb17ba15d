//! Configuration: the user file (`~/.config/wtmux/config.toml`) under the repository file
//! (`.wtmux.toml` in the main worktree). The repository wins, key by key. (The commented example
//! `wtmux init` writes is the CLI's text: `cli/init.rs`.)

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::error::{Error, Result};
use super::trust::{self, RepoCommands};

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
        return Err(format!(
            "{text:?} is longer than {}",
            humantime::format_duration(MAX_DURATION)
        ));
    }
    Ok(duration)
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

/// One file's contents: every key optional, so layers merge key by key.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Layer {
    base: Option<String>,
    worktree_dir: Option<PathBuf>,
    agent: Option<String>,
    copy: Option<Vec<String>>,
    symlink: Option<Vec<String>>,
    post_create: Option<Vec<String>>,
    post_merge: Option<String>,
    merge_strategy: Option<MergeStrategy>,
    gate: Option<Gate>,
    check: Option<Vec<CheckLayer>>,
    check_jobs: Option<usize>,
    verify_on: Option<Vec<VerifyOn>>,
    trash_days: Option<u64>,
    trash_max_size: Option<String>,
    agents: Option<std::collections::BTreeMap<String, AgentLayer>>,
    notify: Option<String>,
    bell: Option<bool>,
    handoff_template: Option<String>,
    coordinate_template: Option<String>,
    agent_quiet: Option<String>,
    agent_hook_stale: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AgentLayer {
    run: String,
    #[serde(default)]
    prompt: PromptMode,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckLayer {
    name: String,
    run: String,
    timeout: Option<String>,
}

/// Where the user configuration file lives on this platform.
pub fn user_config_path() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "wtmux")
        .map(|dirs| dirs.config_dir().join("config.toml"))
}

impl Config {
    /// Loads the user file (if any) under the repository file (if any), and looks up whether
    /// the commands the repository file defines are trusted.
    pub fn load(main_worktree: &Path, user_file: Option<&Path>) -> Result<Config> {
        let mut config = Config::default();
        if let Some(path) = user_file
            && let Some((layer, text)) = read_layer(path)?
        {
            config.apply(layer, path, &text)?;
        }
        let repo_file = main_worktree.join(REPO_CONFIG_FILE);
        if let Some((layer, text)) = read_layer(&repo_file)? {
            let mut commands = layer.commands();
            commands.file = repo_file.clone();
            commands.trusted =
                commands.keys.is_empty() || trust::is_trusted(main_worktree, &commands.digest);
            config.apply(layer, &repo_file, &text)?;
            config.repo_commands = commands;
        }
        Ok(config)
    }

    fn apply(&mut self, layer: Layer, path: &Path, text: &str) -> Result<()> {
        let invalid = |key: &str, message: String| {
            Error::Config(format!(
                "{}:{}: key `{key}`: {message}",
                path.display(),
                line_of_key(text, key)
            ))
        };
        if let Some(base) = layer.base {
            if base.trim().is_empty() {
                return Err(invalid("base", "must not be empty".into()));
            }
            self.base = Some(base);
        }
        if let Some(dir) = layer.worktree_dir {
            if let Some(problem) = worktree_dir_problem(&dir) {
                return Err(invalid(
                    "worktree_dir",
                    format!("{:?} {problem}", dir.display().to_string()),
                ));
            }
            // `./x/` and `x` are the same place (and the same info/exclude entry).
            self.worktree_dir = dir
                .components()
                .filter(|c| !matches!(c, std::path::Component::CurDir))
                .collect();
        }
        if let Some(agent) = layer.agent {
            self.agent = agent;
        }
        for (key, patterns) in [("copy", &layer.copy), ("symlink", &layer.symlink)] {
            for pattern in patterns.iter().flatten() {
                let path = Path::new(pattern);
                if pattern.trim().is_empty()
                    || path.is_absolute()
                    || path
                        .components()
                        .any(|c| matches!(c, std::path::Component::ParentDir))
                {
                    return Err(invalid(
                        key,
                        format!(
                            "{pattern:?} must be a glob inside the main worktree (relative, no `..`)"
                        ),
                    ));
                }
            }
        }
        if let Some(copy) = layer.copy {
            self.copy = copy;
        }
        if let Some(symlink) = layer.symlink {
            self.symlink = symlink;
        }
        if let Some(post_create) = layer.post_create {
            self.post_create = post_create;
        }
        if let Some(post_merge) = layer.post_merge {
            self.post_merge = (!post_merge.trim().is_empty()).then_some(post_merge);
        }
        if let Some(strategy) = layer.merge_strategy {
            self.merge_strategy = strategy;
        }
        if let Some(gate) = layer.gate {
            self.gate = gate;
        }
        if let Some(jobs) = layer.check_jobs {
            if jobs == 0 {
                return Err(invalid("check_jobs", "must be at least 1".into()));
            }
            self.check_jobs = jobs;
        }
        if let Some(mut verify_on) = layer.verify_on {
            verify_on.dedup();
            self.verify_on = verify_on;
        }
        if let Some(days) = layer.trash_days {
            if days > MAX_TRASH_DAYS {
                return Err(invalid(
                    "trash_days",
                    format!("{days} is more than {MAX_TRASH_DAYS} days"),
                ));
            }
            self.trash_days = days;
        }
        if let Some(size) = layer.trash_max_size {
            self.trash_max_size = match size.trim() {
                "" | "none" => None,
                text => Some(
                    text.parse::<bytesize::ByteSize>()
                        .map_err(|e| invalid("trash_max_size", format!("{text:?}: {e}")))?
                        .as_u64(),
                ),
            };
        }
        if let Some(agents) = layer.agents {
            for (name, agent) in agents {
                if agent.run.trim().is_empty() {
                    return Err(invalid("run", format!("agent {name:?} needs a command")));
                }
                self.agents.retain(|a| a.name != name);
                self.agents.push(AgentSpec {
                    name,
                    run: agent.run,
                    prompt: agent.prompt,
                });
            }
        }
        if let Some(notify) = layer.notify {
            self.notify = (!notify.trim().is_empty()).then_some(notify);
        }
        if let Some(bell) = layer.bell {
            self.bell = bell;
        }
        if let Some(template) = layer.handoff_template {
            validate_template(&template).map_err(|e| invalid("handoff_template", e))?;
            self.handoff_template = (!template.trim().is_empty()).then_some(template);
        }
        if let Some(template) = layer.coordinate_template {
            validate_coordinate_template(&template)
                .map_err(|e| invalid("coordinate_template", e))?;
            self.coordinate_template = (!template.trim().is_empty()).then_some(template);
        }
        for (key, value, target) in [
            ("agent_quiet", layer.agent_quiet, &mut self.agent_quiet),
            (
                "agent_hook_stale",
                layer.agent_hook_stale,
                &mut self.agent_hook_stale,
            ),
        ] {
            if let Some(text) = value {
                *target = parse_duration(&text).map_err(|reason| invalid(key, reason))?;
            }
        }
        if let Some(checks) = layer.check {
            let mut specs: Vec<CheckSpec> = Vec::new();
            for check in checks {
                if check.name.trim().is_empty() || check.run.trim().is_empty() {
                    return Err(invalid(
                        "check",
                        "every check needs a name and a run".into(),
                    ));
                }
                if specs.iter().any(|s| s.name == check.name) {
                    return Err(invalid(
                        "check",
                        format!("two checks are named {:?}", check.name),
                    ));
                }
                let timeout = match check.timeout {
                    None => None,
                    Some(text) => {
                        Some(parse_duration(&text).map_err(|reason| invalid("timeout", reason))?)
                    }
                };
                specs.push(CheckSpec {
                    name: check.name,
                    run: check.run,
                    timeout,
                });
            }
            self.checks = specs;
        }
        Ok(())
    }
}

fn read_layer(path: &Path) -> Result<Option<(Layer, String)>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(path, e)),
    };
    let layer: Layer = toml::from_str(&text).map_err(|e| toml_error(path, &text, &e))?;
    Ok(Some((layer, text)))
}

impl Layer {
    /// The commands this file defines, keyed for trust.
    fn commands(&self) -> RepoCommands {
        let mut keys: Vec<String> = Vec::new();
        let mut commands: Vec<String> = Vec::new();
        let mut add = |key: String, command: String| {
            if !keys.contains(&key) {
                keys.push(key.clone());
            }
            commands.push(format!("{key}: {command}"));
        };
        for check in self.check.iter().flatten() {
            add("check".into(), format!("[{}] {}", check.name, check.run));
        }
        for command in self.post_create.iter().flatten() {
            add("post_create".into(), command.clone());
        }
        for (key, value) in [
            ("post_merge", &self.post_merge),
            ("notify", &self.notify),
            ("agent", &self.agent),
        ] {
            if let Some(command) = value.as_ref().filter(|c| !c.trim().is_empty()) {
                add(key.into(), command.clone());
            }
        }
        for (name, agent) in self.agents.iter().flatten() {
            add(format!("agents.{name}"), agent.run.clone());
        }
        let digest = RepoCommands::digest_of(&commands);
        RepoCommands {
            keys,
            commands,
            digest,
            ..RepoCommands::default()
        }
    }
}

/// Turns a TOML error into `file:line: key `k`: message`, on one line.
fn toml_error(path: &Path, text: &str, error: &toml::de::Error) -> Error {
    let line = error
        .span()
        .map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1);
    let key = line
        .and_then(|n| text.lines().nth(n - 1))
        .and_then(|l| l.split_once('='))
        .map(|(k, _)| k.trim().to_string())
        .filter(|k| !k.is_empty());
    let message = error.message().replace('\n', " ");
    let mut out = path.display().to_string();
    if let Some(line) = line {
        out.push_str(&format!(":{line}"));
    }
    if let Some(key) = key {
        out.push_str(&format!(": key `{key}`"));
    }
    out.push_str(&format!(": {message}"));
    Error::Config(out)
}

/// The first line that sets `key`, for messages about values that parsed but are invalid.
fn line_of_key(text: &str, key: &str) -> usize {
    text.lines()
        .position(|line| {
            let line = line.trim_start();
            line.strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
                || (key == "check" && line.starts_with("[[check]]"))
        })
        .map(|i| i + 1)
        .unwrap_or(1)
}

/// The placeholders a `handoff_template` may use (filled in by `handoff::task`).
pub const HANDOFF_PLACEHOLDERS: &[&str] =
    &["branch", "base", "operation", "files", "commits", "finish"];

/// The placeholders a `coordinate_template` may use (filled in by `handoff::coordination`).
pub const COORDINATE_PLACEHOLDERS: &[&str] = &["branch", "base", "siblings", "files"];

/// Why a `handoff_template` cannot be used: a `{name}` that is not a placeholder.
pub fn validate_template(template: &str) -> std::result::Result<(), String> {
    validate_placeholders(template, HANDOFF_PLACEHOLDERS)
}

/// Why a `coordinate_template` cannot be used.
pub fn validate_coordinate_template(template: &str) -> std::result::Result<(), String> {
    validate_placeholders(template, COORDINATE_PLACEHOLDERS)
}

fn validate_placeholders(template: &str, known: &[&str]) -> std::result::Result<(), String> {
    for name in placeholders_in(template) {
        if !known.contains(&name) {
            return Err(format!(
                "unknown placeholder {{{name}}} (known: {})",
                known
                    .iter()
                    .map(|p| format!("{{{p}}}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    Ok(())
}

/// The `{word}` names in a template (letters and `_` between braces).
pub(crate) fn placeholders_in(template: &str) -> Vec<&str> {
    let mut names = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close)
                if close > 0
                    && after[..close]
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_') =>
            {
                names.push(&after[..close]);
                rest = &after[close + 1..];
            }
            _ => rest = after,
        }
    }
    names
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
