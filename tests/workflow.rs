//! The five steps of the workflow through the CLI, against real git repositories and real tmux
//! servers on isolated sockets.

mod common;

use common::{TestRepo, wait_until, write_file};

const PASSING_CHECK: &str = "[[check]]\nname = \"lint\"\nrun = \"test -f src/lib.txt\"\n";

// ---------------------------------------------------------------------------------------------
// Step 1: create an isolated workspace

#[test]
fn create_isolated_workspace_outside_tmux() {
    let repo = TestRepo::new();
    let out = repo.wtmux(&["add", "feat/login"]).ok();
    let path = repo.worktree("feat-login");
    assert!(out.contains(&path.display().to_string()), "{out}");
    assert!(out.contains("no window made: not inside tmux"), "{out}");
    assert!(path.join("src/lib.txt").is_file());
    assert_eq!(
        repo.git_in(&path, &["branch", "--show-current"]),
        "feat/login"
    );
    // The worktree dir is excluded, so the main worktree stays clean.
    assert_eq!(repo.git(&["status", "--porcelain"]), "");
    let exclude = std::fs::read_to_string(repo.path(".git/info/exclude")).unwrap();
    assert_eq!(exclude.matches("/.worktrees/").count(), 1);
    repo.wtmux(&["add", "second"]).ok();
    let exclude = std::fs::read_to_string(repo.path(".git/info/exclude")).unwrap();
    assert_eq!(exclude.matches("/.worktrees/").count(), 1, "added once");
}

#[test]
fn create_isolated_workspace_with_tagged_window() {
    let mut repo = TestRepo::with_config("agent = \"echo agent-started-$WTMUX_BRANCH\"\n");
    let tmux = repo.start_tmux();
    let out = repo.wtmux(&["add", "feat/ui"]).ok();
    let path = repo.worktree("feat-ui");
    let window = tmux
        .windows()
        .into_iter()
        .find(|(_, _, tag)| tag == &path.display().to_string())
        .expect("a window tagged with the worktree");
    assert_eq!(window.1, "feat-ui");
    assert!(out.contains(&window.0), "{out}");
    let cwd = tmux.run(&[
        "display-message",
        "-p",
        "-t",
        &window.0,
        "#{pane_current_path}",
    ]);
    assert_eq!(cwd, path.display().to_string());
    wait_until(10, "the agent to run in the window", || {
        tmux.capture(&window.0).contains("agent-started-feat/ui")
    });
    // The window is found by its tag even after a rename.
    tmux.run(&["rename-window", "-t", &window.0, "renamed"]);
    assert_eq!(repo.row("feat/ui")["window"], window.0.as_str());
}

#[test]
fn add_checks_out_an_existing_branch() {
    let repo = TestRepo::new();
    repo.git(&["branch", "existing"]);
    let out = repo.wtmux(&["add", "existing", "--no-window"]).ok();
    assert!(
        out.contains("checked out existing branch existing"),
        "{out}"
    );
    assert!(repo.worktree("existing").join("README.md").is_file());
}

#[test]
fn add_branches_from_the_given_base() {
    let repo = TestRepo::new();
    let first = repo.git(&["rev-parse", "HEAD"]);
    repo.write("later.txt", "x");
    repo.commit_all("later");
    repo.wtmux(&["add", "old", "--base", &first]).ok();
    assert_eq!(
        repo.git_in(&repo.worktree("old"), &["rev-parse", "HEAD"]),
        first
    );
    let err = repo.wtmux(&["add", "x", "--base", "no-such-ref"]).refused();
    assert!(
        err.contains("\"no-such-ref\" does not name a commit"),
        "{err}"
    );
}

#[test]
fn hostile_branch_names_are_refused_and_change_nothing() {
    let repo = TestRepo::new();
    let before = repo.snapshot();
    for name in [
        "../x",
        "a/../../b",
        "-rf",
        "x;rm -rf ~",
        "with space",
        "new\nline",
        "",
        "x$(id)",
    ] {
        let err = repo.wtmux(&["add", "--", name]).refused();
        assert!(
            err.starts_with("wtmux: invalid branch name"),
            "{name:?}: {err}"
        );
    }
    assert_eq!(repo.snapshot(), before);
    assert!(!repo.path(".worktrees").exists());
}

#[test]
fn add_refuses_a_branch_checked_out_elsewhere_and_an_occupied_directory() {
    let repo = TestRepo::new();
    let err = repo.wtmux(&["add", "main"]).refused();
    assert!(err.contains("already checked out in"), "{err}");
    repo.wtmux(&["add", "feat"]).ok();
    let err = repo.wtmux(&["add", "feat"]).refused();
    assert!(err.contains("already checked out in"), "{err}");
    write_file(&repo.worktree("junk").join("file"), "not a worktree");
    let before = repo.snapshot();
    let err = repo.wtmux(&["add", "junk"]).refused();
    assert!(err.contains("exists and is not a worktree"), "{err}");
    assert_eq!(repo.snapshot(), before);
}

#[test]
fn add_copies_links_and_runs_post_create() {
    let repo = TestRepo::with_config(
        "copy = [\".env\"]\nsymlink = [\"cache\"]\npost_create = [\"echo $WTMUX_BRANCH > created-by-hook\"]\n",
    );
    repo.write(".env", "SECRET=1\n");
    write_file(&repo.path("cache/data"), "big");
    std::fs::write(repo.path(".git/info/exclude"), ".env\ncache/\n").unwrap();
    repo.wtmux(&["add", "feat"]).ok();
    let path = repo.worktree("feat");
    assert_eq!(
        std::fs::read_to_string(path.join(".env")).unwrap(),
        "SECRET=1\n"
    );
    assert!(path.join("cache").is_symlink());
    assert_eq!(
        std::fs::read_to_string(path.join("created-by-hook")).unwrap(),
        "feat\n"
    );
}

