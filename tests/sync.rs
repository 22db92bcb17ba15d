//! `wtmux sync` and the popup's `u` on real repositories: base's new commits come in by git's
//! own merge or rebase in the worktree; a dirty or mid-operation worktree is refused with
//! nothing changed; a conflict stays in the worktree with its markers and shows on the row, in
//! `list --json` and in the popup's detail pane.

mod common;

use common::{Client, TestRepo, write_file};

const LINES: &str = "one\ntwo\nthree\nfour\nfive\n";

/// A repository with `feat` branched off, then base moved on: `base_edit` on main, and
/// `feat_edit` committed on feat (file, content).
fn diverged(base_edit: (&str, &str), feat_edit: (&str, &str)) -> TestRepo {
    let repo = TestRepo::new();
    repo.write("a.txt", LINES);
    repo.write("b.txt", LINES);
    repo.commit_all("files");
    repo.wtmux(&["add", "feat", "--no-window"]).ok();
    let feat = repo.worktree("feat");
    write_file(&feat.join(feat_edit.0), feat_edit.1);
    repo.git_in(&feat, &["commit", "-qam", "feat work"]);
    repo.write(base_edit.0, base_edit.1);
    repo.commit_all("base moved on");
    repo
}

#[test]
fn sync_merges_or_rebases_base_in_and_says_when_there_is_nothing_to_bring() {
    for method in ["--merge", "--rebase"] {
        let repo = diverged(("a.txt", "base\n"), ("b.txt", "feat\n"));
        let feat = repo.worktree("feat");
        let out = repo.wtmux(&["sync", "feat", method]).ok();
        assert!(out.contains("1 commit"), "{method}: {out}");
        let base = repo.git(&["rev-parse", "main"]);
        assert_eq!(
            repo.git_in(&feat, &["merge-base", "HEAD", "main"]),
            base,
            "{method}: base's commit is in"
        );
        assert_eq!(
            std::fs::read_to_string(feat.join("a.txt")).unwrap(),
            "base\n"
        );
        assert_eq!(
            std::fs::read_to_string(feat.join("b.txt")).unwrap(),
            "feat\n"
        );
        assert_eq!(repo.git_in(&feat, &["status", "--porcelain"]), "");
        let parents = repo.git_in(&feat, &["log", "-1", "--format=%P"]);
        let merged = parents.split(' ').count() == 2;
        assert_eq!(merged, method == "--merge", "{method}: {parents}");
        assert_eq!(repo.git(&["rev-parse", "main"]), base, "base did not move");
        let again = repo.wtmux(&["sync", "feat"]).ok();
        assert!(
            again.contains("already has every commit of main"),
            "{again}"
        );
    }
}

#[test]
fn sync_refuses_a_dirty_or_stopped_worktree_and_changes_nothing() {
    let repo = diverged(("a.txt", "base\n"), ("b.txt", "feat\n"));
    let feat = repo.worktree("feat");
    write_file(&feat.join("new.txt"), "not committed\n");
    let before = repo.snapshot();
    let feat_status = repo.git_in(&feat, &["status", "--porcelain"]);
    let err = repo.wtmux(&["sync", "feat"]).refused();
    assert!(err.contains("1 uncommitted file (new.txt)"), "{err}");
    assert_eq!(repo.snapshot(), before);
    assert_eq!(repo.git_in(&feat, &["status", "--porcelain"]), feat_status);
    std::fs::remove_file(feat.join("new.txt")).unwrap();

    let err = repo.wtmux(&["sync", "main"]).refused();
    assert!(err.contains("is the base branch"), "{err}");
    let err = repo.wtmux(&["sync", "nope"]).refused();
    assert!(err.contains("no worktree"), "{err}");
    let usage = repo.wtmux(&["sync", "feat", "--merge", "--rebase"]);
    assert_eq!(usage.code(), 2);
}

