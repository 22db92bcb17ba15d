//! "Nothing a user wrote is ever lost": decisions from git itself, a trash that keeps the whole
//! worktree, and what writes into a worktree stopped before it goes.

mod common;
mod differential;

use std::path::Path;

use common::{
    KillOnDrop, Pause, TestRepo, finish, process_gone, spawn_with, wait_until, write_file,
};
use differential::{Walk, snapshot_dir};

/// Runs wtmux with `args` in the main worktree until it reaches the pause point `step`, and
/// kills it there with SIGKILL.
fn kill_9_at(repo: &TestRepo, step: &str, args: &[&str]) {
    let pause = Pause::new(repo, step);
    let mut child = spawn_with(
        repo,
        &repo.root,
        &[("WTMUX_TEST_PAUSE", &pause.at(step))],
        args,
    );
    assert_eq!(pause.reached(&mut child), step);
    child.kill().unwrap();
    child.wait().unwrap();
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// 500 random steps against git, with a remove + restore round trip every 25.
#[test]
fn random_walk_agrees_with_git_and_loses_nothing() {
    let seed = env_number("WTMUX_SEED", 0x5eed_0008);
    let steps = env_number("WTMUX_STEPS", 500) as usize;
    let mut walk = Walk::new(seed);
    walk.run(steps, 25);
    eprintln!(
        "seed {seed}: {} steps checked, {} round trips, {} answers kept by the display cache, 0 disagreements",
        walk.checks, walk.round_trips, walk.display_hits
    );
}

/// The same walk on a worktree without a submodule, where display asks git's status of
/// wtmux's refreshed copy of the index (untracked cache and all): it must still be git's answer
/// on the worktree's own index.
#[test]
fn random_walk_without_submodules_agrees_with_git() {
    let seed = env_number("WTMUX_SEED", 0x5eed_0011);
    let steps = env_number("WTMUX_STEPS", 300) as usize;
    let mut walk = Walk::without_submodules(seed);
    walk.run(steps, 50);
    eprintln!(
        "seed {seed}: {} steps checked without submodules, {} round trips, 0 disagreements",
        walk.checks, walk.round_trips
    );
}

/// What `git worktree list` registers, for comparing with what wtmux lists.
fn registered(repo: &TestRepo) -> Vec<String> {
    let mut paths: Vec<String> = repo
        .git(&["worktree", "list", "--porcelain"])
        .lines()
        .filter_map(|l| l.strip_prefix("worktree ").map(str::to_string))
        .collect();
    paths.sort();
    paths
}

fn listed(repo: &TestRepo) -> Vec<String> {
    let mut paths: Vec<String> = repo.list()["worktrees"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["path"].as_str().unwrap().to_string())
        .collect();
    paths.sort();
    paths
}

/// Each kind of work git sees is refused by a plain remove; each kind it does not (ignored
/// files, empty directories) is kept by the trash all the same.
#[test]
fn plain_remove_refuses_every_kind_of_unsaved_work() {
    type Setup = fn(&Walk);
    let cases: [(&str, Setup, &str); 6] = [
        (
            "an untracked nested repository",
            |w| {
                let nest = w.wt.join("nest/r");
                std::fs::create_dir_all(&nest).unwrap();
                w.repo.git_in(&nest, &["init", "-q"]);
                write_file(&nest.join("n.txt"), "history of its own\n");
            },
            "nest/",
        ),
        (
            "a dirty submodule",
            |w| write_file(&w.wt.join("sub/s.txt"), "changed inside\n"),
            "sub",
        ),
        (
            "a commit inside the worktree's submodule",
            |w| {
                let sub = w.wt.join("sub");
                write_file(&sub.join("s.txt"), "committed inside\n");
                w.repo
                    .git_in(&sub, &["commit", "-q", "-am", "in the submodule"]);
            },
            "sub",
        ),
        (
            "an untracked file in a directory whose mtime was put back",
            |w| {
                let dir = w.wt.join("src");
                let mtime = std::fs::metadata(&dir).unwrap().modified().unwrap();
                write_file(&dir.join("from-a-tarball.txt"), "x\n");
                std::fs::File::open(&dir)
                    .unwrap()
                    .set_modified(mtime)
                    .unwrap();
            },
            "src/from-a-tarball.txt",
        ),
        (
            "a file un-ignored by the default global excludes file",
            |w| {
                write_file(
                    &w.repo.home.join(".config/git/ignore"),
                    "*.tmp\n!keep.tmp\n",
                );
                write_file(&w.wt.join("keep.tmp"), "mine\n");
            },
            "keep.tmp",
        ),
        (
            "a staged file",
            |w| {
                write_file(&w.wt.join("staged.txt"), "staged\n");
                w.repo.git_in(&w.wt, &["add", "staged.txt"]);
            },
            "staged.txt",
        ),
    ];
    for (what, setup, path) in cases {
        let walk = Walk::new(1);
        setup(&walk);
        let before = snapshot_dir(&walk.wt);
        let refusal = walk.repo.wtmux(&["remove", "feat"]).refused();
        assert!(refusal.contains(path), "{what}: {refusal}");
        assert_eq!(
            snapshot_dir(&walk.wt),
            before,
            "{what}: the refusal changed nothing"
        );
        walk.repo.wtmux(&["remove", "feat", "--force"]).ok();
        walk.repo.wtmux(&["restore", "feat"]).ok();
        assert_eq!(snapshot_dir(&walk.wt), before, "{what}: restored as it was");
    }

    // Ignored files a person wrote and empty directories: nothing git counts, so a plain
    // remove goes ahead, and the trash keeps them.
    let walk = Walk::new(1);
    write_file(&walk.wt.join(".gitignore"), ".env\n*.sqlite\nbuild/\n");
    walk.repo.git_in(&walk.wt, &["add", ".gitignore"]);
    walk.repo
        .git_in(&walk.wt, &["commit", "-q", "-m", "ignore"]);
    write_file(&walk.wt.join(".env"), "SECRET=1\n");
    write_file(&walk.wt.join("local.sqlite"), "a database\n");
    write_file(&walk.wt.join("build/out/big.o"), "build output\n");
    std::fs::create_dir_all(walk.wt.join("empty/deeper")).unwrap();
    let before = snapshot_dir(&walk.wt);
    walk.repo.git(&["merge", "-q", "--ff-only", "feat"]);
    let out = walk.repo.wtmux(&["remove", "feat"]).ok();
    assert!(out.contains("saved to the trash"), "{out}");
    assert!(!walk.wt.exists());
    walk.repo.wtmux(&["restore", "feat"]).ok();
    assert_eq!(snapshot_dir(&walk.wt), before);
}

/// A removal killed at each of its steps is finished or undone by the next command; the
/// repository stays consistent (fsck, listing = git's) and the worktree comes back whole.
#[test]
fn kill_9_at_each_step_of_remove_and_restore_loses_nothing() {
    for step in [
        "remove.begin",
        "remove.stopped",
        "trash.before-move",
        "trash.worktree-moved",
        "remove.save-finished",
        "remove.saved",
        "remove.branch",
    ] {
        let repo = TestRepo::new();
        repo.wtmux(&["add", "feat", "--no-window"]).ok();
        let wt = repo.worktree("feat");
        write_file(&wt.join("untracked.txt"), "u\n");
        write_file(&wt.join("src/lib.txt"), "changed\n");
        std::fs::create_dir_all(wt.join("empty")).unwrap();
        let before = snapshot_dir(&wt);
        kill_9_at(&repo, step, &["remove", "feat", "--force"]);
        // A user tidying up in between must not lose the half-moved worktree's admin dir.
        repo.git(&["worktree", "prune"]);

        let next = repo.wtmux(&["list", "--json"]);
        next.ok();
        assert!(
            next.stderr().contains("interrupted removal of feat"),
            "{step}: {}",
            next.stderr()
        );
        assert_eq!(listed(&repo), registered(&repo), "{step}: listing = git's");
        repo.git(&["fsck", "--no-progress"]);
        if wt.exists() {
            assert_eq!(snapshot_dir(&wt), before, "{step}: left in place, whole");
        } else {
            // What the recovery says is where things are.
            assert!(
                next.stderr().contains("saved to the trash as"),
                "{step}: {}",
                next.stderr()
            );
            repo.wtmux(&["restore", "feat"]).ok();
            assert_eq!(snapshot_dir(&wt), before, "{step}: restored whole");
        }
        assert_eq!(listed(&repo), registered(&repo), "{step}");
    }

    for step in ["restore.begin", "restore.admin-moved", "restore.finished"] {
        let repo = TestRepo::new();
        repo.wtmux(&["add", "feat", "--no-window"]).ok();
        let wt = repo.worktree("feat");
        write_file(&wt.join("untracked.txt"), "u\n");
        let before = snapshot_dir(&wt);
        repo.wtmux(&["remove", "feat", "--force"]).ok();
        kill_9_at(&repo, step, &["restore", "feat"]);
        let next = repo.wtmux(&["list", "--json"]);
        next.ok();
        assert!(
            next.stderr().contains("interrupted restore of feat"),
            "{step}: {}",
            next.stderr()
        );
        if !wt.exists() {
            assert!(
                next.stderr().contains("still in the trash"),
                "{step}: {}",
                next.stderr()
            );
            repo.wtmux(&["restore", "feat"]).ok();
        } else {
            assert!(
                !next.stderr().contains("still in the trash"),
                "{step}: {}",
                next.stderr()
            );
        }
        assert_eq!(snapshot_dir(&wt), before, "{step}");
        assert_eq!(listed(&repo), registered(&repo), "{step}");
        repo.git(&["fsck", "--no-progress"]);
    }
}

/// `remove` while the agent is still writing: the agent, and a writer outside its window working
/// in the worktree, are stopped before anything moves; what they wrote is in the save.
#[test]
fn remove_while_the_agent_writes_loses_nothing() {
    let mut repo = TestRepo::new();
    let tmux = repo.start_tmux();
    repo.wtmux(&["add", "feat"]).ok();
    let wt = repo.worktree("feat");
    let window = tmux
        .windows()
        .into_iter()
        .find(|(_, _, tag)| Path::new(tag) == wt)
        .expect("the worktree's window")
        .0;
    // The "agent": writes one line each time the test says so, and records its pid.
    let control = repo.dir.path().join("control.fifo");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&control)
            .status()
            .unwrap()
            .success()
    );
    let script = repo.dir.path().join("agent.sh");
    write_file(
        &script,
        &format!(
            "echo $$ > agent.pid\nwhile read line < '{}'; do echo \"$line\" >> log.txt; done\n",
            control.display()
        ),
    );
    tmux.run(&[
        "send-keys",
        "-t",
        &window,
        &format!("sh '{}'", script.display()),
        "Enter",
    ]);
    // Until its pid is written whole (the file exists, empty, a moment before).
    wait_until(10, "the agent to start", || {
        std::fs::read_to_string(wt.join("agent.pid")).is_ok_and(|p| p.ends_with('\n'))
    });
    let agent_pid = std::fs::read_to_string(wt.join("agent.pid"))
        .unwrap()
        .trim()
        .to_string();
    std::fs::write(&control, "first\n").unwrap();
    wait_until(10, "the agent to write", || {
        std::fs::read_to_string(wt.join("log.txt")).is_ok_and(|t| t == "first\n")
    });

    // A second writer, outside the window (a server the agent started, a shell elsewhere),
    // working inside the worktree: it would write when told.
    let late = repo.dir.path().join("late.fifo");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&late)
            .status()
            .unwrap()
            .success()
    );
    let mut outsider = KillOnDrop::new(
        std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "read x < '{}'; echo late > late.txt",
                late.display()
            ))
            .current_dir(&wt)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );

    let pause = Pause::new(&repo, "remove");
    let remove = spawn_with(
        &repo,
        &repo.root,
        &[("WTMUX_TEST_PAUSE", &pause.at("remove.stopped,remove.saved"))],
        &["remove", "feat", "--force"],
    );
    let mut remove = KillOnDrop::new(remove);
    assert_eq!(pause.reached(remove.child()), "remove.stopped");
    assert!(
        process_gone(&agent_pid),
        "the agent is stopped before the save: {:?}, its pane {:?}",
        std::fs::read_to_string(format!("/proc/{agent_pid}/stat")),
        tmux.try_run(&[
            "list-panes",
            "-a",
            "-F",
            "#{pane_id} #{pane_pid} #{window_id}"
        ])
    );
    let outsider_pid = outsider.child().id().to_string();
    assert!(
        outsider.child().try_wait().unwrap().is_some() || process_gone(&outsider_pid),
        "so is the writer outside the window"
    );
    pause.release();
    assert_eq!(pause.reached(remove.child()), "remove.saved");
    assert!(!wt.exists(), "saved: moved away whole");
    pause.release();
    let out = finish(remove.take(), 60);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    repo.wtmux(&["restore", "feat"]).ok();
    assert_eq!(
        std::fs::read_to_string(wt.join("log.txt")).unwrap(),
        "first\n"
    );
    assert!(
        !wt.join("late.txt").exists(),
        "nothing wrote after the stop"
    );
}