#[test]
fn failing_post_create_rolls_back_the_creation() {
    let repo = TestRepo::with_config("post_create = [\"echo broken setup >&2; exit 3\"]\n");
    let before = repo.snapshot();
    let err = repo.wtmux(&["add", "feat"]).refused();
    assert!(err.contains("exit 3"), "{err}");
    assert!(err.contains("broken setup"), "{err}");
    assert_eq!(repo.snapshot(), before);
    assert!(!repo.worktree("feat").exists());
}

// ---------------------------------------------------------------------------------------------
// Step 2: work, and see every worktree

#[test]
fn list_json_reports_every_worktree() {
    let repo = TestRepo::new();
    repo.wtmux(&["add", "feat"]).ok();
    let path = repo.worktree("feat");
    write_file(&path.join("new.txt"), "x");
    repo.git_in(&path, &["add", "new.txt"]);
    repo.git_in(&path, &["commit", "-q", "-m", "feature work"]);
    write_file(&path.join("untracked.txt"), "y");
    write_file(&path.join("src/lib.txt"), "changed\n");
    repo.write("README.md", "base moved\n");
    repo.commit_all("base moves on");

    let list = repo.list();
    assert_eq!(list["base"], "main");
    let rows = list["worktrees"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["is_main"], true);
    assert_eq!(rows[0]["branch"], "main");
    let feat = &rows[1];
    assert_eq!(feat["branch"], "feat");
    assert_eq!(feat["path"], path.display().to_string());
    assert_eq!(feat["is_main"], false);
    assert_eq!(feat["changed"], 2);
    assert_eq!(feat["ahead"], 1);
    assert_eq!(feat["behind"], 1);
    assert_eq!(feat["subject"], "feature work");
    assert_eq!(feat["head"].as_str().unwrap().len(), 7);
    assert_eq!(feat["window"], serde_json::Value::Null);
    assert_eq!(feat["check"]["state"], "none");
    for key in ["name", "exit_code", "log"] {
        assert!(
            feat["check"].get(key).is_some(),
            "check.{key} is part of the schema"
        );
    }
    let table = repo.wtmux(&["list"]).ok();
    assert!(
        table.contains("* main") && table.contains("feat"),
        "{table}"
    );
}

#[test]
fn a_worktree_whose_directory_vanished_is_listed_and_removable() {
    let repo = TestRepo::new();
    repo.wtmux(&["add", "gone"]).ok();
    std::fs::remove_dir_all(repo.worktree("gone")).unwrap();
    assert_eq!(repo.row("gone")["prunable"], true);
    repo.wtmux(&["remove", "gone"]).ok();
    assert!(!repo.branches().contains(&"gone".to_string()));
}

#[test]
fn open_focuses_and_recreates_the_window() {
    let mut repo = TestRepo::new();
    let tmux = repo.start_tmux();
    repo.wtmux(&["add", "feat"]).ok();
    let id = repo.row("feat")["window"].as_str().unwrap().to_string();
    repo.wtmux(&["open", "feat"]).ok();
    assert_eq!(
        tmux.run(&["display-message", "-p", "-t", "test", "#{window_id}"]),
        id
    );
    tmux.run(&["kill-window", "-t", &id]);
    let out = repo.wtmux(&["open", "feat"]).ok();
    assert!(out.contains("(created)"), "{out}");
    let new_id = repo.row("feat")["window"].as_str().unwrap().to_string();
    assert_ne!(new_id, id);
    assert_eq!(
        tmux.run(&["display-message", "-p", "-t", "test", "#{window_id}"]),
        new_id
    );
}

#[test]
fn commands_outside_a_repository_or_tmux_say_so() {
    let repo = TestRepo::new();
    let outside = repo.dir.path().join("elsewhere");
    std::fs::create_dir_all(&outside).unwrap();
    let err = repo.wtmux_in(&outside, &["list"]).refused();
    assert!(err.contains("not inside a git repository"), "{err}");
    for popup in [&["ui"][..], &[][..]] {
        let err = repo.wtmux_in(&outside, popup).refused();
        assert!(err.contains("not inside a git repository"), "{err}");
    }
    repo.wtmux(&["add", "feat"]).ok();
    let err = repo.wtmux(&["open", "feat"]).refused();
    assert!(err.contains("needs tmux"), "{err}");
    assert_eq!(repo.wtmux(&["no-such-command"]).code(), 2);
    // The dashboard without a terminal (output into a pipe, no controlling terminal): one line.
    for popup in [&["ui"][..], &[][..]] {
        let err = repo.wtmux(popup).refused();
        assert_eq!(
            err,
            "wtmux: the dashboard needs a terminal: run `wtmux ui` in tmux or a terminal"
        );
    }
}

#[test]
fn an_unknown_option_is_one_line_naming_it_as_typed_and_what_exists() {
    let repo = TestRepo::new();
    let before = repo.snapshot();
    for (args, says) in [
        (
            &["add", "-rf", "x"][..],
            "add has no option '-rf' (its options: --base, --no-window, --no-agent,",
        ),
        (
            &["add", "x", "--no-windw"][..],
            "add has no option '--no-windw': did you mean --no-window?",
        ),
        (&["remove", "-rf", "x"][..], "remove has no option '-rf'"),
        (
            &["init", "-q"][..],
            "init has no option '-q' (it takes no options)",
        ),
        (
            &["send", "x", "-y"][..],
            "text starting with - goes after --: wtmux send <branch> -- <text>",
        ),
        (
            &["add", "x", "--prompt", "-rf"][..],
            "add has no option '-rf' (its options: --base, --no-window, --no-agent, --agent, \
             --prompt, --prompt-file, --scope); a value starting with - is written --prompt=-rf",
        ),
    ] {
        let run = repo.wtmux(args);
        assert_eq!(run.code(), 2, "{args:?}: {}", run.stderr());
        let err = run.stderr();
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err:?}");
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(
            !err.contains("as a value"),
            "{args:?}: no tip to pass it as a branch: {err}"
        );
    }
    assert_eq!(repo.snapshot(), before);
}

