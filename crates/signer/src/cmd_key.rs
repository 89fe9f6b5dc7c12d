//! `custos-signer key ...`: make a keyholder key for the custody ceremony, or import one a
//! hardware wallet exported.
//!
//! `key generate` steps: entropy (OS CSPRNG; `--dice` mixes in dice rolls as
//! `SHA256(os || SHA256(rolls))`; `--coldcard-dice` uses `SHA256(rolls)` like Coldcard and
//! SeedSigner), the mnemonic shown once with its SeedQR (standard and compact), the screen
//! cleared, a verification quiz, the optional BIP39 passphrase, then the key record at
//! `m/48'/coin'/0'/script'` with its BIP-322 proof of possession over the ceremony challenge,
//! and the keyholder's Ethereum key from the same seed (`m/44'/60'/0'/0/0`, EIP-191 proof;
//! the Safe owner), written as JSON and as a BSMS 1.0 round-1 record. Each step is appended to the transcript
//! (hashes and fingerprints only).
//!
//! **Non-interactive mode** (`--batch`, for tests and scripted training): nothing secret is
//! displayed and everything is read from standard input, one line each, in this order:
//! the dice rolls (with `--dice`/`--coldcard-dice`), the passphrase (with `--passphrase`), then
//! the whole mnemonic re-entered on one line (the quiz: every word, in order). Fixed entropy for
//! tests comes from `--entropy-file F` (hex, 16 or 32 bytes). Secrets never come from argv.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};
use bitcoin::secp256k1::Secp256k1;
use clap::{Args, Subcommand};

use crate::exit;
use custos_ceremony::entropy::{self, EntropyMode, Words};
use custos_ceremony::keys::{derive_account, ScriptKind};
use custos_ceremony::mnemonic::{self, SecretMnemonic};
use custos_ceremony::record::{self, make_record_with_eth};
use custos_ceremony::seedqr;
use custos_ceremony::transcript::{self, Entry, FileHash, TRANSCRIPT_FORMAT};
use custos_core::{Network, Secret, SecretString};

/// Key commands.
#[derive(Debug, Subcommand)]
pub(crate) enum KeyCmd {
    /// Generate a keyholder key: entropy (+dice), mnemonic, quiz, key record with proof.
    Generate(GenerateArgs),
    /// Import a hardware wallet's export (Coldcard JSON, UR crypto-account/account-descriptor)
    /// into an (unproven) key record.
    Import(ImportArgs),
}

/// `key generate` options.
#[derive(Debug, Args)]
pub(crate) struct GenerateArgs {
    /// Mnemonic length: 12 or 24 words.
    #[arg(long, default_value_t = 24)]
    pub words: usize,
    /// Mix dice rolls into the OS entropy: SHA256(os || SHA256(rolls)).
    #[arg(long, conflicts_with = "coldcard_dice")]
    pub dice: bool,
    /// Coldcard/SeedSigner-compatible dice: entropy = SHA256(rolls); >= 50 rolls for 12 words,
    /// >= 99 for 24.
    #[arg(long)]
    pub coldcard_dice: bool,
    /// Ask for a BIP39 passphrase (entered twice, never echoed).
    #[arg(long)]
    pub passphrase: bool,
    /// Network of the custody wallet.
    #[arg(long, default_value = "regtest")]
    pub network: Network,
    /// Script type of the custody wallet (fixes the BIP48 path).
    #[arg(long, default_value = "wsh")]
    pub script: ScriptKind,
    /// Directory for the key record files (created if missing).
    #[arg(long)]
    pub out_dir: PathBuf,
    /// Keyholder label (also the BSMS description, max 80 characters).
    #[arg(long, default_value = "")]
    pub label: String,
    /// The ceremony challenge the proof of possession signs.
    #[arg(long, conflicts_with = "challenge_file")]
    pub challenge: Option<String>,
    /// File holding the ceremony challenge.
    #[arg(long)]
    pub challenge_file: Option<PathBuf>,
    /// Fixed entropy (hex, 16 or 32 bytes) from a file: tests and training only.
    #[arg(long, conflicts_with_all = ["dice", "coldcard_dice"])]
    pub entropy_file: Option<PathBuf>,
    /// Non-interactive: read rolls, passphrase and the quiz from stdin; display no secret.
    #[arg(long)]
    pub batch: bool,
    /// Also write the SeedQR (compact) as an SVG file for printing. The file is secret.
    #[arg(long)]
    pub seedqr_svg: Option<PathBuf>,
    /// Number of quiz words (interactive mode).
    #[arg(long, default_value_t = 4)]
    pub quiz: usize,
    /// Transcript file (JSON lines); default OUT_DIR/ceremony-transcript.jsonl.
    #[arg(long)]
    pub transcript: Option<PathBuf>,
    /// Who is doing this step (recorded in the transcript).
    #[arg(long, env = "CUSTOS_EXAMINER", default_value = "keyholder")]
    pub who: String,
}

