//! The monitor: one process per repository, under tmux, from the first agent until the last
//! one exits, turning time into state changes; and the states `wtmux list` and the popup show.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::ensure::{MONITOR_STATUS, MonitorStatus, ensure_monitor};
use super::look::{evaluate_all, evaluate_at_screens};
use super::notify::{Telling, announce};
use super::observe::{PAUSE_BEFORE_READ, Sight, awaits_pause, will_read};
use super::record::{AgentRecord, now_ms, read_record, read_record_at};
use super::{AgentState, AgentStatus};
use crate::core::error::Result;
use crate::core::state::{is_held, try_hold, write_json};
use crate::core::tmux::Snapshot;
use crate::core::{Project, now_unix};

/// The agent states of several worktrees for `wtmux list` and the popup, from one tmux
/// snapshot; the screens that must be read are read in one more tmux call.
pub fn statuses(
    project: &Project,
    worktrees: &[&Path],
    snapshot: Option<&Snapshot>,
) -> Result<Vec<AgentStatus>> {
    let records = worktrees
        .iter()
        .map(|w| read_record(project, w))
        .collect::<Result<Vec<_>>>()?;
    let present: Vec<&AgentRecord> = records.iter().flatten().collect();
    // A monitor that died (killed, or its tmux server restarted) comes back with the next look.
    // So does the one that starts checks on new commits, while there are worktrees to watch.
    if present
        .iter()
        .any(|r| !r.exited && r.last_state != AgentState::Exited)
        || (worktrees.len() > 1 && crate::core::check::auto::watches_commits(project))
    {
        let _ = ensure_monitor(project);
    }
    let mut evaluated = evaluate_all(project, &present, snapshot.map(|s| &s.panes)).into_iter();
    Ok(records
        .iter()
        .map(|r| match r {
            Some(_) => evaluated
                .next()
                .map(|(status, _)| status)
                .unwrap_or_else(AgentStatus::none),
            None => AgentStatus::none(),
        })
        .collect())
}

/// The agent states of several worktrees as the running monitor last recorded them (a tick
/// old at most), for display that follows the monitor without asking tmux again; `None` when
/// no monitor runs or it has not recorded some agent yet (then [`statuses`] looks).
pub fn recorded_statuses(
    project: &Project,
    worktrees: &[&Path],
) -> Result<Option<Vec<AgentStatus>>> {
    if project.tmux.is_none() || !is_held(&project.state.dir("agents")?.join("monitor.lock"))? {
        return Ok(None);
    }
    let mut recorded = Vec::with_capacity(worktrees.len());
    for worktree in worktrees {
        match read_record(project, worktree)? {
            None => recorded.push(AgentStatus::none()),
            Some(AgentRecord {
                told: Some(told), ..
            }) => recorded.push(told),
            Some(_) => return Ok(None),
        }
    }
    Ok(Some(recorded))
}

