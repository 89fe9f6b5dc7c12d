//! The registered custody wallet, parsed: its receive and change descriptors, the scripts it may
//! be paid to, the key origins that locate an output in it, and its global xpubs.

use std::{collections::BTreeMap, str::FromStr};

use bitcoin::{
    bip32::{ChildNumber, DerivationPath, Fingerprint, KeySource, Xpub},
    NetworkKind, ScriptBuf,
};
use custos_core::inventory::{CustodyPolicy, CUSTODY_POLICY_FORMAT};
use miniscript::{
    descriptor::{DefiniteDescriptorKey, DescriptorPublicKey, SinglePubKey},
    Descriptor, ForEachKey,
};

use crate::error::{Error, Result};

/// Chain number of receive addresses.
pub const RECEIVE: u32 = 0;
/// Chain number of change addresses.
pub const CHANGE: u32 = 1;

/// BIP341's NUMS point H (x-only): a taproot internal key nobody can sign for, which the key
/// ceremony uses so a taproot custody wallet is spendable only through its `multi_a` leaf.
pub const NUMS_H: &str = "50929b74c1a04954b78b4b6035e97a5e078a5a0f28ec96d547bfee9ace803ac0";

/// True when `k` is the NUMS point H as a plain key (no origin, no derivation).
fn is_nums(k: &DescriptorPublicKey) -> bool {
    match k {
        DescriptorPublicKey::Single(s) => {
            s.origin.is_none()
                && match s.key {
                    SinglePubKey::XOnly(x) => x.to_string() == NUMS_H,
                    SinglePubKey::FullKey(pk) => {
                        pk.compressed && pk.inner.x_only_public_key().0.to_string() == NUMS_H
                    }
                }
        }
        _ => false,
    }
}

/// The keys of a custody descriptor that must be custody keys: all of them, except a taproot
/// internal key that is the NUMS point (it is unspendable by construction, not a keyholder).
fn custody_keys(d: &Descriptor<DescriptorPublicKey>) -> Vec<DescriptorPublicKey> {
    let nums_internal = match d {
        Descriptor::Tr(tr) => is_nums(tr.internal_key()).then(|| tr.internal_key().clone()),
        _ => None,
    };
    let mut keys = Vec::new();
    let mut skipped_internal = false;
    d.for_each_key(|k| {
        if !skipped_internal && nums_internal.as_ref() == Some(k) {
            skipped_internal = true;
        } else {
            keys.push(k.clone());
        }
        true
    });
    keys
}

/// One chain (receive or change) of the custody wallet.
#[derive(Debug, Clone)]
enum ChainDesc {
    /// A descriptor rust-miniscript parses directly (`wsh(sortedmulti(...))`, `tr(...)`).
    Plain(Box<Descriptor<DescriptorPublicKey>>),
    /// `tr(INTERNAL,sortedmulti_a(K,KEYS))` (BIP387), which rust-miniscript 13 does not parse:
    /// at each index the keys are derived, sorted by x-only bytes and turned into the equivalent
    /// definite `tr(INTERNAL,multi_a(K,...))` with full key origins.
    SortedMultiA {
        internal: String,
        k: usize,
        keys: Vec<DescriptorPublicKey>,
    },
}

/// A parsed custody policy.
#[derive(Debug, Clone)]
pub struct Custody {
    /// The policy file as read.
    pub policy: CustodyPolicy,
    receive: ChainDesc,
    change: ChainDesc,
    /// rust-bitcoin network of the policy.
    pub network: bitcoin::Network,
}

fn check_keys<'a>(
    keys: impl Iterator<Item = &'a DescriptorPublicKey>,
    network: bitcoin::Network,
) -> Option<&'static str> {
    for k in keys {
        match k {
            DescriptorPublicKey::XPub(x) => {
                if x.origin.is_none() {
                    return Some("every custody key needs a key origin [fingerprint/path]");
                }
                if x.xkey.network != NetworkKind::from(network) {
                    return Some("extended key is for another network than the policy");
                }
                if x.wildcard != miniscript::descriptor::Wildcard::Unhardened {
                    return Some("custody keys must end in an unhardened /*");
                }
            }
            DescriptorPublicKey::MultiXPub(_) => {
                return Some("multipath keys are not supported; give receive and change separately")
            }
            DescriptorPublicKey::Single(_) => {
                return Some("custody keys must be extended public keys")
            }
        }
    }
    None
}

