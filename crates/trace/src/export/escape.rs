//! Escaping for each output format. Addresses, labels and reasons are untrusted input (label
//! files come from third parties), so every piece of text goes through one of these.

/// One CSV field (RFC 4180): quoted when it holds a comma, quote, CR or LF, quotes doubled.
/// A field starting with `=`, `+`, `-` or `@` is also quoted, but kept as it is: the file stays
/// exact, and spreadsheet users should import it as text.
pub(crate) fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\r', '\n']) || s.starts_with(['=', '+', '-', '@']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Text inside a DOT double-quoted string: backslash and quote escaped (so `\N`, `\G` and `\l`
/// in untrusted text stay literal), line breaks become DOT's `\n`, other control characters a space.
pub(crate) fn dot_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Text for XML content and attribute values. Characters XML 1.0 forbids (most C0 controls)
/// become U+FFFD, so the document stays well-formed whatever a label holds.
pub(crate) fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// Text for HTML content and quoted attribute values (also used inside the inline SVG).
pub(crate) fn html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && !matches!(c, '\t' | '\n') => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// Shortens `s` to at most `max` characters, keeping both ends (`bc1qxy…0wlh`).
pub(crate) fn shorten(s: &str, max: usize) -> String {
    let n = s.chars().count();
    if n <= max || max < 5 {
        return s.to_string();
    }
    let head = (max - 1) / 2 + (max - 1) % 2;
    let tail = (max - 1) / 2;
    let start: String = s.chars().take(head).collect();
    let end: String = s.chars().skip(n - tail).collect();
    format!("{start}…{end}")
}

/// Cuts `s` to at most `max` characters, ending with `…` when cut (for labels and reasons,
/// whose start says most).
pub(crate) fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max || max < 2 {
        return s.to_string();
    }
    let head: String = s.chars().take(max - 1).collect();
    format!("{head}…")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_commas_quotes_and_newlines() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("two\nlines"), "\"two\nlines\"");
        assert_eq!(csv_field("cr\rhere"), "\"cr\rhere\"");
        assert_eq!(csv_field("=HYPERLINK(1)"), "\"=HYPERLINK(1)\"");
        assert_eq!(csv_field(""), "");
    }

    #[test]
    fn dot_strings_keep_backslash_escapes_literal() {
        assert_eq!(dot_str(r#"a "b" \N"#), r#"a \"b\" \\N"#);
        assert_eq!(dot_str("x\ny"), "x\\ny");
        assert_eq!(dot_str("bell\u{7}"), "bell ");
    }

    #[test]
    fn xml_escapes_markup_and_drops_forbidden_controls() {
        assert_eq!(
            xml("<a href='x'>&\"</a>"),
            "&lt;a href=&apos;x&apos;&gt;&amp;&quot;&lt;/a&gt;"
        );
        assert_eq!(xml("nul\u{0}esc\u{1b}"), "nul\u{FFFD}esc\u{FFFD}");
    }

    #[test]
    fn html_escapes_script_tags() {
        assert_eq!(
            html("<script>alert('x')</script>"),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"
        );
    }

    #[test]
    fn shortens_keeping_both_ends() {
        assert_eq!(shorten("abcdefghij", 7), "abc…hij");
        assert_eq!(shorten("abcdefghij", 8), "abcd…hij");
        assert_eq!(shorten("abc", 7), "abc");
    }

    #[test]
    fn truncates_keeping_the_start() {
        assert_eq!(truncate("exchange deposit", 10), "exchange …");
        assert_eq!(truncate("short", 10), "short");
    }
}