/// What only the worktree referred to — staged content, commits reachable only from its HEAD's
/// reflog — survives `git gc` while the worktree is in the trash.
#[test]
fn the_trash_keeps_what_only_the_worktree_refers_to_through_gc() {
    let repo = TestRepo::new();
    repo.wtmux(&["add", "feat", "--no-window"]).ok();
    let wt = repo.worktree("feat");
    // A commit on a detached HEAD, then back to the branch: only the reflog knows it.
    repo.git_in(&wt, &["checkout", "-q", "--detach"]);
    write_file(&wt.join("detached.txt"), "a commit only the reflog knows\n");
    repo.git_in(&wt, &["add", "detached.txt"]);
    repo.git_in(&wt, &["commit", "-q", "-m", "on a detached head"]);
    let lonely = repo.git_in(&wt, &["rev-parse", "HEAD"]);
    repo.git_in(&wt, &["checkout", "-q", "feat"]);
    // Staged content that exists nowhere else, with other content in the file.
    write_file(&wt.join("staged.txt"), "STAGED ONLY\n");
    repo.git_in(&wt, &["add", "staged.txt"]);
    write_file(&wt.join("staged.txt"), "working version\n");
    let staged = repo.git_in(&wt, &["rev-parse", ":staged.txt"]);

    repo.wtmux(&["remove", "feat", "--force"]).ok();
    repo.git(&[
        "-c",
        "gc.reflogExpire=now",
        "-c",
        "gc.reflogExpireUnreachable=now",
        "gc",
        "-q",
        "--prune=now",
    ]);
    repo.git(&["fsck", "--no-progress"]);
    repo.wtmux(&["restore", "feat"]).ok();
    assert_eq!(
        repo.git_in(&wt, &["cat-file", "-p", &staged]),
        "STAGED ONLY"
    );
    assert_eq!(
        repo.git_in(&wt, &["diff", "--cached", "--name-only"]),
        "staged.txt"
    );
    assert_eq!(repo.git_in(&wt, &["cat-file", "-t", &lonely]), "commit");
    repo.git(&["gc", "-q"]);
}

