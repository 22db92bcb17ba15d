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
fn a_hostile_agent_name_is_printed_escaped_into_its_pane() {
    // A name that would set the pane's title and clear its screen, were it printed raw.
    let (repo, tmux) =
        setup("[agents.\"evil\\u001b]2;pwned\\u0007\\u001b[2J\"]\nrun = \"echo before; exit 3\"\n");
    let name = "evil\x1b]2;pwned\x07\x1b[2J";
    repo.wtmux(&["add", "feat", "--agent", name]).ok();
    repo.wtmux(&["wait", "feat", "--until", "exited", "--timeout", "20s"])
        .ok();
    let window = repo.row("feat")["window"].as_str().unwrap().to_string();
    wait_until(10, "the wrapper's line, escaped", || {
        tmux.capture(&window)
            .contains("[wtmux] evil\\e]2;pwned\\a\\e[2J exited with status 3")
    });
    let screen = tmux.capture(&window);
    assert!(
        screen.contains("before"),
        "the screen was not cleared: {screen}"
    );
    assert_ne!(
        tmux.run(&["display-message", "-p", "-t", &window, "#{pane_title}"]),
        "pwned"
    );
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
}

/// `wtmux agent-status` in `dir` (with `$WTMUX_WORKTREE` when given): asserts it exits 0 and
/// says nothing, on either stream.
fn quiet_hook(repo: &TestRepo, dir: &std::path::Path, state: &str, env: Option<&std::path::Path>) {
    let env: Vec<(&str, &std::path::Path)> =
        env.map(|w| ("WTMUX_WORKTREE", w)).into_iter().collect();
    let out = common::finish(
        repo.spawn_wtmux_with(dir, &["agent-status", state], &env),
        20,
    );
    assert_eq!(
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned()
        ),
        (Some(0), String::new(), String::new()),
        "{} {state}",
        dir.display()
    );
}

/// A hook that cannot record (here: the agent is half way through editing `.wtmux.toml`) still
/// exits 0 and says nothing, but its error goes, one line each, to the repository's hook error
/// log, and `wtmux doctor` mentions it. Where wtmux has no state (outside a repository, a
/// repository it never ran in), nothing is written.
#[test]
fn a_hook_that_cannot_record_logs_why_and_doctor_says_so() {
    let repo = TestRepo::new();
    repo.wtmux(&["add", "feat", "--no-window"]).ok();
    let path = repo.worktree("feat");
    let doctor = repo.wtmux(&["doctor"]).ok();
    assert!(!doctor.contains("agent hooks"), "{doctor}");
    let log = repo.path(".git/wtmux/hook-errors.log");

    // A key with an escape sequence: the log is shown on terminals (`cat`, doctor), escaped.
    repo.write(".wtmux.toml", "\"agnet\\u001b[2J\" = \"claude\"\n");
    quiet_hook(&repo, &path, "waiting", None);
    let outside = repo.dir.path().join("elsewhere");
    std::fs::create_dir_all(&outside).unwrap();
    // From elsewhere, told its worktree by $WTMUX_WORKTREE.
    quiet_hook(&repo, &outside, "done", Some(&path));
    let lines: Vec<String> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    for (line, state) in lines.iter().zip(["waiting", "done"]) {
        let said = format!("agent-status {state} (in {}): ", path.display());
        assert!(
            line.contains(&said) && line.contains("agnet\\e[2J") && line.contains(".wtmux.toml"),
            "{line}"
        );
        assert!(!line.contains('\x1b'), "{line}");
    }

    // A repository wtmux never ran in, with the same broken user file: no log started there.
    let other = repo.dir.path().join("other");
    repo.git(&["init", "-q", other.to_str().unwrap()]);
    repo.user_config("agnet = \"claude\"\n");
    quiet_hook(&repo, &other, "waiting", None);
    assert!(!other.join(".git/wtmux").exists());
    repo.user_config("");

    std::fs::remove_file(repo.path(".wtmux.toml")).unwrap();
    let doctor = repo.wtmux(&["doctor"]).ok();
    let line = doctor
        .lines()
        .find(|l| l.starts_with("agent hooks: "))
        .unwrap_or_else(|| panic!("{doctor}"));
    assert!(
        line.starts_with("agent hooks: 2 errors in the last day (log: ")
            && line.contains("; the last, ")
            && line.contains("agent-status done (in ")
            && line.contains("agnet"),
        "{line}"
    );
}

