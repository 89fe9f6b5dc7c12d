//! The scenario's wallets as keys and scripts: resolves address references
//! (`wallet:account/chain/index`, `wallet:n/script` for WIF lists, `wallet:chain/index` for
//! xpub and multisig wallets, or a literal regtest address) and keeps the signing keys of every
//! script the lab has paid to.

use std::collections::HashMap;
use std::str::FromStr;

use bitcoin::bip32::{ChildNumber, Xpriv, Xpub};
use bitcoin::secp256k1::{All, Secp256k1};
use bitcoin::{Address, Network, PrivateKey, ScriptBuf};
use custos_core::SecretString;

use crate::keys::{self, ScriptType, Spend};
use crate::scenario::{Scenario, WalletKind, WalletSpec};
use crate::Error;

/// What the lab knows about one script it paid to.
#[derive(Debug, Clone)]
pub(crate) struct AddrInfo {
    pub(crate) wallet: String,
    pub(crate) path: String,
    pub(crate) script_type: ScriptType,
    pub(crate) address: String,
}

/// Key material of a wallet as handed out (test-only, training scenario).
#[derive(Debug, Clone, Default)]
pub struct WalletMaterial {
    /// BIP39 or Electrum seed phrase.
    pub mnemonic: Option<SecretString>,
    /// BIP39 / Electrum passphrase.
    pub passphrase: Option<SecretString>,
    /// WIF private keys, in file order.
    pub wifs: Vec<SecretString>,
    /// Watch-only extended public key as handed out (vpub/tpub).
    pub xpub: Option<String>,
}

enum Keys {
    Hd {
        accounts: HashMap<String, (Xpriv, String, ScriptType)>,
    },
    Wif(Vec<PrivateKey>),
    Xpub(Xpub, ScriptType),
    Multi {
        threshold: usize,
        cosigners: Vec<Xpriv>,
    },
}

struct Wallet {
    keys: Keys,
}

/// All wallets of a scenario.
pub(crate) struct World {
    secp: Secp256k1<All>,
    wallets: HashMap<String, Wallet>,
    /// Every script referenced so far.
    pub(crate) scripts: HashMap<ScriptBuf, AddrInfo>,
    /// Signing keys for scripts the lab can spend.
    pub(crate) spends: HashMap<ScriptBuf, Spend>,
    /// Material per wallet id.
    pub(crate) material: HashMap<String, WalletMaterial>,
    /// The lab miner's script (faucet).
    pub(crate) miner_script: ScriptBuf,
}

impl std::fmt::Debug for World {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("World")
            .field("wallets", &self.wallets.len())
            .field("scripts", &self.scripts.len())
            .finish_non_exhaustive()
    }
}

fn werr(w: &str, d: impl Into<String>) -> Error {
    Error::Wallet {
        wallet: w.to_string(),
        detail: d.into(),
    }
}

fn child(n: u32) -> Result<ChildNumber, String> {
    ChildNumber::from_normal_idx(n).map_err(|e| e.to_string())
}

fn hardened(n: u32) -> Result<ChildNumber, String> {
    ChildNumber::from_hardened_idx(n).map_err(|e| e.to_string())
}

impl World {
    /// Loads every wallet of `sc` (reading its material files).
    pub(crate) fn new(sc: &Scenario) -> Result<World, Error> {
        let secp = Secp256k1::new();
        let mut wallets = HashMap::new();
        let mut material = HashMap::new();
        for w in &sc.wallets {
            if wallets.contains_key(&w.id) {
                return Err(werr(&w.id, "duplicate wallet id"));
            }
            let (keys, mat) = load_wallet(&secp, sc, w)?;
            wallets.insert(w.id.clone(), Wallet { keys });
            material.insert(w.id.clone(), mat);
        }
        let miner = keys::lab_master(sc.seed, "lab-miner").map_err(|e| werr("lab-miner", e))?;
        let miner_key = keys::derive_priv(
            &secp,
            &miner,
            &[hardened(84).map_err(|e| werr("lab-miner", e))?],
        )
        .map_err(|e| werr("lab-miner", e))?;
        let pk = PrivateKey::new(miner_key.private_key, Network::Regtest);
        let miner_script =
            keys::single_key_script(&secp, &pk.public_key(&secp), ScriptType::P2wpkh)
                .map_err(|e| werr("lab-miner", e))?;
        let mut world = World {
            secp,
            wallets,
            scripts: HashMap::new(),
            spends: HashMap::new(),
            material,
            miner_script: miner_script.clone(),
        };
        world.spends.insert(
            miner_script,
            Spend::Single {
                key: pk,
                script_type: ScriptType::P2wpkh,
            },
        );
        Ok(world)
    }

