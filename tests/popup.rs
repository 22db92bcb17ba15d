//! The popup: rendered frames (insta snapshots of ratatui's TestBackend), key handling on the
//! model alone, and one end-to-end run through a real tmux client.

mod common;

use std::path::PathBuf;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use wtmux::core::agent::{AgentState, AgentStatus};
use wtmux::core::check::{CheckState, CheckStatus};
use wtmux::core::config::MergeStrategy;
use wtmux::core::listing::{Detail, Row};
use wtmux::tui::app::{Action, Effect, MergeView, Mode, Model, RemoveView};
use wtmux::tui::keys::action_for;
use wtmux::tui::view::{self, Theme};

const NOW: i64 = 1_800_000_000;

fn row(branch: &str, state: CheckState, name: Option<&str>) -> Row {
    let is_main = branch == "main";
    Row {
        branch: Some(branch.to_string()),
        path: if is_main {
            PathBuf::from("/src/app")
        } else {
            PathBuf::from(format!("/src/app/.worktrees/{}", branch.replace('/', "-")))
        },
        is_main,
        prunable: false,
        head: Some("3f2a1bc".into()),
        subject: Some(format!("work on {branch}")),
        commit_time: Some(NOW - 5400),
        changed: 0,
        ahead: if is_main { 0 } else { 2 },
        behind: 0,
        window: None,
        check: CheckStatus {
            state,
            name: name.map(str::to_string),
            exit_code: (state == CheckState::Failed).then_some(1),
            log: None,
        },
        agent: AgentStatus::none(),
        operation: None,
    }
}

fn with_agent(mut row: Row, state: AgentState, exit_code: Option<i32>) -> Row {
    row.agent = AgentStatus {
        state,
        name: Some("claude".into()),
        exit_code,
        source: Some("observed".into()),
    };
    row
}

/// A repository with a worktree in every check state.
fn model() -> Model {
    let mut dirty = row("feat/dirty", CheckState::Stale, None);
    dirty.changed = 3;
    dirty.commit_time = Some(NOW - 3 * 86_400);
    let mut gone = row("old/gone", CheckState::None, None);
    gone.prunable = true;
    let rows = vec![
        row("main", CheckState::Passed, None),
        with_agent(dirty, AgentState::Working, None),
        with_agent(
            row("feat/green", CheckState::Passed, None),
            AgentState::Done,
            None,
        ),
        with_agent(
            row("feat/red", CheckState::Failed, Some("test")),
            AgentState::Waiting,
            None,
        ),
        row("feat/running", CheckState::Running, Some("eval")),
        with_agent(
            row("feat/new", CheckState::None, None),
            AgentState::Exited,
            Some(127),
        ),
        gone,
    ];
    let mut model = Model::new("main".into(), rows, NOW);
    model.loading = false;
    model.detail = Some((
        PathBuf::from("/src/app"),
        Detail {
            commits: vec![],
            log: Some(PathBuf::from("/src/app/.git/wtmux/logs/1/00-test.log")),
            log_tail: vec![
                "running 12 tests".into(),
                "test result: ok. 12 passed".into(),
            ],
            agent_tail: vec![],
        },
    ));
    model
}

fn render(model: &Model, width: u16, height: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal
        .draw(|frame| view::render(model, Theme { color: false }, frame))
        .unwrap();
    terminal.backend().to_string()
}

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

/// Feeds keys through the key map into the model, returning every effect asked for.
fn press(model: &mut Model, keys: &str) -> Vec<Effect> {
    let mut effects = Vec::new();
    for c in keys.chars() {
        let code = match c {
            '\n' => KeyCode::Enter,
            '\x1b' => KeyCode::Esc,
            '\x08' => KeyCode::Backspace,
            c => KeyCode::Char(c),
        };
        if let Some(action) = action_for(&model.mode, key(code)) {
            effects.extend(model.update(action));
        }
    }
    effects
}

