//! BIP39 mnemonics: language detection, validation, and single-word corrections for checksum
//! failures and unknown words (typos in seized paper backups are common).

use bip39::{Language, Mnemonic};
use custos_core::{Secret, SecretString};

use crate::{normalize::bip39_normalize, Error};

/// The 64-byte BIP39 seed of a mnemonic (any supported language) and passphrase: PBKDF2-HMAC-
/// SHA512(NFKD(mnemonic), "mnemonic" + NFKD(passphrase), 2048). Checks the checksum first.
pub fn bip39_seed(
    phrase: &SecretString,
    passphrase: Option<&SecretString>,
) -> Result<custos_core::secret::SecretBytes, Error> {
    let normalized = Secret::new(bip39_normalize(phrase.expose_secret()));
    let words = Secret::new(phrase_words(normalized.expose_secret()).join(" "));
    let m = Mnemonic::parse_normalized(words.expose_secret()).map_err(|e| Error::Invalid {
        kind: "bip39 mnemonic",
        line: None,
        fault: match e {
            bip39::Error::UnknownWord(i) => format!("word {} is not in the word list", i + 1),
            other => other.to_string(),
        },
    })?;
    let pass = passphrase.map(|p| p.expose_secret().as_str()).unwrap_or("");
    let mut seed = m.to_seed(pass);
    let out = seed.to_vec();
    zeroize::Zeroize::zeroize(&mut seed);
    Ok(Secret::new(out))
}

/// A single-word change that makes a mnemonic valid.
#[derive(Debug, Clone)]
pub struct Correction {
    /// 1-based position of the word to replace.
    pub position: usize,
    /// The replacement word (a secret: together with the other words it is the seed).
    pub replacement: SecretString,
    /// Edit distance (Damerau/OSA) between the written word and the replacement: small
    /// distances are likely transcription errors.
    pub distance: usize,
    /// Whether the written word was itself in the word list (a valid but wrong word).
    pub written_word_in_list: bool,
}

/// Name of a bip39 language for messages.
pub(crate) fn language_name(l: Language) -> &'static str {
    match l {
        Language::English => "english",
        Language::SimplifiedChinese => "chinese simplified",
        Language::TraditionalChinese => "chinese traditional",
        Language::Czech => "czech",
        Language::French => "french",
        Language::Italian => "italian",
        Language::Japanese => "japanese",
        Language::Korean => "korean",
        Language::Portuguese => "portuguese",
        Language::Spanish => "spanish",
    }
}

/// Splits a normalised phrase into words, dropping numbering tokens such as `1.` or `12)`
/// that people write on paper backups.
pub(crate) fn phrase_words(normalized: &str) -> Vec<&str> {
    normalized
        .split_whitespace()
        .filter(|t| {
            let digits = t.trim_end_matches(['.', ')', ':', '-']);
            !(digits.len() < t.len()
                && !digits.is_empty()
                && digits.bytes().all(|b| b.is_ascii_digit()))
        })
        .collect()
}

/// The language whose list contains the most of `words`, with that count.
pub(crate) fn best_language(words: &[&str]) -> (Language, usize) {
    let mut best = (Language::English, 0usize);
    for &lang in Language::ALL {
        let n = words.iter().filter(|w| lang.find_word(w).is_some()).count();
        if n > best.1 {
            best = (lang, n);
        }
    }
    best
}

