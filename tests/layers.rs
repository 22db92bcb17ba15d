//! The core's imports point one way: `core::plumbing` (git, tmux, state, config, the Worktree
//! model, the watches) never imports a workflow module, and no module of the core imports one
//! that imports it back, directly or round a circle. A module here is a file of `src/core`, a
//! folder (`check/`, `merge/`, `agent/`) counting as one, except that every file of
//! `plumbing/` is its own. An import is any path in a module's code (comments, strings and its
//! test module left out) that starts with `crate::core::`, `super::` or `self::`; re-exports
//! (`pub use x::{Y}` in a `mod.rs`) are followed to where `Y` lives.

mod rust_source;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use rust_source::ident;

const CORE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src/core");

type ModPath = Vec<String>;

/// Every module of the core (its path below `core`) and its file.
fn find_modules(dir: &Path, at: &ModPath, out: &mut BTreeMap<ModPath, PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            let mut below = at.clone();
            below.push(name);
            find_modules(&path, &below, out);
        } else if let Some(stem) = name.strip_suffix(".rs") {
            let mut module = at.clone();
            if stem != "mod" {
                module.push(stem.to_string());
            }
            out.insert(module, path);
        }
    }
}

/// The paths a `use` or an expression names from `start`: `a::b`, or a `{…}` group of them.
fn paths_at(chars: &[char], start: usize) -> Vec<Vec<String>> {
    let mut segments = Vec::new();
    let mut i = start;
    loop {
        if chars.get(i) == Some(&'{') {
            // A group: each item is a path of its own below what came before.
            let mut depth = 0;
            let mut item_start = i + 1;
            let mut out = Vec::new();
            let mut j = i;
            while j < chars.len() {
                match chars[j] {
                    '{' => depth += 1,
                    '}' | ',' if depth == 1 => {
                        for tail in paths_at(chars, skip_space(chars, item_start)) {
                            let mut path: Vec<String> = segments.clone();
                            path.extend(tail.into_iter().filter(|s| s != "self"));
                            out.push(path);
                        }
                        item_start = j + 1;
                        if chars[j] == '}' {
                            break;
                        }
                    }
                    '}' => depth -= 1,
                    _ => {}
                }
                j += 1;
            }
            return out;
        }
        let end = (i..chars.len())
            .find(|&j| !ident(chars.get(j)))
            .unwrap_or(chars.len());
        if end == i {
            break;
        }
        segments.push(chars[i..end].iter().collect());
        if chars.get(end) == Some(&':') && chars.get(end + 1) == Some(&':') {
            i = end + 2;
        } else {
            break;
        }
    }
    vec![segments]
}

fn skip_space(chars: &[char], mut i: usize) -> usize {
    while chars.get(i).is_some_and(|c| c.is_whitespace()) {
        i += 1;
    }
    i
}

/// `pub use` re-exports of a mod.rs: name → the path it stands for (below `core`).
fn reexports(module: &ModPath, code: &str) -> Vec<(String, ModPath)> {
    let mut out = Vec::new();
    for statement in code.split(';') {
        let Some(at) = statement.find("pub use ") else {
            continue;
        };
        let chars: Vec<char> = statement[at + "pub use ".len()..].chars().collect();
        for path in paths_at(&chars, skip_space(&chars, 0)) {
            if let Some(name) = path.last() {
                let mut full = module.clone();
                full.extend(path.iter().cloned());
                out.push((name.clone(), full));
            }
        }
    }
    out
}

struct Tree {
    modules: BTreeMap<ModPath, PathBuf>,
    reexports: BTreeMap<(ModPath, String), ModPath>,
}

impl Tree {
    /// The module an absolute path (below `core`) lands in, following re-exports.
    fn resolve(&self, mut path: ModPath) -> ModPath {
        for _ in 0..10 {
            let n = (0..=path.len())
                .rev()
                .find(|n| self.modules.contains_key(&path[..*n]))
                .unwrap_or(0);
            let (module, rest) = (path[..n].to_vec(), path[n..].to_vec());
            match rest
                .first()
                .and_then(|name| self.reexports.get(&(module.clone(), name.clone())))
            {
                Some(target) if *target != path => {
                    let mut next = target.clone();
                    next.extend(rest[1..].iter().cloned());
                    path = next;
                }
                _ => return module,
            }
        }
        path
    }
}

