//! One classification of each PSBT input: what script it spends and with which script data.
//!
//! [`classify_input`] looks at the spent output's script and the PSBT's `redeem_script` /
//! `witness_script` once, checks that the script data hashes to what is spent, and returns a
//! [`Spend`]. Verification, the size estimate and signing all `match` on it instead of
//! re-deciding the script type.

use bitcoin::{
    hashes::Hash, key::XOnlyPublicKey, psbt::Input, PubkeyHash, ScriptBuf, TxOut, WPubkeyHash,
};

use crate::{
    error::Refusal,
    weight::{parse_multi_a, parse_multisig, InputKind},
};

/// What an input spends, with the script data needed to sign it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Spend {
    /// P2PKH paying this key hash.
    P2pkh(PubkeyHash),
    /// Native P2WPKH.
    P2wpkh(WPubkeyHash),
    /// P2WPKH nested in P2SH; `redeem` is the checked redeem script.
    P2shP2wpkh {
        /// The redeem script (a P2WPKH program).
        redeem: ScriptBuf,
        /// Its key hash.
        hash: WPubkeyHash,
    },
    /// Native P2WSH with its checked witness script.
    P2wsh {
        /// The witness script.
        witness_script: ScriptBuf,
    },
    /// P2WSH nested in P2SH, both scripts checked.
    P2shP2wsh {
        /// The witness script.
        witness_script: ScriptBuf,
    },
    /// Taproot with this output key.
    P2tr {
        /// The output key.
        output_key: XOnlyPublicKey,
    },
    /// A script the signer does not sign (bare scripts, unknown witness versions, P2SH or P2WSH
    /// without the script that would say what they are).
    Other,
}

fn script_mismatch(index: usize, field: &'static str, expected: &str) -> Refusal {
    Refusal::InputScriptMismatch {
        index,
        field,
        reason: format!("does not hash to the {expected}"),
    }
}

fn p2wpkh_hash(s: &ScriptBuf) -> Option<WPubkeyHash> {
    // A P2WPKH program is OP_0 PUSH20 <20 bytes>.
    s.is_p2wpkh()
        .then(|| WPubkeyHash::from_slice(&s.as_bytes()[2..22]).ok())
        .flatten()
}

/// Classifies input `index` spending `spent`. Refuses when a `redeem_script` or
/// `witness_script` is given that does not hash to the script it claims to be.
pub(crate) fn classify_input(index: usize, inp: &Input, spent: &TxOut) -> Result<Spend, Refusal> {
    let spk = &spent.script_pubkey;
    if spk.is_p2pkh() {
        // OP_DUP OP_HASH160 PUSH20 <20 bytes> OP_EQUALVERIFY OP_CHECKSIG.
        return Ok(PubkeyHash::from_slice(&spk.as_bytes()[3..23])
            .map(Spend::P2pkh)
            .unwrap_or(Spend::Other));
    }
    if let Some(h) = p2wpkh_hash(spk) {
        return Ok(Spend::P2wpkh(h));
    }
    if spk.is_p2sh() {
        let Some(redeem) = &inp.redeem_script else {
            return Ok(Spend::Other);
        };
        if ScriptBuf::new_p2sh(&redeem.script_hash()) != *spk {
            return Err(script_mismatch(index, "redeem_script", "spent p2sh script"));
        }
        if let Some(hash) = p2wpkh_hash(redeem) {
            return Ok(Spend::P2shP2wpkh {
                redeem: redeem.clone(),
                hash,
            });
        }
        if redeem.is_p2wsh() {
            let Some(ws) = &inp.witness_script else {
                return Ok(Spend::Other);
            };
            if ScriptBuf::new_p2wsh(&ws.wscript_hash()) != *redeem {
                return Err(script_mismatch(index, "witness_script", "redeem script"));
            }
            return Ok(Spend::P2shP2wsh {
                witness_script: ws.clone(),
            });
        }
        return Ok(Spend::Other);
    }
    if spk.is_p2wsh() {
        let Some(ws) = &inp.witness_script else {
            return Ok(Spend::Other);
        };
        if ScriptBuf::new_p2wsh(&ws.wscript_hash()) != *spk {
            return Err(script_mismatch(
                index,
                "witness_script",
                "spent p2wsh script",
            ));
        }
        return Ok(Spend::P2wsh {
            witness_script: ws.clone(),
        });
    }
    if spk.is_p2tr() {
        // OP_1 PUSH32 <32-byte output key>.
        return Ok(XOnlyPublicKey::from_slice(&spk.as_bytes()[2..34])
            .map(|output_key| Spend::P2tr { output_key })
            .unwrap_or(Spend::Other));
    }
    Ok(Spend::Other)
}

