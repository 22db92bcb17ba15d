//! `cargo bench --bench workflow`: wtmux against the git CLI on a generated repository of
//! 20,000 files and 20 worktrees (generated once under target/, reused afterwards).
//!
//! - list: `wtmux list --json` vs `git status --porcelain=v2 --branch` run in every worktree
//!   in parallel on all cores (what a shell user gets with `xargs -P`), with and without the
//!   file-system monitor.
//! - remove: `wtmux remove` vs `git worktree remove` of a worktree holding a 1 GB ignored build
//!   directory (the trash keeps it by a rename, not a copy).
//! - add: `wtmux add` vs `git worktree add -b` plus `tmux new-window` by hand.
//! - popup: the dashboard in a real tmux pane: process start to first frame (50 worktrees),
//!   to every row live (the 20,000-file repository), key press to frame, idle CPU, peak memory.
//! - conflicts: the scope guard's full matrix (190 pairs) vs `git merge-tree --write-tree` run
//!   once per pair one after another: cold (nothing cached), with only the merge verdicts cold,
//!   and after one worktree changed (median of five changes).
//!
//! Each figure is the median of several runs after a warm-up; the ratio is wtmux / git. `list`
//! takes the runs of git status and of wtmux in turns (the load here changes by the second).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const WTMUX: &str = env!("CARGO_BIN_EXE_wtmux");
const FILES: usize = 20_000;
const WORKTREES: usize = 20;
const RUNS: usize = 7;

fn sandboxed(program: &str, dir: &Path, home: &Path) -> Command {
    let mut command = Command::new(program);
    for var in ["TMUX", "TMUX_PANE", "GIT_DIR", "GIT_WORK_TREE"] {
        command.env_remove(var);
    }
    command
        .current_dir(dir)
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Bench")
        .env("GIT_AUTHOR_EMAIL", "bench@example.com")
        .env("GIT_COMMITTER_NAME", "Bench")
        .env("GIT_COMMITTER_EMAIL", "bench@example.com")
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    command
}

