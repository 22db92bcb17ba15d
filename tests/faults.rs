//! Fault tests: two operations at once, `kill -9` at each step, hostile names, a missing base.
//! Races are made deterministic with the pause points of `WTMUX_TEST_PAUSE` (a FIFO the test
//! holds), never with sleeps.

mod common;

use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use common::{Pause, Rng, TestRepo, finish, process_gone, spawn_with, wait_until, write_file};

// ---------------------------------------------------------------------------------------------
// Checks of removed worktrees

const HANG_IN_MARKED: &str = "check_jobs = 1\n[[check]]\nname = \"hang\"\nrun = \"if test -f hang; then echo $$ > \\\"$WTMUX_MAIN_WORKTREE/../$WTMUX_BRANCH.pid\\\"; exec sleep 600; fi\"\n";

fn hung_check(repo: &TestRepo, branch: &str) -> String {
    repo.wtmux(&["add", branch]).ok();
    write_file(&repo.worktree(branch).join("hang"), "x");
    repo.wtmux(&["check", branch]).ok();
    let pid_file = repo.dir.path().join(format!("{branch}.pid"));
    wait_until(20, "the hung check to start", || pid_file.exists());
    wait_until(5, "its pid to be written", || {
        std::fs::read_to_string(&pid_file).is_ok_and(|t| t.ends_with('\n'))
    });
    std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .to_string()
}

#[test]
fn a_hung_check_of_a_vanished_worktree_frees_its_slot() {
    let repo = TestRepo::with_config(HANG_IN_MARKED);
    let pid = hung_check(&repo, "doomed");
    repo.wtmux(&["add", "other"]).ok();
    std::fs::remove_dir_all(repo.worktree("doomed")).unwrap();
    // With check_jobs = 1, this waits for the slot the hung check held.
    let child = repo.spawn_wtmux(&repo.worktree("other"), &["check", "--wait"]);
    let out = finish(child, 60);
    assert!(out.status.success(), "{out:?}");
    wait_until(10, "the hung check's process to be gone", || {
        process_gone(&pid)
    });
}

#[test]
fn stop_running_stops_a_check_and_frees_its_slot() {
    let repo = TestRepo::with_config(HANG_IN_MARKED);
    let pid = hung_check(&repo, "busy");
    repo.wtmux(&["add", "other"]).ok();
    let project = wtmux::core::Project::discover_with(&repo.root, None, None).unwrap();
    let path = std::fs::canonicalize(repo.worktree("busy")).unwrap();
    assert!(wtmux::core::check::stop_running(&project, &path).unwrap());
    assert!(
        process_gone(&pid) || {
            wait_until(10, "the check's process to be gone", || process_gone(&pid));
            true
        }
    );
    assert_ne!(repo.check_state("busy"), "running");
    let child = repo.spawn_wtmux(&repo.worktree("other"), &["check", "--wait"]);
    assert!(finish(child, 60).status.success());
    // Nothing running: nothing to stop.
    assert!(!wtmux::core::check::stop_running(&project, &path).unwrap());
}

// ---------------------------------------------------------------------------------------------
// Merges

/// A branch with a worktree and one commit per file, its checks run.
fn feature(repo: &TestRepo, branch: &str, files: &[(&str, &str)]) -> PathBuf {
    repo.wtmux(&["add", branch, "--no-window"]).ok();
    let path = repo.worktree(&branch.replace('/', "-"));
    for (file, text) in files {
        write_file(&path.join(file), text);
        repo.git_in(&path, &["add", "-A"]);
        repo.git_in(&path, &["commit", "-q", "-m", &format!("{branch}: {file}")]);
    }
    if repo.root.join(".wtmux.toml").exists()
        && std::fs::read_to_string(repo.root.join(".wtmux.toml"))
            .unwrap()
            .contains("[[check]]")
    {
        repo.wtmux_in(&path, &["check", "--wait"]).ok();
    }
    path
}

