//! What a keyholder's signer checks before it accepts the assembled wallet (BIP129 round 2,
//! signer side): its own key appears exactly once (exact match on fingerprint, path and xpub,
//! never on the fingerprint alone), N and K as announced, and the first addresses re-derived
//! locally.

use bitcoin::bip32::{DerivationPath, Fingerprint, Xpub};
use custos_core::Network;
use miniscript::descriptor::{Descriptor, DescriptorPublicKey, DescriptorXKey, Wildcard};
use miniscript::ForEachKey;

use crate::assemble::address_at;
use crate::Error;

/// The result of checking a descriptor against one's own key.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Membership {
    /// 1-based position of the key in the descriptor text.
    pub position: usize,
    /// N.
    pub n: usize,
    /// K, when the descriptor is a (sorted)multi(_a).
    pub threshold: Option<usize>,
    /// The first receive addresses, derived here.
    pub first_addresses: Vec<String>,
}

/// Checks that `(fingerprint, path, xpub)` appears exactly once in `descriptor`.
pub fn check_membership(
    descriptor: &Descriptor<DescriptorPublicKey>,
    file: &str,
    fingerprint: Fingerprint,
    path: &DerivationPath,
    xpub: &Xpub,
    network: Network,
    address_count: u32,
) -> Result<Membership, Error> {
    let mut keys: Vec<(Fingerprint, DerivationPath, Xpub)> = Vec::new();
    let mut other = false;
    descriptor.for_each_key(|k| {
        match k {
            DescriptorPublicKey::XPub(DescriptorXKey {
                origin: Some((fp, p)),
                xkey,
                wildcard: Wildcard::Unhardened,
                ..
            }) => keys.push((*fp, p.clone(), *xkey)),
            DescriptorPublicKey::Single(_) => {} // the taproot NUMS internal key
            _ => other = true,
        }
        true
    });
    if other {
        return Err(Error::Descriptor {
            file: file.to_string(),
            reason: "every cosigner key must be an xpub with key origin and /<chain>/*".into(),
        });
    }
    let hits: Vec<usize> = keys
        .iter()
        .enumerate()
        .filter(|(_, (fp, p, x))| *fp == fingerprint && p == path && x == xpub)
        .map(|(i, _)| i + 1)
        .collect();
    let origin = format!(
        "[{fingerprint}/{}]",
        path.to_string().trim_start_matches("m/")
    );
    match hits.len() {
        0 => {
            let fp_only = keys.iter().any(|(fp, _, _)| *fp == fingerprint);
            return Err(Error::KeyRefused {
                key: origin,
                file: file.to_string(),
                reason: if fp_only {
                    "own fingerprint appears but with another path or xpub: not my key".into()
                } else {
                    "own key does not appear in the descriptor".into()
                },
            });
        }
        1 => {}
        n => {
            return Err(Error::KeyRefused {
                key: origin,
                file: file.to_string(),
                reason: format!("own key appears {n} times"),
            })
        }
    }
    let threshold = threshold_of(&descriptor.to_string());
    let first_addresses = (0..address_count)
        .map(|i| address_at(descriptor, i, network).map(|a| a.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Membership {
        position: hits[0],
        n: keys.len(),
        threshold,
        first_addresses,
    })
}

fn threshold_of(desc: &str) -> Option<usize> {
    for f in ["sortedmulti_a(", "sortedmulti(", "multi_a(", "multi("] {
        if let Some(i) = desc.find(f) {
            let rest = &desc[i + f.len()..];
            let k: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
            return k.parse().ok();
        }
    }
    None
}
