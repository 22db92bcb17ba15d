//! The file-system monitor must never make `list` show a worktree as it was: every change made
//! before a command is seen by it, however quickly the command follows.

mod common;

use common::{KillOnDrop, Pause, TestRepo, wait_until, write_file};

fn changed(repo: &TestRepo, branch: &str) -> u64 {
    repo.row(branch)["changed"].as_u64().unwrap()
}

/// Starts the monitor (the first `list`), waits until it watches everything, then lists twice:
/// the first scan teaches it the untracked directories, the second marks every worktree clean.
fn start_monitor_and_mark_clean(repo: &TestRepo) {
    let session = repo.path(".git/wtmux/fsmonitor/session");
    repo.list(); // starts the daemon
    wait_until(10, "the monitor to start", || session.exists());
    repo.list();
    repo.list(); // marks the worktree clean
}

#[test]
fn list_sees_every_change_made_before_it() {
    let mut repo = TestRepo::with_config("[[check]]\nname = \"ok\"\nrun = \"true\"\n");
    let _tmux = repo.start_tmux();
    repo.wtmux(&["add", "feat", "--no-agent"]).ok();
    let path = repo.worktree("feat");
    // An untracked directory that exists before the monitor starts.
    write_file(&path.join("prebuilt/x.txt"), "x");
    let session = repo.path(".git/wtmux/fsmonitor/session");
    repo.list(); // starts the daemon
    wait_until(10, "the monitor to start", || session.exists());
    repo.list(); // scans, leaving markers; the daemon learns the untracked directory
    repo.list(); // scans the worktree with the new watch in place
    let clean = repo.path(".git/wtmux/fsmonitor/clean");
    assert!(
        std::fs::read_dir(&clean).unwrap().count() >= 2,
        "worktrees are marked clean, so the next list reuses them"
    );
    repo.list();
    assert_eq!(changed(&repo, "feat"), 1);
    repo.wtmux_in(&path, &["check", "--wait"]).ok();
    assert_eq!(repo.check_state("feat"), "passed");
    write_file(&path.join("prebuilt/y.txt"), "y");
    assert_eq!(
        repo.check_state("feat"),
        "stale",
        "a file in an untracked directory"
    );
    // Emptied, the untracked directory is no change any more (its own watch tells).
    std::fs::remove_file(path.join("prebuilt/x.txt")).unwrap();
    std::fs::remove_file(path.join("prebuilt/y.txt")).unwrap();
    assert_eq!(changed(&repo, "feat"), 0);

    // Each change is followed at once by a list.
    write_file(&path.join("src/lib.txt"), "edited\n");
    assert_eq!(changed(&repo, "feat"), 1, "an edit");
    write_file(&path.join("src/lib.txt"), "one\ntwo\nthree\n");
    assert_eq!(changed(&repo, "feat"), 0, "reverted");
    write_file(&path.join("fresh/a.txt"), "new");
    assert_eq!(changed(&repo, "feat"), 1, "a new directory");
    repo.wtmux_in(&path, &["check", "--wait"]).ok();
    assert_eq!(repo.check_state("feat"), "passed");
    write_file(&path.join("fresh/deeper/b.txt"), "inside the new directory");
    assert_eq!(
        repo.check_state("feat"),
        "stale",
        "a file deep in a new directory"
    );
    repo.git_in(&path, &["add", "-A"]);
    repo.git_in(&path, &["commit", "-q", "-m", "work"]);
    assert_eq!(changed(&repo, "feat"), 0, "committed");
    assert_eq!(repo.row("feat")["ahead"], 1);
    repo.git_in(&path, &["reset", "-q", "--soft", "HEAD~1"]);
    assert_eq!(
        changed(&repo, "feat"),
        2,
        "a soft reset leaves the two files staged"
    );
    repo.git_in(&path, &["commit", "-q", "-m", "work again"]);
    write_file(&path.join(".gitignore"), "*.log\n");
    repo.git_in(&path, &["add", ".gitignore"]);
    repo.git_in(&path, &["commit", "-q", "-m", "ignore logs"]);
    write_file(&path.join("debug.log"), "ignored");
    assert_eq!(changed(&repo, "feat"), 0, "ignored");
    write_file(&path.join(".gitignore"), "*.tmp\n");
    assert_eq!(
        changed(&repo, "feat"),
        2,
        "un-ignored, and .gitignore itself"
    );
}