/// A worktree that holds another registered worktree is not removed, even with --force: the
/// other one would go along with it and lose its admin dir.
#[test]
fn remove_refuses_a_worktree_holding_another() {
    let repo = TestRepo::new();
    repo.wtmux(&["add", "outer", "--no-window"]).ok();
    let outer = repo.worktree("outer");
    let inner = outer.join("inner");
    repo.git(&[
        "worktree",
        "add",
        "-q",
        "-b",
        "innerb",
        inner.to_str().unwrap(),
    ]);
    let before = repo.snapshot();
    let refusal = repo.wtmux(&["remove", "outer", "--force"]).refused();
    assert!(refusal.contains("holds the worktree"), "{refusal}");
    assert_eq!(repo.snapshot(), before);
}

/// Content that changes and changes back while the checks run (A → B → A) is not recorded as
/// checked: the checks may have seen B. The test holds the check at two gates.
#[test]
fn content_changed_and_changed_back_during_checks_is_not_passed() {
    let repo = TestRepo::with_config(
        "[[check]]\nname = \"aba\"\nrun = \"read x < \\\"$WTMUX_MAIN_WORKTREE/../gate1\\\"; grep -q good f.txt; read y < \\\"$WTMUX_MAIN_WORKTREE/../gate2\\\"\"\n",
    );
    repo.wtmux(&["add", "aba", "--no-window"]).ok();
    let wt = repo.worktree("aba");
    write_file(&wt.join("f.txt"), "bad\n");
    repo.git_in(&wt, &["add", "f.txt"]);
    repo.git_in(&wt, &["commit", "-q", "-m", "bad content"]);
    for gate in ["gate1", "gate2"] {
        assert!(
            std::process::Command::new("mkfifo")
                .arg(repo.dir.path().join(gate))
                .status()
                .unwrap()
                .success()
        );
    }
    let check = KillOnDrop::new(spawn_with(&repo, &wt, &[], &["check", "--wait"]));
    // Once the check waits at gate1, its key was taken, on "bad".
    let gate1 = repo.dir.path().join("gate1");
    let mut held = None;
    wait_until(60, "the check to wait at gate1", || {
        use std::os::unix::fs::OpenOptionsExt;
        held = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&gate1)
            .ok();
        held.is_some()
    });
    std::fs::write(wt.join("f.txt"), "good\n").unwrap();
    std::io::Write::write_all(held.as_mut().unwrap(), b"go\n").unwrap();
    drop(held);
    // It saw "good"; the content goes back to "bad" before it ends.
    std::fs::write(wt.join("f.txt"), "bad\n").unwrap();
    std::fs::write(repo.dir.path().join("gate2"), "go\n").unwrap();
    finish(check.take(), 60);
    assert_ne!(
        repo.check_state("aba"),
        "passed",
        "content seen was not the content checked"
    );
    let refusal = repo.wtmux(&["merge", "aba"]).refused();
    assert!(refusal.contains("check"), "{refusal}");
}

