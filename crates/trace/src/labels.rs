//! Entity labels: who is known to control an address. Read from GraphSense TagPack YAML files
//! and from simple CSV files, checked against the network being traced, and propagated through
//! address clusters (each propagated label names the directly labelled address it came from).
//!
//! Not for: deciding anything on its own. A label is a claim by its source; a propagated label
//! is that claim stretched by the clustering heuristics, and is marked as such.
//!
//! Every error is [`Error::LabelFile`] naming the file, the 1-based line and the field at fault.
//! Line 0 means the file as a whole (unreadable, too large, unknown type).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::Path;
use std::str::FromStr;

use bitcoin::address::NetworkUnchecked;
use bitcoin::Address;
use custos_core::Network;
use serde::{Deserialize, Serialize};

use crate::heuristics::Clustering;
use crate::Error;

mod csv;
mod tagpack;

pub use csv::parse_csv;
pub use tagpack::{parse_tagpack, SkippedTag, TagPack};

/// Label files larger than this are refused before being read whole (64 MiB).
pub const MAX_LABEL_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// One label on one address, with where it was read.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Label {
    /// The address, normalised (bech32 lower-case) and checked for the network.
    pub address: String,
    /// The entity (`Lab Exchange`).
    pub label: String,
    /// The category (`exchange`), when given.
    pub category: Option<String>,
    /// Where the claim comes from, when given.
    pub source: Option<String>,
    /// The TagPack confidence level (`ownership`, `web_crawl`…), when given.
    pub confidence: Option<String>,
    /// The file it was read from.
    pub file: String,
    /// The 1-based line of its tag or row.
    pub line: usize,
}

/// Labels by address. An address may carry several labels (from several sources).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelSet {
    by_address: BTreeMap<String, Vec<Label>>,
}

impl LabelSet {
    /// An empty set.
    pub fn new() -> LabelSet {
        LabelSet::default()
    }

    /// A set holding these labels.
    pub fn from_labels(labels: impl IntoIterator<Item = Label>) -> LabelSet {
        let mut set = LabelSet::new();
        set.extend(labels);
        set
    }

    /// Adds a label; the same (label, category, source) on the same address is kept once.
    pub fn add(&mut self, label: Label) {
        let list = self.by_address.entry(label.address.clone()).or_default();
        let same = |l: &Label| {
            l.label == label.label && l.category == label.category && l.source == label.source
        };
        if !list.iter().any(same) {
            list.push(label);
        }
    }

    /// Adds many labels.
    pub fn extend(&mut self, labels: impl IntoIterator<Item = Label>) {
        for l in labels {
            self.add(l);
        }
    }

    /// Reads a label file (`.yaml`/`.yml` TagPack or `.csv`) and adds its labels.
    pub fn load(&mut self, path: &Path, network: Network) -> Result<usize, Error> {
        let labels = read_label_file(path, network)?;
        let n = labels.len();
        self.extend(labels);
        Ok(n)
    }

    /// The labels of an address (empty when none).
    pub fn get(&self, address: &str) -> &[Label] {
        self.by_address
            .get(address)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// Number of labelled addresses.
    pub fn len(&self) -> usize {
        self.by_address.len()
    }

    /// Whether no address is labelled.
    pub fn is_empty(&self) -> bool {
        self.by_address.is_empty()
    }

    /// Every label, by address.
    pub fn iter(&self) -> impl Iterator<Item = &Label> {
        self.by_address.values().flatten()
    }
}

/// Reads a label file, choosing the format by extension (`.yaml`, `.yml`: TagPack; `.csv`).
pub fn read_label_file(path: &Path, network: Network) -> Result<Vec<Label>, Error> {
    let file = path.display().to_string();
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("yaml" | "yml") => Ok(parse_tagpack(&read_limited(path)?, &file, network)?.labels),
        Some("csv") => parse_csv(&read_limited(path)?, &file, network),
        _ => Err(file_error(
            &file,
            0,
            "",
            "unknown label file type (expected .yaml, .yml or .csv)",
        )),
    }
}

