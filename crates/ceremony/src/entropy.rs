//! Entropy for a new mnemonic: the OS CSPRNG, optionally mixed with dice, or Coldcard-compatible
//! dice alone.
//!
//! Three modes ([`EntropyMode`]):
//!
//! - **os**: `n` bytes from the OS CSPRNG (`getrandom`), `n` = 16 for 12 words, 32 for 24.
//! - **os+dice** (`--dice`): `entropy = SHA256(os || SHA256(rolls))[..n]`, where `os` is 32 fresh
//!   bytes from the OS CSPRNG and `rolls` is the ASCII string of die faces (`'1'..='6'`, blanks
//!   removed). The result is at least as unpredictable as the stronger of the two sources: a
//!   backdoored RNG cannot choose the output without knowing the rolls, and biased dice add
//!   nothing an attacker can use. Any number of rolls is accepted (the dice are an extra here).
//! - **coldcard dice** (`--coldcard-dice`): `entropy = SHA256(rolls)[..n]`, exactly as Coldcard
//!   and SeedSigner compute it, so a keyholder can type the same rolls into either device and get
//!   the same words. At least 50 rolls for 12 words (first 16 bytes of the hash) and 99 rolls
//!   for 24 words (2.585 bits per roll), as those devices require. The OS RNG is not used.
//!
//! Every intermediate buffer that holds key material is a [`Secret`] and is zeroized on drop.

use custos_core::secret::SecretBytes;
use custos_core::Secret;
use sha2::{Digest, Sha256};
use zeroize::Zeroize;

use crate::Error;

/// Mnemonic length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Words {
    /// 12 words, 128 bits.
    Twelve,
    /// 24 words, 256 bits.
    TwentyFour,
}

impl Words {
    /// From a word count.
    pub fn from_count(n: usize) -> Result<Words, Error> {
        match n {
            12 => Ok(Words::Twelve),
            24 => Ok(Words::TwentyFour),
            other => Err(Error::WordCount(other)),
        }
    }

    /// Number of words.
    pub fn count(self) -> usize {
        match self {
            Words::Twelve => 12,
            Words::TwentyFour => 24,
        }
    }

    /// Entropy bytes.
    pub fn entropy_len(self) -> usize {
        match self {
            Words::Twelve => 16,
            Words::TwentyFour => 32,
        }
    }

    /// Minimum dice rolls in Coldcard dice mode (Coldcard and SeedSigner use the same numbers).
    pub fn min_coldcard_rolls(self) -> usize {
        match self {
            Words::Twelve => 50,
            Words::TwentyFour => 99,
        }
    }
}

/// How the entropy was made (recorded, without the entropy, in the transcript).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EntropyMode {
    /// OS CSPRNG only.
    Os,
    /// OS CSPRNG mixed with dice rolls.
    OsDice,
    /// SHA256 of the roll string (Coldcard/SeedSigner compatible).
    ColdcardDice,
    /// Fixed entropy read from a file (tests and training only).
    Fixed,
}

/// Reads `len` bytes from the OS CSPRNG.
pub fn os_entropy(len: usize) -> Result<SecretBytes, Error> {
    let mut buf = Secret::new(vec![0u8; len]);
    getrandom::getrandom(buf.expose_secret_mut()).map_err(Error::Rng)?;
    Ok(buf)
}

/// Normalises a roll string: drops whitespace, checks every character is a die face `1`..`6`.
/// The returned string is the exact ASCII string that is hashed.
pub fn parse_rolls(input: &str) -> Result<Secret<String>, Error> {
    let mut out = Secret::new(String::with_capacity(input.len()));
    for (i, c) in input.chars().filter(|c| !c.is_whitespace()).enumerate() {
        if !('1'..='6').contains(&c) {
            return Err(Error::BadRoll {
                position: i + 1,
                found: c,
            });
        }
        out.expose_secret_mut().push(c);
    }
    Ok(out)
}

fn sha256_secret(parts: &[&[u8]]) -> SecretBytes {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    let mut digest = h.finalize();
    let out = Secret::new(digest.to_vec());
    digest.as_mut_slice().zeroize();
    out
}

/// Coldcard/SeedSigner dice entropy: `SHA256(rolls)` truncated to the mnemonic's length. The
/// roll count is *not* checked here (the published verification examples use short strings);
/// [`coldcard_dice_entropy_checked`] enforces the minimum.
pub fn coldcard_dice_entropy(rolls: &Secret<String>, words: Words) -> SecretBytes {
    let mut full = sha256_secret(&[rolls.expose_secret().as_bytes()]);
    full.expose_secret_mut().truncate(words.entropy_len());
    full
}

/// [`coldcard_dice_entropy`] after checking the minimum number of rolls.
pub fn coldcard_dice_entropy_checked(
    rolls: &Secret<String>,
    words: Words,
) -> Result<SecretBytes, Error> {
    let got = rolls.expose_secret().len();
    if got < words.min_coldcard_rolls() {
        return Err(Error::TooFewRolls {
            got,
            need: words.min_coldcard_rolls(),
            words: words.count(),
        });
    }
    Ok(coldcard_dice_entropy(rolls, words))
}