#[test]
fn list_says_how_much_is_watched_when_the_system_refuses_more_watches() {
    let mut repo = TestRepo::new();
    let tmux = repo.start_tmux();
    repo.wtmux(&["add", "feat", "--no-agent"]).ok();
    // The daemon (started by tmux, with its global environment) may watch 3 directories.
    tmux.run(&["set-environment", "-g", "WTMUX_TEST_MAX_WATCHES", "3"]);
    // Starts the daemon, which gives up. Whether this first listing already says so depends
    // on which of the two is faster, so only the listings after it are asserted.
    repo.list();
    let gave_up = repo.path(".git/wtmux/fsmonitor/unavailable");
    wait_until(10, "the monitor to give up", || gave_up.exists());

    let coverage = repo.list()["coverage"].clone();
    assert_eq!(coverage["watched"], 3, "{coverage}");
    let wanted = coverage["wanted"].as_u64().unwrap();
    assert!(wanted > 3, "{coverage}");
    let text = repo.wtmux(&["list"]).ok();
    assert!(
        text.contains(&format!("watching 3 of {wanted} directories")),
        "{text}"
    );
    // Never silence: every listing scans.
    let path = repo.worktree("feat");
    write_file(&path.join("src/lib.txt"), "edited\n");
    assert_eq!(changed(&repo, "feat"), 1);
    write_file(&path.join("new/deeper/file.txt"), "x");
    assert_eq!(changed(&repo, "feat"), 2);
}

/// A worktree being added while the monitor runs: the monitor may plan its watches when the
/// worktree's admin dir exists but its checkout is not written yet (a `git worktree add` in
/// progress). It must plan again once the checkout is there, or the worktree is never watched
/// and `list` keeps showing it clean (found by a hostile review: 40 s and more). The test
/// makes that moment exact: it builds the worktree by hand, step by step, and lets the monitor
/// plan after the first step before taking the next.
#[test]
fn a_worktree_whose_checkout_is_written_after_the_monitor_planned_is_watched() {
    let mut repo = TestRepo::new();
    let _tmux = repo.start_tmux();
    let session = repo.path(".git/wtmux/fsmonitor/session");
    repo.list(); // starts the daemon
    wait_until(10, "the monitor to start", || session.exists());
    repo.list();
    // Step 1: the admin dir alone. The monitor sees it and plans (then marks "everything").
    let everything = repo.path(".git/wtmux/fsmonitor/everything");
    let _ = std::fs::remove_file(&everything);
    let admin = repo.path(".git/worktrees/late");
    std::fs::create_dir_all(&admin).unwrap();
    wait_until(10, "the monitor to see the admin dir", || {
        everything.exists()
    });
    // A list syncs with the monitor: its planning for that change is done before this returns.
    repo.list();
    // Step 2: the rest of the worktree, as `git worktree add` writes it.
    repo.git(&["branch", "late"]);
    let path = repo.root.join(".worktrees/late");
    std::fs::create_dir_all(&path).unwrap();
    std::fs::write(path.join(".git"), format!("gitdir: {}\n", admin.display())).unwrap();
    std::fs::write(
        admin.join("gitdir"),
        format!("{}\n", path.join(".git").display()),
    )
    .unwrap();
    std::fs::write(admin.join("commondir"), "../..\n").unwrap();
    std::fs::write(admin.join("HEAD"), "ref: refs/heads/late\n").unwrap();
    repo.git_in(&path, &["reset", "-q", "--hard"]);
    assert_eq!(changed(&repo, "late"), 0);
    repo.list(); // marks it clean
    write_file(&path.join("src/lib.txt"), "edited\n");
    assert_eq!(changed(&repo, "late"), 1, "an edit in the late worktree");
}

/// Directories that exist before the monitor starts and in which git lists nothing — an empty
/// one, one holding only ignored files, one holding only an empty directory — are watched too:
/// a file put there later is a change `list` must show, however long nothing else changes in
/// that worktree. (The monitor watched only the directories of tracked files and those `git
/// status` listed, so these went unseen until another change in the worktree.) So are such
/// directories once a `.gitignore` edit un-ignores them.
#[test]
fn a_directory_holding_nothing_git_lists_is_watched() {
    let mut repo = TestRepo::new();
    repo.write(".gitignore", "*.log\nbuild/\n");
    repo.commit_all("ignore logs and build");
    let _tmux = repo.start_tmux();
    repo.wtmux(&["add", "feat", "--no-agent"]).ok();
    let path = repo.worktree("feat");
    std::fs::create_dir_all(path.join("empty")).unwrap();
    write_file(&path.join("logs/old.log"), "ignored");
    std::fs::create_dir_all(path.join("outer/inner")).unwrap();
    write_file(&path.join("build/out/a.o"), "ignored");
    std::fs::create_dir_all(path.join("build/gen")).unwrap();
    start_monitor_and_mark_clean(&repo);
    assert_eq!(changed(&repo, "feat"), 0);
    for (n, file) in ["empty/a.txt", "logs/b.txt", "outer/inner/c.txt"]
        .iter()
        .enumerate()
    {
        write_file(&path.join(file), "new");
        assert_eq!(changed(&repo, "feat"), n as u64 + 1, "after {file}");
    }
    // Un-ignored: build/ holds only an ignored file and an empty directory.
    write_file(&path.join(".gitignore"), "*.log\n*.o\n");
    assert_eq!(changed(&repo, "feat"), 4, ".gitignore edited");
    write_file(&path.join("build/gen/d.txt"), "new");
    assert_eq!(
        changed(&repo, "feat"),
        5,
        "a file in a directory un-ignored"
    );
}

