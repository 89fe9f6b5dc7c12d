//! Per-student variants of a scenario: the same story (wallet kinds, derivation paths, decoys,
//! steps) with other keys, addresses and amounts, so neighbours in a class cannot copy answers.
//!
//! Everything is derived from `(scenario seed, student id)`:
//!
//! - the student key `K = HMAC-SHA256(key = "custos-lab variant <seed>", message = student id)`;
//! - the variant's scenario seed (lab-internal wallets, drawn amounts, background) is the first
//!   8 bytes of `K` (top bit cleared: TOML integers are signed);
//! - every material file a wallet names (`mnemonic_file`, `passphrase_file`, `wif_file`,
//!   `xpub_file`) is generated afresh, of the same kind and size, from a ChaCha20 stream seeded
//!   with `HMAC-SHA256(K, "file <name>")`: a BIP39 phrase of the same word count, an Electrum
//!   segwit seed (version prefix 100, not valid BIP39), a passphrase of three words and a number,
//!   the same number of WIF keys, an extended key with the same SLIP-132 prefix. A file two
//!   wallets share (a card with and without its passphrase) stays shared;
//! - every fixed amount is scaled by a factor from `K`: 0.85–1.15 (never within 1 % of 1) for
//!   amounts of 1,000 sat and more, 0.70–0.99 for smaller (dust-class) amounts, so dust stays
//!   dust; `amount_range` and `fund_range` bounds scale with the first factor. Fee rates and fixed
//!   fee contributions are kept, so the exercise's fee bounds keep their meaning.
//!
//! The variant is named `<scenario>@<student>`; the ground truth of a variant is computed by
//! building its chain like any scenario's (`custos-lab truth --scenario S --variant ID`).
//! Files of the scenario directory no wallet names (a handout, decoy words, the exercise) are
//! copied unchanged to a student's folder; the ground truth and files derived from it are not.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bitcoin::bip32::{Xpriv, Xpub};
use bitcoin::hashes::{hmac, sha256, Hash, HashEngine};
use bitcoin::secp256k1::{Secp256k1, SecretKey};
use bitcoin::{NetworkKind, PrivateKey};
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use toml::Value;

use crate::keys::{electrum_seed_version, slip132_version};
use crate::scenario::Scenario;
use crate::Error;

/// Files of a scenario directory that are never handed to a student: the ground truth and what
/// is derived from it.
const INSTRUCTOR_ONLY: &[&str] = &[
    "scenario.toml",
    "ground-truth.toml",
    "transactions.jsonl",
    "clusters.toml",
    "exposure.toml",
    "labels.yaml",
];

/// Longest student id; ids are `[A-Za-z0-9_-]` (they name folders of a class).
pub const MAX_STUDENT_ID: usize = 64;

/// A generated variant: its scenario text and material files.
#[derive(Clone)]
pub struct Variant {
    /// The variant's scenario (material held in memory; `dir` is the base scenario's).
    pub scenario: Scenario,
    /// `scenario.toml` of the variant.
    pub scenario_toml: String,
    /// Generated material files by name.
    files: BTreeMap<String, String>,
}

impl std::fmt::Debug for Variant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Variant")
            .field("scenario", &self.scenario.name)
            .field("files", &self.files.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Checks a student id: 1–64 characters of `[A-Za-z0-9_-]`.
pub fn check_student_id(id: &str) -> Result<(), Error> {
    let ok = !id.is_empty()
        && id.len() <= MAX_STUDENT_ID
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(Error::scenario(
            id,
            "a student id is 1-64 characters of letters, digits, '-' and '_'",
        ))
    }
}

/// The scenario `base` as student `student` gets it (see the module docs).
pub fn variant_scenario(base: &str, student: &str) -> Result<Scenario, Error> {
    Ok(make_variant(base, student)?.scenario)
}

