//! k-of-n custody descriptor assembly from checked key records.
//!
//! Refuses, naming the key and its file: a key without proof of possession (unless allowed),
//! a proof over another ceremony's challenge, a key for another network (record network, xpub
//! version, coin type in the path), a key made for another script type, the same key or the
//! same master fingerprint twice, K outside 1..=N, more than 15 keys for `wsh`/`sh-wsh`
//! sortedmulti (Coldcard's and P2SH's limit) and more than 999 for taproot `multi_a`.
//!
//! Keys are ordered by their key expression so the descriptor text does not depend on the order
//! the files were given in (`sortedmulti` sorts the derived public keys in any case).
//!
//! Taproot: `tr(H, multi_a(K, ...))` where H is the BIP341 NUMS point
//! `50929b74c1a04954b78b4b6035e97a5e078a5a0f28ec96d547bfee9ace803ac0` (lift_x of the SHA256 of
//! the uncompressed secp256k1 generator), so there is no key path anyone can spend with.
//! rust-miniscript 13 has no `sortedmulti_a` (Bitcoin Core 26+ does), so the leaf is `multi_a`
//! with the keys in the canonical order above — fixed in the descriptor every keyholder
//! registers, which is what matters for `multi_a` (the order is part of the script).

use std::collections::HashMap;
use std::str::FromStr;

use bitcoin::bip32::ChildNumber;
use custos_core::inventory::{CustodyKey, CustodyPolicy, CUSTODY_POLICY_FORMAT};
use custos_core::Network;
use miniscript::descriptor::{Descriptor, DescriptorPublicKey};

use crate::keys::ScriptKind;
use crate::record::{xpub_matches_network, CeremonyKey, ProofStatus};
use crate::Error;

/// BIP341 NUMS point H (x-only).
pub const NUMS_H: &str = "50929b74c1a04954b78b4b6035e97a5e078a5a0f28ec96d547bfee9ace803ac0";

/// Largest N for `wsh`/`sh-wsh` sortedmulti.
pub const MAX_KEYS_WSH: usize = 15;
/// Largest N for taproot `multi_a`.
pub const MAX_KEYS_TR: usize = 999;

/// What to assemble.
#[derive(Debug, Clone)]
pub struct Request {
    /// Wallet name (1–20 printable ASCII for Coldcard).
    pub name: String,
    /// Network.
    pub network: Network,
    /// Script type.
    pub script: ScriptKind,
    /// K.
    pub threshold: usize,
    /// Accept keys without proof of possession.
    pub allow_unproven: bool,
    /// The ceremony challenge every BIP-322 proof must sign; when `None`, all proofs must
    /// agree on one challenge.
    pub challenge: Option<String>,
}

/// The assembled custody wallet.
#[derive(Debug, Clone)]
pub struct Assembly {
    /// Name.
    pub name: String,
    /// Network.
    pub network: Network,
    /// Script type.
    pub script: ScriptKind,
    /// K.
    pub threshold: usize,
    /// Keys in descriptor order.
    pub keys: Vec<CeremonyKey>,
    /// Receive descriptor.
    pub receive: Descriptor<DescriptorPublicKey>,
    /// Change descriptor.
    pub change: Descriptor<DescriptorPublicKey>,
}

fn descriptor_body(script: ScriptKind, k: usize, keys: &[String], suffix: &str) -> String {
    let list: Vec<String> = keys.iter().map(|e| format!("{e}{suffix}")).collect();
    let list = list.join(",");
    match script {
        ScriptKind::Wsh => format!("wsh(sortedmulti({k},{list}))"),
        ScriptKind::ShWsh => format!("sh(wsh(sortedmulti({k},{list})))"),
        ScriptKind::Tr => format!("tr({NUMS_H},multi_a({k},{list}))"),
    }
}