    pub(crate) fn secp(&self) -> &Secp256k1<All> {
        &self.secp
    }

    /// Adds a lab wallet with one account `main` of `script` type (keys from the scenario
    /// seed and `id`, at the BIP44/49/84/86 account path of that type), for generated
    /// background wallets.
    pub(crate) fn add_lab_wallet(
        &mut self,
        seed: u64,
        id: &str,
        script: ScriptType,
    ) -> Result<(), Error> {
        if self.wallets.contains_key(id) {
            return Err(werr(id, "duplicate wallet id"));
        }
        let purpose = match script {
            ScriptType::P2pkh => "44",
            ScriptType::P2shP2wpkh => "49",
            ScriptType::P2tr => "86",
            _ => "84",
        };
        let path_text = format!("m/{purpose}'/1'/0'");
        let master = keys::lab_master(seed, id).map_err(|e| werr(id, e))?;
        let path = keys::parse_path(&path_text).map_err(|e| werr(id, e))?;
        let x = keys::derive_priv(&self.secp, &master, path.as_ref()).map_err(|e| werr(id, e))?;
        let mut accounts = HashMap::new();
        accounts.insert("main".to_string(), (x, path_text, script));
        self.wallets.insert(
            id.to_string(),
            Wallet {
                keys: Keys::Hd { accounts },
            },
        );
        self.material
            .insert(id.to_string(), WalletMaterial::default());
        Ok(())
    }

    /// Expands a reference with an optional `a..b` range in its last component.
    pub(crate) fn expand(&mut self, r: &str) -> Result<Vec<ScriptBuf>, Error> {
        let r = r.trim();
        if let Some((head, last)) = r.rsplit_once('/') {
            if let Some((a, b)) = last.split_once("..") {
                let parse = |s: &str| {
                    s.parse::<u32>()
                        .map_err(|_| Error::scenario(r, "bad range"))
                };
                let (a, b) = (parse(a)?, parse(b)?);
                let mut out = Vec::new();
                for i in a..b {
                    out.push(self.resolve(&format!("{head}/{i}"))?);
                }
                return Ok(out);
            }
        }
        Ok(vec![self.resolve(r)?])
    }

    /// Resolves one reference to its script, remembering keys and metadata: a literal
    /// address, or a wallet reference derived by [`derive_ref`] and recorded by
    /// [`World::remember`].
    pub(crate) fn resolve(&mut self, r: &str) -> Result<ScriptBuf, Error> {
        let Some((wid, rest)) = r.split_once(':') else {
            return literal_address(r);
        };
        if wid.starts_with("bcrt1") {
            return Err(Error::scenario(r, "bad address"));
        }
        let wallet = self
            .wallets
            .get(wid)
            .ok_or_else(|| Error::scenario(r, format!("unknown wallet {wid}")))?;
        let at = Ref {
            text: r,
            wallet: wid,
        };
        let derived = derive_ref(&self.secp, &wallet.keys, &at, rest)?;
        Ok(self.remember(wid, derived))
    }

    /// Records a derived script's metadata and (unless watch-only) its signing keys.
    fn remember(&mut self, wid: &str, d: Derived) -> ScriptBuf {
        let addr = keys::address(&d.script).unwrap_or_default();
        self.scripts.entry(d.script.clone()).or_insert(AddrInfo {
            wallet: wid.to_string(),
            path: d.path,
            script_type: d.script_type,
            address: addr,
        });
        if let Some(spend) = d.spend {
            self.spends.entry(d.script.clone()).or_insert(spend);
        }
        d.script
    }
}

/// A reference being resolved: its text (for messages) and its wallet id.
#[derive(Debug, Clone, Copy)]
struct Ref<'a> {
    text: &'a str,
    wallet: &'a str,
}

impl Ref<'_> {
    fn num(&self, s: &str) -> Result<u32, Error> {
        s.parse::<u32>()
            .map_err(|_| Error::scenario(self.text, format!("bad number {s}")))
    }

    /// `chain/index` as a non-hardened path.
    fn chain_index(&self, ch: &str, idx: &str) -> Result<(u32, u32, [ChildNumber; 2]), Error> {
        let (c, i) = (self.num(ch)?, self.num(idx)?);
        let path = [
            child(c).map_err(|e| werr(self.wallet, e))?,
            child(i).map_err(|e| werr(self.wallet, e))?,
        ];
        Ok((c, i, path))
    }

    fn expected(&self, shape: &str) -> Error {
        Error::scenario(self.text, format!("expected {shape}"))
    }
}

