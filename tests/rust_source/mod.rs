//! A Rust file read as text, for the tests that hold the source's shape (`layers.rs`,
//! `core_words.rs`): its code without comments, strings and chars, and its string literals.
//! Both leave out the file's test module.
#![allow(dead_code)] // each test binary that includes it reads part of it

/// A file split into its code and its string literals.
pub struct Scanned {
    /// The code without comments; every string literal is `""` and every char `' '`.
    pub code: String,
    /// Every string literal (raw ones too) with the line it starts on; a line continuation
    /// (`\` at a line's end) is dropped with the next line's leading spaces.
    pub literals: Vec<(usize, String)>,
}

pub fn scan(text: &str) -> Scanned {
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(at) => &text[..at],
        None => text,
    };
    let chars: Vec<char> = text.chars().collect();
    let mut code = String::with_capacity(text.len());
    let mut literals = Vec::new();
    // The line of `chars[counted]`.
    let (mut line, mut counted) = (1, 0);
    let mut line_at = |i: usize| {
        line += chars[counted..i].iter().filter(|c| **c == '\n').count();
        counted = i;
        line
    };
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            i += 2;
            while i + 1 < chars.len() && !(chars[i] == '*' && chars[i + 1] == '/') {
                i += 1;
            }
            i += 2;
        } else if c == 'r'
            && (next == Some('"') || next == Some('#'))
            && !ident(chars.get(i.wrapping_sub(1)))
        {
            // A raw string: r"…" or r#"…"#.
            let mut j = i + 1;
            let mut hashes = 0;
            while chars.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if chars.get(j) != Some(&'"') {
                code.push(c);
                i += 1;
                continue;
            }
            let at = line_at(i);
            let mut literal = String::new();
            j += 1;
            while j < chars.len() {
                if chars[j] == '"' && (0..hashes).all(|h| chars.get(j + 1 + h) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                literal.push(chars[j]);
                j += 1;
            }
            literals.push((at, literal));
            code.push_str("\"\"");
            i = j.min(chars.len());
        } else if c == '"' {
            let at = line_at(i);
            let mut literal = String::new();
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    if chars.get(i + 1) == Some(&'\n') {
                        i += 2;
                        while chars.get(i).is_some_and(|c| c.is_whitespace()) {
                            i += 1;
                        }
                        continue;
                    }
                    literal.push('\\');
                    i += 1;
                }
                if let Some(c) = chars.get(i) {
                    literal.push(*c);
                }
                i += 1;
            }
            i += 1;
            literals.push((at, literal));
            code.push_str("\"\"");
        } else if c == '\'' && (next == Some('\\') || chars.get(i + 2) == Some(&'\'')) {
            // A char literal (a lifetime has no closing quote two characters on).
            i += 1;
            while i < chars.len() && chars[i] != '\'' {
                if chars[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            code.push_str("' '");
        } else {
            code.push(c);
            i += 1;
        }
    }
    Scanned { code, literals }
}

pub fn ident(c: Option<&char>) -> bool {
    c.is_some_and(|c| c.is_alphanumeric() || *c == '_')
}
