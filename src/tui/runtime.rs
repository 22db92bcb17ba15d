//! The popup's loop: terminal events, file-system changes and effect results come in as
//! messages; the model is updated and redrawn; every effect runs off the UI thread as one call
//! into the core.
//!
//! Live without polling: inotify watches every directory that holds tracked files of every
//! worktree, each worktree's git admin dir (HEAD, index) and wtmux's run records; the changes
//! that arrive together refresh just the worktrees they touched, in one pass
//! ([`super::refresh`]). Nothing runs while nothing changes, apart from a spinner tick while
//! something is running. Effects run on a bounded pool of threads.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crossterm::event::{Event, KeyEvent};
use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};

use super::app::{Action, Effect, MergeView, Model, RemoveView};
use super::keys;
use super::refresh::RefreshQueue;
use super::view::{self, Theme};
use super::words;
use crate::core::create::{self, AddOptions};
use crate::core::listing::{self, Listing};
use crate::core::merge::{self, MergeOptions};
use crate::core::remove::{self, RemoveOptions};
use crate::core::{Error, Project, Result, check, git, state, status};
use crate::core::{recovery, window, worktree};

const SPINNER_TICK: Duration = Duration::from_millis(125);
/// The spinner's pace when only agents are at work: a frame costs milliseconds, and with many
/// agents some agent is always working.
const AGENT_SPINNER_TICK: Duration = Duration::from_millis(500);
/// How often the selected worktree's detail (check log, agent pane) is read while it moves.
const DETAIL_EVERY: Duration = Duration::from_millis(500);
const DETAIL_LOG_LINES: usize = 200;
const ANALYZE_INTERVAL: Duration = Duration::from_secs(2);

enum Msg {
    Key(KeyEvent),
    Redraw,
    Action(Box<Action>),
    Changed(Vec<PathBuf>),
    /// The result of a refresh pass.
    Refreshed(Box<Action>),
    /// The watcher lost events (the kernel's queue overflowed): everything may have changed.
    Lost,
    /// Directories created in watched ones: watched from now on too.
    NewDirs(Vec<PathBuf>),
    /// The watcher watches this many of the directories there are to watch.
    Coverage(usize, usize),
}

/// How often every row is read again while some directories cannot be watched (inotify's
/// limit): never silence.
const RESCAN_INTERVAL: Duration = Duration::from_secs(5);

/// Threads for effects: git and tmux calls, a merge, the scope guard. Enough for a refresh, an
/// analysis and an action at once; more only compete for the same cores.
const EFFECT_THREADS: usize = 4;

/// Where the last popup left its rows, so the next one draws them at once.
fn cache_path(project: &Project) -> PathBuf {
    project.state.root().join("ui-rows.json")
}

/// Rows to draw before anything is computed: the last popup's, else the bare worktree list.
pub fn initial_model(project: &Project) -> Model {
    let rows = state::read_json::<Listing>(&cache_path(project))
        .filter(|l| l.base == project.base)
        .map(|l| l.worktrees)
        .unwrap_or_else(|| {
            worktree::worktrees(project)
                .unwrap_or_default()
                .into_iter()
                .map(|w| listing::Row::bare(&w))
                .collect()
        });
    let mut model = Model::new(project.base.clone(), rows, crate::core::now_unix() as i64);
    model.has_agent = matches!(project.config.agent(None), Ok(Some(_)));
    model
}

pub fn run(project: Project, started: Instant) -> Result<i32> {
    let theme = Theme::from_env();
    let model = initial_model(&project);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .max_blocking_threads(EFFECT_THREADS)
        .enable_time()
        .build()
        .map_err(|e| Error::io("tokio runtime", e))?;
    let mut terminal = ratatui::try_init().map_err(|e| Error::io("terminal", e))?;
    let result = runtime.block_on(event_loop(&mut terminal, project, model, theme, started));
    ratatui::restore();
    runtime.shutdown_background();
    result
}

