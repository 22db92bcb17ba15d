//! The display cache of the content fingerprint (`core::fingerprint_cache`) must never answer
//! what git would not: random edits, each followed by the cache's answer (asked first, keyed by
//! what it saw before the edit) and git's exact one. Nor the display status, which git answers
//! from wtmux's copy of the index with an untracked cache (`status::display`).

mod common;

use std::time::{Duration, SystemTime};

use common::{Rng, TestRepo, write_file};

const NAMES: &[&str] = &[
    "README.md",
    "src/lib.txt",
    "src/other.txt",
    "a.txt",
    "new/b.txt",
    "new/deeper/c.txt",
    "ignored.log",
    "nest/x/y.txt",
];

/// Entries younger than this are not trusted by the cache in these runs (above the clock's
/// tick; the real margin is 2 s).
const RACY_MS: u64 = 20;

struct Asked {
    cached: String,
    source: String,
    exact: String,
}

fn ask(repo: &TestRepo) -> Asked {
    let run = repo.wtmux(&[
        "__content",
        repo.root.to_str().unwrap(),
        "--display-racy-ms",
        &RACY_MS.to_string(),
    ]);
    let json: serde_json::Value = serde_json::from_str(&run.ok()).unwrap();
    Asked {
        cached: format!("{} {}", json["display"]["tree"], json["display"]["key"]),
        source: json["display"]["source"].as_str().unwrap().to_string(),
        exact: format!("{} {}", json["tree"], json["key"]),
    }
}

