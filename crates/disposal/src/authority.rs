//! Authorities of a custody policy: the keys whose BIP-322 signature on a disposal order lets
//! the signer pay an output outside custody, each with a proof of possession.
//!
//! An authority proves it holds its key as a keyholder does in the ceremony: it signs, with
//! BIP-322 (simple, P2WPKH), a fixed **challenge** text naming the network, its address and its
//! label:
//!
//! ```text
//! custos disposal authority v1
//! network: regtest
//! address: bcrt1q…
//! label: public prosecutor, case desk
//! ```
//!
//! The authority writes an **authority record** (`custos-authority-v1`: network, label,
//! address, proof) on its own offline machine (`custos-signer disposal authority-record`);
//! `custos disposal authority add` checks the proof and writes a new policy listing it. Signers
//! count only authorities whose proof verifies, so a hand-edited policy naming an address whose
//! key nobody proved to hold orders nothing.

use bitcoin::{
    address::NetworkUnchecked,
    secp256k1::{Secp256k1, Signing, Verification},
    Address,
};
use custos_ceremony::{bip322, keys::ZKey};
use custos_core::{
    inventory::{Authority, CustodyPolicy},
    Network, Secret,
};
use serde::{Deserialize, Serialize};

use crate::order::{authority_address, check_value};
use crate::{Error, Result};

/// Format tag of authority record files.
pub const AUTHORITY_FORMAT: &str = "custos-authority-v1";

/// The fixed challenge an authority signs to prove possession of its key.
pub fn challenge(network: Network, address: &str, label: &str) -> String {
    format!(
        "custos disposal authority v1\nnetwork: {network}\naddress: {address}\nlabel: {label}\n"
    )
}

/// An authority's public record: what a custody policy's `authorities` lists, with the format
/// and network so the file stands alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorityRecord {
    /// Always [`AUTHORITY_FORMAT`].
    pub format: String,
    /// Network of the address.
    pub network: Network,
    /// Who it is.
    pub label: String,
    /// Its P2WPKH address.
    pub address: String,
    /// BIP-322 simple signature of [`challenge`] by `address`.
    pub proof: String,
}

impl AuthorityRecord {
    /// Makes the record of `key` for `network`, signing the challenge.
    pub fn new<C: Signing>(
        secp: &Secp256k1<C>,
        key: &Secret<ZKey>,
        network: Network,
        label: &str,
    ) -> Result<AuthorityRecord> {
        check_value("label", label).map_err(|reason| Error::AuthorityFile {
            file: "(new record)".into(),
            reason,
        })?;
        let address = authority_address(secp, key, network);
        let proof =
            bip322::sign_simple_p2wpkh(secp, key, challenge(network, &address, label).as_bytes())
                .map_err(|source| Error::Signature {
                order: format!("authority {address}"),
                source: Box::new(source),
            })?;
        Ok(AuthorityRecord {
            format: AUTHORITY_FORMAT.into(),
            network,
            label: label.into(),
            address,
            proof,
        })
    }

    /// Parses a record file (`what` names it in errors); checks the format, not the proof.
    pub fn parse(bytes: &[u8], what: &str) -> Result<AuthorityRecord> {
        let bad = |reason: String| Error::AuthorityFile {
            file: what.to_string(),
            reason,
        };
        let r: AuthorityRecord = serde_json::from_slice(bytes)
            .map_err(|e| bad(format!("not an authority record: {e}")))?;
        if r.format != AUTHORITY_FORMAT {
            return Err(bad(format!(
                "format {:?}, expected {AUTHORITY_FORMAT}",
                r.format
            )));
        }
        Ok(r)
    }

    /// The record as pretty JSON with a final newline.
    pub fn to_json(&self) -> Result<Vec<u8>> {
        let mut v = serde_json::to_vec_pretty(self).map_err(|e| Error::Authority {
            address: self.address.clone(),
            reason: e.to_string(),
        })?;
        v.push(b'\n');
        Ok(v)
    }

    /// The policy entry.
    pub fn entry(&self) -> Authority {
        Authority {
            label: self.label.clone(),
            address: self.address.clone(),
            proof: self.proof.clone(),
        }
    }
}

/// Why `a` is not a usable authority on `network` (`None` when its proof verifies): a label
/// that is not one line, an address that is not P2WPKH on the network, a missing or wrong
/// proof.
pub fn problem<C: Verification>(
    secp: &Secp256k1<C>,
    a: &Authority,
    network: Network,
) -> Option<String> {
    if let Err(e) = check_value("label", &a.label) {
        return Some(e);
    }
    let addr = match a.address.parse::<Address<NetworkUnchecked>>() {
        Ok(x) if x.is_valid_for_network(network.to_bitcoin()) => x,
        Ok(_) => return Some(format!("not an address for {network}")),
        Err(e) => return Some(format!("not an address: {e}")),
    };
    if a.proof.is_empty() {
        return Some("no proof of possession".into());
    }
    let text = challenge(network, &a.address, &a.label);
    bip322::verify_simple(secp, &addr, text.as_bytes(), &a.proof)
        .err()
        .map(|e| format!("proof of possession does not verify ({e})"))
}

/// Every authority of `policy` whose proof does not verify, with why.
pub fn policy_problems<C: Verification>(
    secp: &Secp256k1<C>,
    policy: &CustodyPolicy,
) -> Vec<(String, String)> {
    policy
        .authorities
        .iter()
        .filter_map(|a| problem(secp, a, policy.network).map(|p| (a.address.clone(), p)))
        .collect()
}

