//! Agents in real tmux windows: a script that behaves like one (tests/fake-agent.sh) goes through
//! every state, and `list --json`, `send`, `wait`, the hook path and `setup` are held to it.

mod common;

use common::{TestRepo, TmuxServer, wait_until};

fn agent_config(extra: &str) -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fake-agent.sh");
    format!(
        "agent_quiet = \"1s\"\nagent_hook_stale = \"2s\"\n{extra}\n[agents.fake]\nrun = \"sh {script}\"\nprompt = \"arg\"\n\n[agents.pasted]\nrun = \"sh {script}\"\nprompt = \"paste\"\n\n[agents.failing]\nrun = \"sh {script} --fail\"\n\n[agents.missing]\nrun = \"no-such-agent-installed\"\n"
    )
}

fn agent_state(repo: &TestRepo, branch: &str) -> serde_json::Value {
    repo.row(branch)["agent"].clone()
}

fn setup(extra: &str) -> (TestRepo, TmuxServer) {
    let mut repo = TestRepo::with_config(&agent_config(extra));
    let tmux = repo.start_tmux();
    (repo, tmux)
}

#[test]
fn an_agent_goes_through_every_state() {
    let (repo, tmux) = setup("");
    let hostile = "fix the bug; touch pwned $(touch pwned2)";
    let out = repo
        .wtmux(&["add", "feat", "--agent", "fake", "--prompt", hostile])
        .ok();
    assert!(out.contains("agent fake started"), "{out}");
    let window = repo.row("feat")["window"].as_str().unwrap().to_string();
    wait_until(10, "the task to reach the agent as one argument", || {
        tmux.capture(&window).contains(&format!("task: {hostile}"))
    });
    assert!(!repo.worktree("feat").join("pwned").exists());
    assert!(!repo.worktree("feat").join("pwned2").exists());
    assert_eq!(agent_state(&repo, "feat")["state"], "working");
    assert_eq!(agent_state(&repo, "feat")["name"], "fake");
    assert_eq!(
        tmux.run(&["show-options", "-wv", "-t", &window, "@wtmux_state"]),
        "working"
    );

    let out = repo
        .wtmux(&["wait", "feat", "--until", "waiting", "--timeout", "30s"])
        .ok();
    assert_eq!(out.trim(), "waiting");
    assert_eq!(agent_state(&repo, "feat")["state"], "waiting");
    assert_eq!(agent_state(&repo, "feat")["source"], "observed");

    repo.wtmux(&["send", "feat", "yes, go ahead"]).ok();
    wait_until(10, "the answer to arrive", || {
        tmux.capture(&window).contains("answer was 'yes, go ahead'")
    });
    repo.wtmux(&["wait", "feat", "--until", "done", "--timeout", "30s"])
        .ok();
    assert_eq!(agent_state(&repo, "feat")["state"], "done");

    // The monitor marks the window and tells the user.
    wait_until(10, "the window to be marked done", || {
        tmux.try_run(&["show-options", "-wv", "-t", &window, "@wtmux_state"])
            .is_some_and(|s| s == "done")
    });

    repo.wtmux(&["send", "feat", "exit"]).ok();
    let out = repo
        .wtmux(&["wait", "feat", "--until", "exited", "--timeout", "20s"])
        .ok();
    assert_eq!(out.trim(), "exited (status 0)");
    let agent = agent_state(&repo, "feat");
    assert_eq!(
        (agent["state"].as_str(), agent["exit_code"].as_i64()),
        (Some("exited"), Some(0))
    );
    assert!(
        tmux.windows().iter().any(|(id, _, _)| *id == window),
        "the window stays"
    );
}

#[test]
fn a_pasted_prompt_arrives_once_the_agent_is_ready() {
    let (repo, tmux) = setup("");
    repo.wtmux(&[
        "add",
        "feat",
        "--agent",
        "pasted",
        "--prompt",
        "it's \"quoted\" $HOME",
    ])
    .ok();
    let window = repo.row("feat")["window"].as_str().unwrap().to_string();
    // Pasted once the agent was still (at its question), it is the answer.
    repo.wtmux(&["wait", "feat", "--until", "done", "--timeout", "30s"])
        .ok();
    wait_until(10, "the pasted text to arrive literally", || {
        tmux.capture(&window)
            .contains("answer was 'it's \"quoted\" $HOME'")
    });
}

