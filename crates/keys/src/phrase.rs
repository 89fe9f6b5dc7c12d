//! Word phrases: BIP39 (checksum, any of its languages), Electrum version-prefixed and old
//! seeds, and SLIP-39 share sets. [`classify_phrase`] reads the phrase once ([`Phrase::read`]),
//! takes the first valid interpretation ([`Phrase::valid`]), tries SLIP-39 shares, and
//! otherwise explains the failure in terms of the closest kind ([`Phrase::explain`]).

use bip39::Language;
use custos_core::{Secret, SecretString};
use zeroize::Zeroizing;

use crate::{
    electrum::{self, ElectrumSeedKind},
    material::Material,
    mnemonic::{self, best_language, language_name, nearest_words, phrase_words},
    normalize::{bip39_normalize, electrum_normalize},
    slip39, Error,
};

const BIP39: &str = "bip39 mnemonic";

/// Reads a word phrase: BIP39 (checksum), Electrum version-prefixed seeds, Electrum old seeds,
/// SLIP-39 shares (one share a line).
pub(crate) fn classify_phrase(text: &SecretString) -> Result<Material, Error> {
    let normalized = Secret::new(bip39_normalize(text.expose_secret()));
    let phrase = Phrase::read(&normalized);
    // SLIP-39 first when the text is shaped like shares: each share carries a 30-bit checksum,
    // while any phrase has a 1 in 256 chance of an Electrum "standard" version prefix.
    if let Some(lines) = slip39_lines(text) {
        let lines: Vec<(usize, Vec<&str>)> = lines
            .iter()
            .map(|(n, w)| (*n, w.iter().map(|x| x.as_str()).collect()))
            .collect();
        match slip39::recover_lines(&lines) {
            Ok(ems) => return Ok(Material::Slip39 { ems }),
            Err(e) if !phrase.bip39_ok => return Err(e),
            Err(_) => {}
        }
    }
    if let Some(m) = phrase.valid() {
        return Ok(m);
    }
    Err(phrase.explain(text))
}

/// Share lines (input line, normalised words) when the text is shaped like SLIP-39 shares:
/// every line of at least 16 words (a share has 20 or more: a short one still gets a share
/// error), nine in ten of all words in the SLIP-39 list. Lines are
/// normalised one by one (normalising the whole text would join them).
fn slip39_lines(text: &SecretString) -> Option<Vec<(usize, Vec<Zeroizing<String>>)>> {
    let lines: Vec<(usize, Vec<Zeroizing<String>>)> = text
        .expose_secret()
        .lines()
        .enumerate()
        .map(|(i, l)| {
            let norm = Zeroizing::new(bip39_normalize(l));
            let words = phrase_words(&norm)
                .into_iter()
                .map(|w| Zeroizing::new(w.to_string()))
                .collect();
            (i + 1, words)
        })
        .filter(|(_, w): &(usize, Vec<Zeroizing<String>>)| !w.is_empty() && !w[0].starts_with('#'))
        .collect();
    let words: usize = lines.iter().map(|(_, w)| w.len()).sum();
    let in_list = lines
        .iter()
        .flat_map(|(_, w)| w.iter())
        .filter(|w| slip39::wordlist().binary_search(&w.as_str()).is_ok())
        .count();
    let shaped =
        !lines.is_empty() && lines.iter().all(|(_, w)| w.len() >= 16) && in_list * 10 >= words * 9;
    shaped.then_some(lines)
}

/// A phrase read once: its words and what each kind of seed makes of them.
struct Phrase<'a> {
    words: Vec<&'a str>,
    joined: SecretString,
    old: bool,
    new: Option<ElectrumSeedKind>,
    lang: Language,
    /// Words found in `lang`'s list.
    found: usize,
    bip39_ok: bool,
}