/// Writes `event <ms since start>` lines to `$WTMUX_UI_TRACE`, for the benchmarks.
struct Trace {
    file: Option<std::fs::File>,
    started: Instant,
}

impl Trace {
    /// `event` happened now: milliseconds since the process started.
    fn mark(&mut self, event: &str) {
        let since_start = self.started.elapsed();
        self.record(event, since_start);
    }

    /// A refresh pass starts: `refresh_pass <rows>` (`<rows> agents` for agents only, `all`
    /// for every row).
    fn pass(&mut self, pass: &Effect) {
        use std::io::Write;
        if let Some(file) = &mut self.file {
            let _ = match pass {
                Effect::RefreshRows(rows) => writeln!(file, "refresh_pass {}", rows.len()),
                Effect::RefreshAgents(rows) => {
                    writeln!(file, "refresh_pass {} agents", rows.len())
                }
                _ => writeln!(file, "refresh_pass all"),
            };
        }
    }

    fn record(&mut self, event: &str, took: Duration) {
        use std::io::Write;
        if let Some(file) = &mut self.file {
            let _ = writeln!(file, "{event} {:.2}", took.as_secs_f64() * 1000.0);
        }
    }
}

async fn event_loop(
    terminal: &mut ratatui::DefaultTerminal,
    project: Project,
    mut model: Model,
    theme: Theme,
    started: Instant,
) -> Result<i32> {
    let mut trace = Trace {
        file: std::env::var_os("WTMUX_UI_TRACE").and_then(|p| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .ok()
        }),
        started,
    };
    let (tx, mut rx) = unbounded_channel::<Msg>();
    spawn_input(tx.clone());
    let watcher = std::sync::Arc::new(Watcher::new(&project, tx.clone()));

    terminal
        .draw(|frame| view::render(&model, theme, frame))
        .map_err(|e| Error::io("terminal", e))?;
    trace.mark("first_frame");
    let mut refresh = RefreshQueue::default();
    refresh.started_elsewhere();
    run_refresh(&project, Effect::RefreshAll, &tx);

    let mut detail_read = Instant::now();
    let mut rescanning = false;
    let mut live_marked = false;
    // The scope guard: one analysis at a time, at most one every ANALYZE_INTERVAL (agents
    // editing files would otherwise keep it running back to back).
    let mut analyzing = false;
    let mut analyze_at: Option<tokio::time::Instant> = None;
    loop {
        let spinner = model.any_running();
        let tick = if model.checks_running() {
            SPINNER_TICK
        } else {
            AGENT_SPINNER_TICK
        };
        let msg = tokio::select! {
            msg = rx.recv() => match msg {
                Some(msg) => msg,
                None => break,
            },
            _ = tokio::time::sleep(tick), if spinner => Msg::Action(Box::new(Action::Tick)),
            _ = tokio::time::sleep(RESCAN_INTERVAL), if rescanning => {
                refresh.all_now(Instant::now());
                if let Some(pass) = refresh.start(Instant::now()) {
                    trace.pass(&pass);
                    run_refresh(&project, pass, &tx);
                }
                continue;
            }
            _ = sleep_until(analyze_at), if analyze_at.is_some() && !analyzing => {
                analyze_at = None;
                analyzing = true;
                run_effect(&project, Effect::Analyze, &tx);
                continue;
            }
            _ = sleep_until(refresh.due().map(tokio::time::Instant::from_std)), if refresh.due().is_some() => {
                if let Some(pass) = refresh.start(Instant::now()) {
                    trace.pass(&pass);
                    run_refresh(&project, pass, &tx);
                }
                continue;
            }
        };
        let mut batch = vec![msg];
        while let Ok(more) = rx.try_recv() {
            batch.push(more);
        }
        let mut quit = false;
        let mut key_received = None;
        // Drawn again only when something shown may have changed: with many agents, most
        // messages are file changes that merely queue a refresh.
        let mut redraw = false;
        for msg in batch {
            let action = match msg {
                Msg::Key(key) => {
                    key_received.get_or_insert_with(Instant::now);
                    redraw = true;
                    keys::action_for(&model.mode, key)
                }
                Msg::Redraw => {
                    redraw = true;
                    None
                }
                Msg::Action(action) => Some(*action),
                Msg::Refreshed(action) => {
                    refresh.finished();
                    Some(*action)
                }
                Msg::Lost => {
                    refresh.all_changed(Instant::now());
                    None
                }
                Msg::Coverage(watched, wanted) => {
                    rescanning = watched < wanted;
                    if rescanning {
                        redraw = true;
                        model.status = Some((
                            format!(
                                "watching {watched} of {wanted} directories (the system's inotify limit): every row is read again every {} s",
                                RESCAN_INTERVAL.as_secs()
                            ),
                            true,
                        ));
                    }
                    None
                }
                Msg::NewDirs(dirs) => {
                    let watcher = watcher.clone();
                    tokio::task::spawn_blocking(move || watcher.watch_new(&dirs));
                    None
                }
                Msg::Changed(paths) => {
                    for path in paths {
                        match watcher.owner(&path) {
                            Owner::Worktree(worktree) => {
                                refresh.row_changed(worktree, Instant::now())
                            }
                            Owner::Agent(worktree) => {
                                refresh.agent_changed(worktree, Instant::now())
                            }
                            Owner::Everything => refresh.all_changed(Instant::now()),
                            Owner::Nobody => {}
                        }
                    }
                    None
                }
            };
            let Some(action) = action else { continue };
            redraw = true;
            if matches!(action, Action::Tick) {
                // The selected worktree's running check or working agent, twice a second.
                if detail_read.elapsed() >= DETAIL_EVERY
                    && let Some(row) = model.selected_row()
                    && (row.check.state == check::CheckState::Running
                        || row.agent.state == crate::core::agent::AgentState::Working)
                {
                    detail_read = Instant::now();
                    run_effect(&project, Effect::LoadDetail(row.path.clone()), &tx);
                }
            }
            let listed = matches!(action, Action::Listed { .. });
            if matches!(action, Action::Analyzed(_)) {
                analyzing = false;
            }
            for effect in model.update(action) {
                match effect {
                    Effect::Quit => quit = true,
                    Effect::RefreshAll => refresh.all_now(Instant::now()),
                    Effect::RefreshRows(paths) => {
                        for path in paths {
                            refresh.row_changed(path, Instant::now());
                        }
                    }
                    Effect::Analyze
                        if !analyzing && analyze_at.is_none() && model.scope.is_none() =>
                    {
                        analyzing = true;
                        run_effect(&project, effect, &tx);
                    }
                    Effect::Analyze => {
                        analyze_at
                            .get_or_insert_with(|| tokio::time::Instant::now() + ANALYZE_INTERVAL);
                    }
                    effect => run_effect(&project, effect, &tx),
                }
            }
            if listed {
                // Opening every worktree's index and adding thousands of watches takes a
                // while: never on the UI thread.
                let (watcher, project, rows) =
                    (watcher.clone(), project.clone(), model.rows.clone());
                let tx = tx.clone();
                tokio::task::spawn_blocking(move || {
                    let (watched, wanted) = watcher.watch(&project, &rows);
                    let _ = tx.send(Msg::Coverage(watched, wanted));
                });
            }
        }
        if quit {
            break;
        }
        if let Some(pass) = refresh.start(Instant::now()) {
            trace.pass(&pass);
            run_refresh(&project, pass, &tx);
        }
        if !redraw {
            continue;
        }
        terminal
            .draw(|frame| view::render(&model, theme, frame))
            .map_err(|e| Error::io("terminal", e))?;
        if !model.loading && !live_marked {
            live_marked = true;
            trace.mark("live");
        }
        if let Some(received) = key_received {
            trace.record("key_to_frame", received.elapsed());
        }
    }
    let _ = state::write_json(
        &cache_path(&project),
        &Listing {
            base: model.base.clone(),
            main_worktree: project.main_worktree.clone(),
            worktrees: model.rows.clone(),
            coverage: None,
        },
    );
    Ok(0)
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

