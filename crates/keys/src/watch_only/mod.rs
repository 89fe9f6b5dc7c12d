//! From seized material to the watch-only file the online side scans ([`watch_only`]).
//!
//! The work runs in named phases: [`check_request`] (options against the catalogue and the
//! material), one `*_sources` phase per kind of material (each returns the file fingerprint's
//! input), [`coverage::coverage`] (what the file covers and leaves out), then assembly.

mod coverage;
mod hd;
mod plain;
pub(crate) mod sink;

use std::{fmt, str::FromStr};

use bitcoin::{
    bip32::{DerivationPath, Fingerprint, Xpriv},
    hashes::{sha256, Hash},
    secp256k1::Secp256k1,
};
use custos_core::{
    inventory::{WatchOnly, WATCH_ONLY_FORMAT},
    Network, SecretString,
};
use zeroize::Zeroize;

use crate::{
    catalogue::{Catalogue, MaterialClass, ScriptType},
    electrum::{self, ElectrumSeedKind},
    material::{ExtendedPrivateKey, ExtendedPublicKey, Material},
    Error,
};
use hd::{master_key, Ctx};
use sink::Sink;

/// Receive-chain gap limit of a default scan (the same as `custos inspect`'s default).
pub const DEFAULT_GAP: u32 = 20;
/// Change-chain gap limit of a default scan (the same as `custos inspect`'s default).
pub const DEFAULT_CHANGE_GAP: u32 = 10;
/// Accounts listed by default per path with account discovery.
pub const DEFAULT_ACCOUNTS: u32 = 5;
/// Receive and change gap limit of a deep scan.
pub const DEEP_GAP: u32 = 1000;
/// Accounts listed by a deep scan.
pub const DEEP_ACCOUNTS: u32 = 20;

/// Options of [`watch_only`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchOnlyOptions {
    /// Accounts emitted per catalogue path that discovers accounts: 0..accounts.
    pub accounts: u32,
    /// Catalogue ids to use; `None` = every entry (deep-only entries only in deep mode).
    pub paths: Option<Vec<String>>,
    /// Keys per chain listed for paths that cannot be ranged publicly (hardened indexes, e.g.
    /// Bitcoin Core legacy m/0'/0'/i'; Electrum old seeds).
    pub hardened_window: u32,
    /// Receive-chain gap limit the scan of this file should use (recorded, not applied here).
    pub gap: u32,
    /// Change-chain gap limit the scan should use (recorded).
    pub change_gap: u32,
    /// Deep mode: also the deep-only layouts (chains at the root, under m/0) and every layout
    /// at the other network's coin type.
    pub deep: bool,
    /// Account-level paths given by hand (receive and change chains under each).
    pub custom: Vec<CustomPath>,
}

impl Default for WatchOnlyOptions {
    fn default() -> Self {
        WatchOnlyOptions {
            accounts: DEFAULT_ACCOUNTS,
            paths: None,
            hardened_window: 100,
            gap: DEFAULT_GAP,
            change_gap: DEFAULT_CHANGE_GAP,
            deep: false,
            custom: Vec::new(),
        }
    }
}

impl WatchOnlyOptions {
    /// Deep mode for forensic completeness: gap and change gap [`DEEP_GAP`], accounts
    /// [`DEEP_ACCOUNTS`], the deep-only layouts and the other network's coin type.
    pub fn deep() -> Self {
        WatchOnlyOptions {
            accounts: DEEP_ACCOUNTS,
            gap: DEEP_GAP,
            change_gap: DEEP_GAP,
            deep: true,
            ..WatchOnlyOptions::default()
        }
    }
}

/// An account-level path given by hand, with its script type (`wpkh:m/84'/0'/0'`) or without
/// (`m/84'/0'/0'`: every single-key type). Receive and change chains (`/0/*`, `/1/*`) are
/// listed under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomPath {
    /// Script type; `None` = pkh, sh-wpkh, wpkh and tr.
    pub script: Option<ScriptType>,
    /// Path from the master key.
    pub path: DerivationPath,
}

