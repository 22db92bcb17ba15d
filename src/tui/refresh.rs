//! Which rows the popup reads again, and when: changes that arrive together are refreshed in one
//! pass, and one pass runs at a time (changes arriving meanwhile wait for the next one). A pass
//! is one core call over just the changed worktrees, with tmux asked once.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::app::Effect;

/// The pause point (see [`crate::core::testpoint`]) every pass stops at before it reads
/// anything, so that a test can hold one while changes arrive.
pub const PAUSE_IN_PASS: &str = "refresh-pass";

/// How long the first change of a batch waits for the rest of it.
pub const DEBOUNCE: Duration = Duration::from_millis(150);

#[derive(Debug, Default)]
pub struct RefreshQueue {
    rows: BTreeSet<PathBuf>,
    /// Rows of which only the agent changed (its record): no git to read.
    agents: BTreeSet<PathBuf>,
    all: bool,
    due: Option<Instant>,
    running: bool,
    /// Passes started, for the benchmark's trace and the tests.
    pub passes: usize,
}

impl RefreshQueue {
    /// A worktree's row changed.
    pub fn row_changed(&mut self, path: PathBuf, now: Instant) {
        self.rows.insert(path);
        self.due.get_or_insert(now + DEBOUNCE);
    }

    /// A worktree's agent record changed.
    pub fn agent_changed(&mut self, path: PathBuf, now: Instant) {
        self.agents.insert(path);
        self.due.get_or_insert(now + DEBOUNCE);
    }

    /// Something that may affect every row changed.
    pub fn all_changed(&mut self, now: Instant) {
        self.all = true;
        self.due.get_or_insert(now + DEBOUNCE);
    }

    /// Every row, as soon as the pass running (if any) is over.
    pub fn all_now(&mut self, now: Instant) {
        self.all = true;
        self.due = Some(now);
    }

    /// What the next pass holds so far: rows whose agent alone changed, rows read in full, and
    /// whether it reads every row.
    pub fn pending(&self) -> (usize, usize, bool) {
        (
            self.agents.difference(&self.rows).count(),
            self.rows.len(),
            self.all,
        )
    }

    /// When the next pass may start; `None` while one runs or nothing waits.
    pub fn due(&self) -> Option<Instant> {
        self.due.filter(|_| !self.running)
    }

    /// The next pass, if one is due: it must be run, and [`RefreshQueue::finished`] called
    /// when its result is in.
    pub fn start(&mut self, now: Instant) -> Option<Effect> {
        if self.running || self.due.is_none_or(|due| due > now) {
            return None;
        }
        self.due = None;
        self.running = true;
        self.passes += 1;
        let rows = std::mem::take(&mut self.rows);
        let agents = std::mem::take(&mut self.agents);
        Some(if std::mem::take(&mut self.all) {
            Effect::RefreshAll
        } else if rows.is_empty() {
            Effect::RefreshAgents(agents.into_iter().collect())
        } else {
            // A full read of a row reads its agent too.
            let mut all = rows;
            all.extend(agents);
            Effect::RefreshRows(all.into_iter().collect())
        })
    }

    /// Whether a pass is running.
    pub fn running(&self) -> bool {
        self.running
    }

    /// A pass is running from the start (the popup's first full listing).
    pub fn started_elsewhere(&mut self) {
        self.running = true;
        self.passes += 1;
    }

    pub fn finished(&mut self) {
        self.running = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(n: usize) -> Vec<PathBuf> {
        (0..n)
            .map(|i| PathBuf::from(format!("/w/{i:02}")))
            .collect()
    }

    #[test]
    fn changes_that_arrive_together_are_one_pass() {
        let t0 = Instant::now();
        let mut queue = RefreshQueue::default();
        for (i, path) in paths(30).into_iter().enumerate() {
            queue.row_changed(path, t0 + Duration::from_millis(i as u64));
        }
        assert_eq!(queue.due(), Some(t0 + DEBOUNCE));
        assert_eq!(
            queue.start(t0 + Duration::from_millis(100)),
            None,
            "not yet"
        );
        let pass = queue.start(t0 + DEBOUNCE).unwrap();
        assert_eq!(pass, Effect::RefreshRows(paths(30)));
        assert_eq!(queue.passes, 1);
        // Changes during the pass wait for it, then go together (a row changed twice, once).
        let t1 = t0 + Duration::from_secs(1);
        queue.row_changed(PathBuf::from("/w/01"), t1);
        queue.row_changed(PathBuf::from("/w/01"), t1);
        queue.row_changed(PathBuf::from("/w/02"), t1);
        assert_eq!(queue.due(), None, "one pass at a time");
        assert_eq!(queue.start(t1 + DEBOUNCE), None);
        queue.finished();
        assert_eq!(
            queue.start(t1 + DEBOUNCE),
            Some(Effect::RefreshRows(vec!["/w/01".into(), "/w/02".into()]))
        );
        queue.finished();
        assert_eq!(queue.passes, 2);
        assert_eq!(queue.due(), None, "nothing left");
    }

    #[test]
    fn agent_changes_alone_read_no_git() {
        let t0 = Instant::now();
        let mut queue = RefreshQueue::default();
        for path in paths(20) {
            queue.agent_changed(path, t0);
        }
        assert_eq!(
            queue.start(t0 + DEBOUNCE),
            Some(Effect::RefreshAgents(paths(20)))
        );
        queue.finished();
        queue.agent_changed(PathBuf::from("/w/00"), t0);
        queue.row_changed(PathBuf::from("/w/01"), t0);
        assert_eq!(
            queue.start(t0 + DEBOUNCE),
            Some(Effect::RefreshRows(paths(2)))
        );
    }

    #[test]
    fn a_change_to_everything_is_one_full_listing() {
        let t0 = Instant::now();
        let mut queue = RefreshQueue::default();
        queue.row_changed(PathBuf::from("/w/0"), t0);
        queue.all_changed(t0);
        assert_eq!(queue.start(t0 + DEBOUNCE), Some(Effect::RefreshAll));
        queue.finished();
        queue.all_now(t0 + DEBOUNCE);
        assert_eq!(queue.start(t0 + DEBOUNCE), Some(Effect::RefreshAll));
        assert_eq!(queue.start(t0 + DEBOUNCE), None);
    }
}