#[test]
fn a_bare_repository_is_refused_clearly() {
    let repo = TestRepo::new();
    let bare = repo.dir.path().join("bare.git");
    repo.git(&["clone", "-q", "--bare", ".", bare.to_str().unwrap()]);
    let err = repo.wtmux_in(&bare, &["list"]).refused();
    assert!(err.contains("bare repository"), "{err}");
}

#[test]
fn an_invalid_config_names_file_line_and_key() {
    let repo = TestRepo::new();
    repo.write(
        ".wtmux.toml",
        "agent = \"x\"\nmerge_strategy = \"octopus\"\n",
    );
    let err = repo.wtmux(&["list"]).refused();
    assert!(err.contains(".wtmux.toml:2: key `merge_strategy`"), "{err}");
    repo.write(".wtmux.toml", "agent = \n");
    let err = repo.wtmux(&["list"]).refused();
    assert!(err.contains(".wtmux.toml:1"), "{err}");
    let user = repo.home.join(".config/wtmux/config.toml");
    write_file(&user, "copy = 3\n");
    std::fs::remove_file(repo.path(".wtmux.toml")).unwrap();
    let err = repo.wtmux(&["list"]).refused();
    assert!(err.contains("config.toml:1: key `copy`"), "{err}");
}

#[test]
fn init_writes_a_commented_config_once() {
    let repo = TestRepo::new();
    repo.wtmux(&["init"]).ok();
    let text = std::fs::read_to_string(repo.path(".wtmux.toml")).unwrap();
    assert!(text.contains("[[check]]"));
    repo.wtmux(&["list"]).ok();
    let err = repo.wtmux(&["init"]).refused();
    assert!(err.contains("already exists"), "{err}");
    let completions = repo.wtmux(&["completions", "bash"]).ok();
    assert!(completions.contains("wtmux"));
}

// ---------------------------------------------------------------------------------------------
// Step 3: verify

#[test]
fn verify_loop_results_follow_the_exact_content() {
    let repo = TestRepo::with_config(PASSING_CHECK);
    repo.wtmux(&["add", "feat"]).ok();
    let path = repo.worktree("feat");
    assert_eq!(repo.check_state("feat"), "none");
    let out = repo.wtmux_in(&path, &["check", "--wait"]).ok();
    assert!(out.contains("checks passed"), "{out}");
    assert_eq!(repo.check_state("feat"), "passed");

    write_file(&path.join("notes.txt"), "new content");
    assert_eq!(
        repo.check_state("feat"),
        "stale",
        "a new file makes it stale"
    );
    repo.wtmux_in(&path, &["check", "--wait"]).ok();
    assert_eq!(repo.check_state("feat"), "passed");
    repo.git_in(&path, &["add", "notes.txt"]);
    repo.git_in(&path, &["commit", "-q", "-m", "notes"]);
    assert_eq!(
        repo.check_state("feat"),
        "passed",
        "committing the checked content keeps the result"
    );
    write_file(&path.join("notes.txt"), "edited");
    assert_eq!(repo.check_state("feat"), "stale");
    write_file(&path.join("notes.txt"), "new content");
    assert_eq!(repo.check_state("feat"), "passed", "the same content again");
}

#[test]
fn a_failing_or_missing_check_command_fails_with_its_log() {
    let repo = TestRepo::with_config(
        "[[check]]\nname = \"first\"\nrun = \"echo fine\"\n[[check]]\nname = \"missing\"\nrun = \"no-such-tool --flag\"\n[[check]]\nname = \"never\"\nrun = \"touch never-ran\"\n",
    );
    repo.wtmux(&["add", "feat"]).ok();
    let path = repo.worktree("feat");
    let run = repo.wtmux_in(&path, &["check", "--wait"]);
    assert_eq!(run.code(), 1);
    assert!(
        run.stdout().contains("── first ──\nfine"),
        "{}",
        run.stdout()
    );
    assert!(
        run.stdout().contains("check missing failed with exit 127"),
        "{}",
        run.stdout()
    );
    assert!(
        !path.join("never-ran").exists(),
        "checks stop at the first failure"
    );
    let check = &repo.row("feat")["check"];
    assert_eq!(check["state"], "failed");
    assert_eq!(check["name"], "missing");
    assert_eq!(check["exit_code"], 127);
    let log = std::fs::read_to_string(check["log"].as_str().unwrap()).unwrap();
    assert!(log.contains("not found"), "{log}");
}

#[test]
fn a_check_that_overruns_its_timeout_is_stopped() {
    let repo =
        TestRepo::with_config("[[check]]\nname = \"slow\"\nrun = \"sleep 30\"\ntimeout = \"1s\"\n");
    let run = repo.wtmux(&["check", "--wait"]);
    assert_eq!(run.code(), 1);
    assert!(run.stdout().contains("exit 124"), "{}", run.stdout());
    assert!(
        run.stdout().contains("timed out after 1s"),
        "{}",
        run.stdout()
    );
}

#[test]
fn checks_run_detached_under_tmux_and_outlive_the_command() {
    let mut repo =
        TestRepo::with_config("[[check]]\nname = \"slow\"\nrun = \"sleep 1; echo done\"\n");
    let tmux = repo.start_tmux();
    repo.wtmux(&["add", "feat", "--no-agent"]).ok();
    let out = repo.wtmux(&["check", "feat"]).ok();
    assert!(out.contains("checks started in feat"), "{out}");
    assert!(!out.contains("background process"), "ran under tmux: {out}");
    assert_eq!(repo.check_state("feat"), "running");
    wait_until(10, "the running check to be named", || {
        repo.row("feat")["check"]["name"] == "slow"
    });
    wait_until(20, "the check to pass", || {
        repo.check_state("feat") == "passed"
    });
    // run-shell jobs print nothing into the user's pane.
    assert!(!tmux.capture("test").contains("done"));
}