/// Parses a descriptor, checking its checksum when it has one. `file` names the source.
pub fn parse_descriptor(text: &str, file: &str) -> Result<Descriptor<DescriptorPublicKey>, Error> {
    let invalid = |source| Error::DescriptorInvalid {
        file: file.to_string(),
        source,
    };
    let d = Descriptor::<DescriptorPublicKey>::from_str(text.trim()).map_err(invalid)?;
    d.sanity_check().map_err(invalid)?;
    Ok(d)
}

/// A refused proof, challenge or duplicate key (exit 1 in the binaries).
fn refuse_proof(key: &CeremonyKey, reason: impl Into<String>) -> Error {
    Error::ProofRefused {
        key: key.origin(),
        file: key.source.clone(),
        reason: reason.into(),
    }
}

fn refuse(key: &CeremonyKey, reason: impl Into<String>) -> Error {
    Error::KeyRefused {
        key: key.origin(),
        file: key.source.clone(),
        reason: reason.into(),
    }
}

/// Checks every key against the request and builds the descriptors, in named phases: the
/// wallet's shape ([`check_shape`]), each key's network and script type ([`check_key_fits`]),
/// each key's proof of possession ([`ChallengeAgreement::check`]), duplicates
/// ([`check_duplicates`]) and the descriptors ([`build`]).
pub fn assemble(req: &Request, keys: Vec<CeremonyKey>) -> Result<Assembly, Error> {
    check_shape(req, keys.len())?;
    let mut agreement = ChallengeAgreement::new(req);
    for key in &keys {
        check_key_fits(req, key)?;
        agreement.check(key)?;
    }
    check_duplicates(&keys)?;
    build(req, keys)
}

/// K of N, the key count limit of the script type, and the wallet name.
fn check_shape(req: &Request, n: usize) -> Result<(), Error> {
    if n == 0 {
        return Err(Error::Threshold("no keys given".into()));
    }
    if req.threshold == 0 || req.threshold > n {
        return Err(Error::Threshold(format!(
            "k = {} must be between 1 and the number of keys n = {n}",
            req.threshold
        )));
    }
    let max = match req.script {
        ScriptKind::Wsh | ScriptKind::ShWsh => MAX_KEYS_WSH,
        ScriptKind::Tr => MAX_KEYS_TR,
    };
    if n > max {
        return Err(Error::Threshold(format!(
            "{n} keys exceed the limit of {max} for {} sortedmulti",
            req.script.name()
        )));
    }
    if req.name.is_empty()
        || req.name.len() > 20
        || !req.name.bytes().all(|b| (0x20..0x7f).contains(&b))
    {
        return Err(Error::malformed(
            "--name",
            format!(
                "wallet name {:?} must be 1-20 printable ascii characters",
                req.name
            ),
        ));
    }
    Ok(())
}

/// The key is for the ceremony's network (record, xpub version, BIP48 coin type) and script.
fn check_key_fits(req: &Request, key: &CeremonyKey) -> Result<(), Error> {
    if let Some(net) = key.network {
        if net != req.network {
            return Err(refuse(
                key,
                format!(
                    "key record is for {net}, the ceremony is on {}",
                    req.network
                ),
            ));
        }
    }
    if !xpub_matches_network(&key.xpub, req.network) {
        return Err(refuse(
            key,
            format!(
                "extended key version is for the wrong network (ceremony is on {})",
                req.network
            ),
        ));
    }
    let path: Vec<ChildNumber> = key.path.clone().into();
    if let [ChildNumber::Hardened { index: 48 }, ChildNumber::Hardened { index }, ..] = path[..] {
        if index != req.network.coin_type() {
            return Err(refuse(
                key,
                format!(
                    "coin type {index}' in the path is not {}' for {}",
                    req.network.coin_type(),
                    req.network
                ),
            ));
        }
    }
    if let Some(s) = key.script {
        if s != req.script {
            return Err(refuse(
                key,
                format!(
                    "key was made for {} but the wallet is {}",
                    s.name(),
                    req.script.name()
                ),
            ));
        }
    }
    Ok(())
}

