//! Java `.properties` text (`java.util.Properties.load`), the syntax of
//! Kafka's `server.properties`.
//!
//! Lines starting (after blanks) with `#` or `!` are comments; a key ends at
//! the first unescaped `=`, `:` or blank; a line ending in an odd number of
//! backslashes continues on the next, whose leading blanks are dropped;
//! `\t`, `\n`, `\r`, `\f` and `\uXXXX` are escapes and `\` before any other
//! character stands for that character. Unlike Java, values are trimmed at
//! the end too, as Kafka's `ConfigDef` trims every value it parses.

use super::ConfigError;

/// One `key=value` pair and the (first) line it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Property {
    /// The key, unescaped.
    pub key: String,
    /// The value, unescaped and trimmed.
    pub value: String,
    /// 1-based line number where the pair starts.
    pub line: usize,
}

/// Parse properties text into its pairs, in file order (a later duplicate
/// wins when the caller collects them into a map, as in Java).
pub fn parse_properties(text: &str) -> Result<Vec<Property>, ConfigError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines: Vec<&str> = text.split('\n').map(|l| l.trim_end_matches('\r')).collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let start = i;
        let (logical, next) = logical_line(&lines, i);
        i = next;
        if let Some(property) = split_pair(&logical, start + 1)? {
            out.push(property);
        }
    }
    Ok(out)
}

/// Is `c` a blank in Java's sense (space, tab, form feed)?
fn is_blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\u{c}')
}

/// The logical line starting at `lines[i]`, with continuations joined, and
/// the index of the line after it. Comment and blank lines come back empty
/// (a comment line never continues, as in Java).
fn logical_line(lines: &[&str], mut i: usize) -> (String, usize) {
    let first = lines[i].trim_start_matches(is_blank);
    if first.is_empty() || first.starts_with('#') || first.starts_with('!') {
        return (String::new(), i + 1);
    }
    let mut logical = String::new();
    let mut part = first;
    loop {
        i += 1;
        let continues = ends_in_odd_backslashes(part);
        if !continues {
            logical.push_str(part);
            return (logical, i);
        }
        logical.push_str(&part[..part.len() - 1]);
        match lines.get(i) {
            Some(next) => part = next.trim_start_matches(is_blank),
            None => return (logical, i),
        }
    }
}

fn ends_in_odd_backslashes(s: &str) -> bool {
    s.bytes().rev().take_while(|&b| b == b'\\').count() % 2 == 1
}

/// Split a logical line into an unescaped, trimmed key and value; `None`
/// for an empty line.
fn split_pair(logical: &str, line: usize) -> Result<Option<Property>, ConfigError> {
    if logical.is_empty() {
        return Ok(None);
    }
    let key_end = key_end(logical);
    let rest = logical[key_end..].trim_start_matches(is_blank);
    let rest = rest
        .strip_prefix(['=', ':'])
        .map_or(rest, |r| r.trim_start_matches(is_blank));
    let key = unescape(&logical[..key_end], line)?;
    let value = unescape(rest, line)?;
    Ok(Some(Property {
        key: key.trim().to_string(),
        value: value.trim().to_string(),
        line,
    }))
}

/// Byte index where the key ends: the first `=`, `:` or blank not escaped.
fn key_end(logical: &str) -> usize {
    let mut escaped = false;
    for (pos, c) in logical.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == '=' || c == ':' || is_blank(c) {
            return pos;
        }
    }
    logical.len()
}

/// Resolve Java's escapes.
fn unescape(s: &str, line: usize) -> Result<String, ConfigError> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\u{c}'),
            Some('u') => out.push(unicode_escape(&mut chars, line)?),
            Some(other) => out.push(other),
            None => {}
        }
    }
    Ok(out)
}

/// The four hex digits after `\u` (Java: "Malformed \uxxxx encoding").
fn unicode_escape(chars: &mut std::str::Chars<'_>, line: usize) -> Result<char, ConfigError> {
    let hex: String = chars.by_ref().take(4).collect();
    let code = (hex.len() == 4)
        .then(|| u32::from_str_radix(&hex, 16).ok())
        .flatten();
    code.and_then(char::from_u32)
        .ok_or_else(|| ConfigError::Syntax {
            line,
            reason: format!("malformed \\u escape \\u{hex}"),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(text: &str) -> Vec<(String, String)> {
        parse_properties(text)
            .unwrap()
            .into_iter()
            .map(|p| (p.key, p.value))
            .collect()
    }

    fn kv(k: &str, v: &str) -> (String, String) {
        (k.to_string(), v.to_string())
    }

    #[test]
    fn separators_comments_and_blanks() {
        let text = "# c\n! c\n\n  a=1\nb : 2\nc 3\nd\te=4\n f = 5 \ng=\nh\n";
        assert_eq!(
            pairs(text),
            vec![
                kv("a", "1"),
                kv("b", "2"),
                kv("c", "3"),
                kv("d", "e=4"),
                kv("f", "5"),
                kv("g", ""),
                kv("h", ""),
            ]
        );
    }

    #[test]
    fn continuation_and_escapes() {
        let text = "list=a,\\\n    b,\\\r\n  c\nk\\=x=\\u0041\\t\\\\\\q\nend=\\\n";
        assert_eq!(
            pairs(text),
            vec![kv("list", "a,b,c"), kv("k=x", "A\t\\q"), kv("end", "")]
        );
    }

    #[test]
    fn comment_lines_do_not_continue_and_lines_are_counted() {
        let props = parse_properties("#x\\\na=1\nb=2\\\n3\nc=4").unwrap();
        let lines: Vec<_> = props.iter().map(|p| (p.key.as_str(), p.line)).collect();
        assert_eq!(lines, vec![("a", 2), ("b", 3), ("c", 5)]);
        assert_eq!(props[1].value, "23");
    }

    #[test]
    fn bad_unicode_escape_is_an_error() {
        let err = parse_properties("a=1\nb=\\u12").unwrap_err();
        assert_eq!(err.to_string(), "line 2: malformed \\u escape \\u12");
        assert!(parse_properties("b=\\uD800").is_err());
    }

    #[test]
    fn byte_order_mark_and_crlf() {
        assert_eq!(
            pairs("\u{feff}a=1\r\nb=2\r\n"),
            vec![kv("a", "1"), kv("b", "2")]
        );
    }
}