fn parse_chain(text: &str, network: bitcoin::Network) -> Result<ChainDesc> {
    let bad = |reason: String| Error::Descriptor {
        descriptor: text.to_string(),
        reason,
    };
    let body = miniscript::descriptor::checksum::verify_checksum(text.trim())
        .map_err(|e| bad(e.to_string()))?;
    if let Some(rest) = body.strip_prefix("tr(") {
        if let Some((internal, tail)) = rest.split_once(",sortedmulti_a(") {
            let inner = tail
                .strip_suffix("))")
                .ok_or_else(|| bad("expected tr(KEY,sortedmulti_a(K,KEY,...))".into()))?;
            let mut parts = inner.split(',');
            let k: usize = parts
                .next()
                .and_then(|p| p.trim().parse().ok())
                .ok_or_else(|| bad("sortedmulti_a threshold is not a number".into()))?;
            let keys: Vec<DescriptorPublicKey> = parts
                .map(|p| {
                    DescriptorPublicKey::from_str(p.trim())
                        .map_err(|e| bad(format!("key {p}: {e}")))
                })
                .collect::<Result<_>>()?;
            if k == 0 || k > keys.len() || keys.len() > 999 {
                return Err(bad(format!("threshold {k} of {} keys", keys.len())));
            }
            DescriptorPublicKey::from_str(internal)
                .map_err(|e| bad(format!("internal key: {e}")))?;
            if let Some(p) = check_keys(keys.iter(), network) {
                return Err(bad(p.into()));
            }
            return Ok(ChainDesc::SortedMultiA {
                internal: internal.to_string(),
                k,
                keys,
            });
        }
    }
    let d = Descriptor::<DescriptorPublicKey>::from_str(text).map_err(|e| bad(e.to_string()))?;
    if !d.has_wildcard() {
        return Err(bad("custody descriptor must be ranged (/*)".into()));
    }
    let keys = custody_keys(&d);
    if let Some(p) = check_keys(keys.iter(), network) {
        return Err(bad(p.into()));
    }
    Ok(ChainDesc::Plain(Box::new(d)))
}

impl ChainDesc {
    fn keys(&self) -> Vec<DescriptorPublicKey> {
        match self {
            ChainDesc::Plain(d) => custody_keys(d),
            ChainDesc::SortedMultiA { keys, .. } => keys.clone(),
        }
    }

    fn at(&self, index: u32) -> std::result::Result<Descriptor<DefiniteDescriptorKey>, String> {
        match self {
            ChainDesc::Plain(d) => d.at_derivation_index(index).map_err(|e| e.to_string()),
            ChainDesc::SortedMultiA { internal, k, keys } => {
                let secp = bitcoin::secp256k1::Secp256k1::verification_only();
                let mut derived: Vec<(bitcoin::key::XOnlyPublicKey, String)> =
                    Vec::with_capacity(keys.len());
                for key in keys {
                    let dk = key
                        .clone()
                        .at_derivation_index(index)
                        .map_err(|e| e.to_string())?;
                    let pk = dk.derive_public_key(&secp);
                    let xonly = bitcoin::key::XOnlyPublicKey::from(pk.inner);
                    let path = dk.full_derivation_path().ok_or("multipath key")?;
                    let fp = dk.master_fingerprint();
                    let origin = path.to_string();
                    let origin = origin.trim_start_matches('m').trim_start_matches('/');
                    derived.push((xonly, format!("[{fp}/{origin}]{xonly}")));
                }
                derived.sort_by_key(|a| a.0.serialize());
                let list: Vec<String> = derived.into_iter().map(|(_, s)| s).collect();
                let text = format!("tr({internal},multi_a({k},{}))", list.join(","));
                let d = Descriptor::<DescriptorPublicKey>::from_str(&text)
                    .map_err(|e| e.to_string())?;
                d.at_derivation_index(0).map_err(|e| e.to_string())
            }
        }
    }
}

impl Custody {
    /// Parses and checks a custody policy: both descriptors ranged, single-path, of the policy's
    /// network, with key origins.
    pub fn from_policy(policy: &CustodyPolicy) -> Result<Custody> {
        if policy.format != CUSTODY_POLICY_FORMAT {
            return Err(Error::Policy(format!(
                "format {:?}, expected {CUSTODY_POLICY_FORMAT:?}",
                policy.format
            )));
        }
        let network = policy.network.to_bitcoin();
        let receive = parse_chain(&policy.receive_descriptor, network)?;
        let change = parse_chain(&policy.change_descriptor, network)?;
        Ok(Custody {
            policy: policy.clone(),
            receive,
            change,
            network,
        })
    }

