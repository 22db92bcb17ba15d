//! State inference, pure: an agent's state from its record (what hooks pushed, how it exited)
//! and what a look at its pane saw. See the rules in the module above.

use std::time::Duration;

use super::observe::Sight;
use super::record::AgentRecord;
use super::{AgentState, AgentStatus};

/// The state of an agent from its record and what observation says (see [`observe`]).
pub fn effective(
    record: &AgentRecord,
    sight: Sight,
    now_ms: u64,
    quiet: Duration,
    hook_stale: Duration,
) -> AgentStatus {
    let status = |state: AgentState, source: &str| AgentStatus {
        state,
        name: Some(record.name.clone()),
        exit_code: if state == AgentState::Exited {
            record.exit_code
        } else {
            None
        },
        source: Some(source.to_string()),
    };
    let (last_output_ms, question) = match sight {
        _ if record.exited => return status(AgentState::Exited, "observed"),
        Sight::Exited => return status(AgentState::Exited, "observed"),
        Sight::Alive {
            output_ms,
            question,
        } => (output_ms, question),
        Sight::Unknown => {
            return match record.hook {
                Some((state, _)) => status(state, "hook"),
                None => status(AgentState::Working, "observed"),
            };
        }
    };
    let quiet_ms = quiet.as_millis() as u64;
    // Output times have one-second resolution: allow for it.
    let active = now_ms.saturating_sub(last_output_ms) < quiet_ms + 1000;
    let observed = match question {
        _ if active => AgentState::Working,
        Some(true) => AgentState::Waiting,
        Some(false) => AgentState::Done,
        // Quiet, but its screen was not read consistently since it printed: not yet.
        None => AgentState::Working,
    };
    match record.hook {
        None => status(observed, "observed"),
        // Believed for `hook_stale` after the hook or the last output, whichever is later.
        Some((AgentState::Working, at))
            if now_ms.saturating_sub(last_output_ms.max(at)) >= hook_stale.as_millis() as u64 =>
        {
            status(observed, "observed")
        }
        Some((AgentState::Waiting | AgentState::Done, at))
            if active && last_output_ms > at + 2000 =>
        {
            status(AgentState::Working, "observed")
        }
        Some((state, _)) => status(state, "hook"),
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::super::observe::looks_like_question;
    use super::*;
    use crate::core::config::PromptMode;

    fn record(hook: Option<(AgentState, u64)>) -> AgentRecord {
        AgentRecord {
            name: "fake".into(),
            run: "fake".into(),
            prompt_mode: PromptMode::Arg,
            prompt: None,
            task: None,
            worktree: PathBuf::from("/w"),
            branch: "b".into(),
            pane: Some("%1".into()),
            pane_pid: None,
            window: Some("@1".into()),
            started_at: 0,
            exit_code: None,
            exited: false,
            hook,
            last_state: AgentState::Working,
            observed: None,
            told: None,
        }
    }

    /// Alive, last printed at `activity` (s), its screen read since.
    fn pane(activity: u64, screen: &str) -> Sight {
        Sight::Alive {
            output_ms: activity * 1000,
            question: Some(looks_like_question(screen)),
        }
    }

    const Q: Duration = Duration::from_secs(3);
    const STALE: Duration = Duration::from_secs(30);

    fn state(record: &AgentRecord, sight: Sight, now: u64) -> AgentState {
        effective(record, sight, now * 1000, Q, STALE).state
    }

    #[test]
    fn observation_alone() {
        let r = record(None);
        assert_eq!(state(&r, pane(100, ""), 101), AgentState::Working);
        assert_eq!(
            state(&r, pane(100, "Proceed? (y/n)"), 110),
            AgentState::Waiting
        );
        assert_eq!(state(&r, pane(100, "all done\n> "), 110), AgentState::Done);
        assert_eq!(
            state(&r, Sight::Exited, 110),
            AgentState::Exited,
            "its pane is gone"
        );
    }

    #[test]
    fn hooks_win_until_observation_contradicts_them() {
        let r = record(Some((AgentState::Working, 100_000)));
        assert_eq!(
            state(&r, pane(100, "> "), 120),
            AgentState::Working,
            "quiet, but not for long"
        );
        assert_eq!(
            state(&r, pane(100, "> "), 131),
            AgentState::Done,
            "a silent hook heals"
        );
        let r = record(Some((AgentState::Done, 100_000)));
        assert_eq!(
            state(&r, pane(101, ""), 101),
            AgentState::Done,
            "its own redraw"
        );
        assert_eq!(
            state(&r, pane(110, ""), 110),
            AgentState::Working,
            "output long after"
        );
        let mut r = record(Some((AgentState::Waiting, 100_000)));
        r.exited = true;
        r.exit_code = Some(2);
        let status = effective(&r, pane(100, ""), 100_000, Q, STALE);
        assert_eq!(
            (status.state, status.exit_code),
            (AgentState::Exited, Some(2))
        );
    }

    /// A pane written to (the bell, a redraw) whose screen was not read since: its last output
    /// is still the last change of its text, and it is not quiet until the read.
    #[test]
    fn a_pane_not_read_since_it_was_written_to_is_not_quiet_yet() {
        let unread = Sight::Alive {
            output_ms: 100_000,
            question: None,
        };
        assert_eq!(state(&record(None), unread, 200), AgentState::Working);
        // Nor does it turn a hook's "waiting" into working: no output after the hook.
        let r = record(Some((AgentState::Waiting, 101_000)));
        assert_eq!(state(&r, unread, 103), AgentState::Waiting);
        assert_eq!(
            state(&r, pane(100, "Proceed? (y/n)"), 103),
            AgentState::Waiting
        );
        // Read, and changed: output after the hook.
        assert_eq!(state(&r, pane(104, "applying"), 104), AgentState::Working);
    }

    #[test]
    fn questions_are_recognised() {
        for screen in [
            "Do you want to proceed?",
            "Apply edit? [Y/n]",
            "Allow Bash(ls)",
            "x\nContinue? (y/n) ",
        ] {
            assert!(looks_like_question(screen), "{screen}");
        }
        for screen in ["", "Done.", "> ", "wrote 3 files"] {
            assert!(!looks_like_question(screen), "{screen}");
        }
    }
}