/// What a wallet reference resolves to.
#[derive(Debug)]
struct Derived {
    script: ScriptBuf,
    /// The derivation path (or `wif #n`) shown in the ground truth.
    path: String,
    script_type: ScriptType,
    /// The keys that spend it; `None` for a watch-only wallet (the lab pays to it but never
    /// spends from it).
    spend: Option<Spend>,
}

/// A literal regtest address.
fn literal_address(r: &str) -> Result<ScriptBuf, Error> {
    if let Ok(a) = Address::from_str(r) {
        let a = a
            .require_network(Network::Regtest)
            .map_err(|e| Error::scenario(r, e.to_string()))?;
        return Ok(a.script_pubkey());
    }
    Err(Error::scenario(
        r,
        "reference must be wallet:... or a regtest address",
    ))
}

/// Derives the script a wallet reference (`rest`, after `wallet:`) names.
fn derive_ref(
    secp: &Secp256k1<All>,
    keys: &Keys,
    at: &Ref<'_>,
    rest: &str,
) -> Result<Derived, Error> {
    let parts: Vec<&str> = rest.split('/').collect();
    match keys {
        Keys::Hd { accounts } => {
            let [acc, ch, idx] = parts.as_slice() else {
                return Err(at.expected("wallet:account/chain/index"));
            };
            let (axprv, apath, st) = accounts
                .get(*acc)
                .ok_or_else(|| Error::scenario(at.text, format!("unknown account {acc}")))?;
            let (c, i, path) = at.chain_index(ch, idx)?;
            let k = keys::derive_priv(secp, axprv, &path).map_err(|e| werr(at.wallet, e))?;
            let pk = PrivateKey::new(k.private_key, Network::Regtest);
            single_key(secp, at, pk, *st, format!("{apath}/{c}/{i}"))
        }
        Keys::Wif(list) => {
            let [n, st] = parts.as_slice() else {
                return Err(at.expected("wallet:n/script"));
            };
            let n = at.num(n)? as usize;
            let st: ScriptType = toml::Value::String((*st).to_string())
                .try_into()
                .map_err(|_| Error::scenario(at.text, format!("bad script type {st}")))?;
            let pk = *list
                .get(n)
                .ok_or_else(|| Error::scenario(at.text, format!("no WIF number {n}")))?;
            single_key(secp, at, pk, st, format!("wif #{n}"))
        }
        Keys::Xpub(x, st) => {
            let [ch, idx] = parts.as_slice() else {
                return Err(at.expected("wallet:chain/index"));
            };
            let (c, i, path) = at.chain_index(ch, idx)?;
            let k = keys::derive_pub(secp, x, &path).map_err(|e| werr(at.wallet, e))?;
            let script = keys::single_key_script(secp, &bitcoin::PublicKey::new(k.public_key), *st)
                .map_err(|e| werr(at.wallet, e))?;
            Ok(Derived {
                script,
                path: format!("xpub/{c}/{i}"),
                script_type: *st,
                spend: None,
            })
        }
        Keys::Multi {
            threshold,
            cosigners,
        } => {
            let [ch, idx] = parts.as_slice() else {
                return Err(at.expected("wallet:chain/index"));
            };
            let (c, i, path) = at.chain_index(ch, idx)?;
            multisig(
                secp,
                at,
                *threshold,
                cosigners,
                &path,
                format!("m/48'/1'/0'/2'/{c}/{i}"),
            )
        }
    }
}

/// A single-key script of `script_type` and the key that spends it.
fn single_key(
    secp: &Secp256k1<All>,
    at: &Ref<'_>,
    key: PrivateKey,
    script_type: ScriptType,
    path: String,
) -> Result<Derived, Error> {
    let script = keys::single_key_script(secp, &key.public_key(secp), script_type)
        .map_err(|e| werr(at.wallet, e))?;
    Ok(Derived {
        script,
        path,
        script_type,
        spend: Some(Spend::Single { key, script_type }),
    })
}

/// A sorted-multisig p2wsh script over the cosigners' keys at `path`.
fn multisig(
    secp: &Secp256k1<All>,
    at: &Ref<'_>,
    threshold: usize,
    cosigners: &[Xpriv],
    path: &[ChildNumber; 2],
    shown_path: String,
) -> Result<Derived, Error> {
    let mut privs = Vec::new();
    for cs in cosigners {
        let k = keys::derive_priv(secp, cs, path).map_err(|e| werr(at.wallet, e))?;
        privs.push(PrivateKey::new(k.private_key, Network::Regtest));
    }
    let pubs: Vec<_> = privs.iter().map(|k| k.public_key(secp)).collect();
    let ws = keys::sorted_multi(threshold, &pubs).map_err(|e| werr(at.wallet, e))?;
    Ok(Derived {
        script: ScriptBuf::new_p2wsh(&ws.wscript_hash()),
        path: shown_path,
        script_type: ScriptType::P2wsh,
        spend: Some(Spend::Multi {
            keys: privs,
            threshold,
            witness_script: ws,
        }),
    })
}

