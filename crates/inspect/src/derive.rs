//! Descriptor handling for the scan: parse the public descriptors of a watch-only file, derive
//! the script at an index, and write the definite descriptor of a used address with the full
//! key origin of each key (`wpkh([d34db33f/84'/1'/0'/0/5]02ab…)`), which is what a PSBT's
//! bip32_derivation needs.

use std::str::FromStr;

use bitcoin::{
    address::NetworkUnchecked,
    bip32::KeySource,
    secp256k1::{Secp256k1, VerifyOnly},
    Address, Network, ScriptBuf,
};
use miniscript::{
    descriptor::{
        DefiniteDescriptorKey, DescriptorPublicKey, DescriptorType, SinglePub, SinglePubKey,
    },
    translate_hash_fail, Descriptor, Translator,
};

use crate::Error;

/// A parsed public descriptor, single-path: a miniscript descriptor, or `addr(ADDRESS)`
/// (BIP385), which rust-miniscript does not parse.
#[derive(Debug, Clone)]
pub struct ParsedDescriptor {
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    Keys(Box<Descriptor<DescriptorPublicKey>>),
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
            Err(e) => return Some(Err(e.to_string())),
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
            .map(|desc| ParsedDescriptor {
                kind: Kind::Keys(Box::new(desc)),
            })
            .collect())
    }

    /// Whether the descriptor has a `/*` wildcard.
    pub fn is_ranged(&self) -> bool {
        match &self.kind {
            Kind::Keys(d) => d.has_wildcard(),
            Kind::Addr(_) => false,
        }
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
            Kind::Keys(_) => Ok(with_full_origins(&self.at(label, index)?, secp)),
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
            Kind::Keys(d) => d.at_derivation_index(index).map_err(|e| Error::Derivation {
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
            Kind::Keys(_) => {
                let script = self.at(label, index)?.script_pubkey();
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
