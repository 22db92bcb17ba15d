//! A random walk over the things users and agents do to a worktree, with git as the oracle.
//!
//! Every step changes the worktree in one way (edit, create, delete, chmod, symlink, file↔dir,
//! nested repository, submodule edit and commit, update-index flags, a clean filter, the three
//! excludes sources, restored directory mtimes, case-only renames, empty directories, commits),
//! then checks:
//! - wtmux's changed paths equal `git status`'s;
//! - `wtmux list --json` counts the same, and looking wrote nothing: no object in the
//!   repository's store, no change to the worktree's index;
//! - the content fingerprint's tree (and display's, by `git add -A` of only the paths `git status`
//!   listed, where that applies) equals what `git add -A` + `git write-tree` give on a copy of
//!   the index, and its key tells two contents apart exactly when they differ (submodules' and
//!   nested repositories' own uncommitted work included);
//! - every `round_trip_every` steps, `remove --force` + `restore` gives back the same directory,
//!   byte for byte (ignored files, nested repositories, modes, links, empty directories), and the
//!   same admin dir (index, HEAD, submodule stores).
//!
//! Used by `tests/nothing_lost.rs` (a fixed seed, 500 steps) and `benches/nothing_lost.rs`
//! (20,000 steps). A failure names the seed and the last steps.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::common::{Rng, TestRepo, sandbox, write_file};

const NAMES: &[&str] = &[
    "a.txt",
    "b.txt",
    "d/c.txt",
    "d/e/f.txt",
    "d/e/g.bin",
    "x.up",
    "d/y.up",
    "Case.txt",
    "case.txt",
    ".env",
    "db.sqlite",
    "build/out.o",
    "build/deep/more.o",
    "notes.tmp",
    "keep.tmp",
    "src/lib.txt",
    "README.md",
    "new dir/with space.txt",
];
const IGNORE_PATTERNS: &[&str] = &["*.o", "build/", ".env", "db.sqlite", "d/e/", "*.bin"];
const GLOBAL_PATTERNS: &[&str] = &["*.tmp", "!keep.tmp", "*.sqlite", "nest/"];
const CONTENTS: &[&str] = &["one\n", "two\n", "ONE\n", "hello world\n", "", "x"];

pub struct Walk {
    pub repo: TestRepo,
    pub wt: PathBuf,
    rng: Rng,
    seed: u64,
    step: usize,
    log: Vec<String>,
    key_of_digest: HashMap<String, String>,
    digest_of_key: HashMap<String, String>,
    pub round_trips: usize,
    pub checks: usize,
    /// Steps after which the display cache holds an answer (so the next step's question is a
    /// real test of its key).
    pub display_hits: usize,
    /// Say how far the walk is every this many steps (0: never), for long runs.
    pub progress_every: usize,
    /// Whether the worktree holds a submodule (and nested repositories come and go). Without
    /// any, display asks git's status of wtmux's refreshed copy of the index (its untracked
    /// cache included); with one, display asks the exact status.
    submodules: bool,
}

impl Walk {
    pub fn new(seed: u64) -> Walk {
        Walk::setup(seed, true)
    }

    /// A walk whose worktree never holds a submodule or a nested repository (which `git add
    /// -A` would take as a gitlink): the walk of the display status's own index copy.
    pub fn without_submodules(seed: u64) -> Walk {
        Walk::setup(seed, false)
    }

