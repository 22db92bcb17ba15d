//! The popup's loop: terminal events, file-system changes and effect results come in as
//! messages; the model is updated and redrawn; every effect runs off the UI thread as one call
//! into the core.
//!
//! Live without polling: the popup follows the core's file-system monitor
//! ([`crate::core::fsmonitor::follow`]), which holds the one watch plan of every worktree, and
//! wtmux's run and agent records; the changes that arrive together refresh just the worktrees
//! they touched, in one pass ([`super::refresh`]). Nothing runs while nothing changes, apart
//! from a spinner tick while something is running. Effects run on a bounded pool of threads.
//!
//! The files: this one is the loop; `perform` carries out one effect (one call into the
//! core, the same the CLI makes).

mod perform;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crossterm::event::{Event, KeyEvent};
use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};

use super::app::{Action, Effect, Model};
use super::keys;
use super::refresh::RefreshQueue;
use super::view::{self, Theme};
use crate::core::listing::{self, Listing};
use crate::core::worktree;
use crate::core::{Error, Project, Result, check, fsmonitor, state};

pub use perform::perform;

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
    /// What the file-system monitor and the records say changed.
    Changed(Vec<fsmonitor::Event>),
    /// The result of a refresh pass.
    Refreshed(Box<Action>),
}

/// How often every row is read again while the file-system monitor does not watch every
/// directory (inotify's limit) or does not run (outside tmux, or starting): never silence.
const RESCAN_INTERVAL: Duration = Duration::from_secs(5);

/// How long the popup's first listing waits for a file-system monitor it had to start.
const MONITOR_PATIENCE: Duration = Duration::from_secs(3);

/// `WTMUX_TEST_MONITOR_PATIENCE_MS=<ms>`: another patience, so a test on a loaded machine
/// does not see a monitor slower than [`MONITOR_PATIENCE`] as a second listing.
fn monitor_patience() -> Duration {
    std::env::var("WTMUX_TEST_MONITOR_PATIENCE_MS")
        .ok()
        .and_then(|ms| ms.parse().ok())
        .map_or(MONITOR_PATIENCE, Duration::from_millis)
}

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

