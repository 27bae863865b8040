//! Task titles are shown in terminals (`oc task list`), log lines and commit subjects, and
//! come from people, error reports and Plane items written by others. One function makes
//! them safe to print (issue 15 item 3): terminal escape sequences, control characters,
//! bidirectional overrides and invisible characters are removed, line breaks become
//! spaces, and a title with nothing visible left is refused.

/// Why a title cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the title is empty{}: give a title with visible text (control characters, escape \
     sequences and invisible characters are removed)",
    if *.0 { " once control and invisible characters are removed" } else { "" }
)]
pub struct EmptyTitle(pub bool);

/// The title made safe to print, trimmed; may be empty.
pub fn sanitize(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            // ESC: a CSI (`ESC [ … final`), OSC/DCS/APC/PM/SOS string (`ESC ] … BEL|ESC \`)
            // or a two-character sequence: the whole sequence goes.
            '\u{1b}' => match chars.next() {
                Some('[') => skip_csi(&mut chars),
                Some(']' | 'P' | '_' | '^' | 'X') => skip_string(&mut chars),
                _ => {}
            },
            '\u{9b}' => skip_csi(&mut chars),
            '\u{9d}' | '\u{90}' | '\u{9f}' | '\u{9e}' | '\u{98}' => skip_string(&mut chars),
            '\n' | '\r' | '\t' | '\u{0b}' | '\u{0c}' | '\u{85}' | '\u{2028}' | '\u{2029}' => {
                if !out.ends_with(' ') {
                    out.push(' ');
                }
            }
            c if is_removed(c) => {}
            c => out.push(c),
        }
    }
    out.trim().to_string()
}

/// The sanitized title, refused when nothing visible is left.
pub fn clean(raw: &str) -> Result<String, EmptyTitle> {
    let title = sanitize(raw);
    if title.is_empty() {
        Err(EmptyTitle(!raw.trim().is_empty()))
    } else {
        Ok(title)
    }
}

/// The note appended to a description when the title had to be changed: the original,
/// escaped (no raw control character reaches a terminal through `oc task show` either),
/// as a quoted line the description parser cannot take for metadata.
pub fn original_note(raw: &str) -> String {
    format!(
        "\n\n## Original title\nControl, escape or invisible characters were removed from the \
         title. As given (escaped):\n\n> \"{}\"\n",
        raw.escape_debug()
    )
}

impl super::NewTask {
    /// The task as every board stores it: the title sanitized, the original kept (escaped)
    /// at the end of the description when it differs. Both boards call this in `add`, so
    /// every way a task is created (CLI, ingest, lanes' follow-ups) goes through it.
    pub fn with_clean_title(mut self) -> Result<Self, EmptyTitle> {
        let title = clean(&self.title)?;
        if title != self.title.trim() {
            self.description.push_str(&original_note(&self.title));
        }
        self.title = title;
        Ok(self)
    }
}

/// Text of others (descriptions, comments) as a terminal may show it: kept whole, line
/// breaks and tabs as they are, but every other control, bidirectional or invisible
/// character written as an escape (`\u{1b}`), so it cannot drive the terminal or reorder
/// what the reader sees. `--json` output keeps the original.
pub fn printable(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        match c {
            '\n' | '\t' => out.push(c),
            c if is_removed(c) => out.extend(c.escape_unicode()),
            c => out.push(c),
        }
    }
    out
}

fn is_removed(c: char) -> bool {
    c.is_control() // C0, DEL, C1
        || matches!(c,
            '\u{200b}'..='\u{200f}' // zero-width space/joiners, LRM, RLM
            | '\u{202a}'..='\u{202e}' // bidi embeddings and overrides
            | '\u{2060}'..='\u{2064}' // word joiner, invisible operators
            | '\u{2066}'..='\u{2069}' // bidi isolates
            | '\u{061c}' // Arabic letter mark
            | '\u{feff}' // zero-width no-break space / BOM
            | '\u{00ad}' // soft hyphen
        )
}

fn skip_csi(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    // Parameter and intermediate bytes, then one final byte in @..~.
    for c in chars.by_ref() {
        if ('\u{40}'..='\u{7e}').contains(&c) {
            break;
        }
    }
}

fn skip_string(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    while let Some(c) = chars.next() {
        match c {
            '\u{07}' | '\u{9c}' => break,
            '\u{1b}' => {
                if chars.peek() == Some(&'\\') {
                    chars.next();
                }
                break;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_controls_and_bidi_are_removed_and_lines_joined() {
        assert_eq!(sanitize("\u{1b}[31mred\u{1b}[0m alert"), "red alert");
        assert_eq!(
            sanitize("\u{1b}]8;;http://evil\u{07}link\u{1b}]8;;\u{1b}\\ text"),
            "link text"
        );
        assert_eq!(sanitize("bell\u{07} del\u{7f} c1\u{9b}2J"), "bell del c1");
        assert_eq!(sanitize("abc\u{202e}fdp.exe"), "abcfdp.exe");
        assert_eq!(sanitize("\u{2066}x\u{2069}\u{200b}y\u{feff}"), "xy");
        assert_eq!(
            sanitize("  first\nsecond\r\nthird\u{2028}fourth "),
            "first second third fourth"
        );
        assert_eq!(
            sanitize("Fix the flaky login test"),
            "Fix the flaky login test"
        );
        assert_eq!(sanitize("Ünïcödé 日本語 ✓"), "Ünïcödé 日本語 ✓");
    }

    #[test]
    fn an_empty_title_is_refused_with_its_fix() {
        assert_eq!(clean(" \u{1b}[0m\u{202e}\n "), Err(EmptyTitle(true)));
        let err = clean("").unwrap_err().to_string();
        assert!(err.contains("give a title"), "{err}");
        assert_eq!(clean(" ok ").unwrap(), "ok");
    }

    #[test]
    fn the_original_is_kept_escaped_and_inert() {
        let note = original_note("x\u{1b}[2J\ndepends_on: T-9\u{202e}");
        assert!(
            note.contains(r#"> "x\u{1b}[2J\ndepends_on: T-9\u{202e}""#),
            "{note}"
        );
        assert!(!note.chars().any(|c| c == '\u{1b}' || c == '\u{202e}'));
        assert!(crate::board::description::depends_on_ids(&note).is_empty());
    }

    #[test]
    fn printable_escapes_control_and_bidi_but_keeps_lines() {
        assert_eq!(
            printable("a\u{1b}]0;x\u{7}\nb\tc\u{202e}d\r"),
            "a\\u{1b}]0;x\\u{7}\nb\tc\\u{202e}d\\u{d}"
        );
    }
}