    fn setup(seed: u64, submodules: bool) -> Walk {
        let repo = TestRepo::new();
        if !submodules {
            repo.write(".gitattributes", "*.up filter=upper\n");
            repo.git(&["config", "filter.upper.clean", "tr a-z A-Z"]);
            repo.git(&["config", "filter.upper.smudge", "cat"]);
            repo.commit_all("attributes");
            repo.wtmux(&["add", "feat", "--no-window"]).ok();
            let wt = repo.worktree("feat");
            return Walk::of(repo, wt, seed, false);
        }
        // A submodule, from a repository of its own.
        let source = repo.dir.path().join("sub-source");
        std::fs::create_dir_all(&source).unwrap();
        repo.git_in(&source, &["init", "-q", "-b", "main"]);
        write_file(&source.join("s.txt"), "sub\n");
        repo.git_in(&source, &["add", "-A"]);
        repo.git_in(&source, &["commit", "-q", "-m", "sub"]);
        repo.git(&[
            "-c",
            "protocol.file.allow=always",
            "submodule",
            "add",
            "-q",
            source.to_str().unwrap(),
            "sub",
        ]);
        // A clean filter (as LFS has): content in the index differs from the file.
        repo.git(&["config", "filter.upper.clean", "tr a-z A-Z"]);
        repo.git(&["config", "filter.upper.smudge", "cat"]);
        repo.write(".gitattributes", "*.up filter=upper\n");
        repo.commit_all("submodule and attributes");
        repo.wtmux(&["add", "feat", "--no-window"]).ok();
        let wt = repo.worktree("feat");
        repo.git_in(
            &wt,
            &[
                "-c",
                "protocol.file.allow=always",
                "submodule",
                "update",
                "-q",
                "--init",
            ],
        );
        Walk::of(repo, wt, seed, true)
    }

    fn of(repo: TestRepo, wt: PathBuf, seed: u64, submodules: bool) -> Walk {
        Walk {
            repo,
            wt,
            rng: Rng::new(seed),
            seed,
            step: 0,
            log: Vec::new(),
            key_of_digest: HashMap::new(),
            digest_of_key: HashMap::new(),
            round_trips: 0,
            checks: 0,
            display_hits: 0,
            progress_every: 0,
            submodules,
        }
    }

    fn fail(&self, what: String) -> ! {
        if let Ok(keep) = std::env::var("WTMUX_KEEP") {
            // For a post-mortem: the sandbox is a temp dir that goes with the test.
            let _ = Command::new("cp")
                .arg("-a")
                .arg(self.repo.dir.path())
                .arg(&keep)
                .status();
            eprintln!("sandbox copied to {keep}");
        }
        let recent: Vec<&String> = self.log.iter().rev().take(25).rev().collect();
        panic!(
            "{what}\nseed {} (WTMUX_SEED={} reproduces), step {}; last steps:\n  {}",
            self.seed,
            self.seed,
            self.step,
            recent
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join("\n  ")
        );
    }