/// The scenario `base` (a name in fixtures/lab or a path), its `scenario.toml` path and text.
fn base_scenario(base: &str) -> Result<(Scenario, PathBuf, String), Error> {
    let sc = Scenario::resolve(base)?;
    let file = if Path::new(base).exists() {
        Scenario::file_of(Path::new(base))
    } else {
        sc.dir.join("scenario.toml")
    };
    let text = custos_core::file::read_text(&file, custos_core::file::SCENARIO)?;
    Ok((sc, file, text))
}

/// Generates the variant of `base` for `student`.
pub fn make_variant(base: &str, student: &str) -> Result<Variant, Error> {
    check_student_id(student)?;
    let (sc, file, text) = base_scenario(base)?;
    let mut doc: toml::Table = toml::from_str(&text).map_err(|e| Error::ScenarioSyntax {
        file: file.clone(),
        source: Box::new(e),
    })?;
    let k = student_key(sc.seed, student);
    let seed = u64::from_le_bytes(first8(&k)) & (u64::MAX >> 1);
    let name = format!("{}@{student}", sc.name);
    doc.insert("name".into(), Value::String(name.clone()));
    doc.insert(
        "description".into(),
        Value::String(format!("{} (variant of student {student})", sc.description)),
    );
    doc.insert("seed".into(), Value::Integer(seed_as_i64(seed)));
    let scale = Scale::from_key(&k);
    for key in ["step", "background"] {
        if let Some(v) = doc.get_mut(key) {
            scale.apply(v);
        }
    }
    let files = material_files(&sc, &k)?;
    let scenario_toml = toml::to_string(&doc).map_err(|e| Error::scenario(&name, e.to_string()))?;
    let mut scenario = Scenario::parse(&scenario_toml, &file)?;
    scenario.files = files.clone();
    Ok(Variant {
        scenario,
        scenario_toml,
        files,
    })
}

fn first8(k: &[u8; 32]) -> [u8; 8] {
    let mut b = [0u8; 8];
    b.copy_from_slice(&k[..8]);
    b
}

fn seed_as_i64(seed: u64) -> i64 {
    i64::try_from(seed).expect("the top bit is cleared")
}

/// `HMAC-SHA256(key = "custos-lab variant <seed>", student id)`.
fn student_key(seed: u64, student: &str) -> [u8; 32] {
    let mut e =
        hmac::HmacEngine::<sha256::Hash>::new(format!("custos-lab variant {seed}").as_bytes());
    e.input(student.as_bytes());
    hmac::Hmac::<sha256::Hash>::from_engine(e).to_byte_array()
}

/// The random stream of one material file.
fn file_rng(k: &[u8; 32], name: &str) -> ChaCha20Rng {
    let mut e = hmac::HmacEngine::<sha256::Hash>::new(k);
    e.input(b"file ");
    e.input(name.as_bytes());
    ChaCha20Rng::from_seed(hmac::Hmac::<sha256::Hash>::from_engine(e).to_byte_array())
}

/// The amount factors of a variant, in ten-thousandths.
#[derive(Debug, Clone, Copy)]
struct Scale {
    /// For amounts of 1,000 sat and more: 8500–11500, never 9900–10100.
    normal: u64,
    /// For smaller amounts: 7000–9900.
    dust: u64,
}

/// Amounts below this are dust-class: only ever scaled down.
const DUST_CLASS: u64 = 1_000;

impl Scale {
    fn from_key(k: &[u8; 32]) -> Scale {
        let a = u64::from(u16::from_le_bytes([k[8], k[9]])) % 2800;
        let normal = if a < 1400 { 8500 + a } else { 10100 + a - 1400 };
        let dust = 7000 + u64::from(u16::from_le_bytes([k[10], k[11]])) % 2901;
        Scale { normal, dust }
    }

    fn amount(self, sat: u64) -> u64 {
        let f = if sat < DUST_CLASS {
            self.dust
        } else {
            self.normal
        };
        let scaled = u128::from(sat) * u128::from(f) / 10_000;
        u64::try_from(scaled).unwrap_or(u64::MAX).max(1)
    }

