//! The one exit-code mapping of every custos binary (ADR 0005).
//!
//! Library errors say which [`ExitClass`] they belong to through [`Classify`]; the binaries map
//! the class to a process exit code here and nowhere else. `0` is success and is not a class.

use std::fmt;

/// Exit code of a command that did what it was asked.
pub const OK: u8 = 0;

/// What kind of failure ended a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExitClass {
    /// A finding or a refusal: the input was understood and the answer is "no" (a policy
    /// refused an output, a ledger failed verification, a proof of possession is wrong). Exit 1.
    Refusal,
    /// A usage or input error: bad arguments, a missing, oversized or malformed file. Exit 2.
    Input,
    /// The environment failed: a disk, a closed stdout, a server. Trying again may help. Exit 3.
    Environment,
}

impl ExitClass {
    /// The process exit code of this class.
    pub const fn code(self) -> u8 {
        match self {
            ExitClass::Refusal => 1,
            ExitClass::Input => 2,
            ExitClass::Environment => 3,
        }
    }
}

impl fmt::Display for ExitClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ExitClass::Refusal => "refusal",
            ExitClass::Input => "input error",
            ExitClass::Environment => "environment error",
        })
    }
}

/// An error that knows its exit class.
pub trait Classify {
    /// The class this error ends a command with.
    fn exit_class(&self) -> ExitClass;
}

impl Classify for crate::Error {
    /// Every core error is about a value the user gave (an amount, a network name, an id).
    fn exit_class(&self) -> ExitClass {
        ExitClass::Input
    }
}

impl Classify for std::io::Error {
    /// A bare I/O error carries no path the user chose, so it is the environment's fault
    /// (closed pipe, full disk). Path problems come as [`crate::file::FileError`] instead.
    fn exit_class(&self) -> ExitClass {
        ExitClass::Environment
    }
}

impl Classify for crate::source::SourceError {
    /// A rejected transaction or a malformed answer is a finding about the data; a source that
    /// cannot be reached is the environment.
    fn exit_class(&self) -> ExitClass {
        match self {
            crate::source::SourceError::Rejected { .. }
            | crate::source::SourceError::Malformed { .. } => ExitClass::Refusal,
            _ => ExitClass::Environment,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_map_to_the_documented_codes() {
        assert_eq!(OK, 0);
        assert_eq!(ExitClass::Refusal.code(), 1);
        assert_eq!(ExitClass::Input.code(), 2);
        assert_eq!(ExitClass::Environment.code(), 3);
    }
}