fn load_wallet(
    secp: &Secp256k1<All>,
    sc: &Scenario,
    w: &WalletSpec,
) -> Result<(Keys, WalletMaterial), Error> {
    let mut mat = WalletMaterial::default();
    let read = |f: &Option<String>, what: &str| -> Result<String, Error> {
        let f = f
            .as_ref()
            .ok_or_else(|| werr(&w.id, format!("{what} missing")))?;
        sc.read_file(f)
    };
    let passphrase = match &w.passphrase_file {
        Some(f) => sc.read_file(f)?.trim_end_matches(['\n', '\r']).to_string(),
        None => String::new(),
    };
    let master_from = |master: Xpriv| -> Result<Keys, Error> {
        let mut accounts = HashMap::new();
        let specs = if w.kind == WalletKind::ElectrumSegwit && w.accounts.is_empty() {
            vec![crate::scenario::AccountSpec {
                id: "electrum".into(),
                path: "m/0'".into(),
                script: ScriptType::P2wpkh,
            }]
        } else {
            w.accounts.clone()
        };
        for a in specs {
            let path = keys::parse_path(&a.path).map_err(|e| werr(&w.id, e))?;
            let x = keys::derive_priv(secp, &master, path.as_ref()).map_err(|e| werr(&w.id, e))?;
            accounts.insert(a.id.clone(), (x, a.path.clone(), a.script));
        }
        Ok(Keys::Hd { accounts })
    };
    let keys = match w.kind {
        WalletKind::Bip39 => {
            let phrase = read(&w.mnemonic_file, "mnemonic_file")?;
            let m = keys::bip39_master(&phrase, &passphrase).map_err(|e| werr(&w.id, e))?;
            mat.mnemonic = Some(SecretString::new(phrase.trim().to_string()));
            if w.passphrase_file.is_some() {
                mat.passphrase = Some(SecretString::new(passphrase));
            }
            master_from(m)?
        }
        WalletKind::ElectrumSegwit => {
            let phrase = read(&w.mnemonic_file, "mnemonic_file")?;
            let m =
                keys::electrum_master(&phrase, &passphrase, true).map_err(|e| werr(&w.id, e))?;
            mat.mnemonic = Some(SecretString::new(phrase.trim().to_string()));
            master_from(m)?
        }
        WalletKind::Lab => {
            let m = keys::lab_master(sc.seed, &w.id).map_err(|e| werr(&w.id, e))?;
            master_from(m)?
        }
        WalletKind::Wif => {
            let text = read(&w.wif_file, "wif_file")?;
            let mut list = Vec::new();
            for (n, line) in text.lines().enumerate() {
                let l = line.trim();
                if l.is_empty() || l.starts_with('#') {
                    continue;
                }
                let k = PrivateKey::from_wif(l)
                    .map_err(|_| werr(&w.id, format!("line {}: not a WIF key", n + 1)))?;
                list.push(k);
                mat.wifs.push(SecretString::new(l.to_string()));
            }
            Keys::Wif(list)
        }
        WalletKind::Xpub => {
            let text = read(&w.xpub_file, "xpub_file")?;
            let x = keys::parse_xpub(text.trim()).map_err(|e| werr(&w.id, e))?;
            mat.xpub = Some(text.trim().to_string());
            Keys::Xpub(x, w.script.unwrap_or(ScriptType::P2wpkh))
        }
        WalletKind::Multisig => {
            let threshold = w.threshold.unwrap_or(2);
            let n = w.cosigners.unwrap_or(3);
            let mut cosigners = Vec::new();
            for k in 0..n {
                let m = keys::lab_master(sc.seed, &format!("{}/cosigner{k}", w.id))
                    .map_err(|e| werr(&w.id, e))?;
                let path = keys::parse_path("m/48'/1'/0'/2'").map_err(|e| werr(&w.id, e))?;
                cosigners
                    .push(keys::derive_priv(secp, &m, path.as_ref()).map_err(|e| werr(&w.id, e))?);
            }
            Keys::Multi {
                threshold,
                cosigners,
            }
        }
    };
    Ok((keys, mat))
}
