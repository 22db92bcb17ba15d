//! Watching agents' panes: what tmux shows, read consistently and only where something changed.
//!
//! An agent's quiet period counts from the last time its screen's text really changed. tmux
//! keeps, per window, the time of its last output (`window_activity`, whole seconds), but
//! anything written to the pane moves it: the bell, a redraw of the same screen, a redraw after
//! a resize or a focus change, the bell wtmux itself rings on a turn. So the activity only says
//! where to look: a screen is read when the activity moved since the pane was last read, and
//! only a read whose text (its [`fingerprint`]) differs from the read before is output. Reads a
//! second apart may find a spinner drawn in place on the same frame every time, so a pane is
//! quiet only once a look has also seen it silent for a while since its text last changed
//! ([`Observation::paused`]): one written to without a pause is working. A look
//! at an agent starts from one `list-panes -a` snapshot of every pane and reads a screen only
//! when:
//!
//! - the pane was never read, or its activity moved since it was last read, and the quiet
//!   period since its last change has passed (without the read, it would be called quiet), or
//! - the monitor looks ([`Reading::Following`]): it keeps what it learns and looks again a
//!   second later, so it reads every pane whose activity moved, and a change undone before the
//!   quiet period ends (a line printed and then cleared, a spinner) still counts. Other looks
//!   (`list`, the popup, `wait`) start from what the monitor learned; within the quiet period
//!   an agent is working whatever its screen says, so they read nothing there.
//!
//! Every screen is read together with its activity, read again right after it in the same tmux
//! call: when the activity moved meanwhile, the pane printed while it was read and the screen
//! says nothing. A pane that had to be read and was not (the monitor reads the screens it
//! foresaw, the others a tick later) is not quiet until it is read, if it may have printed
//! within its quiet period; what was known of it stands if it was already quiet. So "waiting"
//! is never concluded before the screen's text has stayed the same for the quiet period, and an
//! agent that still prints is never waiting.
//!
//! What a look learned is an [`Observation`]; the monitor keeps it in the agent's record, so the
//! next look — the monitor's, `list`'s, the popup's or `wait`'s — starts from it and reads no
//! screen while nothing changed.

use std::collections::HashMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::core::tmux::{Pane, ScreenRead, Tmux};

/// What was learned of a pane at one window activity time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observation {
    /// The window activity (unix seconds) the screen was read at.
    pub activity: u64,
    /// The read came after that second had ended: no later output can hide behind the same
    /// activity value.
    pub settled: bool,
    /// When the agent last really printed (unix ms): the activity of the first read whose
    /// screen differed from the read before (of the first read, for a pane read once).
    pub output_ms: u64,
    /// A fingerprint of the screen's text, blind to layout (see [`fingerprint`]).
    pub print: u64,
    /// The screen reads as a question.
    pub question: bool,
    /// Since its text last changed, a look found the pane silent for a while (nothing written
    /// from half a second into the second after its last write). A pane written to without a pause — a spinner drawn in place, whose
    /// frames two reads a second apart may find the same — is not quiet, whatever its text.
    /// (Records from before were read only once quiet: paused.)
    #[serde(default = "paused_before")]
    pub paused: bool,
}

fn paused_before() -> bool {
    true
}

/// Whether a pane would be quiet by its text, but has not been seen silent since it last
/// changed (it may be written to without a pause: the monitor's looks then must not keep step
/// with its rhythm).
pub fn awaits_pause(known: &Observation, now_ms: u64, quiet: Duration) -> bool {
    !known.paused && quiet_since(known.output_ms, now_ms, quiet)
}

/// Whether a pane is seen silent at `now_ms`: nothing written since half a second into the
/// second after its last write (tmux's activity has whole seconds). A pane written to twice a
/// second or more never is.
fn silent_at(pane: &Pane, now_ms: u64) -> bool {
    now_ms >= pane.activity * 1000 + 1500
}