/// A copy of `policy` with `records` added to its authorities. Refused: a record for another
/// network, one whose proof does not verify, an address the policy (or another record)
/// already lists, a policy whose existing authorities do not verify.
pub fn add_authorities<C: Verification>(
    secp: &Secp256k1<C>,
    policy: &CustodyPolicy,
    records: &[AuthorityRecord],
) -> Result<CustodyPolicy> {
    if let Some((address, reason)) = policy_problems(secp, policy).into_iter().next() {
        return Err(Error::Authority {
            address,
            reason: format!("already in custody policy \"{}\": {reason}", policy.name),
        });
    }
    let mut out = policy.clone();
    for r in records {
        let refuse = |reason: String| Error::Authority {
            address: r.address.clone(),
            reason,
        };
        if r.network != policy.network {
            return Err(refuse(format!(
                "the record is for {}, the custody policy \"{}\" for {}",
                r.network, policy.name, policy.network
            )));
        }
        let entry = r.entry();
        if let Some(p) = problem(secp, &entry, policy.network) {
            return Err(refuse(p));
        }
        if out.authorities.iter().any(|a| a.address == r.address) {
            return Err(refuse(format!(
                "already an authority of the custody policy \"{}\"",
                policy.name
            )));
        }
        out.authorities.push(entry);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use custos_core::inventory::CUSTODY_POLICY_FORMAT;

    fn key(b: u8) -> Secret<ZKey> {
        Secret::new(ZKey(
            bitcoin::secp256k1::SecretKey::from_slice(&[b; 32]).unwrap(),
        ))
    }

    fn policy() -> CustodyPolicy {
        CustodyPolicy {
            format: CUSTODY_POLICY_FORMAT.into(),
            name: "custody".into(),
            network: Network::Regtest,
            threshold: 1,
            keys: vec![],
            receive_descriptor: String::new(),
            change_descriptor: String::new(),
            next_index: 0,
            ceremony_record: None,
            authorities: vec![],
        }
    }

    #[test]
    fn record_round_trips_and_its_proof_verifies_over_the_challenge() {
        let secp = Secp256k1::new();
        let r = AuthorityRecord::new(&secp, &key(7), Network::Regtest, "prosecutor").unwrap();
        assert_eq!(
            r.address,
            authority_address(&secp, &key(7), Network::Regtest)
        );
        let back = AuthorityRecord::parse(&r.to_json().unwrap(), "a.json").unwrap();
        assert_eq!(back, r);
        assert_eq!(problem(&secp, &r.entry(), Network::Regtest), None);
        // the proof binds the label and the network
        let mut relabelled = r.entry();
        relabelled.label = "someone else".into();
        assert!(problem(&secp, &relabelled, Network::Regtest)
            .unwrap()
            .contains("does not verify"));
        assert!(problem(&secp, &r.entry(), Network::Bitcoin)
            .unwrap()
            .contains("not an address for bitcoin"));
    }

    #[test]
    fn add_refuses_a_wrong_proof_a_duplicate_another_network_and_a_bad_existing_entry() {
        let secp = Secp256k1::new();
        let a = AuthorityRecord::new(&secp, &key(7), Network::Regtest, "prosecutor").unwrap();
        let b = AuthorityRecord::new(&secp, &key(8), Network::Regtest, "court").unwrap();
        let p = add_authorities(&secp, &policy(), &[a.clone(), b.clone()]).unwrap();
        assert_eq!(p.authorities, vec![a.entry(), b.entry()]);
        let dup = add_authorities(&secp, &p, std::slice::from_ref(&a)).unwrap_err();
        assert!(dup.to_string().contains("already an authority"), "{dup}");
        let mut forged = b.clone();
        forged.proof = a.proof.clone();
        let e = add_authorities(&secp, &policy(), &[forged]).unwrap_err();
        assert!(e.to_string().contains(&b.address), "{e}");
        assert!(e.to_string().contains("does not verify"), "{e}");
        let main = AuthorityRecord::new(&secp, &key(9), Network::Bitcoin, "x").unwrap();
        let e = add_authorities(&secp, &policy(), &[main]).unwrap_err();
        assert!(e.to_string().contains("the record is for bitcoin"), "{e}");
        let mut hand_edited = policy();
        hand_edited.authorities.push(Authority {
            label: "prosecutor".into(),
            address: a.address,
            proof: String::new(),
        });
        let e = add_authorities(&secp, &hand_edited, &[b]).unwrap_err();
        assert!(e.to_string().contains("no proof of possession"), "{e}");
    }

    #[test]
    fn parse_refuses_another_format_and_unknown_fields() {
        let secp = Secp256k1::new();
        let r = AuthorityRecord::new(&secp, &key(7), Network::Regtest, "p").unwrap();
        let mut v: serde_json::Value = serde_json::from_slice(&r.to_json().unwrap()).unwrap();
        v["format"] = "custos-authority-v0".into();
        let e = AuthorityRecord::parse(v.to_string().as_bytes(), "a.json").unwrap_err();
        assert!(e.to_string().contains("a.json"), "{e}");
        v["format"] = AUTHORITY_FORMAT.into();
        v["wif"] = "x".into();
        assert!(AuthorityRecord::parse(v.to_string().as_bytes(), "a.json").is_err());
        assert!(AuthorityRecord::new(&secp, &key(7), Network::Regtest, "two\nlines").is_err());
    }
}
