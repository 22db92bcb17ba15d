//! `cargo bench --bench scale [-- 10 30 100 | staleness]`: what N agents cost, with the popup closed and
//! open. N fake agents (tests/fake-agent.sh --scale: a line every 5 s, a question once a minute)
//! run in their worktrees' windows of a private tmux server; wtmux's monitor watches them. For
//! each N it reports:
//!
//! - CPU of the tmux server and of every wtmux process (the monitors, the popup, the agents'
//!   wrappers; their children included), popup closed, popup open, and with every agent idle;
//! - tmux processes wtmux started per second (a `tmux` first on the server's PATH counts them);
//! - question to "waiting": from the agent's log of when it asked to the `notify` call that
//!   says so (median, p90, and how many came before the 3 s quiet period: early);
//! - key press to frame in the popup (median, max) and its peak memory.
//!
//! `staleness`: how long after a random change `wtmux list --json` (inside tmux, the
//! file-system monitor running) agrees with git's own status (median, p99).

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const WTMUX: &str = env!("CARGO_BIN_EXE_wtmux");
const FAKE_AGENT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fake-agent.sh");
const CLOSED: Duration = Duration::from_secs(40);
const OPEN: Duration = Duration::from_secs(30);
const IDLE: Duration = Duration::from_secs(20);

struct Bench {
    dir: tempfile::TempDir,
    root: PathBuf,
    home: PathBuf,
    socket: PathBuf,
}

