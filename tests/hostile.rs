//! Outside text stays text: hostile branch names, repository paths, file names, commit subjects
//! and config values go through every path that reaches tmux, a shell or the terminal, with a
//! real tmux server and a real client attached; nothing they hold may run, and every window
//! opens where it should.
//!
//! The canaries: each hostile string holds `#(cd;touch pwned-…)` (tmux runs it in the server),
//! `$(cd;touch pwned-…)` and a backtick form (a shell would run them); `cd` with no argument
//! goes to the sandbox HOME, so any of them firing leaves a `pwned-*` file there.

mod common;

use std::path::Path;

use common::{Client, TestRepo, TmuxServer, WTMUX, wait_until};

/// A string that would run something wherever tmux or a shell interpreted it.
fn hostile(tag: &str) -> String {
    format!(
        "x #(cd;touch pwned-{tag}) #{{pane_id}} #[fg=red] ##W ;$(cd;touch pwned-{tag}-sh) `cd;touch pwned-{tag}-bt` 'q\""
    )
}

/// Proves tmux's format jobs have run by now (a `#(…)` of our own, issued last, has fired), then
/// asserts that none of the hostile ones did.
fn assert_nothing_ran(repo: &TestRepo, tmux: &TmuxServer) {
    // tmux starts a format's job once per string and client, sometimes later: a fresh string
    // each round until one has run.
    let mut round = 0;
    wait_until(20, "tmux's own #() job to run", || {
        round += 1;
        tmux.run(&[
            "run-shell",
            &format!("true #(cd;touch control-ran-{round})"),
        ]);
        std::fs::read_dir(&repo.home)
            .unwrap()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with("control-ran"))
    });
    let fired: Vec<String> = std::fs::read_dir(&repo.home)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("pwned"))
        .collect();
    assert!(fired.is_empty(), "hostile text ran: {fired:?}");
}

/// The working directory of a window's shell, from the kernel (tmux prints control characters
/// in paths as `_` under the C locale).
fn pane_dir(tmux: &TmuxServer, window: &str) -> Option<std::path::PathBuf> {
    let pid = tmux.run(&["display-message", "-p", "-t", window, "#{pane_pid}"]);
    std::fs::read_link(format!("/proc/{pid}/cwd")).ok()
}

fn wait_for_pane_in(tmux: &TmuxServer, window: &str, dir: &Path) {
    wait_until(10, "the window's shell to start in its directory", || {
        pane_dir(tmux, window).as_deref() == Some(dir)
    });
}

#[test]
fn a_repository_at_a_hostile_path_opens_windows_there_checks_and_merges_and_runs_nothing() {
    let mut repo = TestRepo::new_at(&hostile("path"));
    repo.user_config(
        "post_merge = \"pwd > \\\"$HOME/post-merge-ran-in\\\"\"\n\
         [[check]]\nname = \"where\"\nrun = \"pwd > \\\"$HOME/check-ran-in\\\"\"\n",
    );
    let tmux = repo.start_tmux();
    let _client = Client::attach(&repo, &tmux);

    repo.wtmux(&["add", "feat/x", "--no-agent"]).ok();
    let worktree = repo.worktree("feat-x");
    let window = repo.row("feat/x")["window"].as_str().unwrap().to_string();
    wait_for_pane_in(&tmux, &window, &worktree);
    // The window's environment (new-window -e, which tmux does not expand) holds the path.
    tmux.run(&[
        "send-keys",
        "-t",
        &window,
        "printf '%s\\n' \"$WTMUX_WORKTREE\" > \"$HOME/env-in-window\"",
        "Enter",
    ]);
    wait_until(10, "the window's shell to report its environment", || {
        std::fs::read_to_string(repo.home.join("env-in-window"))
            .is_ok_and(|s| s == format!("{}\n", worktree.display()))
    });

    // Checks run (under tmux's run-shell) in the worktree.
    repo.wtmux(&["check", "feat/x", "--wait"]).ok();
    assert_eq!(
        std::fs::read_to_string(repo.home.join("check-ran-in")).unwrap(),
        format!("{}\n", worktree.display())
    );

    // A closed window is re-created in the right place.
    tmux.run(&["kill-window", "-t", &window]);
    let out = repo.wtmux(&["open", "feat/x"]).ok();
    assert!(out.contains("(created)"), "{out}");
    let window = repo.row("feat/x")["window"].as_str().unwrap().to_string();
    wait_for_pane_in(&tmux, &window, &worktree);

    // post_merge runs in a window of the main worktree.
    common::write_file(&worktree.join("new.txt"), "new\n");
    repo.git_in(&worktree, &["add", "-A"]);
    repo.git_in(&worktree, &["commit", "-q", "-m", "add new.txt"]);
    repo.wtmux(&["merge", "feat/x", "--force"]).ok();
    wait_until(10, "post_merge to run", || {
        std::fs::read_to_string(repo.home.join("post-merge-ran-in"))
            .is_ok_and(|s| s == format!("{}\n", repo.root.display()))
    });
    assert_nothing_ran(&repo, &tmux);
}

