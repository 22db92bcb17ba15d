//! Rows and details for display (`wtmux list`, the popup): every worktree with its live status.
//! Display only: what decides something asks git's exact answer (see `status`).

use std::path::{Path, PathBuf};

use git2::{Oid, Repository};
use serde::Serialize;

use super::agent::{self, AgentStatus};
use super::check::{self, CheckStatus};
use super::error::Result;
use super::operation::{self, Operation};
use super::worktree::{Worktree, worktrees};
use super::{Project, git, parallel_map};

/// One row of `wtmux list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Row {
    pub branch: Option<String>,
    pub path: PathBuf,
    pub is_main: bool,
    pub prunable: bool,
    /// Short id of HEAD; `None` on an unborn branch or a prunable worktree.
    pub head: Option<String>,
    pub subject: Option<String>,
    /// Unix time of HEAD's commit.
    pub commit_time: Option<i64>,
    /// Files that differ from HEAD: staged, unstaged, untracked.
    pub changed: usize,
    /// Commits HEAD has that base lacks, and the other way round.
    pub ahead: usize,
    pub behind: usize,
    /// The id of the worktree's tagged tmux window, when it has one.
    pub window: Option<String>,
    pub check: CheckStatus,
    pub agent: AgentStatus,
    /// A git operation (rebase, merge, …) stopped half way in this worktree.
    #[serde(default)]
    pub operation: Option<Operation>,
}

