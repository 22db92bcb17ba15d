//! The repository's `.wtmux.toml` is outside text too: its commands run only once trusted, its
//! copy/symlink globs stay inside the main worktree, and every bad value is one line, a non-zero
//! exit and nothing changed.

mod common;

use common::{Rng, TestRepo};

/// Files a command that should not have run would leave in the sandbox HOME.
fn fired(repo: &TestRepo) -> Vec<String> {
    std::fs::read_dir(&repo.home)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("ran-"))
        .collect()
}

const COMMANDS: &str = r#"post_create = ["touch \"$HOME/ran-post-create\""]
post_merge = "touch \"$HOME/ran-post-merge\""
notify = "touch \"$HOME/ran-notify\""
[[check]]
name = "test"
run = "touch \"$HOME/ran-check\""
"#;

#[test]
fn repository_commands_run_only_once_trusted_and_a_change_needs_trust_again() {
    let repo = TestRepo::with_untrusted_config(COMMANDS);
    let before = repo.snapshot();

    let err = repo.wtmux(&["add", "feat", "--no-window"]).refused();
    assert!(
        err.contains(".wtmux.toml defines commands (check, post_create, post_merge, notify)")
            && err.contains("run `wtmux trust`"),
        "{err}"
    );
    let err = repo.wtmux(&["check", "--wait"]).refused();
    assert!(err.contains("wtmux trust"), "{err}");
    let err = repo.wtmux(&["merge", "main"]).refused();
    assert!(err.contains("wtmux trust"), "{err}");
    assert_eq!(repo.snapshot(), before, "a refusal changes nothing");
    assert!(fired(&repo).is_empty(), "{:?}", fired(&repo));
    // Listing runs nothing and needs no trust.
    repo.wtmux(&["list"]).ok();

    let out = repo.wtmux(&["trust"]).ok();
    assert!(out.contains("check: [test] touch"), "{out}");
    assert!(
        std::fs::read_dir(repo.home.join(".local/state/wtmux/trusted"))
            .unwrap()
            .count()
            == 1,
        "the record is in the user's state dir"
    );
    repo.wtmux(&["add", "feat", "--no-window"]).ok();
    assert_eq!(fired(&repo), ["ran-post-create"]);
    repo.wtmux_in(&repo.worktree("feat"), &["check", "--wait"])
        .ok();
    assert!(repo.home.join("ran-check").exists());

    // A change to anything but the commands keeps the trust…
    repo.write(
        ".wtmux.toml",
        &format!("trash_days = 7\ncopy = [\"x\"]\n{COMMANDS}"),
    );
    repo.wtmux(&["check", "--wait"]).ok();
    // …a changed command needs it again.
    repo.write(
        ".wtmux.toml",
        &COMMANDS.replace("ran-check", "ran-changed-check"),
    );
    let err = repo.wtmux(&["check", "--wait"]).refused();
    assert!(err.contains("not trusted"), "{err}");
    assert!(!repo.home.join("ran-changed-check").exists());
    repo.trust();
    repo.wtmux(&["check", "--wait"]).ok();
    assert!(repo.home.join("ran-changed-check").exists());
}

#[test]
fn trust_holds_for_a_repository_path_with_a_newline() {
    let repo = TestRepo::new_at("r\nx");
    repo.write(".wtmux.toml", COMMANDS);
    repo.commit_all("configure");
    repo.wtmux(&["check", "--wait"]).refused();
    repo.trust();
    repo.wtmux(&["check", "--wait"]).ok();
    assert!(repo.home.join("ran-check").exists());
}

#[test]
fn an_untrusted_agent_is_refused_before_anything_is_created() {
    let repo =
        TestRepo::with_untrusted_config("[agents.evil]\nrun = \"touch \\\"$HOME/ran-agent\\\"\"\n");
    let before = repo.snapshot();
    let err = repo
        .wtmux(&["add", "feat", "--agent", "evil", "--no-window"])
        .refused();
    assert!(err.contains("(agents.evil)"), "{err}");
    assert_eq!(repo.snapshot(), before);
    // Without the agent nothing of the file needs running.
    repo.wtmux(&["add", "feat", "--no-agent", "--no-window"])
        .ok();
    assert!(fired(&repo).is_empty());
}

