//! Text normalisation of seed phrases.
//!
//! [`electrum_normalize`] follows Electrum's `mnemonic.normalize_text` (electrum/mnemonic.py):
//! NFKD, lower case, remove combining marks (Python `unicodedata.combining(c) != 0`, i.e. a
//! non-zero canonical combining class), collapse whitespace to single spaces, and remove a space
//! that stands between two CJK characters (Electrum's `CJK_INTERVALS` table, copied below).
//!
//! Known limit: lower-casing uses Rust's `char::to_lowercase`, which agrees with Python's
//! `str.lower()` for Latin, Greek, Cyrillic and CJK text; the rare special cases where the two
//! differ (e.g. final sigma) are not reproduced.

use unicode_normalization::{char::canonical_combining_class, UnicodeNormalization};

/// Electrum's CJK_INTERVALS (inclusive code point ranges), from electrum/mnemonic.py.
const CJK_INTERVALS: &[(u32, u32)] = &[
    (0x4E00, 0x9FFF),   // CJK Unified Ideographs
    (0x3400, 0x4DBF),   // CJK Unified Ideographs Extension A
    (0x20000, 0x2A6DF), // CJK Unified Ideographs Extension B
    (0x2A700, 0x2B73F), // CJK Unified Ideographs Extension C
    (0x2B740, 0x2B81F), // CJK Unified Ideographs Extension D
    (0xF900, 0xFAFF),   // CJK Compatibility Ideographs
    (0x2F800, 0x2FA1D), // CJK Compatibility Ideographs Supplement
    (0x3190, 0x319F),   // Kanbun
    (0x2E80, 0x2EFF),   // CJK Radicals Supplement
    (0x2F00, 0x2FDF),   // CJK Radicals
    (0x31C0, 0x31EF),   // CJK Strokes
    (0x2FF0, 0x2FFF),   // Ideographic Description Characters
    (0xE0100, 0xE01EF), // Variation Selectors Supplement
    (0x3100, 0x312F),   // Bopomofo
    (0x31A0, 0x31BF),   // Bopomofo Extended
    (0xFF00, 0xFFEF),   // Halfwidth and Fullwidth Forms
    (0x3040, 0x309F),   // Hiragana
    (0x30A0, 0x30FF),   // Katakana
    (0x31F0, 0x31FF),   // Katakana Phonetic Extensions
    (0x1B000, 0x1B0FF), // Kana Supplement
    (0xAC00, 0xD7AF),   // Hangul Syllables
    (0x1100, 0x11FF),   // Hangul Jamo
    (0xA960, 0xA97F),   // Hangul Jamo Extended A
    (0xD7B0, 0xD7FF),   // Hangul Jamo Extended B
    (0x3130, 0x318F),   // Hangul Compatibility Jamo
    (0xA4D0, 0xA4FF),   // Lisu
    (0x16F00, 0x16F9F), // Miao
    (0xA000, 0xA48F),   // Yi Syllables
    (0xA490, 0xA4CF),   // Yi Radicals
];

/// Whether `c` is in one of Electrum's CJK intervals.
pub(crate) fn is_cjk(c: char) -> bool {
    let n = c as u32;
    CJK_INTERVALS.iter().any(|&(lo, hi)| n >= lo && n <= hi)
}

/// Electrum's `normalize_text` (see the module documentation).
pub(crate) fn electrum_normalize(text: &str) -> String {
    let lowered: String = text.nfkd().collect::<String>().to_lowercase();
    let no_marks: String = lowered
        .chars()
        .filter(|&c| canonical_combining_class(c) == 0)
        .collect();
    let spaced = no_marks.split_whitespace().collect::<Vec<_>>().join(" ");
    let chars: Vec<char> = spaced.chars().collect();
    let mut out = String::with_capacity(spaced.len());
    for (i, &c) in chars.iter().enumerate() {
        if c == ' ' && i > 0 && i + 1 < chars.len() && is_cjk(chars[i - 1]) && is_cjk(chars[i + 1])
        {
            continue;
        }
        out.push(c);
    }
    out
}

/// BIP39 normalisation of a phrase: NFKD, lower case, words joined by single spaces.
pub(crate) fn bip39_normalize(text: &str) -> String {
    let n: String = text
        .nfkd()
        .map(|c| if c == '\u{feff}' { ' ' } else { c })
        .collect::<String>()
        .to_lowercase();
    n.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn electrum_normalize_lowercases_strips_accents_and_spaces() {
        assert_eq!(electrum_normalize("  CaFé   Olé \n x "), "cafe ole x");
    }

    #[test]
    fn electrum_normalize_removes_spaces_between_cjk_only() {
        assert_eq!(electrum_normalize("眼 悲 叛"), "眼悲叛");
        assert_eq!(electrum_normalize("眼 abc 悲"), "眼 abc 悲");
    }
}
