//! `custos psbt decode|analyze|combine|finalize|extract|qr`, named and behaving after Bitcoin
//! Core's RPCs (`decodepsbt`, `analyzepsbt`, `combinepsbt`, `finalizepsbt`), with integer
//! satoshi amounts. PSBTs are read from binary, base64 or hex files, or from files of BC-UR /
//! BBQr parts; `-` reads stdin. Written files never overwrite existing ones.

use std::path::{Path, PathBuf};

use anyhow::anyhow;
use bitcoin::Psbt;
use clap::{Args, Subcommand};
use custos_case::NewArtifact;
use custos_core::ledger::EventDraft;
use custos_tx::{
    psbt_io::{final_name, to_base64, write_new},
    toolbox, transport,
};

use crate::app::{print_json, App, CmdResult, Failure};

/// `custos psbt ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum PsbtCmd {
    /// Everything in a PSBT, as JSON (Core's `decodepsbt`).
    Decode(OneArgs),
    /// Per input: has UTXO, final, next role; estimated vsize, fee and fee rate (Core's `analyzepsbt`).
    Analyze(OneArgs),
    /// Merge PSBTs of the same transaction signed by different keyholders (Core's `combinepsbt`).
    Combine(CombineArgs),
    /// Finalize every input (rust-miniscript) and, when complete, extract the transaction
    /// (Core's `finalizepsbt`); writes `<name>-final.txn` (hex) next to the input.
    Finalize(FinalizeArgs),
    /// Extract the network transaction of a finalized PSBT, checked by rust-miniscript's interpreter.
    Extract(ExtractArgs),
    /// Show a PSBT as QR codes: BC-UR `ur:psbt` parts (default) or BBQr, in the terminal or as SVG frames.
    Qr(QrArgs),
}

/// One PSBT.
#[derive(Debug, Args)]
pub(crate) struct OneArgs {
    /// PSBT file (binary, base64, hex, UR or BBQr parts) or `-`.
    psbt: PathBuf,
}

