//! Watching agents' panes: what tmux shows, read consistently and only where something changed.
//!
//! tmux keeps, per window, the time of its last output (`window_activity`, whole seconds). A
//! look at an agent starts from one `list-panes -a` snapshot of every pane. A pane's screen is
//! read only when the snapshot cannot decide:
//!
//! - its activity moved since the last observation and has now been quiet for the quiet period
//!   (to tell waiting from done), or
//! - its activity moved while the last observation said it was quiet (the bell, a resize, a
//!   redraw or a focus change move the activity too: only a changed screen is output).
//!
//! Every screen is read together with its activity, read again right after it in the same tmux
//! call: when the activity moved meanwhile, the pane printed while it was read and the screen
//! says nothing about a quiet agent. So "waiting" is never concluded before the pane has been
//! quiet for the quiet period, and an agent that still prints is never waiting.
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
    /// When the agent last really printed (unix ms): the activity of the last read whose screen
    /// differed from the one before.
    pub output_ms: u64,
    /// A fingerprint of the screen's text, blind to layout (see [`fingerprint`]).
    pub print: u64,
    /// The screen reads as a question.
    pub question: bool,
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

/// Quiet for the quiet period, by an activity time in whole seconds: the second itself may have
/// ended just now, so one more second passes first.
fn quiet_since(since_ms: u64, now_ms: u64, quiet: Duration) -> bool {
    now_ms >= since_ms + quiet.as_millis() as u64 + 1000
}

enum Step {
    Decided(Look),
    Read,
}

fn step(pane: &Pane, known: Option<&Observation>, now_ms: u64, quiet: Duration) -> Step {
    let activity_ms = pane.activity * 1000;
    match known {
        Some(known) if known.activity == pane.activity => {
            // A screen read within its second may miss output later in that second: it is read
            // again before it can decide that the agent went quiet.
            if known.settled
                || now_ms / 1000 <= pane.activity
                || !quiet_since(known.output_ms, now_ms, quiet)
            {
                Step::Decided(Look {
                    sight: Sight::Alive {
                        output_ms: known.output_ms,
                        question: Some(known.question),
                    },
                    observation: Some(known.clone()),
                })
            } else {
                Step::Read // the second it was read in has ended: read once more
            }
        }
        _ if quiet_since(activity_ms, now_ms, quiet) => Step::Read,
        Some(known) if quiet_since(known.output_ms, now_ms, quiet) => Step::Read,
        // Printing now: working, whatever the screen says.
        _ => Step::Decided(Look {
            sight: Sight::Alive {
                output_ms: activity_ms,
                question: None,
            },
            observation: known.cloned(),
        }),
    }
}

fn conclude(
    pane: &Pane,
    known: Option<&Observation>,
    read: Option<&ScreenRead>,
    now_ms: u64,
) -> Look {
    let Some(read) = read else {
        // tmux did not answer for this pane (it went away meanwhile): what was known stands.
        return Look {
            sight: match known {
                Some(k) => Sight::Alive {
                    output_ms: k.output_ms,
                    question: Some(k.question),
                },
                None => Sight::Alive {
                    output_ms: pane.activity * 1000,
                    question: None,
                },
            },
            observation: known.cloned(),
        };
    };
    if read.activity_after != pane.activity {
        // It printed while its screen was read: working, and known to have printed then (so
        // the next looks need not read it again until it has been quiet).
        let output_ms = read.activity_after.max(pane.activity) * 1000;
        return Look {
            sight: Sight::Alive {
                output_ms,
                question: None,
            },
            observation: known.map(|k| Observation {
                output_ms: k.output_ms.max(output_ms),
                ..k.clone()
            }),
        };
    }
    let print = fingerprint(&read.screen);
    let output_ms = match known {
        Some(k) if k.print == print => k.output_ms,
        _ => pane.activity * 1000,
    };
    let question = looks_like_question(&read.screen);
    Look {
        sight: Sight::Alive {
            output_ms,
            question: Some(question),
        },
        observation: Some(Observation {
            activity: pane.activity,
            settled: now_ms / 1000 > pane.activity,
            output_ms,
            print,
            question,
        }),
    }
}