fn run(mut command: Command) {
    let out = command.output().expect("spawn");
    assert!(
        out.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn git(dir: &Path, home: &Path, args: &[&str]) {
    let mut command = sandboxed("git", dir, home);
    command.args(args);
    run(command);
}

/// The repository: `files` files in 200 directories, `worktrees` worktrees, a fourth of them
/// dirty, and one configured check (so list computes content fingerprints).
fn generate(base: &Path, files: usize, worktrees: usize) -> (PathBuf, PathBuf) {
    let root = base.join("repo");
    let home = base.join("home");
    let marker = base.join("complete");
    if marker.exists() {
        return (root, home);
    }
    let _ = std::fs::remove_dir_all(base);
    std::fs::create_dir_all(&root).unwrap();
    std::fs::create_dir_all(home.join(".config")).unwrap();
    eprintln!(
        "generating {files} files and {worktrees} worktrees in {}",
        base.display()
    );
    git(&root, &home, &["init", "-q", "-b", "main"]);
    for i in 0..files {
        let dir = root.join(format!("src/module{:03}", i % 200));
        if i < 200 {
            std::fs::create_dir_all(&dir).unwrap();
        }
        std::fs::write(
            dir.join(format!("file{i:05}.rs")),
            format!("// file {i}\npub fn f{i}() -> usize {{ {i} }}\n"),
        )
        .unwrap();
    }
    std::fs::write(
        root.join(".wtmux.toml"),
        "[[check]]\nname = \"test\"\nrun = \"true\"\n",
    )
    .unwrap();
    git(&root, &home, &["add", "-A"]);
    git(&root, &home, &["commit", "-q", "-m", "generated"]);
    // As `wtmux add` leaves it: the worktree dir is excluded from the main worktree.
    std::fs::write(root.join(".git/info/exclude"), "/.worktrees/\n").unwrap();
    for n in 0..worktrees {
        let path = root.join(format!(".worktrees/task-{n:02}"));
        git(
            &root,
            &home,
            &[
                "worktree",
                "add",
                "-q",
                "-b",
                &format!("task-{n:02}"),
                path.to_str().unwrap(),
            ],
        );
        if n % 4 == 0 {
            std::fs::write(
                path.join(format!("src/module{n:03}/file{n:05}.rs")),
                "changed\n",
            )
            .unwrap();
            std::fs::write(path.join("untracked.txt"), "new\n").unwrap();
        }
    }
    std::fs::write(&marker, "").unwrap();
    (root, home)
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn time(mut f: impl FnMut()) -> Duration {
    f(); // warm-up: refreshes index stat data, fills the page cache
    median(
        (0..RUNS)
            .map(|_| {
                let start = Instant::now();
                f();
                start.elapsed()
            })
            .collect(),
    )
}

/// `git status` in every worktree, as many at once as there are cores, each core taking the
/// next worktree when it is free: the honest baseline for showing every worktree.
fn parallel_git_status(worktrees: &[PathBuf], home: &Path) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let next = AtomicUsize::new(0);
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    std::thread::scope(|scope| {
        for _ in 0..cores {
            scope.spawn(|| {
                while let Some(path) = worktrees.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let mut command = sandboxed("git", path, home);
                    command.args(["status", "--porcelain=v2", "--branch"]);
                    run(command);
                }
            });
        }
    });
}

fn all_worktrees(root: &Path) -> Vec<PathBuf> {
    std::iter::once(root.to_path_buf())
        .chain((0..WORKTREES).map(|n| root.join(format!(".worktrees/task-{n:02}"))))
        .collect()
}

/// Like [`time`] for two things, their runs taken in turns: on a machine whose load changes
/// from one second to the next (other builds on the same cores), both medians then come from
/// the same stretch of time, and their ratio means something.
fn time_in_turns(mut a: impl FnMut(), mut b: impl FnMut()) -> (Duration, Duration) {
    a();
    b();
    let (mut first, mut second) = (Vec::new(), Vec::new());
    for _ in 0..RUNS {
        let start = Instant::now();
        a();
        first.push(start.elapsed());
        let start = Instant::now();
        b();
        second.push(start.elapsed());
    }
    (median(first), median(second))
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

fn bench_list(root: &Path, home: &Path) {
    let worktrees = all_worktrees(root);
    println!("load average before: {}", load_average());
    let (git_status, wtmux_list) = time_in_turns(
        || parallel_git_status(&worktrees, home),
        || wtmux(root, home, None, &["list", "--json"]),
    );
    println!("load average after: {}", load_average());
    report(
        &format!("list ({} worktrees, {FILES} files)", worktrees.len()),
        "git status in every worktree, in parallel",
        git_status,
        "wtmux list --json",
        wtmux_list,
    );
    let tmux = BenchTmux::start(root, home, "list");
    warm_monitor(root, home, &tmux);
    let with_monitor = time(|| wtmux(root, home, Some(&tmux), &["list", "--json"]));
    println!(
        "  wtmux list --json, with the monitor      {:>8.1} ms\n  ratio {:.2}x",
        with_monitor.as_secs_f64() * 1000.0,
        with_monitor.as_secs_f64() / git_status.as_secs_f64()
    );
}

fn bench_add(root: &Path, home: &Path) {
    let tmux = BenchTmux::start(root, home, "add");
    let mut n = 0;
    let cleanup = |branch: &str, path: &Path| {
        git(
            root,
            home,
            &["worktree", "remove", "--force", path.to_str().unwrap()],
        );
        git(root, home, &["branch", "-D", branch]);
    };
    let mut by_hand = Vec::new();
    let mut with_wtmux = Vec::new();
    for round in 0..=RUNS {
        n += 1;
        let branch = format!("hand-{n}");
        let path = root.join(".worktrees").join(&branch);
        let started = Instant::now();
        git(
            root,
            home,
            &[
                "worktree",
                "add",
                "-q",
                "-b",
                &branch,
                path.to_str().unwrap(),
                "main",
            ],
        );
        let mut window = sandboxed("tmux", root, home);
        window
            .arg("-S")
            .arg(&tmux.socket)
            .args(["new-window", "-d", "-c"])
            .arg(&path)
            .args(["-n", &branch]);
        run(window);
        if round > 0 {
            by_hand.push(started.elapsed());
        }
        cleanup(&branch, &path);

        let branch = format!("wtmux-{n}");
        let path = root.join(".worktrees").join(&branch);
        let started = Instant::now();
        wtmux(root, home, Some(&tmux), &["add", &branch, "--no-agent"]);
        if round > 0 {
            with_wtmux.push(started.elapsed());
        }
        cleanup(&branch, &path);
    }
    report(
        "add (worktree + branch + window)",
        "git worktree add -b + tmux new-window",
        median(by_hand),
        "wtmux add",
        median(with_wtmux),
    );
}

fn report(what: &str, baseline_name: &str, baseline: Duration, ours_name: &str, ours: Duration) {
    println!(
        "{what}:\n  {baseline_name:<40} {:>8.1} ms\n  {ours_name:<40} {:>8.1} ms\n  ratio {:.2}x",
        baseline.as_secs_f64() * 1000.0,
        ours.as_secs_f64() * 1000.0,
        ours.as_secs_f64() / baseline.as_secs_f64()
    );
}

fn main() {
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let wanted = |name: &str| filter.is_empty() || filter.iter().any(|f| name.contains(f.as_str()));
    let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bench-repo-v1");
    let (root, home) = generate(&base, FILES, WORKTREES);
    if wanted("list") {
        bench_list(&root, &home);
    }
    if wanted("add") {
        bench_add(&root, &home);
    }
    if wanted("remove") {
        bench_remove(&root, &home);
    }
    if wanted("conflicts") {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bench-conflicts-v1");
        let (root, home) = generate_overlapping(&dir);
        bench_conflicts(&root, &home);
    }
    if wanted("popup") {
        let small = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bench-popup-50-v1");
        let (small_root, small_home) = generate(&small, 2_000, 49);
        bench_popup(
            &small_root,
            &small_home,
            &small,
            "50 worktrees, 2,000 files",
        );
        bench_popup(&root, &home, &base, "21 worktrees, 20,000 files");
    }
}

/// One run of the dashboard in a detached tmux pane; what its trace and /proc say.
struct PopupRun {
    first_frame: f64,
    live: f64,
    key_to_frame: Vec<f64>,
    idle_cpu_percent: f64,
    peak_rss_kib: u64,
}

fn trace_values(trace: &Path, event: &str) -> Vec<f64> {
    std::fs::read_to_string(trace)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.strip_prefix(event)?.trim().parse().ok())
        .collect()
}

fn cpu_ticks(pid: &str) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after_name = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after the name.
    fields
        .get(11)
        .and_then(|f| f.parse::<u64>().ok())
        .unwrap_or(0)
        + fields
            .get(12)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
}