/// The challenge every proof of possession must sign: the ceremony's, or, when none was
/// given, the one the first proven key signed (with the file it came from, for messages).
#[derive(Debug)]
struct ChallengeAgreement<'r> {
    req: &'r Request,
    first: Option<(String, String)>,
}

impl<'r> ChallengeAgreement<'r> {
    fn new(req: &'r Request) -> Self {
        ChallengeAgreement { req, first: None }
    }

    /// Refuses a key without a proof (unless allowed) or whose proof signs another challenge.
    fn check(&mut self, key: &CeremonyKey) -> Result<(), Error> {
        match &key.proof {
            ProofStatus::Unproven if !self.req.allow_unproven => Err(refuse_proof(
                key,
                "no proof of possession (imported key); pass --allow-unproven to accept it",
            )),
            ProofStatus::Unproven => Ok(()),
            ProofStatus::Bip322 { challenge } => match (&self.req.challenge, &self.first) {
                (Some(want), _) if want != challenge => Err(refuse_proof(
                    key,
                    "proof of possession signs a different challenge than this ceremony's",
                )),
                (Some(_), _) => Ok(()),
                (None, Some((c, first))) if c != challenge => Err(refuse_proof(
                    key,
                    format!("proof signs a different challenge than {first}"),
                )),
                (None, Some(_)) => Ok(()),
                (None, None) => {
                    self.first = Some((challenge.clone(), key.source.clone()));
                    Ok(())
                }
            },
            ProofStatus::Bsms { token } => match &self.req.challenge {
                Some(want) => {
                    let t = crate::record::bsms_token(want);
                    if t != "00" && &t != token {
                        Err(refuse_proof(
                            key,
                            "bsms token is not this ceremony's challenge",
                        ))
                    } else {
                        Ok(())
                    }
                }
                None => Ok(()),
            },
        }
    }
}

/// One keyholder, one key: the same public key or master fingerprint twice is refused.
fn check_duplicates(keys: &[CeremonyKey]) -> Result<(), Error> {
    let mut seen_key: HashMap<[u8; 33], &CeremonyKey> = HashMap::new();
    let mut seen_fp: HashMap<String, &CeremonyKey> = HashMap::new();
    for key in keys {
        if let Some(prev) = seen_key.insert(key.xpub.public_key.serialize(), key) {
            return Err(refuse_proof(
                key,
                format!("duplicate key: the same public key is in {}", prev.source),
            ));
        }
        if let Some(prev) = seen_fp.insert(key.fingerprint.to_string(), key) {
            return Err(refuse_proof(
                key,
                format!(
                    "duplicate master fingerprint {} (also in {}): one keyholder, one key",
                    key.fingerprint, prev.source
                ),
            ));
        }
    }
    Ok(())
}

/// Orders the checked keys canonically and builds the receive and change descriptors.
fn build(req: &Request, mut keys: Vec<CeremonyKey>) -> Result<Assembly, Error> {
    keys.sort_by_key(|k| k.key_expr());
    let exprs: Vec<String> = keys.iter().map(|k| k.key_expr()).collect();
    let receive_src = descriptor_body(req.script, req.threshold, &exprs, "/0/*");
    let change_src = descriptor_body(req.script, req.threshold, &exprs, "/1/*");
    let receive = parse_descriptor(&receive_src, "assembled receive descriptor")?;
    let change = parse_descriptor(&change_src, "assembled change descriptor")?;
    Ok(Assembly {
        name: req.name.clone(),
        network: req.network,
        script: req.script,
        threshold: req.threshold,
        keys,
        receive,
        change,
    })
}

/// The address at `index` of a ranged descriptor.
pub fn address_at(
    d: &Descriptor<DescriptorPublicKey>,
    index: u32,
    network: Network,
) -> Result<bitcoin::Address, Error> {
    let def = d
        .at_derivation_index(index)
        .map_err(|source| Error::DescriptorDerive { index, source })?;
    def.address(network.to_bitcoin())
        .map_err(|source| Error::DescriptorInvalid {
            file: "descriptor".into(),
            source,
        })
}

