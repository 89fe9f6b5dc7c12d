//! Descriptor handling for the scan: parse the public descriptors of a watch-only file, derive
//! the script at an index, and write the definite descriptor of a used address with the full
//! key origin of each key (`wpkh([d34db33f/84'/1'/0'/0/5]02ab…)`), which is what a PSBT's
//! bip32_derivation needs.

use std::{ops::Range, str::FromStr, sync::LazyLock};

use bitcoin::{
    address::NetworkUnchecked,
    bip32::{DerivationPath, KeySource},
    secp256k1::{Secp256k1, VerifyOnly},
    Address, Network, ScriptBuf,
};
use miniscript::{
    descriptor::{
        DefiniteDescriptorKey, DescriptorPublicKey, DescriptorType, DescriptorXKey, SinglePub,
        SinglePubKey,
    },
    translate_hash_clone, translate_hash_fail, Descriptor, Translator,
};

/// The one verification context of the process: creating one per derived script cost more
/// than the derivation (a context is an allocation and a self-test).
pub static SECP: LazyLock<Secp256k1<VerifyOnly>> = LazyLock::new(Secp256k1::verification_only);

use crate::{shape::Shape, Error};

/// A parsed public descriptor, single-path: a miniscript descriptor, or `addr(ADDRESS)`
/// (BIP385), which rust-miniscript does not parse.
#[derive(Debug, Clone)]
pub struct ParsedDescriptor {
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    /// The descriptor, and its fast-path shape when it has one.
    Keys(Box<Descriptor<DescriptorPublicKey>>, Option<Box<Shape>>),
    Addr(Address<NetworkUnchecked>),
}

fn desc_checksum(plain: &str) -> Result<String, String> {
    let mut e = miniscript::descriptor::checksum::Engine::new();
    e.input(plain).map_err(|e| e.to_string())?;
    Ok(e.checksum())
}

/// Splits `addr(X)#checksum` into X, checking the checksum when present.
fn parse_addr(text: &str) -> Option<Result<String, String>> {
    let body = text.strip_prefix("addr(")?;
    let (inner, checksum) = match body.rsplit_once(")#") {
        Some((i, c)) => (i, Some(c)),
        None => (body.strip_suffix(')')?, None),
    };
    if let Some(c) = checksum {
        let plain = format!("addr({inner})");
        match desc_checksum(&plain) {
            Ok(expected) if expected == c => {}
            Ok(expected) => {
                return Some(Err(format!(
                    "checksum {c} does not match, expected {expected}"
                )))
            }
            Err(e) => return Some(Err(e)),
        }
    }
    Some(Ok(inner.to_string()))
}

impl ParsedDescriptor {
    /// Parses `text` (with or without checksum) and splits multipath descriptors
    /// (`<0;1>/*`) into their single-path descriptors (receive first).
    pub fn parse(label: &str, text: &str) -> Result<Vec<ParsedDescriptor>, Error> {
        let bad = |detail: String| Error::Descriptor {
            label: label.to_string(),
            detail,
        };
        let text = text.trim();
        if let Some(addr) = parse_addr(text) {
            let addr = addr.map_err(bad)?;
            let a = Address::<NetworkUnchecked>::from_str(&addr)
                .map_err(|e| bad(format!("address {addr:?}: {e}")))?;
            return Ok(vec![ParsedDescriptor {
                kind: Kind::Addr(a),
            }]);
        }
        let desc =
            Descriptor::<DescriptorPublicKey>::from_str(text).map_err(|e| bad(e.to_string()))?;
        let singles = desc
            .into_single_descriptors()
            .map_err(|e| bad(e.to_string()))?;
        Ok(singles
            .into_iter()
            .map(|desc| {
                let desc = pre_derive(desc);
                let shape = Shape::of(&desc).map(Box::new);
                ParsedDescriptor {
                    kind: Kind::Keys(Box::new(desc), shape),
                }
            })
            .collect())
    }

    /// Whether the descriptor has a `/*` wildcard.
    pub fn is_ranged(&self) -> bool {
        match &self.kind {
            Kind::Keys(d, _) => d.has_wildcard(),
            Kind::Addr(_) => false,
        }
    }

