//! Where the phases of [`super::watch_only`] put what they produce: the sources, and the
//! layouts they came from (for the file's coverage record).

use std::str::FromStr;

use bitcoin::bip32::{DerivationPath, Fingerprint};
use custos_core::inventory::WatchSource;
use miniscript::descriptor::{checksum, Descriptor, DescriptorPublicKey};

use crate::Error;

/// Sources and the layouts they belong to, in the order produced.
#[derive(Debug, Default)]
pub(crate) struct Sink {
    pub(crate) sources: Vec<WatchSource>,
    pub(crate) layouts: Vec<String>,
}

impl Sink {
    /// Adds a source of `layout`.
    pub(crate) fn push(&mut self, layout: &str, source: WatchSource) {
        if !self.layouts.iter().any(|l| l == layout) {
            self.layouts.push(layout.to_string());
        }
        self.sources.push(source);
    }
}

/// A source that belongs to no catalogue entry.
pub(crate) fn plain_source(label: String, descriptor: String, change: bool) -> WatchSource {
    WatchSource {
        label,
        descriptor,
        change,
        catalogue_id: None,
        account: None,
        wallets: Vec::new(),
    }
}

fn descriptor_error(reason: impl ToString) -> Error {
    Error::Descriptor {
        line: None,
        reason: reason.to_string(),
    }
}

/// Parses a public descriptor we built and returns it with its checksum.
pub(crate) fn checked_descriptor(text: &str) -> Result<String, Error> {
    let d = Descriptor::<DescriptorPublicKey>::from_str(text)
        .map_err(|e| descriptor_error(format!("{text}: {e}")))?;
    Ok(d.to_string())
}

/// `addr(ADDRESS)#checksum`.
pub(crate) fn addr_descriptor(address: &str) -> Result<String, Error> {
    let body = format!("addr({address})");
    let mut eng = checksum::Engine::new();
    eng.input(&body).map_err(descriptor_error)?;
    Ok(format!("{body}#{}", eng.checksum()))
}

/// `[fingerprint/path]` (or `[fingerprint]` at the master).
pub(crate) fn origin_prefix(fp: Fingerprint, path: &DerivationPath) -> String {
    if path.is_empty() {
        format!("[{fp}]")
    } else {
        format!("[{fp}/{path}]")
    }
}

pub(crate) fn derive_err(path: &DerivationPath, e: impl ToString) -> Error {
    Error::Derivation {
        path: format!("m/{path}"),
        reason: e.to_string(),
    }
}