/// `key import` options.
#[derive(Debug, Args)]
pub(crate) struct ImportArgs {
    /// The export: a Coldcard JSON file, or a text file holding a `ur:` string.
    pub file: PathBuf,
    /// Network of the custody wallet.
    #[arg(long, default_value = "regtest")]
    pub network: Network,
    /// Script type of the custody wallet.
    #[arg(long, default_value = "wsh")]
    pub script: ScriptKind,
    /// Directory for the key record (created if missing).
    #[arg(long)]
    pub out_dir: PathBuf,
    /// Keyholder label.
    #[arg(long, default_value = "")]
    pub label: String,
    /// Transcript file; default OUT_DIR/ceremony-transcript.jsonl.
    #[arg(long)]
    pub transcript: Option<PathBuf>,
    /// Who is doing this step.
    #[arg(long, env = "CUSTOS_EXAMINER", default_value = "keyholder")]
    pub who: String,
}

/// Runs a key command; returns the exit code.
pub(crate) fn run(cmd: &KeyCmd, json: bool) -> anyhow::Result<u8> {
    match cmd {
        KeyCmd::Generate(a) => generate(a, json),
        KeyCmd::Import(a) => import(a, json),
    }
}

/// Where secret material is read from.
enum Input {
    /// Prompts on the terminal without echo.
    Tty,
    /// Lines of stdin.
    Batch(std::io::StdinLock<'static>),
}

impl Input {
    fn secret_line(&mut self, prompt: &str) -> anyhow::Result<SecretString> {
        match self {
            Input::Tty => Ok(Secret::new(
                rpassword::prompt_password(prompt).context("cannot read from the terminal")?,
            )),
            Input::Batch(lock) => {
                let mut line = Secret::new(String::new());
                // Bounded: a line without an end (`/dev/zero`) stops at the limit.
                let limit = custos_core::file::KEY_RECORD.bytes;
                let n = std::io::Read::take(&mut *lock, limit)
                    .read_line(line.expose_secret_mut())
                    .context("cannot read stdin")?;
                if n as u64 >= limit && !line.expose_secret().ends_with('\n') {
                    bail!("stdin: a line is longer than {limit} bytes");
                }
                if n == 0 {
                    bail!(
                        "stdin ended before: {}",
                        prompt.trim_end_matches([':', ' '])
                    );
                }
                let t = line
                    .expose_secret()
                    .trim_end_matches(['\n', '\r'])
                    .to_string();
                Ok(Secret::new(t))
            }
        }
    }
}

fn read_challenge(c: &Option<String>, f: &Option<PathBuf>) -> anyhow::Result<String> {
    match (c, f) {
        (Some(c), _) => Ok(c.trim().to_string()),
        (None, Some(p)) => Ok(
            custos_core::file::read_text(p, custos_core::file::KEY_RECORD)?
                .trim()
                .to_string(),
        ),
        (None, None) => {
            bail!("a ceremony challenge is required: --challenge TEXT or --challenge-file F")
        }
    }
    .and_then(|c| {
        if c.is_empty() {
            Err(anyhow!("the ceremony challenge is empty"))
        } else {
            Ok(c)
        }
    })
}

fn screen(batch: bool, text: &str) {
    if !batch {
        let mut e = std::io::stderr().lock();
        let _ = e.write_all(text.as_bytes());
        let _ = e.flush();
    }
}

fn clear_screen(batch: bool) {
    // Clears the visible screen and the scrollback (xterm-compatible terminals).
    screen(batch, "\x1b[2J\x1b[3J\x1b[H");
}

fn host() -> String {
    gethostname::gethostname().to_string_lossy().into_owned()
}

fn write_file(path: &Path, data: &[u8], secret: bool) -> anyhow::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let _ = secret;
    let mut f = opts
        .open(path)
        .with_context(|| format!("cannot create {} (it must not exist)", path.display()))?;
    f.write_all(data)
        .and_then(|_| f.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// `key generate`; a run that writes no key record leaves no directory it created behind.
fn generate(a: &GenerateArgs, json: bool) -> anyhow::Result<u8> {
    let new_dir = !a.out_dir.exists();
    let r = generate_in(a, json);
    if new_dir && !matches!(r, Ok(exit::OK)) {
        // `remove_dir` removes only an empty directory: anything written stays.
        let _ = std::fs::remove_dir(&a.out_dir);
    }
    r
}

fn generate_in(a: &GenerateArgs, json: bool) -> anyhow::Result<u8> {
    let words = Words::from_count(a.words)?;
    let challenge = read_challenge(&a.challenge, &a.challenge_file)?;
    if a.label.chars().count() > 80 {
        bail!("--label is longer than 80 characters (the bsms description limit)");
    }
    if !a.batch && !std::io::stdin().is_terminal() {
        bail!("no terminal for the no-echo prompts: run interactively, or pass --batch");
    }
    let mut input = if a.batch {
        Input::Batch(std::io::stdin().lock())
    } else {
        Input::Tty
    };
    std::fs::create_dir_all(&a.out_dir)
        .with_context(|| format!("cannot create {}", a.out_dir.display()))?;
    let transcript_path = a
        .transcript
        .clone()
        .unwrap_or_else(|| a.out_dir.join("ceremony-transcript.jsonl"));

    let drawn = draw_entropy(a, words, &mut input)?;
    show_dice_digest(a.batch, &drawn);
    let m = mnemonic::from_entropy(&drawn.entropy)?;
    let (mode, rolls) = (drawn.mode, drawn.rolls);
    drop(drawn);
    show_words(a, &m)?;
    let Some(quizzed) = quiz(a, words, &m, &mut input)? else {
        return Ok(1);
    };
    let Ok(passphrase) = read_passphrase(a, &mut input)? else {
        return Ok(2);
    };
    let created = custos_core::ledger::now_utc();
    let written = write_key_record(a, &challenge, &created, m, passphrase)?;
    transcript::append(
        &transcript_path,
        &Entry {
            format: TRANSCRIPT_FORMAT.into(),
            time: created,
            who: a.who.clone(),
            host: host(),
            step: "ceremony.key_generated".into(),
            fingerprints: vec![written.fingerprint.clone()],
            files: written.files.clone(),
            details: serde_json::json!({
                "network": a.network, "script": a.script, "words": words.count(),
                "entropy": mode, "dice_rolls": rolls, "passphrase": a.passphrase,
                "quiz_words": quizzed, "key": written.key_expr, "challenge": challenge,
                "proof": "bip322-simple", "seedqr_svg": a.seedqr_svg.is_some(),
            }),
        },
    )?;
    print_result(
        json,
        &written.fingerprint,
        &written.key_expr,
        &written.files,
        &[&written.json_path, &written.bsms_path],
        &transcript_path,
    )?;
    Ok(0)
}

/// Step 1: entropy: from `--entropy-file` (tests and training), else the OS, mixed with or made
/// from dice rolls read as a secret line.
fn draw_entropy(
    a: &GenerateArgs,
    words: Words,
    input: &mut Input,
) -> anyhow::Result<entropy::Generated> {
    if let Some(f) = &a.entropy_file {
        let text = custos_core::file::read_secret_or_stdin(f, custos_core::file::KEY_RECORD)?;
        let bytes = Secret::new(
            hex::decode(text.expose_secret().trim())
                .map_err(|_| anyhow!("{}: entropy file must hold hex", f.display()))?,
        );
        if bytes.expose_secret().len() != words.entropy_len() {
            bail!(
                "{}: {} bytes of entropy, {} words need {}",
                f.display(),
                bytes.expose_secret().len(),
                words.count(),
                words.entropy_len()
            );
        }
        tracing::warn!(target: "custos::ceremony", "fixed entropy from a file: for tests and training only");
        return Ok(entropy::Generated {
            entropy: bytes,
            mode: EntropyMode::Fixed,
            dice_digest: None,
            rolls: 0,
        });
    }
    let mode = if a.coldcard_dice {
        EntropyMode::ColdcardDice
    } else if a.dice {
        EntropyMode::OsDice
    } else {
        EntropyMode::Os
    };
    let rolls = if mode == EntropyMode::Os {
        None
    } else {
        let need = if mode == EntropyMode::ColdcardDice {
            words.min_coldcard_rolls()
        } else {
            1
        };
        let line = input.secret_line(&format!(
            "Dice rolls (digits 1-6, at least {need}; not echoed): "
        ))?;
        Some(entropy::parse_rolls(line.expose_secret())?)
    };
    Ok(entropy::generate(words, mode, rolls.as_ref())?)
}

/// Shows what the dice contributed, so the keyholder can cross-check it on another device.
fn show_dice_digest(batch: bool, drawn: &entropy::Generated) {
    let Some(d) = &drawn.dice_digest else {
        return;
    };
    screen(
        batch,
        &format!(
            "\n{} rolls. Dice-derived entropy SHA256(rolls) = {}\n{}\n",
            drawn.rolls,
            hex::encode(d.expose_secret()),
            if drawn.mode == EntropyMode::ColdcardDice {
                "This is the entropy itself: a Coldcard or SeedSigner given the same rolls shows the same words."
            } else {
                "Mixed with 32 bytes of OS entropy: SHA256(os || SHA256(rolls))."
            }
        ),
    );
}

/// Step 2: shows the words once, with the SeedQRs (interactive only), and writes the SeedQR SVG
/// when asked.
fn show_words(a: &GenerateArgs, m: &SecretMnemonic) -> anyhow::Result<()> {
    if !a.batch {
        let phrase = mnemonic::phrase(m);
        let mut text = Secret::new(String::from(
            "\nWRITE DOWN THESE WORDS. They are shown once.\n\n",
        ));
        for (i, w) in phrase.expose_secret().split(' ').enumerate() {
            text.expose_secret_mut().push_str(&format!(
                "{:>2}. {w:<10}{}",
                i + 1,
                if i % 4 == 3 { "\n" } else { "  " }
            ));
        }
        screen(false, text.expose_secret());
        for (kind, name) in [
            (seedqr::Kind::Standard, "SeedQR (standard)"),
            (seedqr::Kind::Compact, "CompactSeedQR"),
        ] {
            let code = seedqr::qr(m, kind)?;
            screen(false, &format!("\n{name}:\n"));
            screen(false, seedqr::render_terminal(&code).expose_secret());
        }
        let _ = rpassword::prompt_password("\nPress Enter once the words are written down: ")?;
        clear_screen(false);
    }
    if let Some(svg) = &a.seedqr_svg {
        let code = seedqr::qr(m, seedqr::Kind::Compact)?;
        write_file(
            svg,
            seedqr::render_svg(&code).expose_secret().as_bytes(),
            true,
        )?;
        tracing::warn!(target: "custos::ceremony", path = %svg.display(), "seedqr svg written: it is the seed; print it and destroy the file");
    }
    Ok(())
}

/// Step 3: the quiz: the whole mnemonic re-entered (batch), or `--quiz` words asked with three
/// tries each. Returns the number of words checked, or `None` (after saying why) when it failed.
fn quiz(
    a: &GenerateArgs,
    words: Words,
    m: &SecretMnemonic,
    input: &mut Input,
) -> anyhow::Result<Option<usize>> {
    if a.batch {
        let again = input.secret_line("Re-enter the whole mnemonic: ")?;
        let same = mnemonic::parse(&again)
            .map(|again| again.expose_secret() == m.expose_secret())
            .unwrap_or(false);
        if !same {
            eprintln!("custos-signer: verification quiz failed: the words re-entered are not the mnemonic");
            return Ok(None);
        }
        return Ok(Some(words.count()));
    }
    let positions = mnemonic::quiz_positions(words.count(), a.quiz)?;
    for &p in &positions {
        let mut ok = false;
        for _ in 0..3 {
            let ans = input.secret_line(&format!("Word #{}: ", p + 1))?;
            if mnemonic::check_answer(m, p, &ans).is_ok() {
                ok = true;
                break;
            }
            screen(false, "That is not the word. Check your copy.\n");
        }
        if !ok {
            eprintln!(
                "custos-signer: verification quiz failed at word {}: nothing was written",
                p + 1
            );
            return Ok(None);
        }
    }
    Ok(Some(positions.len()))
}

/// The two passphrase entries differed.
struct PassphraseMismatch;

/// Step 4: the optional BIP39 passphrase (asked twice when interactive).
fn read_passphrase(
    a: &GenerateArgs,
    input: &mut Input,
) -> anyhow::Result<Result<Option<SecretString>, PassphraseMismatch>> {
    if !a.passphrase {
        return Ok(Ok(None));
    }
    let p1 = input.secret_line("BIP39 passphrase (not echoed): ")?;
    if !a.batch {
        let p2 = input.secret_line("Repeat the passphrase: ")?;
        if p1.expose_secret() != p2.expose_secret() {
            eprintln!("custos-signer: the passphrases differ: nothing was written");
            return Ok(Err(PassphraseMismatch));
        }
    }
    Ok(Ok(Some(p1)))
}

/// What `write_key_record` wrote.
struct Written {
    fingerprint: String,
    key_expr: String,
    json_path: PathBuf,
    bsms_path: PathBuf,
    files: Vec<FileHash>,
}

/// Step 5: the key record at the script's account path with its proof of possession, checked as
/// the coordinator will check it, then written as JSON and BSMS. The mnemonic, passphrase and
/// seed are dropped as soon as the account key is derived.
fn write_key_record(
    a: &GenerateArgs,
    challenge: &str,
    created: &str,
    m: SecretMnemonic,
    passphrase: Option<SecretString>,
) -> anyhow::Result<Written> {
    let secp = Secp256k1::new();
    let seed = mnemonic::seed(&m, passphrase.as_ref());
    drop(passphrase);
    drop(m);
    let path = a.script.account_path(a.network);
    let account = derive_account(&secp, &seed, a.network, &path)?;
    // The Ethereum key (m/44'/60'/0'/0/0) comes from the same seed; its address is covered by
    // the BIP-322 proof and it signs its own EIP-191 proof (custos_ceremony::eth).
    let gen = make_record_with_eth(
        &secp, &account, &seed, a.network, a.script, &a.label, challenge, created,
    )?;
    drop(seed);
    drop(account);
    // Check what we wrote, as the coordinator will.
    let json_text = serde_json::to_string_pretty(&gen.record)? + "\n";
    let fp = gen.record.fingerprint.clone();
    let json_path = a.out_dir.join(format!("key-{fp}.json"));
    let bsms_path = a.out_dir.join(format!("key-{fp}.bsms"));
    record::load_key_text(&secp, &json_text, &json_path.display().to_string())?;
    record::load_key_text(&secp, &gen.bsms, &bsms_path.display().to_string())?;
    // Both records or neither.
    custos_core::file::write_all_new(&[
        (json_path.clone(), json_text.into_bytes()),
        (bsms_path.clone(), gen.bsms.clone().into_bytes()),
    ])?;
    let files = vec![
        transcript::hash_file(&json_path)?,
        transcript::hash_file(&bsms_path)?,
    ];
    let key_expr = format!(
        "[{}/{}]{}",
        fp,
        gen.record.path.trim_start_matches("m/"),
        gen.record.xpub
    );
    Ok(Written {
        fingerprint: fp,
        key_expr,
        json_path,
        bsms_path,
        files,
    })
}

fn print_result(
    json: bool,
    fp: &str,
    key_expr: &str,
    files: &[FileHash],
    paths: &[&Path],
    transcript_path: &Path,
) -> anyhow::Result<()> {
    if json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "fingerprint": fp, "key": key_expr,
                "files": paths.iter().zip(files).map(|(p, h)| serde_json::json!({"path": p, "sha256": h.sha256})).collect::<Vec<_>>(),
                "transcript": transcript_path,
            }))?
        )?;
    } else {
        outln!("key {key_expr}")?;
        for (p, h) in paths.iter().zip(files) {
            outln!("wrote {} sha256 {}", p.display(), h.sha256)?;
        }
        outln!("transcript {}", transcript_path.display())?;
    }
    Ok(())
}