impl Spend {
    /// The spending kind for the size estimate; `None` for kinds it does not model (counted
    /// without a witness, which can only overestimate the fee rate).
    pub(crate) fn input_kind(&self, inp: &Input) -> Option<InputKind> {
        match self {
            Spend::P2pkh(h) => {
                let uncompressed = inp
                    .bip32_derivation
                    .keys()
                    .any(|k| bitcoin::PublicKey::new_uncompressed(*k).pubkey_hash() == *h)
                    || inp.partial_sigs.keys().any(|k| !k.compressed);
                Some(if uncompressed {
                    InputKind::P2pkhUncompressed
                } else {
                    InputKind::P2pkhCompressed
                })
            }
            Spend::P2wpkh(_) => Some(InputKind::P2wpkh),
            Spend::P2shP2wpkh { .. } => Some(InputKind::P2shP2wpkh),
            Spend::P2wsh { witness_script } => {
                parse_multisig(witness_script).map(|(k, n)| InputKind::P2wshMulti { k, n })
            }
            Spend::P2tr { .. } => Some(taproot_kind(inp)),
            Spend::P2shP2wsh { .. } | Spend::Other => None,
        }
    }
}

/// A taproot input whose internal key is the NUMS point can only be spent through a leaf: with
/// a `multi_a` leaf it is the custody script path, otherwise the key path is assumed.
fn taproot_kind(inp: &Input) -> InputKind {
    let nums = inp
        .tap_internal_key
        .is_some_and(|k| k.to_string() == crate::custody::NUMS_H);
    if nums {
        if let Some((k, n)) = inp
            .tap_scripts
            .values()
            .filter_map(|(script, _)| parse_multi_a(script))
            .min_by_key(|(k, _)| *k)
        {
            return InputKind::P2trMultiA { k, n };
        }
    }
    InputKind::P2trKeyPath
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::{secp256k1::Secp256k1, Amount, CompressedPublicKey};

    fn out(spk: ScriptBuf) -> TxOut {
        TxOut {
            value: Amount::from_sat(1_000),
            script_pubkey: spk,
        }
    }

    fn key() -> CompressedPublicKey {
        let secp = Secp256k1::new();
        let sk = bitcoin::secp256k1::SecretKey::from_slice(&[0x05; 32]).expect("key");
        CompressedPublicKey(sk.public_key(&secp))
    }

    #[test]
    fn classifies_nested_segwit_by_its_checked_redeem_script() {
        let redeem = ScriptBuf::new_p2wpkh(&key().wpubkey_hash());
        let spk = ScriptBuf::new_p2sh(&redeem.script_hash());
        let inp = Input {
            redeem_script: Some(redeem.clone()),
            ..Input::default()
        };
        assert_eq!(
            classify_input(0, &inp, &out(spk)).expect("classify"),
            Spend::P2shP2wpkh {
                redeem,
                hash: key().wpubkey_hash()
            }
        );
        let plain = classify_input(
            0,
            &Input::default(),
            &out(ScriptBuf::new_p2wpkh(&key().wpubkey_hash())),
        );
        assert_eq!(
            plain.expect("classify"),
            Spend::P2wpkh(key().wpubkey_hash())
        );
    }

    #[test]
    fn refuses_witness_script_that_does_not_hash_to_the_spent_script() {
        let ws = ScriptBuf::from_bytes(vec![0x51]);
        let other = ScriptBuf::from_bytes(vec![0x52]);
        let inp = Input {
            witness_script: Some(ws),
            ..Input::default()
        };
        let e =
            classify_input(4, &inp, &out(ScriptBuf::new_p2wsh(&other.wscript_hash()))).unwrap_err();
        assert!(
            matches!(
                e,
                Refusal::InputScriptMismatch {
                    index: 4,
                    field: "witness_script",
                    ..
                }
            ),
            "{e}"
        );
    }
}