fn merge_view(refusals: Vec<String>) -> MergeView {
    MergeView {
        branch: "feat/green".into(),
        base: "main".into(),
        strategy: MergeStrategy::Merge,
        diffstat: wtmux::core::merge::Diffstat {
            files: vec![
                ("src/login.rs".into(), 40, 2),
                ("src/lib.rs".into(), 3, 1),
            ],
            insertions: 43,
            deletions: 3,
        },
        squash_message: "Add the login form (+1 more from feat/green)\n\nTask: add a login form with validation\n\nSquash-merge branch 'feat/green':\n".into(),
        commits: vec![
            ("9c1d2e3".into(), "Add the login form".into()),
            ("4b5a6f7".into(), "Validate passwords".into()),
        ],
        post_merge: Some("hey sync".into()),
        uncommitted: 0,
        refusals,
        warnings: vec![],
        keep: false,
        checks_configured: true,
        tip: "9c1d2e3f00000000000000000000000000000000".into(),
    }
}

fn remove_view() -> RemoveView {
    RemoveView {
        branch: "feat/dirty".into(),
        path: PathBuf::from("/src/app/.worktrees/feat-dirty"),
        dirty: vec!["src/main.rs".into(), "notes.txt".into()],
        unmerged: vec![("9c1d2e3".into(), "Half-done refactor".into())],
    }
}

// ---------------------------------------------------------------------------------------------
// Frames

#[test]
fn frame_lists_every_check_state() {
    insta::assert_snapshot!(render(&model(), 90, 20));
}

#[test]
fn frame_fits_a_60_by_16_terminal() {
    insta::assert_snapshot!(render(&model(), 60, 16));
}

/// A popup narrower than the table's fixed columns still names every row's branch (the
/// branch column came out empty below about 34 columns): it keeps branch, checks and changes.
#[test]
fn frame_a_narrow_popup_still_names_every_branch() {
    for width in [34, 40, 50] {
        let screen = render(&model(), width, 16);
        for branch in ["main", "feat/dirty", "feat/green", "feat/red"] {
            assert!(screen.contains(branch), "{width}: {branch}\n{screen}");
        }
        assert!(
            screen.contains("~3") && screen.contains("stale"),
            "{screen}"
        );
    }
}

#[test]
fn frame_new_worktree_input_rejects_a_name() {
    let mut model = model();
    press(&mut model, "nx;rm");
    insta::assert_snapshot!(render(&model, 80, 20));
}

#[test]
fn frame_merge_confirmation() {
    let mut model = model();
    model.update(Action::MergePlanned(merge_view(vec![])));
    insta::assert_snapshot!(render(&model, 90, 22));
}

/// Without checks configured the dialog does not claim that checks passed.
#[test]
fn frame_merge_confirmation_without_checks_says_nothing_was_checked() {
    let mut model = model();
    let mut view = merge_view(vec![]);
    view.checks_configured = false;
    model.update(Action::MergePlanned(view));
    let screen = render(&model, 90, 22);
    assert!(
        screen.contains("no checks configured: nothing was checked"),
        "{screen}"
    );
    assert!(!screen.contains("checks passed"), "{screen}");
}

#[test]
fn frame_merge_confirmation_repeats_the_scope_guards_warning() {
    let mut model = model();
    let mut view = merge_view(vec![]);
    view.warnings =
        vec!["feat/red will conflict with main once feat/green is merged (src/lib.rs)".into()];
    model.update(Action::MergePlanned(view));
    insta::assert_snapshot!(render(&model, 90, 22));
}

