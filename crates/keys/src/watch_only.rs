//! From seized material to the watch-only file the online side scans ([`watch_only`]).

use std::str::FromStr;

use bitcoin::{
    bip32::{ChildNumber, DerivationPath, Fingerprint, Xpriv, Xpub},
    hashes::{sha256, Hash},
    secp256k1::{All, Secp256k1},
};
use custos_core::{
    inventory::{WatchOnly, WatchSource, WATCH_ONLY_FORMAT},
    Network, SecretString,
};
use miniscript::descriptor::{checksum, Descriptor, DescriptorPublicKey};
use zeroize::Zeroize;

use crate::{
    catalogue::{Catalogue, CatalogueEntry, IndexKind, MaterialClass, ScriptType},
    electrum::{self, ElectrumSeedKind},
    material::{ExtendedPublicKey, KeyOrigin, Material},
    slip132::ScriptHint,
    Error,
};

/// Options of [`watch_only`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchOnlyOptions {
    /// Accounts emitted per catalogue path that discovers accounts: 0..accounts. The scanner
    /// walks them with BIP44 stop rules (an unused account ends the walk).
    pub accounts: u32,
    /// Catalogue ids to use; `None` = every entry.
    pub paths: Option<Vec<String>>,
    /// Keys per chain listed for paths that cannot be ranged publicly (hardened indexes, e.g.
    /// Bitcoin Core legacy m/0'/0'/i'; Electrum old seeds).
    pub hardened_window: u32,
}

impl Default for WatchOnlyOptions {
    fn default() -> Self {
        WatchOnlyOptions {
            accounts: 5,
            paths: None,
            hardened_window: 100,
        }
    }
}

fn descriptor_error(reason: impl ToString) -> Error {
    Error::Descriptor {
        line: None,
        reason: reason.to_string(),
    }
}

/// Parses a public descriptor we built and returns it with its checksum.
fn checked_descriptor(text: &str) -> Result<String, Error> {
    let d = Descriptor::<DescriptorPublicKey>::from_str(text)
        .map_err(|e| descriptor_error(format!("{text}: {e}")))?;
    Ok(d.to_string())
}

/// `addr(ADDRESS)#checksum`.
fn addr_descriptor(address: &str) -> Result<String, Error> {
    let body = format!("addr({address})");
    let mut eng = checksum::Engine::new();
    eng.input(&body).map_err(descriptor_error)?;
    Ok(format!("{body}#{}", eng.checksum()))
}

fn origin_prefix(fp: Fingerprint, path: &DerivationPath) -> String {
    if path.is_empty() {
        format!("[{fp}]")
    } else {
        format!("[{fp}/{path}]")
    }
}

fn derive_err(path: &DerivationPath, e: impl ToString) -> Error {
    Error::Derivation {
        path: format!("m/{path}"),
        reason: e.to_string(),
    }
}

struct Ctx<'a> {
    secp: Secp256k1<All>,
    network: Network,
    catalogue: &'a Catalogue,
    opts: &'a WatchOnlyOptions,
}

