//! Sources below a master private key: the catalogue's layouts (both coin types in deep mode),
//! paths given by hand, and the Electrum seed schemes (standard, segwit, old, 2FA).

use bitcoin::{
    bip32::{ChildNumber, DerivationPath, Fingerprint, Xpriv, Xpub},
    hashes::Hash,
    secp256k1::{All, Secp256k1},
};
use custos_core::{inventory::WatchSource, Network, SecretString};

use super::{
    sink::{checked_descriptor, derive_err, origin_prefix, plain_source, Sink},
    WatchOnlyOptions,
};
use crate::{
    catalogue::{Catalogue, CatalogueEntry, ChainKind, IndexKind, MaterialClass},
    electrum::{self, ElectrumSeedKind},
    Error,
};

/// Everything the HD phases share.
pub(crate) struct Ctx<'a> {
    pub(crate) secp: Secp256k1<All>,
    pub(crate) network: Network,
    pub(crate) catalogue: &'a Catalogue,
    pub(crate) opts: &'a WatchOnlyOptions,
}

/// One catalogue entry at one coin type: the unit the HD phases derive.
struct Layout<'e> {
    entry: &'e CatalogueEntry,
    coin: u32,
    /// `id`, or `id@coinN` for the other network's coin type.
    name: String,
}