/// A directory deleted and made again, or moved away and another moved in at its path, is
/// watched anew: its old watch is gone with it (or follows it elsewhere), and the monitor took
/// the path for watched, so edits there went unseen (`rm -rf src && git checkout src`, or a
/// tool that writes a directory aside and renames it into place).
#[test]
fn a_directory_made_again_at_the_same_path_is_watched() {
    let mut repo = TestRepo::new();
    let _tmux = repo.start_tmux();
    repo.wtmux(&["add", "feat", "--no-agent"]).ok();
    let path = repo.worktree("feat");
    let session = repo.path(".git/wtmux/fsmonitor/session");
    repo.list(); // starts the daemon
    wait_until(10, "the monitor to start", || session.exists());
    repo.list();
    assert_eq!(changed(&repo, "feat"), 0);

    std::fs::remove_dir_all(path.join("src")).unwrap();
    write_file(&path.join("src/lib.txt"), "one\ntwo\nthree\n");
    assert_eq!(changed(&repo, "feat"), 0, "deleted and made again");
    repo.list(); // marks it clean
    write_file(&path.join("src/lib.txt"), "edited\n");
    assert_eq!(
        changed(&repo, "feat"),
        1,
        "an edit in the directory made again"
    );
    write_file(&path.join("src/lib.txt"), "one\ntwo\nthree\n");
    assert_eq!(changed(&repo, "feat"), 0);

    std::fs::rename(path.join("src"), path.join("old-src")).unwrap();
    write_file(&path.join("aside/lib.txt"), "one\ntwo\nthree\n");
    std::fs::rename(path.join("aside"), path.join("src")).unwrap();
    assert_eq!(changed(&repo, "feat"), 1, "old-src/ is untracked");
    repo.list();
    write_file(&path.join("src/lib.txt"), "edited\n");
    assert_eq!(
        changed(&repo, "feat"),
        2,
        "an edit in the directory moved in"
    );
}

/// The global excludes file (git's default `$XDG_CONFIG_HOME/git/ignore` here) is watched like
/// `.gitignore` and `info/exclude`: a directory an edit there un-ignores is watched from then on,
/// so a file put in it later is seen.
#[test]
fn a_directory_the_global_excludes_file_un_ignores_is_watched() {
    let mut repo = TestRepo::new();
    let excludes = repo.home.join(".config/git/ignore");
    write_file(&excludes, "build/\n");
    let _tmux = repo.start_tmux();
    repo.wtmux(&["add", "feat", "--no-agent"]).ok();
    let path = repo.worktree("feat");
    write_file(&path.join("build/out/a.o"), "ignored");
    start_monitor_and_mark_clean(&repo);
    assert_eq!(changed(&repo, "feat"), 0);
    // Un-ignored: build/ holds only a file still ignored, so nothing shows yet.
    write_file(&excludes, "*.o\n");
    assert_eq!(changed(&repo, "feat"), 0, "the excludes file edited");
    write_file(&path.join("build/out/b.txt"), "new");
    assert_eq!(
        changed(&repo, "feat"),
        1,
        "a file in a directory the global excludes file un-ignored"
    );
}