    /// git in `dir`; false when it fails (some random steps are allowed to).
    fn git_try(&self, dir: &Path, args: &[&str]) -> bool {
        let mut command = Command::new("git");
        sandbox(&mut command, &self.repo.home);
        command
            .current_dir(dir)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    fn git_out(&self, dir: &Path, args: &[&str], env: &[(&str, &Path)]) -> Vec<u8> {
        let mut command = Command::new("git");
        sandbox(&mut command, &self.repo.home);
        command.current_dir(dir).args(args).stdin(Stdio::null());
        for (key, value) in env {
            command.env(key, value);
        }
        let out = command.output().unwrap();
        if !out.status.success() {
            self.fail(format!(
                "oracle git {args:?} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        out.stdout
    }

    pub fn run(&mut self, steps: usize, round_trip_every: usize) {
        for _ in 0..steps {
            self.step += 1;
            let done = self.random_step();
            self.log.push(format!("{}: {done}", self.step));
            self.check();
            if round_trip_every > 0 && self.step.is_multiple_of(round_trip_every) {
                self.round_trip();
            }
            if self.progress_every > 0 && self.step.is_multiple_of(self.progress_every) {
                eprintln!(
                    "{} steps, {} round trips, 0 disagreements",
                    self.step, self.round_trips
                );
            }
        }
        self.round_trip();
    }

    fn random_step(&mut self) -> String {
        let wt = self.wt.clone();
        let name = *self.rng.pick(NAMES);
        let path = wt.join(name);
        let roll = match self.rng.below(20) {
            8..=10 if !self.submodules => 0, // a write instead
            roll => roll,
        };
        match roll {
            0..=3 => {
                let text = *self.rng.pick(CONTENTS);
                if path.is_dir() {
                    let _ = std::fs::remove_dir_all(&path);
                }
                if let Some(parent) = path.parent() {
                    if parent.is_file() || parent.is_symlink() {
                        let _ = std::fs::remove_file(parent);
                    }
                    let _ = std::fs::create_dir_all(parent);
                }
                let _ = std::fs::remove_file(&path);
                let _ = std::fs::write(&path, text);
                format!("write {name} {text:?}")
            }
            4 => {
                if path.is_dir() && !path.is_symlink() {
                    let _ = std::fs::remove_dir_all(&path);
                } else {
                    let _ = std::fs::remove_file(&path);
                }
                format!("delete {name}")
            }
            5 => {
                if let Ok(meta) = std::fs::symlink_metadata(&path)
                    && meta.is_file()
                {
                    let mode = meta.mode() ^ 0o111;
                    let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode));
                }
                format!("chmod x {name}")
            }
            6 => {
                let target = *self.rng.pick(NAMES);
                if path.is_dir() && !path.is_symlink() {
                    let _ = std::fs::remove_dir_all(&path);
                }
                let _ = std::fs::remove_file(&path);
                if let Some(parent) = path.parent() {
                    let _ = std::fs::create_dir_all(parent);
                }
                let _ = std::os::unix::fs::symlink(target, &path);
                format!("symlink {name} -> {target}")
            }
            7 => {
                if path.is_dir() && !path.is_symlink() {
                    let _ = std::fs::remove_dir_all(&path);
                    let _ = std::fs::write(&path, "was a dir\n");
                    format!("dir->file {name}")
                } else {
                    let _ = std::fs::remove_file(&path);
                    let _ = std::fs::create_dir_all(&path);
                    let _ = std::fs::write(path.join("inner.txt"), "was a file\n");
                    format!("file->dir {name}")
                }
            }
            8 => {
                let nest = wt.join("nest/r");
                if !nest.join(".git").exists() {
                    let _ = std::fs::create_dir_all(&nest);
                    self.git_try(&nest, &["init", "-q", "-b", "main"]);
                }
                let text = *self.rng.pick(CONTENTS);
                let _ = std::fs::write(nest.join("n.txt"), text);
                if self.rng.chance(50) {
                    self.git_try(&nest, &["add", "-A"]);
                    self.git_try(&nest, &["commit", "-q", "-m", "nested"]);
                    format!("nested repo commit {text:?}")
                } else {
                    format!("nested repo edit {text:?}")
                }
            }
            9 => {
                let sub = wt.join("sub");
                let file = if self.rng.chance(50) {
                    "s.txt"
                } else {
                    "t.txt"
                };
                let text = *self.rng.pick(CONTENTS);
                let _ = std::fs::write(sub.join(file), text);
                format!("submodule edit {file} {text:?}")
            }
            10 => {
                let sub = wt.join("sub");
                self.git_try(&sub, &["add", "-A"]);
                let ok = self.git_try(&sub, &["commit", "-q", "-m", "in submodule"]);
                format!("submodule commit ({ok})")
            }
            11 => {
                let ok = self.git_try(&wt, &["add", "--", name]);
                format!("git add {name} ({ok})")
            }
            12 => {
                self.git_try(&wt, &["add", "-A"]);
                let ok = self.git_try(&wt, &["commit", "-q", "-m", "step"]);
                format!("commit ({ok})")
            }
            13 => {
                let flag = *self.rng.pick(&[
                    "--assume-unchanged",
                    "--no-assume-unchanged",
                    "--skip-worktree",
                    "--no-skip-worktree",
                ]);
                let ok = self.git_try(&wt, &["update-index", flag, "--", name]);
                format!("update-index {flag} {name} ({ok})")
            }
            14 => {
                let patterns: Vec<&str> = IGNORE_PATTERNS
                    .iter()
                    .copied()
                    .filter(|_| self.rng.chance(40))
                    .collect();
                let text = patterns.join("\n");
                if self.rng.chance(50) {
                    let _ = std::fs::write(wt.join(".gitignore"), format!("{text}\n"));
                    format!(".gitignore {patterns:?}")
                } else {
                    let exclude = self.repo.root.join(".git/info/exclude");
                    let keep = "/.worktrees/\n";
                    let _ = std::fs::write(exclude, format!("{keep}{text}\n"));
                    format!("info/exclude {patterns:?}")
                }
            }
            15 => {
                let patterns: Vec<&str> = GLOBAL_PATTERNS
                    .iter()
                    .copied()
                    .filter(|_| self.rng.chance(50))
                    .collect();
                write_file(
                    &self.repo.home.join(".config/git/ignore"),
                    &format!("{}\n", patterns.join("\n")),
                );
                format!("global excludes {patterns:?}")
            }
            16 => {
                // A file appears in a directory whose mtime is then put back (tar x, cp -a).
                let dir = wt.join(*self.rng.pick(&["d", "src", "new dir", "d/e"]));
                let _ = std::fs::create_dir_all(&dir);
                let before = std::fs::metadata(&dir).map(|m| (m.atime(), m.mtime())).ok();
                let _ = std::fs::write(dir.join("restored.txt"), "from a tarball\n");
                if let Some((atime, mtime)) = before {
                    set_times(&dir, atime, mtime);
                }
                format!("file in {} with its mtime put back", dir.display())
            }
            17 => {
                let (from, to) = if self.rng.chance(50) {
                    ("Case.txt", "case.txt")
                } else {
                    ("case.txt", "Case.txt")
                };
                let _ = std::fs::rename(wt.join(from), wt.join(to));
                format!("case rename {from} -> {to}")
            }
            18 => {
                let dir = wt.join(*self.rng.pick(&["empty", "d/empty", "build/empty"]));
                let _ = std::fs::create_dir_all(&dir);
                format!("empty dir {}", dir.display())
            }
            _ => {
                let ok = self.git_try(&wt, &["rm", "-q", "--cached", "-r", "--", name]);
                format!("git rm --cached {name} ({ok})")
            }
        }
    }

    /// The state of the repository's object store and the worktree's index, to prove a look
    /// wrote nothing.
    fn untouched_marks(&self) -> (Vec<String>, String) {
        let mut objects = Vec::new();
        let root = self.repo.root.join(".git/objects");
        let mut stack = vec![root.clone()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    stack.push(entry.path());
                } else {
                    objects.push(entry.path().display().to_string());
                }
            }
        }
        objects.sort();
        let index = self.real_index();
        let index_mark = std::fs::metadata(&index)
            .map(|m| format!("{} {} {}.{}", m.ino(), m.len(), m.mtime(), m.mtime_nsec()))
            .unwrap_or_default();
        (objects, index_mark)
    }