impl Assembly {
    /// Receive descriptor with checksum.
    pub fn receive_string(&self) -> String {
        self.receive.to_string()
    }

    /// Change descriptor with checksum.
    pub fn change_string(&self) -> String {
        self.change.to_string()
    }

    /// The first `count` receive addresses.
    pub fn receive_addresses(&self, count: u32) -> Result<Vec<String>, Error> {
        (0..count)
            .map(|i| address_at(&self.receive, i, self.network).map(|a| a.to_string()))
            .collect()
    }

    /// The first change address.
    pub fn first_change_address(&self) -> Result<String, Error> {
        address_at(&self.change, 0, self.network).map(|a| a.to_string())
    }

    /// The receive and change chains in one multipath descriptor (`<0;1>/*`, BIP389), with
    /// checksum: what a wallet importing one descriptor needs to watch both chains.
    pub fn multipath_string(&self) -> Result<String, Error> {
        let exprs: Vec<String> = self.keys.iter().map(|k| k.key_expr()).collect();
        let src = descriptor_body(self.script, self.threshold, &exprs, "/<0;1>/*");
        Ok(parse_descriptor(&src, "assembled multipath descriptor")?.to_string())
    }

    /// BIP129 descriptor template (`/**`).
    pub fn bsms_template(&self) -> String {
        let exprs: Vec<String> = self.keys.iter().map(|k| k.key_expr()).collect();
        descriptor_body(self.script, self.threshold, &exprs, "/**")
    }

    /// The custody policy file content.
    pub fn policy(&self, ceremony_record: Option<String>) -> CustodyPolicy {
        CustodyPolicy {
            format: CUSTODY_POLICY_FORMAT.to_string(),
            name: self.name.clone(),
            network: self.network,
            threshold: u32::try_from(self.threshold).unwrap_or(u32::MAX),
            keys: self
                .keys
                .iter()
                .map(|k| CustodyKey {
                    fingerprint: k.fingerprint.to_string(),
                    path: k.path_string(),
                    xpub: k.xpub.to_string(),
                    label: k.label.clone(),
                })
                .collect(),
            receive_descriptor: self.receive_string(),
            change_descriptor: self.change_string(),
            next_index: 0,
            ceremony_record,
            authorities: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(threshold: usize, name: &str, script: ScriptKind) -> Request {
        Request {
            name: name.into(),
            network: Network::Regtest,
            script,
            threshold,
            allow_unproven: false,
            challenge: None,
        }
    }

    #[test]
    fn shape_phase_refuses_k_outside_1_to_n_and_too_many_keys() {
        assert!(check_shape(&request(2, "vault", ScriptKind::Wsh), 3).is_ok());
        for (k, n) in [(0, 3), (4, 3), (1, 0)] {
            let e = check_shape(&request(k, "vault", ScriptKind::Wsh), n).expect_err("refused");
            assert!(matches!(e, Error::Threshold(_)), "{k} of {n}: {e}");
        }
        let e = check_shape(&request(2, "vault", ScriptKind::Wsh), MAX_KEYS_WSH + 1)
            .expect_err("16 keys in wsh");
        assert!(e.to_string().contains("limit of 15"), "{e}");
        assert!(check_shape(&request(2, "vault", ScriptKind::Tr), MAX_KEYS_WSH + 1).is_ok());
    }

    #[test]
    fn shape_phase_refuses_a_name_coldcard_cannot_show() {
        for name in ["", "twenty-one-characters", "tab\there"] {
            let e = check_shape(&request(1, name, ScriptKind::Wsh), 1).expect_err(name);
            assert!(e.to_string().contains("1-20 printable ascii"), "{e}");
        }
    }
}
