//! A student's case as the grader sees it: the ledger events, the artifacts they refer to, and
//! what verification found — read from a case directory (`case.sqlite`) or from a
//! `custos case export` directory (`ledger.jsonl`, `artifacts/`, `manifest.json`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use custos_core::file;
use custos_core::ledger::{self, Event};
use sha2::{Digest, Sha256};

use crate::Error;

/// An artifact of the case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoredArtifact {
    /// Kind (`inventory`, `raw_tx`, `signed_tx`, `custody_policy`, ...).
    pub(crate) kind: String,
    /// Bytes.
    pub(crate) data: Vec<u8>,
}

/// A loaded case.
#[derive(Debug, Clone)]
pub struct CaseRecord {
    /// Where it was read from.
    pub source: PathBuf,
    /// Case id.
    pub case_id: String,
    /// Ledger events in order.
    pub events: Vec<Event>,
    /// Verification problems (empty when the ledger and every artifact verify).
    pub problems: Vec<String>,
    pub(crate) artifacts: BTreeMap<String, StoredArtifact>,
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

impl CaseRecord {
    /// Reads a case directory or an export; runs the verification `custos case verify` runs
    /// (hash chain, head, every artifact).
    pub fn load(path: &Path) -> Result<CaseRecord, Error> {
        if !path.exists() {
            return Err(Error::Missing {
                path: path.to_path_buf(),
            });
        }
        if path.join(custos_case::CASE_FILE).is_file() {
            return Self::load_case_dir(path);
        }
        if path.join("manifest.json").is_file() && path.join("ledger.jsonl").is_file() {
            return Self::load_export(path);
        }
        Err(Error::NotACase {
            path: path.to_path_buf(),
        })
    }

    fn load_case_dir(dir: &Path) -> Result<CaseRecord, Error> {
        let case_err = |e: custos_case::Error| Error::Case {
            path: dir.to_path_buf(),
            source: Box::new(e),
        };
        let case = custos_case::Case::open_read_only(dir).map_err(case_err)?;
        let events = case.events().map_err(case_err)?;
        let verify = case.verify(None).map_err(case_err)?;
        let artifacts = case
            .artifacts()
            .map_err(case_err)?
            .into_iter()
            .map(|a| {
                (
                    a.sha256,
                    StoredArtifact {
                        kind: a.kind,
                        data: a.data,
                    },
                )
            })
            .collect();
        Ok(CaseRecord {
            source: dir.to_path_buf(),
            case_id: case.info().case_id.clone(),
            events,
            problems: verify.problems.into_iter().map(|p| p.message).collect(),
            artifacts,
        })
    }

    fn load_export(dir: &Path) -> Result<CaseRecord, Error> {
        let mpath = dir.join("manifest.json");
        let mtext = file::read_text(&mpath, file::INVENTORY)?;
        let manifest: serde_json::Value = serde_json::from_str(&mtext)
            .map_err(|e| Error::malformed(mpath.display().to_string(), e))?;
        if manifest["format"] != "custos-export-v1" {
            return Err(Error::malformed(
                mpath.display().to_string(),
                "not a custos-export-v1 manifest",
            ));
        }
        let lpath = dir.join("ledger.jsonl");
        let ltext = file::read_text(&lpath, file::INVENTORY)?;
        let mut events = Vec::new();
        for (i, line) in ltext
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let e: Event = serde_json::from_str(line)
                .map_err(|e| Error::malformed(format!("{}:{}", lpath.display(), i + 1), e))?;
            events.push(e);
        }
        let mut problems = Vec::new();
        if let Err(fault) = ledger::verify_chain(&events) {
            problems.push(fault.to_string());
        }
        let head = events
            .last()
            .map(|e| e.hash.as_str())
            .unwrap_or(ledger::GENESIS_PREV);
        if manifest["head_hash"].as_str() != Some(head) {
            problems.push(format!(
                "ledger head {head} differs from the manifest's head_hash {}",
                manifest["head_hash"]
            ));
        }
        let mut artifacts = BTreeMap::new();
        for a in manifest["artifacts"].as_array().into_iter().flatten() {
            let (Some(sha), Some(kind)) = (a["sha256"].as_str(), a["kind"].as_str()) else {
                return Err(Error::malformed(
                    mpath.display().to_string(),
                    "an artifact entry without sha256 or kind",
                ));
            };
            if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(Error::malformed(
                    mpath.display().to_string(),
                    format!("artifact name {sha:?} is not a sha256"),
                ));
            }
            let p = dir.join("artifacts").join(sha);
            let Ok(data) = file::read_bytes(&p, file::INVENTORY) else {
                problems.push(format!("artifact {sha} listed in the manifest is missing"));
                continue;
            };
            if sha256_hex(&data) != sha {
                problems.push(format!(
                    "artifact {sha} was altered (its content hashes differently)"
                ));
                continue;
            }
            artifacts.insert(
                sha.to_string(),
                StoredArtifact {
                    kind: kind.to_string(),
                    data,
                },
            );
        }
        for e in &events {
            for sha in &e.artifacts {
                if !artifacts.contains_key(sha) {
                    problems.push(format!(
                        "seq {}: artifact {sha} it refers to is missing or altered",
                        e.seq
                    ));
                }
            }
        }
        Ok(CaseRecord {
            source: dir.to_path_buf(),
            case_id: manifest["case_id"].as_str().unwrap_or_default().to_string(),
            events,
            problems,
            artifacts,
        })
    }

    /// The artifacts of an event with the given kind.
    pub(crate) fn artifacts_of<'a>(
        &'a self,
        e: &'a Event,
        kind: &'a str,
    ) -> impl Iterator<Item = (&'a str, &'a [u8])> + 'a {
        e.artifacts.iter().filter_map(move |sha| {
            self.artifacts
                .get(sha)
                .filter(|a| a.kind == kind)
                .map(|a| (sha.as_str(), a.data.as_slice()))
        })
    }
}