/// A child's stderr, read as it comes.
struct Stderr {
    lines: std::sync::mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Stderr {
    fn of(child: &mut Child) -> Stderr {
        use std::io::BufRead;
        let pipe = child.stderr.take().unwrap();
        let (send, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(pipe).lines().map_while(|l| l.ok()) {
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        Stderr {
            lines,
            seen: Vec::new(),
        }
    }

    fn wait_for(&mut self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(line) = self.seen.iter().find(|l| l.contains(text)) {
                return line.clone();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(_) => panic!("no {text:?} on stderr; saw {:?}", self.seen),
            }
        }
    }

    fn rest(mut self) -> String {
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(30)) {
            self.seen.push(line);
        }
        self.seen.join("\n")
    }
}

fn rev(repo: &TestRepo, name: &str) -> String {
    repo.git(&["rev-parse", name])
}

fn files_of(repo: &TestRepo, commit: &str) -> Vec<String> {
    repo.git(&["ls-tree", "-r", "--name-only", commit])
        .lines()
        .map(str::to_string)
        .collect()
}

/// Two merges started at once: the second waits for the first (saying for whom), then plans
/// against the base the first left.
fn race(repo: &TestRepo, first: &str, second: &str, pause_at: &str) -> (Output2, Output2) {
    let pause = Pause::new(repo, "race");
    let mut one = spawn_with(
        repo,
        &repo.root,
        &[("WTMUX_TEST_PAUSE", &pause.at(pause_at))],
        &["merge", first],
    );
    assert_eq!(pause.reached(&mut one), pause_at);
    let mut two = spawn_with(repo, &repo.root, &[], &["merge", second]);
    let mut two_err = Stderr::of(&mut two);
    let waiting = two_err.wait_for("waiting for");
    assert!(
        waiting.contains(&format!("merge of {first}")) && waiting.contains("pid"),
        "{waiting}"
    );
    // While the first holds the lock, the popup's merge refuses at once, naming it.
    let project = wtmux::core::Project::discover_with(&repo.root, None, None).unwrap();
    let busy = wtmux::core::recovery::try_acquire(&project, &format!("merge {second}"))
        .unwrap_err()
        .to_string();
    assert!(
        busy.starts_with("another wtmux operation is running: merge of"),
        "{busy}"
    );
    pause.release();
    let one = finish(one, 120);
    let two_out = finish_keeping_stderr(two, two_err);
    (
        Output2 {
            code: one.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&one.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&one.stderr).into_owned(),
        },
        two_out,
    )
}

struct Output2 {
    code: i32,
    stdout: String,
    stderr: String,
}

fn finish_keeping_stderr(mut child: Child, stderr: Stderr) -> Output2 {
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the second merge hangs");
        std::thread::sleep(Duration::from_millis(20));
    }
    let code = child.wait().unwrap().code().unwrap_or(-1);
    let mut stdout = String::new();
    use std::io::Read;
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    Output2 {
        code,
        stdout,
        stderr: stderr.rest(),
    }
}

const CHECKED: &str = "[[check]]\nname = \"lib\"\nrun = \"test -f src/lib.txt\"\n";

#[test]
fn two_merges_of_conflicting_siblings_in_both_gate_modes() {
    for gate in ["content", "merged"] {
        let repo = TestRepo::with_config(&format!("gate = \"{gate}\"\n{CHECKED}"));
        feature(&repo, "a", &[("src/lib.txt", "a's version\n")]);
        feature(&repo, "b", &[("src/lib.txt", "b's version\n")]);
        let (one, two) = race(&repo, "a", "b", "merge.built");
        assert_eq!(one.code, 0, "{gate}: {} {}", one.stdout, one.stderr);
        assert_eq!(two.code, 1, "{gate}: {} {}", two.stdout, two.stderr);
        assert!(
            two.stderr.contains("would conflict in 1 file: src/lib.txt"),
            "{gate}: {}",
            two.stderr
        );
        assert_eq!(
            std::fs::read_to_string(repo.path("src/lib.txt")).unwrap(),
            "a's version\n"
        );
        assert!(repo.branches().contains(&"b".to_string()), "b stays");
        assert_eq!(repo.git(&["status", "--porcelain"]), "");
    }
}

#[test]
fn siblings_fine_alone_that_fail_together_never_reach_base_under_gate_merged() {
    let repo = TestRepo::with_config(
        "gate = \"merged\"\n[[check]]\nname = \"not-both\"\nrun = \"! { test -f a.txt && test -f b.txt; }\"\n",
    );
    feature(&repo, "a", &[("a.txt", "a")]);
    feature(&repo, "b", &[("b.txt", "b")]);
    // The first is paused after its own result passed, before base moves.
    let (one, two) = race(&repo, "a", "b", "merge.gated");
    assert_eq!(one.code, 0, "{} {}", one.stdout, one.stderr);
    assert_eq!(two.code, 1, "{} {}", two.stdout, two.stderr);
    assert!(
        two.stderr
            .contains("check \"not-both\" failed on the merge result"),
        "{}",
        two.stderr
    );
    assert!(repo.path("a.txt").exists() && !repo.path("b.txt").exists());
    // Base holds only content that passes its own check.
    repo.wtmux(&["check", "--wait"]).ok();
    assert_no_scratch(&repo);
}