#[test]
fn two_concurrent_checks_on_one_worktree_start_it_once() {
    let repo = TestRepo::with_config(
        "[[check]]\nname = \"count\"\nrun = \"echo run >> \\\"$WTMUX_MAIN_WORKTREE/../runs.txt\\\"; sleep 1\"\n",
    );
    let children: Vec<_> = (0..4)
        .map(|_| repo.spawn_wtmux(&repo.root, &["check"]))
        .collect();
    let outputs: Vec<String> = children
        .into_iter()
        .map(|c| {
            let out = c.wait_with_output().unwrap();
            assert!(out.status.success());
            String::from_utf8_lossy(&out.stdout).into_owned()
        })
        .collect();
    let started = outputs
        .iter()
        .filter(|o| o.contains("checks started"))
        .count();
    let already = outputs
        .iter()
        .filter(|o| o.contains("already running"))
        .count();
    assert_eq!((started, already), (1, 3), "{outputs:?}");
    repo.wtmux(&["check", "--wait"]).ok();
    wait_until(20, "the run to finish", || {
        repo.check_state("main") == "passed"
    });
    let runs = std::fs::read_to_string(repo.dir.path().join("runs.txt")).unwrap();
    assert_eq!(runs.lines().count(), 1, "the check ran once");
}

#[test]
fn check_all_verifies_every_worktree() {
    let repo = TestRepo::with_config(
        "check_jobs = 1\n[[check]]\nname = \"has-marker\"\nrun = \"test ! -f bad\"\n",
    );
    repo.wtmux(&["add", "good"]).ok();
    repo.wtmux(&["add", "bad"]).ok();
    write_file(&repo.worktree("bad").join("bad"), "x");
    let run = repo.wtmux(&["check", "--all", "--wait"]);
    assert_eq!(run.code(), 1, "{}", run.stdout());
    assert_eq!(repo.check_state("main"), "passed");
    assert_eq!(repo.check_state("good"), "passed");
    assert_eq!(repo.check_state("bad"), "failed");
}

