//! Real parts for tests: git repositories in temp dirs with a sandboxed git configuration, and
//! tmux servers on their own sockets, killed (only they) when the test ends.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const WTMUX: &str = env!("CARGO_BIN_EXE_wtmux");

/// The environment every process of a test runs with: no user or system git config, fixed
/// identities, a private HOME, and no trace of an outer tmux.
pub fn sandbox(command: &mut Command, home: &Path) {
    for var in [
        "TMUX",
        "TMUX_PANE",
        "WTMUX_PANE",
        "WTMUX_CLIENT",
        "GIT_DIR",
        "GIT_WORK_TREE",
    ] {
        command.env_remove(var);
    }
    command
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("XDG_STATE_HOME", home.join(".local/state"))
        .env("XDG_DATA_HOME", home.join(".local/share"))
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.com")
        .env("GIT_AUTHOR_DATE", "2026-01-01T00:00:00Z")
        .env("GIT_COMMITTER_DATE", "2026-01-01T00:00:00Z")
        .env("LC_ALL", "C")
        .env("SHELL", "/bin/sh")
        .env("TERM", "xterm-256color")
        .env("NO_COLOR", "1");
}

pub struct TestRepo {
    pub dir: tempfile::TempDir,
    /// The main worktree.
    pub root: PathBuf,
    pub home: PathBuf,
    /// When set, wtmux runs as if inside this tmux server.
    pub tmux: Option<TmuxEnv>,
}

#[derive(Clone, Debug)]
pub struct TmuxEnv {
    pub socket: PathBuf,
    pub pane: String,
}

impl TestRepo {
    /// A repository on `main` with one commit and no wtmux config.
    pub fn new() -> TestRepo {
        TestRepo::new_at("repo")
    }

    /// Like [`TestRepo::new`], with the main worktree in a directory of this name (for paths
    /// holding hostile text).
    pub fn new_at(name: &str) -> TestRepo {
        let dir = tempfile::tempdir().expect("tempdir");
        let base = std::fs::canonicalize(dir.path()).unwrap();
        let root = base.join(name);
        let home = base.join("home");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(home.join(".config")).unwrap();
        let repo = TestRepo {
            dir,
            root,
            home,
            tmux: None,
        };
        repo.git(&["init", "-q", "-b", "main"]);
        repo.write("README.md", "hello\n");
        repo.write("src/lib.txt", "one\ntwo\nthree\n");
        repo.commit_all("initial");
        repo
    }

    /// A repository whose `.wtmux.toml` (committed) holds `config`, its commands trusted (as
    /// by a user who read them and ran `wtmux trust`).
    pub fn with_config(config: &str) -> TestRepo {
        let repo = TestRepo::with_untrusted_config(config);
        repo.trust();
        repo
    }

    /// A repository whose `.wtmux.toml` (committed) holds `config`, as a clone brings it: its
    /// commands not trusted.
    pub fn with_untrusted_config(config: &str) -> TestRepo {
        let repo = TestRepo::new();
        repo.write(".wtmux.toml", config);
        repo.commit_all("configure wtmux");
        repo
    }

    /// `wtmux trust`: trusts the commands `.wtmux.toml` defines now.
    pub fn trust(&self) {
        self.wtmux(&["trust"]).ok();
    }

    /// Writes the user's own configuration file (trusted, unlike a repository's).
    pub fn user_config(&self, text: &str) {
        write_file(&self.home.join(".config/wtmux/config.toml"), text);
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.root.join(relative)
    }

    pub fn worktree(&self, slug: &str) -> PathBuf {
        self.root.join(".worktrees").join(slug)
    }

    pub fn write(&self, relative: &str, text: &str) {
        write_file(&self.root.join(relative), text);
    }