    fn range_bound(self, sat: u64) -> u64 {
        let scaled = u128::from(sat) * u128::from(self.normal) / 10_000;
        u64::try_from(scaled).unwrap_or(u64::MAX).max(1)
    }

    /// Scales every `amount`, `amount_range` and `fund_range` below `v`.
    fn apply(self, v: &mut Value) {
        match v {
            Value::Array(a) => a.iter_mut().for_each(|x| self.apply(x)),
            Value::Table(t) => {
                for (key, x) in t.iter_mut() {
                    match (key.as_str(), x) {
                        ("amount", Value::Integer(n)) => {
                            if let Ok(sat) = u64::try_from(*n) {
                                *n = i64::try_from(self.amount(sat)).unwrap_or(*n);
                            }
                        }
                        ("amount_range" | "fund_range", Value::Array(r)) => {
                            for b in r.iter_mut() {
                                if let Value::Integer(n) = b {
                                    if let Ok(sat) = u64::try_from(*n) {
                                        *n = i64::try_from(self.range_bound(sat)).unwrap_or(*n);
                                    }
                                }
                            }
                        }
                        (_, x) => self.apply(x),
                    }
                }
            }
            _ => {}
        }
    }
}

/// Fresh material for every file a wallet names.
fn material_files(sc: &Scenario, k: &[u8; 32]) -> Result<BTreeMap<String, String>, Error> {
    use crate::scenario::WalletKind;
    let mut files = BTreeMap::new();
    for w in &sc.wallets {
        let werr = |d: String| Error::Wallet {
            wallet: w.id.clone(),
            detail: d,
        };
        let named = [
            (&w.mnemonic_file, Material::Mnemonic(w.kind)),
            (&w.passphrase_file, Material::Passphrase),
            (&w.wif_file, Material::Wif),
            (&w.xpub_file, Material::Xpub),
        ];
        for (f, kind) in named {
            let Some(name) = f else { continue };
            if files.contains_key(name) {
                continue;
            }
            let old = sc.read_file(name)?;
            let mut rng = file_rng(k, name);
            let new = match kind {
                Material::Mnemonic(WalletKind::ElectrumSegwit) => electrum_segwit_seed(&mut rng),
                Material::Mnemonic(_) => bip39_phrase(&mut rng, old.split_whitespace().count())
                    .map_err(|e| werr(format!("{name}: {e}")))?,
                Material::Passphrase => passphrase(&mut rng),
                Material::Wif => {
                    wif_list(&mut rng, &old).map_err(|e| werr(format!("{name}: {e}")))?
                }
                Material::Xpub => {
                    xpub(&mut rng, old.trim()).map_err(|e| werr(format!("{name}: {e}")))?
                }
            };
            files.insert(name.clone(), new);
        }
    }
    Ok(files)
}

#[derive(Debug, Clone, Copy)]
enum Material {
    Mnemonic(crate::scenario::WalletKind),
    Passphrase,
    Wif,
    Xpub,
}

fn words() -> &'static [&'static str; 2048] {
    bip39::Language::English.word_list()
}

fn bip39_phrase(rng: &mut ChaCha20Rng, word_count: usize) -> Result<String, String> {
    let bytes = match word_count {
        12 => 16,
        15 => 20,
        18 => 24,
        21 => 28,
        24 => 32,
        n => return Err(format!("a bip39 phrase of {n} words")),
    };
    let mut ent = vec![0u8; bytes];
    rng.fill_bytes(&mut ent);
    let m = bip39::Mnemonic::from_entropy(&ent).map_err(|e| e.to_string())?;
    Ok(format!("{m}\n"))
}