#[test]
fn check_without_configured_checks_says_how_to_add_them() {
    let repo = TestRepo::new();
    let err = repo.wtmux(&["check"]).refused();
    assert!(err.contains("no checks are configured"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Step 4: merge

fn feature_with_commit(
    repo: &TestRepo,
    branch: &str,
    file: &str,
    text: &str,
) -> std::path::PathBuf {
    repo.wtmux(&["add", branch, "--no-window"]).ok();
    let path = repo.worktree(&branch.replace('/', "-"));
    write_file(&path.join(file), text);
    repo.git_in(&path, &["add", "-A"]);
    repo.git_in(&path, &["commit", "-q", "-m", &format!("{branch}: {file}")]);
    path
}

#[test]
fn merge_gate_needs_checks_passed_on_the_exact_content() {
    let repo = TestRepo::with_config(PASSING_CHECK);
    let path = feature_with_commit(&repo, "feat", "feature.txt", "x\n");
    let before = repo.snapshot();
    let err = repo.wtmux_in(&path, &["merge"]).refused();
    assert!(err.contains("checks have not run on this content"), "{err}");
    assert_eq!(repo.snapshot(), before);

    repo.wtmux_in(&path, &["check", "--wait"]).ok();
    write_file(&path.join("feature.txt"), "changed after the check\n");
    repo.git_in(&path, &["commit", "-qam", "sneaky change"]);
    let err = repo.wtmux_in(&path, &["merge"]).refused();
    assert!(err.contains("ran on other content"), "{err}");

    repo.wtmux_in(&path, &["check", "--wait"]).ok();
    let out = repo.wtmux_in(&path, &["merge"]).ok();
    assert!(out.contains("merged feat into main"), "{out}");
    assert_eq!(
        std::fs::read_to_string(repo.path("feature.txt")).unwrap(),
        "changed after the check\n"
    );
    assert!(!path.exists(), "cleaned up");
    assert!(!repo.branches().contains(&"feat".to_string()));
}

#[test]
fn merge_force_passes_failing_checks_loudly() {
    let repo = TestRepo::with_config("[[check]]\nname = \"red\"\nrun = \"false\"\n");
    let path = feature_with_commit(&repo, "feat", "f.txt", "x");
    assert_eq!(repo.wtmux_in(&path, &["check", "--wait"]).code(), 1);
    let err = repo.wtmux(&["merge", "feat"]).refused();
    assert!(err.contains("check \"red\" failed"), "{err}");
    let run = repo.wtmux(&["merge", "feat", "--force", "--keep"]);
    run.ok();
    assert!(
        run.stderr().contains("WITHOUT passing checks"),
        "{}",
        run.stderr()
    );
    assert!(repo.path("f.txt").exists());
    assert!(path.exists(), "--keep keeps the worktree");
}

#[test]
fn merge_refuses_dirty_worktrees_and_commit_flag_commits_first() {
    let repo = TestRepo::new();
    let path = feature_with_commit(&repo, "feat", "f.txt", "x");
    write_file(&path.join("wip.txt"), "work in progress");
    let before = repo.snapshot();
    let err = repo.wtmux(&["merge", "feat"]).refused();
    assert!(err.contains("uncommitted file (wip.txt)"), "{err}");
    assert_eq!(repo.snapshot(), before);

    repo.write("README.md", "dirty base\n");
    let err = repo
        .wtmux(&["merge", "feat", "--commit", "finish"])
        .refused();
    assert!(
        err.contains("the base worktree has 1 uncommitted file (README.md)"),
        "{err}"
    );
    repo.git(&["checkout", "README.md"]);

    let out = repo.wtmux(&["merge", "feat", "--commit", "finish"]).ok();
    assert!(out.contains("committed"), "{out}");
    assert_eq!(
        std::fs::read_to_string(repo.path("wip.txt")).unwrap(),
        "work in progress"
    );
    assert!(repo.git(&["log", "--format=%s"]).contains("finish"));
}

#[test]
fn merge_with_uncommitted_checked_content_needs_the_check_on_that_content() {
    let repo = TestRepo::with_config(PASSING_CHECK);
    let path = feature_with_commit(&repo, "feat", "f.txt", "x");
    write_file(&path.join("wip.txt"), "more");
    repo.wtmux_in(&path, &["check", "--wait"]).ok();
    // The check ran on tip + wip.txt: exactly what --commit will merge.
    repo.wtmux(&["merge", "feat", "--commit", "wip"]).ok();
    assert!(repo.path("wip.txt").exists());
}

#[test]
fn a_conflicting_merge_is_refused_and_base_stays_exactly_as_it_was() {
    let repo = TestRepo::new();
    feature_with_commit(&repo, "feat", "src/lib.txt", "feature version\n");
    repo.write("src/lib.txt", "base version\n");
    repo.commit_all("base edits the same line");
    repo.write("untracked-in-main.txt", "keep me");
    let before = repo.snapshot();
    let err = repo.wtmux(&["merge", "feat"]).refused();
    assert!(
        err.contains("would conflict in 1 file: src/lib.txt"),
        "{err}"
    );
    assert_eq!(repo.snapshot(), before);
    assert!(!repo.path(".git/MERGE_HEAD").exists());
}

#[test]
fn merge_strategies_squash_and_rebase() {
    let repo = TestRepo::new();
    let path = feature_with_commit(&repo, "squashed", "a.txt", "a");
    write_file(&path.join("b.txt"), "b");
    repo.git_in(&path, &["add", "-A"]);
    repo.git_in(&path, &["commit", "-q", "-m", "second"]);
    let head_before = repo.git(&["rev-parse", "HEAD"]);
    repo.wtmux(&["merge", "squashed", "--strategy", "squash"])
        .ok();
    assert_eq!(
        repo.git(&["rev-parse", "HEAD^"]),
        head_before,
        "one squashed commit"
    );
    // The message is built from the branch's subjects, oldest first.
    assert_eq!(
        repo.git(&["log", "-1", "--format=%s"]),
        "squashed: a.txt (+1 more from squashed)"
    );
    let body = repo.git(&["log", "-1", "--format=%b"]);
    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(lines[0], "Squash-merge branch 'squashed':", "{body}");
    assert!(
        lines[2].ends_with(" squashed: a.txt") && lines[3].ends_with(" second"),
        "{body}"
    );
    assert!(repo.path("a.txt").exists() && repo.path("b.txt").exists());
    assert!(!repo.branches().contains(&"squashed".to_string()));
    // The squashed branch is in the trash all the same.
    assert!(repo.wtmux(&["trash"]).ok().contains("squashed"));

    feature_with_commit(&repo, "rebased", "c.txt", "c");
    repo.write("d.txt", "base moved");
    repo.commit_all("base moves");
    repo.wtmux(&["merge", "rebased", "--strategy", "rebase"])
        .ok();
    let merges = repo.git(&["rev-list", "--merges", "HEAD"]);
    assert_eq!(merges, "", "history stays linear");
    assert!(repo.path("c.txt").exists());
}

#[test]
fn post_merge_runs_in_the_main_worktree() {
    let repo = TestRepo::with_config("post_merge = \"pwd > deployed-from; echo deploying\"\n");
    feature_with_commit(&repo, "feat", "f.txt", "x");
    let out = repo.wtmux(&["merge", "feat"]).ok();
    assert!(out.contains("deploying"), "{out}");
    assert!(
        out.contains("post_merge `pwd > deployed-from; echo deploying` succeeded"),
        "{out}"
    );
    assert_eq!(
        std::fs::read_to_string(repo.path("deployed-from"))
            .unwrap()
            .trim(),
        repo.root.display().to_string()
    );
}

/// post_merge is told which merge it deploys, in environment values only: a branch made with
/// plain git whose name is shell and tmux syntax reaches it byte for byte and runs nothing, and
/// the values of the process that ran `wtmux merge` (an agent's pane has its own) do not leak in.
#[test]
fn post_merge_gets_its_merge_in_its_environment() {
    let repo = TestRepo::with_config(concat!(
        r#"post_merge = 'printf "%s\n" "$WTMUX_BRANCH" "$WTMUX_BASE" "$WTMUX_MERGE_COMMIT" "#,
        r#""$WTMUX_PREVIOUS_COMMIT" "$WTMUX_STRATEGY" "$WTMUX_WORKTREE" "$WTMUX_KEPT" "#,
        r#""$WTMUX_MAIN_WORKTREE" >"$HOME/deploy-env"'"#,
        "\n"
    ));
    let branch = "x$(touch${IFS}pwned)#{pane_id}`id`";
    repo.git(&["branch", branch]);
    let path = repo.path(".worktrees/hostile");
    repo.git(&["worktree", "add", "-q", path.to_str().unwrap(), branch]);
    write_file(&path.join("h.txt"), "h");
    repo.git_in(&path, &["add", "-A"]);
    repo.git_in(&path, &["commit", "-q", "-m", "hostile"]);
    let before = repo.git(&["rev-parse", "main"]);
    repo.wtmux_env(
        &["merge", branch, "--keep", "--strategy", "squash"],
        &[
            ("WTMUX_BRANCH", "not-this"),
            ("WTMUX_WORKTREE", "/not/this"),
        ],
    )
    .ok();
    let after = repo.git(&["rev-parse", "main"]);
    assert_ne!(before, after);
    let told = std::fs::read_to_string(repo.home.join("deploy-env")).unwrap();
    assert_eq!(
        told,
        format!(
            "{branch}\nmain\n{after}\n{before}\nsquash\n{}\n1\n{}\n",
            path.display(),
            repo.root.display()
        )
    );
    assert!(!repo.path("pwned").exists() && !repo.home.join("pwned").exists());

    // Without --keep, it says so.
    feature_with_commit(&repo, "plain", "p.txt", "p");
    repo.wtmux(&["merge", "plain"]).ok();
    let told = std::fs::read_to_string(repo.home.join("deploy-env")).unwrap();
    assert!(
        told.starts_with("plain\nmain\n") && told.lines().nth(6) == Some("0"),
        "{told}"
    );
}

/// post_merge runs in one `post-merge` window, reused: it closes after a success, stays after a
/// failure until Enter is pressed, and a merge while it runs (or waits) queues its post_merge
/// there — every deploy once, in order.
#[test]
fn post_merge_runs_in_one_reusable_window_that_stays_only_after_a_failure() {
    let mut repo = TestRepo::with_config(concat!(
        r#"post_merge = 'while [ -e "$HOME/hold" ]; do sleep 0.05; done; "#,
        r#"s=$(git log -1 --format=%s); echo "deployed $s" >>"$HOME/deploys"; "#,
        r#"echo "$WTMUX_BRANCH $WTMUX_MERGE_COMMIT" >>"$HOME/merges"; "#,
        r#"echo "deployed $s"; test ! -e "$HOME/fail"'"#,
        "\n"
    ));
    let tmux = repo.start_tmux();
    let post_merge_windows = || -> Vec<String> {
        tmux.windows()
            .into_iter()
            .filter(|(_, name, _)| name == "post-merge")
            .map(|(id, _, _)| id)
            .collect()
    };
    let deploys = || {
        std::fs::read_to_string(repo.home.join("deploys"))
            .unwrap_or_default()
            .lines()
            .map(|l| {
                let subject = l.trim_start_matches("deployed ");
                subject.split(':').next().unwrap_or(subject).to_string()
            })
            .collect::<Vec<_>>()
    };
    for branch in ["a", "b", "c", "d"] {
        feature_with_commit(&repo, branch, &format!("{branch}.txt"), branch);
    }

    let mut merges = Vec::new();
    let mut merged = |branch: &str| {
        merges.push(format!("{branch} {}", repo.git(&["rev-parse", "main"])));
    };
    let out = repo.wtmux(&["merge", "a"]).ok();
    merged("a");
    assert!(out.contains("running in window"), "{out}");
    wait_until(10, "a's deploy, then its window to close", || {
        deploys() == ["a"] && post_merge_windows().is_empty()
    });

    write_file(&repo.home.join("fail"), "");
    repo.wtmux(&["merge", "b"]).ok();
    merged("b");
    wait_until(10, "b's failure to stay on screen", || {
        post_merge_windows().len() == 1
            && tmux
                .capture(&post_merge_windows()[0])
                .contains("[post_merge exited 1; press Enter to close]")
    });
    let window = post_merge_windows()[0].clone();

    // Two more merges while it waits (and the first of them holds the window): queued there.
    std::fs::remove_file(repo.home.join("fail")).unwrap();
    write_file(&repo.home.join("hold"), "");
    repo.wtmux(&["merge", "c"]).ok();
    merged("c");
    let out = repo.wtmux(&["merge", "d"]).ok();
    merged("d");
    assert!(
        out.contains(&format!("running in window {window}")),
        "{out}"
    );
    assert_eq!(
        post_merge_windows(),
        std::slice::from_ref(&window),
        "one window"
    );
    std::fs::remove_file(repo.home.join("hold")).unwrap();
    wait_until(
        20,
        "c's and d's deploys, in order, in the same window",
        || {
            // The note follows each job once one failed: the last line, once d's ran too.
            deploys().len() == 4
                && tmux.capture(&window).trim_end().ends_with(
                    "[post_merge exited 0; one before it exited 1: press Enter to close]",
                )
        },
    );
    // (c's deploy was held until after d merged: both see d's merge on base.)
    assert_eq!(
        deploys(),
        [
            "a",
            "Merge branch 'b'",
            "Merge branch 'd'",
            "Merge branch 'd'"
        ],
        "each once, in order"
    );
    // But each was told its own merge.
    assert_eq!(
        std::fs::read_to_string(repo.home.join("merges"))
            .unwrap()
            .lines()
            .collect::<Vec<_>>(),
        merges
    );
    assert_eq!(post_merge_windows(), std::slice::from_ref(&window));

    tmux.run(&["send-keys", "-t", &window, "Enter"]);
    wait_until(10, "the window to close once the failure was seen", || {
        post_merge_windows().is_empty()
    });
}

#[test]
fn merging_into_base_checked_out_in_another_worktree() {
    let repo = TestRepo::new();
    repo.git(&["branch", "dev"]);
    repo.write(".wtmux.toml", "base = \"dev\"\n");
    repo.commit_all("config on main");
    repo.git(&["branch", "-f", "dev", "HEAD"]);
    repo.wtmux(&["add", "dev", "--no-window"]).ok();
    let path = feature_with_commit(&repo, "feat", "f.txt", "x");
    assert_eq!(
        repo.git_in(&path, &["merge-base", "HEAD", "dev"]),
        repo.git(&["rev-parse", "dev"])
    );
    repo.wtmux(&["merge", "feat"]).ok();
    assert!(
        repo.worktree("dev").join("f.txt").exists(),
        "merged where dev is checked out"
    );
    assert!(!repo.path("f.txt").exists(), "main is untouched");
    assert!(repo.root.exists());
}

// ---------------------------------------------------------------------------------------------
// Step 5: clean up, and lose nothing

#[test]
fn remove_refuses_to_lose_work_and_force_saves_it_to_the_trash() {
    let repo = TestRepo::new();
    let path = feature_with_commit(&repo, "feat", "committed.txt", "c");
    write_file(&path.join("untracked.txt"), "u");
    write_file(&path.join("src/lib.txt"), "modified\n");
    let before = repo.snapshot();
    let err = repo.wtmux(&["remove", "feat"]).refused();
    assert!(
        err.contains("2 uncommitted files (src/lib.txt, untracked.txt)"),
        "{err}"
    );
    assert!(err.contains("1 commit not in main"), "{err}");
    assert_eq!(repo.snapshot(), before);
    assert!(path.exists());

    let out = repo.wtmux(&["remove", "feat", "--force"]).ok();
    assert!(out.contains("saved to the trash as"), "{out}");
    assert!(!path.exists());
    assert!(!repo.branches().contains(&"feat".to_string()));
    let trash = repo.wtmux(&["trash"]).ok();
    assert!(
        trash.contains("feat") && trash.contains("2 uncommitted, 1 commit not in main"),
        "{trash}"
    );

    let out = repo.wtmux(&["restore", "feat"]).ok();
    assert!(out.contains("(2 uncommitted files as they were)"), "{out}");
    assert_eq!(
        std::fs::read_to_string(path.join("untracked.txt")).unwrap(),
        "u"
    );
    assert_eq!(
        std::fs::read_to_string(path.join("src/lib.txt")).unwrap(),
        "modified\n"
    );
    assert_eq!(
        std::fs::read_to_string(path.join("committed.txt")).unwrap(),
        "c"
    );
    let status = repo.git_in(&path, &["status", "--porcelain"]);
    assert!(
        status.contains("M src/lib.txt") && status.contains("?? untracked.txt"),
        "{status}"
    );
    let trash = repo.wtmux(&["trash"]).ok();
    assert!(
        trash.contains(&format!("restored to {}", path.display())),
        "{trash}"
    );
    let again = repo.wtmux(&["restore", "feat"]).refused();
    assert!(
        again.contains(&format!("already restored to {}", path.display())),
        "{again}"
    );
}

#[test]
fn remove_never_touches_the_main_worktree_or_foreign_worktrees() {
    let repo = TestRepo::new();
    let err = repo.wtmux(&["remove", "main", "--force"]).refused();
    assert!(err.contains("main worktree"), "{err}");
    let foreign = repo.dir.path().join("foreign");
    repo.git(&[
        "worktree",
        "add",
        "-q",
        "-b",
        "foreign",
        foreign.to_str().unwrap(),
    ]);
    let err = repo.wtmux(&["remove", "foreign", "--force"]).refused();
    assert!(err.contains("only removes worktrees it manages"), "{err}");
    assert!(foreign.exists());
}

#[test]
fn remove_clean_merged_worktree_and_keep_branch() {
    let repo = TestRepo::new();
    repo.wtmux(&["add", "done"]).ok();
    repo.wtmux(&["remove", "done", "--keep-branch"]).ok();
    assert!(!repo.worktree("done").exists());
    assert!(repo.branches().contains(&"done".to_string()));
}

#[test]
fn removing_the_worktree_whose_window_runs_the_command() {
    let mut repo = TestRepo::new();
    let tmux = repo.start_tmux();
    repo.wtmux(&["add", "feat", "--no-agent"]).ok();
    let window = repo.row("feat")["window"].as_str().unwrap().to_string();
    // Typed into the worktree's own window, as a user would.
    let command = format!("{} remove feat; echo finished-remove", common::WTMUX);
    tmux.run(&["send-keys", "-t", &window, "-l", &command]);
    tmux.run(&["send-keys", "-t", &window, "Enter"]);
    wait_until(15, "the window to close", || {
        !tmux.windows().iter().any(|(id, _, _)| id == &window)
    });
    assert!(!repo.worktree("feat").exists());
    assert!(
        tmux.try_run(&["list-sessions"]).is_some(),
        "the tmux server survives"
    );
}

#[test]
fn trash_prune_drops_old_saves() {
    let repo = TestRepo::new();
    repo.wtmux(&["add", "old"]).ok();
    repo.wtmux(&["remove", "old"]).ok();
    let out = repo.wtmux(&["trash", "--prune"]).ok();
    assert!(out.contains("pruned 0"), "{out}");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let out = repo.wtmux(&["trash", "--prune", "--older-than", "0"]).ok();
    assert!(out.contains("pruned 1"), "{out}");
    assert!(repo.git(&["for-each-ref", "refs/wtmux/"]).is_empty());
}

// ---------------------------------------------------------------------------------------------
// First run

#[test]
fn demo_builds_a_repository_in_every_state() {
    let mut repo = TestRepo::new();
    let tmux = repo.start_tmux();
    let tmp = repo.dir.path().join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let mut command = std::process::Command::new(common::WTMUX);
    common::sandbox(&mut command, &repo.home);
    let out = command
        .current_dir(&tmp)
        .env("TMPDIR", &tmp)
        .env("TMUX", format!("{},1,0", tmux.socket.display()))
        .args(["demo", "--no-attach"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let demo = stdout
        .lines()
        .find_map(|l| l.strip_prefix("demo repository: "))
        .expect("the demo names its repository");
    let demo_repo = TestRepo {
        root: std::path::PathBuf::from(demo),
        ..TestRepo::new()
    };
    let mut demo_repo = demo_repo;
    demo_repo.tmux = repo.tmux.clone();
    wait_until(20, "green to pass and red to fail", || {
        demo_repo.check_state("feat/green") == "passed"
            && demo_repo.check_state("feat/red") == "failed"
    });
    assert_eq!(demo_repo.check_state("feat/slow"), "running");
    assert!(demo_repo.row("feat/dirty")["changed"].as_u64().unwrap() > 0);
    let bindings = tmux.run(&["list-keys", "-T", "prefix", "w"]);
    assert!(
        bindings.contains("display-popup") && bindings.contains(common::WTMUX),
        "{bindings}"
    );
    assert!(
        tmux.run(&["list-sessions", "-F", "#{session_name}"])
            .contains("wtmux-demo")
    );
}

#[test]
fn add_with_an_unreachable_tmux_creates_nothing() {
    let mut repo = TestRepo::new();
    repo.tmux = Some(common::TmuxEnv {
        socket: repo.dir.path().join("no-server.sock"),
        pane: "%0".into(),
    });
    let before = repo.snapshot();
    let err = repo.wtmux(&["add", "feat"]).refused();
    assert!(err.contains("tmux does not answer"), "{err}");
    assert_eq!(repo.snapshot(), before);
    repo.wtmux(&["add", "feat", "--no-window"]).ok();
}

/// `merge --commit` with an empty message is bad input: one line, exit 2, and the worktree as
/// it was (git itself refuses an empty message only after staging everything, which would
/// have merged a partial staging into one and staged untracked files).
#[test]
fn merge_with_an_empty_commit_message_changes_nothing() {
    let repo = TestRepo::new();
    repo.wtmux(&["add", "x", "--no-window"]).ok();
    let wt = repo.worktree("x");
    write_file(&wt.join("n.txt"), "n\n");
    repo.git_in(&wt, &["add", "n.txt"]);
    repo.git_in(&wt, &["commit", "-q", "-m", "n"]);
    write_file(&wt.join("src/lib.txt"), "staged\n");
    repo.git_in(&wt, &["add", "src/lib.txt"]);
    write_file(&wt.join("src/lib.txt"), "staged, then edited\n");
    write_file(&wt.join("u.txt"), "untracked\n");
    let before = repo.git_in(&wt, &["status", "--porcelain"]);
    assert!(
        before.contains("MM src/lib.txt") && before.contains("?? u.txt"),
        "{before}"
    );
    for message in ["", "  \n\n "] {
        let run = repo.wtmux(&["merge", "x", "--commit", message]);
        assert_eq!(run.code(), 2, "{}", run.stderr());
        assert_eq!(run.stderr().trim().lines().count(), 1, "{}", run.stderr());
        assert!(
            run.stderr().contains("commit message is empty"),
            "{}",
            run.stderr()
        );
        assert_eq!(repo.git_in(&wt, &["status", "--porcelain"]), before);
    }

    // The core refuses it too, for any front end that does not parse a command line: the plan
    // holds the fact, and carrying it out stages nothing.
    use wtmux::core::merge::{self, Blocker, MergeOptions};
    let project = wtmux::core::Project::discover_with(&repo.root, None, None).unwrap();
    let base = repo.git(&["rev-parse", "main"]);
    for message in ["", " \n\t\n"] {
        let options = MergeOptions {
            commit_message: Some(message.into()),
            force: true,
            ..MergeOptions::default()
        };
        let plan = merge::plan(&project, Some("x"), &options).unwrap();
        assert!(
            plan.refusals().contains(&&Blocker::EmptyCommitMessage),
            "{message:?}: {:?}",
            plan.blockers()
        );
        let (lock, _) = wtmux::core::recovery::try_acquire(&project, "merge").unwrap();
        let err = merge::execute(&project, &lock, &plan, &mut std::io::sink()).unwrap_err();
        let refused = err.step_refusal::<merge::Refused>().expect("a refusal");
        assert!(
            refused.blockers.contains(&Blocker::EmptyCommitMessage),
            "{err}"
        );
        assert!(
            err.to_string().contains("the commit message is empty"),
            "{err}"
        );
        drop(lock);
        assert_eq!(repo.git_in(&wt, &["status", "--porcelain"]), before);
        assert_eq!(repo.git(&["rev-parse", "main"]), base);
    }
}

/// `merge --commit` whose commit git refuses after `git add -A` staged everything — a
/// `pre-commit` hook failing, or a message git's `commit.cleanup = strip` empties (comments
/// only) — is refused with the worktree's staging as it was: partial staging kept, untracked
/// files untracked (found by a hostile review: both were left staged).
#[test]
fn merge_whose_commit_git_refuses_leaves_the_staging_as_it_was() {
    let repo = TestRepo::new();
    repo.wtmux(&["add", "x", "--no-window"]).ok();
    let wt = repo.worktree("x");
    write_file(&wt.join("src/lib.txt"), "staged\n");
    repo.git_in(&wt, &["add", "src/lib.txt"]);
    write_file(&wt.join("src/lib.txt"), "staged, then edited\n");
    write_file(&wt.join("u.txt"), "untracked\n");
    let before = repo.git_in(&wt, &["status", "--porcelain"]);
    let staged_before = repo.git_in(&wt, &["diff", "--cached"]);
    let base = repo.git(&["rev-parse", "main"]);
    let tip = repo.git(&["rev-parse", "x"]);

    repo.git(&["config", "commit.cleanup", "strip"]);
    let err = repo
        .wtmux(&["merge", "x", "--commit", "# only a comment"])
        .refused();
    assert!(err.contains("empty commit message"), "{err}");
    assert_eq!(repo.git_in(&wt, &["status", "--porcelain"]), before);
    assert_eq!(repo.git_in(&wt, &["diff", "--cached"]), staged_before);
    repo.git(&["config", "--unset", "commit.cleanup"]);

    let hook = repo.path(".git/hooks/pre-commit");
    write_file(&hook, "#!/bin/sh\necho 'lint failed' >&2\nexit 1\n");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    let err = repo.wtmux(&["merge", "x", "--commit", "finish"]).refused();
    assert!(err.contains("lint failed"), "{err}");
    assert_eq!(repo.git_in(&wt, &["status", "--porcelain"]), before);
    assert_eq!(repo.git_in(&wt, &["diff", "--cached"]), staged_before);
    assert_eq!(repo.git(&["rev-parse", "main"]), base);
    assert_eq!(repo.git(&["rev-parse", "x"]), tip);

    // With the hook passing, the same merge commits everything and goes through.
    std::fs::remove_file(&hook).unwrap();
    repo.wtmux(&["merge", "x", "--commit", "finish"]).ok();
    assert!(repo.git(&["log", "--format=%s"]).contains("finish"));
}
