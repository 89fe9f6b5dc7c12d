//! Validated identifiers.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::Error;

/// A case identifier as assigned by the authority (e.g. `2026-BKA-0042`): 1–64 characters of
/// ASCII letters, digits, `-`, `_`, `.`, `/`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CaseId(String);

impl CaseId {
    /// Validates and wraps a case id.
    pub fn new(s: &str) -> Result<CaseId, Error> {
        validate("case id", s, |c| {
            c.is_ascii_alphanumeric() || "-_./".contains(c)
        })?;
        Ok(CaseId(s.to_string()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An examiner identifier (name or staff number): 1–64 printable characters, no control chars.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ExaminerId(String);

impl ExaminerId {
    /// Validates and wraps an examiner id.
    pub fn new(s: &str) -> Result<ExaminerId, Error> {
        validate("examiner", s, |c| !c.is_control())?;
        Ok(ExaminerId(s.trim().to_string()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn validate(what: &'static str, s: &str, ok: impl Fn(char) -> bool) -> Result<(), Error> {
    let err = |reason| Error::InvalidId {
        what,
        value: s.chars().take(80).collect(),
        reason,
    };
    if s.trim().is_empty() {
        return Err(err("empty"));
    }
    if s.chars().count() > 64 {
        return Err(err("longer than 64 characters"));
    }
    if !s.chars().all(ok) {
        return Err(err("contains a character that is not allowed"));
    }
    Ok(())
}

macro_rules! string_id {
    ($t:ident) => {
        impl TryFrom<String> for $t {
            type Error = Error;
            fn try_from(s: String) -> Result<Self, Error> {
                $t::new(&s)
            }
        }
        impl From<$t> for String {
            fn from(v: $t) -> String {
                v.0
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}
string_id!(CaseId);
string_id!(ExaminerId);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_id_rules() {
        assert!(CaseId::new("2026-BKA-0042").is_ok());
        assert!(CaseId::new("").is_err());
        assert!(CaseId::new("a b").is_err());
        assert!(CaseId::new(&"x".repeat(65)).is_err());
    }

    #[test]
    fn examiner_rules() {
        assert!(ExaminerId::new("Dr. A. Müller").is_ok());
        assert!(ExaminerId::new("a\nb").is_err());
    }
}
