//! The scope guard on real repositories: branches built to overlap without conflicting, to
//! conflict, to be disjoint; a rename; a binary file; a branch that conflicts only with base once
//! another merged; declared scopes respected and violated; the merge order and --all-green.

mod common;

use common::{Rng, TestRepo, write_file};

const LINES: &str = "one\ntwo\nthree\nfour\nfive\nsix\nseven\neight\nnine\nten\n";

fn repo() -> TestRepo {
    let repo = TestRepo::new();
    repo.write("shared.txt", LINES);
    repo.write("hot.txt", LINES);
    repo.write("alone.txt", "alone\n");
    repo.write("dir/moved.txt", LINES);
    std::fs::write(repo.path("image.bin"), [0u8, 159, 146, 150, 0, 1, 2]).unwrap();
    repo.commit_all("files to fight over");
    repo
}

/// A worktree whose branch commits `edits` (path, content).
fn branch(repo: &TestRepo, name: &str, scope: &[&str], edits: &[(&str, &[u8])]) {
    let mut args = vec!["add", name, "--no-window"];
    for glob in scope {
        args.extend(["--scope", glob]);
    }
    repo.wtmux(&args).ok();
    let path = repo.worktree(name);
    for (file, content) in edits {
        let target = path.join(file);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::write(target, content).unwrap();
    }
    repo.git_in(&path, &["add", "-A"]);
    repo.git_in(&path, &["commit", "-q", "-m", &format!("{name} work")]);
}

fn report(repo: &TestRepo) -> serde_json::Value {
    serde_json::from_str(&repo.wtmux(&["conflicts", "--json"]).ok()).unwrap()
}

fn pair<'a>(report: &'a serde_json::Value, a: &str, b: &str) -> Option<&'a serde_json::Value> {
    report["pairs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| (p["a"] == a && p["b"] == b) || (p["a"] == b && p["b"] == a))
}

fn strings(value: &serde_json::Value) -> Vec<String> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn overlap_conflict_and_disjoint_pairs() {
    let repo = repo();
    let top = LINES.replacen("one", "ONE", 1);
    let bottom = LINES.replacen("ten", "TEN", 1);
    branch(&repo, "top", &[], &[("shared.txt", top.as_bytes())]);
    branch(&repo, "bottom", &[], &[("shared.txt", bottom.as_bytes())]);
    branch(&repo, "hot-a", &[], &[("hot.txt", b"a wins\n")]);
    branch(&repo, "hot-b", &[], &[("hot.txt", b"b wins\n")]);
    branch(&repo, "loner", &[], &[("alone.txt", b"changed alone\n")]);
    let report = report(&repo);

    let clean = pair(&report, "top", "bottom").expect("they overlap");
    assert_eq!(strings(&clean["overlap"]), ["shared.txt"]);
    assert!(
        clean["conflicts"].as_array().unwrap().is_empty(),
        "different lines merge"
    );
    let hot = pair(&report, "hot-a", "hot-b").expect("they overlap");
    assert_eq!(strings(&hot["conflicts"]), ["hot.txt"]);
    for other in ["top", "bottom", "hot-a", "hot-b"] {
        assert!(pair(&report, "loner", other).is_none(), "disjoint: no pair");
    }
    let text = repo.wtmux(&["conflicts"]).ok();
    assert!(
        text.contains("hot-a ✘ hot-b: CONFLICT in hot.txt"),
        "{text}"
    );
}

#[test]
fn a_rename_and_a_binary_file() {
    let repo = repo();
    repo.wtmux(&["add", "mover", "--no-window"]).ok();
    let mover = repo.worktree("mover");
    repo.git_in(&mover, &["mv", "dir/moved.txt", "dir/renamed.txt"]);
    repo.git_in(&mover, &["commit", "-q", "-m", "rename"]);
    let edited = LINES.replacen("five", "FIVE", 1);
    branch(
        &repo,
        "editor",
        &[],
        &[("dir/moved.txt", edited.as_bytes())],
    );
    branch(&repo, "bin-a", &[], &[("image.bin", &[0u8, 1, 0, 9, 9])]);
    branch(&repo, "bin-b", &[], &[("image.bin", &[0u8, 2, 0, 7, 7])]);
    let report = report(&repo);
    let renamed = pair(&report, "mover", "editor").expect("both touch dir/moved.txt");
    assert!(
        renamed["conflicts"].as_array().unwrap().is_empty(),
        "git follows the rename: {renamed}"
    );
    let binary = pair(&report, "bin-a", "bin-b").unwrap();
    assert_eq!(strings(&binary["conflicts"]), ["image.bin"]);
}

#[test]
fn uncommitted_work_counts() {
    let repo = repo();
    branch(&repo, "committed", &[], &[("hot.txt", b"committed\n")]);
    repo.wtmux(&["add", "dirty", "--no-window"]).ok();
    write_file(
        &repo.worktree("dirty").join("hot.txt"),
        "not committed yet\n",
    );
    let report = report(&repo);
    let dirty = pair(&report, "committed", "dirty").expect("uncommitted edits overlap too");
    assert_eq!(strings(&dirty["conflicts"]), ["hot.txt"]);
}

#[test]
fn a_branch_that_conflicts_only_with_base_after_another_merged() {
    let repo = repo();
    branch(&repo, "first", &[], &[("hot.txt", b"first\n")]);
    branch(&repo, "second", &[], &[("hot.txt", b"second\n")]);
    let before = report(&repo);
    for w in before["worktrees"].as_array().unwrap() {
        assert!(
            w["base_conflicts"].as_array().unwrap().is_empty(),
            "both merge into base now"
        );
    }
    let run = repo.wtmux(&["merge", "first"]);
    run.ok();
    assert!(
        run.stderr()
            .contains("second will conflict with main once first is merged (hot.txt)"),
        "merge warns: {}",
        run.stderr()
    );
    let after = report(&repo);
    let second = after["worktrees"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["branch"] == "second")
        .unwrap();
    assert_eq!(strings(&second["base_conflicts"]), ["hot.txt"]);
}

