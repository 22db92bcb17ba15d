//! Display's content fingerprint by `git add -A` of only the paths `git status` listed
//! (`ContentStore::content_of_listed`, what `conflicts`, `list` and the popup use after a
//! worktree changed) must be the tree git gives for the whole worktree. A random walk of edits
//! — files and directories created, deleted and renamed, ignored files edited, `.gitignore`
//! rewritten, `chmod +x`, symbolic links, names that are globs or pathspec magic (`*`, `:`,
//! `#`, `[ab]`, a newline, a backslash) — each followed by the limited tree (where it applies)
//! against `git add -A` + `git write-tree` on a fresh copy of the index in a temp dir. The same
//! walk through the file-system monitor checks its watches: what display reuses while the
//! monitor saw nothing must be what `git status` says.
//!
//! `WTMUX_SEED` replays a seed (printed on failure), `WTMUX_STEPS` walks longer.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{Rng, TestRepo, sandbox, write_file};

const NAMES: &[&str] = &[
    "a.txt",
    "d/b.txt",
    "d/e/c.txt",
    "d/e/f/g.txt",
    "*",
    "d/*.txt",
    "[ab].txt",
    ":colon",
    ":(exclude)a.txt",
    "#hash",
    "new\nline",
    "back\\slash",
    "a b/c d.txt",
    "-dash",
    "x.log",
    "logs/y.log",
    "n/m/o.txt",
];
const DIRS: &[&str] = &["d", "d/e", "a b", "logs", "n", "n/m", "fresh", "*dir"];
const PATTERNS: &[&str] = &[
    "*.log", "logs/", "d/e/", "\\*", "!x.log", "n/", "#hash", "fresh/",
];
const CONTENTS: &[&str] = &["one\n", "two\n", "ONE\n", "", "x"];

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Walk {
    repo: TestRepo,
    /// The worktree walked in.
    wt: PathBuf,
    rng: Rng,
    seed: u64,
    log: Vec<String>,
}

impl Walk {
    fn fail(&self, what: String) -> ! {
        let recent: Vec<&String> = self.log.iter().rev().take(25).rev().collect();
        panic!(
            "{what}\nseed {} (WTMUX_SEED={} reproduces), step {}; last steps:\n  {}",
            self.seed,
            self.seed,
            self.log.len(),
            recent
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join("\n  ")
        );
    }

    fn git(&self, args: &[&str], env: &[(&str, &Path)]) -> Option<Vec<u8>> {
        let mut command = Command::new("git");
        sandbox(&mut command, &self.repo.home);
        command
            .current_dir(&self.wt)
            .args(args)
            .stdin(Stdio::null());
        for (key, value) in env {
            command.env(key, value);
        }
        let out = command.output().unwrap();
        out.status.success().then_some(out.stdout)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.wt.join(name)
    }