impl CustomPath {
    /// The script types listed under the path.
    pub fn scripts(&self) -> Vec<ScriptType> {
        match self.script {
            Some(s) => vec![s],
            None => ScriptType::SINGLE_KEY.to_vec(),
        }
    }
}

impl FromStr for CustomPath {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = |fault: String| Error::Invalid {
            kind: "custom derivation path",
            line: None,
            fault,
        };
        let (script, path) = match s.split_once(':') {
            Some((t, p)) => {
                let st = ScriptType::from_single_key_name(t.trim()).ok_or_else(|| {
                    bad(format!(
                        "{s:?}: script type {t:?} is none of pkh, sh-wpkh, wpkh, tr"
                    ))
                })?;
                (Some(st), p.trim())
            }
            None => (None, s.trim()),
        };
        if !path.starts_with('m') {
            return Err(bad(format!(
                "{s:?}: a path starts at the master key, m/..."
            )));
        }
        let path = DerivationPath::from_str(&path.replace('h', "'"))
            .map_err(|e| bad(format!("{s:?}: {e}")))?;
        Ok(CustomPath { script, path })
    }
}

impl fmt::Display for CustomPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let script = self.script.map_or("any", ScriptType::name);
        write!(f, "custom:{script}:m")?;
        if !self.path.is_empty() {
            write!(f, "/{}", self.path)?;
        }
        Ok(())
    }
}

fn sha256_hex(data: &[u8]) -> String {
    sha256::Hash::hash(data).to_string()
}

/// Turns seized material into the watch-only file for the online scan.
///
/// - HD material (BIP39 + passphrase, Electrum standard/segwit seeds, master xprv): one source
///   per (catalogue layout, account, chain) with a public ranged descriptor with key origin, e.g.
///   `wpkh([fingerprint/84'/1'/0']tpub.../0/*)#checksum`; paths that discover accounts list
///   accounts `0..opts.accounts`; hardened-index paths list `opts.hardened_window` single keys
///   per chain; paths given by hand (`opts.custom`) list receive and change chains. Deep mode
///   adds the deep-only layouts and every layout at the other network's coin type. Multisig
///   cosigner paths (BIP48) are skipped: one seed does not determine the multisig addresses.
/// - Electrum old seeds: `opts.hardened_window` uncompressed P2PKH keys per chain.
/// - Electrum 2FA seeds: `sh|wsh(sortedmulti(2, x1, x2, x3))` per chain, x3 being TrustedCoin's
///   key for this wallet.
/// - Account-level xprv/xpub (any SLIP-132 form): receive and change chains for the script
///   type(s) the prefix announces (all four single-key types for a plain xpub/tpub).
/// - WIF keys: one source per plausible script type (compressed: pkh, wpkh, sh(wpkh), tr;
///   uncompressed: pkh only).
/// - Descriptors: public form (multipath split into receive/change); addresses: `addr(...)`.
///
/// The file records its coverage (limits, layouts, what is left out). No secret appears in it.
pub fn watch_only(
    material: &Material,
    passphrase: Option<&SecretString>,
    network: Network,
    catalogue: &Catalogue,
    opts: &WatchOnlyOptions,
) -> Result<WatchOnly, Error> {
    check_request(material, passphrase, catalogue, opts)?;
    let ctx = Ctx {
        secp: Secp256k1::new(),
        network,
        catalogue,
        opts,
    };
    let mut sink = Sink::default();
    let fingerprint = material_sources(&ctx, material, passphrase, &mut sink)?;
    let coverage = coverage::coverage(&ctx, material, &sink.layouts);
    let mut described = material.describe();
    if passphrase.is_some_and(|p| !p.is_empty()) {
        described.push_str(", with passphrase");
    }
    Ok(WatchOnly {
        format: WATCH_ONLY_FORMAT.to_string(),
        network,
        created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        material: described,
        fingerprint,
        sources: sink.sources,
        coverage: Some(coverage),
    })
}

