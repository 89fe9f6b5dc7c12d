//! Secret wrappers. A [`Secret<T>`] zeroizes its content on drop, prints `Secret([REDACTED])`
//! under `Debug`, has no `Display` and no `Serialize`, and gives its content out only through the
//! explicit [`Secret::expose_secret`]. Mnemonics, passphrases, xprvs, WIFs, private keys and
//! keystore passwords live only inside one.

use std::fmt;

use zeroize::{Zeroize, Zeroizing};

/// A value that must never be printed, logged, stored or serialised.
///
/// # Compile-time guarantees
///
/// Each guarantee below is a `compile_fail` doc test next to a control that compiles: the same
/// code with a plain `String` (or the explicit accessor), so a failure for an unrelated reason
/// (a typo, a missing import) shows up as a failing control.
///
/// Controls — these compile:
///
/// ```
/// use custos_core::secret::SecretString;
/// fn display<T: std::fmt::Display>(_: &T) {}
/// fn serialize<T: serde::Serialize>(_: &T) {}
/// let s = SecretString::new("abandon".to_string());
/// let plain = "abandon".to_string();
/// display(&plain);
/// serialize(&plain);
/// let _ = format!("{plain}");
/// let _ = serde_json::to_string(&plain);
/// let _: &String = s.expose_secret();
/// let _ = s.expose_secret().len();
/// ```
///
/// No `Display`, so no `{}` and no `to_string()`:
///
/// ```compile_fail,E0277
/// use custos_core::secret::SecretString;
/// fn display<T: std::fmt::Display>(_: &T) {}
/// let s = SecretString::new("abandon".to_string());
/// display(&s);
/// ```
///
/// ```compile_fail,E0277
/// let s = custos_core::secret::SecretString::new("abandon".to_string());
/// let _ = format!("{s}");
/// ```
///
/// No `Serialize`, so it cannot be written to JSON (or a case store) by accident:
///
/// ```compile_fail,E0277
/// use custos_core::secret::SecretString;
/// fn serialize<T: serde::Serialize>(_: &T) {}
/// let s = SecretString::new("abandon".to_string());
/// serialize(&s);
/// ```
///
/// ```compile_fail,E0277
/// let s = custos_core::secret::SecretBytes::new(vec![0xde, 0xad]);
/// let _ = serde_json::to_string(&s);
/// ```
///
/// No `Deref`: the content comes out only through [`Secret::expose_secret`], never implicitly:
///
/// ```compile_fail,E0614
/// let s = custos_core::secret::SecretString::new("abandon".to_string());
/// let _: &String = &*s;
/// ```
///
/// ```compile_fail,E0599
/// let s = custos_core::secret::SecretString::new("abandon".to_string());
/// let _ = s.len();
/// ```
pub struct Secret<T: Zeroize> {
    inner: Zeroizing<T>,
}

/// A secret string (mnemonic, passphrase, WIF list, keystore password).
pub type SecretString = Secret<String>;

/// A secret byte buffer (entropy, seeds, private keys).
pub type SecretBytes = Secret<Vec<u8>>;

impl<T: Zeroize> Secret<T> {
    /// Wraps a value. The caller should not keep an unwrapped copy.
    pub fn new(value: T) -> Self {
        Secret {
            inner: Zeroizing::new(value),
        }
    }

    /// Gives read access to the secret. Name the call site's reason in a comment.
    pub fn expose_secret(&self) -> &T {
        &self.inner
    }

    /// Gives write access to the secret (for in-place normalisation).
    pub fn expose_secret_mut(&mut self) -> &mut T {
        &mut self.inner
    }
}

impl<T: Zeroize + Clone> Clone for Secret<T> {
    fn clone(&self) -> Self {
        Secret::new(T::clone(&self.inner))
    }
}

impl<T: Zeroize> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([REDACTED])")
    }
}

impl<T: Zeroize> From<T> for Secret<T> {
    fn from(value: T) -> Self {
        Secret::new(value)
    }
}

impl SecretString {
    /// Trims surrounding whitespace in place (the removed text is zeroized with the old buffer).
    pub fn trimmed(self) -> SecretString {
        let t = self.expose_secret().trim().to_string();
        Secret::new(t)
    }

    /// True when the secret is empty.
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("could not use key: {key:?}")]
    struct UsesSecret {
        key: SecretString,
    }

    const CANARY: &str =
        "abandon ability able about above absent absorb abstract absurd abuse access accident";

    #[test]
    fn debug_never_prints_content() {
        let s = SecretString::new(CANARY.to_string());
        let d = format!("{s:?} {s:#?}");
        assert!(!d.contains("abandon"), "{d}");
        assert!(d.contains("REDACTED"));
    }

    #[test]
    fn error_paths_never_print_content() {
        let e = UsesSecret {
            key: SecretString::new(CANARY.to_string()),
        };
        let text = format!("{e} / {e:?}");
        assert!(!text.contains("abandon"), "{text}");
        let wrapped = anyhow_like(&e);
        assert!(!wrapped.contains("abandon"));
    }

    fn anyhow_like(e: &dyn std::error::Error) -> String {
        format!("error: {e}; debug: {e:?}")
    }

    #[test]
    fn nested_debug_is_redacted() {
        #[derive(Debug)]
        #[allow(dead_code)]
        struct Holder {
            name: &'static str,
            seed: SecretBytes,
        }
        let h = Holder {
            name: "x",
            seed: Secret::new(vec![0xde, 0xad, 0xbe, 0xef]),
        };
        let d = format!("{h:?}");
        assert!(
            !d.contains("222") && !d.contains("de, ad") && !d.contains("0xde"),
            "{d}"
        );
    }

    #[test]
    fn expose_gives_the_value() {
        let s = SecretString::new(" x ".into()).trimmed();
        assert_eq!(s.expose_secret(), "x");
    }
}
