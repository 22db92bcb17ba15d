//! The display cache of the content fingerprint (`core::fingerprint_cache`) must never answer
//! what git would not: random edits, each followed by the cache's answer (asked first, keyed by
//! what it saw before the edit) and git's exact one.

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