/// Phase 1: the options name known catalogue entries, a passphrase goes with a seed, and paths
/// given by hand go with material that has a master private key.
fn check_request(
    material: &Material,
    passphrase: Option<&SecretString>,
    catalogue: &Catalogue,
    opts: &WatchOnlyOptions,
) -> Result<(), Error> {
    if let Some(ids) = &opts.paths {
        if let Some(bad) = ids.iter().find(|id| catalogue.get(id).is_none()) {
            return Err(Error::UnknownPath(bad.clone()));
        }
    }
    let seed = material.has_seed();
    if passphrase.is_some_and(|p| !p.is_empty()) && !seed {
        return Err(Error::Unsupported {
            kind: material.kind_name(),
            reason:
                "a passphrase applies only to bip39 mnemonics, electrum seeds and slip-39 shares"
                    .into(),
        });
    }
    let master_xprv = matches!(material, Material::ExtendedPrivate { keys } if keys.iter().all(|k| k.xpub.depth == 0));
    if !opts.custom.is_empty() && !seed && !master_xprv {
        return Err(Error::Unsupported {
            kind: material.kind_name(),
            reason: "paths given by hand need a seed or a master private key to derive from".into(),
        });
    }
    Ok(())
}

/// Phase 2: the sources of each kind of material; returns the file fingerprint (sha256 of the
/// master fingerprints, public keys, descriptors or addresses).
fn material_sources(
    ctx: &Ctx<'_>,
    material: &Material,
    passphrase: Option<&SecretString>,
    sink: &mut Sink,
) -> Result<String, Error> {
    Ok(match material {
        Material::Bip39 {
            phrase,
            also_electrum,
            ..
        } => {
            let seed = crate::mnemonic::bip39_seed(phrase, passphrase)?;
            let mut fps = seed_sources(ctx, seed.expose_secret(), sink)?.to_string();
            if let Some(kind) = also_electrum {
                if let Ok(fp) = ctx.electrum_sources(*kind, phrase, passphrase, false, sink) {
                    fps.push_str(&format!(",{fp}"));
                }
            }
            sha256_hex(fps.as_bytes())
        }
        Material::ElectrumSeed { kind, phrase, .. } => {
            let fp = ctx.electrum_sources(*kind, phrase, passphrase, true, sink)?;
            sha256_hex(fp.to_string().as_bytes())
        }
        Material::Slip39 { ems } => {
            let seed = crate::slip39::decrypt(ems, passphrase)?;
            let fp = seed_sources(ctx, seed.expose_secret(), sink)?;
            sha256_hex(fp.to_string().as_bytes())
        }
        Material::ElectrumWalletEncrypted { .. } => {
            return Err(Error::Unsupported {
                kind: "electrum wallet file",
                reason: "the file is storage encrypted: open it with its password first".into(),
            })
        }
        Material::ElectrumWallet(w) => electrum_wallet_sources(ctx, w, sink)?,
        Material::ExtendedPrivate { keys } => xprv_sources(ctx, keys, sink)?,
        Material::ExtendedPublic { keys } => xpub_list_sources(keys, sink)?,
        Material::Descriptors(items) => sha256_hex(
            plain::descriptor_sources(items, sink)?
                .join("\n")
                .as_bytes(),
        ),
        Material::Wif(keys) => sha256_hex(&plain::wif_sources(keys, sink)?),
        Material::Addresses(items) => {
            sha256_hex(plain::address_sources(items, sink)?.join("\n").as_bytes())
        }
    })
}

/// Every BIP32 layout below the master key of a BIP32 seed; returns the master fingerprint.
fn seed_sources(ctx: &Ctx<'_>, seed: &[u8], sink: &mut Sink) -> Result<Fingerprint, Error> {
    let master = master_key(ctx.network, seed)?;
    ctx.hd_sources(&master, &[MaterialClass::Bip32], sink)?;
    ctx.custom_sources(&master, sink)?;
    Ok(master.fingerprint(&ctx.secp))
}

