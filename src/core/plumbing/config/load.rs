//! Reading the layers: each file parsed (every key optional), merged key by key over the
//! defaults, validated, with errors that name the file, the line and the key.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{
    AgentSpec, CheckSpec, Config, Gate, MergeStrategy, PromptMode, REPO_CONFIG_FILE, VerifyOn,
    check_days, glob_outside_problem, parse_duration, validate_coordinate_template,
    validate_template, worktree_dir_problem,
};
use crate::core::error::{Error, Result};
use crate::core::trust::{self, RepoCommands};

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
                if let Some(problem) = glob_outside_problem(pattern) {
                    return Err(invalid(
                        key,
                        format!(
                            "{pattern:?} {problem} (a glob inside the main worktree: relative, no `..`)"
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
            self.trash_days = check_days(days).map_err(|reason| invalid("trash_days", reason))?;
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
