//! `custos case export`: the ledger as JSONL, every artifact as a file, a manifest with hashes,
//! and the HTML report — written into a fresh directory, atomically (built under a temporary
//! name, then renamed).

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::{report, store::sha256_hex, Case, Error};

/// What an export wrote.
#[derive(Debug, Clone, Serialize)]
pub struct ExportSummary {
    /// Output directory.
    pub dir: PathBuf,
    /// Events written.
    pub events: usize,
    /// Artifacts written.
    pub artifacts: usize,
    /// Ledger head hash (the anchor to keep outside the case).
    pub head: String,
    /// Whether verification passed at export time.
    pub verified: bool,
    /// sha256 of every file written, relative path → hash.
    pub files: Vec<(String, String)>,
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Exports `case` into `out` (which must not exist yet), with extra report sections.
pub fn export(
    case: &Case,
    out: &Path,
    sections: &[report::Section],
) -> Result<ExportSummary, Error> {
    if out.exists() {
        return Err(Error::AlreadyExists {
            path: out.to_path_buf(),
            detail: "the export directory already exists (exports never overwrite)",
        });
    }
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "export".into());
    let tmp = parent.join(format!(".{name}.partial"));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(io(&tmp))?;
    }
    std::fs::create_dir_all(tmp.join("artifacts")).map_err(io(&tmp))?;
    let events = case.events()?;
    let artifacts = case.artifacts()?;
    let verify = case.verify(None)?;
    let mut files = Vec::new();
    let mut write = |rel: &str, data: &[u8]| -> Result<(), Error> {
        let p = tmp.join(rel);
        std::fs::write(&p, data).map_err(io(&p))?;
        files.push((rel.to_string(), sha256_hex(data)));
        Ok(())
    };
    let mut jsonl = String::new();
    for e in &events {
        jsonl.push_str(&serde_json::to_string(e).unwrap_or_default());
        jsonl.push('\n');
    }
    write("ledger.jsonl", jsonl.as_bytes())?;
    for a in &artifacts {
        write(&format!("artifacts/{}", a.sha256), &a.data)?;
    }
    let html = report::render_html(
        case.info(),
        &events,
        &artifacts,
        &verify,
        sections,
        &custos_core::ledger::now_utc(),
    );
    write("report.html", html.as_bytes())?;
    let manifest = serde_json::json!({
        "format": "custos-export-v1",
        "case_id": case.info().case_id,
        "network": case.info().network,
        "head_hash": verify.head,
        "events": events.len(),
        "verified": verify.ok(),
        "problems": verify.problems,
        "artifacts": artifacts.iter().map(|a| serde_json::json!({
            "sha256": a.sha256, "kind": a.kind, "name": a.name, "size": a.size
        })).collect::<Vec<_>>(),
        "files": files.iter().map(|(p, h)| serde_json::json!({"path": p, "sha256": h})).collect::<Vec<_>>(),
    });
    let m = serde_json::to_vec_pretty(&manifest).unwrap_or_default();
    let mp = tmp.join("manifest.json");
    std::fs::write(&mp, &m).map_err(io(&mp))?;
    std::fs::rename(&tmp, out).map_err(io(out))?;
    Ok(ExportSummary {
        dir: out.to_path_buf(),
        events: events.len(),
        artifacts: artifacts.len(),
        head: verify.head.clone(),
        verified: verify.ok(),
        files,
    })
}