    pub fn commit_all(&self, message: &str) {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "-m", message]);
    }

    fn command(&self, program: &str, dir: &Path) -> Command {
        let mut command = Command::new(program);
        command.current_dir(dir).stdin(Stdio::null());
        sandbox(&mut command, &self.home);
        if let Some(tmux) = &self.tmux {
            command
                .env("TMUX", format!("{},1,0", tmux.socket.display()))
                .env("TMUX_PANE", &tmux.pane);
        }
        command
    }

    /// Runs git in `dir` and returns stdout, trimmed; panics on failure.
    pub fn git_in(&self, dir: &Path, args: &[&str]) -> String {
        self.git_raw_in(dir, args).trim().to_string()
    }

    /// Runs git in `dir` and returns stdout as it is; panics on failure.
    pub fn git_raw_in(&self, dir: &Path, args: &[&str]) -> String {
        let out = self.command("git", dir).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn git(&self, args: &[&str]) -> String {
        self.git_in(&self.root, args)
    }

    /// Runs wtmux in the main worktree.
    pub fn wtmux(&self, args: &[&str]) -> Run {
        self.wtmux_in(&self.root, args)
    }

    pub fn wtmux_in(&self, dir: &Path, args: &[&str]) -> Run {
        Run(self.command(WTMUX, dir).args(args).output().unwrap())
    }

    /// Starts wtmux without waiting for it.
    pub fn spawn_wtmux(&self, dir: &Path, args: &[&str]) -> std::process::Child {
        self.command(WTMUX, dir)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// Runs wtmux in the main worktree with extra environment variables.
    pub fn wtmux_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut command = self.command(WTMUX, &self.root);
        for (key, value) in env {
            command.env(key, value);
        }
        Run(command.args(args).output().unwrap())
    }

    /// Runs git in `dir`; `None` when it fails.
    pub fn git_raw_try_in(&self, dir: &Path, args: &[&str]) -> Option<String> {
        let out = self.command("git", dir).args(args).output().ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Starts wtmux without waiting for it, with extra environment variables.
    pub fn spawn_wtmux_with(
        &self,
        dir: &Path,
        args: &[&str],
        env: &[(&str, &Path)],
    ) -> std::process::Child {
        let mut command = self.command(WTMUX, dir);
        for (key, value) in env {
            command.env(key, value);
        }
        command
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// `wtmux list --json`, parsed.
    pub fn list(&self) -> serde_json::Value {
        let run = self.wtmux(&["list", "--json"]);
        run.ok();
        serde_json::from_str(&run.stdout()).expect("list --json is JSON")
    }

    /// The list row of a branch.
    pub fn row(&self, branch: &str) -> serde_json::Value {
        self.list()["worktrees"]
            .as_array()
            .unwrap()
            .iter()
            .find(|w| w["branch"] == branch)
            .cloned()
            .unwrap_or_else(|| panic!("no row for {branch}"))
    }

    pub fn check_state(&self, branch: &str) -> String {
        self.row(branch)["check"]["state"]
            .as_str()
            .unwrap()
            .to_string()
    }

    pub fn branches(&self) -> Vec<String> {
        self.git(&["branch", "--format=%(refname:short)"])
            .lines()
            .map(str::to_string)
            .collect()
    }

    pub fn worktree_paths(&self) -> Vec<String> {
        self.git(&["worktree", "list", "--porcelain"])
            .lines()
            .filter_map(|l| l.strip_prefix("worktree ").map(str::to_string))
            .collect()
    }

    /// Everything about the repository a refused command must leave as it was.
    pub fn snapshot(&self) -> String {
        format!(
            "{}\n{}\n{}\n{}",
            self.git(&["for-each-ref", "--format=%(refname) %(objectname)"]),
            self.worktree_paths().join("\n"),
            self.git(&["status", "--porcelain=v1", "--untracked-files=all"]),
            self.git(&["rev-parse", "HEAD"])
        )
    }

    /// Starts an isolated tmux server and makes wtmux run as if inside it.
    pub fn start_tmux(&mut self) -> TmuxServer {
        let server = TmuxServer::start(&self.dir.path().join("tmux.sock"), &self.home, &self.root);
        self.tmux = Some(TmuxEnv {
            socket: server.socket.clone(),
            pane: server.first_pane(),
        });
        server
    }
}

pub fn write_file(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// The result of one wtmux run.
pub struct Run(pub Output);

impl Run {
    pub fn code(&self) -> i32 {
        self.0.status.code().unwrap_or(-1)
    }
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.0.stdout).into_owned()
    }
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.0.stderr).into_owned()
    }
    /// Asserts success and returns stdout.
    pub fn ok(&self) -> String {
        assert_eq!(
            self.code(),
            0,
            "expected success\nstdout: {}\nstderr: {}",
            self.stdout(),
            self.stderr()
        );
        self.stdout()
    }
    /// Asserts a refusal: exit 1 and exactly one line on stderr; returns it.
    pub fn refused(&self) -> String {
        assert_eq!(
            self.code(),
            1,
            "expected exit 1\nstdout: {}\nstderr: {}",
            self.stdout(),
            self.stderr()
        );
        let stderr = self.stderr();
        assert_eq!(
            stderr.trim_end().lines().count(),
            1,
            "one line, got: {stderr:?}"
        );
        stderr.trim_end().to_string()
    }
}