/// What observation says of an agent, before its hooks are weighed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sight {
    /// No tmux snapshot, or the agent has no pane yet: only hooks can tell.
    Unknown,
    /// Its pane is dead or gone.
    Exited,
    /// Its pane lives. It last printed at `output_ms` (unix ms); `question`: whether its screen,
    /// read since then, reads as a question (`None`: not read consistently since it printed).
    Alive {
        output_ms: u64,
        question: Option<bool>,
    },
}

/// One agent to look at: its pane in the snapshot, and what the last look learned.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub pane_id: Option<&'a str>,
    pub pane: PaneView<'a>,
    pub known: Option<&'a Observation>,
}

/// The outcome of a look at one agent: its sight, and what is now known of its pane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Look {
    pub sight: Sight,
    pub observation: Option<Observation>,
}

/// How many screens a look reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    /// Those its answer needs now (`list`, the popup, `wait`, a hook): a pane within its quiet
    /// period is working whatever its screen shows.
    Needed,
    /// Also every screen whose activity moved since it was last read: the monitor's, which
    /// keeps what it learns and looks again a second later, so that a change undone before the
    /// quiet period ends is seen.
    Following,
}

/// Quiet for the quiet period, by an activity time in whole seconds: the second itself may have
/// ended just now, so one more second passes first.
fn quiet_since(since_ms: u64, now_ms: u64, quiet: Duration) -> bool {
    now_ms >= since_ms + quiet.as_millis() as u64 + 1000
}

enum Step {
    Decided(Look),
    Read,
}

fn step(
    pane: &Pane,
    known: Option<&Observation>,
    now_ms: u64,
    quiet: Duration,
    reading: Reading,
) -> Step {
    let Some(known) = known else {
        // Never read: what its screen shows is the start of what it printed.
        return if reading == Reading::Following || quiet_since(pane.activity * 1000, now_ms, quiet)
        {
            Step::Read
        } else {
            Step::Decided(unread(pane, None, quiet))
        };
    };
    let quiet_by_then = quiet_since(known.output_ms, now_ms, quiet);
    if known.activity == pane.activity {
        // Nothing was written since the read. A screen read within its second may miss output
        // later in that second: it is read again before it can decide that the agent went quiet.
        if known.settled || now_ms / 1000 <= pane.activity || !quiet_by_then {
            // Silence is the monitor's to witness: it keeps what it sees, so the other looks
            // agree with it instead of catching a pause of their own now and then.
            let paused = known.paused || (reading == Reading::Following && silent_at(pane, now_ms));
            return Step::Decided(Look {
                sight: Sight::Alive {
                    output_ms: known.output_ms,
                    question: paused.then_some(known.question),
                },
                observation: Some(Observation {
                    paused,
                    ..known.clone()
                }),
            });
        }
        return Step::Read; // the second it was read in has ended: read once more
    }
    // Written to since the read: the bell, a redraw, or output; only its screen can tell.
    if quiet_by_then || reading == Reading::Following {
        Step::Read
    } else {
        Step::Decided(unread(pane, Some(known), quiet))
    }
}

/// What stands of a pane whose activity moved and whose screen was not read (or was read while
/// it printed): one written to within its quiet period is not quiet until its screen is read;
/// one written to after its quiet period had ended stays what it was until its screen shows
/// otherwise (so the bell does not make a waiting agent working, even for a tick).
fn unread(pane: &Pane, known: Option<&Observation>, quiet: Duration) -> Look {
    let Some(known) = known else {
        return Look {
            sight: Sight::Alive {
                output_ms: pane.activity * 1000,
                question: None,
            },
            observation: None,
        };
    };
    let written_when_quiet = quiet_since(known.output_ms, pane.activity * 1000, quiet);
    Look {
        sight: Sight::Alive {
            output_ms: known.output_ms,
            question: (written_when_quiet && known.paused).then_some(known.question),
        },
        observation: Some(known.clone()),
    }
}