fn assert_no_scratch(repo: &TestRepo) {
    let worktrees = repo.worktree_paths();
    assert!(
        !worktrees.iter().any(|p| p.contains("/wtmux/scratch/")),
        "a scratch worktree stayed registered: {worktrees:?}"
    );
}

/// `(path, branch)` of every worktree as git lists it.
fn git_worktrees(repo: &TestRepo) -> Vec<(String, Option<String>)> {
    let mut all = Vec::new();
    for block in repo.git(&["worktree", "list", "--porcelain"]).split("\n\n") {
        let path = block
            .lines()
            .find_map(|l| l.strip_prefix("worktree "))
            .unwrap()
            .to_string();
        let branch = block
            .lines()
            .find_map(|l| l.strip_prefix("branch refs/heads/"))
            .map(str::to_string);
        all.push((path, branch));
    }
    all.sort();
    all
}

/// What the next command must leave after any interruption: a repository git finds sound,
/// no journal, no scratch worktree, a clean base worktree, and a listing that matches git.
fn assert_consistent(repo: &TestRepo, context: &str) {
    let fsck = std::process::Command::new("git")
        .args(["fsck", "--no-dangling", "--no-progress"])
        .current_dir(&repo.root)
        .output()
        .unwrap();
    assert!(
        fsck.status.success() && fsck.stdout.is_empty(),
        "{context}: git fsck: {}{}",
        String::from_utf8_lossy(&fsck.stdout),
        String::from_utf8_lossy(&fsck.stderr)
    );
    let journal = repo.path(".git/wtmux/journal");
    let left: Vec<_> = std::fs::read_dir(&journal)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{context}: journals left: {left:?}");
    assert_no_scratch(repo);
    assert_eq!(
        repo.git(&["status", "--porcelain"]),
        "",
        "{context}: base worktree"
    );
    let listing = repo.list();
    let mut listed: Vec<(String, Option<String>)> = listing["worktrees"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            (
                w["path"].as_str().unwrap().to_string(),
                w["branch"].as_str().map(str::to_string),
            )
        })
        .collect();
    listed.sort();
    assert_eq!(listed, git_worktrees(repo), "{context}: list vs git");
}