    fn step(&mut self) -> String {
        let root = self.wt.clone();
        let name = *self.rng.pick(NAMES);
        let path = self.path(name);
        match self.rng.below(14) {
            0..=3 => {
                let text = *self.rng.pick(CONTENTS);
                if let Some(parent) = path.parent() {
                    let _ = std::fs::create_dir_all(parent);
                }
                let _ = std::fs::remove_file(&path);
                let ok = std::fs::write(&path, text).is_ok();
                format!("write {name:?} {text:?} ({ok})")
            }
            4 => {
                let _ = std::fs::remove_file(&path);
                let _ = std::fs::remove_dir_all(&path);
                format!("delete {name:?}")
            }
            5 => {
                let to = *self.rng.pick(NAMES);
                let target = self.path(to);
                if let Some(parent) = target.parent() {
                    let _ = std::fs::create_dir_all(parent);
                }
                let ok = std::fs::rename(&path, &target).is_ok();
                format!("rename {name:?} -> {to:?} ({ok})")
            }
            6 => {
                let (from, to) = (*self.rng.pick(DIRS), *self.rng.pick(DIRS));
                let target = self.path(to);
                if let Some(parent) = target.parent() {
                    let _ = std::fs::create_dir_all(parent);
                }
                let ok = std::fs::rename(self.path(from), &target).is_ok();
                format!("rename dir {from:?} -> {to:?} ({ok})")
            }
            7 => {
                let mode = if self.rng.chance(50) { 0o755 } else { 0o644 };
                let ok =
                    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).is_ok();
                format!("chmod {mode:o} {name:?} ({ok})")
            }
            8 => {
                let target = *self.rng.pick(&["a.txt", "d", "missing", "../outside"]);
                let _ = std::fs::remove_file(&path);
                let _ = std::fs::remove_dir_all(&path);
                if let Some(parent) = path.parent() {
                    let _ = std::fs::create_dir_all(parent);
                }
                let ok = std::os::unix::fs::symlink(target, &path).is_ok();
                format!("symlink {name:?} -> {target} ({ok})")
            }
            9 => {
                let dir = *self.rng.pick(&["", "d/", "n/"]);
                let count = self.rng.below(3);
                let patterns: Vec<&str> = (0..count).map(|_| *self.rng.pick(PATTERNS)).collect();
                let _ = std::fs::create_dir_all(root.join(dir));
                let ok = std::fs::write(
                    root.join(format!("{dir}.gitignore")),
                    format!("{}\n", patterns.join("\n")),
                )
                .is_ok();
                format!("{dir}.gitignore {patterns:?} ({ok})")
            }
            10 => {
                let ok = self.git(&["add", "--", name], &[]).is_some();
                format!("git add {name:?} ({ok})")
            }
            11 => {
                self.git(&["add", "-A"], &[]);
                let ok = self.git(&["commit", "-q", "-m", "step"], &[]).is_some();
                format!("commit ({ok})")
            }
            12 => {
                let dir = *self.rng.pick(DIRS);
                let ok = std::fs::create_dir_all(self.path(dir)).is_ok();
                format!("mkdir {dir:?} ({ok})")
            }
            _ => {
                let ignored = *self
                    .rng
                    .pick(&["x.log", "logs/y.log", "d/e/c.txt", "z.log"]);
                let text = *self.rng.pick(CONTENTS);
                let at = self.path(ignored);
                if let Some(parent) = at.parent() {
                    let _ = std::fs::create_dir_all(parent);
                }
                let ok = std::fs::write(&at, text).is_ok();
                format!("write maybe-ignored {ignored:?} {text:?} ({ok})")
            }
        }
    }

    /// `git add -A` + `git write-tree` on a fresh copy of the index, objects in a temp dir.
    fn oracle(&self) -> String {
        let scratch = tempfile::tempdir().unwrap();
        let index = scratch.path().join("index");
        let objects = scratch.path().join("objects");
        std::fs::create_dir_all(&objects).unwrap();
        let real = PathBuf::from(
            String::from_utf8_lossy(
                &self
                    .git(
                        &["rev-parse", "--path-format=absolute", "--git-path", "index"],
                        &[],
                    )
                    .unwrap(),
            )
            .trim(),
        );
        if real.exists() {
            std::fs::copy(&real, &index).unwrap();
            let modified = std::fs::metadata(&real).unwrap().modified().unwrap();
            std::fs::File::options()
                .write(true)
                .open(&index)
                .unwrap()
                .set_modified(modified)
                .unwrap();
        }
        let repo_objects = self.repo.root.join(".git/objects");
        let env = [
            ("GIT_INDEX_FILE", index.as_path()),
            ("GIT_OBJECT_DIRECTORY", objects.as_path()),
            ("GIT_ALTERNATE_OBJECT_DIRECTORIES", repo_objects.as_path()),
        ];
        if self.git(&["add", "-A"], &env).is_none() {
            self.fail("oracle git add -A failed".into());
        }
        let tree = self
            .git(&["write-tree"], &env)
            .unwrap_or_else(|| self.fail("oracle git write-tree failed".into()));
        String::from_utf8_lossy(&tree).trim().to_string()
    }
}

#[test]
fn random_edits_the_listed_fingerprint_is_gits_whole_tree() {
    let seed = env_number("WTMUX_SEED", 0x11_57ed);
    let steps = env_number("WTMUX_STEPS", 150) as usize;
    let repo = TestRepo::new();
    write_file(&repo.root.join(".gitignore"), "*.log\n");
    repo.commit_all("ignore logs");
    let mut walk = Walk {
        wt: repo.root.clone(),
        repo,
        rng: Rng::new(seed),
        seed,
        log: Vec::new(),
    };
    let mut limited = 0;
    for _ in 0..steps {
        let done = walk.step();
        walk.log.push(format!("{}: {done}", walk.log.len() + 1));
        let run = walk.repo.wtmux(&["__content", walk.wt.to_str().unwrap()]);
        if run.code() != 0 {
            walk.fail(format!("fingerprint failed: {}", run.stderr()));
        }
        let json: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
        let expected = walk.oracle();
        if json["tree"].as_str() != Some(expected.as_str()) {
            walk.fail(format!(
                "the full fingerprint {} but git add -A + write-tree gives {expected}",
                json["tree"]
            ));
        }
        if let Some(listed) = json["listed"].as_str() {
            limited += 1;
            if listed != expected {
                walk.fail(format!(
                    "the listed paths' fingerprint {listed} but git add -A + write-tree gives {expected}; git status listed {}",
                    json["paths"]
                ));
            }
        }
    }
    eprintln!(
        "seed {seed}: {steps} steps, {limited} answered by the listed paths' add, 0 disagreements"
    );
    // Not a vacuous walk: most steps leave something to list, and most of those are taken.
    assert!(
        limited * 3 >= steps,
        "only {limited} of {steps} steps took the listed paths' add"
    );
}