fn spawn_input(tx: UnboundedSender<Msg>) {
    std::thread::spawn(move || {
        loop {
            let msg = match crossterm::event::read() {
                Ok(Event::Key(key)) => Msg::Key(key),
                Ok(Event::Resize(..)) => Msg::Redraw,
                Ok(_) => continue,
                Err(_) => break,
            };
            if tx.send(msg).is_err() {
                break;
            }
        }
    });
}

/// Runs one effect off the UI thread; its result comes back as an action.
fn run_effect(project: &Project, effect: Effect, tx: &UnboundedSender<Msg>) {
    let project = project.clone();
    let tx = tx.clone();
    tokio::task::spawn_blocking(move || {
        let action = perform(&project, effect)
            .unwrap_or_else(|e| Action::Failed(super::words::error_text(&e)));
        let _ = tx.send(Msg::Action(Box::new(action)));
    });
}

/// Runs a refresh pass off the UI thread; its result comes back as [`Msg::Refreshed`].
fn run_refresh(project: &Project, pass: Effect, tx: &UnboundedSender<Msg>) {
    let project = project.clone();
    let tx = tx.clone();
    tokio::task::spawn_blocking(move || {
        let action = perform(&project, pass).unwrap_or_else(|e| Action::Failed(e.to_string()));
        let _ = tx.send(Msg::Refreshed(Box::new(action)));
    });
}