#[test]
fn a_hook_outside_a_worktree_wtmux_manages_records_nothing_and_exits_quietly() {
    let mut repo = TestRepo::new();
    repo.wtmux(&["add", "feat", "--no-window"]).ok();
    let outside = repo.dir.path().join("elsewhere");
    std::fs::create_dir_all(&outside).unwrap();
    let by_hand = repo.dir.path().join("by-hand");
    repo.git(&[
        "worktree",
        "add",
        "-q",
        "-b",
        "hand",
        by_hand.to_str().unwrap(),
    ]);
    let agents = repo.path(".git/wtmux/agents");
    let records = || -> Vec<std::path::PathBuf> {
        std::fs::read_dir(&agents)
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default()
    };
    let before = records();
    // Outside tmux, then inside it (as agents' hooks run, with $TMUX_PANE).
    let mut tmux = None;
    for round in 0..2 {
        if round == 1 {
            tmux = Some(repo.start_tmux());
        }
        for dir in [
            &outside,
            &repo.root,
            &repo.path("src-not-a-worktree"),
            &by_hand,
        ] {
            std::fs::create_dir_all(dir).unwrap();
            for state in ["working", "waiting", "done"] {
                quiet_hook(&repo, dir, state, None);
            }
        }
        assert_eq!(records(), before, "round {round}: no agent record written");
        for branch in ["main", "feat", "hand"] {
            assert_eq!(
                agent_state(&repo, branch)["state"],
                "none",
                "round {round}: {branch}"
            );
        }
    }
    drop(tmux);
    // An agent wtmux started whose tool went elsewhere still reports for its own worktree.
    quiet_hook(&repo, &outside, "done", Some(&repo.worktree("feat")));
    assert_eq!(agent_state(&repo, "feat")["state"], "done");
    assert_eq!(agent_state(&repo, "main")["state"], "none");
    // A $WTMUX_WORKTREE naming no repository leaves the current directory to decide.
    quiet_hook(&repo, &repo.worktree("feat"), "waiting", Some(&outside));
    assert_eq!(agent_state(&repo, "feat")["state"], "waiting");
}

