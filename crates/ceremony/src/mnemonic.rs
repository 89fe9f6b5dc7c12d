//! BIP39 mnemonics from entropy (via the `bip39` crate, English word list), and the
//! verification quiz the keyholder takes after writing the words down.

use bip39::{Language, Mnemonic};
use custos_core::secret::SecretBytes;
use custos_core::{Secret, SecretString};

use crate::Error;

/// A mnemonic that zeroizes on drop.
pub type SecretMnemonic = Secret<Mnemonic>;

/// The mnemonic for 16 or 32 bytes of entropy.
pub fn from_entropy(entropy: &SecretBytes) -> Result<SecretMnemonic, Error> {
    let n = entropy.expose_secret().len();
    if n != 16 && n != 32 {
        return Err(Error::EntropyLength(n));
    }
    Mnemonic::from_entropy_in(Language::English, entropy.expose_secret())
        .map(Secret::new)
        .map_err(Error::Bip39)
}

/// Parses a mnemonic typed or read by the keyholder (checksum checked).
pub fn parse(phrase: &SecretString) -> Result<SecretMnemonic, Error> {
    Mnemonic::parse_in(Language::English, phrase.expose_secret().trim())
        .map(Secret::new)
        .map_err(Error::Bip39)
}

/// The words, space-separated, for display.
pub fn phrase(m: &SecretMnemonic) -> SecretString {
    Secret::new(m.expose_secret().words().collect::<Vec<_>>().join(" "))
}

/// The 64-byte BIP39 seed for an optional passphrase.
pub fn seed(m: &SecretMnemonic, passphrase: Option<&SecretString>) -> Secret<[u8; 64]> {
    let pass = passphrase.map(|p| p.expose_secret().as_str()).unwrap_or("");
    Secret::new(m.expose_secret().to_seed(pass))
}

/// Picks `count` distinct 0-based word positions at random (OS CSPRNG), sorted.
pub fn quiz_positions(word_count: usize, count: usize) -> Result<Vec<usize>, Error> {
    let count = count.min(word_count);
    let mut chosen: Vec<usize> = Vec::with_capacity(count);
    while chosen.len() < count {
        let mut b = [0u8; 2];
        getrandom::getrandom(&mut b).map_err(Error::Rng)?;
        let v = usize::from(u16::from_le_bytes(b));
        // Rejection sampling keeps the choice uniform.
        let limit = 65536 - (65536 % word_count);
        if v >= limit {
            continue;
        }
        let pos = v % word_count;
        if !chosen.contains(&pos) {
            chosen.push(pos);
        }
    }
    chosen.sort_unstable();
    Ok(chosen)
}

/// Checks one quiz answer (0-based position). Answers are compared case-insensitively and
/// BIP39's 4-letter prefixes are accepted, as on hardware wallets.
pub fn check_answer(
    m: &SecretMnemonic,
    position: usize,
    answer: &SecretString,
) -> Result<(), Error> {
    let word = m
        .expose_secret()
        .words()
        .nth(position)
        .ok_or(Error::QuizMismatch {
            position: position + 1,
        })?;
    let a = answer.expose_secret().trim().to_ascii_lowercase();
    let ok = a == word
        || (a.len() >= 4 && word.len() >= 4 && a == word[..4] && {
            // A 4-letter prefix identifies a BIP39 English word uniquely.
            Language::English.words_by_prefix(&a).len() == 1
        });
    if ok {
        Ok(())
    } else {
        Err(Error::QuizMismatch {
            position: position + 1,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(s: &str) -> SecretMnemonic {
        parse(&Secret::new(s.to_string())).unwrap()
    }

    #[test]
    fn quiz_positions_are_distinct_and_in_range() {
        for _ in 0..20 {
            let p = quiz_positions(24, 4).unwrap();
            assert_eq!(p.len(), 4);
            assert!(p.windows(2).all(|w| w[0] < w[1]));
            assert!(p.iter().all(|&i| i < 24));
        }
    }

    #[test]
    fn quiz_accepts_word_or_prefix_and_rejects_wrong_word() {
        let mn =
            m("crew marble private differ race truly blush basket crater affair prepare unique");
        check_answer(&mn, 1, &Secret::new("Marble".into())).unwrap();
        check_answer(&mn, 1, &Secret::new("marb".into())).unwrap();
        let e = check_answer(&mn, 2, &Secret::new("marble".into())).unwrap_err();
        assert!(e.to_string().contains("word 3"), "{e}");
        assert!(!e.to_string().contains("private"));
    }

    #[test]
    fn rejects_bad_checksum() {
        let e = parse(&Secret::new("abandon ".repeat(12))).unwrap_err();
        assert!(matches!(e, Error::Bip39(_)));
    }
}