/// The scope guard's report for the fixture: green and red conflict, dirty overlaps running,
/// new strays outside its scope, running no longer merges into base.
fn scope_report() -> wtmux::core::scope::Report {
    let changed = |branch: &str, base: &[&str], outside: &[&str]| {
        serde_json::json!({
            "branch": branch, "path": "/x", "files": ["src/lib.rs"], "scope": [],
            "outside_scope": outside, "in_others_scope": [], "base_conflicts": base, "green": true
        })
    };
    serde_json::from_value(serde_json::json!({
        "base": "main",
        "worktrees": [
            changed("feat/dirty", &[], &[]),
            changed("feat/green", &[], &[]),
            changed("feat/red", &[], &[]),
            changed("feat/running", &["src/db.rs"], &[]),
            changed("feat/new", &[], &["docs/index.md"]),
        ],
        "pairs": [
            {"a": "feat/green", "b": "feat/red", "overlap": ["src/lib.rs"], "conflicts": ["src/lib.rs"]},
            {"a": "feat/dirty", "b": "feat/running", "overlap": ["src/db.rs"], "conflicts": []}
        ],
        "merge_order": {"order": ["feat/green"], "blocked": [["feat/red", "conflicts with feat/green"]]}
    }))
    .unwrap()
}

#[test]
fn frame_scope_markers_and_detail() {
    let mut model = model();
    model.update(Action::Analyzed(Box::new(Ok(scope_report()))));
    press(&mut model, "jj");
    model.update(Action::DetailLoaded {
        path: PathBuf::from("/src/app/.worktrees/feat-green"),
        detail: Detail::default(),
    });
    insta::assert_snapshot!(render(&model, 90, 20));
}

#[test]
fn frame_merge_refusal_says_why() {
    let mut model = model();
    model.update(Action::MergePlanned(merge_view(vec![
        "check \"test\" failed on this content".into(),
        "merging would conflict in 1 file: src/lib.rs".into(),
    ])));
    insta::assert_snapshot!(render(&model, 90, 20));
}

#[test]
fn frame_remove_confirmation_lists_what_would_be_lost() {
    let mut model = model();
    model.update(Action::RemovePlanned(remove_view()));
    insta::assert_snapshot!("remove_first_step", render(&model, 90, 22));
    press(&mut model, "f");
    insta::assert_snapshot!("remove_forced_step", render(&model, 90, 22));
}

#[test]
fn frame_help() {
    let mut model = model();
    press(&mut model, "?");
    insta::assert_snapshot!(render(&model, 80, 20));
}

#[test]
fn frame_log_view() {
    let mut model = model();
    model.update(Action::LogLoaded {
        title: "feat/red: test".into(),
        lines: (1..=40)
            .map(|n| format!("line {n} of the check output"))
            .collect(),
    });
    insta::assert_snapshot!("log_at_its_end", render(&model, 70, 12));
    press(&mut model, "kkkkk");
    insta::assert_snapshot!("log_scrolled_up", render(&model, 70, 12));
}

// ---------------------------------------------------------------------------------------------
// Keys, on the model alone

#[test]
fn keys_move_the_selection_and_load_its_detail() {
    let mut model = model();
    assert_eq!(model.selected, 0);
    let effects = press(&mut model, "jj");
    assert_eq!(model.selected, 2);
    assert_eq!(
        effects.last(),
        Some(&Effect::LoadDetail(PathBuf::from(
            "/src/app/.worktrees/feat-green"
        )))
    );
    press(&mut model, "G");
    assert_eq!(model.selected, 6);
    press(&mut model, "j");
    assert_eq!(model.selected, 6, "stays on the last row");
    press(&mut model, "gk");
    assert_eq!(model.selected, 0);
}

#[test]
fn keys_enter_opens_and_q_quits() {
    let mut model = model();
    let effects = press(&mut model, "j\n");
    assert!(effects.contains(&Effect::Open(PathBuf::from(
        "/src/app/.worktrees/feat-dirty"
    ))));
    assert_eq!(press(&mut model, "q"), vec![Effect::Quit]);
    assert_eq!(press(&mut model, "\x1b"), vec![Effect::Quit]);
}