    /// Whether [`ParsedDescriptor::scripts_at`] derives this descriptor on the batched fast
    /// path ([`crate::child`]) rather than through miniscript.
    pub fn has_fast_path(&self) -> bool {
        matches!(&self.kind, Kind::Keys(_, Some(_)))
    }

    /// Checks that addresses belong to `network`.
    pub fn check_network(&self, label: &str, network: Network) -> Result<(), Error> {
        match &self.kind {
            Kind::Addr(a) if !a.is_valid_for_network(network) => Err(Error::Descriptor {
                label: label.to_string(),
                detail: format!(
                    "address {} is not a {network} address",
                    a.clone().assume_checked()
                ),
            }),
            _ => Ok(()),
        }
    }

    /// The definite descriptor at `index` (ignored for non-ranged descriptors), with full key
    /// origins; `addr(...)` for address sources.
    pub fn definite_string(
        &self,
        label: &str,
        index: u32,
        secp: &Secp256k1<VerifyOnly>,
    ) -> Result<String, Error> {
        match &self.kind {
            Kind::Keys(..) => Ok(with_full_origins(&self.at(label, index)?, secp)),
            Kind::Addr(a) => {
                let plain = format!("addr({})", a.clone().assume_checked());
                Ok(match desc_checksum(&plain) {
                    Ok(c) => format!("{plain}#{c}"),
                    Err(_) => plain,
                })
            }
        }
    }

    /// The definite descriptor at `index` (key sources only).
    pub fn at(&self, label: &str, index: u32) -> Result<Descriptor<DefiniteDescriptorKey>, Error> {
        match &self.kind {
            Kind::Keys(d, _) => d.at_derivation_index(index).map_err(|e| Error::Derivation {
                label: label.to_string(),
                index,
                detail: e.to_string(),
            }),
            Kind::Addr(_) => Err(Error::Derivation {
                label: label.to_string(),
                index,
                detail: "an addr() source has no keys".into(),
            }),
        }
    }

    /// Script and address at `index`.
    pub fn script_at(
        &self,
        label: &str,
        index: u32,
        network: Network,
    ) -> Result<(ScriptBuf, Option<Address>), Error> {
        match &self.kind {
            Kind::Keys(..) => {
                let script = script_of(&self.at(label, index)?);
                let address = Address::from_script(&script, network).ok();
                Ok((script, address))
            }
            Kind::Addr(a) => {
                let a = a.clone().assume_checked();
                Ok((a.script_pubkey(), Some(a)))
            }
        }
    }
}

impl ParsedDescriptor {
    /// The output scripts at `indices` (ignored for non-ranged descriptors: each is the one
    /// script), equal to [`ParsedDescriptor::script_at`]'s. The catalogue's shapes take the
    /// batched fast path ([`crate::child`]); an index it has no child for, and every other
    /// descriptor, go through miniscript, which reports the error.
    pub fn scripts_at(&self, label: &str, indices: Range<u32>) -> Result<Vec<ScriptBuf>, Error> {
        match &self.kind {
            Kind::Keys(_, Some(shape)) => indices
                .clone()
                .zip(shape.scripts(indices))
                .map(|(i, s)| match s {
                    Some(s) => Ok(s),
                    None => Ok(script_of(&self.at(label, i)?)),
                })
                .collect(),
            Kind::Keys(_, None) => indices
                .map(|i| Ok(script_of(&self.at(label, i)?)))
                .collect(),
            Kind::Addr(a) => {
                let script = a.clone().assume_checked().script_pubkey();
                Ok(indices.map(|_| script.clone()).collect())
            }
        }
    }
}

/// The address of an output script on `network`, or `script:HEX` for a script no address
/// encodes: what the inventory names a used script by.
pub fn address_of(script: &bitcoin::Script, network: Network) -> String {
    Address::from_script(script, network).map_or_else(
        |_| format!("script:{}", script.to_hex_string()),
        |a| a.to_string(),
    )
}