fn conclude(
    pane: &Pane,
    known: Option<&Observation>,
    read: Option<&ScreenRead>,
    now_ms: u64,
    quiet: Duration,
) -> Look {
    let Some(read) = read.filter(|r| r.activity_after == pane.activity) else {
        // tmux did not answer for this pane (it went away meanwhile, or the monitor had not
        // foreseen the read), or it printed while its screen was read: nothing learned.
        return unread(pane, known, quiet);
    };
    let print = fingerprint(&read.screen);
    // The text changed since the last read: it printed, at the latest when the activity says.
    let (output_ms, paused) = match known {
        Some(k) if k.print == print => (k.output_ms, k.paused || silent_at(pane, now_ms)),
        _ => (pane.activity * 1000, silent_at(pane, now_ms)),
    };
    let question = looks_like_question(&read.screen);
    Look {
        sight: Sight::Alive {
            output_ms,
            question: paused.then_some(question),
        },
        observation: Some(Observation {
            activity: pane.activity,
            settled: now_ms / 1000 > pane.activity,
            output_ms,
            print,
            question,
            paused,
        }),
    }
}

/// One look at many agents: every screen its answer needs is read in a single tmux call.
pub fn look(tmux: &Tmux, subjects: &[Subject], now_ms: u64, quiet: Duration) -> Vec<Look> {
    look_reading(subjects, now_ms, quiet, Reading::Needed, |to_read| {
        crate::core::testpoint::pause(PAUSE_BEFORE_READ);
        tmux.read_screens(to_read).unwrap_or_default()
    })
}

/// The monitor's look at many agents, whose screens were read with their snapshot (see
/// [`crate::core::tmux::Tmux::snapshot_after`]): a screen that must be read and was not is
/// read with the next snapshot (a tick later), and until then the pane is what [`unread`]
/// says.
pub fn look_at_screens(
    subjects: &[Subject],
    screens: HashMap<String, ScreenRead>,
    now_ms: u64,
    quiet: Duration,
) -> Vec<Look> {
    look_reading(subjects, now_ms, quiet, Reading::Following, move |_| {
        screens
    })
}

/// Whether the monitor's look at `at_ms` would read this pane's screen, should its activity stay
/// as it is: the monitor reads those screens with its next snapshot.
pub fn will_read(pane: &Pane, known: Option<&Observation>, at_ms: u64, quiet: Duration) -> bool {
    !pane.dead
        && matches!(
            step(pane, known, at_ms, quiet, Reading::Following),
            Step::Read
        )
}

fn look_reading(
    subjects: &[Subject],
    now_ms: u64,
    quiet: Duration,
    reading: Reading,
    read: impl FnOnce(&[&str]) -> HashMap<String, ScreenRead>,
) -> Vec<Look> {
    let steps: Vec<Option<Step>> = subjects
        .iter()
        .map(|s| match s.pane {
            PaneView::Seen(pane) if !pane.dead => Some(step(pane, s.known, now_ms, quiet, reading)),
            _ => None,
        })
        .collect();
    let to_read: Vec<&str> = subjects
        .iter()
        .zip(&steps)
        .filter(|(_, step)| matches!(step, Some(Step::Read)))
        .filter_map(|(s, _)| s.pane_id)
        .collect();
    let reads = if to_read.is_empty() {
        HashMap::new()
    } else {
        read(&to_read)
    };
    subjects
        .iter()
        .zip(steps)
        .map(|(subject, step)| match (subject.pane, step) {
            (PaneView::Unknown, _) => Look {
                sight: Sight::Unknown,
                observation: subject.known.cloned(),
            },
            (PaneView::Gone, _) | (PaneView::Seen(_), None) => Look {
                sight: Sight::Exited,
                observation: subject.known.cloned(),
            },
            (PaneView::Seen(_), Some(Step::Decided(look))) => look,
            (PaneView::Seen(pane), Some(Step::Read)) => conclude(
                pane,
                subject.known,
                subject.pane_id.and_then(|id| reads.get(id)),
                now_ms,
                quiet,
            ),
        })
        .collect()
}