#[test]
fn declared_scopes_are_respected_and_violated() {
    let repo = repo();
    branch(
        &repo,
        "themes",
        &["modules/themes/**"],
        &[("modules/themes/dark.css", b"dark\n")],
    );
    branch(
        &repo,
        "core",
        &["src/**"],
        &[
            ("src/main.rs", b"fn main() {}\n"),
            ("modules/themes/light.css", b"light\n"),
        ],
    );
    let report = report(&repo);
    let find = |name: &str| {
        report["worktrees"]
            .as_array()
            .unwrap()
            .iter()
            .find(|w| w["branch"] == name)
            .unwrap()
            .clone()
    };
    let themes = find("themes");
    assert!(themes["outside_scope"].as_array().unwrap().is_empty());
    assert!(themes["in_others_scope"].as_array().unwrap().is_empty());
    let core = find("core");
    assert_eq!(
        strings(&core["outside_scope"]),
        ["modules/themes/light.css"]
    );
    assert_eq!(core["in_others_scope"][0][0], "themes");
    // A scope that is no glob of paths inside the worktree is bad input: a usage error, one
    // line, nothing created.
    let before = repo.snapshot();
    for (scope, says) in [
        ("a/[b", "is not a valid glob"),
        ("/etc/**", "is absolute"),
        ("", "is empty"),
        ("  ", "is empty"),
        ("../elsewhere/**", "goes up with `..`"),
        ("modules/../../x", "goes up with `..`"),
    ] {
        let run = repo.wtmux(&["add", "bad", "--scope", "modules/**", "--scope", scope]);
        assert_eq!(run.code(), 2, "{scope:?}: {}", run.stderr());
        let err = run.stderr();
        assert_eq!(err.trim_end().lines().count(), 1, "{scope:?}: {err:?}");
        assert!(
            err.contains(says) && err.contains("--scope"),
            "{scope:?}: {err}"
        );
        assert_eq!(repo.snapshot(), before, "{scope:?}");
        assert!(!repo.worktree("bad").exists());
    }
    // The popup's n checks the same rule as you type.
    let form = wtmux::tui::app::NewWorktree {
        branch: "bad".into(),
        scopes: vec!["modules/**".into()],
        scope: "/etc/**".into(),
        step: wtmux::tui::app::NewStep::Scope,
        ..Default::default()
    };
    assert!(
        form.error().is_some_and(|e| e.contains("is absolute")),
        "{:?}",
        form.error()
    );
}

/// A scope written from `./` (or with a `.` or an empty component inside) is the scope
/// without it: `--scope ./src/**` flagged every file as outside its scope (found by a hostile
/// review). `.` alone names no path in the worktree: a usage error.
#[test]
fn scopes_written_from_dot_slash_match_as_without_them() {
    let repo = repo();
    branch(
        &repo,
        "themes",
        &["./modules/themes/**", "docs/.//*.md"],
        &[
            ("modules/themes/dark.css", b"dark\n"),
            ("docs/themes.md", b"themes\n"),
        ],
    );
    branch(
        &repo,
        "core",
        &["src/**"],
        &[("modules/themes/light.css", b"light\n")],
    );
    let report = report(&repo);
    let find = |name: &str| {
        report["worktrees"]
            .as_array()
            .unwrap()
            .iter()
            .find(|w| w["branch"] == name)
            .unwrap()
            .clone()
    };
    let themes = find("themes");
    assert!(
        themes["outside_scope"].as_array().unwrap().is_empty(),
        "{themes}"
    );
    assert_eq!(find("core")["in_others_scope"][0][0], "themes");
    let before = repo.snapshot();
    for scope in [".", "./", "./."] {
        let run = repo.wtmux(&["add", "bad", "--scope", scope]);
        assert_eq!(run.code(), 2, "{scope:?}: {}", run.stderr());
        assert_eq!(run.stderr().trim_end().lines().count(), 1);
        assert_eq!(repo.snapshot(), before, "{scope:?}");
    }
}

/// A scope that names no path git could list is refused when it is declared, not found out
/// later as every file flagged outside it: a quoted `~/x` (not expanded), paths in `.git` (any
/// case, any depth), a trailing `/` (no file's path has one). The core refuses it, so the popup
/// does too (tests/popup.rs). `./~/x` still names a directory called `~`.
#[test]
fn scopes_that_can_never_match_are_refused_when_declared() {
    let repo = repo();
    let before = repo.snapshot();
    for (scope, says) in [
        ("~/x", "tilde"),
        ("~", "tilde"),
        (".git/**", "`.git`"),
        ("./.git", "`.git`"),
        ("sub/.GIT/hooks/*", "`.git`"),
        ("src/", "slash"),
        ("src/**/", "slash"),
    ] {
        let run = repo.wtmux(&["add", "bad", "--scope", "src/**", "--scope", scope]);
        assert_eq!(run.code(), 2, "{scope:?}: {}", run.stderr());
        let stderr = run.stderr();
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
        assert!(stderr.contains(says), "{scope:?}: {stderr}");
        assert_eq!(repo.snapshot(), before, "{scope:?}");
    }
    // Shell and argv cannot carry a NUL byte; the core refuses it for whoever else asks.
    let error = wtmux::core::scope::check_glob("src/\0/*").unwrap_err();
    assert!(error.reason.contains("NUL"), "{error}");

    branch(
        &repo,
        "tilde",
        &["./~/x", ".gitignore", "docs/.github/*"],
        &[
            ("~/x", b"x\n"),
            (".gitignore", b"*.o\n"),
            ("docs/.github/a", b"a\n"),
        ],
    );
    let report = report(&repo);
    let tilde = report["worktrees"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["branch"] == "tilde")
        .unwrap();
    assert_eq!(strings(&tilde["files"]).len(), 3, "{tilde}");
    assert!(
        tilde["outside_scope"].as_array().unwrap().is_empty(),
        "{tilde}"
    );
}