/// The output script of a definite descriptor, with the process's one context. A key-path-only
/// `tr()` is tweaked here: miniscript's own taproot path builds a context per call.
pub fn script_of(d: &Descriptor<DefiniteDescriptorKey>) -> ScriptBuf {
    let derived = d.derived_descriptor(&*SECP);
    match &derived {
        Descriptor::Tr(tr) if tr.tap_tree().is_none() => {
            let internal = tr.internal_key().inner.x_only_public_key().0;
            ScriptBuf::new_p2tr(&*SECP, internal, None)
        }
        other => other.script_pubkey(),
    }
}

/// Moves each extended key's fixed derivation steps (`xpub/0` of `xpub/0/*`) into the key
/// itself, once: deriving index i then costs one child derivation, not one per step. Origins
/// (master fingerprint, full path) are unchanged, so every definite descriptor written is the
/// same text as before.
fn pre_derive(desc: Descriptor<DescriptorPublicKey>) -> Descriptor<DescriptorPublicKey> {
    struct Fold;
    impl Translator<DescriptorPublicKey> for Fold {
        type TargetPk = DescriptorPublicKey;
        type Error = std::convert::Infallible;
        fn pk(&mut self, pk: &DescriptorPublicKey) -> Result<DescriptorPublicKey, Self::Error> {
            let DescriptorPublicKey::XPub(x) = pk else {
                return Ok(pk.clone());
            };
            let steps: &[bitcoin::bip32::ChildNumber] = x.derivation_path.as_ref();
            if steps.is_empty() || steps.iter().any(|c| c.is_hardened()) {
                return Ok(pk.clone());
            }
            let Ok(xkey) = x.xkey.derive_pub(&*SECP, &x.derivation_path) else {
                return Ok(pk.clone());
            };
            let origin = match &x.origin {
                Some((fp, path)) => (*fp, path.extend(&x.derivation_path)),
                None => (x.xkey.fingerprint(), x.derivation_path.clone()),
            };
            Ok(DescriptorPublicKey::XPub(DescriptorXKey {
                origin: Some(origin),
                xkey,
                derivation_path: DerivationPath::master(),
                wildcard: x.wildcard,
            }))
        }
        translate_hash_clone!(DescriptorPublicKey);
    }
    match desc.translate_pk(&mut Fold) {
        Ok(d) => d,
        Err(_) => desc,
    }
}