#[test]
fn the_users_own_config_and_what_init_writes_need_no_trust() {
    let repo = TestRepo::new();
    repo.user_config("[[check]]\nname = \"mine\"\nrun = \"touch \\\"$HOME/ran-mine\\\"\"\n");
    repo.wtmux(&["check", "--wait"]).ok();
    assert!(repo.home.join("ran-mine").exists());

    repo.wtmux(&["init"]).ok();
    let out = repo.wtmux(&["trust"]).ok();
    assert!(out.contains("defines no commands"), "{out}");
    repo.wtmux(&["add", "feat", "--no-window"]).ok();
}

#[test]
fn the_popup_says_how_to_trust_in_its_own_words() {
    let error = wtmux::core::Error::Untrusted {
        file: "/src/app/.wtmux.toml".into(),
        keys: vec!["check".into()],
    };
    let text = wtmux::tui::app::error_text(&error);
    assert!(
        text.contains("/src/app/.wtmux.toml") && text.contains("`wtmux trust` in a shell"),
        "{text}"
    );
}

// ---------------------------------------------------------------------------------------------
// copy / symlink

#[test]
fn copy_and_symlink_globs_outside_the_main_worktree_are_refused() {
    for (config, what) in [
        ("copy = [\"../outside\"]\n", "key `copy`"),
        ("copy = [\"/etc/hostname\"]\n", "key `copy`"),
        ("symlink = [\"a/../../x\"]\n", "key `symlink`"),
    ] {
        let repo = TestRepo::with_untrusted_config(config);
        let err = repo.wtmux(&["add", "feat", "--no-window"]).refused();
        assert!(err.contains(what), "{config}: {err}");
    }

    // A symlinked directory leading out of the repository.
    let repo = TestRepo::with_config("copy = [\"linked/*\"]\n");
    let outside = repo.dir.path().join("outside");
    common::write_file(&outside.join("secret"), "secret\n");
    std::os::unix::fs::symlink(&outside, repo.path("linked")).unwrap();
    repo.git(&["commit", "-q", "--allow-empty", "-m", "x"]);
    let before = repo.snapshot();
    let err = repo.wtmux(&["add", "feat", "--no-window"]).refused();
    assert!(
        err.contains("a symlink leading outside the main worktree"),
        "{err}"
    );
    assert_eq!(repo.snapshot(), before);
    assert!(!repo.worktree("feat").exists());
}

/// A pattern written from `./` (or with a `.` or an empty component inside) names the same
/// files as without it: `./.env` copied nothing, silently (found by a hostile review).
#[test]
fn copy_patterns_written_from_dot_slash_match_as_without_it() {
    let repo = TestRepo::with_config("copy = [\"./.env\", \"conf/./local//*.toml\"]\n");
    repo.write(".gitignore", ".env\nconf/local/\n");
    repo.commit_all("ignores");
    repo.write(".env", "S=1\n");
    repo.write("conf/local/a.toml", "a = 1\n");
    repo.wtmux(&["add", "feat", "--no-window"]).ok();
    let worktree = repo.worktree("feat");
    assert_eq!(
        std::fs::read_to_string(worktree.join(".env")).unwrap(),
        "S=1\n"
    );
    assert_eq!(
        std::fs::read_to_string(worktree.join("conf/local/a.toml")).unwrap(),
        "a = 1\n"
    );
    // `.` alone names the worktree itself, no file in it: a config error.
    let repo = TestRepo::with_untrusted_config("copy = [\"./\"]\n");
    let err = repo.wtmux(&["add", "feat", "--no-window"]).refused();
    assert!(err.contains("key `copy`"), "{err}");
}