fn deploys(repo: &TestRepo) -> usize {
    std::fs::read_to_string(repo.dir.path().join("deploys.txt"))
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

const BEFORE_SWAP: &[&str] = &[
    "merge.begin",
    "merge.built",
    "merge.gate",
    "gate.scratch",
    "merge.gated",
];
const AFTER_SWAP: &[&str] = &[
    "merge.swap-unrecorded",
    "merge.swapped",
    "merge.followed",
    "merge.post-merge",
    "merge.cleaned",
];

/// `kill -9` of `wtmux merge --strategy <strategy>` at `step`, then the next command.
fn kill_merge_at(strategy: &str, step: &str, commit: bool) {
    let context = format!("{strategy} killed at {step}");
    let repo = TestRepo::with_config(&format!(
        "gate = \"merged\"\npost_merge = \"echo deployed >> ../deploys.txt\"\n{CHECKED}"
    ));
    let path = feature(&repo, "feat", &[("f1.txt", "1"), ("f2.txt", "2")]);
    // Base moves on, so that a merge makes a merge commit and a rebase rewrites.
    repo.write("base.txt", "moved");
    repo.commit_all("base moves");
    let mut args = vec!["merge", "feat", "--strategy", strategy];
    if commit {
        write_file(&path.join("f3.txt"), "3");
        repo.wtmux_in(&path, &["check", "--wait"]).ok();
        args.extend(["--commit", "f3"]);
    }
    let (old_base, old_tip) = (rev(&repo, "main"), rev(&repo, "refs/heads/feat"));
    let pause = Pause::new(&repo, "kill");
    let mut child = spawn_with(
        &repo,
        &repo.root,
        &[("WTMUX_TEST_PAUSE", &pause.at(step))],
        &args,
    );
    assert_eq!(pause.reached(&mut child), step, "{context}");
    child.kill().unwrap();
    child.wait().unwrap();

    let next = repo.wtmux(&["list", "--json"]);
    next.ok();
    let said: Vec<String> = next
        .stderr()
        .lines()
        .filter(|l| l.contains("interrupted merge of feat into main"))
        .map(str::to_string)
        .collect();
    assert_eq!(said.len(), 1, "{context}: {}", next.stderr());
    let finished = AFTER_SWAP.contains(&step) || step == "merge.branch-moved";
    assert!(
        said[0].contains(if finished { "finished" } else { "rolled back" }),
        "{context}: {}",
        said[0]
    );
    assert_consistent(&repo, &context);
    assert!(
        !repo.wtmux(&["list"]).stderr().contains("interrupted"),
        "{context}: recovered once"
    );

    if finished {
        let files = files_of(&repo, "main");
        for file in ["f1.txt", "f2.txt", "base.txt"] {
            assert!(files.contains(&file.to_string()), "{context}: {files:?}");
        }
        assert!(!repo.branches().contains(&"feat".to_string()), "{context}");
        assert!(!path.exists(), "{context}: cleaned up");
        let ran = if step == "merge.post-merge" { 0 } else { 1 };
        assert_eq!(deploys(&repo), ran, "{context}: post_merge at most once");
        if strategy != "merge" {
            assert_eq!(repo.git(&["rev-list", "--merges", "main"]), "", "{context}");
        }
    } else {
        assert_eq!(rev(&repo, "main"), old_base, "{context}: base unchanged");
        if commit {
            assert!(said[0].contains("stays"), "{context}: {}", said[0]);
        } else {
            assert_eq!(
                rev(&repo, "refs/heads/feat"),
                old_tip,
                "{context}: the branch is as it was"
            );
        }
        assert!(path.exists(), "{context}");
        assert_eq!(deploys(&repo), 0, "{context}");
        // And the retry goes through.
        repo.wtmux(&["merge", "feat", "--strategy", strategy]).ok();
        assert_eq!(deploys(&repo), 1, "{context}");
        assert_consistent(&repo, &format!("{context}, retried"));
    }
}

fn kill_at_every_step(strategy: &str, extra: &[&str]) {
    for step in BEFORE_SWAP.iter().chain(AFTER_SWAP).chain(extra) {
        kill_merge_at(strategy, step, false);
    }
}

#[test]
fn kill_9_at_every_step_of_a_merge_commit() {
    kill_at_every_step("merge", &[]);
    kill_merge_at("merge", "merge.committed", true);
}

#[test]
fn kill_9_at_every_step_of_a_squash_merge() {
    kill_at_every_step("squash", &[]);
}

#[test]
fn kill_9_at_every_step_of_a_rebase_merge() {
    kill_at_every_step("rebase", &["merge.branch-moved"]);
}

#[test]
fn kill_9_while_the_gate_checks_the_result_stops_that_check_and_unregisters_its_worktree() {
    // The check blocks on a FIFO only where the test asks it to (the merge's own environment).
    let repo = TestRepo::with_config(
        "gate = \"merged\"\n[[check]]\nname = \"held\"\nrun = \"test -z \\\"$HOLD\\\" || { echo $$ > \\\"$HOLD\\\"; cat \\\"$HOLD\\\" > /dev/null; }\"\n",
    );
    feature(&repo, "feat", &[("f1.txt", "1")]);
    repo.write("base.txt", "moved");
    repo.commit_all("base moves");
    let old_base = rev(&repo, "main");
    let pause = Pause::new(&repo, "hold");
    let hold = pause.fifo.display().to_string();
    let mut child = spawn_with(&repo, &repo.root, &[("HOLD", &hold)], &["merge", "feat"]);
    let check_pid = pause.reached(&mut child);
    assert!(
        repo.worktree_paths()
            .iter()
            .any(|p| p.contains("/wtmux/scratch/"))
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let next = repo.wtmux(&["list"]);
    assert!(
        next.stderr()
            .contains("interrupted merge of feat into main"),
        "{}",
        next.stderr()
    );
    assert!(next.stderr().contains("rolled back"), "{}", next.stderr());
    assert_consistent(&repo, "killed in the gate's check");
    assert_eq!(rev(&repo, "main"), old_base);
    wait_until(10, "the orphaned check to be stopped", || {
        process_gone(&check_pid)
    });
}

// ---------------------------------------------------------------------------------------------
// Exact names

#[test]
fn a_tag_named_like_the_branch_or_base_never_wins() {
    for strategy in ["merge", "squash", "rebase"] {
        let repo = TestRepo::with_config(CHECKED);
        // Tags named like base and like the branch, on a commit nobody merges.
        repo.git(&["checkout", "-q", "-b", "stray"]);
        repo.write("stray.txt", "stray");
        repo.commit_all("stray commit");
        repo.git(&["tag", "main"]);
        repo.git(&["tag", "v1"]);
        repo.git(&["checkout", "-q", "main"]);
        repo.git(&["branch", "-q", "-D", "stray"]);
        feature(&repo, "v1", &[("v1.txt", "1")]);
        repo.write("base.txt", "moved");
        repo.commit_all("base moves");
        let out = repo.wtmux(&["merge", "v1", "--strategy", strategy]).ok();
        assert!(out.contains("merged v1 into main"), "{out}");
        let files = files_of(&repo, "refs/heads/main");
        assert!(
            files.contains(&"v1.txt".to_string()) && files.contains(&"base.txt".to_string()),
            "{strategy}: {files:?}"
        );
        assert!(
            !files.contains(&"stray.txt".to_string()),
            "{strategy}: {files:?}"
        );
        assert_consistent(&repo, strategy);
    }
}

#[test]
fn a_branch_name_never_resolves_to_another_branchs_directory() {
    let repo = TestRepo::new();
    feature(&repo, "a/b", &[("ab.txt", "slash")]);
    // A branch a-b without a worktree; a/b's directory is called a-b.
    repo.git(&["branch", "a-b"]);
    repo.git_in(&repo.root, &["checkout", "-q", "a-b"]);
    repo.write("dash.txt", "dash");
    repo.commit_all("a-b's commit");
    repo.git(&["checkout", "-q", "main"]);
    let a_slash_b = rev(&repo, "refs/heads/a/b");

    let err = repo.wtmux(&["remove", "a-b"]).refused();
    assert!(err.contains("no worktree for \"a-b\""), "{err}");
    repo.wtmux(&["merge", "a-b"]).ok();
    assert!(repo.path("dash.txt").exists() && !repo.path("ab.txt").exists());
    assert_eq!(rev(&repo, "refs/heads/a/b"), a_slash_b, "a/b untouched");
    assert!(repo.worktree("a-b").exists());
}

#[test]
fn a_name_that_fits_several_worktrees_is_refused_with_the_candidates() {
    let repo = TestRepo::new();
    feature(&repo, "x/y", &[("xy.txt", "1")]);
    // A worktree made with plain git elsewhere, whose directory is also called x-y.
    repo.git(&["branch", "other"]);
    let elsewhere = repo.dir.path().join("elsewhere/x-y");
    repo.git(&[
        "worktree",
        "add",
        "-q",
        elsewhere.to_str().unwrap(),
        "other",
    ]);
    let before = repo.snapshot();
    for command in [
        &["remove", "x-y", "--force"][..],
        &["merge", "x-y"],
        &["open", "x-y"],
    ] {
        let err = repo.wtmux(command).refused();
        assert!(err.contains("\"x-y\" is ambiguous"), "{err}");
        assert!(err.contains("x/y (") && err.contains("other ("), "{err}");
    }
    assert_eq!(repo.snapshot(), before);
    // The branch name itself is exact.
    repo.wtmux(&["remove", "x/y", "--force"]).ok();
}

// ---------------------------------------------------------------------------------------------
// A missing base

#[test]
fn a_missing_or_misspelled_base_is_refused_by_every_command_that_needs_it() {
    let repo = TestRepo::with_config("base = \"mian\"\n");
    repo.git(&["branch", "feat"]);
    let path = repo.worktree("feat");
    repo.git(&["worktree", "add", "-q", path.to_str().unwrap(), "feat"]);
    write_file(&path.join("work.txt"), "unmerged");
    repo.git_in(&path, &["add", "-A"]);
    repo.git_in(&path, &["commit", "-q", "-m", "unmerged work"]);
    let before = repo.snapshot();
    for command in [
        &["remove", "feat"][..],
        &["merge", "feat"],
        &["add", "other"],
        &["conflicts"],
    ] {
        let err = repo.wtmux(command).refused();
        assert!(
            err.contains("the base branch \"mian\" does not exist"),
            "{command:?}: {err}"
        );
    }
    assert_eq!(repo.snapshot(), before, "nothing changed");
    assert!(repo.branches().contains(&"feat".to_string()));
    // Listing still works (and says which base it compares with).
    assert_eq!(repo.list()["base"], "mian");
}

#[test]
fn a_base_without_commits_is_refused_too() {
    let repo = TestRepo::new();
    repo.wtmux(&["add", "feat"]).ok();
    let path = repo.worktree("feat");
    write_file(&path.join("work.txt"), "unmerged");
    repo.git_in(&path, &["add", "-A"]);
    repo.git_in(&path, &["commit", "-q", "-m", "unmerged work"]);
    repo.git(&["checkout", "-q", "--orphan", "fresh"]);
    let err = repo.wtmux(&["remove", "feat"]).refused();
    assert!(err.contains("\"fresh\" does not exist"), "{err}");
    assert!(path.exists());
}

// ---------------------------------------------------------------------------------------------
// Operations stopped half way

#[test]
fn a_stopped_merge_or_rebase_is_shown_and_never_committed() {
    let repo = TestRepo::with_config(CHECKED);
    let path = feature(&repo, "feat", &[("src/lib.txt", "feature\n")]);
    repo.write("src/lib.txt", "base\n");
    repo.commit_all("base edits the same line");
    // The user merges base into the branch by hand and stops at the conflict.
    let mut merge = std::process::Command::new("git");
    common::sandbox(&mut merge, &repo.home);
    let merge = merge
        .args(["merge", "main"])
        .current_dir(&path)
        .output()
        .unwrap();
    assert!(!merge.status.success(), "{merge:?}");
    let row = repo.row("feat");
    assert_eq!(row["operation"]["kind"], "merge", "{row}");
    assert_eq!(row["operation"]["conflicted"], 1, "{row}");
    assert!(
        repo.wtmux(&["list"])
            .ok()
            .contains("merging: 1 conflicted file")
    );
    assert_eq!(repo.row("main")["operation"], serde_json::Value::Null);
    let head = rev(&repo, "refs/heads/feat");
    let err = repo
        .wtmux(&["merge", "feat", "--commit", "resolve"])
        .refused();
    assert!(
        err.contains("a merge is in progress with 1 conflicted file"),
        "{err}"
    );
    assert!(
        !err.contains("--commit"),
        "never suggests committing: {err}"
    );
    assert_eq!(rev(&repo, "refs/heads/feat"), head, "nothing committed");

    repo.git_in(&path, &["merge", "--abort"]);
    let mut rebase = std::process::Command::new("git");
    common::sandbox(&mut rebase, &repo.home);
    let rebase = rebase
        .args(["rebase", "main"])
        .current_dir(&path)
        .output()
        .unwrap();
    assert!(!rebase.status.success(), "{rebase:?}");
    assert_eq!(repo.row("feat")["operation"]["kind"], "rebase");
    let err = repo.wtmux(&["merge", "feat"]).refused();
    assert!(err.contains("a rebase is in progress"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// add

/// `kill -9` of `wtmux add` at `step` (a pause point, or "post_create": inside that command).
fn kill_add_at(step: &str, existing_branch: bool) {
    let context = format!("add killed at {step} (existing branch: {existing_branch})");
    let repo = TestRepo::with_config(
        "post_create = [\"test -z \\\"$HOLD\\\" || { echo $$ > \\\"$HOLD\\\"; cat \\\"$HOLD\\\" > /dev/null; }\"]\n",
    );
    if existing_branch {
        repo.git(&["branch", "feat"]);
    }
    let before = repo.snapshot();
    let pause = Pause::new(&repo, "add");
    let fifo = pause.fifo.display().to_string();
    let env: Vec<(&str, String)> = if step == "post_create" {
        vec![("HOLD", fifo)]
    } else {
        vec![("WTMUX_TEST_PAUSE", pause.at(step))]
    };
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut child = spawn_with(&repo, &repo.root, &env, &["add", "feat", "--no-window"]);
    let reached = pause.reached(&mut child);
    child.kill().unwrap();
    child.wait().unwrap();

    let next = repo.wtmux(&["list", "--json"]);
    next.ok();
    if step == "post_create" {
        wait_until(10, "the orphaned post_create to be stopped", || {
            process_gone(&reached)
        });
    }
    let stderr = next.stderr();
    let said: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("interrupted add of feat"))
        .collect();
    assert_eq!(said.len(), 1, "{context}: {}", next.stderr());
    assert_consistent(&repo, &context);
    if step == "add.provisioned" {
        assert!(said[0].contains("nothing to do"), "{context}: {}", said[0]);
        assert!(repo.worktree("feat").exists());
        return;
    }
    assert!(said[0].contains("rolled back"), "{context}: {}", said[0]);
    assert_eq!(repo.snapshot(), before, "{context}: as before the add");
    assert!(!repo.worktree("feat").exists(), "{context}");
    repo.wtmux(&["add", "feat", "--no-window"]).ok();
}

#[test]
fn kill_9_at_every_step_of_add() {
    for existing in [false, true] {
        for step in [
            "add.begin",
            "add.worktree-added",
            "post_create",
            "add.provisioned",
        ] {
            kill_add_at(step, existing);
        }
    }
}

#[test]
fn an_interrupted_recovery_is_recovered_again_and_post_merge_still_runs_at_most_once() {
    let repo = TestRepo::with_config(&format!(
        "post_merge = \"echo deployed >> ../deploys.txt\"\n{CHECKED}"
    ));
    feature(&repo, "feat", &[("f1.txt", "1")]);
    let pause = Pause::new(&repo, "twice");
    let mut merge = spawn_with(
        &repo,
        &repo.root,
        &[("WTMUX_TEST_PAUSE", &pause.at("merge.followed"))],
        &["merge", "feat"],
    );
    pause.reached(&mut merge);
    merge.kill().unwrap();
    merge.wait().unwrap();
    // The recovery itself dies once it has recorded that post_merge starts.
    let mut recovery = spawn_with(
        &repo,
        &repo.root,
        &[("WTMUX_TEST_PAUSE", &pause.at("recover.merge.post-merge"))],
        &["list"],
    );
    pause.reached(&mut recovery);
    recovery.kill().unwrap();
    recovery.wait().unwrap();
    let next = repo.wtmux(&["list", "--json"]);
    next.ok();
    assert!(
        next.stderr().contains("finished") && next.stderr().contains("post_merge was interrupted"),
        "{}",
        next.stderr()
    );
    assert_eq!(deploys(&repo), 0, "never twice, even across recoveries");
    assert_consistent(&repo, "recovery killed");
    assert!(!repo.branches().contains(&"feat".to_string()), "cleaned up");
    assert!(files_of(&repo, "main").contains(&"f1.txt".to_string()));
}

#[test]
fn base_moved_by_hand_during_the_merge_is_never_overwritten() {
    let repo = TestRepo::with_config(&format!("gate = \"merged\"\n{CHECKED}"));
    feature(&repo, "feat", &[("f1.txt", "1")]);
    let tip = rev(&repo, "refs/heads/feat");
    let pause = Pause::new(&repo, "hand");
    let mut merge = spawn_with(
        &repo,
        &repo.root,
        &[("WTMUX_TEST_PAUSE", &pause.at("merge.gated"))],
        &["merge", "feat"],
    );
    pause.reached(&mut merge);
    // Somebody commits on base by hand while the merge result is being checked.
    repo.write("by-hand.txt", "mine");
    repo.commit_all("by hand");
    let by_hand = rev(&repo, "main");
    pause.release();
    let out = finish(merge, 60);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("main moved while the merge was prepared"),
        "{stderr}"
    );
    assert_eq!(rev(&repo, "main"), by_hand, "the commit by hand stands");
    assert_eq!(rev(&repo, "refs/heads/feat"), tip);
    assert_consistent(&repo, "base moved by hand");
}

#[test]
fn when_the_base_worktree_cannot_follow_the_undo_takes_back_only_this_merge() {
    let repo = TestRepo::with_config(CHECKED);
    feature(&repo, "feat", &[("f1.txt", "from the branch")]);
    let old_base = rev(&repo, "main");
    let pause = Pause::new(&repo, "undo");
    let mut merge = spawn_with(
        &repo,
        &repo.root,
        &[("WTMUX_TEST_PAUSE", &pause.at("merge.swap-unrecorded"))],
        &["merge", "feat"],
    );
    pause.reached(&mut merge);
    // Base has moved; now an untracked file appears where the merge would write.
    write_file(&repo.path("f1.txt"), "untracked, the user's");
    pause.release();
    let out = finish(merge, 60);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("could not follow"), "{stderr}");
    assert!(stderr.contains("main is back at"), "{stderr}");
    assert_eq!(rev(&repo, "main"), old_base);
    assert_eq!(
        std::fs::read_to_string(repo.path("f1.txt")).unwrap(),
        "untracked, the user's"
    );
    assert!(repo.branches().contains(&"feat".to_string()));
}

// ---------------------------------------------------------------------------------------------
// The off-line results against git's own merge and rebase

/// Commits `count` random edits in `dir`: lines changed, files added and deleted.
fn random_commits(repo: &TestRepo, dir: &Path, rng: &mut Rng, count: usize, who: &str) {
    for n in 0..count {
        let file = dir.join(format!("f{}.txt", rng.below(4)));
        match rng.below(6) {
            0 if file.exists() => std::fs::remove_file(&file).unwrap(),
            _ => {
                let mut lines: Vec<String> = std::fs::read_to_string(&file)
                    .unwrap_or_else(|_| (0..8).map(|i| format!("line {i}\n")).collect())
                    .lines()
                    .map(str::to_string)
                    .collect();
                let at = rng.below(lines.len() + 1);
                if at < lines.len() && rng.below(2) == 0 {
                    lines[at] = format!("{who} {n} changed this");
                } else {
                    lines.insert(at, format!("{who} {n} added this"));
                }
                std::fs::write(&file, lines.join("\n") + "\n").unwrap();
            }
        }
        repo.git_in(dir, &["add", "-A"]);
        repo.git_in(
            dir,
            &["commit", "-q", "--allow-empty", "-m", &format!("{who} {n}")],
        );
    }
}

#[test]
fn offline_merge_squash_and_rebase_match_git_on_random_histories() {
    use wtmux::core::config::MergeStrategy;
    use wtmux::core::merge::build::{NotBuilt, build};
    // A fixed seed in the suite; WTMUX_TEST_SEED=<hex> tries others.
    let seed = std::env::var("WTMUX_TEST_SEED")
        .ok()
        .and_then(|s| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok())
        .unwrap_or(0x5eed_0009);
    let mut rng = Rng(seed);
    let repo = TestRepo::new();
    let (mut clean, mut conflicted) = (0, 0);
    for case in 0..24 {
        let context = format!("seed {seed:#x}, case {case}");
        let branch = format!("b{case}");
        repo.git(&["checkout", "-q", "-b", &branch, "main"]);
        let (ahead, behind) = (1 + rng.below(3), rng.below(3));
        random_commits(&repo, &repo.root, &mut rng, ahead, &branch);
        repo.git(&["checkout", "-q", "-b", &format!("base{case}"), "main"]);
        random_commits(&repo, &repo.root, &mut rng, behind, "base");
        let base = rev(&repo, "HEAD");
        let tip = rev(&repo, &format!("refs/heads/{branch}"));
        let oid = |s: &str| git2::Oid::from_str(s).unwrap();
        let commits: Vec<(git2::Oid, String)> = Vec::new();

        for strategy in [
            MergeStrategy::Merge,
            MergeStrategy::Squash,
            MergeStrategy::Rebase,
        ] {
            let built = build(
                &repo.root,
                strategy,
                &branch,
                oid(&base),
                oid(&tip),
                &commits,
                None,
            )
            .unwrap();
            // git's own answer, on a throwaway branch.
            repo.git(&["checkout", "-q", "-B", "oracle", &base]);
            let mut git = std::process::Command::new("git");
            common::sandbox(&mut git, &repo.home);
            let git = git.current_dir(&repo.root);
            let done = match strategy {
                MergeStrategy::Merge => git.args(["merge", "-q", "--no-edit", &tip]),
                MergeStrategy::Squash => git.args(["merge", "-q", "--squash", &tip]),
                MergeStrategy::Rebase => git.args(["rebase", "-q", "--onto", &base, &base, &tip]),
            }
            .output()
            .unwrap();
            let context = format!("{context}, {strategy}");
            match built {
                Err(NotBuilt::Conflicts { .. }) => {
                    conflicted += 1;
                    assert!(!done.status.success(), "{context}: git merged cleanly");
                    for abort in [&["merge", "--abort"][..], &["rebase", "--abort"]] {
                        let mut git = std::process::Command::new("git");
                        common::sandbox(&mut git, &repo.home);
                        let _ = git.current_dir(&repo.root).args(abort).output();
                    }
                }
                Ok(built) => {
                    clean += 1;
                    assert!(
                        done.status.success(),
                        "{context}: git conflicted: {}",
                        String::from_utf8_lossy(&done.stdout)
                    );
                    if strategy == MergeStrategy::Squash {
                        repo.git(&["commit", "-q", "--allow-empty", "-m", "squash"]);
                    }
                    let expected = repo.git(&["rev-parse", "HEAD^{tree}"]);
                    let got = repo.git(&["rev-parse", &format!("{}^{{tree}}", built.base)]);
                    assert_eq!(got, expected, "{context}: trees differ");
                    if strategy == MergeStrategy::Rebase {
                        let count = |tip: &str| {
                            repo.git(&["rev-list", "--count", &format!("{base}..{tip}")])
                        };
                        assert_eq!(
                            count(&built.base.to_string()),
                            count("HEAD"),
                            "{context}: commits replayed"
                        );
                        let subjects = |tip: &str| {
                            repo.git(&["log", "--format=%s%n%an%n%ad", &format!("{base}..{tip}")])
                        };
                        assert_eq!(
                            subjects(&built.base.to_string()),
                            subjects("HEAD"),
                            "{context}: messages and authors kept"
                        );
                    }
                }
            }
            repo.git(&["checkout", "-q", "-f", "main"]);
        }
    }
    eprintln!("seed {seed:#x}: {clean} clean, {conflicted} conflicted");
    // The histories must exercise both answers.
    assert!(
        clean >= 10 && conflicted >= 5,
        "seed {seed:#x}: {clean} clean, {conflicted} conflicted"
    );
}