/// Twelve words whose Electrum seed version starts with `100` (native segwit) and which are not
/// a valid BIP39 phrase (Electrum's own rule, so a classifier cannot mistake it).
fn electrum_segwit_seed(rng: &mut ChaCha20Rng) -> String {
    loop {
        let phrase = (0..12)
            .map(|_| words()[rng.gen_range(0..2048)])
            .collect::<Vec<_>>()
            .join(" ");
        if electrum_seed_version(&phrase).starts_with("100")
            && bip39::Mnemonic::parse_normalized(&phrase).is_err()
        {
            return format!("{phrase}\n");
        }
    }
}

fn passphrase(rng: &mut ChaCha20Rng) -> String {
    let w: Vec<&str> = (0..3).map(|_| words()[rng.gen_range(0..2048)]).collect();
    format!("{} {}\n", w.join(" "), rng.gen_range(1000..10000))
}

fn secret_key(rng: &mut ChaCha20Rng) -> SecretKey {
    loop {
        let mut b = [0u8; 32];
        rng.fill_bytes(&mut b);
        if let Ok(k) = SecretKey::from_slice(&b) {
            return k;
        }
    }
}

/// As many WIF keys as the original has (comments and blank lines kept in place).
fn wif_list(rng: &mut ChaCha20Rng, old: &str) -> Result<String, String> {
    let mut out = String::new();
    for line in old.lines() {
        let l = line.trim();
        if l.is_empty() || l.starts_with('#') {
            out.push_str(line);
        } else {
            let was = PrivateKey::from_wif(l).map_err(|_| "a line that is not a WIF key")?;
            let mut k = PrivateKey::new(secret_key(rng), NetworkKind::Test);
            k.compressed = was.compressed;
            out.push_str(&k.to_wif());
        }
        out.push('\n');
    }
    Ok(out)
}

/// A fresh account-level extended public key with the original's SLIP-132 prefix and depth.
fn xpub(rng: &mut ChaCha20Rng, old: &str) -> Result<String, String> {
    let prefix = old.get(..4).unwrap_or_default();
    let version = slip132_version(prefix).ok_or_else(|| format!("xpub prefix {prefix:?}"))?;
    let mut seed = [0u8; 32];
    rng.fill_bytes(&mut seed);
    let secp = Secp256k1::new();
    let master = Xpriv::new_master(NetworkKind::Test, &seed).map_err(|e| e.to_string())?;
    let path = crate::keys::parse_path("m/84'/1'/0'")?;
    let account = master
        .derive_priv(&secp, &path)
        .map_err(|e| e.to_string())?;
    let mut data = Xpub::from_priv(&secp, &account).encode();
    data[..4].copy_from_slice(&version);
    Ok(format!("{}\n", bitcoin::base58::encode_check(&data)))
}

/// Writes student `student`'s copy of `base` into the new directory `out`: `scenario.toml`,
/// the generated material, and the scenario's other student files (handout, decoys, exercise)
/// unchanged — all or nothing; `out` must not exist. Returns the files written.
///
/// A scenario with publicly known entities (tracing) also gets the variant's own label pack
/// `labels.yaml`: the variant's chain is built to find their addresses.
pub fn write_variant(base: &str, student: &str, out: &Path) -> Result<Vec<PathBuf>, Error> {
    let v = make_variant(base, student)?;
    let mut files = v.files.clone();
    if v.scenario.wallets.iter().any(|w| w.label.is_some()) {
        let lab = crate::Lab::start_scenario(v.scenario.clone(), crate::LabConfig::scenario(base))?;
        if let Some(pack) = label_pack(lab.ground_truth()) {
            files.insert("labels.yaml".into(), pack);
        }
    }
    write_folder(&v.scenario.dir, &v.scenario_toml, &files, out)
}