/// A hook in a repository whose configuration does not load (an agent editing `.wtmux.toml`
/// mid-way, a typo in the user's file) is no business of the agent's: exit 0, nothing said
/// (it exited 1 with the configuration error on stderr, found by a hostile review).
#[test]
fn a_hook_where_the_configuration_is_broken_exits_quietly() {
    let repo = TestRepo::new();
    repo.wtmux(&["add", "feat", "--no-window"]).ok();
    let feat = repo.worktree("feat");
    repo.write(".wtmux.toml", "bogus_key = 1\n");
    for dir in [&feat, &repo.root] {
        quiet_hook(&repo, dir, "done", None);
        quiet_hook(&repo, dir, "working", Some(&feat));
    }
    std::fs::remove_file(repo.path(".wtmux.toml")).unwrap();
    repo.user_config("agent_quiet = \"0s\"\n");
    quiet_hook(&repo, &feat, "waiting", None);
    repo.user_config("");
    // Once it loads again, hooks record as before.
    quiet_hook(&repo, &feat, "waiting", None);
    assert_eq!(agent_state(&repo, "feat")["state"], "waiting");
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

// ---------------------------------------------------------------------------------------------
// Consistent verdicts: the race between a look at the panes and an agent printing, made
// deterministic with the pause point every look blocks on before it reads screens.

/// A FIFO that code under test stops at (`WTMUX_TEST_PAUSE=before-screen-read:<fifo>`).
struct Pause {
    fifo: std::path::PathBuf,
}

impl Pause {
    fn new(dir: &std::path::Path) -> Pause {
        let fifo = dir.join("pause.fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        Pause { fifo }
    }

    fn env(&self) -> std::path::PathBuf {
        format!("before-screen-read:{}", self.fifo.display()).into()
    }

    /// Waits until a look stopped at the pause point: its snapshot is taken and it is about to
    /// read screens. It stays there until [`Pause::release`].
    fn reached(&self, seconds: u64, what: &str) {
        use std::io::Read;
        use std::os::unix::fs::OpenOptionsExt;
        let mut listening = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(O_NONBLOCK)
            .open(&self.fifo)
            .unwrap();
        let mut heard = Vec::new();
        wait_until(seconds, what, || {
            let mut buf = [0u8; 64];
            if let Ok(n) = listening.read(&mut buf) {
                heard.extend_from_slice(&buf[..n]);
            }
            heard.ends_with(b"before-screen-read\n")
        });
    }

    /// Lets the look go on.
    fn release(&self) {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut word = None;
        // A write end opens without blocking once the look waits for the word.
        wait_until(10, "the look to wait for the word", || {
            word = std::fs::OpenOptions::new()
                .write(true)
                .custom_flags(O_NONBLOCK)
                .open(&self.fifo)
                .ok();
            word.is_some()
        });
        word.unwrap().write_all(b"go\n").unwrap();
    }
}

const O_NONBLOCK: i32 = 0o4000; // Linux

/// Holds (for the test's life) the lock that marks a running agent monitor, or waits until
/// another process holds it.
fn monitor_lock(repo: &common::TestRepo) -> std::path::PathBuf {
    let path = repo.root.join(".git/wtmux/agents/monitor.lock");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    path
}

fn lock_is_held(path: &std::path::Path) -> bool {
    let file = std::fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .unwrap();
    file.try_lock().is_err()
}

fn asking_config(repo_dir: &std::path::Path, extra: &str) -> (String, std::path::PathBuf) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fake-agent.sh");
    let trigger = repo_dir.join("ask-now");
    let notes = repo_dir.join("notifications");
    (
        format!(
            "agent_quiet = \"1s\"\nnotify = \"printf '%s\\\\n' >>{}\"\n{extra}\n[agents.asker]\nrun = \"sh {script} --ask-when {}\"\n",
            notes.display(),
            trigger.display()
        ),
        trigger,
    )
}

fn notifications(scratch: &tempfile::TempDir) -> Vec<String> {
    std::fs::read_to_string(scratch.path().join("notifications"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn the_monitor_never_calls_an_agent_waiting_from_a_screen_read_while_it_printed() {
    let scratch = tempfile::tempdir().unwrap();
    let (config, trigger) = asking_config(scratch.path(), "");
    let mut repo = common::TestRepo::with_config(&config);
    let tmux = repo.start_tmux();
    let pause = Pause::new(scratch.path());
    let _monitor = KillOnDrop(repo.spawn_wtmux_with(
        &repo.root,
        &["__agent-monitor"],
        &[("WTMUX_TEST_PAUSE", &pause.env())],
    ));
    let lock = monitor_lock(&repo);
    wait_until(10, "the test's monitor to run", || lock_is_held(&lock));
    repo.wtmux(&["add", "feat", "--agent", "asker"]).ok();
    let window = repo.row("feat")["window"].as_str().unwrap().to_string();

    // The agent said "thinking" and went quiet: once quiet long enough, the monitor takes its
    // snapshot and stops before reading the screen. Right then, the agent asks.
    pause.reached(20, "the monitor to read a quiet pane");
    let asked = std::time::Instant::now(); // no later than the question appears
    std::fs::write(&trigger, "").unwrap();
    wait_until(10, "the question on screen", || {
        tmux.capture(&window).contains("(y/n)")
    });
    pause.release();

    // The screen it read shows the question, but the pane printed after the snapshot: that
    // read decides nothing. The next read comes once the question has been quiet long enough.
    pause.reached(20, "the monitor's next read");
    assert!(
        asked.elapsed() >= std::time::Duration::from_secs(1),
        "read again before the quiet period passed"
    );
    assert_eq!(
        tmux.run(&["show-options", "-wv", "-t", &window, "@wtmux_state"]),
        "working"
    );
    assert!(
        notifications(&scratch).is_empty(),
        "{:?}",
        notifications(&scratch)
    );
    pause.release();

    wait_until(10, "waiting, after the quiet period", || {
        tmux.try_run(&["show-options", "-wv", "-t", &window, "@wtmux_state"])
            .is_some_and(|s| s == "waiting")
    });
    assert_eq!(notifications(&scratch), ["wtmux: feat is waiting for you"]);
}

/// A child process that is killed when the test ends, passed or failed (a look stopped at a
/// pause point would otherwise wait for ever).
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn wait_never_returns_waiting_from_a_screen_read_while_the_agent_printed() {
    let scratch = tempfile::tempdir().unwrap();
    let (config, trigger) = asking_config(scratch.path(), "");
    let mut repo = common::TestRepo::with_config(&config);
    let tmux = repo.start_tmux();
    // No monitor: `wait` alone looks at the pane (the test holds the monitor's lock).
    let lock = monitor_lock(&repo);
    let held_lock = std::fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock)
        .unwrap();
    held_lock.try_lock().unwrap();
    repo.wtmux(&["add", "feat", "--agent", "asker"]).ok();
    let window = repo.row("feat")["window"].as_str().unwrap().to_string();
    let pause = Pause::new(scratch.path());
    let mut wait = KillOnDrop(repo.spawn_wtmux_with(
        &repo.root,
        &["wait", "feat", "--until", "waiting", "--timeout", "60s"],
        &[("WTMUX_TEST_PAUSE", &pause.env())],
    ));
    pause.reached(20, "wait to read a quiet pane");
    let asked = std::time::Instant::now(); // no later than the question appears
    std::fs::write(&trigger, "").unwrap();
    wait_until(10, "the question on screen", || {
        tmux.capture(&window).contains("(y/n)")
    });
    pause.release();
    pause.reached(20, "wait's next read");
    assert!(
        wait.0.try_wait().unwrap().is_none(),
        "wait returned from a read made while the agent printed"
    );
    assert!(asked.elapsed() >= std::time::Duration::from_secs(1));
    pause.release();
    let mut out = String::new();
    let status = wait.0.wait().unwrap();
    std::io::Read::read_to_string(wait.0.stdout.as_mut().unwrap(), &mut out).unwrap();
    assert!(status.success());
    assert_eq!(out.trim(), "waiting");
}

#[test]
fn a_bell_is_not_agent_output_and_each_change_is_told_once() {
    let scratch = tempfile::tempdir().unwrap();
    let (config, trigger) = asking_config(scratch.path(), "bell = true");
    let mut repo = common::TestRepo::with_config(&config);
    let tmux = repo.start_tmux();
    std::fs::write(&trigger, "").unwrap(); // asks at once
    repo.wtmux(&["add", "feat", "--agent", "asker"]).ok();
    let window = repo.row("feat")["window"].as_str().unwrap().to_string();
    wait_until(20, "waiting", || notifications(&scratch).len() == 1);
    // The monitor rang the pane's bell, which moved the window's activity: wait until the
    // monitor has looked at the pane since (its record's observation caught up).
    let activity = || -> u64 {
        tmux.run(&["display-message", "-p", "-t", &window, "#{window_activity}"])
            .parse()
            .unwrap()
    };
    let record = || -> serde_json::Value {
        let dir = repo.root.join(".git/wtmux/agents");
        let file = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .find(|e| e.path().extension().is_some_and(|x| x == "json"))
            .unwrap();
        serde_json::from_slice(&std::fs::read(file.path()).unwrap()).unwrap()
    };
    wait_until(10, "the monitor to look at the pane after its bell", || {
        record()["observed"]["activity"].as_u64() == Some(activity())
            && record()["observed"]["settled"] == true
    });
    assert_eq!(record()["last_state"], "waiting");
    assert_eq!(agent_state(&repo, "feat")["state"], "waiting");
    assert_eq!(notifications(&scratch), ["wtmux: feat is waiting for you"]);
}

// ---------------------------------------------------------------------------------------------
// Monitors that heal

fn monitor_pid(repo: &common::TestRepo) -> Option<u32> {
    let out = repo.wtmux(&["doctor"]).ok();
    let line = out.lines().find(|l| l.starts_with("agent monitor: pid "))?;
    line["agent monitor: pid ".len()..]
        .split(',')
        .next()?
        .parse()
        .ok()
}

#[test]
fn a_config_change_reaches_the_running_monitor_and_a_killed_monitor_comes_back() {
    let scratch = tempfile::tempdir().unwrap();
    let (config, trigger) = asking_config(scratch.path(), "");
    // First without notify: the monitor starts with a configuration that tells nobody.
    let quiet: String = config
        .lines()
        .filter(|l| !l.starts_with("notify"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut repo = common::TestRepo::with_config(&quiet);
    let _tmux = repo.start_tmux();
    repo.wtmux(&["add", "feat", "--agent", "asker"]).ok();
    wait_until(10, "the monitor to run", || monitor_pid(&repo).is_some());

    // Killed (as a crash would): the next look at the agents starts another.
    let first = monitor_pid(&repo).unwrap();
    let _ = std::process::Command::new("kill")
        .args(["-9", &first.to_string()])
        .status();
    wait_until(10, "the killed monitor to be gone", || {
        std::fs::metadata(format!("/proc/{first}")).is_err()
            || std::fs::read_to_string(format!("/proc/{first}/stat"))
                .is_ok_and(|s| s.contains(") Z "))
    });
    let doctor = repo.wtmux(&["doctor"]).ok();
    assert!(doctor.contains("agent monitor: NOT RUNNING"), "{doctor}");
    repo.list();
    wait_until(10, "a new monitor", || {
        monitor_pid(&repo).is_some_and(|pid| pid != first)
    });

    // The configuration gains a notify command (trusted): the running monitor uses it.
    repo.write(".wtmux.toml", &config);
    repo.trust();
    std::fs::write(&trigger, "").unwrap();
    wait_until(20, "the new notify command to tell of the question", || {
        notifications(&scratch) == ["wtmux: feat is waiting for you"]
    });

    // `doctor --restart` replaces both monitors.
    let before = monitor_pid(&repo).unwrap();
    let out = repo.wtmux(&["doctor", "--restart"]).ok();
    assert!(out.contains("agent monitor: pid "), "{out}");
    assert!(out.contains("file-system monitor: "), "{out}");
    // The new monitor starts in tmux and records its pid itself.
    wait_until(10, "the restarted monitor", || {
        monitor_pid(&repo).is_some_and(|pid| pid != before)
    });
}

/// `verify_on`: the checks start by themselves, with the popup closed, when the branch gets a
/// new commit or the agent finishes a turn — once per content. The check logs the commit it
/// ran on (outside the repository), so every run is counted.
fn verifying_config(scratch: &std::path::Path, verify_on: &str) -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fake-agent.sh");
    format!(
        "agent_quiet = \"1s\"\nverify_on = {verify_on}\n[agents.committer]\nrun = \"sh {script} --commit-each\"\n\n[[check]]\nname = \"log\"\nrun = \"git rev-parse HEAD >>{}\"\n",
        scratch.join("runs.log").display()
    )
}

fn runs(scratch: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(scratch.join("runs.log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// The one worktree's record of what started its checks: (tip noted, trigger pending).
fn auto_watch(repo: &TestRepo) -> (String, serde_json::Value) {
    let dir = repo.root.join(".git/wtmux/auto");
    let file = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .find(|e| e.path().extension().is_some_and(|x| x == "json"))
        .unwrap()
        .path();
    let watch: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    (
        watch["tip"].as_str().unwrap_or("").to_string(),
        watch["pending"].clone(),
    )
}

/// The monitor has recorded the agent's turn to done, and nothing is pending.
fn turn_settled(repo: &TestRepo) -> bool {
    let agents = repo.root.join(".git/wtmux/agents");
    let done = std::fs::read_dir(&agents)
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .filter(|e| !e.file_name().to_string_lossy().starts_with("agent-monitor"))
        .all(|e| {
            std::fs::read_to_string(e.path())
                .ok()
                .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
                .is_some_and(|r| r["last_state"] == "done")
        });
    done && auto_watch(repo).1.is_null()
}

#[test]
fn verify_on_commit_checks_a_new_commit_with_nobody_looking() {
    let scratch = tempfile::tempdir().unwrap();
    let mut repo = TestRepo::with_config(&verifying_config(scratch.path(), "[\"commit\"]"));
    let _tmux = repo.start_tmux();
    // No agent, no look (`list` would start the monitor too): `add` starts what watches.
    repo.wtmux(&["add", "feat", "--no-agent"]).ok();
    let feat = repo.worktree("feat");
    common::write_file(&feat.join("a.txt"), "a\n");
    repo.git_in(&feat, &["add", "a.txt"]);
    repo.git_in(&feat, &["commit", "-q", "-m", "a"]);
    let head = repo.git_in(&feat, &["rev-parse", "HEAD"]);
    wait_until(20, "the checks to run on the new commit", || {
        runs(scratch.path()) == [head.clone()]
    });
    wait_until(10, "the result to be recorded", || {
        repo.check_state("feat") == "passed"
    });

    // Committed again: checked again; the same content again (a commit of nothing new, then
    // one back to checked content) is not.
    common::write_file(&feat.join("a.txt"), "b\n");
    repo.git_in(&feat, &["commit", "-q", "-am", "b"]);
    let second = repo.git_in(&feat, &["rev-parse", "HEAD"]);
    wait_until(20, "the second commit to be checked", || {
        runs(scratch.path()).len() == 2
    });
    repo.git_in(&feat, &["reset", "-q", "--hard", &head]);
    wait_until(10, "the monitor to note the tip back and settle it", || {
        auto_watch(&repo) == (head.clone(), serde_json::Value::Null)
    });
    // A content never checked, after the one already checked: only it runs.
    common::write_file(&feat.join("c.txt"), "c\n");
    repo.git_in(&feat, &["add", "c.txt"]);
    repo.git_in(&feat, &["commit", "-q", "-m", "c"]);
    let third = repo.git_in(&feat, &["rev-parse", "HEAD"]);
    wait_until(20, "the third content to be checked", || {
        runs(scratch.path()).len() >= 3
    });
    wait_until(10, "its result", || repo.check_state("feat") == "passed");
    assert_eq!(
        runs(scratch.path()),
        [head.clone(), second, third],
        "the tip moving back to checked content started nothing"
    );
}

#[test]
fn verify_on_commit_and_done_make_one_run_per_content() {
    let scratch = tempfile::tempdir().unwrap();
    let mut repo =
        TestRepo::with_config(&verifying_config(scratch.path(), "[\"commit\", \"done\"]"));
    let tmux = repo.start_tmux();
    repo.wtmux(&["add", "feat", "--agent", "committer"]).ok();
    let feat = repo.worktree("feat");
    let base = repo.git(&["rev-parse", "main"]);
    // Its first turn ends with nothing changed: base's content is checked, once.
    wait_until(20, "the first turn's checks", || {
        runs(scratch.path()) == [base.clone()]
    });
    let window = repo.row("feat")["window"].as_str().unwrap().to_string();
    let mut expected = vec![base];
    for task in ["first", "second"] {
        repo.wtmux(&["send", "feat", task]).ok();
        wait_until(10, "the agent to commit", || {
            tmux.capture(&window)
                .contains(&format!("committed '{task}'"))
        });
        repo.wtmux(&["wait", "feat", "--until", "done", "--timeout", "20s"])
            .ok();
        expected.push(repo.git_in(&feat, &["rev-parse", "HEAD"]));
        wait_until(20, "the commit's checks", || {
            runs(scratch.path()).len() >= expected.len()
        });
        wait_until(10, "its result", || repo.check_state("feat") == "passed");
        wait_until(10, "the turn to be recorded and settled", || {
            turn_settled(&repo)
        });
    }
    // The commit and the turn that made it were both seen; one run each.
    repo.wtmux(&["send", "feat", "exit"]).ok();
    repo.wtmux(&["wait", "feat", "--until", "exited", "--timeout", "20s"])
        .ok();
    assert_eq!(runs(scratch.path()), expected);
}

/// A squash merge's message names the task the agent was started with, and the merge plan
/// warns while the agent still works.
#[test]
fn a_squash_message_names_the_agents_task() {
    let (repo, _tmux) = setup("");
    repo.wtmux(&[
        "add",
        "feat",
        "--agent",
        "pasted",
        "--prompt",
        "Add the login form",
    ])
    .ok();
    let feat = repo.worktree("feat");
    common::write_file(&feat.join("login.txt"), "form\n");
    repo.git_in(&feat, &["add", "login.txt"]);
    repo.git_in(&feat, &["commit", "-q", "-m", "Login form"]);
    repo.wtmux(&["merge", "feat", "--strategy", "squash"]).ok();
    let message = repo.git(&["log", "-1", "--format=%B", "main"]);
    assert!(
        message
            .starts_with("Login form\n\nTask: Add the login form\n\nSquash-merge branch 'feat':"),
        "{message}"
    );
}

// ---------------------------------------------------------------------------------------------
// The popup refreshes in batches: agent state changes that arrive together are one refresh pass.

/// The popup's refresh passes, held at their pause point (`WTMUX_TEST_PAUSE=refresh-pass:<fifo>`):
/// each pass stops before it reads anything, until released.
struct PassGate {
    fifo: std::path::PathBuf,
    listening: Option<std::fs::File>,
    heard: Vec<u8>,
}

impl PassGate {
    fn new(dir: &std::path::Path) -> PassGate {
        let fifo = dir.join("passes.fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        PassGate {
            fifo,
            listening: None,
            heard: Vec::new(),
        }
    }

    /// Whether a pass has stopped at the gate (it waits there until [`PassGate::release`]).
    fn held(&mut self) -> bool {
        use std::io::Read;
        use std::os::unix::fs::OpenOptionsExt;
        let fifo = self.listening.get_or_insert_with(|| {
            std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(O_NONBLOCK)
                .open(&self.fifo)
                .unwrap()
        });
        let mut buf = [0u8; 64];
        if let Ok(n) = fifo.read(&mut buf) {
            self.heard.extend_from_slice(&buf[..n]);
        }
        if self.heard.ends_with(b"refresh-pass\n") {
            self.heard.clear();
            // The pass reads the FIFO next: this end must not hold it open meanwhile.
            self.listening = None;
            return true;
        }
        false
    }

    /// Lets the held pass go on.
    fn release(&self) {
        let mut word = None;
        // A write end opens without blocking once the pass waits for the word.
        wait_until(10, "the pass to wait at the gate", || {
            use std::os::unix::fs::OpenOptionsExt;
            word = std::fs::OpenOptions::new()
                .write(true)
                .custom_flags(O_NONBLOCK)
                .open(&self.fifo)
                .ok();
            word.is_some()
        });
    }
}

/// The popup's trace (`WTMUX_UI_TRACE`) from `offset` on.
fn trace_lines(trace: &std::path::Path, offset: usize) -> Vec<String> {
    let text = std::fs::read_to_string(trace).unwrap_or_default();
    text.get(offset..)
        .unwrap_or("")
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn agent_state_changes_that_arrive_together_are_one_popup_refresh_pass() {
    const AGENTS: usize = 4;
    let scratch = tempfile::tempdir().unwrap();
    let (config, trigger) = asking_config(scratch.path(), "");
    let mut repo = common::TestRepo::with_config(&config);
    let tmux = repo.start_tmux();
    let branches: Vec<String> = (0..AGENTS).map(|i| format!("agent-{i}")).collect();
    for branch in &branches {
        repo.wtmux(&["add", branch, "--agent", "asker"]).ok();
    }
    let states = |repo: &common::TestRepo| -> Vec<String> {
        let listing = repo.list();
        branches
            .iter()
            .map(|b| {
                listing["worktrees"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|w| w["branch"] == b.as_str())
                    .map(|w| w["agent"]["state"].as_str().unwrap_or("").to_string())
                    .unwrap_or_default()
            })
            .collect()
    };
    // Every agent said "thinking" and went quiet; the file-system monitor runs (the listings
    // start it), so the popup follows it from its start.
    wait_until(30, "every agent done", || {
        states(&repo).iter().all(|s| s == "done")
    });
    wait_until(10, "the file-system monitor", || {
        repo.path(".git/wtmux/fsmonitor/session").exists()
    });

    let mut gate = PassGate::new(scratch.path());
    let trace = scratch.path().join("ui.trace");
    tmux.run(&[
        "new-window",
        "-d",
        "-n",
        "popup",
        "-e",
        &format!("WTMUX_TEST_PAUSE=refresh-pass:{}", gate.fifo.display()),
        "-e",
        &format!("WTMUX_UI_TRACE={}", trace.display()),
        "-c",
        &wtmux::core::tmux::format_literal(&repo.root.to_string_lossy()),
        common::WTMUX,
        "ui",
    ]);
    // Passes go on until the popup shows its rows.
    wait_until(30, "the popup to show its rows", || {
        if gate.held() {
            gate.release();
        }
        trace_lines(&trace, 0)
            .iter()
            .any(|l| l.starts_with("live "))
    });

    // A file changes in the main worktree: the pass for it is held at the gate. Meanwhile every
    // agent asks, and its changes (working, then waiting) reach the popup, which queues them.
    repo.write("note.txt", "a change for a pass to hold\n");
    wait_until(30, "a pass to stop at the gate", || gate.held());
    std::fs::write(&trigger, "").unwrap();
    wait_until(30, "every agent waiting", || {
        states(&repo).iter().all(|s| s == "waiting")
    });
    wait_until(30, "every agent's change queued in the popup", || {
        trace_lines(&trace, 0)
            .iter()
            .rev()
            .find_map(|l| l.strip_prefix("queued "))
            .and_then(|q| q.split_whitespace().next()?.parse::<usize>().ok())
            == Some(AGENTS)
    });
    let released_at = std::fs::read_to_string(&trace).unwrap().len();
    gate.release();

    // One pass, for them all.
    let mut next_pass = None;
    wait_until(30, "the next refresh pass", || {
        if gate.held() {
            gate.release();
        }
        next_pass = trace_lines(&trace, released_at)
            .into_iter()
            .find(|l| l.starts_with("refresh_pass "));
        next_pass.is_some()
    });
    let pass = next_pass.unwrap();
    let rows = pass.split_whitespace().nth(1).unwrap();
    assert!(
        rows == "all" || rows.parse::<usize>().unwrap() >= AGENTS,
        "{AGENTS} agents' changes, then: {pass}"
    );
    // And what it read is what the popup shows.
    wait_until(30, "the popup to show every agent waiting", || {
        if gate.held() {
            gate.release();
        }
        let screen = tmux.capture("popup");
        screen.matches("? wait").count() >= AGENTS
    });
}

// ---------------------------------------------------------------------------------------------
// Agent output is a change of the screen's text, not of tmux's activity

/// The quiet period of these tests.
const QUIET_MS: u64 = 2000;
/// How long after its last output an agent is seen waiting at the latest: the quiet period,
/// tmux's activity in whole seconds (1 s), the monitor's look once a second, which reads a
/// screen that moved a tick later and must see a pause between two bells (2 s), and a loaded
/// machine (1 s).
const WAITING_WITHIN_MS: u64 = QUIET_MS + 4000;

/// An agent that asks and then, every second and a half, does `what` (`bell`, `redraw`: see
/// `--ask-then` in tests/fake-agent.sh); `notify` appends each message to `dir/notifications`.
fn still_asking_config(dir: &std::path::Path, what: &str) -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fake-agent.sh");
    format!(
        "agent_quiet = \"{QUIET_MS}ms\"\nnotify = \"printf '%s\\\\n' >>{}\"\n[agents.asker]\nrun = \"sh {script} --ask-then {what} 1.5 {}\"\n[agents.spinner]\nrun = \"sh {script} --spin\"\n",
        dir.join("notifications").display(),
        dir.display()
    )
}

/// When the agent began printing each question (unix ms).
fn questions_asked(dir: &std::path::Path) -> Vec<u64> {
    std::fs::read_to_string(dir.join("asked"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse::<u64>().ok())
        .map(|ns| ns / 1_000_000)
        .collect()
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// The one agent's record, as the monitor keeps it.
fn agent_record(repo: &TestRepo) -> serde_json::Value {
    let dir = repo.root.join(".git/wtmux/agents");
    let file = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .find(|e| e.path().extension().is_some_and(|x| x == "json"))
        .unwrap();
    serde_json::from_slice(&std::fs::read(file.path()).unwrap()).unwrap()
}

fn window_activity(tmux: &TmuxServer, window: &str) -> u64 {
    tmux.run(&["display-message", "-p", "-t", window, "#{window_activity}"])
        .trim()
        .parse()
        .unwrap()
}

/// Polls the monitor's record until the agent is `state`, and returns when that was seen (unix
/// ms). Panics once `deadline_ms` passes, and if it is seen while `not_before_ms` has not
/// come yet (a look that ended before then saw it).
fn seen_in_state(repo: &TestRepo, state: &str, not_before_ms: u64, deadline_ms: u64) -> u64 {
    loop {
        let now = unix_ms();
        let recorded = agent_record(repo)["last_state"].clone();
        if recorded == state {
            let seen = unix_ms();
            assert!(
                seen >= not_before_ms,
                "{state} {} ms before its quiet period ended",
                not_before_ms - seen
            );
            return seen;
        }
        assert!(
            now < deadline_ms,
            "not {state} {} ms after the last output (it is {recorded})",
            WAITING_WITHIN_MS
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Once waiting, it stays so while it keeps writing without changing its text: checked once
/// the monitor has read its screen two seconds of writes later.
fn stays_waiting(repo: &TestRepo, tmux: &TmuxServer, window: &str, scratch: &std::path::Path) {
    let later = window_activity(tmux, window) + 2;
    wait_until(
        10,
        "the monitor to read the screen two seconds later",
        || {
            agent_record(repo)["observed"]["activity"]
                .as_u64()
                .is_some_and(|a| a >= later)
        },
    );
    assert_eq!(agent_record(repo)["last_state"], "waiting");
    assert_eq!(
        notifications_in(scratch),
        ["wtmux: feat is waiting for you"]
    );
}

fn notifications_in(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("notifications"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn the_bell_while_an_agent_asks_does_not_hold_waiting_back() {
    let scratch = tempfile::tempdir().unwrap();
    let mut repo = TestRepo::with_config(&still_asking_config(scratch.path(), "bell"));
    let tmux = repo.start_tmux();
    repo.wtmux(&["add", "feat", "--agent", "asker"]).ok();
    let window = repo.row("feat")["window"].as_str().unwrap().to_string();
    wait_until(20, "the question", || {
        questions_asked(scratch.path()).len() == 1
    });
    let asked = questions_asked(scratch.path())[0];
    seen_in_state(&repo, "waiting", asked, asked + WAITING_WITHIN_MS);
    // It rang within its quiet period (tmux's activity moved past the second it asked in).
    assert!(window_activity(&tmux, &window) > asked / 1000);
    stays_waiting(&repo, &tmux, &window, scratch.path());
}

#[test]
fn a_redraw_of_the_same_text_does_not_hold_waiting_back() {
    let scratch = tempfile::tempdir().unwrap();
    let mut repo = TestRepo::with_config(&still_asking_config(scratch.path(), "redraw"));
    let tmux = repo.start_tmux();
    repo.wtmux(&["add", "feat", "--agent", "asker"]).ok();
    let window = repo.row("feat")["window"].as_str().unwrap().to_string();
    wait_until(20, "the question", || {
        questions_asked(scratch.path()).len() == 1
    });
    let asked = questions_asked(scratch.path())[0];
    // As a user would wait for it (this timed out while the agent redrew its screen).
    let timeout = format!(
        "{}ms",
        (asked + WAITING_WITHIN_MS).saturating_sub(unix_ms()).max(1)
    );
    let out = repo
        .wtmux(&["wait", "feat", "--until", "waiting", "--timeout", &timeout])
        .ok();
    assert_eq!(out.trim(), "waiting");
    assert!(window_activity(&tmux, &window) > asked / 1000);
    seen_in_state(&repo, "waiting", asked, asked + WAITING_WITHIN_MS);
    stays_waiting(&repo, &tmux, &window, scratch.path());
}

#[test]
fn a_new_line_within_the_quiet_period_restarts_it_while_the_bell_does_not() {
    let scratch = tempfile::tempdir().unwrap();
    let mut repo = TestRepo::with_config(&still_asking_config(scratch.path(), "bell"));
    let _tmux = repo.start_tmux();
    repo.wtmux(&["add", "feat", "--agent", "asker"]).ok();
    wait_until(20, "the question", || {
        questions_asked(scratch.path()).len() == 1
    });
    let asked = questions_asked(scratch.path())[0];
    // Half way through its quiet period, ringing all along, it prints one more line.
    wait_until(10, "half the quiet period", || {
        unix_ms() >= asked + QUIET_MS / 2
    });
    std::fs::write(scratch.path().join("more"), "").unwrap();
    wait_until(10, "the new line", || {
        questions_asked(scratch.path()).len() == 2
    });
    assert_eq!(agent_record(&repo)["last_state"], "working");
    let printed = questions_asked(scratch.path())[1];
    seen_in_state(
        &repo,
        "waiting",
        printed + QUIET_MS,
        printed + WAITING_WITHIN_MS,
    );
    // `notify` runs after the turn is recorded.
    wait_until(10, "the notification", || {
        !notifications_in(scratch.path()).is_empty()
    });
    assert_eq!(
        notifications_in(scratch.path()),
        ["wtmux: feat is waiting for you"]
    );
}

#[test]
fn a_spinner_that_shows_the_same_frame_at_every_read_is_working() {
    let scratch = tempfile::tempdir().unwrap();
    let mut repo = TestRepo::with_config(&still_asking_config(scratch.path(), "bell"));
    let tmux = repo.start_tmux();
    repo.wtmux(&["add", "feat", "--agent", "spinner"]).ok();
    let window = repo.row("feat")["window"].as_str().unwrap().to_string();
    wait_until(20, "the monitor to read the spinner", || {
        agent_record(&repo)["observed"]["activity"].is_u64()
    });
    let from = agent_record(&repo)["observed"]["activity"]
        .as_u64()
        .unwrap();
    // Three quiet periods of reads, a second apart, each one perhaps on the same frame.
    let until = from + 3 * QUIET_MS / 1000 + 1;
    let mut states = std::collections::BTreeSet::new();
    wait_until(
        30,
        "the monitor to read the spinner for three quiet periods",
        || {
            let record = agent_record(&repo);
            states.insert(record["last_state"].as_str().unwrap_or("").to_string());
            record["observed"]["activity"].as_u64().unwrap() >= until
        },
    );
    assert_eq!(states, ["working".to_string()].into());
    assert!(notifications_in(scratch.path()).is_empty());
    assert!(tmux.capture(&window).contains("fake-agent: thinking"));
}