/// The unit a module counts as: `plumbing/<file>` for the lower layer, else its first part.
fn unit(module: &ModPath) -> String {
    match module.as_slice() {
        [] => "core".into(),
        [first, second, ..] if first == "plumbing" => format!("plumbing/{second}"),
        [first, ..] => first.clone(),
    }
}

fn edges() -> BTreeMap<String, BTreeSet<String>> {
    let mut modules = BTreeMap::new();
    find_modules(Path::new(CORE), &Vec::new(), &mut modules);
    let mut tree = Tree {
        modules,
        reexports: BTreeMap::new(),
    };
    let codes: BTreeMap<ModPath, String> = tree
        .modules
        .iter()
        .map(|(m, file)| {
            (
                m.clone(),
                rust_source::scan(&std::fs::read_to_string(file).unwrap()).code,
            )
        })
        .collect();
    for (module, code) in &codes {
        if tree.modules[module].ends_with("mod.rs") {
            for (name, target) in reexports(module, code) {
                tree.reexports.insert((module.clone(), name), target);
            }
        }
    }
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, code) in &codes {
        let is_mod = tree.modules[module].ends_with("mod.rs");
        // Declarations and re-exports are the module tree, not dependencies.
        let code: String = code
            .split_inclusive(';')
            .filter(|s| {
                let s = s.trim_start();
                !(is_mod
                    && (s.starts_with("pub use ")
                        || s.starts_with("pub mod ")
                        || s.starts_with("mod ")))
            })
            .collect();
        let chars: Vec<char> = code.chars().collect();
        let from = unit(module);
        let mut i = 0;
        while i < chars.len() {
            if ident(chars.get(i.wrapping_sub(1))) || chars.get(i.wrapping_sub(1)) == Some(&':') {
                i += 1;
                continue;
            }
            let rest: String = chars[i..(i + 14).min(chars.len())].iter().collect();
            let (base, skip) = if rest.starts_with("crate::core::") {
                (Vec::new(), "crate::core::".len())
            } else if rest.starts_with("super::") || rest.starts_with("self::") {
                let mut base = module.clone();
                let mut j = i;
                if rest.starts_with("self::") {
                    j += "self::".len();
                } else {
                    while chars[j..].starts_with(&['s', 'u', 'p', 'e', 'r', ':', ':']) {
                        base.pop();
                        j += "super::".len();
                    }
                }
                (base, j - i)
            } else {
                i += 1;
                continue;
            };
            for path in paths_at(&chars, i + skip) {
                let mut full = base.clone();
                full.extend(path);
                let to = unit(&tree.resolve(full));
                if to != from {
                    edges.entry(from.clone()).or_default().insert(to);
                }
            }
            i += skip;
        }
    }
    edges
}

#[test]
fn plumbing_imports_nothing_of_the_workflow() {
    let wrong: Vec<String> = edges()
        .iter()
        .filter(|(from, _)| from.starts_with("plumbing"))
        .flat_map(|(from, to)| {
            to.iter()
                .filter(|to| !to.starts_with("plumbing"))
                .map(move |to| format!("{from} -> {to}"))
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "the lower layer imports upward: {wrong:?}"
    );
}

#[test]
fn no_module_of_the_core_imports_one_that_imports_it_back() {
    let edges = edges();
    assert!(
        edges.len() > 20,
        "the import scan found too little: {edges:?}"
    );
    // Depth-first search for a circle; report it as the modules round it.
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|n| n == node) {
            let mut circle = stack[at..].to_vec();
            circle.push(node.to_string());
            return Some(circle);
        }
        if done.contains(node) {
            return None;
        }
        stack.push(node.to_string());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(circle) = visit(next, edges, stack, done) {
                return Some(circle);
            }
        }
        stack.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for node in edges.keys() {
        if let Some(circle) = visit(node, &edges, &mut Vec::new(), &mut done) {
            panic!("an import circle: {}", circle.join(" -> "));
        }
    }
}