#[test]
fn keys_filter_rows_by_text() {
    let mut model = model();
    press(&mut model, "/red");
    assert_eq!(model.visible().len(), 1);
    assert_eq!(
        model.selected_row().unwrap().branch.as_deref(),
        Some("feat/red")
    );
    press(&mut model, "\n");
    assert_eq!(model.mode, Mode::Normal);
    assert_eq!(model.visible().len(), 1, "the filter stays after Enter");
    press(&mut model, "/\x1b");
    assert_eq!(model.visible().len(), 7, "Esc clears it");
}

#[test]
fn keys_new_worktree_validates_as_you_type() {
    let mut model = model();
    let effects = press(&mut model, "n../x\n");
    assert!(effects.is_empty(), "a rejected name creates nothing");
    assert!(matches!(model.mode, Mode::NewBranch(_)));
    press(&mut model, "\x08\x08\x08\x08");
    assert!(press(&mut model, "feat/ok\n").is_empty(), "then the scope");
    assert!(
        press(&mut model, "src/[x\n").is_empty(),
        "a bad glob is refused"
    );
    press(&mut model, "\x08\x08\x08\x08\x08\x08");
    // As the CLI refuses it: a glob that names no path git could list.
    for never in ["~/x", ".git/**", "src/"] {
        assert!(
            press(&mut model, &format!("{never}\n")).is_empty(),
            "{never}"
        );
        let Mode::NewBranch(form) = &model.mode else {
            panic!("{never}: the form stays");
        };
        assert!(form.error().is_some(), "{never}: says why");
        press(&mut model, &"\x08".repeat(never.len()));
    }
    // One glob per line, as `--scope` takes one per flag: a space is part of the glob (a
    // legal file name); Backspace on an empty line takes the last one back to edit.
    assert!(press(&mut model, "src/**\ndocs/my notes.md\n").is_empty());
    assert!(press(&mut model, "docs/x\n\x08\x08").is_empty());
    let effects = press(&mut model, "*.md\n\n");
    assert_eq!(
        effects,
        vec![Effect::Add {
            branch: "feat/ok".into(),
            prompt: None,
            scope: vec![
                "src/**".into(),
                "docs/my notes.md".into(),
                "docs/*.md".into()
            ],
        }]
    );
    assert_eq!(model.mode, Mode::Normal);
}

/// The scope step says how to enter globs (one per line, spaces included) and shows those
/// entered, each on its own line.
#[test]
fn frame_new_worktree_scope_one_glob_per_line() {
    let mut model = model();
    press(&mut model, "nfeat/ok\n");
    insta::assert_snapshot!("frame_new_worktree_scope_first", render(&model, 80, 20));
    press(&mut model, "src/**\ndocs/my notes.md\nassets/a b");
    insta::assert_snapshot!("frame_new_worktree_scope_typing", render(&model, 80, 20));
    press(&mut model, "\n");
    insta::assert_snapshot!("frame_new_worktree_scope_entered", render(&model, 80, 20));
}

#[test]
fn keys_new_worktree_asks_for_the_agents_task() {
    let mut model = model();
    model.has_agent = true;
    assert!(
        press(&mut model, "nfeat/ok\n").is_empty(),
        "Enter moves on to the task"
    );
    assert!(
        press(&mut model, "fix the login bug\n").is_empty(),
        "then the scope"
    );
    let effects = press(&mut model, "\n");
    assert_eq!(
        effects,
        vec![Effect::Add {
            branch: "feat/ok".into(),
            prompt: Some("fix the login bug".into()),
            scope: vec![],
        }]
    );
}

#[test]
fn frame_new_worktree_task() {
    let mut model = model();
    model.has_agent = true;
    press(&mut model, "nfeat/ok\nfix the login");
    insta::assert_snapshot!(render(&model, 80, 20));
}

#[test]
fn keys_verify_one_and_all() {
    let mut model = model();
    assert_eq!(
        press(&mut model, "v"),
        vec![Effect::Check(vec![PathBuf::from("/src/app")])]
    );
    let Effect::Check(all) = &press(&mut model, "V")[0] else {
        panic!("V verifies");
    };
    assert_eq!(all.len(), 6, "every worktree but the gone one");
}