    fn real_index(&self) -> PathBuf {
        let path = self.git_out(
            &self.wt,
            &["rev-parse", "--path-format=absolute", "--git-path", "index"],
            &[],
        );
        PathBuf::from(String::from_utf8_lossy(&path).trim())
    }

    /// `git status` paths, from porcelain v1 (another format than wtmux reads).
    fn oracle_status(&self, dir: &Path) -> Vec<String> {
        let out = self.git_out(
            dir,
            &[
                "--no-optional-locks",
                "status",
                "--porcelain=v1",
                "-z",
                "--no-renames",
                "--ignore-submodules=none",
            ],
            &[],
        );
        let mut paths: Vec<String> = out
            .split(|b| *b == 0)
            .filter(|r| r.len() > 3)
            .map(|r| String::from_utf8_lossy(&r[3..]).into_owned())
            .collect();
        paths.sort();
        paths
    }

    /// What `git add -A` + `git write-tree` make of `dir` on a copy of its index, with the
    /// nested repositories left out; and a digest of everything its content depends on.
    fn oracle_content(&self, dir: &Path, depth: usize) -> (String, String) {
        let scratch = tempfile::tempdir().unwrap();
        let index = scratch.path().join("index");
        let objects = scratch.path().join("objects");
        std::fs::create_dir_all(&objects).unwrap();
        let real = PathBuf::from(
            String::from_utf8_lossy(&self.git_out(
                dir,
                &["rev-parse", "--path-format=absolute", "--git-path", "index"],
                &[],
            ))
            .trim(),
        );
        if real.exists() {
            copy_index(&real, &index);
        }
        let repo_objects = PathBuf::from(
            String::from_utf8_lossy(&self.git_out(
                dir,
                &[
                    "rev-parse",
                    "--path-format=absolute",
                    "--git-path",
                    "objects",
                ],
                &[],
            ))
            .trim(),
        );
        // Nested repositories: what `git status -uall` lists with a trailing slash.
        let untracked = self.git_out(
            dir,
            &[
                "--no-optional-locks",
                "status",
                "--porcelain=v1",
                "-z",
                "-uall",
            ],
            &[],
        );
        let nested: Vec<String> = untracked
            .split(|b| *b == 0)
            .filter(|r| r.starts_with(b"?? ") && r.ends_with(b"/"))
            .map(|r| String::from_utf8_lossy(&r[3..r.len() - 1]).into_owned())
            .collect();
        let env = [
            ("GIT_INDEX_FILE", index.as_path()),
            ("GIT_OBJECT_DIRECTORY", objects.as_path()),
            ("GIT_ALTERNATE_OBJECT_DIRECTORIES", repo_objects.as_path()),
        ];
        let mut add: Vec<String> = ["add", "-A", "--", "."].map(String::from).to_vec();
        add.extend(nested.iter().map(|n| format!(":(exclude,literal){n}")));
        let add: Vec<&str> = add.iter().map(String::as_str).collect();
        self.git_out(dir, &add, &env);
        let tree = String::from_utf8_lossy(&self.git_out(dir, &["write-tree"], &env))
            .trim()
            .to_string();
        let mut digest = tree.clone();
        if depth < 3 {
            // Submodules whose own worktree is dirty.
            let staged = self.git_out(dir, &["ls-files", "--stage", "-z"], &[]);
            let subs: Vec<String> = staged
                .split(|b| *b == 0)
                .filter(|r| r.starts_with(b"160000 "))
                .filter_map(|r| r.splitn(2, |b| *b == b'\t').nth(1))
                .map(|p| String::from_utf8_lossy(p).into_owned())
                .collect();
            for sub in &subs {
                let sub_dir = dir.join(sub);
                if sub_dir.join(".git").exists() && !self.oracle_status(&sub_dir).is_empty() {
                    let (_, inner) = self.oracle_content(&sub_dir, depth + 1);
                    digest.push_str(&format!(" sub:{sub}={inner}"));
                }
            }
            for repo in &nested {
                let repo_dir = dir.join(repo);
                let head = Command::new("git")
                    .current_dir(&repo_dir)
                    .args(["rev-parse", "--verify", "-q", "HEAD"])
                    .output()
                    .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
                    .unwrap_or_default();
                let (_, inner) = self.oracle_content(&repo_dir, depth + 1);
                digest.push_str(&format!(" nested:{repo}@{head}={inner}"));
            }
        }
        (tree, digest)
    }