#[test]
fn recursive_globs_do_not_follow_committed_symlink_loops() {
    // Two committed links to the repository root: a walk that followed them would branch
    // twice per level until the kernel's symlink limit (2^40 paths).
    let repo = TestRepo::with_config("copy = [\"**/*.env\"]\nsymlink = [\"**/cache\"]\n");
    std::os::unix::fs::symlink(".", repo.path("a")).unwrap();
    std::os::unix::fs::symlink(".", repo.path("b")).unwrap();
    repo.write(".gitignore", "*.env\ncache/\n");
    repo.commit_all("links and ignores");
    repo.write("deep/er/secret.env", "S=1\n");
    repo.write("tools/cache/blob", "x\n");
    repo.wtmux(&["add", "feat", "--no-window"]).ok();
    let worktree = repo.worktree("feat");
    assert_eq!(
        std::fs::read_to_string(worktree.join("deep/er/secret.env")).unwrap(),
        "S=1\n"
    );
    assert!(
        std::fs::symlink_metadata(worktree.join("tools/cache"))
            .unwrap()
            .is_symlink()
    );
    // The links themselves are checked out by git, as links.
    assert!(
        std::fs::symlink_metadata(worktree.join("a"))
            .unwrap()
            .is_symlink()
    );
}

#[test]
fn copying_never_follows_symlinks_and_a_loop_does_not_recurse() {
    let repo = TestRepo::with_config("copy = [\"cache\"]\n");
    repo.write(".gitignore", "cache/\n");
    repo.commit_all("ignore cache");
    repo.write("cache/data.txt", "data\n");
    std::os::unix::fs::symlink("..", repo.path("cache/loop")).unwrap();
    std::os::unix::fs::symlink("/etc/hostname", repo.path("cache/outside")).unwrap();
    repo.wtmux(&["add", "feat", "--no-window"]).ok();
    let copied = repo.worktree("feat").join("cache");
    assert_eq!(
        std::fs::read_to_string(copied.join("data.txt")).unwrap(),
        "data\n"
    );
    for link in ["loop", "outside"] {
        let meta = std::fs::symlink_metadata(copied.join(link)).unwrap();
        assert!(meta.file_type().is_symlink(), "{link} is copied as a link");
    }
    assert_eq!(
        std::fs::read_link(copied.join("loop")).unwrap(),
        std::path::PathBuf::from("..")
    );
}

// ---------------------------------------------------------------------------------------------
// Validation: one line, a non-zero exit, nothing changed.

/// Asserts the run failed with one line (exit 1, or 2 for usage) and no panic; returns the line.
fn one_line_failure(run: &common::Run, what: &str) -> String {
    let stderr = run.stderr();
    assert!(
        matches!(run.code(), 1 | 2),
        "{what}: exit {}\n{stderr}",
        run.code()
    );
    assert!(!stderr.contains("panicked"), "{what}: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{what}: {stderr:?}");
    stderr
}

#[test]
fn each_bad_config_value_is_one_line_and_changes_nothing() {
    let cases = [
        ("worktree_dir = \".\"", "worktree_dir"),
        ("worktree_dir = \"./\"", "worktree_dir"),
        ("worktree_dir = \".git\"", "worktree_dir"),
        ("worktree_dir = \".git/wt\"", "worktree_dir"),
        ("worktree_dir = \"../x\"", "worktree_dir"),
        ("worktree_dir = \"/tmp/x\"", "worktree_dir"),
        ("worktree_dir = \"src\"", "tracked files"),
        ("worktree_dir = \"./src/\"", "tracked files"),
        ("worktree_dir = \"README.md\"", "tracked files"),
        ("worktree_dir = \"linked\"", "outside the main worktree"),
        (
            "worktree_dir = \"occupied\"",
            "no worktree of this repository",
        ),
        ("agent_quiet = \"0s\"", "greater than zero"),
        ("agent_hook_stale = \"400days\"", "is longer than 30 days"),
        ("agent_quiet = \"99999999999999999years\"", "agent_quiet"),
        ("trash_days = 9223372036854775807", "trash_days"),
        ("check_jobs = 0", "check_jobs"),
        ("copy = [\"../x\"]", "copy"),
        ("merge_strategy = \"yolo\"", "merge_strategy"),
        ("base = \"\"", "base"),
        (
            "[[check]]\nname = \"t\"\nrun = \"true\"\ntimeout = \"0s\"",
            "timeout",
        ),
        (
            "[[check]]\nname = \"t\"\nrun = \"true\"\ntimeout = \"1000000h\"",
            "timeout",
        ),
    ];
    for (config, expected) in cases {
        let repo = TestRepo::with_untrusted_config(&format!("{config}\n"));
        let outside = repo.dir.path().join("outside");
        std::fs::create_dir_all(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, repo.path("linked")).unwrap();
        common::write_file(&repo.path("occupied/notes.txt"), "mine\n");
        let before = repo.snapshot();
        let run = repo.wtmux(&["add", "feat", "--no-window"]);
        let line = one_line_failure(&run, config);
        assert!(line.contains(expected), "{config}: {line}");
        assert_eq!(repo.snapshot(), before, "{config} changed something");
        assert!(!repo.path("src/feat").exists() && !repo.path("feat").exists());
    }
}

