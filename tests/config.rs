//! The repository's `.wtmux.toml` is outside text too: its commands run only once trusted, its
//! copy/symlink globs stay inside the main worktree, and every bad value is one line, a non-zero
//! exit and nothing changed.

mod common;

use common::TestRepo;

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
    assert!(err.contains("outside the main worktree"), "{err}");
    assert_eq!(repo.snapshot(), before);
    assert!(!repo.worktree("feat").exists());
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