/// Waits until everything written so far is older than the cache's racy margin (the clock
/// passing, not another process: nothing a slow machine can outrun).
fn let_settle() {
    let until = SystemTime::now() + Duration::from_millis(RACY_MS + 5);
    while SystemTime::now() < until {
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn random_edits_the_cached_fingerprint_is_always_gits() {
    let seed = std::env::var("WTMUX_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x0d15_ca11);
    let steps = 120;
    let repo = TestRepo::new();
    repo.write(".gitignore", "*.log\n");
    repo.commit_all("ignore logs");
    let mut rng = Rng::new(seed);
    let mut log = Vec::new();
    let (mut from_cache, mut stored) = (0, 0);
    for step in 0..steps {
        let name = *rng.pick(NAMES);
        let path = repo.root.join(name);
        let what = match rng.below(10) {
            0..=2 => {
                let text = ["one\n", "two\n", "three\n", "x", ""][rng.below(5)];
                write_file(&path, text);
                format!("write {name} {text:?}")
            }
            3 | 4 => {
                // Same size, other bytes, within the same second as the answer just cached:
                // git's racy case. The mtime is put back too, as `cp -p` or a restore would.
                let old = std::fs::read(&path).unwrap_or_default();
                let modified = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
                let mut new = old.clone();
                match new.first_mut() {
                    Some(b) => *b = if *b == b'Z' { b'Y' } else { b'Z' },
                    None => new = b"Z".to_vec(),
                }
                let _ = ask(&repo); // cached now, if it can be
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(&path, &new).unwrap();
                if let (Some(time), true) = (modified, rng.chance(50)) {
                    let file = std::fs::File::options().write(true).open(&path).unwrap();
                    file.set_modified(time).unwrap();
                }
                format!("same-size rewrite of {name}")
            }
            5 => {
                let _ = std::fs::remove_file(&path);
                format!("delete {name}")
            }
            6 => {
                repo.git(&["add", "-A", "--", "."]);
                "git add -A".into()
            }
            7 => {
                repo.git(&["add", "-A"]);
                let _ = repo.git_raw_try_in(&repo.root, &["commit", "-q", "-m", "step"]);
                "commit".into()
            }
            8 => {
                use std::os::unix::fs::PermissionsExt;
                if path.exists() {
                    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
                    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode ^ 0o100))
                        .unwrap();
                }
                format!("chmod {name}")
            }
            _ => {
                let _ = repo.git_raw_try_in(&repo.root, &["rm", "-q", "--cached", "--", name]);
                format!("git rm --cached {name}")
            }
        };
        log.push(what);
        let_settle();
        // Keyed by what it saw before the step: a stale answer shows here.
        let first = ask(&repo);
        let again = ask(&repo);
        for asked in [&first, &again] {
            assert_eq!(
                asked.cached,
                asked.exact,
                "seed {seed}, step {step}: the cache ({}) answered other than git; the last steps:\n{}",
                asked.source,
                log[log.len().saturating_sub(8)..].join("\n")
            );
        }
        from_cache += usize::from(again.source == "cached");
        stored += usize::from(first.source == "stored");
    }
    eprintln!("seed {seed}: {steps} steps, {stored} stored, {from_cache} answered from the cache");
    assert!(
        from_cache * 2 >= steps && stored * 2 >= steps,
        "the cache was hardly used ({stored} stored, {from_cache} answered of {steps}): the test tests little"
    );
}

/// What changed less than the racy margin ago is never cached: its stat data cannot tell a
/// same-size rewrite within the clock's tick.
#[test]
fn a_fresh_change_is_not_cached() {
    let repo = TestRepo::new();
    repo.write("README.md", "changed\n");
    let run = repo.wtmux(&[
        "__content",
        repo.root.to_str().unwrap(),
        "--display-racy-ms",
        "60000",
    ]);
    let json: serde_json::Value = serde_json::from_str(&run.ok()).unwrap();
    assert_eq!(json["display"]["source"], "computed", "{json}");
    let_settle();
    assert_eq!(ask(&repo).source, "stored");
    assert_eq!(ask(&repo).source, "cached");
}

/// Waits until the clock is past the display status's racy margin (2 s) for everything written
/// so far, whole seconds included (the clock passing, not another process).
fn wait_past_racy_margin() {
    let until = SystemTime::now() + Duration::from_millis(3100);
    while SystemTime::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The main worktree's changed count in `list --json` (no monitor: a full look).
fn listed_changes(repo: &TestRepo) -> u64 {
    let listing = repo.list();
    let rows = listing["worktrees"].as_array().unwrap();
    let main = rows.iter().find(|r| r["is_main"] == true).unwrap();
    main["changed"].as_u64().unwrap()
}

/// What `git status` counts in the main worktree.
fn git_changes(repo: &TestRepo) -> u64 {
    repo.git(&[
        "--no-optional-locks",
        "status",
        "--porcelain",
        "--untracked-files=normal",
    ])
    .lines()
    .filter(|l| !l.is_empty())
    .count() as u64
}

fn ctime_seconds(path: &std::path::Path) -> i64 {
    std::os::unix::fs::MetadataExt::ctime(&std::fs::metadata(path).unwrap())
}

/// Puts back a directory's mtime, as tar, rsync or `cp -a` do (its ctime moves to now).
fn put_back_mtime(dir: &std::path::Path, time: SystemTime) {
    std::fs::File::open(dir)
        .unwrap()
        .set_modified(time)
        .unwrap();
}

/// git's untracked cache (kept in the display status's copy of the index) trusts a directory
/// whose stat data did not change, in whole seconds. A file appearing in it within the second
/// git recorded it, its mtime put back, changes nothing git compares: the copy must not be
/// trusted when it records something that recent. Tried until the recording and the new file
/// fall in the same second (across a second's boundary, git sees the ctime move anyway).
#[test]
fn a_file_appearing_in_the_second_its_directory_was_recorded_is_listed() {
    let repo = TestRepo::new();
    write_file(&repo.root.join("d/tracked.txt"), "tracked\n");
    repo.commit_all("a directory");
    let old = SystemTime::now() - Duration::from_secs(60);
    let dir = repo.root.join("d");
    for attempt in 0..20 {
        put_back_mtime(&dir, old);
        // Tracked files, the index and the excludes are older than the margin: only the
        // directory's record is recent.
        wait_past_racy_margin();
        put_back_mtime(&dir, old);
        assert_eq!(listed_changes(&repo), git_changes(&repo));
        let recorded = ctime_seconds(&dir);
        write_file(&dir.join(format!("new-{attempt}.txt")), "new\n");
        put_back_mtime(&dir, old);
        if ctime_seconds(&dir) != recorded {
            continue; // a second boundary passed
        }
        assert_eq!(
            listed_changes(&repo),
            git_changes(&repo),
            "a file that appeared in the second its directory was recorded is not listed"
        );
        return;
    }
    panic!("20 attempts never kept a look and an edit within one second");
}

/// With nothing recent, the display status keeps its copy of the index, untracked cache and
/// all (or the speed it is there for is gone), and a change after that is still seen.
#[test]
fn the_display_status_keeps_its_copy_while_nothing_changes() {
    let repo = TestRepo::new();
    write_file(&repo.root.join("d/tracked.txt"), "tracked\n");
    repo.commit_all("a directory");
    wait_past_racy_margin();
    let copies = || -> Vec<(std::path::PathBuf, String)> {
        let mut found = Vec::new();
        for day in std::fs::read_dir(repo.root.join(".git/wtmux/content"))
            .unwrap()
            .flatten()
        {
            for file in std::fs::read_dir(day.path().join("index"))
                .unwrap()
                .flatten()
            {
                let name = file.file_name().to_string_lossy().into_owned();
                if name.starts_with("status-") && name.ends_with(".index") {
                    let meta = file.metadata().unwrap();
                    let mark = format!(
                        "{} {:?}",
                        std::os::unix::fs::MetadataExt::ino(&meta),
                        meta.modified().unwrap()
                    );
                    found.push((file.path(), mark));
                }
            }
        }
        found
    };
    assert_eq!(listed_changes(&repo), 0);
    let first = copies();
    assert_eq!(
        first.len(),
        1,
        "one copy of the main worktree's index: {first:?}"
    );
    let bytes = std::fs::read(&first[0].0).unwrap();
    assert!(
        bytes.windows(4).any(|w| w == b"UNTR"),
        "git keeps its untracked cache in the copy"
    );
    assert_eq!(listed_changes(&repo), 0);
    assert_eq!(
        copies(),
        first,
        "nothing changed: the copy is neither made again nor rewritten"
    );
    write_file(&repo.root.join("d/new.txt"), "new\n");
    assert_eq!(listed_changes(&repo), 1);
    assert_eq!(git_changes(&repo), 1);
}

/// `git status` hides what is written below a skip-worktree entry (here a file turned into a
/// directory), while `git add -A` takes it: a key built from the listed paths cannot see it,
/// so such an index is never cached (found by a longer walk: seed 20261206, step 559).
#[test]
fn what_is_written_below_a_skip_worktree_entry_is_never_answered_from_the_cache() {
    let repo = TestRepo::new();
    write_file(&repo.root.join("d/y.up"), "tracked\n");
    repo.git(&["add", "d/y.up"]);
    repo.git(&["commit", "-qm", "y"]);
    write_file(&repo.root.join("a.txt"), "dirty\n");
    repo.git(&["update-index", "--skip-worktree", "d/y.up"]);
    std::fs::remove_file(repo.root.join("d/y.up")).unwrap();
    let_settle();
    let before = ask(&repo);
    assert_eq!(before.cached, before.exact);
    write_file(&repo.root.join("d/y.up/inner.txt"), "below the entry\n");
    let_settle();
    let after = ask(&repo);
    assert_ne!(
        after.exact, before.exact,
        "git takes the file below the entry"
    );
    assert_eq!(after.cached, after.exact, "source: {}", after.source);
}
