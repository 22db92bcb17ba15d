//! wtmux reads worktree status itself (src/core/status.rs); these tests hold it to what
//! `git status` and `git add -A && git write-tree` say on the same worktree.

mod common;

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;

use common::{TestRepo, write_file};
use wtmux::core::status;

/// The paths `git status --porcelain` lists (an untracked directory once, as `dir/`).
fn git_status_paths(repo: &TestRepo) -> BTreeSet<String> {
    let out = repo.git_raw_in(
        &repo.root,
        &["status", "--porcelain=v1", "-z", "--no-renames"],
    );
    out.split('\0')
        .filter(|l| l.len() > 3)
        .map(|l| l[3..].to_string())
        .collect()
}

/// The tree `git add -A` would write, computed on a copy of the index so the real one is kept.
fn git_content_tree(repo: &TestRepo) -> String {
    let copy = repo.dir.path().join("index-copy");
    std::fs::copy(repo.path(".git/index"), &copy).unwrap();
    let run = |args: &[&str]| {
        let mut command = std::process::Command::new("git");
        common::sandbox(&mut command, &repo.home);
        let out = command
            .current_dir(&repo.root)
            .env("GIT_INDEX_FILE", &copy)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    run(&["add", "-A"]);
    run(&["write-tree"])
}

fn assert_agrees(repo: &TestRepo, scenario: &str) {
    let git_repo = git2::Repository::open(&repo.root).unwrap();
    let changes = status::changes(&git_repo).unwrap();
    let ours: BTreeSet<String> = changes.paths().into_iter().collect();
    assert_eq!(ours, git_status_paths(repo), "status paths: {scenario}");
    let tree = status::content_tree(&git_repo, &changes).unwrap();
    assert_eq!(
        tree.to_string(),
        git_content_tree(repo),
        "content tree: {scenario}"
    );
}

fn scenarios(repo: &TestRepo) {
    assert_agrees(repo, "clean");
    repo.write("src/lib.txt", "ONE\ntwo\nthree\n"); // same size, right after the commit
    assert_agrees(repo, "same-size edit");
    repo.write("README.md", "a longer readme than before\n");
    assert_agrees(repo, "edit");
    std::fs::remove_file(repo.path("README.md")).unwrap();
    assert_agrees(repo, "deletion");
    repo.write("notes.txt", "untracked");
    repo.write("src/new.txt", "untracked in a tracked dir");
    assert_agrees(repo, "untracked files");
    repo.write("fresh/deep/er/file.txt", "untracked dir");
    assert_agrees(repo, "untracked directory");
    repo.write(".gitignore", "*.log\nbuild/\n");
    repo.write("debug.log", "ignored");
    repo.write("build/out.bin", "ignored dir");
    repo.write("only-ignored/x.log", "dir with only ignored files");
    assert_agrees(repo, "ignored files");
    repo.write("staged.txt", "staged");
    repo.git(&["add", "staged.txt"]);
    assert_agrees(repo, "staged new file");
    let script = repo.path("src/run.sh");
    repo.write("src/run.sh", "#!/bin/sh\n");
    repo.commit_all("script");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert_agrees(repo, "mode change");
    std::os::unix::fs::symlink("src/lib.txt", repo.path("link")).unwrap();
    assert_agrees(repo, "new symlink");
    repo.commit_all("everything");
    assert_agrees(repo, "clean after commit");
    std::thread::sleep(std::time::Duration::from_millis(20));
    let lib = std::fs::read(repo.path("src/lib.txt")).unwrap();
    std::fs::write(repo.path("src/lib.txt"), lib).unwrap(); // touched, same content
    assert_agrees(repo, "rewritten with the same content");
    repo.write("src/lib.txt", "staged version\n");
    repo.git(&["add", "src/lib.txt"]);
    repo.git(&["checkout", "HEAD", "--", "src/lib.txt"]);
    repo.write("src/lib.txt", "ONE\ntwo\nthree\n");
    assert_agrees(repo, "staged then restored");
    std::fs::remove_file(repo.path("staged.txt")).unwrap();
    write_file(&repo.path("staged.txt/inside"), "file became a directory");
    assert_agrees(repo, "file replaced by a directory");
}

#[test]
fn status_and_fingerprint_agree_with_git() {
    scenarios(&TestRepo::new());
}

#[test]
fn status_agrees_with_git_on_index_version_4() {
    let repo = TestRepo::new();
    repo.git(&["update-index", "--index-version", "4"]);
    scenarios(&repo);
}

#[test]
fn a_split_index_falls_back_to_libgit2() {
    let repo = TestRepo::new();
    repo.git(&["update-index", "--split-index"]);
    repo.write("README.md", "changed\n");
    repo.write("untracked.txt", "x");
    assert_agrees(&repo, "split index");
}

/// Sets the mtime of every directory of the worktree well into the past, so the untracked
/// cache may remember them (it never trusts a directory changed in the last two seconds).
fn age_directories(repo: &TestRepo) {
    let out = std::process::Command::new("find")
        .arg(&repo.root)
        .args([
            "-path",
            "*/.git",
            "-prune",
            "-o",
            "-type",
            "d",
            "-exec",
            "touch",
            "-d",
            "@1700000000",
            "{}",
            "+",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
}

#[test]
fn the_untracked_cache_sees_new_files_and_changed_ignore_rules() {
    let repo = TestRepo::new();
    repo.write(".gitignore", "*.log\n");
    repo.write("src/deep/tracked.txt", "t");
    repo.commit_all("ignore logs");
    repo.write("src/deep/debug.log", "ignored");
    age_directories(&repo);
    let git_repo = git2::Repository::open(&repo.root).unwrap();
    let mut cache = status::UntrackedCache::default();
    let first = status::changes_with_cache(&git_repo, &mut cache).unwrap();
    assert!(first.is_empty(), "{first:?}");
    assert_ne!(
        cache,
        status::UntrackedCache::default(),
        "aged directories are remembered"
    );
    let again = status::changes_with_cache(&git_repo, &mut cache).unwrap();
    assert_eq!(again, first);

    repo.write(
        "src/deep/new.txt",
        "a new file changes its directory's mtime",
    );
    let seen = status::changes_with_cache(&git_repo, &mut cache).unwrap();
    assert_eq!(seen.paths(), vec!["src/deep/new.txt".to_string()]);
    std::fs::remove_file(repo.path("src/deep/new.txt")).unwrap();
    age_directories(&repo);
    assert!(
        status::changes_with_cache(&git_repo, &mut cache)
            .unwrap()
            .is_empty()
    );

    // Un-ignoring an existing file changes no directory: the ignore rules are part of the key.
    repo.write(".gitignore", "*.tmp\n");
    let seen = status::changes_with_cache(&git_repo, &mut cache).unwrap();
    assert_eq!(
        seen.paths(),
        vec![".gitignore".to_string(), "src/deep/debug.log".to_string()]
    );
    assert_agrees(&repo, "after the ignore rules changed");
}
