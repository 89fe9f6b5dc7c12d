//! Fast address-script derivation from an account-level extended public key, for scanners and
//! the benchmark: the chain key (`account/chain`) is derived once; each index then costs one
//! non-hardened child derivation (an HMAC-SHA512 and one EC tweak) plus the script (a hash160,
//! or for taproot the BIP86 tweak), with one context made up front. No strings.
//!
//! Each EC tweak `P + t·G` is computed as `t·G` with libsecp256k1's precomputed-table
//! generator multiplication followed by a point addition, which is faster than the generic
//! `ec_pubkey_tweak_add` (a double-scalar multiplication) and gives the same point.

use bitcoin::{
    bip32::{ChildNumber, Xpub},
    hashes::{hmac, sha512, Hash, HashEngine},
    key::{CompressedPublicKey, TweakedPublicKey},
    secp256k1::{All, Parity, PublicKey, Secp256k1, SecretKey},
    taproot::TapTweakHash,
    ScriptBuf,
};

use crate::{catalogue::ScriptType, Error};

/// Derives output scripts of one chain of an account.
pub struct ChainDeriver {
    chain: Xpub,
    /// HMAC-SHA512 keyed with the chain code, with the parent public key already absorbed
    /// (BIP32 CKDpub: I = HMAC-SHA512(c, ser_P(K) || ser_32(i))); cloned per index.
    hmac_prefix: hmac::HmacEngine<sha512::Hash>,
    script: ScriptType,
    secp: Secp256k1<All>,
}

impl std::fmt::Debug for ChainDeriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChainDeriver")
            .field("chain", &self.chain)
            .field("script", &self.script)
            .finish_non_exhaustive()
    }
}

impl ChainDeriver {
    /// `account` is the account-level xpub; `chain` the chain number (0 receive, 1 change);
    /// `script` a single-key script type.
    pub fn new(account: &Xpub, chain: u32, script: ScriptType) -> Result<ChainDeriver, Error> {
        if script.wrap("k").is_none() {
            return Err(Error::Unsupported {
                kind: "script derivation",
                reason: format!(
                    "{} is a multisig type; derive it from a descriptor",
                    script.name()
                ),
            });
        }
        let secp = Secp256k1::new();
        let child = ChildNumber::from_normal_idx(chain).map_err(|e| Error::Derivation {
            path: format!("{chain}"),
            reason: e.to_string(),
        })?;
        let chain_key = account
            .ckd_pub(&secp, child)
            .map_err(|e| Error::Derivation {
                path: format!("{chain}"),
                reason: e.to_string(),
            })?;
        let mut hmac_prefix =
            hmac::HmacEngine::<sha512::Hash>::new(chain_key.chain_code.as_bytes());
        hmac_prefix.input(&chain_key.public_key.serialize());
        Ok(ChainDeriver {
            chain: chain_key,
            hmac_prefix,
            script,
            secp,
        })
    }