/// `combine`.
#[derive(Debug, Args)]
pub(crate) struct CombineArgs {
    /// PSBT files (two or more).
    #[arg(required = true, num_args = 2..)]
    psbts: Vec<PathBuf>,
    /// Write the combined PSBT (base64) here instead of printing it.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

/// `finalize`.
#[derive(Debug, Args)]
pub(crate) struct FinalizeArgs {
    /// PSBT file or `-`.
    psbt: PathBuf,
    /// Where to write the final transaction (hex). Default: `<name>-final.txn` next to the input.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Only finalize: write the finalized PSBT (base64) to `--out`, do not extract.
    #[arg(long)]
    no_extract: bool,
}

/// `extract`.
#[derive(Debug, Args)]
pub(crate) struct ExtractArgs {
    /// Finalized PSBT file or `-`.
    psbt: PathBuf,
    /// Write the transaction (hex) here instead of printing it.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

/// `qr`.
#[derive(Debug, Args)]
pub(crate) struct QrArgs {
    /// PSBT file or `-`.
    psbt: PathBuf,
    /// `ur` (BC-UR v2 `ur:psbt`, fountain-coded) or `bbqr`.
    #[arg(long, default_value = "ur")]
    format: String,
    /// Bytes per UR fragment / characters per BBQr part.
    #[arg(long, default_value_t = 250)]
    fragment: usize,
    /// Write one SVG per frame into this directory (`frame-NNN.svg`) and the parts as `parts.txt`,
    /// instead of drawing in the terminal.
    #[arg(long, value_name = "DIR")]
    svg_dir: Option<PathBuf>,
}

fn read(path: &Path) -> CmdResult<Psbt> {
    let data = custos_core::file::read_bytes_or_stdin(path, custos_core::file::PSBT)?;
    transport::read_psbt(&data)
        .map(|(p, _)| p)
        .map_err(|e| Failure::input(anyhow!("{}: {e}", path.display())))
}

/// Runs `custos psbt`.
pub(crate) fn run(app: &App, cmd: &PsbtCmd) -> CmdResult {
    let mut case = app.open_case()?;
    let network = app.network(case.as_ref()).to_bitcoin();
    match cmd {
        PsbtCmd::Decode(a) => print_json(&toolbox::decode(&read(&a.psbt)?, network)),
        PsbtCmd::Analyze(a) => print_json(&toolbox::analyze(&read(&a.psbt)?)),
        PsbtCmd::Combine(a) => combine(app, case.as_mut(), a),
        PsbtCmd::Finalize(a) => finalize(app, case.as_mut(), a),
        PsbtCmd::Extract(a) => {
            let psbt = read(&a.psbt)?;
            let tx = toolbox::extract(&psbt).map_err(Failure::finding)?;
            let hex = bitcoin::consensus::encode::serialize_hex(&tx);
            if let Some(out) = &a.out {
                write_new(out, format!("{hex}\n").as_bytes()).map_err(Failure::input)?;
            }
            if app.json {
                print_json(&serde_json::json!({"txid": tx.compute_txid().to_string(), "hex": hex}))
            } else {
                outln!("{hex}")?;
                Ok(())
            }
        }
        PsbtCmd::Qr(a) => qr(app, a),
    }
}

/// `psbt combine`: merges the signatures; with `--out`, writes and records the result.
fn combine(app: &App, case: Option<&mut custos_case::Case>, a: &CombineArgs) -> CmdResult {
    let psbts = a
        .psbts
        .iter()
        .map(|p| read(p))
        .collect::<CmdResult<Vec<_>>>()?;
    let combined = toolbox::combine(psbts).map_err(Failure::input)?;
    let b64 = to_base64(&combined);
    let Some(out) = &a.out else {
        if app.json {
            return print_json(&serde_json::json!({ "psbt": b64 }));
        }
        outln!("{b64}")?;
        return Ok(());
    };
    write_new(out, format!("{b64}\n").as_bytes()).map_err(Failure::input)?;
    let draft = EventDraft::new(
        custos_case::kinds::PSBT_COMBINE,
        serde_json::json!({"inputs": a.psbts, "out": out, "unsigned_txid": combined.unsigned_tx.compute_txid().to_string()}),
    );
    let art = NewArtifact {
        kind: "psbt".into(),
        name: file_name(out),
        data: combined.serialize(),
    };
    let draft = draft.with_artifacts([art.sha256()]);
    app.record(case, draft, vec![art])?;
    if app.json {
        return print_json(&serde_json::json!({"psbt": b64, "out": out}));
    }
    outln!("wrote {}", out.display())?;
    Ok(())
}

/// `psbt finalize`: finalizes every input; an incomplete PSBT (or `--no-extract`) stays a
/// PSBT, a complete one is extracted, written and recorded.
fn finalize(app: &App, case: Option<&mut custos_case::Case>, a: &FinalizeArgs) -> CmdResult {
    let mut psbt = read(&a.psbt)?;
    let outcome = toolbox::finalize(&mut psbt);
    let mut result = serde_json::json!({"complete": outcome.complete});
    if !outcome.errors.is_empty() {
        result["errors"] = serde_json::json!(outcome
            .errors
            .iter()
            .map(|(i, e)| format!("input {i}: {e}"))
            .collect::<Vec<_>>());
    }
    if !outcome.complete || a.no_extract {
        return finalize_without_extracting(app, a, &psbt, &outcome, result);
    }
    let tx = toolbox::extract(&psbt).map_err(Failure::finding)?;
    let hex = bitcoin::consensus::encode::serialize_hex(&tx);
    let out = a.out.clone().unwrap_or_else(|| {
        if a.psbt == Path::new("-") {
            PathBuf::from("stdin-final.txn")
        } else {
            final_name(&a.psbt)
        }
    });
    write_new(&out, format!("{hex}\n").as_bytes()).map_err(Failure::input)?;
    let txid = tx.compute_txid().to_string();
    let draft = EventDraft::new(
        custos_case::kinds::PSBT_FINALIZE,
        serde_json::json!({"txid": txid, "out": out, "weight": tx.weight().to_wu(), "vsize": tx.vsize()}),
    );
    let art = NewArtifact {
        kind: "signed_tx".into(),
        name: txid.clone(),
        data: bitcoin::consensus::encode::serialize(&tx),
    };
    let draft = draft.with_artifacts([art.sha256()]);
    app.record(case, draft, vec![art])?;
    result["hex"] = serde_json::json!(hex);
    result["txid"] = serde_json::json!(txid);
    result["out"] = serde_json::json!(out);
    if app.json {
        print_json(&result)
    } else {
        outln!("complete: txid {txid}, {} vB", tx.vsize())?;
        outln!("wrote {}", out.display())?;
        Ok(())
    }
}

/// The finalized PSBT as the result (`--no-extract`), or an incomplete one reported as a
/// finding (exit 1) and shown only inside the JSON report.
fn finalize_without_extracting(
    app: &App,
    a: &FinalizeArgs,
    psbt: &Psbt,
    outcome: &toolbox::FinalizeOutcome,
    mut result: serde_json::Value,
) -> CmdResult {
    result["psbt"] = serde_json::json!(to_base64(psbt));
    // `--out` names the finalized PSBT only with `--no-extract`; otherwise it is
    // the final transaction's file, which an incomplete PSBT must not take.
    if let Some(out) = a.out.as_ref().filter(|_| a.no_extract) {
        write_new(out, format!("{}\n", to_base64(psbt)).as_bytes()).map_err(Failure::input)?;
        result["out"] = serde_json::json!(out);
    }
    if !outcome.complete {
        // An incomplete PSBT on stdout would be taken for the result: only the
        // JSON report (which says `"complete": false`) carries it.
        if app.json {
            print_json(&result)?;
        }
        return Err(Failure::finding(incomplete(&a.psbt, &outcome.errors)));
    }
    if app.json {
        print_json(&result)?;
    } else {
        outln!("{}", to_base64(psbt))?;
    }
    Ok(())
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn qr(app: &App, a: &QrArgs) -> CmdResult {
    let psbt = read(&a.psbt)?;
    let parts = match a.format.as_str() {
        "ur" => {
            transport::psbt_to_ur_parts(&psbt, a.fragment.max(10), 0).map_err(Failure::input)?
        }
        "bbqr" => transport::psbt_to_bbqr(&psbt, a.fragment.max(16)).map_err(Failure::input)?,
        other => {
            return Err(Failure::input(anyhow!(
                "--format {other:?}: expected ur or bbqr"
            )))
        }
    };
    if let Some(dir) = &a.svg_dir {
        std::fs::create_dir_all(dir)
            .map_err(|e| Failure::env(anyhow!("cannot create {}: {e}", dir.display())))?;
        let parts_file = dir.join("parts.txt");
        write_new(&parts_file, (parts.join("\n") + "\n").as_bytes()).map_err(Failure::input)?;
        for (i, p) in parts.iter().enumerate() {
            // QR alphanumeric mode needs upper case for UR.
            let text = if a.format == "ur" {
                p.to_ascii_uppercase()
            } else {
                p.clone()
            };
            let svg = transport::qr_svg(&text).map_err(Failure::input)?;
            write_new(&dir.join(format!("frame-{:03}.svg", i + 1)), svg.as_bytes())
                .map_err(Failure::input)?;
        }
        if app.json {
            return print_json(
                &serde_json::json!({"frames": parts.len(), "dir": dir, "parts": parts}),
            );
        }
        outln!(
            "wrote {} frame(s) and parts.txt to {}",
            parts.len(),
            dir.display()
        )?;
        return Ok(());
    }
    if app.json {
        return print_json(&serde_json::json!({ "parts": parts }));
    }
    for (i, p) in parts.iter().enumerate() {
        let text = if a.format == "ur" {
            p.to_ascii_uppercase()
        } else {
            p.clone()
        };
        outln!("frame {}/{}", i + 1, parts.len())?;
        outln!("{}", transport::qr_terminal(&text).map_err(Failure::input)?)?;
    }
    Ok(())
}

/// The refusal of `finalize` on a PSBT that still needs signatures, naming the inputs.
fn incomplete<E: std::fmt::Display>(psbt: &Path, errors: &[(usize, E)]) -> anyhow::Error {
    let inputs: Vec<String> = errors
        .iter()
        .map(|(i, e)| format!("input {i}: {e}"))
        .collect();
    anyhow!(
        "psbt {} is not complete, inputs still need signatures ({}); no psbt printed \
         (use --json for the partially finalized psbt)",
        psbt.display(),
        if inputs.is_empty() {
            "no input could be finalized".to_string()
        } else {
            inputs.join("; ")
        }
    )
}