impl Ctx<'_> {
    /// Whether the options select this entry (deep-only entries need deep mode).
    pub(crate) fn selected(&self, e: &CatalogueEntry) -> bool {
        let listed = self.opts.paths.as_ref().is_none_or(|p| p.contains(&e.id));
        listed && (self.opts.deep || !e.deep_only)
    }

    fn accounts(&self, e: &CatalogueEntry) -> Vec<u32> {
        if e.discover_accounts {
            (0..self.opts.accounts.max(1)).collect()
        } else {
            vec![0]
        }
    }

    /// The layouts of `classes` to derive: each selected single-key entry at the network's
    /// coin type, and in deep mode at the other network's coin type too.
    fn layouts(&self, classes: &[MaterialClass]) -> Vec<Layout<'_>> {
        let mut v = Vec::new();
        for e in &self.catalogue.entries {
            let applies = e.chain == ChainKind::Bitcoin
                && !e.cosigner
                && e.material.iter().any(|m| classes.contains(m));
            if !applies || !self.selected(e) {
                continue;
            }
            v.push(Layout {
                entry: e,
                coin: e.coin_type(self.network),
                name: e.id.clone(),
            });
            if let Some(coin) = e.other_coin_type(self.network).filter(|_| self.opts.deep) {
                v.push(Layout {
                    entry: e,
                    coin,
                    name: format!("{}@coin{coin}", e.id),
                });
            }
        }
        v
    }

    /// Every source of the catalogue layouts of `classes` below a master private key.
    pub(crate) fn hd_sources(
        &self,
        master: &Xpriv,
        classes: &[MaterialClass],
        out: &mut Sink,
    ) -> Result<(), Error> {
        let fp = master.fingerprint(&self.secp);
        for layout in self.layouts(classes) {
            let e = layout.entry;
            for account in self.accounts(e) {
                let path = e.account_path_with_coin(layout.coin, account)?;
                match e.index {
                    IndexKind::Normal | IndexKind::Fixed => {
                        let acct = master
                            .derive_priv(&self.secp, &path)
                            .map_err(|err| derive_err(&path, err))?;
                        let xpub = Xpub::from_priv(&self.secp, &acct);
                        let origin = origin_prefix(fp, &path);
                        public_entry_sources(&layout, &origin, &xpub, account, out)?;
                    }
                    IndexKind::Hardened => {
                        self.hardened_sources(master, fp, &layout, &path, account, out)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// A window of single keys per chain of a hardened-index entry (Bitcoin Core legacy HD).
    fn hardened_sources(
        &self,
        master: &Xpriv,
        fp: Fingerprint,
        layout: &Layout<'_>,
        path: &DerivationPath,
        account: u32,
        out: &mut Sink,
    ) -> Result<(), Error> {
        let e = layout.entry;
        for &chain in &e.chains {
            let cpath = path.child(e.chain_child(chain)?);
            let cx = master
                .derive_priv(&self.secp, &cpath)
                .map_err(|err| derive_err(&cpath, err))?;
            for i in 0..self.opts.hardened_window {
                let child =
                    ChildNumber::from_hardened_idx(i).map_err(|err| derive_err(&cpath, err))?;
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
                    let label = format!("{}/{account}/{chain}/{i}/{}", layout.name, s.name());
                    let source = entry_source(e, label, checked_descriptor(&text)?, chain == 1);
                    out.push(&layout.name, with_account(source, e, account));
                }
            }
        }
        Ok(())
    }

    /// Receive and change chains under each path given by hand (below the material's primary
    /// master key only, so labels stay unique).
    pub(crate) fn custom_sources(&self, master: &Xpriv, out: &mut Sink) -> Result<(), Error> {
        let fp = master.fingerprint(&self.secp);
        for (n, custom) in self.opts.custom.iter().enumerate() {
            let path = &custom.path;
            let acct = master
                .derive_priv(&self.secp, path)
                .map_err(|err| derive_err(path, err))?;
            let xpub = Xpub::from_priv(&self.secp, &acct);
            let origin = origin_prefix(fp, path);
            let layout = custom.to_string();
            for chain in [0u32, 1] {
                for s in custom.scripts() {
                    let Some(text) = s.wrap(&format!("{origin}{xpub}/{chain}/*")) else {
                        continue;
                    };
                    let label = format!("custom/{}/{chain}/{}", n + 1, s.name());
                    let source = plain_source(label, checked_descriptor(&text)?, chain == 1);
                    out.push(&layout, source);
                }
            }
        }
        Ok(())
    }

    /// Electrum old-seed sources: a window of single uncompressed P2PKH keys per chain.
    fn old_seed_sources(
        &self,
        phrase: &SecretString,
        out: &mut Sink,
    ) -> Result<Fingerprint, Error> {
        let hex_seed = electrum::old_hex_seed(phrase)?;
        let mpk = electrum::old_master_public_key(&hex_seed)?;
        if let Some(e) = self
            .catalogue
            .get("electrum-old")
            .filter(|e| self.selected(e))
        {
            for chain in [0u32, 1] {
                for i in 0..self.opts.hardened_window {
                    let pk = electrum::old_derive_pubkey(&self.secp, &mpk, chain, i)?;
                    let text = format!("pkh({})", hex::encode(pk.serialize_uncompressed()));
                    let label = format!("electrum-old/{chain}/{i}");
                    let d = checked_descriptor(&text)?;
                    out.push(&e.id, entry_source(e, label, d, chain == 1));
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
        out: &mut Sink,
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
                let d = checked_descriptor(&text)?;
                out.push(id, entry_source(e, format!("{id}/{chain}"), d, chain == 1));
            }
        }
        Ok(keys.x1.master)
    }

    /// Sources from an Electrum version-prefixed seed; `primary` when the phrase is read as
    /// an Electrum seed first (paths given by hand then derive from it).
    pub(crate) fn electrum_sources(
        &self,
        kind: ElectrumSeedKind,
        phrase: &SecretString,
        passphrase: Option<&SecretString>,
        primary: bool,
        out: &mut Sink,
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
        let master = master_key(self.network, seed.expose_secret())?;
        self.hd_sources(&master, &[class], out)?;
        if primary {
            self.custom_sources(&master, out)?;
        }
        Ok(master.fingerprint(&self.secp))
    }
}

/// The BIP32 master key of a seed.
pub(crate) fn master_key(network: Network, seed: &[u8]) -> Result<Xpriv, Error> {
    Xpriv::new_master(network.to_bitcoin(), seed).map_err(|e| Error::Derivation {
        path: "m".into(),
        reason: e.to_string(),
    })
}

fn entry_source(
    e: &CatalogueEntry,
    label: String,
    descriptor: String,
    change: bool,
) -> WatchSource {
    WatchSource {
        label,
        descriptor,
        change,
        catalogue_id: Some(e.id.clone()),
        account: None,
        wallets: e.wallets.clone(),
    }
}

fn with_account(mut s: WatchSource, e: &CatalogueEntry, account: u32) -> WatchSource {
    s.account = e.has_account().then_some(account);
    s
}

/// Ranged (or fixed-index) descriptors of one layout from its account xpub.
fn public_entry_sources(
    layout: &Layout<'_>,
    origin: &str,
    xpub: &Xpub,
    account: u32,
    out: &mut Sink,
) -> Result<(), Error> {
    let e = layout.entry;
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
            let mut label = format!("{}/{account}", layout.name);
            if let Some(c) = chain {
                label.push_str(&format!("/{c}"));
            }
            if e.scripts.len() > 1 {
                label.push_str(&format!("/{}", s.name()));
            }
            let source = entry_source(e, label, checked_descriptor(&text)?, chain == Some(1));
            out.push(&layout.name, with_account(source, e, account));
        }
    }
    Ok(())
}
