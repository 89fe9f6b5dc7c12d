//! Results to stdout through a writer that reports errors: a closed pipe (`| head`) or a full
//! disk (`> /dev/full`) ends a command with exit 3 and a message, never the panic that
//! `println!` gives. Shared by the binaries (each wraps [`write`] in its `out!`/`outln!` macros).

use std::{fmt, io::Write};

use crate::exit::{Classify, ExitClass};

/// Writing a result to stdout failed.
#[derive(Debug)]
pub struct StdoutError(std::io::Error);

impl fmt::Display for StdoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot write the result to stdout")
    }
}

impl std::error::Error for StdoutError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

impl Classify for StdoutError {
    fn exit_class(&self) -> ExitClass {
        ExitClass::Environment
    }
}

/// Writes `args` to stdout and flushes, so a failure shows here and not at exit.
pub fn write(args: fmt::Arguments<'_>, newline: bool) -> Result<(), StdoutError> {
    let mut w = std::io::stdout().lock();
    w.write_fmt(args)
        .and_then(|()| if newline { w.write_all(b"\n") } else { Ok(()) })
        .and_then(|()| w.flush())
        .map_err(StdoutError)
}