#[test]
fn a_repository_path_with_a_newline_and_escapes_keeps_its_windows() {
    let mut repo = TestRepo::new_at("r\nx\x1b[31m #(cd;touch pwned-newline)");
    let tmux = repo.start_tmux();
    repo.wtmux(&["add", "feat", "--no-agent"]).ok();
    let window = repo.row("feat")["window"]
        .as_str()
        .expect("the window is found by its tag")
        .to_string();
    wait_for_pane_in(&tmux, &window, &repo.worktree("feat"));
    tmux.run(&["kill-window", "-t", &window]);
    assert!(repo.wtmux(&["open", "feat"]).ok().contains("(created)"));
    let out = repo.wtmux(&["open", "feat"]).ok();
    assert!(!out.contains("(created)"), "found again by its tag: {out}");
    assert_nothing_ran(&repo, &tmux);
}

#[test]
fn a_branch_made_with_plain_git_names_windows_and_messages_literally() {
    let mut repo = TestRepo::new();
    // Valid for git, and ending in `;` (which would end a tmux command given as argv).
    let branch = "h#(cd;touch${IFS}pwned-branch)#{pane_id}%I$(cd;touch${IFS}pwned-branch-sh);";
    repo.git(&["branch", branch]);
    let dir = repo.path(".worktrees/h");
    repo.git(&["worktree", "add", "-q", &dir.to_string_lossy(), branch]);
    let tmux = repo.start_tmux();
    let _client = Client::attach(&repo, &tmux);

    // open: a window named after the branch, in the worktree.
    repo.wtmux(&["open", branch]).ok();
    let (window, name, _) = tmux
        .windows()
        .into_iter()
        .find(|(_, _, tag)| Path::new(tag) == dir)
        .expect("a tagged window");
    assert_eq!(name, branch.replace('/', "-"));
    wait_for_pane_in(&tmux, &window, &dir);

    // An agent's hook reports on it: the tmux message names the branch as it is.
    repo.wtmux_in(&dir, &["agent-status", "waiting"]).ok();
    repo.wtmux_in(&dir, &["agent-status", "done"]).ok();
    assert_nothing_ran(&repo, &tmux);
}

#[test]
fn hostile_config_values_and_long_names_open_windows_in_place_and_run_nothing() {
    let mut repo = TestRepo::new_at(&format!("-{}", hostile("long")));
    repo.user_config(
        "worktree_dir = \"-w #(cd;touch pwned-wtdir) #{pane_id} ;$(cd;touch pwned-wtdir-sh)\"\n\
         [[check]]\nname = \"#(cd;touch pwned-checkname) `cd;touch pwned-checkname-bt`\"\n\
         run = \"pwd > \\\"$HOME/check-ran-in\\\"\"\n",
    );
    let tmux = repo.start_tmux();
    let _client = Client::attach(&repo, &tmux);
    // The longest branch name wtmux takes (200), and 300 characters, refused in one line.
    let long = format!("feat/{}", "a".repeat(195));
    let err = repo
        .wtmux(&["add", &"b".repeat(300), "--no-agent"])
        .refused();
    assert!(err.len() < 600, "{err}");
    repo.wtmux(&["add", &long, "--no-agent"]).ok();
    let row = repo.row(&long);
    let worktree = std::path::PathBuf::from(row["path"].as_str().unwrap());
    assert!(
        worktree.starts_with(
            repo.root
                .join("-w #(cd;touch pwned-wtdir) #{pane_id} ;$(cd;touch pwned-wtdir-sh)")
        )
    );
    let window = row["window"].as_str().unwrap().to_string();
    wait_for_pane_in(&tmux, &window, &worktree);
    repo.wtmux(&["check", &long, "--wait"]).ok();
    assert_eq!(
        std::fs::read_to_string(repo.home.join("check-ran-in")).unwrap(),
        format!("{}\n", worktree.display())
    );
    assert_nothing_ran(&repo, &tmux);
}

#[test]
fn the_plugin_opens_the_popup_from_a_hostile_repository_path_with_a_hostile_binary_path() {
    open_the_popup_in(&hostile("popup"));
}