    fn check(&mut self) {
        self.checks += 1;
        let expected = self.oracle_status(&self.wt);

        let marks = self.untouched_marks();
        // Through the binary, so it runs with the sandbox's HOME (global excludes).
        // The display cache is asked first (20 ms: above the clock's tick, and the steps take
        // longer, so most answers can come from it): a stale one shows as a disagreement.
        let run = self.repo.wtmux(&[
            "__content",
            self.wt.to_str().unwrap(),
            "--display-racy-ms",
            "20",
        ]);
        if run.code() != 0 {
            self.fail(format!("fingerprint failed: {}", run.stderr()));
        }
        let content: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
        let ours: Vec<String> = content["paths"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap().to_string())
            .collect();
        let (content_tree, content_key) = (
            content["tree"].as_str().unwrap().to_string(),
            content["key"].as_str().unwrap().to_string(),
        );
        let display = &content["display"];
        if (display["tree"].as_str(), display["key"].as_str())
            != (Some(content_tree.as_str()), Some(content_key.as_str()))
        {
            self.fail(format!(
                "the display cache's fingerprint differs from git's\n cache: {display}\n   git: {content_tree} {content_key}"
            ));
        }
        let mut display_paths: Vec<String> = display["paths"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap().to_string())
            .collect();
        display_paths.sort();
        if display_paths != expected {
            self.fail(format!(
                "the display status differs from git's\n display: {display_paths:?}\n     git: {expected:?}"
            ));
        }
        // Stored (or kept) now, it is what the next step's first question may wrongly reuse.
        if display["source"] != "computed" {
            self.display_hits += 1;
        }
        let listing = self.repo.wtmux(&["list", "--json"]);
        if listing.code() != 0 {
            self.fail(format!("list failed: {}", listing.stderr()));
        }
        if self.untouched_marks() != marks {
            self.fail("looking wrote into the object store or the worktree's index".into());
        }

        let mut ours_sorted = ours.clone();
        ours_sorted.sort();
        if ours_sorted != expected {
            self.fail(format!(
                "changed paths differ\n wtmux: {ours_sorted:?}\n   git: {expected:?}"
            ));
        }
        let json: serde_json::Value = serde_json::from_str(&listing.stdout()).unwrap();
        let row = json["worktrees"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["branch"] == "feat")
            .cloned()
            .unwrap_or_default();
        if row["changed"].as_u64() != Some(expected.len() as u64) {
            self.fail(format!(
                "list --json counts {} changed, git status {}",
                row["changed"],
                expected.len()
            ));
        }

        let (tree, digest) = self.oracle_content(&self.wt, 0);
        // Display's `git add -A` of only the listed paths, where it applies.
        if let Some(listed) = content["listed"].as_str()
            && listed != tree
        {
            self.fail(format!(
                "the listed paths' fingerprint {listed} but git add -A + write-tree gives {tree}"
            ));
        }
        if content_tree != tree {
            self.fail(format!(
                "content tree {content_tree} but git add -A + write-tree gives {tree}\n{}",
                self.index_differences()
            ));
        }
        if let Some(key) = self.key_of_digest.get(&digest)
            && *key != content_key
        {
            self.fail(format!(
                "the same content got two keys: {key} and {content_key}"
            ));
        }
        if let Some(other) = self.digest_of_key.get(&content_key)
            && *other != digest
        {
            self.fail(format!(
                "two contents share the key {content_key}: {other} and {digest}"
            ));
        }
        self.key_of_digest
            .insert(digest.clone(), content_key.clone());
        self.digest_of_key.insert(content_key, digest);
    }