/// A skip-worktree entry whose path became a directory: `git status` shows nothing, `git add -A`
/// takes the files below it; the fingerprint follows `git add -A` (found by the long
/// differential run, seed 20261125, step 3507).
#[test]
fn the_fingerprint_follows_git_add_under_a_skip_worktree_path() {
    let repo = TestRepo::new();
    repo.wtmux(&["add", "feat", "--no-window"]).ok();
    let wt = repo.worktree("feat");
    repo.git_in(&wt, &["update-index", "--skip-worktree", "src/lib.txt"]);
    std::fs::remove_file(wt.join("src/lib.txt")).unwrap();
    write_file(&wt.join("src/lib.txt/inner.txt"), "was a file\n");
    let copy = repo.dir.path().join("index-copy");
    let real = repo.git_in(
        &wt,
        &["rev-parse", "--path-format=absolute", "--git-path", "index"],
    );
    std::fs::copy(real, &copy).unwrap();
    let mut git = std::process::Command::new("git");
    common::sandbox(&mut git, &repo.home);
    let out = git
        .current_dir(&wt)
        .env("GIT_INDEX_FILE", &copy)
        .args(["add", "-A"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let mut git = std::process::Command::new("git");
    common::sandbox(&mut git, &repo.home);
    let out = git
        .current_dir(&wt)
        .env("GIT_INDEX_FILE", &copy)
        .arg("write-tree")
        .output()
        .unwrap();
    let expected = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let ours: serde_json::Value =
        serde_json::from_str(&repo.wtmux(&["__content", wt.to_str().unwrap()]).ok()).unwrap();
    assert_eq!(ours["tree"], expected);
}

/// A tracked ignored file whose directory became a symbolic link to a directory holding a file
/// of the same name: to `git add -A` the path is gone (git does not follow links on the way), so
/// the fingerprint neither fails on it nor takes the file behind the link (found by the long
/// differential run, seed 20261209, step 3304).
#[test]
fn the_fingerprint_does_not_follow_a_link_to_a_tracked_ignored_path() {
    let repo = TestRepo::new();
    repo.wtmux(&["add", "feat", "--no-window"]).ok();
    let wt = repo.worktree("feat");
    write_file(&wt.join(".gitignore"), ".env\n");
    write_file(&wt.join(".env/inner.txt"), "secret\n");
    repo.git_in(&wt, &["add", "-f", ".gitignore", ".env/inner.txt"]);
    // The fingerprint index is made once, then reused.
    repo.wtmux(&["__content", wt.to_str().unwrap()]).ok();
    std::fs::remove_dir_all(wt.join(".env")).unwrap();
    write_file(&wt.join("x.up/inner.txt"), "behind the link\n");
    std::os::unix::fs::symlink("x.up", wt.join(".env")).unwrap();
    let copy = repo.dir.path().join("index-copy");
    let real = repo.git_in(
        &wt,
        &["rev-parse", "--path-format=absolute", "--git-path", "index"],
    );
    std::fs::copy(real, &copy).unwrap();
    let git = |args: &[&str]| {
        let mut git = std::process::Command::new("git");
        common::sandbox(&mut git, &repo.home);
        let out = git
            .current_dir(&wt)
            .env("GIT_INDEX_FILE", &copy)
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    git(&["add", "-A"]);
    let expected = git(&["write-tree"]);
    let ours: serde_json::Value =
        serde_json::from_str(&repo.wtmux(&["__content", wt.to_str().unwrap()]).ok()).unwrap();
    assert_eq!(ours["tree"], expected);
}

/// Git trusts an index entry's stat data only for a file older than the index ("racy git"): a
/// same-size rewrite in the tick the index was written is found by comparing content. The
/// fingerprint's copy of the index must keep that, or it gives the old content's tree (found by
/// the long differential run, seed 20261125, step 1033). The tick is made exact here: the index
/// is stamped with the entry's time, the rewrite keeps that time, and ctime is not trusted.
#[test]
fn the_fingerprint_sees_a_same_size_rewrite_in_the_tick_the_index_was_written() {
    let repo = TestRepo::new();
    repo.wtmux(&["add", "feat", "--no-window"]).ok();
    let wt = repo.worktree("feat");
    repo.git_in(&wt, &["config", "core.trustctime", "false"]);
    let file = wt.join("racy.txt");
    // The tick lies seconds back, so a copy of the index made now is plainly later than it.
    let written = std::time::SystemTime::now() - std::time::Duration::from_secs(10);
    write_file(&file, "bbbb\n");
    let index = std::path::PathBuf::from(repo.git_in(
        &wt,
        &["rev-parse", "--path-format=absolute", "--git-path", "index"],
    ));
    let set_time = |path: &Path| {
        std::fs::File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(written)
            .unwrap()
    };
    set_time(&file);
    repo.git_in(&wt, &["add", "racy.txt"]);
    set_time(&index);
    write_file(&file, "cccc\n");
    set_time(&file);
    // What git itself says: the file differs from the index.
    let diff = repo.git_in(&wt, &["--no-optional-locks", "diff", "--name-only"]);
    assert_eq!(diff, "racy.txt", "git sees the rewrite");
    let ours: serde_json::Value =
        serde_json::from_str(&repo.wtmux(&["__content", wt.to_str().unwrap()]).ok()).unwrap();
    // The oracle: an index read from HEAD, without stat data, so git hashes every file.
    let scratch = tempfile::tempdir().unwrap();
    let fresh = scratch.path().join("index");
    let git = |args: &[&str]| {
        let mut git = std::process::Command::new("git");
        common::sandbox(&mut git, &repo.home);
        let out = git
            .current_dir(&wt)
            .env("GIT_INDEX_FILE", &fresh)
            .env("GIT_OBJECT_DIRECTORY", scratch.path())
            .env(
                "GIT_ALTERNATE_OBJECT_DIRECTORIES",
                repo.root.join(".git/objects"),
            )
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    git(&["read-tree", "HEAD"]);
    git(&["add", "-A"]);
    let expected = git(&["write-tree"]);
    assert_eq!(
        ours["tree"], expected,
        "the fingerprint holds the file as it is now"
    );
}

/// `trash --prune` killed while it deletes a save: the save is never listed, or restored, as
/// whole when part of it is gone, and the next prune finishes the deletion.
#[test]
fn kill_9_while_prune_deletes_a_save_never_leaves_half_a_save_listed() {
    for step in ["trash.drop-renamed", "trash.drop-unreferenced"] {
        let repo = TestRepo::new();
        repo.wtmux(&["add", "feat", "--no-window"]).ok();
        write_file(&repo.worktree("feat").join("untracked.txt"), "u\n");
        repo.wtmux(&["remove", "feat", "--force"]).ok();
        kill_9_at(&repo, step, &["trash", "--prune", "--older-than", "0"]);
        let listed = repo.wtmux(&["trash"]);
        listed.ok();
        assert!(
            !listed.stdout().contains("feat"),
            "{step}: {}",
            listed.stdout()
        );
        let restore = repo.wtmux(&["restore", "feat"]);
        assert_ne!(restore.code(), 0, "{step}: nothing whole to restore");
        assert!(!repo.worktree("feat").exists(), "{step}");
        repo.wtmux(&["trash", "--prune"]).ok();
        assert_eq!(
            repo.git(&["for-each-ref", "refs/wtmux/trash/"]),
            "",
            "{step}"
        );
        let left: Vec<_> = std::fs::read_dir(repo.path(".git/wtmux/trash"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert!(left.is_empty(), "{step}: {left:?}");
    }
}

/// `remove` killed while it waits for a process that ignores SIGHUP and SIGTERM: the worktree
/// stays, and the next command finishes the stop instead of leaving a writer without a window.
#[test]
fn kill_9_while_remove_stops_a_stubborn_writer_finishes_the_stop() {
    let repo = TestRepo::new();
    repo.wtmux(&["add", "feat", "--no-window"]).ok();
    let wt = repo.worktree("feat");
    let mut writer = KillOnDrop::new(
        std::process::Command::new("sh")
            .current_dir(&wt)
            .args([
                "-c",
                "trap '' HUP TERM; while :; do echo x > out.txt; sleep 0.05; done",
            ])
            .spawn()
            .unwrap(),
    );
    let pid = writer.child().id().to_string();
    wait_until(10, "the writer writes", || wt.join("out.txt").exists());
    let step = "stop.signalled";
    kill_9_at(&repo, step, &["remove", "feat", "--force"]);
    assert!(!process_gone(&pid), "the writer ignores the signals");
    let next = repo.wtmux(&["list", "--json"]);
    next.ok();
    assert!(
        next.stderr().contains("still at") && next.stderr().contains("stopped)"),
        "{}",
        next.stderr()
    );
    assert!(process_gone(&pid), "the stop was finished");
    assert!(wt.join("out.txt").exists(), "the worktree is where it was");
    assert_eq!(listed(&repo), registered(&repo));
}

/// A worktree of another repository inside a worktree keeps its index, HEAD and refs in that
/// repository: even `--force` refuses rather than keep a directory whose git data can go.
#[test]
fn remove_refuses_a_worktree_holding_another_repositorys_worktree() {
    let repo = TestRepo::new();
    repo.wtmux(&["add", "feat", "--no-window"]).ok();
    let wt = repo.worktree("feat");
    let other = repo.dir.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    repo.git_in(&other, &["init", "-q", "-b", "main"]);
    write_file(&other.join("o.txt"), "o\n");
    repo.git_in(&other, &["add", "o.txt"]);
    repo.git_in(&other, &["commit", "-q", "-m", "o"]);
    let inner = wt.join("otherwt");
    repo.git_in(
        &other,
        &["worktree", "add", "-q", "-b", "ow", inner.to_str().unwrap()],
    );
    write_file(&inner.join("staged.txt"), "s\n");
    repo.git_in(&inner, &["add", "staged.txt"]);
    let before = snapshot_dir(&wt);
    let removed = repo.wtmux(&["remove", "feat", "--force"]);
    assert_ne!(removed.code(), 0);
    assert!(
        removed.stderr().contains("otherwt") && removed.stderr().contains("move it out first"),
        "{}",
        removed.stderr()
    );
    assert_eq!(removed.stderr().lines().count(), 1, "{}", removed.stderr());
    assert_eq!(snapshot_dir(&wt), before, "nothing changed");
    assert_eq!(listed(&repo), registered(&repo));
}

/// A sparse checkout with an untracked file outside its cone: git status lists it, so the
/// listing does, and the fingerprint holds it (`git add` refuses it without `--sparse`).
#[test]
fn a_file_outside_a_sparse_checkouts_cone_is_seen() {
    let repo = TestRepo::new();
    repo.wtmux(&["add", "feat", "--no-window"]).ok();
    let wt = repo.worktree("feat");
    repo.git_in(&wt, &["sparse-checkout", "set", "src"]);
    write_file(&wt.join("outside/new.txt"), "new\n");
    let listing: serde_json::Value =
        serde_json::from_str(&repo.wtmux(&["list", "--json"]).ok()).unwrap();
    let row = listing["worktrees"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["branch"] == "feat")
        .unwrap()
        .clone();
    assert_eq!(row["changed"], 1, "{row}");
    let ours: serde_json::Value =
        serde_json::from_str(&repo.wtmux(&["__content", wt.to_str().unwrap()]).ok()).unwrap();
    let tree = ours["tree"].as_str().unwrap();
    let objects = repo.path(".git/wtmux/content");
    let day = std::fs::read_dir(&objects)
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    let mut git = std::process::Command::new("git");
    common::sandbox(&mut git, &repo.home);
    let out = git
        .current_dir(&wt)
        .env("GIT_ALTERNATE_OBJECT_DIRECTORIES", day.join("objects"))
        .args(["ls-tree", "-r", "--name-only", tree])
        .output()
        .unwrap();
    let names = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(names.lines().any(|l| l == "outside/new.txt"), "{names}");
}

/// The trash on another filesystem (its directory a symlink to /dev/shm): the move is a copy,
/// then the source goes. A source that cannot be deleted whole (a file marked immutable) must
/// not undo the complete copy nor leave half a worktree at its path; the round trip gives back
/// every file.
#[test]
fn a_move_across_filesystems_keeps_everything_even_when_the_source_resists() {
    let repo = TestRepo::new();
    repo.wtmux(&["add", "feat", "--no-window"]).ok();
    let wt = repo.worktree("feat");
    write_file(&wt.join("untracked.txt"), "u\n");
    write_file(&wt.join("stuck/immutable.txt"), "i\n");
    let shm = tempfile::tempdir_in("/dev/shm").unwrap();
    let trash = repo.path(".git/wtmux/trash");
    let _ = std::fs::remove_dir_all(&trash);
    std::fs::create_dir_all(trash.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(shm.path(), &trash).unwrap();
    let before = snapshot_dir(&wt);
    let chattr = |flag: &str, path: &Path| {
        let ok = std::process::Command::new("chattr")
            .arg(flag)
            .arg(path)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "chattr {flag} {}", path.display());
    };
    let immutable = wt.join("stuck/immutable.txt");
    chattr("+i", &immutable);
    let removed = repo.wtmux(&["remove", "feat", "--force"]);
    // Whatever the outcome, the file system gets its flag back so the temp dirs can go.
    let leftovers: Vec<_> = std::fs::read_dir(repo.path(".worktrees"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    for left in &leftovers {
        let stuck = left.join("stuck/immutable.txt");
        if stuck.exists() {
            chattr("-i", &stuck);
        }
    }
    removed.ok();
    assert!(!wt.exists(), "nothing half at the worktree's path");
    assert_eq!(listed(&repo), registered(&repo));
    repo.wtmux(&["restore", "feat"]).ok();
    assert_eq!(snapshot_dir(&wt), before, "restored whole");
    assert_eq!(listed(&repo), registered(&repo));
    // A leftover under wtmux's hidden name does not make worktree_dir look foreign.
    repo.wtmux(&["remove", "feat", "--force"]).ok();
    repo.wtmux(&["add", "other", "--no-window"]).ok();
}

/// With an assume-unchanged or skip-worktree entry (a sparse checkout has thousands), the
/// fingerprint index is reused like any other: an untracked file is hashed once, not on every
/// look. Seen through the index file: reused and unchanged, git does not rewrite it.
#[test]
fn a_flagged_index_does_not_make_every_look_hash_untracked_files_again() {
    let repo = TestRepo::new();
    repo.wtmux(&["add", "feat", "--no-window"]).ok();
    let wt = repo.worktree("feat");
    repo.git_in(&wt, &["update-index", "--skip-worktree", "src/lib.txt"]);
    write_file(&wt.join("big.bin"), &"x".repeat(1 << 20));
    // Every file written seconds ago, so git has no reason to look at one again (a file as new
    // as the index holding it is compared again, and the index rewritten: racy git).
    let mut dirs = vec![wt.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            if entry.file_type().unwrap().is_dir() {
                dirs.push(entry.path());
            } else if entry.file_name() != ".git" {
                std::fs::File::options()
                    .write(true)
                    .open(entry.path())
                    .unwrap()
                    .set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(10))
                    .unwrap();
            }
        }
    }
    let content = || repo.wtmux(&["__content", wt.to_str().unwrap()]).ok();
    let first = content();
    let index_file = || {
        use std::os::unix::fs::MetadataExt;
        let day = std::fs::read_dir(repo.path(".git/wtmux/content"))
            .unwrap()
            .flatten()
            .next()
            .unwrap()
            .path();
        std::fs::read_dir(day.join("index"))
            .unwrap()
            .flatten()
            .filter(|e| e.path().extension().is_none())
            .map(|e| (e.path(), e.metadata().unwrap().ino()))
            .collect::<Vec<_>>()
    };
    let before = index_file();
    assert_eq!(before.len(), 1, "{before:?}");
    assert_eq!(content(), first);
    assert_eq!(
        index_file(),
        before,
        "the fingerprint index was reused as it was"
    );
}
