//! wtmux: run many coding agents in parallel on one repository, each in its own git worktree
//! and tmux window, with checks tied to the exact content checked and a merge gate on them.

pub mod cli;
pub mod core;
pub mod printable;
pub mod tui;