    /// For a failure message: how wtmux's fingerprint index of the worktree differs from a
    /// fresh copy of the real index after `git add -A`.
    fn index_differences(&self) -> String {
        let ls = |index: &Path| -> std::collections::BTreeSet<String> {
            String::from_utf8_lossy(&self.git_out(
                &self.wt,
                &["ls-files", "-s"],
                &[("GIT_INDEX_FILE", index)],
            ))
            .lines()
            .map(str::to_string)
            .collect()
        };
        let scratch = tempfile::tempdir().unwrap();
        let fresh = scratch.path().join("index");
        copy_index(&self.real_index(), &fresh);
        self.git_out(
            &self.wt,
            &["add", "-A"],
            &[
                ("GIT_INDEX_FILE", fresh.as_path()),
                ("GIT_OBJECT_DIRECTORY", scratch.path()),
                (
                    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
                    &self.repo.root.join(".git/objects"),
                ),
            ],
        );
        let expected = ls(&fresh);
        let mut out = String::new();
        for day in std::fs::read_dir(self.repo.root.join(".git/wtmux/content"))
            .into_iter()
            .flatten()
            .flatten()
        {
            for file in std::fs::read_dir(day.path().join("index"))
                .into_iter()
                .flatten()
                .flatten()
            {
                let path = file.path();
                if path.extension().is_some() {
                    continue;
                }
                let ours = ls(&path);
                if ours.len() < 3 {
                    continue; // a submodule's or nested repository's
                }
                for line in expected.difference(&ours) {
                    out.push_str(&format!("  only in git's: {line}\n"));
                }
                for line in ours.difference(&expected) {
                    out.push_str(&format!("  only in wtmux's: {line}\n"));
                }
            }
        }
        out
    }