/// Watches every agent once a second until none is left running: records state changes,
/// marks windows, notifies, and clears a window's marker once someone looks at it. A tick is
/// one tmux call, however many agents there are: what the last tick decided (window options,
/// a message) goes to tmux with this tick's snapshot, and so do the screens it foresaw this
/// tick would read (see [`Tmux::snapshot_after`](crate::core::tmux::Tmux::snapshot_after)).
pub fn run_monitor(project: &Project) -> Result<()> {
    let dir = project.state.dir("agents")?;
    let Some(_lock) = try_hold(&dir.join("monitor.lock"))? else {
        return Ok(()); // another monitor runs
    };
    let mut project = project.clone();
    let mut config = ConfigStamp::of(&project);
    let started = now_unix();
    write_json(
        &project.state.root().join(MONITOR_STATUS),
        &MonitorStatus {
            pid: std::process::id(),
            started,
            last_change: None,
        },
    )?;
    let tmux = project.require_tmux()?.clone();
    let mut records = RecordCache::default();
    let mut idle_rounds = 0;
    let mut status_written = None;
    let period = Duration::from_secs(1);
    // What the last tick decided to tell tmux, and the screens it expects this tick to need:
    // both go with this tick's snapshot, in one call.
    let mut untold: Vec<Vec<String>> = Vec::new();
    let mut to_read: Vec<String> = Vec::new();
    loop {
        let tick = std::time::Instant::now();
        // Config changes reach the running monitor (quiet period, bell, notify, their trust);
        // a configuration that no longer loads leaves the last good one in force.
        if let Some(fresh) = config.changed(&project) {
            config = fresh;
            if let Ok(reloaded) = Project::discover_with(
                &project.main_worktree,
                crate::core::config::user_config_path(),
                project.tmux.clone(),
            ) {
                project = reloaded;
            }
        }
        let project = &project;
        if !to_read.is_empty() {
            crate::core::testpoint::pause(PAUSE_BEFORE_READ);
        }
        let reading: Vec<&str> = to_read.iter().map(String::as_str).collect();
        let called_ms = now_ms();
        let mut snapshot = match tmux.snapshot_after(&std::mem::take(&mut untold), &reading) {
            Ok(snapshot) => snapshot,
            Err(_) => return Ok(()), // the server is gone
        };
        let screens = std::mem::take(&mut snapshot.screens);
        let watched: Vec<&AgentRecord> = records
            .refresh(&dir)
            .filter(|r| r.last_state != AgentState::Exited)
            .collect();
        let mut live = 0;
        let mut telling = Telling::default();
        let mut changed_at = None;
        let quiet_ms = project.config.agent_quiet.as_millis() as u64 + 1000;
        let looks = evaluate_at_screens(project, &watched, &snapshot.panes, screens, called_ms);
        // The next look comes a period later, or when a working agent's quiet period will
        // have passed, if that is sooner: "waiting" is then told without a period's delay.
        // While a pane quiet by its text waits to be seen silent, the period is jittered (see
        // [`jittered`]); otherwise not, so that the looks stay on the whole seconds where
        // quiet periods end and those wake-ups are no extra tmux calls.
        let jitter = looks.iter().any(|(_, look)| {
            look.observation
                .as_ref()
                .is_some_and(|o| awaits_pause(o, called_ms, project.config.agent_quiet))
        });
        let mut next = tick + if jitter { jittered(period) } else { period };
        for (record, (status, look)) in watched.iter().zip(&looks) {
            if status.state != AgentState::Exited {
                live += 1;
            }
            if let Sight::Alive { output_ms, .. } = look.sight
                && status.state == AgentState::Working
                && let Some(until) = (output_ms + quiet_ms).checked_sub(now_ms())
            {
                next = next.min(std::time::Instant::now() + Duration::from_millis(until + 1));
            }
            let learned = look
                .observation
                .as_ref()
                .filter(|o| record.observed.as_ref() != Some(*o));
            if status.state != record.last_state {
                changed_at = Some(now_unix());
            }
            if status.state != record.last_state
                || learned.is_some()
                || record.told.as_ref() != Some(status)
            {
                announce(
                    project,
                    record,
                    status,
                    Some(&snapshot.panes),
                    learned,
                    &mut telling,
                )?;
            }
            if let (Some(window), Some(pane)) = (
                &record.window,
                record.pane.as_ref().and_then(|p| snapshot.panes.get(p)),
            ) && pane.seen
                && snapshot.marked.contains(window)
                && status.state != AgentState::Working
            {
                telling.set_window_option(window, "@wtmux_mark", None);
            }
        }
        untold = telling.run_notify(project);
        // The screens the next tick will read, should their panes stay quiet until then: a
        // quiet period ending, a pane that moved after going quiet. One that must be read and
        // was not foreseen (it printed since this snapshot) is read a tick later.
        let next_ms = now_ms()
            + next
                .saturating_duration_since(std::time::Instant::now())
                .as_millis() as u64;
        to_read = watched
            .iter()
            .zip(&looks)
            .filter_map(|(record, (_, look))| {
                let id = record.pane.as_ref()?;
                let pane = snapshot.panes.get(id)?;
                will_read(
                    pane,
                    look.observation.as_ref(),
                    next_ms,
                    project.config.agent_quiet,
                )
                .then(|| id.clone())
            })
            .collect();
        // What `doctor` shows: written once a second at most (a state change every few seconds
        // per agent is many a second with a hundred agents).
        if let Some(at) = changed_at
            && status_written != Some(at)
        {
            status_written = Some(at);
            let _ = write_json(
                &project.state.root().join(MONITOR_STATUS),
                &MonitorStatus {
                    pid: std::process::id(),
                    started,
                    last_change: Some(at),
                },
            );
        }
        // After the turns were recorded: a turn to done is settled in the same tick.
        let auto = crate::core::check::auto::tick(project).unwrap_or_default();
        if auto.linked > 0 && crate::core::check::auto::watches_commits(project) {
            live += 1;
        }
        idle_rounds = if live == 0 { idle_rounds + 1 } else { 0 };
        if idle_rounds >= 10 {
            let _ = tmux.run_sequence(&untold);
            return Ok(());
        }
        std::thread::sleep(next.saturating_duration_since(std::time::Instant::now()));
    }
}