#[test]
fn the_plugin_opens_the_popup_from_a_repository_path_with_a_newline() {
    // Through run-shell's shell, the line after the newline would be a command of its own.
    open_the_popup_in("r\ntouch pwned-newline-popup");
}

fn open_the_popup_in(name: &str) {
    let mut repo = TestRepo::new_at(name);
    let tmux = repo.start_tmux();
    repo.wtmux(&["add", "feat/one", "--no-agent"]).ok();
    let bin_dir = repo.dir.path().join(hostile("bin"));
    std::fs::create_dir_all(&bin_dir).unwrap();
    let bin = bin_dir.join("wtmux");
    std::os::unix::fs::symlink(WTMUX, &bin).unwrap();
    tmux.run(&["set-option", "-g", "@wtmux-bin", &bin.to_string_lossy()]);
    tmux.run(&[
        "run-shell",
        &format!("{}/tmux/wtmux.tmux", env!("CARGO_MANIFEST_DIR")),
    ]);
    // The client looks at the main worktree's pane (the popup opens on its repository).
    tmux.run(&["select-window", "-t", "test:0"]);
    let client = Client::attach(&repo, &tmux);
    client.keys(&["C-b", "w"]);
    client.wait_for("the popup to list the worktree", |screen| {
        screen.contains("feat/one") && screen.contains("BRANCH")
    });
    client.keys(&["q"]);
    client.wait_for("q to close the popup", |screen| !screen.contains("BRANCH"));
    assert_nothing_ran(&repo, &tmux);
}

#[test]
fn an_agent_known_only_by_its_hooks_gets_its_pane_claimed_by_the_first_hook() {
    let mut repo = TestRepo::new();
    let tmux = repo.start_tmux();
    repo.wtmux(&["add", "feat", "--no-agent"]).ok();
    let window = repo.row("feat")["window"].as_str().unwrap().to_string();
    // The user's own agent in that window runs a hook: here, the shell runs it.
    tmux.run(&[
        "send-keys",
        "-t",
        &window,
        &format!("'{WTMUX}' agent-status waiting && touch \"$HOME/hooked\""),
        "Enter",
    ]);
    wait_until(10, "the hook to run", || repo.home.join("hooked").exists());
    repo.wtmux(&["send", "feat", "echo typed-by-send"]).ok();
    wait_until(10, "the text to arrive", || {
        tmux.capture(&window).contains("\ntyped-by-send")
    });
}

#[test]
fn send_types_only_into_the_pane_proven_to_be_the_agents() {
    let mut repo = TestRepo::new();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fake-agent.sh");
    repo.user_config(&format!(
        "agent_quiet = \"1s\"\n[agents.fake]\nrun = \"sh {script}\"\n"
    ));
    let tmux = repo.start_tmux();
    repo.wtmux(&["add", "feat", "--agent", "fake"]).ok();
    let window = repo.row("feat")["window"].as_str().unwrap().to_string();
    let pane = tmux.run(&["display-message", "-p", "-t", &window, "#{pane_id}"]);

    // Into the agent's own pane, hostile text arrives as it is, and nothing runs.
    repo.wtmux(&["wait", "feat", "--until", "waiting", "--timeout", "30s"])
        .ok();
    let text = "#(cd;touch pwned-typed) #{pane_id} $(cd;touch pwned-typed-sh) ;";
    repo.wtmux(&["send", "feat", text]).ok();
    wait_until(10, "the text to reach the agent", || {
        tmux.capture(&window)
            .contains(&format!("answer was '{text}'"))
    });

    // tmux restarts (a new server, here on a socket of its own so the old one's leftovers
    // cannot race it): the same pane id now names somebody else's shell.
    drop(tmux);
    let socket = repo.dir.path().join("restarted.sock");
    let tmux = TmuxServer::start(&socket, &repo.home, &repo.home);
    wait_until(10, "a pane with the agent's old id", || {
        if tmux.try_run(&["display-message", "-p", "-t", &pane, "#{pane_id}"]) == Some(pane.clone())
        {
            return true;
        }
        tmux.run(&["new-window", "-d"]);
        false
    });
    repo.tmux.as_mut().unwrap().socket = socket;
    repo.tmux.as_mut().unwrap().pane = tmux.first_pane();
    let err = repo.wtmux(&["send", "feat", "touch pwned-send"]).refused();
    assert!(err.contains("no longer"), "{err}");
    assert!(!tmux.capture(&pane).contains("pwned-send"));
    let fired: Vec<_> = std::fs::read_dir(&repo.home)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("pwned"))
        .map(|e| e.file_name())
        .collect();
    assert!(fired.is_empty(), "{fired:?}");
}