    fn chain(&self, chain: u32) -> Option<&ChainDesc> {
        match chain {
            RECEIVE => Some(&self.receive),
            CHANGE => Some(&self.change),
            _ => None,
        }
    }

    /// The definite descriptor at `chain`/`index`.
    pub fn at(&self, chain: u32, index: u32) -> Result<Descriptor<DefiniteDescriptorKey>> {
        let d = self
            .chain(chain)
            .ok_or_else(|| Error::Policy(format!("no chain {chain} in the custody policy")))?;
        d.at(index).map_err(|e| Error::Descriptor {
            descriptor: if chain == RECEIVE {
                self.policy.receive_descriptor.clone()
            } else {
                self.policy.change_descriptor.clone()
            },
            reason: format!("index {index}: {e}"),
        })
    }

    /// The output script at `chain`/`index`.
    pub fn script_at(&self, chain: u32, index: u32) -> Result<ScriptBuf> {
        Ok(self.at(chain, index)?.script_pubkey())
    }

    /// Length of a custody output script (34 for wsh and tr).
    pub fn script_len(&self) -> Result<u64> {
        Ok(self.script_at(RECEIVE, 0)?.len() as u64)
    }

    /// The global xpubs a PSBT paying this wallet carries (BIP174 `PSBT_GLOBAL_XPUB`).
    pub fn global_xpubs(&self) -> BTreeMap<Xpub, KeySource> {
        let mut out = BTreeMap::new();
        for k in self.receive.keys() {
            if let DescriptorPublicKey::XPub(x) = k {
                if let Some((fp, path)) = &x.origin {
                    out.insert(x.xkey, (*fp, path.clone()));
                }
            }
        }
        out
    }

    /// Finds which `(chain, index)` a key with this origin belongs to, if it is a custody key:
    /// the fingerprint and origin path of a custody key, followed by that key's chain step and a
    /// normal child index.
    pub fn locate(&self, fp: Fingerprint, path: &DerivationPath) -> Option<(u32, u32)> {
        for chain in [RECEIVE, CHANGE] {
            for k in self.chain(chain)?.keys() {
                if let DescriptorPublicKey::XPub(x) = k {
                    if let Some((ofp, opath)) = &x.origin {
                        if *ofp != fp {
                            continue;
                        }
                        let prefix: Vec<ChildNumber> = opath
                            .into_iter()
                            .chain(&x.derivation_path)
                            .copied()
                            .collect();
                        let full: &[ChildNumber] = path.as_ref();
                        if full.len() == prefix.len() + 1 && full[..prefix.len()] == prefix[..] {
                            if let ChildNumber::Normal { index } = full[prefix.len()] {
                                return Some((chain, index));
                            }
                        }
                    }
                }
            }
        }
        None
    }
}

#[cfg(test)]
pub(crate) mod testkeys {
    //! Deterministic test custody wallets built from known seeds (test-only keys).
    use bitcoin::{
        bip32::{DerivationPath, Xpriv, Xpub},
        secp256k1::Secp256k1,
    };
    use custos_core::{
        inventory::{CustodyKey, CustodyPolicy, CUSTODY_POLICY_FORMAT},
        Network,
    };
    use std::str::FromStr;

    /// Master xprv of test keyholder `i` (seed = 32 bytes of `0x10 + i`).
    pub(crate) fn keyholder(i: u8) -> Xpriv {
        Xpriv::new_master(bitcoin::Network::Regtest, &[0x10 + i; 32]).expect("seed")
    }

    /// A 2-of-3 `wsh(sortedmulti)` custody policy on regtest over keyholders 0..3.
    pub(crate) fn wsh_policy() -> CustodyPolicy {
        policy("wsh", 2, 3)
    }

    /// A 2-of-3 `tr(NUMS, sortedmulti_a)` custody policy on regtest.
    pub(crate) fn tr_policy() -> CustodyPolicy {
        policy("tr", 2, 3)
    }