/// The monitor lists the directories to watch, then watches them. A directory made between
/// the two (here, while the monitor is paused there) was in neither the listing nor, its
/// parent's watch coming after it, any event: it stayed unwatched, and a file put in it later
/// went unseen (`list` showed the worktree clean). Once every listed directory is watched, the
/// monitor lists again. The directory is empty, so no reader's `git status` names it either.
#[test]
fn a_directory_made_while_the_monitor_plans_its_watches_is_watched() {
    let mut repo = TestRepo::new();
    let _tmux = repo.start_tmux();
    repo.wtmux_env(
        &["add", "feat", "--no-agent"],
        &[("WTMUX_FSMONITOR", "off")],
    )
    .ok();
    let path = repo.worktree("feat");
    let pause = Pause::new(&repo, "plan");
    let at = pause.at("fsmonitor-planned");
    let mut daemon = KillOnDrop::new(repo.spawn_wtmux_with(
        &repo.root,
        &["__fsmonitor"],
        &[("WTMUX_TEST_PAUSE", std::path::Path::new(&at))],
    ));
    assert_eq!(pause.reached(daemon.child()), "fsmonitor-planned");
    std::fs::create_dir_all(path.join("made-meanwhile/deeper")).unwrap();
    pause.release();
    let session = repo.path(".git/wtmux/fsmonitor/session");
    wait_until(10, "the monitor to start", || session.exists());
    repo.list();
    repo.list(); // marks the worktree clean
    assert_eq!(changed(&repo, "feat"), 0);
    write_file(&path.join("made-meanwhile/deeper/a.txt"), "new");
    assert_eq!(
        changed(&repo, "feat"),
        1,
        "a file in the directory made while the monitor planned"
    );
}

/// The global excludes file kept elsewhere (a dotfiles directory) behind a symbolic link: an
/// edit goes to the file the link leads to, in a directory the monitor did not watch, so a
/// directory it un-ignored stayed unwatched and a file put there went unseen.
#[test]
fn an_edit_of_the_global_excludes_file_behind_a_symbolic_link_is_seen() {
    let mut repo = TestRepo::new();
    let dotfiles = repo.home.join("dotfiles/git-ignore");
    write_file(&dotfiles, "build/\n");
    let link = repo.home.join(".config/git/ignore");
    std::fs::create_dir_all(link.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(&dotfiles, &link).unwrap();
    let _tmux = repo.start_tmux();
    repo.wtmux(&["add", "feat", "--no-agent"]).ok();
    let path = repo.worktree("feat");
    write_file(&path.join("build/out/a.o"), "ignored");
    start_monitor_and_mark_clean(&repo);
    assert_eq!(changed(&repo, "feat"), 0);
    write_file(&dotfiles, "*.o\n");
    assert_eq!(changed(&repo, "feat"), 0, "the file behind the link edited");
    write_file(&path.join("build/out/b.txt"), "new");
    assert_eq!(
        changed(&repo, "feat"),
        1,
        "a file in a directory the linked excludes file un-ignored"
    );
}

/// The global excludes file made while the monitor runs, in a directory that did not exist
/// when it started (`~/.config/git/`): what it ignores is no change any more.
#[test]
fn a_global_excludes_file_made_in_a_new_directory_is_seen() {
    let mut repo = TestRepo::new();
    let git_config = repo.home.join(".config/git");
    assert!(!git_config.exists());
    let _tmux = repo.start_tmux();
    repo.wtmux(&["add", "feat", "--no-agent"]).ok();
    let path = repo.worktree("feat");
    write_file(&path.join("junk.o"), "not ignored yet");
    start_monitor_and_mark_clean(&repo);
    assert_eq!(changed(&repo, "feat"), 1);
    write_file(&git_config.join("ignore"), "*.o\n");
    assert_eq!(
        changed(&repo, "feat"),
        0,
        "ignored by the new global excludes file"
    );
}

/// `doctor`'s "last event" follows the last change of a burst. The monitor writes its status at
/// most every 5 s, and a change within 5 s of the last write (here: of its start) was held back
/// until the next change, so after one edit `doctor` said "none yet" for good.
#[test]
fn doctor_shows_the_last_change_of_a_burst() {
    let mut repo = TestRepo::new();
    let _tmux = repo.start_tmux();
    repo.wtmux(&["add", "feat", "--no-agent"]).ok();
    let session = repo.path(".git/wtmux/fsmonitor/session");
    repo.list(); // starts the daemon
    wait_until(10, "the monitor to start", || session.exists());
    let line = || {
        let doctor = repo.wtmux(&["doctor"]).ok();
        doctor
            .lines()
            .find(|l| l.starts_with("file-system monitor: pid "))
            .map(str::to_string)
    };
    // (Within 5 s of its start unless the machine is very slow, when the test proves less.)
    write_file(&repo.worktree("feat").join("edit.txt"), "x");
    wait_until(15, "doctor to show the edit", || {
        line().is_some_and(|l| !l.ends_with("last event none yet"))
    });
}