pub fn run(project: Project, started: Instant) -> Result<()> {
    one_malloc_arena();
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

/// The popup's memory: glibc gives every thread that allocates an arena of its own, and each
/// keeps its own high-water mark (a listing's threads each read git indexes of megabytes), so
/// the process peaked at the sum. One arena for the popup: 15 MB instead of 19 MB at its peak
/// on 21 worktrees of 20,000 files with nothing cached; its threads allocate little otherwise.
fn one_malloc_arena() {
    // SAFETY: mallopt only sets an allocator parameter.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
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

    /// A refresh pass starts: `refresh_pass <rows> <ms>` (`<rows> agents` for agents only,
    /// `all` for every row), with the milliseconds since the process started.
    fn pass(&mut self, pass: &Effect) {
        use std::io::Write;
        let at = self.started.elapsed().as_secs_f64() * 1000.0;
        if let Some(file) = &mut self.file {
            let _ = match pass {
                Effect::RefreshRows(rows) => {
                    writeln!(file, "refresh_pass {} {at:.2}", rows.len())
                }
                Effect::RefreshAgents(rows) => {
                    writeln!(file, "refresh_pass {} agents {at:.2}", rows.len())
                }
                _ => writeln!(file, "refresh_pass all {at:.2}"),
            };
        }
    }

    /// Changes came in: `queued <agent rows> <rows> <all>`, what the next pass holds so far.
    fn queued(&mut self, refresh: &RefreshQueue) {
        use std::io::Write;
        if let Some(file) = &mut self.file {
            let (agents, rows, all) = refresh.pending();
            let _ = writeln!(file, "queued {agents} {rows} {all}");
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
) -> Result<()> {
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
    let follower = fsmonitor::follow(&project, {
        let tx = tx.clone();
        move |events| tx.send(Msg::Changed(events)).is_ok()
    })
    .ok();

    terminal
        .draw(|frame| view::render(&model, theme, frame))
        .map_err(|e| Error::io("terminal", e))?;
    trace.mark("first_frame");
    let mut refresh = RefreshQueue::default();
    refresh.started_elsewhere();
    {
        // The first listing waits a moment for the file-system monitor (started now if none
        // runs): read in its session, every worktree is read once; read before it watches,
        // each would have to be read again once it does (its markers start only then).
        let project = project.clone();
        let tx = tx.clone();
        tokio::task::spawn_blocking(move || {
            fsmonitor::start_and_wait(&project, monitor_patience());
            let action = perform(&project, Effect::RefreshAll)
                .unwrap_or_else(|e| Action::Failed(e.to_string()));
            let _ = tx.send(Msg::Refreshed(Box::new(action)));
        });
    }

    let mut detail_read = Instant::now();
    let mut coverage = fsmonitor::Coverage::None;
    // Not before the first listing is in: a listing slower than the interval would otherwise
    // be followed by a second one at once.
    let mut rescanning = false;
    // The monitor's session the last full listing was read in (`None`: read without it), and
    // whether to see if that is still the monitor's: a listing read in another session left
    // no markers in this one, so the monitor would never tell of its worktrees' changes.
    let mut listed_session: Option<String> = None;
    let mut session_check = false;
    let mut rescan_at = tokio::time::Instant::now() + RESCAN_INTERVAL;
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
            _ = tokio::time::sleep_until(rescan_at), if rescanning => {
                // A deadline of its own: messages arriving all the time do not put it off.
                rescan_at = tokio::time::Instant::now() + RESCAN_INTERVAL;
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
                    session_check = true;
                    Some(*action)
                }
                Msg::Changed(events) => {
                    for event in events {
                        match event {
                            fsmonitor::Event::Worktree(path) => {
                                refresh.row_changed(path, Instant::now())
                            }
                            fsmonitor::Event::Agent(path) => {
                                refresh.agent_changed(path, Instant::now())
                            }
                            fsmonitor::Event::Everything => refresh.all_changed(Instant::now()),
                            fsmonitor::Event::Daemon => {
                                // Stopped (the next listing starts another) or gave up: every
                                // row, read again. Started: every row not read in its session
                                // (see `session_check`).
                                let now = fsmonitor::coverage(&project);
                                trace.mark(&format!("monitor {now:?}"));
                                session_check = true;
                                if now != coverage {
                                    if now != fsmonitor::Coverage::Complete {
                                        refresh.all_changed(Instant::now());
                                    }
                                    redraw |= follow_coverage(
                                        &mut model,
                                        &mut coverage,
                                        &mut rescanning,
                                        now,
                                        follower.is_some(),
                                    );
                                }
                            }
                        }
                    }
                    trace.queued(&refresh);
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
            let listed = match &action {
                Action::Listed { session, .. } => {
                    listed_session = session.clone();
                    true
                }
                _ => false,
            };
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
                trace.mark("listed");
                if let Some(follower) = &follower {
                    follower.show(model.rows.iter().map(|r| r.path.as_path()));
                }
                let now = fsmonitor::coverage(&project);
                follow_coverage(
                    &mut model,
                    &mut coverage,
                    &mut rescanning,
                    now,
                    follower.is_some(),
                );
            }
        }
        if quit {
            break;
        }
        // Once no pass runs (a pass under way may be reading in the new session already).
        if session_check && !refresh.running() {
            session_check = false;
            if coverage == fsmonitor::Coverage::Complete
                && fsmonitor::session(&project) != listed_session
            {
                trace.mark("session_changed");
                refresh.all_changed(Instant::now());
            }
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
            session: None,
        },
    );
    Ok(())
}

/// Follows the file-system monitor's coverage: while it does not watch everything, every row
/// is read again every [`RESCAN_INTERVAL`], and the status line says why when it is the
/// system's limit. Returns whether the status line changed.
fn follow_coverage(
    model: &mut Model,
    coverage: &mut fsmonitor::Coverage,
    rescanning: &mut bool,
    now: fsmonitor::Coverage,
    following: bool,
) -> bool {
    *coverage = now;
    *rescanning = !following || now != fsmonitor::Coverage::Complete;
    match now {
        fsmonitor::Coverage::Partial(lost) => {
            model.status = Some((
                format!(
                    "watching {} of {} directories (the system's inotify limit): every row is read again every {} s",
                    lost.watched,
                    lost.wanted,
                    RESCAN_INTERVAL.as_secs()
                ),
                true,
            ));
            true
        }
        _ => false,
    }
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
        crate::core::testpoint::pause(super::refresh::PAUSE_IN_PASS);
        let action = perform(&project, pass).unwrap_or_else(|e| Action::Failed(e.to_string()));
        let _ = tx.send(Msg::Refreshed(Box::new(action)));
    });
}