/// `git status` paths (porcelain v1, another format than wtmux reads), sorted.
fn oracle_status(walk: &Walk) -> Vec<String> {
    let out = walk
        .git(
            &[
                "--no-optional-locks",
                "status",
                "--porcelain=v1",
                "-z",
                "--no-renames",
                "--ignore-submodules=none",
            ],
            &[],
        )
        .unwrap_or_else(|| walk.fail("oracle git status failed".into()));
    let mut paths: Vec<String> = out
        .split(|b| *b == 0)
        .filter(|r| r.len() > 3)
        .map(|r| String::from_utf8_lossy(&r[3..]).into_owned())
        .collect();
    paths.sort();
    paths
}

/// The same walk in a worktree watched by the file-system monitor, through what display asks
/// (`list`, `conflicts`, the popup): after each edit, the changed paths display takes (reused
/// while the monitor saw no change, scanned otherwise) against `git status` on the real index,
/// and the fingerprint against `git add -A` + `git write-tree` in a fresh index. A hole in the
/// monitor's watches (a directory moved in, one made while its parent was being listed, one a
/// `.gitignore` edit un-ignores) shows as a worktree taken for unchanged.
///
/// Seeds 6, 11 and 15 (each found a hole once); `WTMUX_SEED` walks one seed, `WTMUX_STEPS` longer.
#[test]
fn random_edits_status_through_the_monitor_is_gits() {
    let seeds = match std::env::var("WTMUX_SEED") {
        Ok(_) => vec![env_number("WTMUX_SEED", 0)],
        Err(_) => vec![6, 11, 15],
    };
    let steps = env_number("WTMUX_STEPS", 150) as usize;
    for seed in seeds {
        walk_through_the_monitor(seed, steps);
    }
}

fn walk_through_the_monitor(seed: u64, steps: usize) {
    let mut repo = TestRepo::new();
    write_file(&repo.root.join(".gitignore"), "*.log\n");
    repo.commit_all("ignore logs");
    let _tmux = repo.start_tmux();
    repo.wtmux(&["add", "feat", "--no-agent"]).ok();
    let wt = repo.worktree("feat");
    let session = repo.path(".git/wtmux/fsmonitor/session");
    repo.list(); // starts the monitor
    common::wait_until(10, "the monitor to start", || session.exists());
    let mut walk = Walk {
        wt,
        repo,
        rng: Rng::new(seed),
        seed,
        log: Vec::new(),
    };
    for _ in 0..steps {
        let done = walk.step();
        walk.log.push(format!("{}: {done}", walk.log.len() + 1));
        let run = walk
            .repo
            .wtmux(&["__content", walk.wt.to_str().unwrap(), "--monitored"]);
        if run.code() != 0 {
            walk.fail(format!("fingerprint failed: {}", run.stderr()));
        }
        let json: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
        let monitored = &json["monitored"];
        if monitored["running"] != true {
            walk.fail(format!("the monitor is not running: {monitored}"));
        }
        let mut ours: Vec<String> = monitored["paths"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap().to_string())
            .collect();
        ours.sort();
        let expected = oracle_status(&walk);
        if ours != expected {
            walk.fail(format!(
                "changed paths through the monitor differ\n wtmux: {ours:?}\n   git: {expected:?}"
            ));
        }
        let tree = walk.oracle();
        if monitored["tree"].as_str() != Some(tree.as_str()) {
            walk.fail(format!(
                "the fingerprint through the monitor {} but git add -A + write-tree gives {tree}",
                monitored["tree"]
            ));
        }
    }
    eprintln!("seed {seed}: {steps} steps through the monitor, 0 disagreements");
}