#[test]
fn a_conflicting_sync_stays_in_the_worktree_and_shows_on_its_row() {
    for (method, kind, summary) in [
        ("--merge", "merge", "merging: 2 conflicted files"),
        ("--rebase", "rebase", "rebasing: 2 conflicted files"),
    ] {
        let repo = TestRepo::new();
        repo.write("a.txt", LINES);
        repo.write("b.txt", LINES);
        repo.commit_all("files");
        repo.wtmux(&["add", "feat", "--no-window"]).ok();
        let feat = repo.worktree("feat");
        write_file(&feat.join("a.txt"), "feat a\n");
        write_file(&feat.join("b.txt"), "feat b\n");
        repo.git_in(&feat, &["commit", "-qam", "feat work"]);
        repo.write("a.txt", "base a\n");
        repo.write("b.txt", "base b\n");
        repo.commit_all("base moved on");
        let base = repo.git(&["rev-parse", "main"]);

        let run = repo.wtmux(&["sync", "feat", method]);
        assert_eq!(run.code(), 1, "{method}: {}{}", run.stdout(), run.stderr());
        let err = run.stderr();
        assert!(err.contains(summary), "{method}: {err}");
        assert!(err.contains("a.txt, b.txt"), "{method}: {err}");
        let a = std::fs::read_to_string(feat.join("a.txt")).unwrap();
        assert!(
            a.contains("<<<<<<<") && a.contains(">>>>>>>"),
            "{method}: markers: {a}"
        );
        assert_eq!(repo.git(&["rev-parse", "main"]), base, "base did not move");

        let row = repo.row("feat");
        assert_eq!(row["branch"], "feat", "{method}: not (detached): {row}");
        assert_eq!(row["operation"]["kind"], kind);
        assert_eq!(row["operation"]["conflicted"], 2);
        let list = repo.wtmux(&["list"]).ok();
        assert!(
            list.lines()
                .any(|l| l.contains("feat") && l.contains(summary)),
            "{method}: {list}"
        );
        // A second sync is refused, and so is a merge: nothing is committed for anyone.
        let err = repo.wtmux(&["sync", "feat"]).refused();
        assert!(err.contains(&format!("a {kind} is in progress")), "{err}");
        assert_eq!(repo.git(&["rev-parse", "main"]), base);
    }
}

#[test]
fn a_conflict_with_no_agent_to_take_it_is_one_line_saying_where_it_stays() {
    let mut repo = diverged(("a.txt", "base a\n"), ("a.txt", "feat a\n"));
    let feat = repo.worktree("feat");
    let one_line = |repo: &TestRepo, how: &str| {
        let run = repo.wtmux(&["sync", "feat"]);
        let err = run.refused();
        assert_eq!(run.stdout(), "", "{how}: nothing else said");
        assert!(
            err.contains("merging: 1 conflicted file (a.txt)")
                && err.contains(&format!("the conflict stays in {}", feat.display()))
                && err.contains("resolve it there"),
            "{how}: {err}"
        );
        assert_eq!(repo.row("feat")["operation"]["kind"], "merge", "{how}");
        repo.git_in(&feat, &["merge", "--abort"]);
    };
    one_line(&repo, "outside tmux");
    let _inner = repo.start_tmux();
    one_line(&repo, "inside tmux, no agent started");
}

/// Presses Down until the last row (feat) is selected: a key typed while the popup is still
/// starting reaches the shell behind it, so it is pressed again until the detail shows feat.
fn select_last_row(client: &Client) {
    common::wait_until(
        15,
        "feat to be selected (its path heads the detail)",
        || {
            client.keys(&["Down"]);
            let deadline = std::time::Instant::now() + std::time::Duration::from_millis(500);
            while std::time::Instant::now() < deadline {
                if client.screen().contains(".worktrees/feat ") {
                    return true;
                }
                std::thread::sleep(std::time::Duration::from_millis(25));
            }
            false
        },
    );
}