fn name(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// One effect: one call into the core, the same the CLI makes.
pub fn perform(project: &Project, effect: Effect) -> Result<Action> {
    Ok(match effect {
        Effect::RefreshAll => {
            let listing = listing::list(project)?;
            let _ = state::write_json(&cache_path(project), &listing);
            Action::Listed {
                base: listing.base,
                rows: listing.worktrees,
            }
        }
        Effect::RefreshRows(paths) => {
            let mut present = Vec::new();
            let mut gone = Vec::new();
            for path in paths {
                match worktree::at(project, &path)? {
                    Some(w) => present.push(w),
                    None => gone.push(path),
                }
            }
            Action::RowsUpdated {
                rows: listing::list_rows(project, &present)?,
                gone,
            }
        }
        Effect::RefreshAgents(paths) => {
            let worktrees: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
            // The monitor looked at the panes a moment ago and recorded what it saw: its
            // record changing is why this pass runs. The windows stay as the rows have them.
            if let Some(agents) = crate::core::agent::recorded_statuses(project, &worktrees)? {
                return Ok(Action::AgentsUpdated(
                    paths
                        .into_iter()
                        .zip(agents)
                        .map(|(path, agent)| (path, agent, None))
                        .collect(),
                ));
            }
            let snapshot = project.tmux.as_ref().and_then(|t| t.snapshot().ok());
            let agents = crate::core::agent::statuses(project, &worktrees, snapshot.as_ref())?;
            Action::AgentsUpdated(
                paths
                    .into_iter()
                    .zip(agents)
                    .map(|(path, agent)| {
                        let window = snapshot
                            .as_ref()
                            .and_then(|s| s.windows.get(&path))
                            .map(|w| w.id.clone());
                        (path, agent, Some(window))
                    })
                    .collect(),
            )
        }
        Effect::LoadDetail(path) => {
            let w = worktree::find(project, &name(&path))?;
            Action::DetailLoaded {
                detail: listing::detail(project, &w, DETAIL_LOG_LINES)?,
                path,
            }
        }
        Effect::Open(path) => {
            window::open(project, &name(&path))?;
            Action::Switched
        }
        Effect::Add {
            branch,
            prompt,
            scope,
        } => {
            let options = AddOptions {
                prompt,
                scope,
                ..AddOptions::default()
            };
            // A dead add of the same name must be taken back before this one makes anything
            // (the CLI recovers before every command; a long-lived popup does it here).
            let _ = recovery::recover(project);
            let added = create::add(project, &branch, &options)?;
            match added.window {
                Some(_) => {
                    window::open(project, &branch)?;
                    Action::Switched
                }
                None => Action::Done(format!(
                    "created {} at {} (no window: {})",
                    branch,
                    added.path.display(),
                    match added.no_window_reason {
                        Some(create::NoWindow::NotInTmux) => "not inside tmux",
                        _ => "none asked for",
                    }
                )),
            }
        }
        Effect::Check(paths) => {
            let mut started = Vec::new();
            let mut running = Vec::new();
            for path in &paths {
                let w = worktree::find(project, &name(path))?;
                match check::start(project, &w)? {
                    check::Started::Started { .. } => started.push(w.label()),
                    check::Started::AlreadyRunning { .. } => running.push(w.label()),
                }
            }
            let mut message = String::new();
            if !started.is_empty() {
                message.push_str(&format!("checks started: {}", started.join(", ")));
            }
            if !running.is_empty() {
                if !message.is_empty() {
                    message.push_str("; ");
                }
                message.push_str(&format!("already running: {}", running.join(", ")));
            }
            Action::Done(message)
        }
        Effect::Sync(path) => {
            let synced = crate::core::sync::sync(project, &name(&path), None)?;
            match crate::core::handoff::task(project, &synced) {
                Some(text) => Action::HandoffDrafted(super::app::HandoffView {
                    branch: synced.branch.clone(),
                    path,
                    summary: synced.to_string(),
                    text,
                }),
                None => Action::Done(synced.to_string()),
            }
        }
        Effect::Handoff { branch, path, text } => {
            crate::core::agent::send(project, &name(&path), &text)?;
            Action::Done(format!("the conflict was handed to the agent of {branch}"))
        }
        Effect::PlanMerge(path) => {
            let plan = merge::plan(project, Some(&name(&path)), &MergeOptions::default())?;
            Action::MergePlanned(MergeView {
                branch: plan.branch().to_string(),
                base: plan.base().to_string(),
                strategy: plan.strategy().to_string(),
                commits: plan
                    .commits()
                    .iter()
                    .map(|(id, subject)| (git::short(*id), subject.clone()))
                    .collect(),
                post_merge: project.config.post_merge.clone(),
                uncommitted: plan.dirty().len(),
                refusals: plan.refusals().into_iter().map(words::blocker).collect(),
                warnings: plan.warnings().to_vec(),
                keep: false,
            })
        }
        Effect::Merge { branch, keep } => {
            let mut output = Vec::new();
            let options = MergeOptions {
                keep,
                ..MergeOptions::default()
            };
            // The popup does not wait: a merge already under way is reported, in one line.
            let (lock, _) = recovery::try_acquire(project, &format!("merge {branch}"))?;
            let plan = merge::plan(project, Some(&branch), &options)?;
            let merged = merge::execute(project, &lock, &plan, &mut output)?;
            let mut message = format!("merged {} into {}", merged.branch, merged.base);
            if let Some(post) = &merged.post_merge {
                match (post.exit_code, &post.window) {
                    (_, Some(window)) => {
                        message.push_str(&format!("; post_merge runs in {window}"))
                    }
                    (Some(0), None) => message.push_str("; post_merge succeeded"),
                    (Some(code), None) => message.push_str(&format!(
                        "; post_merge FAILED (exit {code}, {})",
                        post.log.display()
                    )),
                    _ => {}
                }
            }
            if merged.removed.is_some() {
                message.push_str("; worktree removed (saved to trash)");
            }
            if let Some(error) = merged.cleanup_error {
                return Ok(Action::Failed(format!(
                    "{message}; cleanup failed: {error}"
                )));
            }
            Action::Done(message)
        }
        Effect::PlanRemove(path) => {
            let plan = remove::plan_remove(project, &name(&path))?;
            Action::RemovePlanned(RemoveView {
                branch: plan.worktree.label(),
                path: plan.worktree.path.clone(),
                dirty: plan.dirty.clone(),
                unmerged: plan
                    .unmerged
                    .iter()
                    .map(|(id, subject)| (git::short(*id), subject.clone()))
                    .collect(),
            })
        }
        Effect::Remove { path, force } => {
            let name = name(&path);
            let (lock, _) = recovery::try_acquire(project, &format!("remove {name}"))?;
            let removed = remove::remove_with(
                project,
                &lock,
                &name,
                &RemoveOptions {
                    force,
                    keep_branch: false,
                },
            )?;
            Action::Done(format!(
                "removed {} (saved as {})",
                removed.path.display(),
                removed.trash.id
            ))
        }
        Effect::LoadLog(path) => {
            let w = worktree::find(project, &name(&path))?;
            let log = check::current_log(project, &w)?
                .ok_or_else(|| Error::refused(format!("no check log yet for {}", w.label())))?;
            let text = std::fs::read_to_string(&log).map_err(|e| Error::io(&log, e))?;
            let lines: Vec<String> = text.lines().map(str::to_string).collect();
            let keep = lines.len().saturating_sub(10_000);
            Action::LogLoaded {
                title: log.display().to_string(),
                lines: lines[keep..].to_vec(),
            }
        }
        Effect::Analyze => Action::Analyzed(Box::new(
            crate::core::scope::analyze(project).map_err(|e| e.to_string()),
        )),
        Effect::Quit => Action::Switched,
    })
}

enum Owner {
    Worktree(PathBuf),
    /// Only its agent's record changed.
    Agent(PathBuf),
    Everything,
    Nobody,
}

/// inotify watches on what matters, and which worktree a changed path belongs to.
struct Watcher {
    inner: Option<crate::core::watch::DirWatcher>,
    watched: std::sync::Mutex<HashSet<PathBuf>>,
    /// Read by the UI thread for every event; replaced whole after each re-watch.
    routes: std::sync::RwLock<Routes>,
}

#[derive(Default)]
struct Routes {
    /// Watched directory → the worktree it belongs to (None: a change affects every row).
    owners: HashMap<PathBuf, Option<PathBuf>>,
    /// Run and agent record file stem → worktree.
    run_keys: HashMap<String, PathBuf>,
    /// The run records' directory, then the agents'.
    record_dirs: [PathBuf; 2],
}

impl Watcher {
    fn new(project: &Project, tx: UnboundedSender<Msg>) -> Watcher {
        use crate::core::watch::{Batch, DirWatcher, Kind};
        // Changes only (no open events): the popup's own reads never wake it.
        let inner = DirWatcher::new(move |batch| {
            let changes = match batch {
                Batch::Changes(changes) => changes,
                Batch::Lost => return tx.send(Msg::Lost).is_ok(),
            };
            let new_dirs: Vec<PathBuf> = changes
                .iter()
                .filter(|c| c.is_dir && c.kind == Kind::Created)
                .map(|c| c.path.clone())
                .collect();
            if !new_dirs.is_empty() && tx.send(Msg::NewDirs(new_dirs)).is_err() {
                return false;
            }
            tx.send(Msg::Changed(changes.into_iter().map(|c| c.path).collect()))
                .is_ok()
        })
        .ok();
        Watcher {
            inner,
            watched: std::sync::Mutex::new(HashSet::new()),
            routes: std::sync::RwLock::new(Routes {
                record_dirs: [
                    project.state.root().join("runs"),
                    project.state.root().join("agents"),
                ],
                ..Routes::default()
            }),
        }
    }

    /// Watches the directories of every row's worktree (re-done after each full listing);
    /// returns how many of those that exist it watches, and how many exist.
    fn watch(&self, project: &Project, rows: &[listing::Row]) -> (usize, usize) {
        let mut wanted: HashMap<PathBuf, Option<PathBuf>> = HashMap::new();
        for dir in ["runs", "agents"] {
            if let Ok(dir) = project.state.dir(dir) {
                wanted.insert(dir, None);
            }
        }
        let mut run_keys = HashMap::new();
        for row in rows {
            if row.prunable {
                continue;
            }
            run_keys.insert(state::worktree_key(&row.path), row.path.clone());
            let Ok(repo) = git2::Repository::open(&row.path) else {
                continue;
            };
            // The main worktree's admin dir moves with base: every row's ahead/behind changes.
            let admin_owner = if row.is_main {
                None
            } else {
                Some(row.path.clone())
            };
            wanted.insert(repo.path().to_path_buf(), admin_owner);
            for dir in status::tracked_dirs(&repo) {
                wanted.insert(row.path.join(dir), Some(row.path.clone()));
            }
        }
        let existing = wanted.keys().filter(|p| p.is_dir()).count();
        let Some(inner) = self.inner.as_ref() else {
            return (0, existing);
        };
        let mut watched = self.watched.lock().unwrap_or_else(|e| e.into_inner());
        // Directories watched since they were created (untracked ones) stay watched while they
        // exist in a worktree that is still listed.
        let extra: Vec<PathBuf> = watched
            .iter()
            .filter(|p| !wanted.contains_key(*p))
            .cloned()
            .collect();
        for dir in extra {
            if let Some(row) = rows
                .iter()
                .filter(|r| !r.prunable && dir.starts_with(&r.path))
                .max_by_key(|r| r.path.as_os_str().len())
                && dir.is_dir()
            {
                wanted.insert(dir, Some(row.path.clone()));
            }
        }
        for gone in watched.iter().filter(|p| !wanted.contains_key(*p)) {
            inner.unwatch(gone);
        }
        watched.retain(|p| wanted.contains_key(p));
        for path in wanted.keys() {
            if !watched.contains(path) && inner.watch(path).is_ok() {
                watched.insert(path.clone());
            }
        }
        let covered = watched.len();
        let mut routes = self.routes.write().unwrap_or_else(|e| e.into_inner());
        routes.owners = wanted;
        routes.run_keys = run_keys;
        (covered, existing)
    }

    /// Watches directories created in watched ones (and whatever they already hold), for the
    /// worktree their parent belongs to: files in a directory made after the popup started
    /// are seen too.
    fn watch_new(&self, dirs: &[PathBuf]) {
        let Some(inner) = self.inner.as_ref() else {
            return;
        };
        for dir in dirs {
            let owner = {
                let routes = self.routes.read().unwrap_or_else(|e| e.into_inner());
                match dir.parent().and_then(|p| routes.owners.get(p)) {
                    Some(Some(owner)) => owner.clone(),
                    _ => continue, // not in a worktree's watched tree (or an admin dir)
                }
            };
            let mut stack = vec![dir.clone()];
            while let Some(dir) = stack.pop() {
                if dir.file_name().is_some_and(|n| n == ".git") {
                    continue;
                }
                if let Ok(entries) = std::fs::read_dir(&dir) {
                    stack.extend(
                        entries
                            .flatten()
                            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                            .map(|e| e.path()),
                    );
                }
                if inner.watch(&dir).is_ok() {
                    self.watched
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(dir.clone());
                    self.routes
                        .write()
                        .unwrap_or_else(|e| e.into_inner())
                        .owners
                        .insert(dir, Some(owner.clone()));
                }
            }
        }
    }

    fn owner(&self, path: &Path) -> Owner {
        let routes = self.routes.read().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = routes.record_dirs.iter().position(|d| path.starts_with(d)) {
            let key = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            return match (routes.run_keys.get(&key), i) {
                (Some(worktree), 0) => Owner::Worktree(worktree.clone()),
                (Some(worktree), _) => Owner::Agent(worktree.clone()),
                (None, _) => Owner::Nobody,
            };
        }
        // Lock files and git's temporary files change without changing anything shown.
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default();
        if name.ends_with(".lock") {
            return Owner::Nobody;
        }
        let dir = path.parent().unwrap_or(path);
        match routes.owners.get(dir).or_else(|| routes.owners.get(path)) {
            Some(Some(worktree)) => Owner::Worktree(worktree.clone()),
            Some(None) => Owner::Everything,
            None => Owner::Nobody,
        }
    }
}