/// Optimal-string-alignment edit distance (insert, delete, substitute, swap adjacent).
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let (n, m) = (a.len(), b.len());
    let mut d = vec![vec![0usize; m + 1]; n + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=n {
        for j in 1..=m {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[n][m]
}

/// Words of `lang` closest to `word` (distance ≤ 2, or sharing the 4-letter prefix that makes
/// BIP39 words unique), best first, at most `max`.
pub(crate) fn nearest_words(lang: Language, word: &str, max: usize) -> Vec<String> {
    let prefix: String = word.chars().take(4).collect();
    let mut scored: Vec<(usize, &str)> = lang
        .word_list()
        .iter()
        .map(|w| {
            let d = edit_distance(word, w);
            let d = if prefix.chars().count() == 4 && w.starts_with(&prefix) {
                d.min(1)
            } else {
                d
            };
            (d, *w)
        })
        .filter(|(d, _)| *d <= 2)
        .collect();
    scored.sort();
    scored
        .into_iter()
        .take(max)
        .map(|(_, w)| w.to_string())
        .collect()
}

/// Single-word corrections that restore a valid BIP39 mnemonic (checksum and word list).
///
/// When one word is not in the list, only that position is tried; otherwise every position.
/// Sorted by edit distance (likely typos first), then position. Empty when the mnemonic is
/// already valid or no single change fixes it. Errors when the word count is not 12–24 in steps
/// of 3 or more than one word is outside the list.
pub fn bip39_corrections(words: &SecretString) -> Result<Vec<Correction>, Error> {
    let normalized = Secret::new(bip39_normalize(words.expose_secret()));
    let list: Vec<&str> = phrase_words(normalized.expose_secret());
    let count = list.len();
    if !(12..=24).contains(&count) || !count.is_multiple_of(3) {
        return Err(Error::Invalid {
            kind: "bip39 mnemonic",
            line: None,
            fault: format!("{count} words; a bip39 mnemonic has 12, 15, 18, 21 or 24"),
        });
    }
    let (lang, found) = best_language(&list);
    let unknown: Vec<usize> = (0..count)
        .filter(|&i| lang.find_word(list[i]).is_none())
        .collect();
    if unknown.len() > 1 {
        return Err(Error::Invalid {
            kind: "bip39 mnemonic",
            line: None,
            fault: format!(
                "words {} are not in the {} word list ({found} of {count} are); single-word corrections cannot fix that",
                unknown.iter().map(|i| (i + 1).to_string()).collect::<Vec<_>>().join(", "),
                language_name(lang)
            ),
        });
    }
    if unknown.is_empty() && Mnemonic::parse_in_normalized(lang, &list.join(" ")).is_ok() {
        return Ok(Vec::new());
    }
    let positions: Vec<usize> = if unknown.is_empty() {
        (0..count).collect()
    } else {
        unknown.clone()
    };
    // Word indexes, looked up once: re-parsing each candidate phrase looked every word up again,
    // and the word lists of several languages are searched linearly, so 21 words took ~15 s of
    // CPU (found by fuzz target `material`). Unknown words get index 0; they are replaced below.
    let mut indexes = Secret::new(
        list.iter()
            .map(|w| lang.find_word(w).unwrap_or(0))
            .collect::<Vec<u16>>(),
    );
    let mut out = Vec::new();
    for &pos in &positions {
        let written = list[pos];
        let kept = indexes.expose_secret()[pos];
        for (i, w) in lang.word_list().iter().enumerate() {
            if *w == written {
                continue;
            }
            indexes.expose_secret_mut()[pos] =
                u16::try_from(i).expect("a bip39 word list has 2048 words");
            if checksum_ok(indexes.expose_secret()) {
                out.push(Correction {
                    position: pos + 1,
                    replacement: Secret::new((*w).to_string()),
                    distance: edit_distance(written, w),
                    written_word_in_list: unknown.is_empty(),
                });
            }
        }
        indexes.expose_secret_mut()[pos] = kept;
    }
    out.sort_by_key(|c| (c.distance, c.position));
    Ok(out)
}

/// Whether BIP39 word indexes (11 bits each: entropy, then a checksum of its first bits of
/// SHA256) carry a valid checksum. `indexes.len()` is 12, 15, 18, 21 or 24.
fn checksum_ok(indexes: &[u16]) -> bool {
    use bitcoin::hashes::{sha256, Hash};
    let bits = indexes.len() * 11;
    let cs_bits = bits / 33;
    let ent_bits = bits - cs_bits;
    let mut bytes = Secret::new(vec![0u8; bits.div_ceil(8)]);
    for (i, &idx) in indexes.iter().enumerate() {
        for b in 0..11 {
            if idx & (1 << (10 - b)) != 0 {
                let at = i * 11 + b;
                bytes.expose_secret_mut()[at / 8] |= 0x80 >> (at % 8);
            }
        }
    }
    let bytes = bytes.expose_secret();
    let hash = sha256::Hash::hash(&bytes[..ent_bits / 8]).to_byte_array();
    (0..cs_bits).all(|k| {
        let at = ent_bits + k;
        (bytes[at / 8] & (0x80 >> (at % 8)) != 0) == (hash[k / 8] & (0x80 >> (k % 8)) != 0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_of_word_indexes_agrees_with_bip39_parsing() {
        for (lang, n) in [
            (Language::English, 16usize),
            (Language::SimplifiedChinese, 28),
            (Language::Japanese, 32),
        ] {
            let entropy: Vec<u8> = (0..n).map(|i| (i * 73 + 5) as u8).collect();
            let m = Mnemonic::from_entropy_in(lang, &entropy).unwrap();
            let mut idx: Vec<u16> = m.words().map(|w| lang.find_word(w).unwrap()).collect();
            assert!(checksum_ok(&idx));
            for w in 0..200u16 {
                idx[2] = w;
                let words: Vec<&str> = idx
                    .iter()
                    .map(|&i| lang.word_list()[usize::from(i)])
                    .collect();
                let parsed = Mnemonic::parse_in_normalized(lang, &words.join(" ")).is_ok();
                assert_eq!(checksum_ok(&idx), parsed, "{lang:?} word {w}");
            }
        }
    }

    // Found by fuzz target `material` (fuzz/corpus/material/regress-slow-corrections-cjk): a
    // 21-word Chinese phrase with a bad checksum took ~15 s of CPU in the correction search.
    #[test]
    fn corrections_of_a_chinese_phrase_with_one_changed_word_offer_the_original() {
        let lang = Language::SimplifiedChinese;
        let m = Mnemonic::from_entropy_in(lang, &[0x5a; 28]).unwrap();
        let mut words: Vec<&str> = m.words().collect();
        let original = words[4];
        let wrong = lang
            .word_list()
            .iter()
            .find(|w| {
                let mut t = words.clone();
                t[4] = w;
                Mnemonic::parse_in_normalized(lang, &t.join(" ")).is_err()
            })
            .unwrap();
        words[4] = wrong;
        let c = bip39_corrections(&Secret::new(words.join(" "))).unwrap();
        assert!(
            c.iter()
                .any(|c| c.position == 5 && c.replacement.expose_secret() == original),
            "{} corrections",
            c.len()
        );
        assert!(c.iter().all(|c| {
            let mut t = words.clone();
            t[c.position - 1] = c.replacement.expose_secret();
            Mnemonic::parse_in_normalized(lang, &t.join(" ")).is_ok()
        }));
    }

    #[test]
    fn numbering_tokens_are_dropped_but_words_kept() {
        assert_eq!(
            phrase_words("1. abandon 2) ability 3: able x8"),
            vec!["abandon", "ability", "able", "x8"]
        );
    }

    #[test]
    fn edit_distance_counts_transpositions_as_one() {
        assert_eq!(edit_distance("abandon", "abnadon"), 1);
        assert_eq!(edit_distance("abandon", "abandan"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
    }

    #[test]
    fn corrections_find_the_typo_first() {
        // BIP39 vector 0 with word 7 mistyped into another list word ("abandon" -> "about").
        let bad = SecretString::new(
            "abandon abandon abandon abandon abandon abandon about abandon abandon abandon abandon about".into(),
        );
        let c = bip39_corrections(&bad).unwrap();
        assert!(!c.is_empty());
        assert!(c
            .iter()
            .any(|c| c.position == 7 && c.replacement.expose_secret() == "abandon"));
    }

    #[test]
    fn corrections_of_an_unknown_word_stay_at_its_position() {
        let bad = SecretString::new(
            "abandon abandon abandon abandon abandon abandon abandan abandon abandon abandon abandon about".into(),
        );
        let c = bip39_corrections(&bad).unwrap();
        assert!(c.iter().all(|c| c.position == 7));
        assert_eq!(c[0].replacement.expose_secret(), "abandon");
        assert_eq!(c[0].distance, 1);
    }

    #[test]
    fn valid_mnemonic_needs_no_correction() {
        let ok = SecretString::new(
            "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about".into(),
        );
        assert!(bip39_corrections(&ok).unwrap().is_empty());
    }
}