impl Bench {
    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        for var in ["TMUX", "TMUX_PANE", "GIT_DIR", "GIT_WORK_TREE"] {
            command.env_remove(var);
        }
        command
            .current_dir(&self.root)
            .env("HOME", &self.home)
            .env("XDG_CONFIG_HOME", self.home.join(".config"))
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "Bench")
            .env("GIT_AUTHOR_EMAIL", "bench@example.com")
            .env("GIT_COMMITTER_NAME", "Bench")
            .env("GIT_COMMITTER_EMAIL", "bench@example.com")
            .env("LC_ALL", "C.UTF-8")
            .stdin(Stdio::null());
        command
    }

    fn run(&self, program: &str, args: &[&str]) -> String {
        let out = self
            .command(program)
            .args(args)
            .stderr(Stdio::piped())
            .stdout(Stdio::piped())
            .output()
            .expect("spawn");
        assert!(
            out.status.success(),
            "{program} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn tmux(&self, args: &[&str]) -> String {
        let mut all = vec!["-S", self.socket.to_str().unwrap()];
        all.extend(args);
        self.run("tmux", &all)
    }

    fn wtmux(&self, args: &[&str]) -> String {
        let out = self
            .command(WTMUX)
            .env("TMUX", format!("{},0,0", self.socket.display()))
            .args(args)
            .output()
            .expect("wtmux");
        assert!(
            out.status.success(),
            "wtmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// PATH with the counting `tmux` first.
    fn path_with_counter(&self) -> String {
        format!(
            "{}:{}",
            self.dir.path().join("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        )
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

impl Drop for Bench {
    fn drop(&mut self) {
        let _ = std::fs::write(self.path("stop"), "");
        let _ = self
            .command("tmux")
            .arg("-S")
            .arg(&self.socket)
            .arg("kill-server")
            .output();
    }
}

/// A repository with N agents at work, under a private tmux server whose PATH counts tmux calls.
fn start(agents: usize) -> Bench {
    let dir = tempfile::tempdir().unwrap();
    let base = std::fs::canonicalize(dir.path()).unwrap();
    let bench = Bench {
        root: base.join("repo"),
        home: base.join("home"),
        socket: base.join("tmux.sock"),
        dir,
    };
    std::fs::create_dir_all(&bench.root).unwrap();
    std::fs::create_dir_all(bench.home.join(".config")).unwrap();
    // Every tmux started under the server (by wtmux: the monitor, the popup) goes through here.
    let counter = base.join("bin");
    std::fs::create_dir_all(&counter).unwrap();
    let real_tmux = bench.run("sh", &["-c", "command -v tmux"]);
    std::fs::write(
        counter.join("tmux"),
        format!(
            "#!/bin/sh\necho >>{}\nexec {real_tmux} \"$@\"\n",
            base.join("tmux-calls").display()
        ),
    )
    .unwrap();
    std::fs::write(
        base.join("notify.sh"),
        format!(
            // A name of its own (the pid, made unique should pids wrap), with builtins only.
            "#!/bin/sh\nf={}/$$\nwhile [ -e \"$f\" ]; do f=\"$f.x\"; done\necho \"$1\" >\"$f\"\n",
            base.join("notifications").display()
        ),
    )
    .unwrap();
    bench.run("chmod", &["+x", counter.join("tmux").to_str().unwrap()]);
    std::fs::write(
        bench.root.join(".wtmux.toml"),
        format!(
            "notify = \"sh {}\"\n[agents.scale]\nrun = \"sh {FAKE_AGENT} --scale\"\nprompt = \"arg\"\n",
            base.join("notify.sh").display()
        ),
    )
    .unwrap();
    std::fs::write(bench.root.join("README.md"), "scale\n").unwrap();
    bench.run("git", &["init", "-q", "-b", "main"]);
    bench.run("git", &["add", "-A"]);
    bench.run("git", &["commit", "-q", "-m", "init"]);
    bench.wtmux(&["trust"]);
    let path = bench.path_with_counter();
    bench.run(
        "env",
        &[
            &format!("PATH={path}"),
            "tmux",
            "-S",
            bench.socket.to_str().unwrap(),
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-s",
            "bench",
            "-x",
            "160",
            "-y",
            "48",
        ],
    );
    std::fs::create_dir_all(base.join("asked")).unwrap();
    std::fs::create_dir_all(base.join("notifications")).unwrap();
    for i in 0..agents {
        // Spread over the 5 s between lines and the 12 slots of a minute.
        let task = format!(
            "{} {} {} {}",
            (i * 5 / agents.max(1)) % 5,
            i % 12,
            base.join("asked").join(format!("agent-{i:03}")).display(),
            base.join("stop").display()
        );
        bench.wtmux(&[
            "add",
            &format!("agent-{i:03}"),
            "--agent",
            "scale",
            "--prompt",
            &task,
        ]);
    }
    bench
}

/// CPU ticks (1/100 s) of a process and its waited-for children.
fn ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after_name = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<u64> = after_name
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    // utime, stime, cutime, cstime: fields 14-17 of stat, 12-15 after the name.
    fields.get(11..15).map(|f| f.iter().sum()).unwrap_or(0)
}

/// Every running wtmux process.
fn wtmux_pids() -> Vec<u32> {
    let exe = std::fs::canonicalize(WTMUX).unwrap();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|p| p == exe)
                && *pid != std::process::id()
        })
        .collect()
}

struct Sample {
    tmux: u64,
    wtmux: std::collections::HashMap<u32, u64>,
    calls: usize,
    at: Instant,
}

fn sample(bench: &Bench, server: u32) -> Sample {
    Sample {
        tmux: ticks(server),
        wtmux: wtmux_pids().into_iter().map(|p| (p, ticks(p))).collect(),
        calls: std::fs::read_to_string(bench.path("tmux-calls"))
            .map(|s| s.lines().count())
            .unwrap_or(0),
        at: Instant::now(),
    }
}

/// CPU (% of one core) of tmux and of wtmux, and tmux calls per second, between two samples.
fn between(a: &Sample, b: &Sample) -> (f64, f64, f64) {
    let seconds = b.at.duration_since(a.at).as_secs_f64();
    let wtmux: u64 = b
        .wtmux
        .iter()
        .map(|(pid, t)| t - a.wtmux.get(pid).copied().unwrap_or(0).min(*t))
        .sum();
    (
        (b.tmux - a.tmux) as f64 / seconds,
        wtmux as f64 / seconds,
        (b.calls - a.calls) as f64 / seconds,
    )
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Question → "waiting" latencies (s) of every question asked, and how many were never seen.
fn question_latencies(bench: &Bench, agents: usize) -> (Vec<f64>, usize) {
    // One file per notification (written by a shell alone, so that the benchmark's own
    // bookkeeping costs little): its time is the file's.
    let notes: Vec<(u128, String)> = std::fs::read_dir(bench.path("notifications"))
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let time = e
                .metadata()
                .ok()?
                .modified()
                .ok()?
                .duration_since(std::time::UNIX_EPOCH)
                .ok()?
                .as_nanos();
            Some((
                time,
                std::fs::read_to_string(e.path()).ok()?.trim().to_string(),
            ))
        })
        .collect();
    let mut latencies = Vec::new();
    let mut missed = 0;
    for i in 0..agents {
        let branch = format!("agent-{i:03}");
        let asked = std::fs::read_to_string(bench.path("asked").join(&branch)).unwrap_or_default();
        for at in asked.lines().filter_map(|l| l.parse::<u128>().ok()) {
            let told = notes
                .iter()
                .filter(|(time, message)| {
                    message.contains(&format!("wtmux: {branch} is waiting for you"))
                        && *time >= at
                        && *time < at + 10_000_000_000
                })
                .map(|(time, _)| *time)
                .min();
            match told {
                Some(time) => latencies.push((time - at) as f64 / 1e9),
                None => missed += 1,
            }
        }
    }
    latencies.sort_by(|a, b| a.partial_cmp(b).unwrap());
    (latencies, missed)
}

fn measure(agents: usize) {
    let setup = Instant::now();
    let bench = start(agents);
    let server: u32 = bench
        .tmux(&["display-message", "-p", "#{pid}"])
        .parse()
        .unwrap();
    eprintln!(
        "{agents} agents started in {:.1} s",
        setup.elapsed().as_secs_f64()
    );
    std::thread::sleep(Duration::from_secs(10));

    let a = sample(&bench, server);
    std::thread::sleep(CLOSED);
    let b = sample(&bench, server);
    let closed = between(&a, &b);

    let trace = bench.path("popup.trace");
    // tmux gives a new pane the PATH of the client that asks for it: the counting one.
    bench.run(
        "env",
        &[
            &format!("PATH={}", bench.path_with_counter()),
            "tmux",
            "-S",
            bench.socket.to_str().unwrap(),
            "new-window",
            "-d",
            "-n",
            "popup",
            "-e",
            &format!("WTMUX_UI_TRACE={}", trace.display()),
            "-c",
            bench.root.to_str().unwrap(),
            WTMUX,
            "ui",
        ],
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while !std::fs::read_to_string(&trace).is_ok_and(|t| t.contains("\nlive ")) {
        assert!(Instant::now() < deadline, "the popup never went live");
        std::thread::sleep(Duration::from_millis(50));
    }
    let popup: u32 = bench
        .tmux(&["display-message", "-p", "-t", "popup", "#{pane_pid}"])
        .parse()
        .unwrap();
    let a = sample(&bench, server);
    for n in 0..20 {
        bench.tmux(&[
            "send-keys",
            "-t",
            "popup",
            if n % 2 == 0 { "j" } else { "k" },
        ]);
        std::thread::sleep(Duration::from_millis(150));
    }
    std::thread::sleep(OPEN.saturating_sub(Duration::from_secs(3)));
    let b = sample(&bench, server);
    let open = between(&a, &b);
    std::fs::write(bench.path("stop"), "").unwrap();
    std::thread::sleep(Duration::from_secs(16)); // the longest an agent takes to see it
    // Every question was asked before the stop, and has had its 10 s since.
    let (latencies, missed) = question_latencies(&bench, agents);
    let a = sample(&bench, server);
    std::thread::sleep(IDLE);
    let b = sample(&bench, server);
    let idle = between(&a, &b);

    let status = std::fs::read_to_string(format!("/proc/{popup}/status")).unwrap_or_default();
    let peak_mb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0;
    let text = std::fs::read_to_string(&trace).unwrap_or_default();
    let mut keys: Vec<f64> = text
        .lines()
        .filter_map(|l| l.strip_prefix("key_to_frame ")?.parse().ok())
        .collect();
    keys.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let passes = text
        .lines()
        .filter(|l| l.starts_with("refresh_pass"))
        .count();
    let early = latencies.iter().filter(|l| **l < 3.0).count();
    println!(
        "{agents} agents:\n  \
         tmux server + every wtmux process   popup closed {:.1} % + {:.1} %, popup open {:.1} % + {:.1} %, all idle (popup open) {:.1} % + {:.1} % of one core\n  \
         tmux processes started by wtmux     {:.1}/s closed, {:.1}/s open, {:.1}/s all idle\n  \
         question to waiting                  median {:.2} s, p90 {:.2} s, early {early} of {}, not seen {missed}\n  \
         popup                                key to frame median {:.2} ms, max {:.2} ms ({} keys); peak memory {:.1} MB; {passes} refresh passes",
        closed.0,
        closed.1,
        open.0,
        open.1,
        idle.0,
        idle.1,
        closed.2,
        open.2,
        idle.2,
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.9),
        latencies.len(),
        percentile(&keys, 0.5),
        keys.last().copied().unwrap_or(f64::NAN),
        keys.len(),
        peak_mb,
    );
}

/// Staleness: random edits, new directories and commits in 4 worktrees under tmux (monitors
/// running); after each, how long until `wtmux list --json` shows what git's own status shows.
fn staleness(steps: usize) {
    let bench = start(0);
    for n in 0..4 {
        bench.wtmux(&["add", &format!("w{n}"), "--no-agent"]);
    }
    bench.wtmux(&["list", "--json"]); // starts the file-system monitor
    let mut seed: u64 = 0x57a1_e5ee;
    let mut next = || {
        seed ^= seed >> 12;
        seed ^= seed << 25;
        seed ^= seed >> 27;
        seed.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    let mut latencies = Vec::new();
    for step in 0..steps {
        let name = format!("w{}", next() % 4);
        let path = bench.root.join(".worktrees").join(&name);
        match next() % 3 {
            0 => std::fs::write(path.join("README.md"), format!("step {step}\n")).unwrap(),
            1 => {
                let dir = path.join(format!("d{step}/e"));
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(dir.join("f"), "x").unwrap();
            }
            _ => {
                let git = |args: &[&str]| {
                    let _ = bench.command("git").current_dir(&path).args(args).output();
                };
                git(&["add", "-A"]);
                git(&["commit", "-q", "-m", "step"]);
            }
        }
        let changed_by_git = |path: &std::path::Path| -> u64 {
            let out = bench
                .command("git")
                .current_dir(path)
                .args(["status", "--porcelain=v1", "-uall", "-z"])
                .output()
                .unwrap();
            out.stdout
                .split(|b| *b == 0)
                .filter(|l| !l.is_empty())
                .count() as u64
        };
        let want = changed_by_git(&path);
        let started = Instant::now();
        loop {
            let listing: serde_json::Value =
                serde_json::from_str(&bench.wtmux(&["list", "--json"])).unwrap();
            let row = listing["worktrees"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["branch"] == name.as_str())
                .cloned()
                .unwrap();
            if row["changed"].as_u64() == Some(want) {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "step {step}: list never showed {want} changes in {name}"
            );
        }
        latencies.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    latencies.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "staleness over {steps} random steps (edit, new directories, commit) in 4 worktrees, monitors running: median {:.0} ms, p99 {:.0} ms (one `list --json` takes about the median)",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99)
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "staleness") {
        staleness(200);
        return;
    }
    let wanted: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    let sizes = if wanted.is_empty() {
        vec![10, 30, 100]
    } else {
        wanted
    };
    for agents in sizes {
        measure(agents);
    }
}