#[test]
fn the_popups_u_syncs_the_selected_worktree_and_its_detail_shows_the_conflict() {
    let mut repo = TestRepo::new();
    repo.write("a.txt", LINES);
    repo.commit_all("files");
    let inner = repo.start_tmux();
    repo.wtmux(&["add", "feat", "--no-agent"]).ok();
    let feat = repo.worktree("feat");
    write_file(&feat.join("a.txt"), "feat a\n");
    repo.git_in(&feat, &["commit", "-qam", "feat work"]);
    repo.write("a.txt", "base a\n");
    repo.commit_all("base moved on");

    let client = Client::open_popup(&repo, &inner);
    client.wait_for("the popup to list feat", |screen| {
        screen.contains("feat") && !screen.contains("loading")
    });
    select_last_row(&client);
    client.keys(&["u"]);
    // No agent runs there: no hand-off to draft, the conflict is told and stays on the row.
    client.wait_for(
        "the row and the detail to show the stopped merge",
        |screen| {
            screen.contains("the conflict stays in its worktree")
                && screen
                    .lines()
                    .any(|l| l.contains("feat") && l.contains("merging: 1 conflicted file"))
                && screen.contains("! merging: 1 conflicted file: resolve")
        },
    );
    assert!(
        !client.screen().contains("hand the conflict to the agent"),
        "{}",
        client.screen()
    );
    assert_eq!(repo.row("feat")["operation"]["kind"], "merge");
    client.keys(&["q"]);
}

// ---------------------------------------------------------------------------------------------
// The hand-off to the agent

/// A repository whose `feat` worktree runs the resolving fake agent (in a real tmux server)
/// and conflicts with base in a.txt; returns the repository, the server and the agent's log.
fn conflicting_with_an_agent(extra: &str) -> (TestRepo, common::TmuxServer, std::path::PathBuf) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fake-agent.sh");
    let scratch = tempfile::tempdir().unwrap().keep();
    let log = scratch.join("agent-received");
    let mut repo = TestRepo::with_config(&format!(
        "agent_quiet = \"1s\"\n{extra}\n[[check]]\nname = \"no-markers\"\nrun = \"! grep -q '^<<<<<<<' a.txt\"\n[agents.resolver]\nrun = \"sh {script} --resolve {}\"\n",
        log.display()
    ));
    repo.write("a.txt", LINES);
    repo.commit_all("files");
    let inner = repo.start_tmux();
    repo.wtmux(&["add", "feat", "--agent", "resolver"]).ok();
    let feat = repo.worktree("feat");
    write_file(&feat.join("a.txt"), "feat a\n");
    repo.git_in(&feat, &["commit", "-qam", "feat work"]);
    repo.write("a.txt", "base a\n");
    repo.commit_all("base moved on");
    repo.wtmux(&["wait", "feat", "--until", "done", "--timeout", "20s"])
        .ok();
    (repo, inner, log)
}

