//! Live state you can trust: random steps on several worktrees (edits, new directories,
//! deletions, commits, worktrees added and removed, checks, an agent asking and answered, a
//! configuration change), and after each one, within one second, `wtmux list --json` inside
//! tmux with the monitors running equals the same listing with the file-system monitor off (a
//! full scan), and equals git's own status. A fixed seed here (`WTMUX_TEST_SEED` picks another;
//! the seed is printed on failure).

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{Rng, TestRepo, write_file};

/// `list --json`, with the file-system monitor (inside tmux, it runs) or without it.
fn listing(repo: &TestRepo, monitor: bool) -> serde_json::Value {
    let env: &[(&str, &str)] = if monitor {
        &[]
    } else {
        &[("WTMUX_FSMONITOR", "off")]
    };
    let run = repo.wtmux_env(&["list", "--json"], env);
    serde_json::from_str(&run.ok()).expect("list --json is JSON")
}

/// git's own answer for a worktree: files differing from HEAD, and HEAD.
fn git_view(repo: &TestRepo, path: &Path) -> (u64, String) {
    let status = repo.git_raw_in(path, &["status", "--porcelain=v1", "-uall", "-z"]);
    let changed = status.split('\0').filter(|l| !l.is_empty()).count() as u64;
    (changed, repo.git_in(path, &["rev-parse", "HEAD"]))
}

fn agent_config(trigger: &Path, quiet: &str) -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fake-agent.sh");
    format!(
        "agent_quiet = \"{quiet}\"\n[[check]]\nname = \"ok\"\nrun = \"true\"\n[agents.asker]\nrun = \"sh {script} --ask-when {}\"\n",
        trigger.display()
    )
}