/// One look at many agents: every screen that must be read is read in a single tmux call.
pub fn look(tmux: &Tmux, subjects: &[Subject], now_ms: u64, quiet: Duration) -> Vec<Look> {
    look_reading(subjects, now_ms, quiet, |to_read| {
        crate::core::testpoint::pause(PAUSE_BEFORE_READ);
        tmux.read_screens(to_read).unwrap_or_default()
    })
}

/// One look at many agents whose screens were read with their snapshot (the monitor's, see
/// [`crate::core::tmux::Tmux::snapshot_after`]): a screen that must be read and was not is
/// read with the next snapshot (a tick later), and what was known of its pane stands until
/// then.
pub fn look_at_screens(
    subjects: &[Subject],
    screens: HashMap<String, ScreenRead>,
    now_ms: u64,
    quiet: Duration,
) -> Vec<Look> {
    look_reading(subjects, now_ms, quiet, move |_| screens)
}

/// Whether a look at `at_ms` would read this pane's screen, should its activity stay as it is:
/// the monitor reads those screens with its next snapshot.
pub fn will_read(pane: &Pane, known: Option<&Observation>, at_ms: u64, quiet: Duration) -> bool {
    !pane.dead && matches!(step(pane, known, at_ms, quiet), Step::Read)
}

fn look_reading(
    subjects: &[Subject],
    now_ms: u64,
    quiet: Duration,
    read: impl FnOnce(&[&str]) -> HashMap<String, ScreenRead>,
) -> Vec<Look> {
    let steps: Vec<Option<Step>> = subjects
        .iter()
        .map(|s| match s.pane {
            PaneView::Seen(pane) if !pane.dead => Some(step(pane, s.known, now_ms, quiet)),
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

    #[test]
    fn a_printing_pane_is_not_read() {
        assert!(matches!(
            step(&pane(100), None, 101_000, Q),
            Step::Decided(_)
        ));
        assert!(matches!(
            step(&pane(100), None, 103_999, Q),
            Step::Decided(_)
        ));
        assert!(matches!(step(&pane(100), None, 104_000, Q), Step::Read));
    }

    #[test]
    fn a_screen_read_while_the_pane_printed_decides_nothing() {
        let look = conclude(
            &pane(100),
            None,
            Some(&read("Proceed? (y/n)", 105)),
            105_000,
        );
        assert_eq!(
            look.sight,
            Sight::Alive {
                output_ms: 105_000,
                question: None
            }
        );
        assert_eq!(look.observation, None);
    }

    #[test]
    fn an_unchanged_screen_is_not_output() {
        let first = conclude(
            &pane(100),
            None,
            Some(&read("Proceed? (y/n)", 100)),
            110_000,
        );
        let known = first.observation.unwrap();
        assert!(known.question && known.settled);
        // The bell moved the activity; the screen is the same (a redraw at another width too).
        assert!(matches!(
            step(&pane(111), Some(&known), 111_500, Q),
            Step::Read
        ));
        let after_bell = conclude(
            &pane(111),
            Some(&known),
            Some(&read("Proceed?   (y/n)\n", 111)),
            111_500,
        );
        assert_eq!(
            after_bell.sight,
            Sight::Alive {
                output_ms: 100_000,
                question: Some(true)
            }
        );
        // Read within its second: read again once the second is over, then trusted.
        let known = after_bell.observation.unwrap();
        assert!(!known.settled);
        assert!(matches!(
            step(&pane(111), Some(&known), 111_900, Q),
            Step::Decided(_)
        ));
        assert!(matches!(
            step(&pane(111), Some(&known), 112_100, Q),
            Step::Read
        ));
        // Real output changes the screen.
        let printed = conclude(
            &pane(120),
            Some(&known),
            Some(&read("y\napplying", 120)),
            120_500,
        );
        assert_eq!(
            printed.sight,
            Sight::Alive {
                output_ms: 120_000,
                question: Some(false)
            }
        );
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