fn read(path: &std::path::Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

#[test]
fn a_conflicting_sync_goes_to_the_agent_which_resolves_it_and_then_the_merge_lands() {
    let (repo, _tmux, log) = conflicting_with_an_agent("");
    let base_id = repo.git(&["rev-parse", "--short=7", "main"]);
    let run = repo.wtmux(&["sync", "feat"]);
    assert_eq!(run.code(), 1, "{}{}", run.stdout(), run.stderr());
    assert!(
        run.stdout()
            .contains("handed the conflict to the agent of feat"),
        "{}{}",
        run.stdout(),
        run.stderr()
    );
    common::wait_until(20, "the agent to resolve and commit", || {
        read(&log).contains("resolved")
    });
    let task = read(&log).lines().next().unwrap_or_default().to_string();
    assert!(task.contains("Conflicted files: a.txt."), "{task}");
    assert!(
        task.contains(&format!("{base_id} \"base moved on\"")),
        "{task}"
    );
    assert!(
        task.contains("run the checks") && task.contains("git commit"),
        "{task}"
    );
    let row = repo.row("feat");
    assert!(row["operation"].is_null(), "{row}");
    assert_eq!(row["changed"], 0, "{row}");

    repo.wtmux(&["check", "feat", "--wait"]).ok();
    repo.wtmux(&["merge", "feat"]).ok();
    assert_eq!(
        std::fs::read_to_string(repo.path("a.txt")).unwrap(),
        "feat a\nbase a\n",
        "both sides landed on base"
    );
    assert_eq!(repo.git(&["status", "--porcelain"]), "");
}

#[test]
fn the_handoff_text_comes_from_the_configured_template_and_no_handoff_sends_nothing() {
    let (repo, _tmux, log) = conflicting_with_an_agent(
        "handoff_template = \"conflict on {branch} vs {base} ({operation}) in {files}; {finish} {unknown\"",
    );
    let run = repo.wtmux(&["sync", "feat", "--rebase", "--no-handoff"]);
    assert_eq!(run.code(), 1);
    assert!(!run.stdout().contains("handed"), "{}", run.stdout());
    repo.git_in(&repo.worktree("feat"), &["rebase", "--abort"]);
    let run = repo.wtmux(&["sync", "feat", "--rebase"]);
    assert!(
        run.stdout().contains("handed the conflict"),
        "{}{}",
        run.stdout(),
        run.stderr()
    );
    common::wait_until(20, "the agent to resolve the rebase", || {
        read(&log).contains("resolved")
    });
    let task = read(&log).lines().next().unwrap_or_default().to_string();
    assert!(
        task.starts_with(
            "conflict on feat vs main (rebase) in a.txt; stage them and continue the rebase"
        ),
        "{task}"
    );
    assert!(
        task.ends_with("{unknown"),
        "not a placeholder, kept: {task}"
    );
    assert_eq!(read(&log).lines().count(), 2, "one hand-off, then resolved");
    assert!(repo.row("feat")["operation"].is_null());
    assert_eq!(
        repo.git_in(&repo.worktree("feat"), &["merge-base", "HEAD", "main"]),
        repo.git(&["rev-parse", "main"])
    );

    let bad = TestRepo::new();
    bad.write(".wtmux.toml", "handoff_template = \"fix {file}\"\n");
    let err = bad.wtmux(&["list"]).refused();
    assert!(
        err.contains("handoff_template") && err.contains("{file}"),
        "{err}"
    );
}

#[test]
fn the_popup_shows_the_handoff_lets_it_be_edited_and_sends_it() {
    let (repo, inner, log) = conflicting_with_an_agent("");
    let client = Client::open_popup(&repo, &inner);
    client.wait_for("the popup to list feat", |screen| {
        screen.contains("feat") && !screen.contains("loading")
    });
    select_last_row(&client);
    client.keys(&["u"]);
    client.wait_for("the hand-off dialog", |screen| {
        screen.contains("hand the conflict to the agent") && screen.contains("Conflicted files")
    });
    assert_eq!(read(&log), "", "nothing is sent before it is confirmed");
    client.keys(&["BSpace"]);
    client.keys(&["-l", " EDITED"]);
    client.wait_for("the edit to show", |screen| screen.contains("EDITED"));
    client.keys(&["Enter"]);
    common::wait_until(20, "the agent to get the edited text and resolve", || {
        read(&log).contains("resolved")
    });
    let task = read(&log).lines().next().unwrap_or_default().to_string();
    assert!(
        task.ends_with("then commit the merge (git commit --no-edit) EDITED"),
        "{task}"
    );
    client.keys(&["q"]);
}

/// The popup's `c` on a row predicted to conflict with a sibling: the note for its agent (from
/// the default `coordinate_template`) is shown, editable, and typed into the agent on Enter.
#[test]
fn the_popups_c_tells_an_agent_which_sibling_it_will_conflict_with() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fake-agent.sh");
    let scratch = tempfile::tempdir().unwrap();
    let log = scratch.path().join("agent-received");
    let mut repo = TestRepo::with_config(&format!(
        "agent_quiet = \"1s\"\n[agents.resolver]\nrun = \"sh {script} --resolve {}\"\n",
        log.display()
    ));
    repo.write("a.txt", LINES);
    repo.commit_all("files");
    let inner = repo.start_tmux();
    repo.wtmux(&["add", "feat", "--agent", "resolver"]).ok();
    repo.wtmux(&["add", "other", "--no-agent"]).ok();
    for (branch, text) in [("feat", "feat a\n"), ("other", "other a\n")] {
        let path = repo.worktree(branch);
        write_file(&path.join("a.txt"), text);
        repo.git_in(&path, &["commit", "-qam", &format!("{branch} work")]);
    }

    let client = Client::open_popup(&repo, &inner);
    client.wait_for("the prediction to mark feat", |screen| {
        screen.lines().any(|l| l.contains("feat !1")) && !screen.contains("loading")
    });
    select_last_row(&client);
    client.keys(&["c"]);
    client.wait_for("the note, shown before it goes", |screen| {
        screen.contains("tell the agent: predicted conflict") && screen.contains("other in a.txt")
    });
    client.keys(&["Enter"]);
    common::wait_until(20, "the agent to receive the note", || {
        std::fs::read_to_string(&log).is_ok_and(|t| !t.is_empty())
    });
    let note = std::fs::read_to_string(&log).unwrap();
    let note = note.lines().next().unwrap();
    assert!(
        note.starts_with(
            "feat is predicted to conflict with another agent's work when both merge into main: other in a.txt. Coordinate"
        ),
        "{note}"
    );
    client.keys(&["q"]);
}