/// The pause point (see [`crate::core::testpoint`]) a look stops at between its snapshot and its
/// screen reads (the monitor: before the call that takes its snapshot and reads the screens it
/// expects to need), so that a test can make a pane print exactly there.
pub const PAUSE_BEFORE_READ: &str = "before-screen-read";

/// A fingerprint of a screen's text that a redraw at another width does not change: whitespace
/// (where lines wrap) and box-drawing characters (rules and frames drawn to the width) are left
/// out. FNV-1a, so it is the same in every process and version.
pub fn fingerprint(screen: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for c in screen
        .chars()
        .filter(|c| !c.is_whitespace() && !('\u{2500}'..='\u{257f}').contains(c))
    {
        let mut buf = [0u8; 4];
        for byte in c.encode_utf8(&mut buf).bytes() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

/// Whether quiet output reads as a question waiting for an answer.
pub fn looks_like_question(screen: &str) -> bool {
    let Some(last) = screen.lines().rev().map(str::trim).find(|l| !l.is_empty()) else {
        return false;
    };
    let lower = last.to_lowercase();
    last.ends_with('?')
        || last.ends_with("? ")
        || [
            "(y/n)",
            "[y/n]",
            "(yes/no)",
            "allow",
            "do you want",
            "press enter",
            "continue?",
        ]
        .iter()
        .any(|p| lower.contains(p))
}

/// What tmux shows of an agent's pane.
#[derive(Debug, Clone, Copy)]
pub enum PaneView<'a> {
    Seen(&'a Pane),
    /// tmux has no such pane any more: its window was closed.
    Gone,
    /// No tmux snapshot, or the agent has no pane yet: only hooks can tell.
    Unknown,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    const Q: Duration = Duration::from_secs(3);

    fn pane(activity: u64) -> Pane {
        Pane {
            window: "@1".into(),
            activity,
            dead: false,
            dead_status: None,
            seen: false,
            tty: PathBuf::from("/dev/null"),
        }
    }

    fn read(screen: &str, activity_after: u64) -> ScreenRead {
        ScreenRead {
            screen: screen.into(),
            activity_after,
        }
    }

    /// The monitor's look at one pane at `now_ms`, its screen read (`Some`: text, activity read
    /// after it) or not foreseen (`None`).
    fn monitor_look(
        pane: &Pane,
        known: Option<&Observation>,
        screen: Option<(&str, u64)>,
        now_ms: u64,
    ) -> Look {
        let subject = Subject {
            pane_id: Some("%1"),
            pane: PaneView::Seen(pane),
            known,
        };
        let screens = screen
            .map(|(text, after)| ("%1".to_string(), read(text, after)))
            .into_iter()
            .collect();
        look_at_screens(&[subject], screens, now_ms, Q).remove(0)
    }

    fn reads(pane: &Pane, known: Option<&Observation>, now_ms: u64, reading: Reading) -> bool {
        matches!(step(pane, known, now_ms, Q, reading), Step::Read)
    }

    fn alive(output_ms: u64, question: Option<bool>) -> Sight {
        Sight::Alive {
            output_ms,
            question,
        }
    }

    #[test]
    fn a_printing_pane_is_read_by_the_monitor_only() {
        let printing = pane(100);
        assert!(!reads(&printing, None, 101_000, Reading::Needed));
        assert!(!reads(&printing, None, 103_999, Reading::Needed));
        assert!(reads(&printing, None, 104_000, Reading::Needed));
        // The monitor reads it at once: what it shows is where its quiet period starts from.
        assert!(reads(&printing, None, 100_500, Reading::Following));
        let first = monitor_look(&printing, None, Some(("thinking", 100)), 100_500);
        assert_eq!(first.sight, alive(100_000, None), "not seen silent yet");
        let known = first.observation.unwrap();
        // It goes on printing: `list` does not read it within its quiet period (working
        // anyway), the monitor does.
        assert!(!reads(&pane(102), Some(&known), 102_500, Reading::Needed));
        assert!(reads(&pane(102), Some(&known), 102_500, Reading::Following));
        assert!(reads(&pane(102), Some(&known), 104_000, Reading::Needed));
    }

    #[test]
    fn a_screen_read_while_the_pane_printed_decides_nothing() {
        let look = conclude(
            &pane(100),
            None,
            Some(&read("Proceed? (y/n)", 105)),
            105_000,
            Q,
        );
        assert_eq!(look.sight, alive(100_000, None));
        assert_eq!(look.observation, None);
        // Nor for a pane read before: the bell or output, it is not quiet until read again.
        let known = monitor_look(&pane(100), None, Some(("step 1", 100)), 101_000)
            .observation
            .unwrap();
        let look = monitor_look(&pane(102), Some(&known), Some(("Proceed?", 103)), 103_000);
        assert_eq!(look.sight, alive(100_000, None));
        assert_eq!(look.observation.as_ref(), Some(&known));
    }

    /// The bell (or a redraw of the same text) during the quiet period moves tmux's activity,
    /// not the quiet period: waiting comes when the text has been the same for the period.
    #[test]
    fn the_bell_within_the_quiet_period_does_not_restart_it() {
        let question = "x\nProceed? (y/n) ";
        let first = monitor_look(&pane(100), None, Some((question, 100)), 100_500);
        let mut known = first.observation.unwrap();
        // The bell every second and a half: at 101.5, 103.0.
        let looks = [(101, 101_600), (101, 102_600), (103, 103_300)];
        for (activity, at) in looks {
            // `list` between the monitor's looks: working, the period as it was.
            if activity != known.activity {
                assert!(reads(&pane(activity), Some(&known), at, Reading::Following));
                assert_eq!(
                    step_sight(&pane(activity), &known, at, Reading::Needed),
                    alive(100_000, None)
                );
            }
            let look = monitor_look(
                &pane(activity),
                Some(&known),
                Some((question, activity)),
                at,
            );
            let Sight::Alive { output_ms, .. } = look.sight else {
                panic!("{:?}", look.sight)
            };
            assert_eq!(output_ms, 100_000, "look at {at}");
            known = look.observation.unwrap();
        }
        // Silent from 102.0 to 102.6: seen to pause.
        assert!(known.paused);
        // The last read came within its second: read again once it ended, then quiet.
        assert!(reads(&pane(103), Some(&known), 104_000, Reading::Following));
        let look = monitor_look(&pane(103), Some(&known), Some((question, 103)), 104_000);
        assert_eq!(look.sight, alive(100_000, Some(true)));
        assert!(look.observation.unwrap().settled);
    }

    fn step_sight(pane: &Pane, known: &Observation, now_ms: u64, reading: Reading) -> Sight {
        match step(pane, Some(known), now_ms, Q, reading) {
            Step::Decided(look) => look.sight,
            Step::Read => panic!("a read"),
        }
    }

    /// A spinner that turns once a second may show the same frame at every read a second
    /// apart: written to in every second, it is never seen silent, so never quiet.
    #[test]
    fn a_pane_written_to_every_second_is_not_quiet_whatever_it_shows() {
        let frame = "thinking |";
        let mut known = monitor_look(&pane(100), None, Some((frame, 100)), 100_900)
            .observation
            .unwrap();
        for second in 101..=110 {
            let at = second * 1000 + 900;
            let look = monitor_look(&pane(second), Some(&known), Some((frame, second)), at);
            assert_eq!(look.sight, alive(100_000, None), "at {at}");
            known = look.observation.unwrap();
        }
        assert!(!known.paused);
        // Once it stops, it is quiet: no new text since 100.
        let look = monitor_look(&pane(110), Some(&known), Some((frame, 110)), 111_600);
        assert_eq!(look.sight, alive(100_000, Some(false)));
    }

    /// A pane whose activity moved and whose screen was not read yet (the monitor had not
    /// foreseen it): not quiet while it may have printed within its quiet period; a pane that
    /// was quiet stays so (the bell does not make a waiting agent working, even for a tick).
    #[test]
    fn a_pane_not_read_since_it_moved() {
        let known = monitor_look(&pane(100), None, Some(("Proceed? (y/n)", 100)), 101_500)
            .observation
            .unwrap();
        assert!(known.settled && known.paused);
        let within = monitor_look(&pane(103), Some(&known), None, 103_500);
        assert_eq!(within.sight, alive(100_000, None));
        let after = monitor_look(&pane(104), Some(&known), None, 104_500);
        assert_eq!(after.sight, alive(100_000, Some(true)));
        assert_eq!(after.observation.as_ref(), Some(&known));
    }

    /// Output that is undone before the quiet period ends (a line printed and cleared, a
    /// spinner's frames) is output: the period counts from the last read that saw the text
    /// differ from the read before.
    #[test]
    fn a_change_undone_within_the_quiet_period_still_restarts_it() {
        let first = monitor_look(&pane(100), None, Some(("> ", 100)), 101_000);
        let known = first.observation.unwrap();
        let changed = monitor_look(&pane(102), Some(&known), Some(("> ls", 102)), 102_500);
        assert_eq!(changed.sight, alive(102_000, None));
        let back = changed.observation.unwrap();
        let undone = monitor_look(&pane(103), Some(&back), Some(("> ", 103)), 103_500);
        assert_eq!(undone.sight, alive(103_000, None));
        // A spinner drawn in place: every read differs, working all along.
        let mut known = undone.observation.unwrap();
        for (i, frame) in ["|", "/", "-", "\\", "|"].iter().enumerate() {
            let second = 104 + i as u64;
            let look = monitor_look(
                &pane(second),
                Some(&known),
                Some((&format!("working {frame}"), second)),
                second * 1000 + 500,
            );
            assert_eq!(look.sight, alive(second * 1000, None));
            known = look.observation.unwrap();
        }
    }

    #[test]
    fn an_unchanged_screen_is_not_output() {
        let first = conclude(
            &pane(100),
            None,
            Some(&read("Proceed? (y/n)", 100)),
            110_000,
            Q,
        );
        let known = first.observation.unwrap();
        assert!(known.question && known.settled && known.paused);
        // The bell moved the activity; the screen is the same (a redraw at another width too).
        assert!(reads(&pane(111), Some(&known), 111_500, Reading::Needed));
        let after_bell = conclude(
            &pane(111),
            Some(&known),
            Some(&read("Proceed?   (y/n)\n", 111)),
            111_500,
            Q,
        );
        assert_eq!(after_bell.sight, alive(100_000, Some(true)));
        // Read within its second: read again once the second is over, then trusted.
        let known = after_bell.observation.unwrap();
        assert!(!known.settled);
        assert!(!reads(
            &pane(111),
            Some(&known),
            111_900,
            Reading::Following
        ));
        assert!(reads(&pane(111), Some(&known), 112_100, Reading::Needed));
        // Real output changes the screen.
        let printed = conclude(
            &pane(120),
            Some(&known),
            Some(&read("y\napplying", 120)),
            120_500,
            Q,
        );
        assert_eq!(printed.sight, alive(120_000, None));
    }

    #[test]
    fn fingerprints_ignore_layout_only() {
        assert_eq!(
            fingerprint("a long line\nwrapped ──────"),
            fingerprint("a long\nline wrapped ───")
        );
        assert_ne!(fingerprint("step 1"), fingerprint("step 2"));
    }
}