/// About `period`, off by up to 150 ms either way: so that the looks do not keep step with an
/// agent that writes to its pane in a rhythm of its own (they would find a spinner turning
/// once a second on the same frame every time, or always miss the pause between two bells).
fn jittered(period: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let offset = Duration::from_micros(u64::from(nanos / 1000 % 300_000));
    period.saturating_sub(Duration::from_millis(150)) + offset
}

/// What the configuration files looked like: their modification times (the user's file, the
/// repository's, and the trust store's record of it).
#[derive(Debug, Clone, PartialEq, Eq)]
struct ConfigStamp(Vec<Option<std::time::SystemTime>>);

impl ConfigStamp {
    fn of(project: &Project) -> ConfigStamp {
        let files = [
            Some(project.main_worktree.join(".wtmux.toml")),
            crate::core::config::user_config_path(),
            crate::core::trust::store_dir(),
        ];
        ConfigStamp(
            files
                .iter()
                .map(|f| {
                    f.as_ref()
                        .and_then(|f| std::fs::metadata(f).ok())
                        .and_then(|m| m.modified().ok())
                })
                .collect(),
        )
    }

    fn changed(&self, project: &Project) -> Option<ConfigStamp> {
        let now = ConfigStamp::of(project);
        (now != *self).then_some(now)
    }
}

/// The agents' records, read again only when their file changed.
#[derive(Default)]
struct RecordCache {
    entries: std::collections::HashMap<PathBuf, (FileStamp, AgentRecord)>,
}

/// What a record's file looked like when it was read, and when that was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    modified: std::time::SystemTime,
    inode: u64,
    len: u64,
    read_at: std::time::SystemTime,
}

impl FileStamp {
    /// Whether a read with this stamp still holds for a file that now looks like `now`.
    /// Records are overwritten in place, and file times are coarse (a few milliseconds): a
    /// second write within the same tick of the clock leaves the time as it was, so a read is
    /// trusted only once it came a clear second after the last write.
    fn still_holds(&self, now: &FileStamp) -> bool {
        self.modified == now.modified
            && self.inode == now.inode
            && self.len == now.len
            && self
                .read_at
                .duration_since(self.modified)
                .is_ok_and(|d| d >= Duration::from_secs(1))
    }
}

impl RecordCache {
    fn refresh(&mut self, dir: &Path) -> impl Iterator<Item = &AgentRecord> {
        let mut present = std::collections::HashSet::new();
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let Ok(meta) = entry.metadata() else { continue };
            let stamp = FileStamp {
                modified: meta.modified().unwrap_or(std::time::UNIX_EPOCH),
                inode: std::os::unix::fs::MetadataExt::ino(&meta),
                len: meta.len(),
                read_at: std::time::SystemTime::now(),
            };
            present.insert(path.clone());
            let fresh = self
                .entries
                .get(&path)
                .is_some_and(|(known, _)| known.still_holds(&stamp));
            if !fresh {
                match read_record_at(&path) {
                    Some(record) => {
                        self.entries.insert(path, (stamp, record));
                    }
                    None => {
                        self.entries.remove(&path);
                    }
                }
            }
        }
        self.entries.retain(|path, _| present.contains(path));
        self.entries.values().map(|(_, record)| record)
    }
}
