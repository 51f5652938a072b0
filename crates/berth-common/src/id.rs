//! The container-ID rule, the same in every layer: an ID the runtime accepts is usable by the
//! image store and the network store when the people face creates the container.

/// Longest ID, in bytes. runc allows 1,024, but every layer makes a file or directory named
/// by the ID (the state directory, the image store's `containers/<id>`, the network store's
/// attachment marker) and a file name holds at most 255 bytes (NAME_MAX); a longer ID could
/// only fail later, at mkdir.
pub const MAX_LEN: usize = 255;

/// The rule as people read it, for error messages.
pub const RULE: &str = "1-255 of letters, digits, '_', '+', '-' and '.', not \".\" or \"..\"";

/// runc's rule (`^[\w+\-.]+$`, not "." or "..") bounded to [`MAX_LEN`] bytes. An ID is then
/// always a single path component that stays inside its directory.
pub fn is_valid(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_LEN
        && id != "."
        && id != ".."
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'+' | b'-' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_runc_rules_within_a_file_name() {
        for ok in [
            "a",
            "my-container_1.2+x",
            ".hidden",
            "..a",
            &"x".repeat(MAX_LEN),
        ] {
            assert!(is_valid(ok), "{ok:?} refused");
        }
        let long = "x".repeat(MAX_LEN + 1);
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "a b",
            "a#b",
            "é",
            "a\0",
            long.as_str(),
        ] {
            assert!(!is_valid(bad), "{bad:?} accepted");
        }
    }
}
