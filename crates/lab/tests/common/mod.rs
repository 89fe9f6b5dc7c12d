//! Helpers shared by the lab's integration tests: a test key, transaction building and signing
//! done here with rust-bitcoin directly (independently of the lab's own wallet code).
#![allow(dead_code)]

use std::path::PathBuf;

use bitcoin::hashes::Hash;
use bitcoin::key::{CompressedPublicKey, Keypair, TapTweak};
use bitcoin::secp256k1::{Message, Secp256k1, SecretKey};
use bitcoin::sighash::{EcdsaSighashType, Prevouts, SighashCache, TapSighashType};
use bitcoin::{
    absolute, transaction, Amount, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Witness,
};

pub(crate) struct TestKey {
    pub sk: SecretKey,
    pub secp: Secp256k1<bitcoin::secp256k1::All>,
}

impl TestKey {
    pub(crate) fn new(n: u8) -> Self {
        let secp = Secp256k1::new();
        let sk = SecretKey::from_slice(&[n.max(1); 32]).unwrap();
        TestKey { sk, secp }
    }

    pub(crate) fn cpk(&self) -> CompressedPublicKey {
        CompressedPublicKey(self.sk.public_key(&self.secp))
    }

    pub(crate) fn p2wpkh(&self) -> ScriptBuf {
        ScriptBuf::new_p2wpkh(&self.cpk().wpubkey_hash())
    }

    pub(crate) fn p2tr(&self) -> ScriptBuf {
        let (x, _) = self.sk.public_key(&self.secp).x_only_public_key();
        ScriptBuf::new_p2tr(&self.secp, x, None)
    }

    /// Signs every input (all spend this key's p2wpkh script).
    pub(crate) fn sign_p2wpkh(&self, tx: &mut Transaction, prevouts: &[TxOut]) {
        let mut sigs = Vec::new();
        {
            let mut cache = SighashCache::new(&*tx);
            for (i, p) in prevouts.iter().enumerate() {
                let h = cache
                    .p2wpkh_signature_hash(i, &p.script_pubkey, p.value, EcdsaSighashType::All)
                    .unwrap();
                let sig = self
                    .secp
                    .sign_ecdsa(&Message::from_digest(h.to_byte_array()), &self.sk);
                sigs.push(bitcoin::ecdsa::Signature {
                    signature: sig,
                    sighash_type: EcdsaSighashType::All,
                });
            }
        }
        for (inp, sig) in tx.input.iter_mut().zip(sigs) {
            inp.witness = Witness::p2wpkh(&sig, &self.cpk().0);
        }
    }

    /// Signs input `i` (a p2tr key-path spend of this key).
    pub(crate) fn sign_p2tr(&self, tx: &mut Transaction, prevouts: &[TxOut], i: usize) {
        let h = SighashCache::new(&*tx)
            .taproot_key_spend_signature_hash(i, &Prevouts::All(prevouts), TapSighashType::Default)
            .unwrap();
        let kp = Keypair::from_secret_key(&self.secp, &self.sk).tap_tweak(&self.secp, None);
        let sig = self
            .secp
            .sign_schnorr_no_aux_rand(&Message::from_digest(h.to_byte_array()), &kp.to_keypair());
        let mut w = Witness::new();
        w.push(sig.as_ref());
        tx.input[i].witness = w;
    }
}

/// An unsigned version-2 transaction.
pub(crate) fn unsigned(inputs: &[OutPoint], outputs: Vec<TxOut>) -> Transaction {
    Transaction {
        version: transaction::Version::TWO,
        lock_time: absolute::LockTime::ZERO,
        input: inputs
            .iter()
            .map(|op| TxIn {
                previous_output: *op,
                script_sig: ScriptBuf::new(),
                sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
                witness: Witness::new(),
            })
            .collect(),
        output: outputs,
    }
}

pub(crate) fn out(script: &ScriptBuf, sat: u64) -> TxOut {
    TxOut {
        value: Amount::from_sat(sat),
        script_pubkey: script.clone(),
    }
}

/// A fresh data directory under the test target's temp dir (emptied first, so labs kept in
/// statics for a whole test binary leave one directory behind, not one per run).
pub(crate) fn data_dir(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("lab-{name}"));
    let _ = std::fs::remove_dir_all(&d);
    d
}