fn import(a: &ImportArgs, json: bool) -> anyhow::Result<u8> {
    let text = custos_core::file::read_text(&a.file, custos_core::file::KEY_RECORD)?;
    let file = a.file.display().to_string();
    let created = custos_core::ledger::now_utc();
    let rec = custos_ceremony::import::import_text(
        &text, &file, a.network, a.script, &a.label, &created,
    )?;
    let secp = Secp256k1::verification_only();
    let json_text = serde_json::to_string_pretty(&rec)? + "\n";
    rec.check(&secp, &file)?;
    std::fs::create_dir_all(&a.out_dir)
        .with_context(|| format!("cannot create {}", a.out_dir.display()))?;
    let path = a.out_dir.join(format!("key-{}.json", rec.fingerprint));
    write_file(&path, json_text.as_bytes(), false)?;
    let transcript_path = a
        .transcript
        .clone()
        .unwrap_or_else(|| a.out_dir.join("ceremony-transcript.jsonl"));
    let files = vec![
        transcript::hash_file(&a.file)?,
        transcript::hash_file(&path)?,
    ];
    let key_expr = format!(
        "[{}/{}]{}",
        rec.fingerprint,
        rec.path.trim_start_matches("m/"),
        rec.xpub
    );
    transcript::append(
        &transcript_path,
        &Entry {
            format: TRANSCRIPT_FORMAT.into(),
            time: created,
            who: a.who.clone(),
            host: host(),
            step: "ceremony.key_imported".into(),
            fingerprints: vec![rec.fingerprint.clone()],
            files: files.clone(),
            details: serde_json::json!({
                "network": a.network, "script": a.script, "origin": rec.origin,
                "key": key_expr, "proof": "none (unproven: assemble needs --allow-unproven)",
            }),
        },
    )?;
    eprintln!("custos-signer: imported key has no proof of possession; assemble will need --allow-unproven");
    print_result(
        json,
        &rec.fingerprint,
        &key_expr,
        &files[1..],
        &[&path],
        &transcript_path,
    )?;
    Ok(0)
}
