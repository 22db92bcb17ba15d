//! Fault tests: two operations at once, `kill -9` at each step, hostile names, a missing base.
//! Races are made deterministic with the pause points of `WTMUX_TEST_PAUSE` (a FIFO the test
//! holds), never with sleeps.

mod common;

use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use common::{TestRepo, wait_until, write_file};

/// A FIFO a paused wtmux process announces itself on and waits on.
#[allow(dead_code)] // the merge fault tests use it
struct Pause {
    fifo: PathBuf,
}

#[allow(dead_code)]
impl Pause {
    fn new(repo: &TestRepo, name: &str) -> Pause {
        let fifo = repo.dir.path().join(format!("{name}.fifo"));
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(status.success());
        Pause { fifo }
    }

    /// The environment value that pauses at `steps`.
    fn at(&self, steps: &str) -> String {
        format!("{steps}:{}", self.fifo.display())
    }

    /// Blocks until the process reached a pause point; returns its name. The process must not
    /// have died first (a dead writer never opens the FIFO): `child` is polled meanwhile.
    fn reached(&self, child: &mut Child) -> String {
        use std::io::Read;
        use std::os::unix::fs::OpenOptionsExt;
        // Non-blocking open, then poll: a process that exits early must fail the test, not hang it.
        let mut fifo = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&self.fifo)
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut text = String::new();
        loop {
            let mut buf = [0u8; 256];
            match fifo.read(&mut buf) {
                Ok(n) if n > 0 => {
                    text.push_str(&String::from_utf8_lossy(&buf[..n]));
                    if text.ends_with('\n') {
                        return text.trim().to_string();
                    }
                }
                _ => {}
            }
            if let Some(status) = child.try_wait().unwrap() {
                panic!("the process exited ({status}) before reaching a pause point");
            }
            assert!(Instant::now() < deadline, "no pause point reached");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Lets the paused process go on.
    fn release(&self) {
        drop(
            std::fs::OpenOptions::new()
                .write(true)
                .open(&self.fifo)
                .unwrap(),
        );
    }
}

/// Waits for a child with a deadline (a hang fails the test instead of blocking it forever).
fn finish(mut child: Child, seconds: u64) -> std::process::Output {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "timed out; stdout: {}\nstderr: {}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[allow(dead_code)]
fn spawn_with(repo: &TestRepo, dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Child {
    let mut command = std::process::Command::new(common::WTMUX);
    command
        .current_dir(dir)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    common::sandbox(&mut command, &repo.home);
    for (key, value) in env {
        command.env(key, value);
    }
    command.spawn().unwrap()
}

fn process_gone(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // A zombie has stopped; its parent has not reaped it yet.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

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