impl Ctx<'_> {
    fn selected(&self, e: &CatalogueEntry) -> bool {
        self.opts.paths.as_ref().is_none_or(|p| p.contains(&e.id))
    }

    fn accounts(&self, e: &CatalogueEntry) -> Vec<u32> {
        if e.discover_accounts {
            (0..self.opts.accounts.max(1)).collect()
        } else {
            vec![0]
        }
    }

    /// Every source of the catalogue entries of `classes` below a master private key.
    fn hd_sources(
        &self,
        master: &Xpriv,
        classes: &[MaterialClass],
        out: &mut Vec<WatchSource>,
    ) -> Result<(), Error> {
        let fp = master.fingerprint(&self.secp);
        for e in &self.catalogue.entries {
            if !self.selected(e) || e.cosigner || !e.material.iter().any(|m| classes.contains(m)) {
                continue;
            }
            for account in self.accounts(e) {
                let path = e.account_path(self.network, account)?;
                let acct = master
                    .derive_priv(&self.secp, &path)
                    .map_err(|err| derive_err(&path, err))?;
                let account_field = e.has_account().then_some(account);
                match e.index {
                    IndexKind::Normal | IndexKind::Fixed => {
                        let xpub = Xpub::from_priv(&self.secp, &acct);
                        let origin = origin_prefix(fp, &path);
                        self.public_entry_sources(e, &origin, &xpub, account, account_field, out)?;
                    }
                    IndexKind::Hardened => {
                        for &chain in &e.chains {
                            let cpath = path.child(e.chain_child(chain)?);
                            let cx = master
                                .derive_priv(&self.secp, &cpath)
                                .map_err(|err| derive_err(&cpath, err))?;
                            for i in 0..self.opts.hardened_window {
                                let child = ChildNumber::from_hardened_idx(i)
                                    .map_err(|err| derive_err(&cpath, err))?;
                                let kpath = cpath.child(child);
                                let k = cx
                                    .derive_priv(&self.secp, &[child])
                                    .map_err(|err| derive_err(&kpath, err))?;
                                let pk = k.private_key.public_key(&self.secp);
                                let key = format!(
                                    "{}{}",
                                    origin_prefix(fp, &kpath),
                                    hex::encode(pk.serialize())
                                );
                                for &s in &e.scripts {
                                    let Some(text) = s.wrap(&key) else { continue };
                                    out.push(WatchSource {
                                        label: format!(
                                            "{}/{account}/{chain}/{i}/{}",
                                            e.id,
                                            s.name()
                                        ),
                                        descriptor: checked_descriptor(&text)?,
                                        change: chain == 1,
                                        catalogue_id: Some(e.id.clone()),
                                        account: account_field,
                                        wallets: e.wallets.clone(),
                                    });
                                }
                            }
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Ranged (or fixed-index) descriptors of one entry from its account xpub.
    fn public_entry_sources(
        &self,
        e: &CatalogueEntry,
        origin: &str,
        xpub: &Xpub,
        account: u32,
        account_field: Option<u32>,
        out: &mut Vec<WatchSource>,
    ) -> Result<(), Error> {
        let chains: Vec<Option<u32>> = if e.chains.is_empty() {
            vec![None]
        } else {
            e.chains.iter().copied().map(Some).collect()
        };
        for chain in chains {
            let key = match (chain, e.index) {
                (Some(c), IndexKind::Fixed) => format!("{origin}{xpub}/{c}/{}", e.fixed_index),
                (Some(c), _) => format!("{origin}{xpub}/{c}/*"),
                (None, _) => format!("{origin}{xpub}/*"),
            };
            for &s in &e.scripts {
                let Some(text) = s.wrap(&key) else { continue };
                let mut label = format!("{}/{account}", e.id);
                if let Some(c) = chain {
                    label.push_str(&format!("/{c}"));
                }
                if e.scripts.len() > 1 {
                    label.push_str(&format!("/{}", s.name()));
                }
                out.push(WatchSource {
                    label,
                    descriptor: checked_descriptor(&text)?,
                    change: chain == Some(1),
                    catalogue_id: Some(e.id.clone()),
                    account: account_field,
                    wallets: e.wallets.clone(),
                });
            }
        }
        Ok(())
    }

    /// Electrum old-seed sources: a window of single uncompressed P2PKH keys per chain.
    fn old_seed_sources(
        &self,
        phrase: &SecretString,
        out: &mut Vec<WatchSource>,
    ) -> Result<Fingerprint, Error> {
        let hex_seed = electrum::old_hex_seed(phrase)?;
        let mpk = electrum::old_master_public_key(&hex_seed)?;
        let entry = self.catalogue.get("electrum-old");
        let selected = entry.is_some_and(|e| self.selected(e));
        let wallets = entry.map(|e| e.wallets.clone()).unwrap_or_default();
        if selected {
            for chain in [0u32, 1] {
                for i in 0..self.opts.hardened_window {
                    let pk = electrum::old_derive_pubkey(&self.secp, &mpk, chain, i)?;
                    let text = format!("pkh({})", hex::encode(pk.serialize_uncompressed()));
                    out.push(WatchSource {
                        label: format!("electrum-old/{chain}/{i}"),
                        descriptor: checked_descriptor(&text)?,
                        change: chain == 1,
                        catalogue_id: Some("electrum-old".into()),
                        account: None,
                        wallets: wallets.clone(),
                    });
                }
            }
        }
        // Electrum's root fingerprint of an old keystore: hash160 of the compressed mpk.
        let h = bitcoin::hashes::hash160::Hash::hash(&mpk.serialize());
        Ok(Fingerprint::from([h[0], h[1], h[2], h[3]]))
    }

    /// Electrum 2FA sources: `sh|wsh(sortedmulti(2, x1, x2, x3))` per chain.
    fn two_factor_sources(
        &self,
        kind: ElectrumSeedKind,
        phrase: &SecretString,
        passphrase: Option<&SecretString>,
        out: &mut Vec<WatchSource>,
    ) -> Result<Fingerprint, Error> {
        let keys = electrum::two_factor_keys(phrase, passphrase, kind, self.network)?;
        let (id, wrap) = if kind == ElectrumSeedKind::TwoFactorSegwit {
            ("electrum-2fa-segwit", "wsh")
        } else {
            ("electrum-2fa", "sh")
        };
        if let Some(e) = self.catalogue.get(id).filter(|e| self.selected(e)) {
            let o1 = origin_prefix(keys.x1.master, &keys.x1.path);
            let o2 = origin_prefix(keys.x2.master, &keys.x2.path);
            for chain in [0u32, 1] {
                let text = format!(
                    "{wrap}(sortedmulti(2,{o1}{}/{chain}/*,{o2}{}/{chain}/*,{}/{chain}/*))",
                    keys.x1.xpub, keys.x2.xpub, keys.x3
                );
                out.push(WatchSource {
                    label: format!("{id}/{chain}"),
                    descriptor: checked_descriptor(&text)?,
                    change: chain == 1,
                    catalogue_id: Some(id.to_string()),
                    account: None,
                    wallets: e.wallets.clone(),
                });
            }
        }
        Ok(keys.x1.master)
    }

    /// Sources from an Electrum version-prefixed seed.
    fn electrum_sources(
        &self,
        kind: ElectrumSeedKind,
        phrase: &SecretString,
        passphrase: Option<&SecretString>,
        out: &mut Vec<WatchSource>,
    ) -> Result<Fingerprint, Error> {
        let class = match kind {
            ElectrumSeedKind::Standard => MaterialClass::ElectrumStandard,
            ElectrumSeedKind::Segwit => MaterialClass::ElectrumSegwit,
            ElectrumSeedKind::Old => {
                if passphrase.is_some_and(|p| !p.is_empty()) {
                    return Err(Error::Unsupported {
                        kind: "electrum old seed",
                        reason: "old seeds have no passphrase; run without one".into(),
                    });
                }
                return self.old_seed_sources(phrase, out);
            }
            ElectrumSeedKind::TwoFactor | ElectrumSeedKind::TwoFactorSegwit => {
                return self.two_factor_sources(kind, phrase, passphrase, out);
            }
        };
        let seed = electrum::electrum_seed(phrase, passphrase);
        let master =
            Xpriv::new_master(self.network.to_bitcoin(), seed.expose_secret()).map_err(|e| {
                Error::Derivation {
                    path: "m".into(),
                    reason: e.to_string(),
                }
            })?;
        self.hd_sources(&master, &[class], out)?;
        Ok(master.fingerprint(&self.secp))
    }
}

/// Script types to try for an extended public key of this SLIP-132 kind.
fn hint_scripts(hint: ScriptHint) -> Option<Vec<ScriptType>> {
    match hint {
        ScriptHint::Generic => Some(vec![
            ScriptType::Pkh,
            ScriptType::ShWpkh,
            ScriptType::Wpkh,
            ScriptType::Tr,
        ]),
        ScriptHint::ShWpkh => Some(vec![ScriptType::ShWpkh]),
        ScriptHint::Wpkh => Some(vec![ScriptType::Wpkh]),
        ScriptHint::ShWshMulti | ScriptHint::WshMulti => None,
    }
}

/// Receive and change chains of an account-level (or Electrum master) extended public key.
fn xpub_sources(
    k: &ExtendedPublicKey,
    name: &str,
    out: &mut Vec<WatchSource>,
) -> Result<(), Error> {
    let scripts = hint_scripts(k.hint).ok_or_else(|| Error::Unsupported {
        kind: "extended public key",
        reason: format!(
            "line {}: a {} is a multisig cosigner key; the wallet's addresses need all cosigners (give the multisig descriptor instead)",
            k.line, k.prefix
        ),
    })?;
    let origin = match (&k.origin, k.xpub.depth) {
        (Some(KeyOrigin { fingerprint, path }), _) => origin_prefix(*fingerprint, path),
        (None, 0) => format!("[{}]", k.xpub.fingerprint()),
        (None, _) => String::new(),
    };
    for chain in [0u32, 1] {
        for &s in &scripts {
            let key = format!("{origin}{}/{chain}/*", k.xpub);
            let Some(text) = s.wrap(&key) else { continue };
            out.push(WatchSource {
                label: format!("{name}/{}/{chain}/{}", k.line, s.name()),
                descriptor: checked_descriptor(&text)?,
                change: chain == 1,
                catalogue_id: None,
                account: None,
                wallets: Vec::new(),
            });
        }
    }
    Ok(())
}

fn sha256_hex(data: &[u8]) -> String {
    sha256::Hash::hash(data).to_string()
}

/// Turns seized material into the watch-only file for the online scan.
///
/// - HD material (BIP39 + passphrase, Electrum standard/segwit seeds, master xprv): one source
///   per (catalogue entry, account, chain) with a public ranged descriptor with key origin, e.g.
///   `wpkh([fingerprint/84'/1'/0']tpub.../0/*)#checksum`; paths that discover accounts list
///   accounts `0..opts.accounts` (the scanner stops at the first unused one); hardened-index
///   paths list `opts.hardened_window` single keys per chain. Multisig cosigner paths (BIP48)
///   are skipped: one seed does not determine the multisig addresses.
/// - Electrum old seeds: `opts.hardened_window` uncompressed P2PKH keys per chain.
/// - Electrum 2FA seeds: `sh|wsh(sortedmulti(2, x1, x2, x3))` per chain, x3 being TrustedCoin's
///   key for this wallet.
/// - Account-level xprv/xpub (any SLIP-132 form): receive and change chains for the script
///   type(s) the prefix announces (all four single-key types for a plain xpub/tpub).
/// - WIF keys: one source per plausible script type (compressed: pkh, wpkh, sh(wpkh), tr;
///   uncompressed: pkh only).
/// - Descriptors: public form (multipath split into receive/change); addresses: `addr(...)`.
///
/// No secret appears in the result.
pub fn watch_only(
    material: &Material,
    passphrase: Option<&SecretString>,
    network: Network,
    catalogue: &Catalogue,
    opts: &WatchOnlyOptions,
) -> Result<WatchOnly, Error> {
    if let Some(ids) = &opts.paths {
        if let Some(bad) = ids.iter().find(|id| catalogue.get(id).is_none()) {
            return Err(Error::UnknownPath(bad.clone()));
        }
    }
    let with_pass = passphrase.is_some_and(|p| !p.is_empty());
    if with_pass
        && !matches!(
            material,
            Material::Bip39 { .. } | Material::ElectrumSeed { .. }
        )
    {
        return Err(Error::Unsupported {
            kind: material.kind_name(),
            reason: "a passphrase applies only to bip39 mnemonics and electrum seeds".into(),
        });
    }
    let ctx = Ctx {
        secp: Secp256k1::new(),
        network,
        catalogue,
        opts,
    };
    let mut sources = Vec::new();
    let fingerprint: String = match material {
        Material::Bip39 {
            phrase,
            also_electrum,
            ..
        } => {
            let seed = crate::mnemonic::bip39_seed(phrase, passphrase)?;
            let master = Xpriv::new_master(network.to_bitcoin(), seed.expose_secret());
            let master = master.map_err(|e| Error::Derivation {
                path: "m".into(),
                reason: e.to_string(),
            })?;
            ctx.hd_sources(&master, &[MaterialClass::Bip32], &mut sources)?;
            let mut fps = master.fingerprint(&ctx.secp).to_string();
            if let Some(kind) = also_electrum {
                if let Ok(fp) = ctx.electrum_sources(*kind, phrase, passphrase, &mut sources) {
                    fps.push_str(&format!(",{fp}"));
                }
            }
            sha256_hex(fps.as_bytes())
        }
        Material::ElectrumSeed { kind, phrase, .. } => {
            let fp = ctx.electrum_sources(*kind, phrase, passphrase, &mut sources)?;
            sha256_hex(fp.to_string().as_bytes())
        }
        Material::ExtendedPrivate { keys } => {
            let mut fps = Vec::new();
            for k in keys {
                let xprv = Xpriv::from_str(k.xprv.expose_secret()).map_err(|e| Error::Invalid {
                    kind: "extended private key",
                    line: Some(k.line),
                    fault: e.to_string(),
                })?;
                if xprv.depth == 0 {
                    ctx.hd_sources(
                        &xprv,
                        &[
                            MaterialClass::Bip32,
                            MaterialClass::ElectrumStandard,
                            MaterialClass::ElectrumSegwit,
                        ],
                        &mut sources,
                    )?;
                } else {
                    let public = ExtendedPublicKey {
                        xpub: k.xpub,
                        prefix: k.prefix,
                        hint: k.hint,
                        origin: k.origin.clone(),
                        line: k.line,
                    };
                    xpub_sources(&public, "xprv", &mut sources)?;
                }
                fps.push(xprv.fingerprint(&ctx.secp).to_string());
            }
            sha256_hex(fps.join(",").as_bytes())
        }
        Material::ExtendedPublic { keys } => {
            for k in keys {
                xpub_sources(k, "xpub", &mut sources)?;
            }
            let fps: Vec<String> = keys
                .iter()
                .map(|k| k.xpub.fingerprint().to_string())
                .collect();
            sha256_hex(fps.join(",").as_bytes())
        }
        Material::Descriptors(items) => {
            let mut texts = Vec::new();
            for item in items {
                let singles = if item.descriptor.is_multipath() {
                    item.descriptor
                        .clone()
                        .into_single_descriptors()
                        .map_err(|e| Error::Descriptor {
                            line: Some(item.line),
                            reason: e.to_string(),
                        })?
                } else {
                    vec![item.descriptor.clone()]
                };
                let n = singles.len();
                for (i, d) in singles.into_iter().enumerate() {
                    let text = d.to_string();
                    texts.push(text.clone());
                    sources.push(WatchSource {
                        label: if n > 1 {
                            format!("descriptor/{}/{i}", item.line)
                        } else {
                            format!("descriptor/{}", item.line)
                        },
                        descriptor: text,
                        change: n == 2 && i == 1,
                        catalogue_id: None,
                        account: None,
                        wallets: Vec::new(),
                    });
                }
            }
            sha256_hex(texts.join("\n").as_bytes())
        }
        Material::Wif(keys) => {
            let mut pubs = Vec::new();
            for k in keys {
                let pk = k.public_key;
                pubs.extend_from_slice(&pk.to_bytes());
                let full = pk.to_string();
                let xonly = pk.inner.x_only_public_key().0.to_string();
                let texts: Vec<(&str, String)> = if pk.compressed {
                    vec![
                        ("pkh", format!("pkh({full})")),
                        ("wpkh", format!("wpkh({full})")),
                        ("sh-wpkh", format!("sh(wpkh({full}))")),
                        ("tr", format!("tr({xonly})")),
                    ]
                } else {
                    vec![("pkh", format!("pkh({full})"))]
                };
                for (name, text) in texts {
                    sources.push(WatchSource {
                        label: format!("wif/{}/{name}", k.line),
                        descriptor: checked_descriptor(&text)?,
                        change: false,
                        catalogue_id: None,
                        account: None,
                        wallets: Vec::new(),
                    });
                }
            }
            sha256_hex(&pubs)
        }
        Material::Addresses(items) => {
            let mut texts = Vec::new();
            for a in items {
                let s = a.address.to_string();
                sources.push(WatchSource {
                    label: format!("address/{}", a.line),
                    descriptor: addr_descriptor(&s)?,
                    change: false,
                    catalogue_id: None,
                    account: None,
                    wallets: Vec::new(),
                });
                texts.push(s);
            }
            sha256_hex(texts.join("\n").as_bytes())
        }
    };
    let mut described = material.describe();
    if with_pass {
        described.push_str(", with passphrase");
    }
    Ok(WatchOnly {
        format: WATCH_ONLY_FORMAT.to_string(),
        network,
        created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        material: described,
        fingerprint,
        sources,
    })
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
    let master = Xpriv::new_master(network.to_bitcoin(), &seed);
    seed.zeroize();
    let master = master.map_err(|e| Error::Derivation {
        path: "m".into(),
        reason: e.to_string(),
    })?;
    Ok(Some(master.fingerprint(&secp)))
}
