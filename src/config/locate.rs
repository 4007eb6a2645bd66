//! Where in the config file a problem is: `path:line:col` for every config error
//! (docs/configuration.md). TOML syntax and type errors carry their own place; a problem found
//! after parsing carries the dotted key it is about (`sources.jelou.secret`), which is looked
//! up in the text with `toml_edit`'s spans. A key that is not written (a default) is placed at
//! the deepest part of it that is, and a key with no part written at line 1.

use toml_edit::{ImDocument, TableLike};

/// 1-based line and column of a byte offset in `text`.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..floor_char_boundary(text, offset)];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// The byte offset of a dotted key (`sources.jelou.secret`), or of the deepest part of it
/// that is written.
pub fn key_offset(text: &str, dotted: &str) -> Option<usize> {
    let document = ImDocument::parse(text).ok()?;
    let mut table: &dyn TableLike = document.as_table();
    let mut found = None;
    for segment in dotted.split('.') {
        let Some((key, item)) = table.get_key_value(segment) else {
            break;
        };
        found = key.span().map(|s| s.start).or(found);
        match item.as_table_like() {
            Some(inner) => table = inner,
            None => break,
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "[server]\nlisten = \"x\"\n\n[sources.jelou]\nkind = \"jelou\"\nsecret = \"\"\n\n[delivery]\ntimeout_ms = 0\n";

    #[test]
    fn keys_are_found_at_their_line_and_column() {
        let cases = [
            ("server.listen", Some((2, 1))),
            ("sources.jelou.secret", Some((6, 1))),
            ("sources.jelou", Some((4, 10))),
            ("delivery.timeout_ms", Some((9, 1))),
            // Not written: the deepest part that is.
            ("delivery.backoff_base_ms", Some((8, 2))),
            ("logging.format", None),
        ];
        for (key, expected) in cases {
            let got = key_offset(TEXT, key).map(|o| line_col(TEXT, o));
            assert_eq!(got, expected, "{key}");
        }
    }
}