    fn admin_dir(&self) -> PathBuf {
        let gitdir = self.git_out(&self.wt, &["rev-parse", "--absolute-git-dir"], &[]);
        PathBuf::from(String::from_utf8_lossy(&gitdir).trim())
    }

    pub fn round_trip(&mut self) {
        self.round_trips += 1;
        let admin = self.admin_dir();
        let before = (snapshot_dir(&self.wt), snapshot_dir(&admin));
        let head_before = self.repo.git(&["rev-parse", "refs/heads/feat"]);
        let removed = self.repo.wtmux(&["remove", "feat", "--force"]);
        if removed.code() != 0 {
            self.fail(format!("remove --force failed: {}", removed.stderr()));
        }
        if self.wt.exists() || admin.exists() {
            self.fail("remove left the worktree or its admin dir in place".into());
        }
        let restored = self.repo.wtmux(&["restore", "feat"]);
        if restored.code() != 0 {
            self.fail(format!("restore failed: {}", restored.stderr()));
        }
        let after = (snapshot_dir(&self.wt), snapshot_dir(&self.admin_dir()));
        if after.0 != before.0 {
            self.fail(format!(
                "restore gave back another directory:\n{}",
                diff_snapshots(&before.0, &after.0)
            ));
        }
        if after.1 != before.1 {
            self.fail(format!(
                "restore gave back another admin dir:\n{}",
                diff_snapshots(&before.1, &after.1)
            ));
        }
        if self.repo.git(&["rev-parse", "refs/heads/feat"]) != head_before {
            self.fail("the branch came back at another commit".into());
        }
        self.log
            .push(format!("{}: remove --force + restore", self.step));
    }
}

fn set_times(path: &Path, atime: i64, mtime: i64) {
    let times = [
        libc::timespec {
            tv_sec: atime,
            tv_nsec: 0,
        },
        libc::timespec {
            tv_sec: mtime,
            tv_nsec: 0,
        },
    ];
    let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid C string and a two-element timespec array, as utimensat(2) requires.
    unsafe {
        libc::utimensat(libc::AT_FDCWD, c_path.as_ptr(), times.as_ptr(), 0);
    }
}

/// Every entry below `root`: type, mode, and content or link target.
pub fn snapshot_dir(root: &Path) -> BTreeMap<String, String> {
    let mut entries = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(read) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in read.flatten() {
            let path = entry.path();
            let relative = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            let value = if meta.is_symlink() {
                format!(
                    "link {}",
                    std::fs::read_link(&path).unwrap_or_default().display()
                )
            } else if meta.is_dir() {
                stack.push(path.clone());
                format!("dir {:o}", meta.mode() & 0o777)
            } else {
                let bytes = std::fs::read(&path).unwrap_or_default();
                format!(
                    "file {:o} {} {:x}",
                    meta.mode() & 0o777,
                    bytes.len(),
                    bytes
                        .iter()
                        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ *b as u64)
                            .wrapping_mul(0x100_0000_01b3))
                )
            };
            entries.insert(relative, value);
        }
    }
    entries
}

fn diff_snapshots(a: &BTreeMap<String, String>, b: &BTreeMap<String, String>) -> String {
    let mut lines = Vec::new();
    for (path, value) in a {
        match b.get(path) {
            None => lines.push(format!("  missing {path} ({value})")),
            Some(other) if other != value => lines.push(format!("  {path}: {value} -> {other}")),
            _ => {}
        }
    }
    for (path, value) in b {
        if !a.contains_key(path) {
            lines.push(format!("  new {path} ({value})"));
        }
    }
    lines.join("\n")
}

/// A copy of an index with the original's modification time: git trusts an entry's stat data
/// only for files older than the index, so a copy stamped now would hide a same-size rewrite
/// made in the tick the original was written.
fn copy_index(real: &Path, copy: &Path) {
    std::fs::copy(real, copy).unwrap();
    let modified = std::fs::metadata(real).unwrap().modified().unwrap();
    std::fs::File::options()
        .write(true)
        .open(copy)
        .unwrap()
        .set_modified(modified)
        .unwrap();
}
