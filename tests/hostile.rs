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

fn pane_path(tmux: &TmuxServer, window: &str) -> String {
    tmux.run(&[
        "display-message",
        "-p",
        "-t",
        window,
        "#{pane_current_path}",
    ])
}

fn wait_for_pane_in(tmux: &TmuxServer, window: &str, dir: &Path) {
    let want = dir.to_string_lossy().into_owned();
    wait_until(10, "the window's shell to start in its directory", || {
        pane_path(tmux, window) == want
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
fn a_branch_made_with_plain_git_names_windows_and_messages_literally() {
    let mut repo = TestRepo::new();
    // Valid for git: no space, no `@{`, no `..`.
    let branch = "h#(cd;touch${IFS}pwned-branch)#{pane_id}$(cd;touch${IFS}pwned-branch-sh)";
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
fn the_plugin_opens_the_popup_from_a_hostile_repository_path_with_a_hostile_binary_path() {
    let mut repo = TestRepo::new_at(&hostile("popup"));
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
fn send_types_only_into_the_pane_proven_to_be_the_agents() {
    let mut repo = TestRepo::new();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fake-agent.sh");
    repo.user_config(&format!(
        "agent_quiet = \"1s\"\n[agents.fake]\nrun = \"sh {script}\"\n"
    ));
    let socket = repo.dir.path().join("tmux.sock");
    let tmux = repo.start_tmux();
    repo.wtmux(&["add", "feat", "--agent", "fake"]).ok();
    let window = repo.row("feat")["window"].as_str().unwrap().to_string();
    let pane = tmux.run(&["display-message", "-p", "-t", &window, "#{pane_id}"]);

    // tmux restarts: the same pane id now names somebody else's shell.
    drop(tmux);
    wait_until(10, "the old server to be gone", || {
        !std::process::Command::new("tmux")
            .arg("-S")
            .arg(&socket)
            .arg("list-sessions")
            .output()
            .unwrap()
            .status
            .success()
    });
    let tmux = TmuxServer::start(&socket, &repo.home, &repo.home);
    wait_until(10, "a pane with the agent's old id", || {
        if tmux.try_run(&["display-message", "-p", "-t", &pane, "#{pane_id}"]) == Some(pane.clone())
        {
            return true;
        }
        tmux.run(&["new-window", "-d"]);
        false
    });
    repo.tmux.as_mut().unwrap().pane = tmux.first_pane();
    let err = repo.wtmux(&["send", "feat", "touch pwned-send"]).refused();
    assert!(err.contains("no longer"), "{err}");
    assert!(!tmux.capture(&pane).contains("pwned-send"));
    assert!(!repo.home.join("pwned-send").exists());
}