fn run_popup(root: &Path, home: &Path, base: &Path, idle_seconds: u64) -> PopupRun {
    let socket = base.join("popup.sock");
    let trace = base.join("popup.trace");
    let _ = std::fs::remove_file(&trace);
    let tmux = |args: &[&str]| -> String {
        let mut command = sandboxed("tmux", root, home);
        command
            .arg("-S")
            .arg(&socket)
            .args(args)
            .stdout(Stdio::piped());
        let out = command.output().expect("tmux");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let mut start = sandboxed("tmux", root, home);
    start
        .arg("-S")
        .arg(&socket)
        .args([
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-s",
            "ui",
            "-x",
            "120",
            "-y",
            "40",
            "-e",
        ])
        .arg(format!("WTMUX_UI_TRACE={}", trace.display()))
        .args([WTMUX, "ui"]);
    run(start);
    let deadline = Instant::now() + Duration::from_secs(20);
    while trace_values(&trace, "live").is_empty() {
        assert!(Instant::now() < deadline, "the popup never went live");
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid = tmux(&["display-message", "-p", "-t", "ui", "#{pane_pid}"]);
    std::thread::sleep(Duration::from_millis(500));
    for n in 0..20 {
        tmux(&["send-keys", "-t", "ui", if n % 2 == 0 { "j" } else { "k" }]);
        std::thread::sleep(Duration::from_millis(60));
    }
    std::thread::sleep(Duration::from_millis(500));
    let before = cpu_ticks(&pid);
    std::thread::sleep(Duration::from_secs(idle_seconds));
    let idle_ticks = cpu_ticks(&pid) - before;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let peak_rss_kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    tmux(&["send-keys", "-t", "ui", "q"]);
    std::thread::sleep(Duration::from_millis(300));
    tmux(&["kill-server"]);
    PopupRun {
        first_frame: trace_values(&trace, "first_frame")[0],
        live: trace_values(&trace, "live")[0],
        key_to_frame: trace_values(&trace, "key_to_frame"),
        idle_cpu_percent: idle_ticks as f64 / idle_seconds as f64, // 100 ticks a second
        peak_rss_kib,
    }
}

fn bench_popup(root: &Path, home: &Path, base: &Path, what: &str) {
    // The first run has no cached rows; the second draws the first one's at once.
    let cold = run_popup(root, home, base, 1);
    let warm = run_popup(root, home, base, 10);
    let mut keys = warm.key_to_frame.clone();
    keys.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "popup ({what}):\n  first frame                 {:>7.1} ms (cold cache {:.1} ms)\n  every row live              {:>7.1} ms (cold cache {:.1} ms)\n  key press to frame          {:>7.2} ms median, {:.2} ms max ({} keys)\n  idle CPU over 10 s          {:>7.2} % of one core\n  peak memory                 {:>7.1} MB",
        warm.first_frame,
        cold.first_frame,
        warm.live,
        cold.live,
        keys.get(keys.len() / 2).copied().unwrap_or(0.0),
        keys.last().copied().unwrap_or(0.0),
        keys.len(),
        warm.idle_cpu_percent,
        warm.peak_rss_kib as f64 / 1024.0,
    );
}

/// The 20,000-file repository with 20 worktrees whose branches overlap in groups of five: two
/// groups edit the same line of a shared file (conflicts), two edit different lines (overlap
/// that merges cleanly); every branch also changes a file of its own.
fn generate_overlapping(base: &Path) -> (PathBuf, PathBuf) {
    let marker = base.join("overlapping");
    let (root, home) = generate(base, FILES, WORKTREES);
    if marker.exists() {
        return (root, home);
    }
    let shared: String = (0..20).map(|i| format!("line {i}\n")).collect();
    for group in 0..4 {
        std::fs::write(root.join(format!("shared{group}.txt")), &shared).unwrap();
    }
    git(&root, &home, &["add", "-A"]);
    git(&root, &home, &["commit", "-q", "-m", "shared files"]);
    for n in 0..WORKTREES {
        let path = root.join(format!(".worktrees/task-{n:02}"));
        git(&path, &home, &["checkout", "-q", "--", "."]);
        git(&path, &home, &["clean", "-fdq"]);
        git(&path, &home, &["merge", "-q", "--ff-only", "main"]);
        let group = n % 4;
        let line = if group < 2 { 0 } else { n };
        let edited: String = (0..20)
            .map(|i| {
                if i == line {
                    format!("line {i} by task {n}\n")
                } else {
                    format!("line {i}\n")
                }
            })
            .collect();
        std::fs::write(path.join(format!("shared{group}.txt")), edited).unwrap();
        std::fs::write(
            path.join(format!("src/module{n:03}/file{n:05}.rs")),
            format!("// task {n}\n"),
        )
        .unwrap();
        git(&path, &home, &["commit", "-q", "-am", &format!("task {n}")]);
    }
    std::fs::write(&marker, "").unwrap();
    (root, home)
}

/// A private tmux server for wtmux to run under (so its file-system monitor can start).
struct BenchTmux {
    socket: PathBuf,
    root: PathBuf,
    home: PathBuf,
}

impl BenchTmux {
    fn start(root: &Path, home: &Path, name: &str) -> BenchTmux {
        let socket = root.parent().unwrap().join(format!("{name}.sock"));
        let mut start = sandboxed("tmux", root, home);
        start
            .arg("-S")
            .arg(&socket)
            .args(["-f", "/dev/null", "new-session", "-d", "-s", "bench"]);
        run(start);
        BenchTmux {
            socket,
            root: root.to_path_buf(),
            home: home.to_path_buf(),
        }
    }

    fn env(&self) -> String {
        format!("{},0,0", self.socket.display())
    }
}

impl Drop for BenchTmux {
    fn drop(&mut self) {
        let mut kill = sandboxed("tmux", &self.root, &self.home);
        kill.arg("-S").arg(&self.socket).arg("kill-server");
        let _ = kill.output();
    }
}

/// Runs `wtmux args` in `root`, under tmux when given.
fn wtmux(root: &Path, home: &Path, tmux: Option<&BenchTmux>, args: &[&str]) {
    let mut command = sandboxed(WTMUX, root, home);
    if let Some(tmux) = tmux {
        command.env("TMUX", tmux.env());
    }
    command.args(args);
    run(command);
}

/// Starts wtmux's file-system monitor and waits until it has marked every worktree.
fn warm_monitor(root: &Path, home: &Path, tmux: &BenchTmux) {
    let session = root.join(".git/wtmux/fsmonitor/session");
    wtmux(root, home, Some(tmux), &["list", "--json"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !session.exists() {
        assert!(Instant::now() < deadline, "the monitor did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    wtmux(root, home, Some(tmux), &["list", "--json"]);
}

fn bench_conflicts(root: &Path, home: &Path) {
    let branches: Vec<String> = (0..WORKTREES).map(|n| format!("task-{n:02}")).collect();
    let mut pairs = Vec::new();
    for (i, a) in branches.iter().enumerate() {
        for b in &branches[i + 1..] {
            pairs.push((a.clone(), b.clone()));
        }
    }
    let git_status = time(|| parallel_git_status(&all_worktrees(root), home));
    let merge_tree_each = time(|| {
        for (a, b) in &pairs {
            let mut command = sandboxed("git", root, home);
            command.args(["merge-tree", "--write-tree", "--name-only", a, b]);
            let _ = command.output().expect("git merge-tree");
        }
    });
    let state = root.join(".git/wtmux");
    let cache = state.join("conflicts");
    let cached = |cache: &Path| std::fs::read_dir(cache).map(|d| d.count()).unwrap_or(0);
    // Nothing cached: no merge verdict, no fingerprint or status copy of the content store,
    // no stored look of the monitor's (it keeps running, and its watches; readers find no
    // record to reuse, so every worktree is read).
    let forget_everything = || {
        let _ = std::fs::remove_dir_all(&cache);
        let _ = std::fs::remove_dir_all(state.join("content"));
        for entry in std::fs::read_dir(state.join("fsmonitor/changes"))
            .into_iter()
            .flatten()
            .flatten()
        {
            let _ = std::fs::remove_file(entry.path());
        }
    };
    let changed = root.join(".worktrees/task-02");
    let measure = |tmux: Option<&BenchTmux>| {
        let cold_run = |forget: &dyn Fn()| {
            median(
                (0..3)
                    .map(|_| {
                        forget();
                        let start = Instant::now();
                        wtmux(root, home, tmux, &["conflicts", "--json"]);
                        start.elapsed()
                    })
                    .collect(),
            )
        };
        let cold = cold_run(&forget_everything);
        let merges_cold = cold_run(&|| {
            let _ = std::fs::remove_dir_all(&cache);
        });
        // One worktree changes (new content each time): only its pairs are merged again.
        let mut again = Vec::new();
        let warm = median(
            (0..5)
                .map(|n| {
                    let before = cached(&cache);
                    std::fs::write(
                        changed.join("shared2.txt"),
                        format!("rewritten by task 2, time {n}\n"),
                    )
                    .unwrap();
                    let start = Instant::now();
                    wtmux(root, home, tmux, &["conflicts", "--json"]);
                    let took = start.elapsed();
                    again.push(cached(&cache) - before);
                    took
                })
                .collect(),
        );
        git(&changed, home, &["checkout", "--", "shared2.txt"]);
        (cold, merges_cold, warm, again)
    };
    let without = measure(None);
    let tmux = BenchTmux::start(root, home, "conflicts");
    warm_monitor(root, home, &tmux);
    let with = measure(Some(&tmux));
    println!(
        "conflicts ({} pairs, {FILES} files, {WORKTREES} worktrees; load average {}):",
        pairs.len(),
        load_average()
    );
    println!(
        "  git merge-tree once per pair               {:>8.1} ms",
        merge_tree_each.as_secs_f64() * 1000.0
    );
    println!(
        "  git status in every worktree, in parallel  {:>8.1} ms",
        git_status.as_secs_f64() * 1000.0
    );
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    for (name, (cold, merges_cold, warm, again)) in
        [("without the monitor", without), ("with the monitor", with)]
    {
        println!(
            "  wtmux conflicts, {name}:\n    cold, nothing cached        {:>7.1} ms ({:.2}x merge-tree, {:.2}x status)\n    cold merge verdicts only    {:>7.1} ms\n    after one worktree changed  {:>7.1} ms ({:.2}x of cold, {:.2}x of cold merge verdicts; merges recomputed per run {again:?})",
            ms(cold),
            ms(cold) / ms(merge_tree_each),
            ms(cold) / ms(git_status),
            ms(merges_cold),
            ms(warm),
            ms(warm) / ms(cold),
            ms(warm) / ms(merges_cold),
        );
    }
}

/// A worktree holding a 1 GB ignored build directory (1,024 files of 1 MiB), removed by
/// `git worktree remove --force` (which deletes it) and by `wtmux remove` (which moves it into
/// the trash). Each run makes the worktree afresh; the trash is emptied between runs, untimed.
fn bench_remove(root: &Path, home: &Path) {
    let path = root.join(".worktrees/big-build");
    let make = || {
        let _ = std::fs::remove_dir_all(&path);
        git(root, home, &["worktree", "prune"]);
        let _ = sandboxed("git", root, home)
            .args(["branch", "-D", "big-build"])
            .output();
        git(
            root,
            home,
            &[
                "worktree",
                "add",
                "-q",
                "-b",
                "big-build",
                path.to_str().unwrap(),
            ],
        );
        if !path.join(".gitignore").exists() {
            std::fs::write(path.join(".gitignore"), "build/\n").unwrap();
            git(&path, home, &["add", ".gitignore"]);
            git(&path, home, &["commit", "-q", "-m", "ignore build output"]);
            git(root, home, &["merge", "-q", "--ff-only", "big-build"]);
        }
        let block = vec![7u8; 1 << 20];
        for n in 0..1024 {
            let dir = path.join(format!("build/obj{:02}", n % 32));
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join(format!("{n}.o")), &block).unwrap();
        }
        // What is measured is the removal, not writing the gigabyte back to disk.
        let _ = Command::new("sync").status();
    };
    let measure = |remove: &dyn Fn()| -> Duration {
        median(
            (0..3)
                .map(|_| {
                    make();
                    let start = Instant::now();
                    remove();
                    let elapsed = start.elapsed();
                    let _ = wtmux_output(root, home, &["trash", "--prune", "--older-than", "0"]);
                    elapsed
                })
                .collect(),
        )
    };
    let git_remove = measure(&|| {
        git(
            root,
            home,
            &["worktree", "remove", "--force", path.to_str().unwrap()],
        )
    });
    let wtmux_remove = measure(&|| wtmux(root, home, None, &["remove", "big-build"]));
    report(
        "remove a worktree with a 1 GB ignored build directory",
        "git worktree remove --force",
        git_remove,
        "wtmux remove (moved to the trash)",
        wtmux_remove,
    );
}

fn wtmux_output(root: &Path, home: &Path, args: &[&str]) -> std::process::Output {
    sandboxed(WTMUX, root, home)
        .args(args)
        .output()
        .expect("spawn wtmux")
}