    fn policy(kind: &str, k: u32, n: u8) -> CustodyPolicy {
        let secp = Secp256k1::new();
        let path = DerivationPath::from_str("m/48'/1'/0'/2'").expect("path");
        let mut keys = Vec::new();
        let mut exprs = Vec::new();
        for i in 0..n {
            let m = keyholder(i);
            let fp = m.fingerprint(&secp);
            let x = Xpub::from_priv(&secp, &m.derive_priv(&secp, &path).expect("derive"));
            keys.push(CustodyKey {
                fingerprint: fp.to_string(),
                path: "m/48'/1'/0'/2'".into(),
                xpub: x.to_string(),
                label: format!("keyholder {i}"),
            });
            exprs.push(format!("[{fp}/48'/1'/0'/2']{x}"));
        }
        let desc = |chain: u32| {
            let ks: Vec<String> = exprs.iter().map(|e| format!("{e}/{chain}/*")).collect();
            let body = match kind {
                "wsh" => format!("wsh(sortedmulti({k},{}))", ks.join(",")),
                _ => format!(
                    "tr(50929b74c1a04954b78b4b6035e97a5e078a5a0f28ec96d547bfee9ace803ac0,sortedmulti_a({k},{}))",
                    ks.join(",")
                ),
            };
            let mut eng = miniscript::descriptor::checksum::Engine::new();
            eng.input(&body).expect("checksum");
            format!("{body}#{}", eng.checksum())
        };
        CustodyPolicy {
            format: CUSTODY_POLICY_FORMAT.into(),
            name: "test custody".into(),
            network: Network::Regtest,
            threshold: k,
            keys,
            receive_descriptor: desc(0),
            change_descriptor: desc(1),
            next_index: 3,
            ceremony_record: None,
            authorities: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locates_receive_and_change_keys_by_origin() {
        let c = Custody::from_policy(&testkeys::wsh_policy()).unwrap();
        let (fp, _) = c.global_xpubs().into_values().next().unwrap();
        let p = DerivationPath::from_str("m/48'/1'/0'/2'/1/9").unwrap();
        assert_eq!(c.locate(fp, &p), Some((CHANGE, 9)));
        let p = DerivationPath::from_str("m/48'/1'/0'/2'/0/4").unwrap();
        assert_eq!(c.locate(fp, &p), Some((RECEIVE, 4)));
        let hardened = DerivationPath::from_str("m/48'/1'/0'/2'/0/4'").unwrap();
        assert_eq!(c.locate(fp, &hardened), None);
        let other = DerivationPath::from_str("m/48'/1'/1'/2'/0/4").unwrap();
        assert_eq!(c.locate(fp, &other), None);
        assert_eq!(c.global_xpubs().len(), 3);
        assert_eq!(c.script_len().unwrap(), 34);
    }

    #[test]
    fn rejects_policy_of_another_network() {
        let mut p = testkeys::wsh_policy();
        p.network = custos_core::Network::Bitcoin;
        let e = Custody::from_policy(&p).unwrap_err();
        assert!(e.to_string().contains("another network"), "{e}");
    }

    #[test]
    fn tr_policy_parses() {
        let c = Custody::from_policy(&testkeys::tr_policy()).unwrap();
        assert_eq!(c.script_at(RECEIVE, 0).unwrap().len(), 34);
    }

    #[test]
    fn tr_policy_with_nums_internal_key_and_multi_a_parses() {
        // What `ceremony assemble --script tr` writes: tr(NUMS, multi_a(...)).
        let mut p = testkeys::tr_policy();
        for d in [&mut p.receive_descriptor, &mut p.change_descriptor] {
            let body = d
                .split('#')
                .next()
                .expect("body")
                .replace("sortedmulti_a(", "multi_a(");
            let mut eng = miniscript::descriptor::checksum::Engine::new();
            eng.input(&body).expect("checksum");
            *d = format!("{body}#{}", eng.checksum());
        }
        let c = Custody::from_policy(&p).expect("tr(NUMS, multi_a) is a custody policy");
        assert_eq!(c.global_xpubs().len(), 3);
        assert_eq!(c.script_at(RECEIVE, 0).expect("script").len(), 34);
    }

    #[test]
    fn single_key_other_than_nums_is_still_refused() {
        let mut p = testkeys::tr_policy();
        let other = "02e493dbf1c10d80f3581e4904930b1404cc6c13900ee0758474fa94abe8c4cd13";
        for d in [&mut p.receive_descriptor, &mut p.change_descriptor] {
            let body = d
                .split('#')
                .next()
                .expect("body")
                .replace("sortedmulti_a(", "multi_a(")
                .replace(NUMS_H, other);
            let mut eng = miniscript::descriptor::checksum::Engine::new();
            eng.input(&body).expect("checksum");
            *d = format!("{body}#{}", eng.checksum());
        }
        let e = Custody::from_policy(&p).unwrap_err();
        assert!(e.to_string().contains("extended public keys"), "{e}");
    }
}