// ---------------------------------------------------------------------------------------------
// Printing: control characters and escape sequences are shown escaped; JSON stays exact.

/// What a terminal would act on: any control character but the newline ending a line.
fn assert_inert(what: &str, text: &str) {
    let bad: Vec<char> = text
        .chars()
        .filter(|&c| (c.is_control() && c != '\n') || ('\u{202a}'..='\u{202e}').contains(&c))
        .collect();
    assert!(bad.is_empty(), "{what} prints {bad:?} raw:\n{text}");
}

const TITLE: &str = "\x1b]0;pwned\x07";
const CLEAR: &str = "\x1b[2J\x1b[H";

#[test]
fn names_paths_subjects_and_file_names_print_escaped_and_json_stays_exact() {
    let repo = TestRepo::new_at(&format!("r{TITLE}\nmerged fake"));
    let subject = format!("subject {CLEAR}\rmerged feat/x into main\u{202e}");
    repo.git(&["commit", "-q", "--allow-empty", "-m", &subject]);
    let add = repo.wtmux(&["add", "feat/x", "--scope", "src/**"]);
    let out = add.ok();
    assert_inert("add", &out);
    assert!(out.contains("\\e]0;pwned\\a\\nmerged fake"), "{out}");

    let worktree = repo.worktree("feat-x");
    let file = format!("evil{CLEAR}\nname.txt");
    common::write_file(&worktree.join(&file), "x\n");
    repo.git_in(&worktree, &["add", "-A"]);
    repo.git_in(
        &worktree,
        &["commit", "-q", "-m", &format!("add {CLEAR}file")],
    );
    common::write_file(&worktree.join(format!("dirty{TITLE}.txt")), "x\n");

    let list = repo.wtmux(&["list"]).ok();
    assert_inert("list", &list);
    assert!(list.contains("subject \\e[2J\\e[H\\rmerged"), "{list}");
    let json: serde_json::Value =
        serde_json::from_str(&repo.wtmux(&["list", "--json"]).ok()).unwrap();
    assert_eq!(json["worktrees"][0]["subject"], subject.as_str());
    assert_eq!(
        json["main_worktree"],
        repo.root.to_string_lossy().as_ref(),
        "paths are exact in JSON"
    );

    let conflicts = repo.wtmux(&["conflicts"]).ok();
    assert_inert("conflicts", &conflicts);
    assert!(
        conflicts.contains("evil\\e[2J\\e[H\\nname.txt"),
        "{conflicts}"
    );

    // A refusal naming the dirty file is one escaped line.
    let err = repo.wtmux(&["remove", "feat/x"]).refused();
    assert_inert("remove's refusal", &err);
    assert!(err.contains("dirty\\e]0;pwned\\a.txt"), "{err}");
}

#[test]
fn check_output_streams_escaped() {
    let repo = TestRepo::new();
    repo.user_config(&format!(
        "[[check]]\nname = \"noisy\"\nrun = \"printf 'ok\\\\n{}\\\\n'\"\n",
        "\\\\033]0;pwned\\\\007\\\\033[2J"
    ));
    let out = repo.wtmux(&["check", "--wait"]).ok();
    assert_inert("check --wait", &out);
    assert!(out.contains("ok\n\\e]0;pwned\\a\\e[2J\n"), "{out}");
}

#[test]
fn the_popup_draws_outside_text_escaped() {
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    use wtmux::core::agent::AgentStatus;
    use wtmux::core::check::{CheckState, CheckStatus};
    use wtmux::core::listing::{Detail, Row};
    use wtmux::tui::app::Model;
    use wtmux::tui::view::{self, Theme};

    let path = std::path::PathBuf::from(format!("/src/app{TITLE}"));
    let row = Row {
        branch: Some("feat/x".into()),
        path: path.clone(),
        is_main: true,
        prunable: false,
        head: Some("3f2a1bc".into()),
        subject: Some(format!("s{CLEAR}")),
        commit_time: Some(0),
        changed: 0,
        ahead: 0,
        behind: 0,
        window: None,
        check: CheckStatus {
            state: CheckState::Failed,
            name: Some(format!("t{CLEAR}")),
            exit_code: Some(1),
            log: None,
        },
        agent: AgentStatus::none(),
        operation: None,
    };
    let mut model = Model::new("main".into(), vec![row], 0);
    model.loading = false;
    model.detail = Some((
        path,
        Detail {
            commits: vec![],
            log: Some("/l/00-test.log".into()),
            log_tail: vec![format!("log {CLEAR}line")],
            agent_tail: vec![format!("agent\r{TITLE}tail")],
        },
    ));
    let mut terminal = Terminal::new(TestBackend::new(100, 20)).unwrap();
    terminal
        .draw(|frame| view::render(&model, Theme { color: false }, frame))
        .unwrap();
    let screen = terminal.backend().to_string();
    assert_inert("the popup", &screen);
    for shown in [
        "/src/app\\e]0;pwned\\a",
        "t\\e[2J\\e[H",
        "log \\e[2J\\e[Hline",
        "agent\\r\\e]0;pwned\\atail",
    ] {
        assert!(screen.contains(shown), "{shown} not on screen:\n{screen}");
    }
}