/// `wtmux send <branch> --coordinate`: the popup's `c` from the command line, through the same
/// core function. `--print` shows the note and sends nothing; without it the agent gets it. A
/// branch predicted to conflict with nobody is refused in one line, and nothing is sent.
#[test]
fn send_coordinate_tells_an_agent_which_sibling_it_will_conflict_with() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fake-agent.sh");
    let scratch = tempfile::tempdir().unwrap();
    let log = scratch.path().join("agent-received");
    let mut repo = TestRepo::with_config(&format!(
        "agent_quiet = \"1s\"\n[agents.resolver]\nrun = \"sh {script} --resolve {}\"\n",
        log.display()
    ));
    repo.write("a.txt", LINES);
    repo.commit_all("files");
    let _inner = repo.start_tmux();
    repo.wtmux(&["add", "feat", "--agent", "resolver"]).ok();
    repo.wtmux(&["add", "other", "--no-agent"]).ok();
    repo.wtmux(&["add", "apart", "--no-agent"]).ok();
    for (branch, file, text) in [
        ("feat", "a.txt", "feat a\n"),
        ("other", "a.txt", "other a\n"),
        ("apart", "b.txt", "apart b\n"),
    ] {
        let path = repo.worktree(branch);
        write_file(&path.join(file), text);
        repo.git_in(&path, &["add", "-A"]);
        repo.git_in(&path, &["commit", "-qm", &format!("{branch} work")]);
    }
    let expected = "feat is predicted to conflict with another agent's work when both merge into main: other in a.txt. Coordinate";

    let printed = repo
        .wtmux(&["send", "feat", "--coordinate", "--print"])
        .ok();
    assert!(printed.starts_with(expected), "{printed}");

    let refused = repo.wtmux(&["send", "apart", "--coordinate"]);
    assert_eq!(refused.code(), 1, "{}", refused.stderr());
    assert!(
        refused
            .stderr()
            .contains("apart is not predicted to conflict with another branch"),
        "{}",
        refused.stderr()
    );
    assert_eq!(refused.stderr().lines().count(), 1, "{}", refused.stderr());
    let usage = repo.wtmux(&["send", "feat", "--coordinate", "some text"]);
    assert_eq!(usage.code(), 2, "{}", usage.stderr());
    assert!(
        std::fs::read_to_string(&log).unwrap_or_default().is_empty(),
        "nothing was sent yet"
    );

    let sent = repo.wtmux(&["send", "feat", "--coordinate"]).ok();
    assert!(
        sent.contains("sent to the agent of feat: predicted to conflict with other"),
        "{sent}"
    );
    common::wait_until(20, "the agent to receive the note", || {
        std::fs::read_to_string(&log).is_ok_and(|t| !t.is_empty())
    });
    let note = std::fs::read_to_string(&log).unwrap();
    assert_eq!(note.lines().next().unwrap(), printed.trim_end(), "{note}");
}