impl Row {
    /// A worktree's row before anything about it is read.
    pub fn bare(worktree: &Worktree) -> Row {
        Row {
            branch: worktree.branch.clone(),
            path: worktree.path.clone(),
            is_main: worktree.is_main,
            prunable: worktree.prunable,
            head: None,
            subject: None,
            commit_time: None,
            changed: 0,
            ahead: 0,
            behind: 0,
            window: None,
            check: CheckStatus::none(),
            agent: AgentStatus::none(),
            operation: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Listing {
    pub base: String,
    pub main_worktree: PathBuf,
    pub worktrees: Vec<Row>,
    /// When the file-system monitor could not watch every directory lately (the system's
    /// inotify limit): how far it got. Every listing then scans every worktree.
    #[serde(default)]
    pub coverage: Option<super::fsmonitor::GaveUp>,
    /// The file-system monitor's session this listing synced with: its worktrees are marked
    /// in that session, so the monitor tells a follower of their next change. `None`: scanned
    /// without it (none ran, or it did not answer).
    #[serde(skip)]
    pub session: Option<String>,
}

/// Every worktree with its live status, computed in parallel in this process (no git process
/// per worktree).
pub fn list(project: &Project) -> Result<Listing> {
    let all = worktrees(project)?;
    // tmux answers in a separate process: ask it (once) while the worktrees are read.
    let snapshot = std::thread::spawn({
        let tmux = project.tmux.clone();
        move || tmux?.snapshot().ok()
    });
    let base_commit = project.base_commit()?;
    let monitor = super::fsmonitor::sync(project);
    let mut worktrees = parallel_map(&all, |w| row(project, w, base_commit, monitor.as_deref()))
        .into_iter()
        .collect::<Result<Vec<_>>>()?;
    if monitor.is_none() {
        super::fsmonitor::start(project);
    }
    let snapshot = snapshot.join().ok().flatten();
    fill_tmux_fields(project, &mut worktrees, snapshot.as_ref())?;
    Ok(Listing {
        base: project.base.clone(),
        main_worktree: project.main_worktree.clone(),
        worktrees,
        coverage: super::fsmonitor::coverage_lost(project),
        session: monitor,
    })
}

/// The window and agent of each row, from one tmux snapshot (`None`: outside tmux).
fn fill_tmux_fields(
    project: &Project,
    rows: &mut [Row],
    snapshot: Option<&super::tmux::Snapshot>,
) -> Result<()> {
    let paths: Vec<&Path> = rows.iter().map(|r| r.path.as_path()).collect();
    let agents = agent::statuses(project, &paths, snapshot)?;
    for (row, agent) in rows.iter_mut().zip(agents) {
        row.window = snapshot
            .and_then(|s| s.windows.get(&row.path))
            .map(|w| w.id.clone());
        row.agent = agent;
    }
    Ok(())
}

/// The list row of one worktree.
pub fn list_row(project: &Project, worktree: &Worktree) -> Result<Row> {
    Ok(list_rows(project, std::slice::from_ref(worktree))?.remove(0))
}

/// The rows of some worktrees: each reads only its own worktree, and tmux is asked once for
/// all of them.
pub fn list_rows(project: &Project, worktrees: &[Worktree]) -> Result<Vec<Row>> {
    let snapshot = std::thread::spawn({
        let tmux = project.tmux.clone();
        move || tmux?.snapshot().ok()
    });
    let base_commit = project.base_commit()?;
    let monitor = super::fsmonitor::sync(project);
    let mut rows = parallel_map(worktrees, |w| {
        row(project, w, base_commit, monitor.as_deref())
    })
    .into_iter()
    .collect::<Result<Vec<_>>>()?;
    let snapshot = snapshot.join().ok().flatten();
    fill_tmux_fields(project, &mut rows, snapshot.as_ref())?;
    Ok(rows)
}

/// What the popup's detail pane shows of a worktree.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Detail {
    /// Commits the worktree has that base lacks: (short id, subject), newest first.
    pub commits: Vec<(String, String)>,
    /// The running check's log, else the latest run's failed (or last) check's.
    pub log: Option<PathBuf>,
    pub log_tail: Vec<String>,
    /// The last lines its agent's pane shows.
    pub agent_tail: Vec<String>,
}

/// The detail of one worktree: its unmerged commits and the tail of its check log.
pub fn detail(project: &Project, worktree: &Worktree, log_lines: usize) -> Result<Detail> {
    let mut detail = Detail::default();
    if worktree.prunable {
        return Ok(detail);
    }
    let repo = Repository::open(&worktree.path)?;
    let base = project.base_commit()?;
    if let (Some(head), Some(base)) = (git::head_commit(&repo), base) {
        detail.commits = git::commits_between(&repo, base, head)?
            .into_iter()
            .take(20)
            .map(|(id, subject)| (git::short(id), subject))
            .collect();
    }
    if let (Some(tmux), Some(record)) =
        (&project.tmux, agent::read_record(project, &worktree.path)?)
        && let Some(pane) = &record.pane
        && let Ok(screen) = tmux.capture(pane)
    {
        let lines: Vec<&str> = screen.lines().collect();
        let end = lines
            .iter()
            .rposition(|l| !l.trim().is_empty())
            .map_or(0, |i| i + 1);
        detail.agent_tail = lines[end.saturating_sub(log_lines.min(12))..end]
            .iter()
            .map(|l| l.to_string())
            .collect();
    }
    detail.log = check::current_log(project, worktree)?;
    if let Some(log) = &detail.log {
        detail.log_tail = tail_lines(log, log_lines);
    }
    Ok(detail)
}

/// The last `n` lines of a file (reading at most its last 64 KiB).
pub fn tail_lines(path: &Path, n: usize) -> Vec<String> {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut file) = std::fs::File::open(path) else {
        return Vec::new();
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = file.seek(SeekFrom::Start(len.saturating_sub(64 * 1024)));
    let mut bytes = Vec::new();
    let _ = file.read_to_end(&mut bytes);
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(|l| l.to_string())
        .collect()
}

fn row(
    project: &Project,
    worktree: &Worktree,
    base_commit: Option<Oid>,
    monitor: Option<&str>,
) -> Result<Row> {
    let mut row = Row::bare(worktree);
    if worktree.prunable {
        return Ok(row);
    }
    let repo = Repository::open(&worktree.path)?;
    let head = git::head_commit(&repo);
    if let Some(id) = head {
        let commit = repo.find_commit(id)?;
        row.head = Some(git::short(id));
        row.subject = commit.summary().ok().flatten().map(str::to_string);
        row.commit_time = Some(commit.time().seconds());
        if let Some(base) = base_commit {
            let (ahead, behind) = repo.graph_ahead_behind(id, base)?;
            row.ahead = ahead;
            row.behind = behind;
        }
    }
    row.operation = operation::in_progress(&repo)?;
    let changes = super::fsmonitor::changes_for_display(project, &repo, &worktree.path, monitor)?;
    row.changed = changes.count();
    row.check = check::status(project, &worktree.path, &changes, monitor)?;
    Ok(row)
}