/// Reads a whole file as UTF-8, refusing files over [`MAX_LABEL_FILE_BYTES`] before reading.
pub fn read_limited(path: &Path) -> Result<String, Error> {
    let file = path.display().to_string();
    let io = |e: std::io::Error| file_error(&file, 0, "", &format!("cannot read: {e}"));
    let f = std::fs::File::open(path).map_err(io)?;
    let size = f.metadata().map_err(io)?.len();
    let too_large = |size: u64| {
        file_error(
            &file,
            0,
            "",
            &format!("{size} bytes is over the {MAX_LABEL_FILE_BYTES} byte limit"),
        )
    };
    if size > MAX_LABEL_FILE_BYTES {
        return Err(too_large(size));
    }
    let mut bytes = Vec::new();
    f.take(MAX_LABEL_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > MAX_LABEL_FILE_BYTES {
        return Err(too_large(bytes.len() as u64));
    }
    String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = 1 + valid.iter().filter(|b| **b == b'\n').count();
        file_error(&file, line, "", "not valid utf-8")
    })
}

/// Builds a label-file error.
pub(crate) fn file_error(file: &str, line: usize, field: &str, problem: &str) -> Error {
    Error::LabelFile {
        file: file.to_string(),
        line,
        field: field.to_string(),
        problem: problem.to_string(),
    }
}

/// Checks an address for the network and returns it normalised (as rust-bitcoin prints it).
pub(crate) fn check_address(
    raw: &str,
    network: Network,
    file: &str,
    line: usize,
    field: &str,
) -> Result<String, Error> {
    let trimmed = raw.trim();
    let unchecked = Address::<NetworkUnchecked>::from_str(trimmed).map_err(|e| {
        file_error(
            file,
            line,
            field,
            &format!("`{trimmed}` is not a bitcoin address: {e}"),
        )
    })?;
    let expected = network.to_bitcoin();
    if !unchecked.is_valid_for_network(expected) {
        return Err(file_error(
            file,
            line,
            field,
            &format!("address {trimmed} is not for the {expected} network"),
        ));
    }
    Ok(unchecked.assume_checked().to_string())
}

/// A label as applied to an address: directly, or propagated through a cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedLabel {
    /// The address it applies to.
    pub address: String,
    /// The entity.
    pub label: String,
    /// The category, when given.
    pub category: Option<String>,
    /// The source of the original label.
    pub source: Option<String>,
    /// `None` for a direct label; the directly labelled address it came from when propagated.
    pub propagated_from: Option<String>,
    /// The cluster of the address, when it is clustered.
    pub cluster: Option<String>,
}

/// Applies labels to addresses: every direct label, plus, for every cluster holding a labelled
/// address, that label on each other address of the cluster, marked with its origin. An address
/// that already carries the same (label, category) directly, or through an earlier origin
/// (smallest address first), is not labelled again. Sorted by address, direct labels first.
pub fn propagate(labels: &LabelSet, clustering: &Clustering) -> Vec<AppliedLabel> {
    let mut applied = Vec::new();
    let mut seen: BTreeSet<(String, String, Option<String>)> = BTreeSet::new();
    for l in labels.iter() {
        seen.insert((l.address.clone(), l.label.clone(), l.category.clone()));
        applied.push(AppliedLabel {
            address: l.address.clone(),
            label: l.label.clone(),
            category: l.category.clone(),
            source: l.source.clone(),
            propagated_from: None,
            cluster: clustering.of(&l.address).map(str::to_string),
        });
    }
    for cluster in &clustering.clusters {
        for origin in &cluster.addresses {
            for l in labels.get(origin) {
                for target in cluster.addresses.iter().filter(|a| *a != origin) {
                    let key = (target.clone(), l.label.clone(), l.category.clone());
                    if seen.insert(key) {
                        applied.push(AppliedLabel {
                            address: target.clone(),
                            label: l.label.clone(),
                            category: l.category.clone(),
                            source: l.source.clone(),
                            propagated_from: Some(origin.clone()),
                            cluster: Some(cluster.id.clone()),
                        });
                    }
                }
            }
        }
    }
    applied.sort_by(|a, b| {
        (
            &a.address,
            a.propagated_from.is_some(),
            &a.label,
            &a.category,
        )
            .cmp(&(
                &b.address,
                b.propagated_from.is_some(),
                &b.label,
                &b.category,
            ))
    });
    applied
}
