//! Showing untrusted text in messages. A value from a config, an image or the command line can
//! be megabytes long or hold newlines: echoed whole, one bad capability name becomes a 4 MB
//! error line, and a newline in a value forges a second line in a log that containerd parses.
//! [`Shown`] bounds and escapes one value where it is formatted into an error; [`one_line`] is
//! the backstop where an error becomes a line (stderr, `--log`), for text that came through
//! other libraries' errors (serde's "unknown variant `…`" echoes the value).

use std::ffi::OsStr;
use std::fmt::{self, Display, Write};

/// At most this many characters of one value are shown, then "…".
pub const VALUE_MAX: usize = 200;
/// At most this many characters of one message line, then "…".
pub const LINE_MAX: usize = 1000;

/// Displays a value in double quotes, at most [`VALUE_MAX`] characters of it (escapes
/// included), with control characters, quotes and backslashes escaped (as `{:?}` does, but
/// bounded).
pub struct Shown<T>(pub T);

impl<T: AsRef<OsStr>> Display for Shown<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.0.as_ref().to_string_lossy();
        let mut shown = 0;
        let mut one = String::new();
        f.write_char('"')?;
        for c in text.chars() {
            one.clear();
            if matches!(c, '"' | '\\') {
                one.push('\\');
            }
            push_escaped(&mut one, c);
            let width = one.chars().count();
            if shown + width > VALUE_MAX {
                f.write_char('…')?;
                break;
            }
            f.write_str(&one)?;
            shown += width;
        }
        f.write_char('"')
    }
}

/// `msg` as one bounded line: control characters escaped, every run of more than
/// [`VALUE_MAX`] characters without a space cut to that many plus "…", and the whole line cut
/// at [`LINE_MAX`] characters plus "…" (lengths count the escapes). Spaces separate the words
/// of a message from the values in it.
pub fn one_line(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len().min(LINE_MAX + 16));
    let (mut word, mut shown) = (0usize, 0usize);
    let mut word_cut = false;
    let mut one = String::new();
    for c in msg.chars() {
        if c == ' ' {
            (word, word_cut) = (0, false);
        } else if word_cut {
            continue;
        }
        one.clear();
        push_escaped(&mut one, c);
        let mut width = one.chars().count();
        if word + width > VALUE_MAX {
            word_cut = true;
            one.clear();
            one.push('…');
            width = 1;
        }
        if shown + width > LINE_MAX {
            out.push('…');
            break;
        }
        out.push_str(&one);
        word += width;
        shown += width;
    }
    out
}

/// Pushes `c`, escaped (`\n`, `\u{1b}`…) when it is a control character or one that reorders
/// the text around it (bidi overrides), verbatim otherwise.
fn push_escaped(out: &mut String, c: char) {
    let bidi = matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
    if c.is_control() || bidi {
        out.extend(c.escape_default());
    } else {
        out.push(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_bounds_quotes_and_escapes_one_value() {
        assert_eq!(Shown("CAP_KILL").to_string(), "\"CAP_KILL\"");
        assert_eq!(Shown("a\nb\"c\\").to_string(), "\"a\\nb\\\"c\\\\\"");
        let long = "x".repeat(1 << 20);
        let s = Shown(&long).to_string();
        assert_eq!(s.chars().count(), VALUE_MAX + 3, "quotes + 200 chars + …");
        assert!(s.ends_with("…\""));
        assert_eq!(
            Shown(std::path::Path::new("/a\u{1b}[2J")).to_string(),
            "\"/a\\u{1b}[2J\""
        );
    }

    #[test]
    fn one_line_escapes_and_bounds_words_and_lines() {
        assert_eq!(one_line("plain message: \"v\""), "plain message: \"v\"");
        assert_eq!(one_line("a\nb\r\tc"), "a\\nb\\r\\tc");
        assert_eq!(one_line("x\u{202e}y"), "x\\u{202e}y");
        let huge = format!("unknown variant `{}`, expected", "A".repeat(4 << 20));
        let line = one_line(&huge);
        assert!(line.starts_with("unknown variant `AAA"));
        assert!(line.ends_with("… expected"), "{line}");
        assert!(line.chars().count() < VALUE_MAX + 40);
        let words = "word ".repeat(10_000);
        let line = one_line(&words);
        assert_eq!(line.chars().count(), LINE_MAX + 1);
        assert!(line.ends_with('…'));
        assert!(!one_line(&"é\n".repeat(5000)).contains('\n'));
    }
}