impl<'a> Phrase<'a> {
    fn read(normalized: &'a SecretString) -> Phrase<'a> {
        let words: Vec<&str> = phrase_words(normalized.expose_secret());
        let count = words.len();
        let joined = Secret::new(words.join(" "));
        let el_norm = Secret::new(electrum_normalize(joined.expose_secret()));
        let old = electrum::is_old_seed_normalized(el_norm.expose_secret());
        let new = electrum::new_seed_type_normalized(el_norm.expose_secret(), count);
        let (lang, found) = best_language(&words);
        let bip39_ok = found == count
            && bip39::Mnemonic::parse_in_normalized(lang, joined.expose_secret()).is_ok();
        Phrase {
            words,
            joined,
            old,
            new,
            lang,
            found,
            bip39_ok,
        }
    }

    /// The first valid interpretation: BIP39, then Electrum new, then Electrum old.
    fn valid(&self) -> Option<Material> {
        let count = self.words.len();
        let phrase = self.joined.clone();
        if self.bip39_ok {
            let old = self.old.then_some(ElectrumSeedKind::Old);
            return Some(Material::Bip39 {
                phrase,
                words: count,
                language: language_name(self.lang),
                also_electrum: self.new.or(old),
            });
        }
        if let Some(kind) = self.new {
            return Some(Material::ElectrumSeed {
                kind,
                phrase,
                words: count,
            });
        }
        self.old.then(|| Material::ElectrumSeed {
            kind: ElectrumSeedKind::Old,
            phrase,
            // The hex form of an old seed is one "word".
            words: if count == 1 { 0 } else { count },
        })
    }

    /// Why the phrase is valid as nothing, in terms of the closest kind.
    fn explain(&self, text: &SecretString) -> Error {
        let count = self.words.len();
        let old_found = self
            .words
            .iter()
            .filter(|w| electrum::old_wordlist().contains(w))
            .count();
        if self.found * 2 >= count && self.found >= old_found && count >= 6 {
            if self.found < count {
                return self.unknown_bip39_words(text);
            }
            return self.bip39_checksum_or_length(text);
        }
        if old_found * 2 >= count && old_found > self.found && count >= 6 {
            return old_seed_failure(&self.words, old_found);
        }
        Error::Unrecognised {
            line: None,
            hint: format!(
                "{count} word(s), {} of them in the {} bip39 list and {old_found} in electrum's old list; not a valid bip39 mnemonic, electrum seed, slip-39 share, key, descriptor or address",
                self.found,
                language_name(self.lang)
            ),
        }
    }

    /// Words outside the BIP39 list: their positions, and for one such word the closest words
    /// (those that also restore the checksum first).
    fn unknown_bip39_words(&self, text: &SecretString) -> Error {
        let count = self.words.len();
        let missing: Vec<usize> = (0..count)
            .filter(|&i| self.lang.find_word(self.words[i]).is_none())
            .collect();
        if missing.len() > 1 {
            let list: Vec<String> = missing.iter().map(|i| (i + 1).to_string()).collect();
            return Error::Invalid {
                kind: BIP39,
                line: None,
                fault: format!(
                    "words {} are not in the {} word list",
                    list.join(", "),
                    language_name(self.lang)
                ),
            };
        }
        let pos = missing[0];
        let mut suggestions = Vec::new();
        if (12..=24).contains(&count) && count.is_multiple_of(3) {
            if let Ok(c) = mnemonic::bip39_corrections(text) {
                suggestions = c
                    .iter()
                    .filter(|c| c.distance <= 2)
                    .take(3)
                    .map(|c| c.replacement.expose_secret().clone())
                    .collect();
            }
        }
        if suggestions.is_empty() {
            suggestions = nearest_words(self.lang, self.words[pos], 3);
        }
        Error::UnknownWord {
            kind: BIP39,
            language: language_name(self.lang),
            position: pos + 1,
            suggestions,
        }
    }

    /// Every word is in the list: the count or the checksum is wrong. Names the likely wrong
    /// positions (single-word corrections of close spelling), never a word.
    fn bip39_checksum_or_length(&self, text: &SecretString) -> Error {
        let count = self.words.len();
        if !(12..=24).contains(&count) || !count.is_multiple_of(3) {
            return Error::Invalid {
                kind: BIP39,
                line: None,
                fault: format!("{count} words; a bip39 mnemonic has 12, 15, 18, 21 or 24 (and it is no electrum seed either)"),
            };
        }
        let corrections = mnemonic::bip39_corrections(text).unwrap_or_default();
        let mut likely: Vec<usize> = Vec::new();
        for c in corrections.iter().filter(|c| c.distance <= 2) {
            if !likely.contains(&c.position) && likely.len() < 5 {
                likely.push(c.position);
            }
        }
        let fault = if likely.is_empty() {
            format!(
                "checksum does not match (and it is no electrum seed); {} single-word corrections restore it, none of them a near spelling",
                corrections.len()
            )
        } else {
            let list: Vec<String> = likely.iter().map(|p| p.to_string()).collect();
            format!(
                "checksum does not match (and it is no electrum seed); likely wrong word position(s): {} ({} single-word corrections in all; see `material classify --corrections`)",
                list.join(", "),
                corrections.len()
            )
        };
        Error::Invalid {
            kind: BIP39,
            line: None,
            fault,
        }
    }
}

/// A phrase mostly of Electrum's old word list that is no old seed.
fn old_seed_failure(words: &[&str], old_found: usize) -> Error {
    if old_found < words.len() {
        let pos = words
            .iter()
            .position(|w| !electrum::old_wordlist().contains(w))
            .map_or(1, |p| p + 1);
        return Error::UnknownWord {
            kind: "electrum old seed",
            language: "electrum old (1626 words)",
            position: pos,
            suggestions: Vec::new(),
        };
    }
    Error::Invalid {
        kind: "electrum old seed",
        line: None,
        fault: format!("{} words; an old electrum seed has 12 or 24", words.len()),
    }
}