#[test]
fn all_green_merges_in_a_clean_order_and_stops_before_a_conflict() {
    let repo = TestRepo::with_config("[[check]]\nname = \"ok\"\nrun = \"true\"\n");
    repo.write("hot.txt", LINES);
    repo.write("shared.txt", LINES);
    repo.commit_all("files");
    let top = LINES.replacen("one", "ONE", 1);
    let bottom = LINES.replacen("ten", "TEN", 1);
    branch(&repo, "top", &[], &[("shared.txt", top.as_bytes())]);
    branch(&repo, "bottom", &[], &[("shared.txt", bottom.as_bytes())]);
    branch(&repo, "hot-a", &[], &[("hot.txt", b"a\n")]);
    branch(&repo, "hot-b", &[], &[("hot.txt", b"b\n")]);
    branch(&repo, "red", &[], &[("red.txt", b"not checked\n")]);
    repo.wtmux(&["check", "--all", "--wait"]).ok();
    write_file(
        &repo.worktree("red").join("red.txt"),
        "changed after its check\n",
    );

    let report = report(&repo);
    let order = strings(&report["merge_order"]["order"]);
    assert_eq!(order.len(), 3, "{order:?}");
    assert!(order.contains(&"top".into()) && order.contains(&"bottom".into()));
    let blocked = report["merge_order"]["blocked"].as_array().unwrap();
    assert_eq!(blocked.len(), 1, "one of hot-a/hot-b waits: {blocked:?}");
    assert!(!order.contains(&"red".into()), "not green");

    let run = repo.wtmux(&["merge", "--all-green"]);
    assert_eq!(
        run.code(),
        0,
        "every green and mergeable branch merged: {}{}",
        run.stdout(),
        run.stderr()
    );
    assert!(run.stderr().contains("conflicts"), "{}", run.stderr());
    assert_eq!(
        repo.git(&["status", "--porcelain"]),
        "",
        "base is left clean"
    );
    let log = repo.git(&["log", "--format=%s"]);
    for branch in &order {
        assert!(
            log.contains(&format!("Merge branch '{branch}'")) || !repo.worktree(branch).exists()
        );
    }
    assert_eq!(
        std::fs::read_to_string(repo.path("shared.txt")).unwrap(),
        LINES.replacen("one", "ONE", 1).replacen("ten", "TEN", 1)
    );
}

#[test]
fn gate_merged_checks_the_merge_result_before_base_moves() {
    // Each branch passes alone; together they break the check (a semantic conflict).
    let repo = TestRepo::with_config(
        "gate = \"merged\"\n[[check]]\nname = \"not-both\"\nrun = \"! { test -f a.txt && test -f b.txt; }\"\n",
    );
    branch(&repo, "adds-a", &[], &[("a.txt", b"a\n")]);
    branch(&repo, "adds-b", &[], &[("b.txt", b"b\n")]);
    repo.wtmux(&["check", "--all", "--wait"]).ok();
    repo.wtmux(&["merge", "adds-a"]).ok();
    let before = repo.snapshot();
    let err = repo.wtmux(&["merge", "adds-b"]).refused();
    assert!(err.contains("failed on the merge result"), "{err}");
    assert!(err.contains("main is unchanged"), "{err}");
    assert_eq!(repo.snapshot(), before, "base did not move");
    assert!(!repo.path("b.txt").exists());
    let scratch = repo.path(".git/wtmux/scratch");
    let leftovers = std::fs::read_dir(&scratch).map(|d| d.count()).unwrap_or(0);
    assert_eq!(leftovers, 0, "the scratch worktree is gone");
}

/// The row of `conflicts --json` for `branch`.
fn changed(report: &serde_json::Value, branch: &str) -> serde_json::Value {
    report["worktrees"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["branch"] == branch)
        .unwrap_or_else(|| panic!("no row for {branch}: {report}"))
        .clone()
}

/// The stderr line that says why `branch` was left out.
fn left_out_line(stderr: &str, branch: &str) -> String {
    stderr
        .lines()
        .find(|l| l.starts_with(&format!("wtmux: not merging {branch}: ")))
        .unwrap_or_else(|| panic!("{branch} is not listed as left out: {stderr}"))
        .to_string()
}