#[test]
fn keys_merge_asks_first_and_a_refusal_merges_nothing() {
    let mut model = model();
    press(&mut model, "jj");
    assert_eq!(
        press(&mut model, "m"),
        vec![Effect::PlanMerge(PathBuf::from(
            "/src/app/.worktrees/feat-green"
        ))]
    );
    model.update(Action::MergePlanned(merge_view(vec!["it is red".into()])));
    assert!(press(&mut model, "y").is_empty());
    assert_eq!(model.mode, Mode::Normal);
    model.update(Action::MergePlanned(merge_view(vec![])));
    assert!(press(&mut model, "n").is_empty(), "n cancels");
    model.update(Action::MergePlanned(merge_view(vec![])));
    assert_eq!(
        press(&mut model, "y"),
        vec![Effect::Merge {
            branch: "feat/green".into(),
            keep: false,
            strategy: MergeStrategy::Merge,
            tip: "9c1d2e3f00000000000000000000000000000000".into(),
        }]
    );
    assert!(model.busy.is_some());
}

#[test]
fn keys_k_in_the_merge_dialog_keeps_the_worktree() {
    let mut model = model();
    model.update(Action::MergePlanned(merge_view(vec![])));
    assert!(press(&mut model, "k").is_empty());
    insta::assert_snapshot!(render(&model, 90, 20));
    assert_eq!(
        press(&mut model, "y"),
        vec![Effect::Merge {
            branch: "feat/green".into(),
            keep: true,
            strategy: MergeStrategy::Merge,
            tip: "9c1d2e3f00000000000000000000000000000000".into(),
        }]
    );
    model.update(Action::MergePlanned(merge_view(vec![])));
    press(&mut model, "kk");
    assert_eq!(
        press(&mut model, "\n"),
        vec![Effect::Merge {
            branch: "feat/green".into(),
            keep: false,
            strategy: MergeStrategy::Merge,
            tip: "9c1d2e3f00000000000000000000000000000000".into(),
        }],
        "k twice: removed after all"
    );
    model.update(Action::MergePlanned(merge_view(vec!["it is red".into()])));
    assert!(press(&mut model, "k").is_empty());
    assert!(
        matches!(&model.mode, Mode::Merge(view) if !view.keep),
        "a refused merge has nothing to keep"
    );
}

#[test]
fn keys_removing_work_needs_a_second_explicit_key() {
    let mut model = model();
    model.update(Action::RemovePlanned(remove_view()));
    assert!(
        press(&mut model, "y").is_empty(),
        "y alone does not lose work"
    );
    model.update(Action::RemovePlanned(remove_view()));
    assert!(press(&mut model, "\n").is_empty());
    model.update(Action::RemovePlanned(remove_view()));
    assert!(press(&mut model, "f").is_empty());
    assert_eq!(
        press(&mut model, "y"),
        vec![Effect::Remove {
            path: PathBuf::from("/src/app/.worktrees/feat-dirty"),
            force: true
        }]
    );
    let mut clean = remove_view();
    clean.dirty.clear();
    clean.unmerged.clear();
    model.update(Action::RemovePlanned(clean));
    assert_eq!(
        press(&mut model, "\n"),
        vec![Effect::Remove {
            path: PathBuf::from("/src/app/.worktrees/feat-dirty"),
            force: false
        }]
    );
}

#[test]
fn the_main_worktree_is_neither_merged_nor_removed() {
    let mut model = model();
    assert!(press(&mut model, "m").is_empty());
    assert!(press(&mut model, "d").is_empty());
    assert!(model.status.as_ref().unwrap().1, "says why, as an error");
}