/// The popup's merge dialog shows the commits it would merge; an agent that commits while it is
/// open must not have that commit merged unseen on `y`: the merge is refused, saying so, and
/// base stays; `m` again shows the new commit and then merges it. The dialog without checks
/// configured says nothing was checked (it claimed "checks passed").
#[test]
fn the_popups_merge_takes_only_what_its_dialog_showed() {
    let mut repo = TestRepo::new();
    let inner = repo.start_tmux();
    repo.wtmux(&["add", "feat", "--no-agent"]).ok();
    let feat = repo.worktree("feat");
    write_file(&feat.join("a.txt"), "first\n");
    repo.git_in(&feat, &["add", "-A"]);
    repo.git_in(&feat, &["commit", "-q", "-m", "shown step"]);
    let base = repo.git(&["rev-parse", "main"]);

    let client = Client::open_popup(&repo, &inner);
    client.wait_for("the popup to list feat", |screen| {
        screen.contains("feat") && !screen.contains("loading")
    });
    select_last_row(&client);
    client.keys(&["m"]);
    client.wait_for("the merge dialog", |screen| {
        screen.contains("Merge feat into main") && screen.contains("shown step")
    });
    assert!(
        client
            .screen()
            .contains("no checks configured: nothing was checked"),
        "{}",
        client.screen()
    );
    write_file(&feat.join("b.txt"), "second\n");
    repo.git_in(&feat, &["add", "-A"]);
    repo.git_in(&feat, &["commit", "-q", "-m", "unseen step"]);
    client.keys(&["y"]);
    client.wait_for("the refusal", |screen| {
        screen.contains("feat moved since the dialog opened")
    });
    assert_eq!(repo.git(&["rev-parse", "main"]), base, "base unchanged");
    assert!(feat.exists());

    client.keys(&["m"]);
    client.wait_for("the dialog with the new commit", |screen| {
        screen.contains("Merge feat into main") && screen.contains("unseen step")
    });
    client.keys(&["y"]);
    common::wait_until(20, "the merge", || repo.path("b.txt").exists());
    client.keys(&["q"]);
}

/// A sync that git stops without a conflict (here a `pre-merge-commit` hook refusing) has
/// nothing to hand to an agent: it is aborted, so the worktree is as it was, and the one line
/// says what the hook said. It was left half way (`merging` on the row, everything staged)
/// with only git's "Not committing merge; use 'git commit'".
#[test]
fn a_sync_that_a_hook_refuses_is_put_back_and_says_what_the_hook_said() {
    let repo = diverged(("b.txt", "base b\n"), ("a.txt", "feat a\n"));
    let hooks = repo.path(".git/hooks");
    std::fs::create_dir_all(&hooks).unwrap();
    let hook = hooks.join("pre-merge-commit");
    write_file(&hook, "#!/bin/sh\necho 'the hook says no' >&2\nexit 1\n");
    std::process::Command::new("chmod")
        .args(["+x"])
        .arg(&hook)
        .status()
        .unwrap();
    let feat = repo.worktree("feat");
    let head = repo.git_in(&feat, &["rev-parse", "HEAD"]);
    let run = repo.wtmux(&["sync", "feat", "--merge"]);
    assert_eq!(run.code(), 1, "{}{}", run.stdout(), run.stderr());
    let err = run.stderr();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("stopped without a conflict")
            && err.contains("the hook says no")
            && err.contains("put back as it was"),
        "{err}"
    );
    assert_eq!(repo.git_in(&feat, &["rev-parse", "HEAD"]), head);
    assert_eq!(repo.git_in(&feat, &["status", "--porcelain"]), "");
    assert!(repo.row("feat")["operation"].is_null());
}

/// While a sync's conflict waits in the worktree, `merge` refuses for that reason alone: it
/// also listed the conflict with base and advised merging base into the branch, which is what
/// stopped half way there. And an argument too many is named as such, not as an unknown option.
#[test]
fn merge_of_a_worktree_mid_sync_names_only_the_stopped_operation() {
    let repo = diverged(("a.txt", "base a\n"), ("a.txt", "feat a\n"));
    assert_eq!(repo.wtmux(&["sync", "feat", "--merge"]).code(), 1);
    let run = repo.wtmux(&["merge", "feat"]);
    assert_eq!(run.code(), 1, "{}", run.stderr());
    let err = run.stderr();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("a merge is in progress"), "{err}");
    assert!(!err.contains("would conflict"), "{err}");
    assert!(!err.contains("merge base into the branch"), "{err}");

    let extra = repo.wtmux(&["sync", "feat", "extra"]);
    assert_eq!(extra.code(), 2, "{}", extra.stderr());
    assert!(
        !extra.stderr().contains("has no option"),
        "{}",
        extra.stderr()
    );
    assert!(extra.stderr().contains("'extra'"), "{}", extra.stderr());
}