/// Writes a definite descriptor with each key replaced by its derived public key carrying its
/// full origin (master fingerprint and full path).
pub fn with_full_origins(
    desc: &Descriptor<DefiniteDescriptorKey>,
    secp: &Secp256k1<VerifyOnly>,
) -> String {
    struct Origins<'s> {
        secp: &'s Secp256k1<VerifyOnly>,
        xonly: bool,
    }
    impl Translator<DefiniteDescriptorKey> for Origins<'_> {
        type TargetPk = DescriptorPublicKey;
        type Error = std::convert::Infallible;
        fn pk(&mut self, pk: &DefiniteDescriptorKey) -> Result<DescriptorPublicKey, Self::Error> {
            let key = pk.derive_public_key(self.secp);
            let origin: Option<KeySource> = pk
                .full_derivation_path()
                .map(|path| (pk.master_fingerprint(), path));
            let key = if self.xonly {
                SinglePubKey::XOnly(key.inner.x_only_public_key().0)
            } else {
                SinglePubKey::FullKey(key)
            };
            Ok(DescriptorPublicKey::Single(SinglePub { origin, key }))
        }
        translate_hash_fail!(
            DefiniteDescriptorKey,
            DescriptorPublicKey,
            std::convert::Infallible
        );
    }
    let xonly = desc.desc_type() == DescriptorType::Tr;
    match desc.translate_pk(&mut Origins { secp, xonly }) {
        Ok(d) => d.to_string(),
        // A translation can only fail structurally; keep the definite form, which is still
        // correct and spendable.
        Err(_) => desc.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // BIP84 test vector account 0 (mnemonic "abandon ... about"), from BIP84's text.
    const ZPUB_ACCOUNT: &str = "xpub6CatWdiZiodmUeTDp8LT5or8nmbKNcuyvz7WyksVFkKB4RHwCD3XyuvPEbvqAQY3rAPshWcMLoP2fMFMKHPJ4ZeZXYVUhLv1VMrjPC7PW6V";

    #[test]
    fn derives_bip84_vector_addresses_and_full_origins() {
        let text = format!("wpkh([73c5da0a/84'/0'/0']{ZPUB_ACCOUNT}/0/*)");
        let d = ParsedDescriptor::parse("bip84/0", &text).unwrap().remove(0);
        assert!(d.is_ranged());
        let (_, a) = d.script_at("bip84/0", 0, Network::Bitcoin).unwrap();
        assert_eq!(
            a.unwrap().to_string(),
            "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu"
        );
        let (_, a) = d.script_at("bip84/0", 1, Network::Bitcoin).unwrap();
        assert_eq!(
            a.unwrap().to_string(),
            "bc1qnjg0jd8228aq7egyzacy8cys3knf9xvrerkf9g"
        );
        let secp = Secp256k1::verification_only();
        let s = with_full_origins(&d.at("bip84/0", 0).unwrap(), &secp);
        assert!(
            s.starts_with("wpkh([73c5da0a/84'/0'/0'/0/0]0330d54fd0dd420a6e5f8d3624f5f3482cae350f79d5f0753bf5beef9c2d91af3c)"),
            "{s}"
        );
        // The written descriptor parses back to the same script.
        let back = Descriptor::<DescriptorPublicKey>::from_str(&s).unwrap();
        let (script, _) = d.script_at("bip84/0", 0, Network::Bitcoin).unwrap();
        assert_eq!(back.at_derivation_index(0).unwrap().script_pubkey(), script);
    }

    #[test]
    fn splits_multipath_descriptors_receive_first() {
        let text = format!("wpkh([73c5da0a/84'/0'/0']{ZPUB_ACCOUNT}/<0;1>/*)");
        let v = ParsedDescriptor::parse("bip84/0", &text).unwrap();
        assert_eq!(v.len(), 2);
        let (_, a) = v[1].script_at("x", 0, Network::Bitcoin).unwrap();
        assert_eq!(
            a.unwrap().to_string(),
            "bc1q8c6fshw2dlwun7ekn9qwf37cu2rn755upcp6el"
        );
    }

    #[test]
    fn names_the_source_of_a_malformed_descriptor() {
        let e = ParsedDescriptor::parse("bip84/7", "wpkh(notakey/0/*)").unwrap_err();
        assert!(e.to_string().contains("bip84/7"), "{e}");
    }

    #[test]
    fn writes_taproot_keys_x_only() {
        // BIP86 test vector account xpub (mnemonic "abandon ... about").
        let xpub = "xpub6BgBgsespWvERF3LHQu6CnqdvfEvtMcQjYrcRzx53QJjSxarj2afYWcLteoGVky7D3UKDP9QyrLprQ3VCECoY49yfdDEHGCtMMj92pReUsQ";
        let d = ParsedDescriptor::parse("bip86/0", &format!("tr([73c5da0a/86'/0'/0']{xpub}/0/*)"))
            .unwrap()
            .remove(0);
        let (script, a) = d.script_at("bip86/0", 0, Network::Bitcoin).unwrap();
        assert_eq!(
            a.unwrap().to_string(),
            "bc1p5cyxnuxmeuwuvkwfem96lqzszd02n6xdcjrs20cac6yqjjwudpxqkedrcr"
        );
        let secp = Secp256k1::verification_only();
        let s = with_full_origins(&d.at("bip86/0", 0).unwrap(), &secp);
        assert!(s.starts_with("tr([73c5da0a/86'/0'/0'/0/0]cc8a4bc64d897bddc5fbc2f670f7a8ba0b386779106cf1223c6fc5d7cd6fc115)"), "{s}");
        let back = Descriptor::<DescriptorPublicKey>::from_str(&s).unwrap();
        assert_eq!(back.at_derivation_index(0).unwrap().script_pubkey(), script);
    }
}