#[test]
fn live_results_replace_rows_and_keep_the_selection() {
    let mut model = model();
    press(&mut model, "jjj");
    let mut rows = model.rows.clone();
    rows.reverse();
    model.update(Action::Listed {
        base: "main".into(),
        rows,
        session: None,
    });
    assert_eq!(
        model.selected_row().unwrap().branch.as_deref(),
        Some("feat/red")
    );
    let mut updated = model.rows[0].clone();
    updated.check.state = CheckState::Passed;
    model.update(Action::RowUpdated(updated.clone()));
    assert_eq!(model.rows[0], updated);
}

// ---------------------------------------------------------------------------------------------
// End to end: the real plugin, a real client, real keys

mod end_to_end {
    use super::common::{Client, TestRepo, wait_until};

    /// The popup follows the file-system monitor's events (no watcher of its own): an edit, a
    /// file in a directory made after it opened, a commit, an edit in that directory and a
    /// worktree added by the CLI all reach its rows with no key pressed.
    #[test]
    fn the_popup_follows_the_monitors_changes_without_a_key() {
        let mut repo = TestRepo::new();
        let inner = repo.start_tmux();
        repo.wtmux(&["add", "feat/one", "--no-agent"]).ok();
        let client = Client::open_popup(&repo, &inner);
        let row = |screen: &str, branch: &str, text: &str| {
            screen
                .lines()
                .any(|l| l.contains(branch) && l.contains(text))
        };
        client.wait_for("the popup to list feat/one, clean", |screen| {
            row(screen, "feat/one", "clean") && !screen.contains("loading")
        });
        // The monitor the popup's listing started is in place before anything changes.
        let session = repo.path(".git/wtmux/fsmonitor/session");
        wait_until(10, "the file-system monitor to run", || session.exists());

        let path = repo.worktree("feat-one");
        std::fs::write(path.join("README.md"), "edited\n").unwrap();
        client.wait_for("the edit on its row", |screen| {
            row(screen, "feat/one", "~1")
        });
        std::fs::create_dir_all(path.join("made/later")).unwrap();
        std::fs::write(path.join("made/later/file.txt"), "x").unwrap();
        client.wait_for("the new directory's file on its row", |screen| {
            row(screen, "feat/one", "~2")
        });
        repo.git_in(&path, &["add", "-A"]);
        repo.git_in(&path, &["commit", "-q", "-m", "work"]);
        client.wait_for("the commit: clean again", |screen| {
            row(screen, "feat/one", "clean")
        });
        std::fs::write(path.join("made/later/file.txt"), "edited").unwrap();
        client.wait_for("an edit deep in the directory made later", |screen| {
            row(screen, "feat/one", "~1")
        });
        repo.wtmux(&["add", "feat/two", "--no-agent"]).ok();
        client.wait_for("the worktree added by the CLI", |screen| {
            screen.contains("feat/two")
        });
        client.keys(&["q"]);
    }