#[test]
fn all_green_merges_what_can_merge_and_says_why_it_left_each_other_worktree_alone() {
    // Every worktree below except `unchecked` has a passed check on what it holds now — even
    // `fresh` (base's content) and `dirty` (uncommitted work): the queue must still leave
    // those alone, as it must the red, the unchecked and the conflicting one.
    let repo =
        TestRepo::with_config("[[check]]\nname = \"no-broken\"\nrun = \"! test -f broken\"\n");
    repo.write("hot.txt", LINES);
    repo.commit_all("files");
    repo.wtmux(&["add", "fresh", "--no-window"]).ok();
    branch(&repo, "dirty", &[], &[("dirty.txt", b"committed\n")]);
    write_file(&repo.worktree("dirty").join("more.txt"), "not committed\n");
    branch(&repo, "red", &[], &[("broken", b"x\n")]);
    branch(&repo, "green-a", &[], &[("hot.txt", b"green-a\n")]);
    branch(&repo, "green-b", &[], &[("b.txt", b"b\n")]);
    // Sorted after green-a (more files), so green-a merges first and this one would conflict.
    branch(
        &repo,
        "conflicting",
        &[],
        &[("hot.txt", b"conflicting\n"), ("c.txt", b"c\n")],
    );
    assert_eq!(
        repo.wtmux(&["check", "--all", "--wait"]).code(),
        1,
        "red fails"
    );
    branch(&repo, "unchecked", &[], &[("u.txt", b"u\n")]);

    let report = report(&repo);
    let reason = |b: &str| changed(&report, b)["not_green"]["reason"].clone();
    assert_eq!(reason("fresh"), "nothing_to_merge");
    assert_eq!(reason("dirty"), "uncommitted");
    assert_eq!(changed(&report, "dirty")["not_green"]["files"], 1);
    assert_eq!(reason("red"), "checks_failed");
    assert_eq!(reason("unchecked"), "unchecked");
    for green in ["green-a", "green-b", "conflicting"] {
        assert_eq!(changed(&report, green)["green"], true, "{green}: {report}");
        assert!(changed(&report, green)["not_green"].is_null(), "{green}");
    }
    for not_green in ["fresh", "dirty", "red", "unchecked"] {
        assert_eq!(changed(&report, not_green)["green"], false, "{not_green}");
    }
    assert_eq!(
        strings(&report["merge_order"]["order"]),
        ["green-b", "green-a"]
    );
    let text = repo.wtmux(&["conflicts"]).ok();
    assert!(
        text.contains("not green: it has 1 uncommitted file"),
        "{text}"
    );

    let untouched: Vec<(&str, String)> = ["fresh", "dirty", "red", "unchecked", "conflicting"]
        .into_iter()
        .map(|b| (b, repo.git(&["rev-parse", b])))
        .collect();
    let dirty_status = repo.git_in(&repo.worktree("dirty"), &["status", "--porcelain"]);
    let run = repo.wtmux(&["merge", "--all-green"]);
    assert_eq!(run.code(), 0, "{}{}", run.stdout(), run.stderr());
    let (out, err) = (run.stdout(), run.stderr());
    assert!(out.contains("merged green-b into main"), "{out}");
    assert!(out.contains("merged green-a into main"), "{out}");
    assert!(left_out_line(&err, "fresh").contains("no commit that base lacks"));
    assert!(left_out_line(&err, "dirty").contains("1 uncommitted file"));
    assert!(left_out_line(&err, "red").contains("\"no-broken\" failed"));
    assert!(left_out_line(&err, "unchecked").contains("have not run on its current content"));
    assert!(left_out_line(&err, "conflicting").contains("conflicts with"));
    assert!(left_out_line(&err, "conflicting").contains("hot.txt"));

    assert_eq!(
        repo.git(&["status", "--porcelain"]),
        "",
        "base is left clean"
    );
    assert_eq!(
        std::fs::read_to_string(repo.path("hot.txt")).unwrap(),
        "green-a\n"
    );
    assert!(repo.path("b.txt").exists());
    for (branch, tip) in &untouched {
        assert_eq!(&repo.git(&["rev-parse", branch]), tip, "{branch} untouched");
        assert!(repo.worktree(branch).exists(), "{branch} kept");
    }
    assert_eq!(
        repo.git_in(&repo.worktree("dirty"), &["status", "--porcelain"]),
        dirty_status,
        "the dirty worktree's work is as it was"
    );
    assert!(!repo.worktree("green-a").exists() && !repo.worktree("green-b").exists());

    // --verify checks the unchecked one first and merges it; `conflicting` now conflicts with
    // base itself; nothing green and mergeable failed, so exit 0.
    let run = repo.wtmux(&["merge", "--all-green", "--verify"]);
    assert_eq!(run.code(), 0, "{}{}", run.stdout(), run.stderr());
    assert!(
        run.stdout().contains("running the checks of unchecked"),
        "{}",
        run.stdout()
    );
    assert!(
        run.stdout().contains("merged unchecked into main"),
        "{}",
        run.stdout()
    );
    assert!(left_out_line(&run.stderr(), "conflicting").contains("conflicts with main"));
    assert!(left_out_line(&run.stderr(), "red").contains("failed"));
    assert!(repo.path("u.txt").exists());
    assert_eq!(
        repo.git(&["status", "--porcelain"]),
        "",
        "base is left clean"
    );
}

#[test]
fn all_green_goes_on_past_a_branch_whose_merge_fails_and_exits_1() {
    // Each branch passes alone; adds-a and adds-b together break the check (found only by
    // gate = "merged", after the queue planned them both as green and mergeable).
    let repo = TestRepo::with_config(
        "gate = \"merged\"\n[[check]]\nname = \"not-both\"\nrun = \"! { test -f a.txt && test -f b.txt; }\"\n",
    );
    branch(&repo, "adds-a", &[], &[("a.txt", b"a\n")]);
    branch(&repo, "adds-b", &[], &[("b.txt", b"b\n")]);
    branch(&repo, "adds-c", &[], &[("c.txt", b"c\n")]);
    repo.wtmux(&["check", "--all", "--wait"]).ok();
    let run = repo.wtmux(&["merge", "--all-green"]);
    assert_eq!(run.code(), 1, "{}{}", run.stdout(), run.stderr());
    assert!(run.stdout().contains("merged adds-a"), "{}", run.stdout());
    assert!(
        run.stdout().contains("merged adds-c"),
        "the queue went on: {}",
        run.stdout()
    );
    let line = left_out_line(&run.stderr(), "adds-b");
    assert!(
        line.contains("its merge failed") && line.contains("merge result"),
        "{line}"
    );
    assert!(!repo.path("b.txt").exists());
    assert!(repo.path("a.txt").exists() && repo.path("c.txt").exists());
    assert_eq!(
        repo.git(&["status", "--porcelain"]),
        "",
        "base is left clean"
    );
    assert!(repo.worktree("adds-b").exists());
}

