//! The templates of tasks for agents (`handoff_template`, `coordinate_template`): their
//! placeholders and their validation.

/// The placeholders a `handoff_template` may use (filled in by `handoff::task`).
pub const HANDOFF_PLACEHOLDERS: &[&str] =
    &["branch", "base", "operation", "files", "commits", "finish"];

/// The placeholders a `coordinate_template` may use (filled in by `handoff::coordination`).
pub const COORDINATE_PLACEHOLDERS: &[&str] = &["branch", "base", "siblings", "files"];

/// Why a `handoff_template` cannot be used: a `{name}` that is not a placeholder.
pub fn validate_template(template: &str) -> std::result::Result<(), String> {
    validate_placeholders(template, HANDOFF_PLACEHOLDERS)
}

/// Why a `coordinate_template` cannot be used.
pub fn validate_coordinate_template(template: &str) -> std::result::Result<(), String> {
    validate_placeholders(template, COORDINATE_PLACEHOLDERS)
}

fn validate_placeholders(template: &str, known: &[&str]) -> std::result::Result<(), String> {
    for name in placeholders_in(template) {
        if !known.contains(&name) {
            return Err(format!(
                "unknown placeholder {{{name}}} (known: {})",
                known
                    .iter()
                    .map(|p| format!("{{{p}}}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    Ok(())
}

/// The `{word}` names in a template (letters and `_` between braces).
pub(crate) fn placeholders_in(template: &str) -> Vec<&str> {
    let mut names = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close)
                if close > 0
                    && after[..close]
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_') =>
            {
                names.push(&after[..close]);
                rest = &after[close + 1..];
            }
            _ => rest = after,
        }
    }
    names
}