    #[test]
    fn prefix_w_opens_the_popup_enter_switches_and_checks_go_live() {
        let mut repo =
            TestRepo::with_config("[[check]]\nname = \"slow\"\nrun = \"sleep 1; true\"\n");
        let inner = repo.start_tmux();
        repo.wtmux(&["add", "feat/one", "--no-agent"]).ok();
        repo.wtmux(&["add", "feat/two", "--no-agent"]).ok();
        let client = Client::open_popup(&repo, &inner);
        let format = inner.run(&["show-option", "-gv", "window-status-format"]);
        assert!(
            format.contains("@wtmux_mark"),
            "the status marker is added: {format}"
        );
        assert!(
            format.starts_with("#I:#W"),
            "the user's format stays: {format}"
        );
        client.wait_for("the popup to list both worktrees", |screen| {
            screen.contains("feat/one")
                && screen.contains("feat/two")
                && !screen.contains("loading")
        });

        // Down to feat/two, Enter: the client is on that worktree's window and the popup closed.
        client.keys(&["Down"]);
        std::thread::sleep(std::time::Duration::from_millis(200));
        client.keys(&["Down"]);
        std::thread::sleep(std::time::Duration::from_millis(200));
        client.keys(&["Enter"]);
        let two = repo.row("feat/two")["window"].as_str().unwrap().to_string();
        wait_until(10, "the client to switch to feat/two's window", || {
            inner.run(&["display-message", "-p", "-t", "test", "#{window_id}"]) == two
        });
        client.wait_for("the popup to close", |screen| !screen.contains("BRANCH"));

        // Open it again, verify feat/one: running, then passed, with no further keys. The old
        // popup may still be tearing down for a moment, so the key is pressed until it opens.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
        while !client.screen().contains("BRANCH") {
            assert!(
                std::time::Instant::now() < deadline,
                "the popup did not open again"
            );
            client.keys(&["C-b", "w"]);
            std::thread::sleep(std::time::Duration::from_millis(700));
        }
        client.keys(&["Down"]);
        std::thread::sleep(std::time::Duration::from_millis(200));
        client.keys(&["v"]);
        client.wait_for("the row to show the running check", |screen| {
            screen
                .lines()
                .any(|l| l.contains("feat/one") && l.contains("slow"))
        });
        client.wait_for("the row to turn passed by itself", |screen| {
            screen
                .lines()
                .any(|l| l.contains("feat/one") && l.contains("passed"))
        });
        client.keys(&["q"]);
        client.wait_for("q to close the popup", |screen| !screen.contains("BRANCH"));
    }
}

#[test]
fn frame_a_stopped_rebase_is_shown_on_its_row_and_in_the_detail() {
    let mut stopped = row("feat/rebasing", CheckState::Stale, None);
    stopped.changed = 2;
    stopped.operation = Some(wtmux::core::operation::Operation {
        kind: "rebase".into(),
        conflicted: 1,
    });
    let mut model = Model::new(
        "main".into(),
        vec![row("main", CheckState::Passed, None), stopped],
        NOW,
    );
    model.loading = false;
    press(&mut model, "j");
    insta::assert_snapshot!(render(&model, 90, 12));
}

fn handoff_view() -> wtmux::tui::app::HandoffView {
    wtmux::tui::app::HandoffView {
        kind: wtmux::tui::app::HandoffKind::Conflict,
        branch: "feat/login".into(),
        path: PathBuf::from("/src/app/.worktrees/feat-login"),
        summary:
            "feat/login: merging: 1 conflicted file (a.txt); the conflict stays in its worktree"
                .into(),
        text: "Resolve the conflicts in a.txt; run the checks; commit".into(),
    }
}

#[test]
fn frame_handoff_is_shown_before_it_goes() {
    let mut model = model();
    model.update(Action::HandoffDrafted(handoff_view()));
    insta::assert_snapshot!(render(&model, 90, 20));
}

#[test]
fn keys_handoff_is_edited_then_sent_or_dropped() {
    let mut model = model();
    model.update(Action::HandoffDrafted(handoff_view()));
    // `q`, `u`, `m` are text here, not actions.
    assert!(press(&mut model, "\x08\x08\x08\x08\x08\x08quit").is_empty());
    let effects = press(&mut model, "\n");
    assert_eq!(
        effects,
        [Effect::Handoff {
            branch: "feat/login".into(),
            path: PathBuf::from("/src/app/.worktrees/feat-login"),
            text: "Resolve the conflicts in a.txt; run the checks; quit".into(),
        }]
    );
    assert_eq!(model.mode, Mode::Normal);

    model.update(Action::HandoffDrafted(handoff_view()));
    assert!(press(&mut model, "\x1b").is_empty(), "Esc sends nothing");
    assert_eq!(model.mode, Mode::Normal);
}