#[test]
fn an_existing_worktree_dir_used_by_wtmux_stays_usable() {
    let repo = TestRepo::with_config("worktree_dir = \"./wt/\"\n");
    repo.wtmux(&["add", "one", "--no-window"]).ok();
    repo.wtmux(&["add", "two", "--no-window"]).ok();
    assert!(repo.path("wt/two").is_dir());
}

#[test]
fn huge_ages_and_timeouts_are_refused_not_overflowed() {
    let repo = TestRepo::new();
    repo.wtmux(&["add", "feat", "--no-window"]).ok();
    common::write_file(&repo.worktree("feat").join("work.txt"), "work\n");
    repo.wtmux(&["remove", "feat", "--force"]).ok();
    // Bad input, like a bad --timeout: a usage error (exit 2), one line, nothing pruned.
    for days in [
        "18446744073709551615",
        "99999999999999999999999",
        "99999999",
        "36501",
    ] {
        let run = repo.wtmux(&["trash", "--prune", "--older-than", days]);
        let line = one_line_failure(&run, days);
        assert_eq!(run.code(), 2, "{days}: {line}");
        assert!(line.contains("is more than 36500 days"), "{days}: {line}");
    }
    let run = repo.wtmux(&["trash", "--prune", "--older-than", "ten"]);
    assert_eq!(run.code(), 2);
    assert!(one_line_failure(&run, "ten").contains("not a whole number of days"));
    let run = repo.wtmux(&["trash", "--prune", "--older-than", "36500"]);
    assert!(run.ok().contains("pruned 0"), "a two-second-old save stays");
    assert!(repo.wtmux(&["trash"]).ok().contains("feat"));

    for timeout in ["0s", "99999999999999999years", "31days", "99999d"] {
        let run = repo.wtmux(&["wait", "feat", "--until", "done", "--timeout", timeout]);
        let line = one_line_failure(&run, timeout);
        assert_eq!(run.code(), 2);
        if timeout.ends_with('d') || timeout.ends_with("days") {
            assert!(line.contains("is longer than 30 days"), "{timeout}: {line}");
        }
    }
}

#[test]
fn reftable_and_sha256_repositories_are_named_as_unsupported() {
    for (flag, named) in [
        ("--ref-format=reftable", "reftable"),
        ("--object-format=sha256", "SHA-256"),
    ] {
        let repo = TestRepo::new();
        let dir = repo.dir.path().join("other");
        let init = std::process::Command::new("git")
            .args(["init", "-q", flag])
            .arg(&dir)
            .output()
            .unwrap();
        if !init.status.success() {
            eprintln!("skipped: this git cannot make a {named} repository");
            continue;
        }
        let line = one_line_failure(&repo.wtmux_in(&dir, &["list"]), flag);
        assert!(
            line.contains(named) && !line.contains("not inside a git repository"),
            "{line}"
        );
    }
}