/// A tmux server on its own socket; dropping it kills that server and nothing else.
pub struct TmuxServer {
    pub socket: PathBuf,
    home: PathBuf,
}

impl TmuxServer {
    pub fn start(socket: &Path, home: &Path, dir: &Path) -> TmuxServer {
        let server = TmuxServer {
            socket: socket.to_path_buf(),
            home: home.to_path_buf(),
        };
        let out = server
            .command()
            .args([
                "-f",
                "/dev/null",
                "new-session",
                "-d",
                "-s",
                "test",
                "-x",
                "200",
                "-y",
                "50",
            ])
            .arg("-c")
            // tmux format-expands -c: `##` is a literal `#` (paths may hold hostile text).
            .arg(wtmux::core::tmux::format_literal_os(dir.as_os_str()))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "tmux: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        server
    }

    pub fn command(&self) -> Command {
        let mut command = Command::new("tmux");
        sandbox(&mut command, &self.home);
        command.arg("-S").arg(&self.socket).stdin(Stdio::null());
        command
    }

    pub fn run(&self, args: &[&str]) -> String {
        let out = self.command().args(args).output().unwrap();
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim_end().to_string()
    }

    /// Like `run`, returning `None` when tmux fails.
    pub fn try_run(&self, args: &[&str]) -> Option<String> {
        let out = self.command().args(args).output().ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim_end().to_string())
    }

    pub fn first_pane(&self) -> String {
        self.run(&["list-panes", "-t", "test", "-F", "#{pane_id}"])
            .lines()
            .next()
            .unwrap()
            .to_string()
    }

    /// `window_id name tag` for every window.
    pub fn windows(&self) -> Vec<(String, String, String)> {
        self.run(&[
            "list-windows",
            "-a",
            "-F",
            "#{window_id} #{window_name} #{@wtmux_worktree}",
        ])
        .lines()
        .map(|l| {
            let mut parts = l.splitn(3, ' ');
            (
                parts.next().unwrap_or("").to_string(),
                parts.next().unwrap_or("").to_string(),
                parts.next().unwrap_or("").to_string(),
            )
        })
        .collect()
    }

    pub fn capture(&self, target: &str) -> String {
        self.run(&["capture-pane", "-p", "-t", target])
    }
}

impl Drop for TmuxServer {
    fn drop(&mut self) {
        let _ = self.command().arg("kill-server").output();
    }
}

/// An outer tmux server whose pane runs a client attached to an inner one, so the inner server
/// has a real client (for popups and messages); keys typed into the outer pane reach it.
pub struct Client {
    pub outer: TmuxServer,
}