#[test]
fn list_inside_tmux_is_never_wrong_for_more_than_a_second() {
    let seed: u64 = std::env::var("WTMUX_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x11fe_57a7);
    let scratch = tempfile::tempdir().unwrap();
    let trigger = scratch.path().join("ask-now");
    let mut repo = TestRepo::with_config(&agent_config(&trigger, "1s"));
    let _tmux = repo.start_tmux();
    repo.wtmux(&["add", "agent", "--agent", "asker"]).ok();
    let mut worktrees: Vec<String> = vec!["agent".into()];
    for name in ["w1", "w2"] {
        repo.wtmux(&["add", name, "--no-agent"]).ok();
        worktrees.push(name.into());
    }
    // The file-system monitor runs (the first listing starts it), or there is nothing to test.
    repo.list();
    common::wait_until(10, "the file-system monitor", || {
        repo.path(".git/wtmux/fsmonitor/session").exists()
    });
    let mut rng = Rng(seed | 1);
    let mut next_name = 3;
    let mut asked = false;
    let mut stale = Vec::new();
    for step in 0..30 {
        let pick = worktrees[rng.below(worktrees.len())].clone();
        let path = repo.worktree(&pick);
        let what = match rng.below(9) {
            0 => {
                write_file(&path.join("src/lib.txt"), &format!("edit {step}\n"));
                format!("edit src/lib.txt in {pick}")
            }
            1 => {
                write_file(
                    &path.join(format!("new{step}/deeper/f.txt")),
                    "a file in new directories\n",
                );
                format!("create new{step}/deeper/f.txt in {pick}")
            }
            2 => {
                let _ = std::fs::remove_file(path.join("README.md"));
                format!("delete README.md in {pick}")
            }
            3 => {
                repo.git_in(&path, &["add", "-A"]);
                let _ =
                    repo.git_raw_try_in(&path, &["commit", "-q", "-m", &format!("step {step}")]);
                format!("commit everything in {pick}")
            }
            4 => {
                let name = format!("w{next_name}");
                next_name += 1;
                repo.wtmux(&["add", &name, "--no-agent"]).ok();
                worktrees.push(name.clone());
                format!("add worktree {name}")
            }
            5 if pick != "agent" && worktrees.len() > 2 => {
                repo.wtmux(&["remove", &pick, "--force"]).ok();
                worktrees.retain(|w| *w != pick);
                format!("remove worktree {pick}")
            }
            6 => {
                repo.wtmux(&["check", &pick, "--wait"]);
                format!("check {pick}")
            }
            7 if !asked => {
                std::fs::write(&trigger, "").unwrap();
                asked = true;
                "the agent asks".to_string()
            }
            7 => {
                let _ = repo.wtmux(&["send", "agent", "y"]);
                "the agent is answered".to_string()
            }
            _ => {
                let quiet = if rng.below(2) == 0 { "1s" } else { "2s" };
                repo.write(".wtmux.toml", &agent_config(&trigger, quiet));
                repo.trust();
                format!("agent_quiet = {quiet}")
            }
        };
        // Within a second, the monitored listing equals the full scan and git.
        let started = Instant::now();
        let mut last;
        let settled = loop {
            let live = listing(&repo, true);
            let scanned = listing(&repo, false);
            let mut verdict = (live == scanned)
                .then_some(())
                .ok_or_else(|| format!("monitored listing:\n{live:#}\nfull scan:\n{scanned:#}"));
            if verdict.is_ok() {
                for row in live["worktrees"].as_array().unwrap() {
                    let path = Path::new(row["path"].as_str().unwrap());
                    let (changed, head) = git_view(&repo, path);
                    if row["changed"].as_u64() != Some(changed)
                        || !head.starts_with(row["head"].as_str().unwrap_or("-"))
                    {
                        verdict = Err(format!(
                            "{}: wtmux says {} changed at {}, git {changed} at {head}",
                            path.display(),
                            row["changed"],
                            row["head"]
                        ));
                    }
                }
            }
            match verdict {
                Ok(()) => break started.elapsed(),
                Err(why) => last = why,
            }
            assert!(
                started.elapsed() < Duration::from_secs(1),
                "seed {seed:#x} step {step} ({what}): still wrong after a second: {last}"
            );
        };
        stale.push(settled);
        assert!(
            repo.path(".git/wtmux/fsmonitor/session").exists(),
            "seed {seed:#x} step {step} ({what}): the file-system monitor gave up"
        );
    }
    stale.sort();
    eprintln!(
        "staleness: median {:?}, max {:?}",
        stale[stale.len() / 2],
        stale.last().unwrap()
    );
}

/// The popup reads every worktree once when it opens, also when it has to start the
/// file-system monitor itself (here a killed monitor left its session behind), and its rows
/// then follow that monitor: a full listing before the monitor watched would leave no markers
/// (the monitor could not tell of later changes), and one more after it would read every
/// worktree twice.
#[test]
fn the_popup_reads_every_worktree_once_and_follows_the_monitor_it_started() {
    let mut repo = TestRepo::new();
    let tmux = repo.start_tmux();
    repo.wtmux(&["add", "feat", "--no-agent"]).ok();
    let monitor = repo.path(".git/wtmux/fsmonitor");
    let session = monitor.join("session");
    repo.list();
    common::wait_until(10, "a monitor to run", || {
        session.exists() && monitor.join("status.json").exists()
    });
    let status: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(monitor.join("status.json")).unwrap())
            .unwrap();
    let pid = status["pid"].as_i64().unwrap() as libc::pid_t;
    // SAFETY: a signal to the monitor this test started.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    common::wait_until(10, "the monitor to die", || {
        !wtmux::core::state::is_held(&monitor.join("daemon.lock")).unwrap()
    });
    let old_session = std::fs::read_to_string(&session).unwrap();

    let trace = repo.dir.path().join("popup.trace");
    tmux.run(&[
        "new-window",
        "-d",
        "-n",
        "ui",
        "-c",
        repo.root.to_str().unwrap(),
        "-e",
        &format!("WTMUX_UI_TRACE={}", trace.display()),
        // However slow the machine, the monitor is waited for (the popup's own patience is
        // 3 s): a second listing then is the bug, not the load.
        "-e",
        "WTMUX_TEST_MONITOR_PATIENCE_MS=60000",
        common::WTMUX,
        "ui",
    ]);
    let lines = || std::fs::read_to_string(&trace).unwrap_or_default();
    common::wait_until(20, "the popup's rows to be live", || {
        lines().lines().any(|l| l.starts_with("live "))
    });
    common::wait_until(10, "a new monitor to watch", || {
        std::fs::read_to_string(&session).is_ok_and(|s| s != old_session)
    });
    write_file(&repo.worktree("feat").join("README.md"), "edited\n");
    let deadline = Instant::now() + Duration::from_secs(15);
    while !tmux
        .capture("ui")
        .lines()
        .any(|l| l.contains("feat") && l.contains("~1"))
    {
        assert!(
            Instant::now() < deadline,
            "the edit never reached the popup's row; the screen:\n{}\nits trace:\n{}",
            tmux.capture("ui"),
            lines()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let text = lines();
    let full = text.lines().filter(|l| l.starts_with("listed ")).count();
    assert_eq!(
        full, 1,
        "every worktree read once, not {full} times:\n{text}"
    );
    tmux.run(&["send-keys", "-t", "ui", "q"]);
}