#[test]
fn a_closed_pipe_ends_output_silently_with_exit_0() {
    let repo = TestRepo::new();
    for n in 0..30 {
        repo.wtmux(&["add", &format!("feat/n{n}"), "--no-window"])
            .ok();
    }
    for args in [&["list", "--json"][..], &["list"], &["conflicts", "--json"]] {
        let mut child = std::process::Command::new(WTMUX);
        common::sandbox(&mut child, &repo.home);
        let mut child = child
            .args(args)
            .current_dir(&repo.root)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // The reader goes away at once, as `| head -0` would.
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            (
                out.status.code(),
                String::from_utf8_lossy(&out.stderr).as_ref()
            ),
            (Some(0), ""),
            "wtmux {args:?} into a closed pipe"
        );
    }
}

/// `format_literal` and `message_literal` against tmux itself as the oracle: random strings over
/// the characters that matter to tmux's format parser (and strftime), made literal, must come
/// back from `display-message -p` and as a window's name exactly as they were, through wtmux's
/// own tmux client (which keeps an argument ending in `;` whole). Fixed seed; set
/// WTMUX_TEST_SEED to try others.
#[test]
fn format_literal_round_trips_through_tmux_for_random_text() {
    let seed: u64 = std::env::var("WTMUX_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x7e57_f0a7);
    let repo = TestRepo::new();
    let socket = repo.dir.path().join("oracle.sock");
    let _server = TmuxServer::start(&socket, &repo.home, &repo.home);
    let tmux = wtmux::core::tmux::Tmux::with_socket(&socket);
    let run = |args: &[&str]| {
        let out = tmux.run(args).unwrap();
        out.strip_suffix('\n').unwrap_or(&out).to_string()
    };
    let alphabet: Vec<char> = "##########{}()[],;;;:?=!<>|&%$'\"\\ aWHSPDTFI0-_/"
        .chars()
        .collect();
    let mut state = seed | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for round in 0..300 {
        let len = 1 + (next() % 24) as usize;
        let text: String = (0..len)
            .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
            .collect();
        // display-message: formats and strftime.
        let literal = wtmux::core::tmux::message_literal(&text);
        let shown = run(&["display-message", "-p", "--", &literal]);
        assert_eq!(
            shown, text,
            "seed {seed:#x} round {round}: {text:?} made literal as {literal:?}"
        );
        // new-window -n: formats only.
        let literal = wtmux::core::tmux::format_literal(&text);
        let window = run(&[
            "new-window",
            "-d",
            "-P",
            "-F",
            "#{window_id}",
            "-n",
            &literal,
        ]);
        let name = run(&["display-message", "-p", "-t", &window, "#{window_name}"]);
        run(&["kill-window", "-t", &window]);
        assert_eq!(
            name, text,
            "seed {seed:#x} round {round}: window name {text:?} made literal as {literal:?}"
        );
    }
    assert!(
        !std::fs::read_dir(&repo.home)
            .unwrap()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with("pwned")),
    );
}

#[test]
fn the_bell_rings_in_the_proven_agent_pane() {
    let mut repo = TestRepo::new();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fake-agent.sh");
    repo.user_config(&format!(
        "agent_quiet = \"1s\"\nbell = true\n[agents.fake]\nrun = \"sh {script}\"\n"
    ));
    let tmux = repo.start_tmux();
    repo.wtmux(&["add", "feat", "--agent", "fake"]).ok();
    let window = repo.row("feat")["window"].as_str().unwrap().to_string();
    wait_until(30, "the bell in the agent's window", || {
        tmux.run(&[
            "display-message",
            "-p",
            "-t",
            &window,
            "#{window_bell_flag}",
        ]) == "1"
    });
}
