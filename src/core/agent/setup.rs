//! `wtmux setup claude|gemini`: wtmux's hooks merged into an agent's settings file.

use std::path::{Path, PathBuf};

use super::{AgentState, Refused};
use crate::core::error::{Error, Result};

/// Which agent's hooks `setup` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookedAgent {
    Claude,
    Gemini,
}

impl HookedAgent {
    /// Hook event → the state it means.
    fn events(self) -> &'static [(&'static str, AgentState)] {
        match self {
            HookedAgent::Claude => &[
                ("UserPromptSubmit", AgentState::Working),
                ("PreToolUse", AgentState::Working),
                ("Notification", AgentState::Waiting),
                ("Stop", AgentState::Done),
            ],
            HookedAgent::Gemini => &[
                ("BeforeAgent", AgentState::Working),
                ("BeforeTool", AgentState::Working),
                ("Notification", AgentState::Waiting),
                ("AfterAgent", AgentState::Done),
            ],
        }
    }

    /// The user settings file of that agent.
    pub fn settings_path(self, home: &Path) -> PathBuf {
        match self {
            HookedAgent::Claude => home.join(".claude/settings.json"),
            HookedAgent::Gemini => home.join(".gemini/settings.json"),
        }
    }
}

/// The settings with wtmux's hooks merged in: every other key, and every hook already there,
/// stays; a hook already present is not added twice.
pub fn merge_hooks(
    existing: &serde_json::Value,
    agent: HookedAgent,
    wtmux: &str,
) -> Result<serde_json::Value> {
    use serde_json::{Value, json};
    let mut settings = existing.clone();
    let object = settings
        .as_object_mut()
        .ok_or(Refused::SettingsNotAnObject)?;
    let hooks = object
        .entry("hooks")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .ok_or(Refused::HooksNotAnObject)?;
    for (event, state) in agent.events() {
        let command = format!("{wtmux} agent-status {}", state.as_str());
        let groups = hooks
            .entry(*event)
            .or_insert_with(|| json!([]))
            .as_array_mut()
            .ok_or_else(|| Refused::HooksOfEventNotAList(event.to_string()))?;
        let present = groups.iter().any(|group| {
            group["hooks"].as_array().is_some_and(|hs| {
                hs.iter()
                    .any(|h| h["command"] == Value::String(command.clone()))
            })
        });
        if !present {
            let mut hook = json!({"type": "command", "command": command});
            if agent == HookedAgent::Gemini {
                hook["name"] = json!(format!("wtmux-{}", state.as_str()));
            }
            groups.push(json!({"matcher": "", "hooks": [hook]}));
        }
    }
    Ok(settings)
}

/// Reads an agent's settings file (empty object when absent) and returns it with the merged
/// version, both as pretty JSON.
pub fn plan_setup(path: &Path, agent: HookedAgent, wtmux: &str) -> Result<(String, String)> {
    let old = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(Error::io(path, e)),
    };
    let existing: serde_json::Value = if old.trim().is_empty() {
        serde_json::json!({})
    } else {
        serde_json::from_str(&old)
            .map_err(|e| Error::Config(format!("{}: not valid JSON ({e})", path.display())))?
    };
    let merged = merge_hooks(&existing, agent, wtmux)?;
    let new = serde_json::to_string_pretty(&merged).expect("JSON serializes") + "\n";
    Ok((old, new))
}

/// Writes the merged settings (atomically, keeping a `.bak` of the old file).
pub fn apply_setup(path: &Path, old: &str, new: &str) -> Result<()> {
    if !old.is_empty() {
        let backup = path.with_extension("json.bak");
        std::fs::write(&backup, old).map_err(|e| Error::io(&backup, e))?;
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut file = tempfile::NamedTempFile::new_in(dir).map_err(|e| Error::io(dir, e))?;
    std::io::Write::write_all(&mut file, new.as_bytes()).map_err(|e| Error::io(path, e))?;
    file.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merging_hooks_keeps_everything_and_adds_once() {
        let existing = serde_json::json!({
            "model": "opus",
            "hooks": {"Stop": [{"hooks": [{"type": "command", "command": "say done"}]}]}
        });
        let merged = merge_hooks(&existing, HookedAgent::Claude, "wtmux").unwrap();
        assert_eq!(merged["model"], "opus");
        let stop = merged["hooks"]["Stop"].as_array().unwrap();
        assert_eq!(stop.len(), 2);
        assert_eq!(stop[0]["hooks"][0]["command"], "say done");
        assert_eq!(stop[1]["hooks"][0]["command"], "wtmux agent-status done");
        let again = merge_hooks(&merged, HookedAgent::Claude, "wtmux").unwrap();
        assert_eq!(again, merged, "idempotent");
    }
}