/// The label pack (GraphSense TagPack YAML) of a tracing scenario's ground truth: every address
/// of every publicly known entity, as `fixtures/lab/tools/make_labels.py` writes it.
pub fn label_pack(truth: &crate::GroundTruth) -> Option<String> {
    let tracing = truth.tracing.as_ref()?;
    let name = &truth.scenario;
    let mut out = format!(
        "title: custos-lab {name} known entities\ncreator: custos-lab\ndescription: Entities the course treats as publicly known (GraphSense TagPack format). Generated from ground-truth.toml.\nlastmod: 2026-11-25\nis_public: true\ncurrency: BTC\nsource: custos-lab {name} scenario\nconfidence: ownership\ntags:\n"
    );
    for e in &tracing.entities {
        let (Some(label), Some(category)) = (&e.label, &e.category) else {
            continue;
        };
        for a in &e.addresses {
            out.push_str(&format!(
                "  - address: {a}\n    label: {label}\n    category: {category}\n"
            ));
        }
    }
    Some(out)
}

/// Writes the scenario `base` itself as a student's folder (a shared class: one chain, the same
/// material for everyone), as [`write_variant`] does for a variant.
pub fn write_scenario_copy(base: &str, out: &Path) -> Result<Vec<PathBuf>, Error> {
    let (sc, _, text) = base_scenario(base)?;
    write_folder(&sc.dir, &text, &BTreeMap::new(), out)
}

fn write_folder(
    base_dir: &Path,
    scenario_toml: &str,
    generated: &BTreeMap<String, String>,
    out: &Path,
) -> Result<Vec<PathBuf>, Error> {
    if out.exists() {
        return Err(Error::File(custos_core::file::FileError::Exists {
            path: out.to_path_buf(),
        }));
    }
    let mut files: Vec<(String, Vec<u8>)> =
        vec![("scenario.toml".into(), scenario_toml.as_bytes().to_vec())];
    for (name, text) in generated {
        files.push((name.clone(), text.clone().into_bytes()));
    }
    let entries = std::fs::read_dir(base_dir).map_err(|e| Error::io(base_dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(base_dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let skip = INSTRUCTOR_ONLY.contains(&name.as_str()) || generated.contains_key(&name);
        if skip || !entry.path().is_file() {
            continue;
        }
        let data = custos_core::file::read_bytes(&entry.path(), custos_core::file::SCENARIO_FILE)?;
        files.push((name, data));
    }
    // Staged in a sibling directory and renamed: a failure leaves no partial folder.
    let staging = out.with_file_name(format!(
        ".{}.partial",
        out.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default()
    ));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging).map_err(|e| Error::io(&staging, e))?;
    let staged: Vec<(PathBuf, Vec<u8>)> = files
        .iter()
        .map(|(n, d)| (staging.join(n), d.clone()))
        .collect();
    let done = custos_core::file::write_all_new(&staged)
        .map_err(Error::from)
        .and_then(|()| std::fs::rename(&staging, out).map_err(|e| Error::io(out, e)));
    if let Err(e) = done {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(e);
    }
    Ok(files.into_iter().map(|(n, _)| out.join(n)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dust_class_amounts_only_shrink_and_others_move_by_at_least_one_percent() {
        for b in 0..=255u8 {
            let mut k = [b; 32];
            k[9] = b.wrapping_mul(7);
            let s = Scale::from_key(&k);
            assert!(s.amount(300) < 300 && s.amount(300) >= 210, "{s:?}");
            let a = s.amount(100_000);
            assert!(
                (85_000..=115_000).contains(&a) && !(99_000..=101_000).contains(&a),
                "{s:?}"
            );
        }
    }

    #[test]
    fn student_ids_with_path_characters_are_refused() {
        assert!(check_student_id("alice-01").is_ok());
        for bad in ["", "../x", "a b", "a/b", &"x".repeat(65)] {
            assert!(check_student_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_generated_electrum_seed_is_segwit_and_not_bip39() {
        let mut rng = ChaCha20Rng::from_seed([9; 32]);
        let s = electrum_segwit_seed(&mut rng);
        assert!(electrum_seed_version(s.trim()).starts_with("100"));
        assert!(bip39::Mnemonic::parse_normalized(s.trim()).is_err());
        assert_eq!(s.split_whitespace().count(), 12);
    }
}