#[test]
fn keys_s_switches_the_strategy_and_the_merge_uses_it() {
    let mut model = model();
    model.update(Action::MergePlanned(merge_view(vec![])));
    press(&mut model, "ss");
    assert!(matches!(&model.mode, Mode::Merge(v) if v.strategy == MergeStrategy::Squash));
    assert_eq!(
        press(&mut model, "y"),
        vec![Effect::Merge {
            branch: "feat/green".into(),
            keep: false,
            strategy: MergeStrategy::Squash,
            tip: "9c1d2e3f00000000000000000000000000000000".into(),
        }]
    );
    model.update(Action::MergePlanned(merge_view(vec![])));
    press(&mut model, "sss");
    assert!(
        matches!(&model.mode, Mode::Merge(v) if v.strategy == MergeStrategy::Merge),
        "round and back"
    );
    model.update(Action::MergePlanned(merge_view(vec!["it is red".into()])));
    press(&mut model, "s");
    assert!(matches!(&model.mode, Mode::Merge(v) if v.strategy == MergeStrategy::Merge));
}

/// Squash chosen in the dialog: its one commit's message with the task; the diffstat; every
/// warning; and in a terminal too short for all of it, the confirm keys still on screen.
#[test]
fn frame_merge_dialog_squash_diffstat_warnings_and_keys_always_shown() {
    let mut model = model();
    let mut view = merge_view(vec![]);
    view.warnings = vec![
        "main moved on by 2 commits since feat/green left it: the merge brings them together untested (sync them into the branch first to check them together)".into(),
        "feat/red will conflict with main once feat/green is merged (src/lib.rs)".into(),
        "feat/green's agent (claude) is still working: what it writes next is not in this merge".into(),
    ];
    model.update(Action::MergePlanned(view));
    press(&mut model, "ss");
    insta::assert_snapshot!("merge_dialog_squash", render(&model, 90, 30));
    let small = render(&model, 90, 16);
    assert!(small.contains("y/⏎ merge   s strategy"), "{small}");
    insta::assert_snapshot!("merge_dialog_keys_in_a_small_terminal", small);
    // Narrower than the keys' line: they wrap, none is cut off.
    for (width, height) in [(40, 12), (30, 10), (24, 8)] {
        let narrow = render(&model, width, height);
        for key in ["y/⏎", "merge", "strategy", "keep", "n/esc", "cancel"] {
            assert!(narrow.contains(key), "{width}x{height}: {key}\n{narrow}");
        }
    }
}

#[test]
fn keys_c_drafts_a_note_for_an_agent_predicted_to_conflict() {
    let mut model = model();
    press(&mut model, "jj");
    assert!(press(&mut model, "c").is_empty(), "no prediction yet");
    assert!(model.status.as_ref().unwrap().0.contains("still running"));
    model.update(Action::Analyzed(Box::new(Ok(scope_report()))));
    assert_eq!(
        press(&mut model, "c"),
        vec![Effect::DraftCoordination(PathBuf::from(
            "/src/app/.worktrees/feat-green"
        ))]
    );
    model.busy = None;
    press(&mut model, "k");
    assert!(
        press(&mut model, "c").is_empty(),
        "feat/dirty conflicts with nobody"
    );
    assert!(
        model
            .status
            .as_ref()
            .unwrap()
            .0
            .contains("not predicted to conflict")
    );

    let note = "feat/green is predicted to conflict with another agent's work when both merge into main: feat/red in src/lib.rs.";
    model.update(Action::HandoffDrafted(wtmux::tui::app::HandoffView {
        kind: wtmux::tui::app::HandoffKind::Coordinate,
        branch: "feat/green".into(),
        path: PathBuf::from("/src/app/.worktrees/feat-green"),
        summary: "feat/green is predicted to conflict with feat/red".into(),
        text: note.into(),
    }));
    insta::assert_snapshot!(
        "coordinate_note_shown_before_it_goes",
        render(&model, 90, 20)
    );
    press(&mut model, " ok");
    assert_eq!(
        press(&mut model, "\n"),
        vec![Effect::Handoff {
            branch: "feat/green".into(),
            path: PathBuf::from("/src/app/.worktrees/feat-green"),
            text: format!("{note} ok"),
        }]
    );
}