/// Mixes OS entropy with dice: `SHA256(os || SHA256(rolls))[..len]`.
pub fn mix_os_and_dice(os: &SecretBytes, rolls: &Secret<String>, words: Words) -> SecretBytes {
    let dice = sha256_secret(&[rolls.expose_secret().as_bytes()]);
    let mut full = sha256_secret(&[os.expose_secret(), dice.expose_secret()]);
    full.expose_secret_mut().truncate(words.entropy_len());
    full
}

/// Entropy made for a new mnemonic.
#[derive(Debug)]
pub struct Generated {
    /// The entropy (16 or 32 bytes).
    pub entropy: SecretBytes,
    /// How it was made.
    pub mode: EntropyMode,
    /// `SHA256(rolls)` — what the dice contributed — when dice were used. Shown to the keyholder
    /// on screen so it can be cross-checked; it is a secret (in Coldcard mode it *is* the
    /// entropy).
    pub dice_digest: Option<SecretBytes>,
    /// Number of rolls used.
    pub rolls: usize,
}

/// Makes entropy in the given mode. `rolls` is required for the dice modes and ignored
/// otherwise.
pub fn generate(
    words: Words,
    mode: EntropyMode,
    rolls: Option<&Secret<String>>,
) -> Result<Generated, Error> {
    match mode {
        EntropyMode::Os => Ok(Generated {
            entropy: os_entropy(words.entropy_len())?,
            mode,
            dice_digest: None,
            rolls: 0,
        }),
        EntropyMode::OsDice => {
            let rolls = rolls.ok_or(Error::TooFewRolls {
                got: 0,
                need: 1,
                words: words.count(),
            })?;
            if rolls.is_empty() {
                return Err(Error::TooFewRolls {
                    got: 0,
                    need: 1,
                    words: words.count(),
                });
            }
            let os = os_entropy(32)?;
            Ok(Generated {
                entropy: mix_os_and_dice(&os, rolls, words),
                mode,
                dice_digest: Some(sha256_secret(&[rolls.expose_secret().as_bytes()])),
                rolls: rolls.expose_secret().len(),
            })
        }
        EntropyMode::ColdcardDice => {
            let rolls = rolls.ok_or(Error::TooFewRolls {
                got: 0,
                need: words.min_coldcard_rolls(),
                words: words.count(),
            })?;
            Ok(Generated {
                entropy: coldcard_dice_entropy_checked(rolls, words)?,
                mode,
                dice_digest: Some(sha256_secret(&[rolls.expose_secret().as_bytes()])),
                rolls: rolls.expose_secret().len(),
            })
        }
        EntropyMode::Fixed => Err(Error::malformed(
            "entropy",
            "fixed entropy is read with mnemonic::from_entropy, not generated",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_rolls_rejects_non_faces_with_position() {
        let e = parse_rolls("12 3407").unwrap_err();
        assert!(e.to_string().contains("dice roll 5"), "{e}");
        assert!(parse_rolls("1 2\n3\t6").unwrap().expose_secret() == "1236");
    }

    #[test]
    fn coldcard_mode_requires_minimum_rolls() {
        let r = parse_rolls(&"3".repeat(49)).unwrap();
        let e = coldcard_dice_entropy_checked(&r, Words::Twelve).unwrap_err();
        assert!(e.to_string().contains("at least 50"), "{e}");
        let r = parse_rolls(&"3".repeat(98)).unwrap();
        assert!(coldcard_dice_entropy_checked(&r, Words::TwentyFour).is_err());
        let r = parse_rolls(&"3".repeat(99)).unwrap();
        assert_eq!(
            coldcard_dice_entropy_checked(&r, Words::TwentyFour)
                .unwrap()
                .expose_secret()
                .len(),
            32
        );
    }

    #[test]
    fn mixing_depends_on_both_sources() {
        let os1 = Secret::new(vec![1u8; 32]);
        let os2 = Secret::new(vec![2u8; 32]);
        let r1 = parse_rolls("123456").unwrap();
        let r2 = parse_rolls("123455").unwrap();
        let a = mix_os_and_dice(&os1, &r1, Words::TwentyFour);
        let b = mix_os_and_dice(&os2, &r1, Words::TwentyFour);
        let c = mix_os_and_dice(&os1, &r2, Words::TwentyFour);
        assert_ne!(a.expose_secret(), b.expose_secret());
        assert_ne!(a.expose_secret(), c.expose_secret());
        // Documented formula.
        let dice = Sha256::digest(b"123456");
        let mut h = Sha256::new();
        h.update([1u8; 32]);
        h.update(dice);
        assert_eq!(a.expose_secret().as_slice(), h.finalize().as_slice());
        assert_eq!(
            mix_os_and_dice(&os1, &r1, Words::Twelve)
                .expose_secret()
                .len(),
            16
        );
    }

    #[test]
    fn os_entropy_differs_between_calls() {
        let a = os_entropy(32).unwrap();
        let b = os_entropy(32).unwrap();
        assert_ne!(a.expose_secret(), b.expose_secret());
    }
}