/// The merge order, simulated per group of overlapping branches and cached, checked against
/// git itself on random histories: the branches in the order merge one after another without
/// conflict, and each blocked one conflicts with base plus all of them. After one worktree
/// commits again only its group is simulated anew (one new cached verdict), and the cached
/// answer is the one a cold run gives.
#[test]
fn merge_order_holds_against_git_and_only_a_changed_group_is_simulated_again() {
    let mut rng = Rng::new(20261206);
    for round in 0..3 {
        let repo = TestRepo::new();
        let files = ["a.txt", "b.txt", "c.txt", "d.txt"];
        for file in files {
            repo.write(file, LINES);
        }
        repo.commit_all("files");
        let lines: Vec<&str> = LINES.lines().collect();
        let mut names = Vec::new();
        for n in 0..7 {
            let name = format!("r{round}-b{n}");
            let mut edits: Vec<(String, Vec<u8>)> = Vec::new();
            for _ in 0..1 + rng.below(2) {
                let file = *rng.pick(&files);
                if edits.iter().any(|(f, _)| f == file) {
                    continue;
                }
                // Two lines apart at least, so that edits of different lines merge cleanly.
                let line = 2 * rng.below(5);
                let mut text: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
                text[line] = format!("{} by {name}", text[line]);
                edits.push((file.to_string(), (text.join("\n") + "\n").into_bytes()));
            }
            edits.push((format!("own-{n}.txt"), b"own\n".to_vec()));
            let edits: Vec<(&str, &[u8])> = edits
                .iter()
                .map(|(f, c)| (f.as_str(), c.as_slice()))
                .collect();
            branch(&repo, &name, &[], &edits);
            names.push(name);
        }
        let cache = repo.path(".git/wtmux/conflicts");
        let orders = || {
            std::fs::read_dir(&cache)
                .unwrap()
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with("order-"))
                .count()
        };
        let first = report(&repo);
        let order = strings(&first["merge_order"]["order"]);
        let blocked: Vec<String> = first["merge_order"]["blocked"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b[0].as_str().unwrap().to_string())
            .collect();
        assert_eq!(order.len() + blocked.len(), names.len(), "{first}");
        // Every pair's verdict (asked of git in batches) is git's own for that pair alone.
        for pair in first["pairs"].as_array().unwrap() {
            let (a, b) = (pair["a"].as_str().unwrap(), pair["b"].as_str().unwrap());
            let alone = std::process::Command::new("git")
                .current_dir(repo.path(""))
                .args([
                    "merge-tree",
                    "--write-tree",
                    "--name-only",
                    "--no-messages",
                    a,
                    b,
                ])
                .output()
                .unwrap();
            let mut conflicts: Vec<String> = String::from_utf8_lossy(&alone.stdout)
                .lines()
                .skip(1)
                .map(str::to_string)
                .collect();
            conflicts.dedup();
            assert_eq!(
                alone.status.code() == Some(1),
                !conflicts.is_empty(),
                "round {round}: {a} ~ {b}"
            );
            assert_eq!(
                strings(&pair["conflicts"]),
                conflicts,
                "round {round}: {a} ~ {b}"
            );
        }

        let mut simulated = repo.git(&["rev-parse", "main"]);
        for branch in &order {
            let tree = repo
                .git_raw_try_in(
                    &repo.path(""),
                    &["merge-tree", "--write-tree", &simulated, branch],
                )
                .unwrap_or_else(|| panic!("round {round}: {branch} conflicts after {order:?}"));
            let tree = tree.lines().next().unwrap().to_string();
            simulated = repo.git(&[
                "commit-tree",
                &tree,
                "-p",
                &simulated,
                "-p",
                branch,
                "-m",
                "simulated",
            ]);
        }
        for branch in &blocked {
            assert!(
                repo.git_raw_try_in(
                    &repo.path(""),
                    &["merge-tree", "--write-tree", &simulated, branch]
                )
                .is_none(),
                "round {round}: {branch} was blocked, yet merges onto {order:?}"
            );
        }

        // One branch commits again: only its group's verdicts are computed anew.
        let groups_before = orders();
        let changed = repo.worktree(&names[0]);
        write_file(&changed.join("own-0.txt"), "own, again\n");
        repo.git_in(&changed, &["commit", "-q", "-am", "again"]);
        let warm = report(&repo);
        assert_eq!(orders(), groups_before + 1, "round {round}");
        std::fs::remove_dir_all(&cache).unwrap();
        let cold = report(&repo);
        assert_eq!(warm["merge_order"], cold["merge_order"], "round {round}");
    }
}