#[test]
fn a_corrupt_index_is_one_line_and_never_a_panic() {
    let seed: u64 = std::env::var("WTMUX_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_1d3c);
    let repo = TestRepo::new();
    for i in 0..20 {
        repo.write(&format!("dir{}/file{i}.txt", i % 4), "x\n");
    }
    repo.commit_all("files");
    let index = repo.path(".git/index");
    let good = std::fs::read(&index).unwrap();
    let mut rng = Rng(seed | 1);
    for round in 0..60 {
        let mut bad = good.clone();
        match round % 4 {
            0 => bad.truncate(rng.below(good.len())),
            1 => {
                // The entry count, or an entry's flags (name length).
                let at = if rng.below(2) == 0 { 8 } else { 12 + 60 };
                bad[at] = 0xff;
            }
            _ => {
                for _ in 0..1 + rng.below(6) {
                    let at = rng.below(bad.len());
                    bad[at] = rng.next() as u8;
                }
            }
        }
        std::fs::write(&index, &bad).unwrap();
        for args in [&["list"][..], &["list", "--json"], &["conflicts"]] {
            let run = repo.wtmux(args);
            let stderr = run.stderr();
            assert!(
                matches!(run.code(), 0 | 1)
                    && !stderr.contains("panicked")
                    && stderr.trim_end().lines().count() <= 1,
                "seed {seed:#x} round {round}: wtmux {args:?} exited {} with {stderr:?}",
                run.code()
            );
        }
    }
    std::fs::write(&index, &good).unwrap();
}

#[test]
fn bad_command_line_input_is_one_line_never_a_panic() {
    let repo = TestRepo::new();
    let long = "a".repeat(300);
    let cases: Vec<Vec<String>> = vec![
        vec!["add".into(), long.clone()],
        vec!["add".into(), "--".into(), "-rf".into()],
        vec!["add".into(), "x\ny".into()],
        vec!["add".into(), "x#(touch pwned)".into()],
        vec!["add".into(), "x;rm -rf ~".into()],
        vec!["add".into(), "$(touch pwned)".into()],
        vec![
            "add".into(),
            "ok".into(),
            "--base".into(),
            "no-such-ref\u{1b}[2J".into(),
        ],
        vec![
            "add".into(),
            "ok".into(),
            "--prompt-file".into(),
            "/nonexistent".into(),
        ],
        vec!["add".into(), "ok".into(), "--scope".into(), "[".into()],
        vec!["open".into(), long.clone()],
        vec!["send".into(), "nope".into(), "text".into()],
        vec!["restore".into(), "nope".into()],
        vec!["remove".into(), "main".into()],
        vec!["merge".into(), "nope".into()],
        vec!["check".into(), "nope".into()],
        vec![
            "wait".into(),
            "nope".into(),
            "--until".into(),
            "done".into(),
        ],
        vec!["completions".into(), "nosh".into()],
        vec!["agent-status".into(), "sleeping".into()],
        vec!["init".into(), "extra".into()],
    ];
    let before = repo.snapshot();
    for args in &cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = repo.wtmux(&args);
        let line = one_line_failure(&run, &format!("{args:?}"));
        assert!(
            !line.chars().any(|c| c.is_control() && c != '\n'),
            "{args:?}: {line:?}"
        );
    }
    assert_eq!(repo.snapshot(), before);
    assert!(!repo.root.join("pwned").exists() && !repo.home.join("pwned").exists());
}

#[test]
fn the_popup_refuses_untrusted_checks_and_says_how() {
    let mut repo = TestRepo::with_untrusted_config(
        "[[check]]\nname = \"test\"\nrun = \"touch \\\"$HOME/ran-check\\\"\"\n",
    );
    let tmux = repo.start_tmux();
    repo.wtmux(&["add", "feat", "--no-agent"]).ok();
    tmux.run(&["set-option", "-g", "@wtmux-bin", common::WTMUX]);
    tmux.run(&[
        "run-shell",
        &format!("{}/tmux/wtmux.tmux", env!("CARGO_MANIFEST_DIR")),
    ]);
    tmux.run(&["select-window", "-t", "test:0"]);
    let client = common::Client::attach(&repo, &tmux);
    client.keys(&["C-b", "w"]);
    client.wait_for("the popup", |screen| {
        screen.contains("feat") && screen.contains("BRANCH")
    });
    client.keys(&["v"]);
    client.wait_for("the refusal naming `wtmux trust`", |screen| {
        screen.contains("not trusted yet") || screen.contains("wtmux trust")
    });
    client.keys(&["q"]);
    assert!(fired(&repo).is_empty(), "{:?}", fired(&repo));
}