#[test]
fn an_agent_that_fails_or_is_not_installed_is_exited_and_the_worktree_kept() {
    let (repo, tmux) = setup("");
    repo.wtmux(&["add", "broken", "--agent", "failing"]).ok();
    repo.wtmux(&["add", "absent", "--agent", "missing"]).ok();
    for (branch, code, says) in [
        ("broken", 3, "cannot reach the model"),
        ("absent", 127, "not found"),
    ] {
        repo.wtmux(&["wait", branch, "--until", "exited", "--timeout", "20s"])
            .ok();
        let agent = agent_state(&repo, branch);
        assert_eq!(agent["exit_code"], code, "{branch}");
        let window = repo.row(branch)["window"].as_str().unwrap().to_string();
        let screen = tmux.capture(&window);
        assert!(screen.contains(says), "{branch}: {screen}");
        assert!(
            screen.contains(&format!("exited with status {code}")),
            "{screen}"
        );
        assert!(repo.worktree(branch).exists());
    }
    let err = repo
        .wtmux(&["wait", "broken", "--until", "done", "--timeout", "5s"])
        .refused();
    assert!(
        err.contains("exited with status 3 before it was done"),
        "{err}"
    );
    let err = repo.wtmux(&["add", "x", "--agent", "nobody"]).refused();
    assert!(err.contains("no agent named \"nobody\""), "{err}");
    assert!(!repo.worktree("x").exists());
}

#[test]
fn hooks_set_the_state_and_a_silent_hook_heals() {
    let (repo, _tmux) = setup("");
    repo.wtmux(&["add", "feat", "--agent", "fake", "--prompt", "task"])
        .ok();
    let path = repo.worktree("feat");
    // A hook from inside the worktree (its cwd), as an agent's hook would run.
    let run = repo.wtmux_in(&path, &["agent-status", "waiting"]);
    assert_eq!(run.ok(), "", "hooks print nothing on stdout");
    let agent = agent_state(&repo, "feat");
    assert_eq!(
        (agent["state"].as_str(), agent["source"].as_str()),
        (Some("waiting"), Some("hook"))
    );
    // The agent keeps printing long after that hook: observation says working again.
    wait_until(10, "fresh output to override the stale hook", || {
        agent_state(&repo, "feat")["state"] == "working"
    });
    // "working" from a hook, then silence (the agent sits at its question): healed.
    repo.wtmux(&["wait", "feat", "--until", "waiting", "--timeout", "30s"])
        .ok();
    repo.wtmux_in(&path, &["agent-status", "working"]).ok();
    assert_eq!(agent_state(&repo, "feat")["source"], "hook");
    wait_until(10, "the silent hook to be corrected", || {
        let agent = agent_state(&repo, "feat");
        agent["state"] == "waiting" && agent["source"] == "observed"
    });
    let outside = repo.dir.path().join("elsewhere");
    std::fs::create_dir_all(&outside).unwrap();
    let err = repo.wtmux_in(&outside, &["agent-status", "done"]).refused();
    assert!(err.contains("not inside a git repository"), "{err}");
}

#[test]
fn setup_claude_merges_into_existing_settings() {
    let repo = TestRepo::new();
    let settings = repo.home.join(".claude/settings.json");
    common::write_file(
        &settings,
        r#"{"model": "opus", "permissions": {"allow": ["Bash(ls)"]}, "hooks": {"Stop": [{"hooks": [{"type": "command", "command": "say done"}]}]}}"#,
    );
    let before = std::fs::read_to_string(&settings).unwrap();
    let run = repo.wtmux(&["setup", "claude"]);
    assert_eq!(run.code(), 1, "no answer: nothing written");
    assert!(
        run.stdout().contains("+ "),
        "shows the change first: {}",
        run.stdout()
    );
    assert_eq!(std::fs::read_to_string(&settings).unwrap(), before);

    repo.wtmux(&["setup", "claude", "--yes"]).ok();
    let merged: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&settings).unwrap()).unwrap();
    assert_eq!(merged["model"], "opus");
    assert_eq!(merged["permissions"]["allow"][0], "Bash(ls)");
    let stop = merged["hooks"]["Stop"].as_array().unwrap();
    assert_eq!(stop[0]["hooks"][0]["command"], "say done");
    assert!(
        stop[1]["hooks"][0]["command"]
            .as_str()
            .unwrap()
            .ends_with("agent-status done")
    );
    for event in ["UserPromptSubmit", "PreToolUse", "Notification"] {
        assert!(merged["hooks"][event].is_array(), "{event}");
    }
    let out = repo.wtmux(&["setup", "claude", "--yes"]).ok();
    assert!(out.contains("already has wtmux's hooks"), "{out}");
    assert!(repo.home.join(".claude/settings.json.bak").exists());
}