/// After one worktree changed, `conflicts` merges again only the pairs that worktree is part
/// of: every other pair's verdict comes from the cache, not from git a second time. A `git` put
/// first on the PATH logs each `merge-tree` wtmux asks for. Nothing changed: nothing merged.
/// (A check nobody ran keeps every branch from being green, so no merge-order simulation merges
/// anything; that cache has its own test above.)
#[test]
fn after_one_worktree_changed_no_unchanged_pair_is_merged_again() {
    let repo = TestRepo::with_config("[[check]]\nname = \"ok\"\nrun = \"true\"\n");
    repo.write("shared.txt", LINES);
    repo.write("hot.txt", LINES);
    repo.commit_all("files to share");
    let edit = |line: usize, by: &str| -> Vec<u8> {
        let mut text: Vec<String> = LINES.lines().map(str::to_string).collect();
        text[line] = format!("{} by {by}", text[line]);
        (text.join("\n") + "\n").into_bytes()
    };
    // Overlapping pairs: a1~a2, a1~a3 (conflicting), a2~a3, b1~b2; `alone` overlaps nothing.
    branch(&repo, "a1", &[], &[("shared.txt", &edit(0, "a1"))]);
    branch(&repo, "a2", &[], &[("shared.txt", &edit(4, "a2"))]);
    branch(&repo, "a3", &[], &[("shared.txt", &edit(0, "a3"))]);
    branch(&repo, "b1", &[], &[("hot.txt", &edit(1, "b1"))]);
    branch(&repo, "b2", &[], &[("hot.txt", &edit(7, "b2"))]);
    branch(&repo, "alone", &[], &[("alone.txt", b"alone\n")]);

    let bin = tempfile::tempdir().unwrap();
    let log = bin.path().join("merges.log");
    let real_git = String::from_utf8(
        std::process::Command::new("sh")
            .args(["-c", "command -v git"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    write_file(
        &bin.path().join("git"),
        &format!(
            // One line per merge: its arguments, or each merge of a `--stdin` batch.
            "#!/bin/sh\ncase \" $* \" in\n*\" merge-tree \"*\"--stdin \"*) input=$(cat); printf '%s\\n' \"$input\" >> '{log}'; printf '%s\\n' \"$input\" | exec '{git}' \"$@\" ;;\n*\" merge-tree \"*) echo \"$*\" >> '{log}' ;;\nesac\nexec '{git}' \"$@\"\n",
            log = log.display(),
            git = real_git.trim()
        ),
    );
    std::fs::set_permissions(
        bin.path().join("git"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    // A report and how many merges it took.
    let conflicts = || -> (serde_json::Value, usize) {
        let _ = std::fs::remove_file(&log);
        let out = repo
            .wtmux_env(&["conflicts", "--json"], &[("PATH", &path)])
            .ok();
        let merges = std::fs::read_to_string(&log)
            .map(|l| l.lines().count())
            .unwrap_or(0);
        (serde_json::from_str(&out).unwrap(), merges)
    };

    let (cold, merged) = conflicts();
    assert_eq!(merged, 4, "every overlapping pair, once: {cold}");
    assert!(
        !pair(&cold, "a1", "a3").unwrap()["conflicts"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let (again, merged) = conflicts();
    assert_eq!(merged, 0, "nothing changed, nothing merged");
    assert_eq!(again["pairs"], cold["pairs"]);

    // An uncommitted edit in a2: its two pairs only.
    write_file(
        &repo.worktree("a2").join("shared.txt"),
        std::str::from_utf8(&edit(8, "a2, uncommitted")).unwrap(),
    );
    let (warm, merged) = conflicts();
    assert_eq!(merged, 2, "a2~a1 and a2~a3 only: {warm}");
    // A commit in b1: its one pair only.
    let b1 = repo.worktree("b1");
    write_file(&b1.join("hot.txt"), "b1 rewrote it all\n");
    repo.git_in(&b1, &["commit", "-q", "-am", "b1 again"]);
    let (warm, merged) = conflicts();
    assert_eq!(merged, 1, "b1~b2 only: {warm}");
    assert!(
        !pair(&warm, "b1", "b2").unwrap()["conflicts"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // The cached answers are the ones a cold run gives.
    std::fs::remove_dir_all(repo.path(".git/wtmux/conflicts")).unwrap();
    let (cold, merged) = conflicts();
    assert_eq!(merged, 4);
    assert_eq!(warm["pairs"], cold["pairs"]);
}

/// A worktree on a branch that shares no history with base (`git worktree add --orphan`, a
/// branch made by plain git): the scope guard, the popup's conflict marks and the merge queue
/// failed whole on it ("git: no merge base found"), so one such worktree stopped every merge.
/// Now its changes are all its files, its pairs are git's merge from an empty tree (as
/// `--allow-unrelated-histories` would merge them), it is not green because it shares no
/// history with base, and `merge` refuses it in one line.
#[test]
fn a_branch_without_history_in_common_with_base_is_left_alone_and_the_rest_merges() {
    let repo = TestRepo::with_config("[[check]]\nname = \"ok\"\nrun = \"true\"\n");
    repo.write("shared.txt", LINES);
    repo.commit_all("shared");
    branch(&repo, "related", &[], &[("shared.txt", b"related\n")]);
    let orphan = repo.path(".worktrees/orphan");
    repo.git(&[
        "worktree",
        "add",
        "-q",
        "--orphan",
        "-b",
        "orphan",
        orphan.to_str().unwrap(),
    ]);
    write_file(&orphan.join("shared.txt"), "from nowhere\n");
    write_file(&orphan.join("own.txt"), "own\n");
    repo.git_in(&orphan, &["add", "-A"]);
    repo.git_in(&orphan, &["commit", "-q", "-m", "a history of its own"]);
    repo.wtmux(&["check", "--all", "--wait"]).ok();

    let report = report(&repo);
    let row = changed(&report, "orphan");
    assert_eq!(
        strings(&row["files"]),
        ["own.txt", "shared.txt"],
        "{report}"
    );
    assert_eq!(row["not_green"]["reason"], "unrelated_history", "{report}");
    assert_eq!(changed(&report, "related")["green"], true, "{report}");
    let both = pair(&report, "orphan", "related").expect("they overlap");
    assert_eq!(
        strings(&both["conflicts"]),
        ["shared.txt"],
        "add/add: {report}"
    );

    let before = repo.snapshot();
    let err = repo.wtmux(&["merge", "orphan", "--force"]).refused();
    assert!(err.contains("shares no history with base"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert_eq!(repo.snapshot(), before, "nothing changed");

    let run = repo.wtmux(&["merge", "--all-green"]);
    assert_eq!(run.code(), 0, "{}{}", run.stdout(), run.stderr());
    assert!(
        left_out_line(&run.stderr(), "orphan").contains("shares no history with base"),
        "{}",
        run.stderr()
    );
    assert_eq!(
        std::fs::read_to_string(repo.path("shared.txt")).unwrap(),
        "related\n"
    );
    assert!(orphan.exists(), "left alone");
}

/// A merge takes the branch as it was planned; an agent that commits or writes in the worktree
/// meanwhile (here while the result is built, paused there) must not see that work removed
/// with the worktree: the merge stands, and worktree and branch stay, with what the merge did
/// not take, and the queue says so. Without the guard, the cleanup put the new commit and the
/// new file in the trash, deleted the branch, and said nothing.
#[test]
fn a_worktree_that_changes_while_it_is_merged_is_kept_with_what_the_merge_did_not_take() {
    let repo = repo();
    branch(&repo, "busy", &[], &[("busy.txt", b"first\n")]);
    branch(&repo, "calm", &[], &[("calm.txt", b"calm\n")]);
    let busy = repo.worktree("busy");
    let merged_tip = repo.git(&["rev-parse", "busy"]);
    let pause = common::Pause::new(&repo, "queue");
    let mut queue = common::spawn_with(
        &repo,
        &repo.root,
        &[("WTMUX_TEST_PAUSE", &pause.at("merge.built"))],
        &["merge", "--all-green"],
    );
    // busy merges first (first by name among equals): paused at its build.
    assert_eq!(pause.reached(&mut queue), "merge.built");
    write_file(&busy.join("next.txt"), "the agent's next commit\n");
    repo.git_in(&busy, &["add", "-A"]);
    repo.git_in(&busy, &["commit", "-q", "-m", "next step"]);
    write_file(&busy.join("wip.txt"), "still writing\n");
    let new_tip = repo.git(&["rev-parse", "busy"]);
    pause.release();
    // Then at calm's.
    assert_eq!(pause.reached(&mut queue), "merge.built");
    pause.release();
    let out = common::finish(queue, 120);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("merged busy into main"), "{stdout}");
    assert!(
        repo.git(&["merge-base", "--is-ancestor", &merged_tip, "main"])
            .is_empty(),
        "the planned tip is in base"
    );
    assert!(!repo.path("next.txt").exists(), "the new commit is not");
    assert!(
        stderr.contains("kept busy (worktree, branch and window): it changed while it was merged (1 new commit (")
            && stderr.contains("next step")
            && stderr.contains("1 uncommitted file (wip.txt)"),
        "{stderr}"
    );
    assert!(busy.join("wip.txt").exists(), "the worktree stays");
    assert_eq!(
        repo.git(&["rev-parse", "busy"]),
        new_tip,
        "the branch stays"
    );
    assert!(
        !repo.worktree("calm").exists(),
        "an unchanged one is removed"
    );
    assert!(
        repo.wtmux(&["trash"])
            .ok()
            .lines()
            .all(|l| !l.contains("busy")),
        "nothing of busy went to the trash"
    );
}

/// The base worktree follows a merge with `git read-tree -m -u`, which takes a file whose stat
/// data changed (touched, saved unchanged, copied with `cp -a`) for a local change and refuses:
/// a clean base refused every merge touching that file ("cannot take the result") until
/// something ran `git status`. The merge refreshes the index first, as `git merge` does.
#[test]
fn a_touched_but_unchanged_file_in_base_does_not_stop_a_merge() {
    let repo = repo();
    branch(&repo, "edit", &[], &[("hot.txt", b"edited\n")]);
    let touched = std::process::Command::new("touch")
        .args(["-d", "2020-01-01 00:00:00"])
        .arg(repo.path("hot.txt"))
        .status()
        .unwrap();
    assert!(touched.success());
    let run = repo.wtmux(&["merge", "edit"]);
    assert_eq!(run.code(), 0, "{}{}", run.stdout(), run.stderr());
    assert_eq!(
        std::fs::read_to_string(repo.path("hot.txt")).unwrap(),
        "edited\n"
    );
    assert_eq!(repo.git(&["status", "--porcelain"]), "");
}

/// The queue says what each merge did after base moved, as `merge` does: a worktree it could
/// not clean up (made by plain git outside worktree_dir), the removals; and exits 1 when a
/// cleanup failed (it exited 0 and said nothing).
#[test]
fn all_green_reports_each_merges_cleanup() {
    let repo = repo();
    branch(&repo, "managed", &[], &[("m.txt", b"m\n")]);
    let outside = repo.dir.path().join("by-hand");
    repo.git(&[
        "worktree",
        "add",
        "-q",
        "-b",
        "by-hand",
        outside.to_str().unwrap(),
    ]);
    write_file(&outside.join("h.txt"), "h\n");
    repo.git_in(&outside, &["add", "-A"]);
    repo.git_in(&outside, &["commit", "-q", "-m", "by hand"]);
    let run = repo.wtmux(&["merge", "--all-green"]);
    assert_eq!(run.code(), 1, "{}{}", run.stdout(), run.stderr());
    assert!(
        run.stdout().contains("merged by-hand into main"),
        "{}",
        run.stdout()
    );
    assert!(
        run.stdout().contains("merged managed into main"),
        "{}",
        run.stdout()
    );
    assert!(
        run.stdout().contains("removed worktree") && run.stdout().contains("managed"),
        "{}",
        run.stdout()
    );
    assert!(
        run.stderr().contains("merged, but cleanup failed")
            && run.stderr().contains("outside .worktrees"),
        "{}",
        run.stderr()
    );
    assert!(repo.path("m.txt").exists() && repo.path("h.txt").exists());
    assert_eq!(repo.git(&["status", "--porcelain"]), "");
}

/// The queue merges green branches only: `--commit` (one message for every worktree's work)
/// and `--force` (nothing to force) would be silently ignored, so they are usage errors.
#[test]
fn all_green_refuses_commit_and_force_as_usage_errors() {
    let repo = repo();
    branch(&repo, "one", &[], &[("one.txt", b"1\n")]);
    for extra in [&["--commit", "wip"][..], &["--force"][..]] {
        let mut args = vec!["merge", "--all-green"];
        args.extend(extra);
        let run = repo.wtmux(&args);
        assert_eq!(run.code(), 2, "{extra:?}: {}", run.stderr());
        assert_eq!(run.stderr().lines().count(), 1, "{}", run.stderr());
    }
    assert!(repo.worktree("one").exists(), "nothing merged");
}

/// Every worktree the queue leaves alone is named with the reason, also those the scope guard
/// does not look at: a detached HEAD (with a commit base lacks), a branch without commits,
/// a worktree whose directory is gone. They were left out silently.
#[test]
fn all_green_names_worktrees_without_a_branch_to_merge() {
    let repo = repo();
    branch(&repo, "detached", &[], &[("d.txt", b"d\n")]);
    repo.git_in(&repo.worktree("detached"), &["checkout", "-q", "--detach"]);
    let unborn = repo.dir.path().join("unborn");
    repo.git(&[
        "worktree",
        "add",
        "-q",
        "--orphan",
        "-b",
        "unborn",
        unborn.to_str().unwrap(),
    ]);
    repo.wtmux(&["add", "gone", "--no-window"]).ok();
    std::fs::rename(repo.worktree("gone"), repo.dir.path().join("moved-away")).unwrap();
    branch(&repo, "green", &[], &[("g.txt", b"g\n")]);
    let run = repo.wtmux(&["merge", "--all-green"]);
    assert_eq!(run.code(), 0, "{}{}", run.stdout(), run.stderr());
    assert!(
        run.stdout().contains("merged green into main"),
        "{}",
        run.stdout()
    );
    let err = run.stderr();
    let line = |what: &str| {
        err.lines()
            .find(|l| l.starts_with("wtmux: not merging ") && l.contains(what))
            .unwrap_or_else(|| panic!("{what} is not listed: {err}"))
            .to_string()
    };
    assert!(line(".worktrees/detached").contains("its HEAD is detached"));
    assert!(line("unborn").contains("no commit yet"));
    assert!(line("gone").contains("its directory is gone"));
    assert!(!repo.path("d.txt").exists());
}

/// Green branches whose merges are all refused (base has uncommitted changes) are not "no green
/// branch": the queue says it merged nothing, lists each, and exits 1.
#[test]
fn all_green_with_every_merge_refused_does_not_say_there_was_no_green_branch() {
    let repo = repo();
    branch(&repo, "one", &[], &[("one.txt", b"1\n")]);
    repo.write("alone.txt", "edited in base\n");
    let run = repo.wtmux(&["merge", "--all-green"]);
    assert_eq!(run.code(), 1, "{}{}", run.stdout(), run.stderr());
    assert!(
        !run.stdout().contains("no green branch"),
        "{}",
        run.stdout()
    );
    assert!(run.stdout().contains("merged nothing"), "{}", run.stdout());
    let line = left_out_line(&run.stderr(), "one");
    assert!(
        line.contains("its merge was refused") && line.contains("uncommitted"),
        "{line}"
    );
    // Said once: the refusal's own "not merging one into main" is not repeated inside it.
    assert_eq!(line.matches("not merging").count(), 1, "{line}");
}

/// `--verify` with a check run already going on older content (the agent committed after it
/// started): the queue waits for it, then checks the current content and merges it. It left
/// the worktree out as "not run on its current content", having verified nothing.
#[test]
fn all_green_verify_checks_the_current_content_after_a_run_on_older_content() {
    let scratch = tempfile::tempdir().unwrap();
    let go = scratch.path().join("go");
    let repo = TestRepo::with_config(&format!(
        "[[check]]\nname = \"gated\"\nrun = \"while [ ! -e '{}' ]; do sleep 0.05; done\"\n",
        go.display()
    ));
    branch(&repo, "feat", &[], &[("a.txt", b"a\n")]);
    repo.wtmux(&["check", "feat"]).ok();
    common::wait_until(20, "the first run to be going", || {
        repo.check_state("feat") == "running"
    });
    let feat = repo.worktree("feat");
    write_file(&feat.join("b.txt"), "b\n");
    repo.git_in(&feat, &["add", "-A"]);
    repo.git_in(&feat, &["commit", "-q", "-m", "more"]);
    let pause = common::Pause::new(&repo, "verify");
    let mut queue = common::spawn_with(
        &repo,
        &repo.root,
        &[("WTMUX_TEST_PAUSE", &pause.at("queue.verifying.1"))],
        &["merge", "--all-green", "--verify"],
    );
    // The queue found the run going on the older content and waits for it.
    assert_eq!(pause.reached(&mut queue), "queue.verifying.1");
    pause.release();
    write_file(&go, "");
    let out = common::finish(queue, 120);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("merged feat into main"), "{stdout}{stderr}");
    assert!(repo.path("b.txt").exists());
}

/// A branch merged by squash and kept (`merge --strategy squash --keep`) has commits base
/// lacks, yet everything it changed is in base already: it is not green, so the queue does
/// not merge it again (it made an empty merge commit each time).
#[test]
fn a_branch_whose_changes_are_all_in_base_already_is_not_merged_again() {
    let repo = TestRepo::with_config("[[check]]\nname = \"ok\"\nrun = \"true\"\n");
    branch(&repo, "squashed", &[], &[("feature.txt", b"feature\n")]);
    repo.wtmux(&["check", "--all", "--wait"]).ok();
    repo.wtmux(&["merge", "squashed", "--strategy", "squash", "--keep"])
        .ok();
    let merged = repo.git(&["rev-parse", "main"]);

    let first = report(&repo);
    assert_eq!(
        changed(&first, "squashed")["not_green"]["reason"],
        "already_in_base",
        "{first}"
    );
    let run = repo.wtmux(&["merge", "--all-green"]);
    assert!(
        left_out_line(&run.stderr(), "squashed").contains("already in base"),
        "{}{}",
        run.stdout(),
        run.stderr()
    );
    assert_eq!(repo.git(&["rev-parse", "main"]), merged, "no merge again");

    // A new change on the branch makes it green again.
    let path = repo.worktree("squashed");
    write_file(&path.join("more.txt"), "more\n");
    repo.git_in(&path, &["add", "-A"]);
    repo.git_in(&path, &["commit", "-q", "-m", "more"]);
    repo.wtmux(&["check", "--all", "--wait"]).ok();
    assert_eq!(changed(&report(&repo), "squashed")["green"], true);
}