    /// The output script at `index` (non-hardened).
    pub fn script_at(&self, index: u32) -> Result<ScriptBuf, Error> {
        let err = |e: String| Error::Derivation {
            path: format!("*/{index}"),
            reason: e,
        };
        if index >= 0x8000_0000 {
            return Err(err("hardened index".into()));
        }
        let mut e = self.hmac_prefix.clone();
        e.input(&index.to_be_bytes());
        let i = hmac::Hmac::<sha512::Hash>::from_engine(e).to_byte_array();
        let tweak = SecretKey::from_slice(&i[..32]).map_err(|e| err(e.to_string()))?;
        let pk = self
            .add_generator_multiple(&self.chain.public_key, &tweak)
            .map_err(err)?;
        let cpk = CompressedPublicKey(pk);
        Ok(match self.script {
            ScriptType::Pkh => ScriptBuf::new_p2pkh(&cpk.pubkey_hash()),
            ScriptType::Wpkh => ScriptBuf::new_p2wpkh(&cpk.wpubkey_hash()),
            ScriptType::ShWpkh => {
                ScriptBuf::new_p2sh(&ScriptBuf::new_p2wpkh(&cpk.wpubkey_hash()).script_hash())
            }
            ScriptType::Tr => {
                // BIP86: output key = lift_x(internal) + H_TapTweak(internal)·G.
                let (internal, _) = pk.x_only_public_key();
                let t = TapTweakHash::from_key_and_tweak(internal, None).to_scalar();
                let t = SecretKey::from_slice(&t.to_be_bytes()).map_err(|e| err(e.to_string()))?;
                let even = PublicKey::from_x_only_public_key(internal, Parity::Even);
                let q = self.add_generator_multiple(&even, &t).map_err(err)?;
                let (output, _) = q.x_only_public_key();
                ScriptBuf::new_p2tr_tweaked(TweakedPublicKey::dangerous_assume_tweaked(output))
            }
            ScriptType::ShMulti | ScriptType::ShWshMulti | ScriptType::WshMulti => {
                return Err(err("multisig script type".into()));
            }
        })
    }
}

impl ChainDeriver {
    /// `p + t·G`.
    fn add_generator_multiple(&self, p: &PublicKey, t: &SecretKey) -> Result<PublicKey, String> {
        let tg = PublicKey::from_secret_key(&self.secp, t);
        p.combine(&tg).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    // BIP86 test vector account 0 (fixtures/vectors/bip86.json) and its first receive output.
    #[test]
    fn derives_the_bip86_vector_script() {
        let xpub = Xpub::from_str("xpub6BgBgsespWvERF3LHQu6CnqdvfEvtMcQjYrcRzx53QJjSxarj2afYWcLteoGVky7D3UKDP9QyrLprQ3VCECoY49yfdDEHGCtMMj92pReUsQ").unwrap();
        let d = ChainDeriver::new(&xpub, 0, ScriptType::Tr).unwrap();
        assert_eq!(
            hex::encode(d.script_at(0).unwrap().as_bytes()),
            "5120a60869f0dbcf1dc659c9cecbaf8050135ea9e8cdc487053f1dc6880949dc684c"
        );
    }

    // Cross-check against rust-miniscript's independent descriptor derivation.
    #[test]
    fn agrees_with_miniscript_for_every_single_key_type() {
        use miniscript::descriptor::{Descriptor, DescriptorPublicKey};
        let xpub = Xpub::from_str("xpub6BgBgsespWvERF3LHQu6CnqdvfEvtMcQjYrcRzx53QJjSxarj2afYWcLteoGVky7D3UKDP9QyrLprQ3VCECoY49yfdDEHGCtMMj92pReUsQ").unwrap();
        for script in [
            ScriptType::Pkh,
            ScriptType::ShWpkh,
            ScriptType::Wpkh,
            ScriptType::Tr,
        ] {
            for chain in [0, 1] {
                let d = ChainDeriver::new(&xpub, chain, script).unwrap();
                let desc = Descriptor::<DescriptorPublicKey>::from_str(
                    &script.wrap(&format!("{xpub}/{chain}/*")).unwrap(),
                )
                .unwrap();
                for i in 0..25 {
                    let expected = desc.at_derivation_index(i).unwrap().script_pubkey();
                    assert_eq!(
                        d.script_at(i).unwrap(),
                        expected,
                        "{} {chain}/{i}",
                        script.name()
                    );
                }
            }
        }
    }

    #[test]
    fn refuses_multisig_types() {
        let xpub = Xpub::from_str("xpub6BgBgsespWvERF3LHQu6CnqdvfEvtMcQjYrcRzx53QJjSxarj2afYWcLteoGVky7D3UKDP9QyrLprQ3VCECoY49yfdDEHGCtMMj92pReUsQ").unwrap();
        assert!(ChainDeriver::new(&xpub, 0, ScriptType::WshMulti).is_err());
    }
}
