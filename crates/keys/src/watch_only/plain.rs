//! Sources from material that is not a seed: extended keys at account level, descriptors, WIF
//! keys and bare addresses.

use crate::{
    catalogue::ScriptType,
    material::{AddressItem, DescriptorItem, ExtendedPublicKey, KeyOrigin, WifKey},
    slip132::ScriptHint,
    Error,
};

use super::sink::{addr_descriptor, checked_descriptor, origin_prefix, plain_source, Sink};

/// Script types to try for an extended public key of this SLIP-132 kind.
fn hint_scripts(hint: ScriptHint) -> Option<Vec<ScriptType>> {
    match hint {
        ScriptHint::Generic => Some(ScriptType::SINGLE_KEY.to_vec()),
        ScriptHint::ShWpkh => Some(vec![ScriptType::ShWpkh]),
        ScriptHint::Wpkh => Some(vec![ScriptType::Wpkh]),
        ScriptHint::ShWshMulti | ScriptHint::WshMulti => None,
    }
}

/// Receive and change chains of an account-level (or Electrum master) extended public key.
pub(crate) fn xpub_sources(k: &ExtendedPublicKey, name: &str, out: &mut Sink) -> Result<(), Error> {
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
            let label = format!("{name}/{}/{chain}/{}", k.line, s.name());
            out.push(
                name,
                plain_source(label, checked_descriptor(&text)?, chain == 1),
            );
        }
    }
    Ok(())
}

/// Public descriptors (multipath split into receive/change); returns their texts.
pub(crate) fn descriptor_sources(
    items: &[DescriptorItem],
    out: &mut Sink,
) -> Result<Vec<String>, Error> {
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
            let label = if n > 1 {
                format!("descriptor/{}/{i}", item.line)
            } else {
                format!("descriptor/{}", item.line)
            };
            out.push("descriptor", plain_source(label, text, n == 2 && i == 1));
        }
    }
    Ok(texts)
}

/// One source per plausible script type of each key; returns the serialized public keys.
pub(crate) fn wif_sources(keys: &[WifKey], out: &mut Sink) -> Result<Vec<u8>, Error> {
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
            let label = format!("wif/{}/{name}", k.line);
            out.push(
                "wif",
                plain_source(label, checked_descriptor(&text)?, false),
            );
        }
    }
    Ok(pubs)
}

/// `addr(...)` per address; returns the addresses.
pub(crate) fn address_sources(items: &[AddressItem], out: &mut Sink) -> Result<Vec<String>, Error> {
    let mut texts = Vec::new();
    for a in items {
        let s = a.address.to_string();
        let label = format!("address/{}", a.line);
        out.push("address", plain_source(label, addr_descriptor(&s)?, false));
        texts.push(s);
    }
    Ok(texts)
}
