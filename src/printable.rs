//! Outside text shown on a terminal (CLI output and the popup): branch names, paths, file names,
//! commit subjects, agent pane tails, log lines. Control characters and escape sequences in them
//! would act on the terminal (set its title, clear the screen, forge a line), so they are shown
//! escaped instead: `\e`, `\n`, `\t`, `\x7f`, `\u{202e}`. JSON output is not passed through here:
//! serde_json escapes control characters itself, and the text stays exact.

use std::borrow::Cow;
use std::io::Write;

/// `text` with every character that would act on a terminal written as an escape.
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if !needs_escape(c) {
            out.push(c);
            continue;
        }
        match c {
            '\x1b' => out.push_str("\\e"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\0' => out.push_str("\\0"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            c if (c as u32) < 0x100 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
        }
    }
    Cow::Owned(out)
}

/// C0 and C1 controls and DEL (`char::is_control`), and the invisible characters that reorder
/// what follows them (bidirectional overrides and isolates: "Trojan source").
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        )
}

/// A writer that passes streamed output (a check's log) on line by line, each line made
/// [`printable`]; the newlines between lines stay. Call [`EscapingLines::finish`] at the end to
/// pass on a last line without a newline.
pub struct EscapingLines<W: Write> {
    inner: W,
    pending: Vec<u8>,
}

impl<W: Write> EscapingLines<W> {
    pub fn new(inner: W) -> Self {
        EscapingLines {
            inner,
            pending: Vec::new(),
        }
    }

    pub fn finish(mut self) -> std::io::Result<W> {
        if !self.pending.is_empty() {
            let line = std::mem::take(&mut self.pending);
            self.inner
                .write_all(printable(&String::from_utf8_lossy(&line)).as_bytes())?;
        }
        self.inner.flush()?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for EscapingLines<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.pending.extend_from_slice(buf);
        while let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            let text = String::from_utf8_lossy(&line[..end]);
            self.inner.write_all(printable(&text).as_bytes())?;
            self.inner.write_all(b"\n")?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed_as_it_is() {
        let text = "feat/login ✔ ünïcödé #(x) $(y) `z` 'q\"";
        assert!(matches!(printable(text), Cow::Borrowed(t) if t == text));
    }

    #[test]
    fn controls_and_escape_sequences_are_shown_escaped() {
        assert_eq!(
            printable("a\x1b]0;title\x07b\x1b[2Jc\nmerged x\r\t\0\x08\x7f\u{9b}\u{202e}d"),
            "a\\e]0;title\\ab\\e[2Jc\\nmerged x\\r\\t\\0\\b\\x7f\\x9b\\u{202e}d"
        );
    }

    #[test]
    fn escaped_text_holds_no_control_character_for_any_input() {
        // Every code point up to U+3000 and a sample beyond, one by one and all together.
        let all: String = (0u32..0x3000)
            .chain((0x3000u32..0x110000).step_by(97))
            .filter_map(char::from_u32)
            .collect();
        let shown = printable(&all);
        assert!(!shown.chars().any(needs_escape));
        for c in all.chars() {
            let one = c.to_string();
            assert!(!printable(&one).chars().any(needs_escape), "{c:?}");
        }
    }

    #[test]
    fn streamed_lines_are_escaped_and_their_newlines_kept() {
        let mut out = EscapingLines::new(Vec::new());
        out.write_all(b"ok 1\nbad \x1b[31m").unwrap();
        out.write_all(b"red\x1b[0m\nlast \xff").unwrap();
        let out = out.finish().unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "ok 1\nbad \\e[31mred\\e[0m\nlast \u{fffd}"
        );
    }
}