impl Client {
    /// Sources the plugin into `inner` (with this build as `@wtmux-bin`), attaches a client on
    /// its first window and opens the popup with its key binding.
    pub fn open_popup(repo: &TestRepo, inner: &TmuxServer) -> Client {
        inner.run(&["set-option", "-g", "@wtmux-bin", WTMUX]);
        inner.run(&[
            "run-shell",
            &format!("{}/tmux/wtmux.tmux", env!("CARGO_MANIFEST_DIR")),
        ]);
        inner.run(&["select-window", "-t", "test:0"]);
        let client = Client::attach(repo, inner);
        client.keys(&["C-b", "w"]);
        client
    }

    pub fn attach(repo: &TestRepo, inner: &TmuxServer) -> Client {
        let outer = TmuxServer::start(&repo.dir.path().join("outer.sock"), &repo.home, &repo.home);
        outer.run(&["resize-window", "-t", "test", "-x", "120", "-y", "40"]);
        let attach = format!(
            "env -u TMUX tmux -S '{}' attach -t test",
            inner.socket.display()
        );
        outer.run(&["respawn-pane", "-k", "-t", "test", &attach]);
        wait_until(10, "the inner client to attach", || {
            !inner.run(&["list-clients"]).is_empty()
        });
        Client { outer }
    }

    pub fn screen(&self) -> String {
        self.outer.capture("test")
    }

    /// Waits for the screen to satisfy `condition`; on timeout, shows the screen.
    pub fn wait_for(&self, what: &str, condition: impl Fn(&str) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if condition(&self.screen()) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "timed out waiting for {what}; the screen:\n{}",
            self.screen()
        );
    }

    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "test"];
        args.extend(keys);
        self.outer.run(&args);
    }
}

/// Polls `condition` until it holds or `seconds` pass; panics with `what` on timeout.
pub fn wait_until(seconds: u64, what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < deadline {
        if condition() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting for {what}");
}

// ---------------------------------------------------------------------------------------------
// Pause points (`WTMUX_TEST_PAUSE`) and processes

/// A FIFO a paused wtmux process announces itself on and waits on.
pub struct Pause {
    pub fifo: PathBuf,
}

impl Pause {
    pub fn new(repo: &TestRepo, name: &str) -> Pause {
        let fifo = repo.dir.path().join(format!("{name}.fifo"));
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(status.success());
        Pause { fifo }
    }

    /// The environment value that pauses at `steps`.
    pub fn at(&self, steps: &str) -> String {
        format!("{steps}:{}", self.fifo.display())
    }

    /// Blocks until the process reached a pause point; returns its name. The process must not
    /// have died first (a dead writer never opens the FIFO): `child` is polled meanwhile.
    pub fn reached(&self, child: &mut std::process::Child) -> String {
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
    pub fn release(&self) {
        drop(
            std::fs::OpenOptions::new()
                .write(true)
                .open(&self.fifo)
                .unwrap(),
        );
    }
}

/// Waits for a child with a deadline (a hang fails the test instead of blocking it forever).
pub fn finish(mut child: std::process::Child, seconds: u64) -> std::process::Output {
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

pub fn spawn_with(
    repo: &TestRepo,
    dir: &Path,
    env: &[(&str, &str)],
    args: &[&str],
) -> std::process::Child {
    // As inside the repository's tmux server, when it has one.
    let mut command = repo.command(WTMUX, dir);
    command
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    for (key, value) in env {
        command.env(key, value);
    }
    command.spawn().unwrap()
}

pub fn process_gone(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // A zombie has stopped; its parent has not reaped it yet.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

/// A process the test started, killed when the test ends however it ends (a failed assertion
/// must not leave it holding the test runner's output open).
pub struct KillOnDrop(Option<std::process::Child>);

impl KillOnDrop {
    pub fn new(child: std::process::Child) -> KillOnDrop {
        KillOnDrop(Some(child))
    }

    pub fn child(&mut self) -> &mut std::process::Child {
        self.0.as_mut().expect("not taken")
    }

    /// The process, no longer killed at the end: the test waits for it itself.
    pub fn take(mut self) -> std::process::Child {
        self.0.take().expect("not taken")
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// xorshift64*: a seeded generator for the randomized tests, the same sequence on every
/// machine for a seed (no crate needed for this).
pub struct Rng(pub u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}