/// Master xprvs: every layout (BIP32 and Electrum standard/segwit); deeper xprvs: their
/// receive and change chains as an account key.
fn xprv_sources(
    ctx: &Ctx<'_>,
    keys: &[ExtendedPrivateKey],
    sink: &mut Sink,
) -> Result<String, Error> {
    let mut fps = Vec::new();
    for k in keys {
        let xprv = Xpriv::from_str(k.xprv.expose_secret()).map_err(|e| Error::Invalid {
            kind: "extended private key",
            line: Some(k.line),
            fault: e.to_string(),
        })?;
        if xprv.depth == 0 {
            let classes = [
                MaterialClass::Bip32,
                MaterialClass::ElectrumStandard,
                MaterialClass::ElectrumSegwit,
            ];
            ctx.hd_sources(&xprv, &classes, sink)?;
            ctx.custom_sources(&xprv, sink)?;
        } else {
            let public = ExtendedPublicKey {
                xpub: k.xpub,
                prefix: k.prefix,
                hint: k.hint,
                origin: k.origin.clone(),
                line: k.line,
            };
            plain::xpub_sources(&public, "xprv", sink)?;
        }
        fps.push(xprv.fingerprint(&ctx.secp).to_string());
    }
    Ok(sha256_hex(fps.join(",").as_bytes()))
}

/// An Electrum wallet file's own sources, and a window of keys of an old-seed keystore.
fn electrum_wallet_sources(
    ctx: &Ctx<'_>,
    w: &crate::electrum_wallet::ElectrumWallet,
    sink: &mut Sink,
) -> Result<String, Error> {
    let layout = format!("electrum-wallet:{}", w.wallet_type);
    let mut texts = Vec::new();
    for s in &w.sources {
        texts.push(s.descriptor.clone());
        let source = sink::plain_source(s.label.clone(), s.descriptor.clone(), s.change);
        sink.push(&layout, source);
    }
    if let Some(mpk) = &w.old_mpk {
        for chain in [0u32, 1] {
            for i in 0..ctx.opts.hardened_window {
                let pk = electrum::old_derive_pubkey(&ctx.secp, mpk, chain, i)?;
                let text = format!("pkh({})", hex::encode(pk.serialize_uncompressed()));
                let d = sink::checked_descriptor(&text)?;
                texts.push(d.clone());
                let label = format!("electrum-old/{chain}/{i}");
                sink.push(&layout, sink::plain_source(label, d, chain == 1));
            }
        }
    }
    Ok(sha256_hex(texts.join("\n").as_bytes()))
}

fn xpub_list_sources(keys: &[ExtendedPublicKey], sink: &mut Sink) -> Result<String, Error> {
    for k in keys {
        plain::xpub_sources(k, "xpub", sink)?;
    }
    let fps: Vec<String> = keys
        .iter()
        .map(|k| k.xpub.fingerprint().to_string())
        .collect();
    Ok(sha256_hex(fps.join(",").as_bytes()))
}

/// Master fingerprint(s) of HD secret material (for summaries), `None` for other kinds.
pub fn master_fingerprint(
    material: &Material,
    passphrase: Option<&SecretString>,
    network: Network,
) -> Result<Option<Fingerprint>, Error> {
    let secp = Secp256k1::new();
    let seed: Option<Vec<u8>> = match material {
        Material::Bip39 { phrase, .. } => Some(
            crate::mnemonic::bip39_seed(phrase, passphrase)?
                .expose_secret()
                .clone(),
        ),
        Material::ElectrumSeed { kind, phrase, .. } => match kind {
            ElectrumSeedKind::Old => None,
            _ => Some(
                electrum::electrum_seed(phrase, passphrase)
                    .expose_secret()
                    .clone(),
            ),
        },
        Material::Slip39 { ems } => Some(
            crate::slip39::decrypt(ems, passphrase)?
                .expose_secret()
                .clone(),
        ),
        Material::ExtendedPrivate { keys } => {
            return Ok(keys
                .first()
                .filter(|k| k.xpub.depth == 0)
                .map(|k| k.xpub.fingerprint()));
        }
        _ => None,
    };
    let Some(mut seed) = seed else {
        return Ok(None);
    };
    let master = master_key(network, &seed);
    seed.zeroize();
    Ok(Some(master?.fingerprint(&secp)))
}
