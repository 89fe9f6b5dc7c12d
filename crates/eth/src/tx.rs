//! EIP-1559 transactions: built from a [`CheckedTx`], signed offline with alloy's local signer
//! (k256, RFC 6979 deterministic nonces), encoded as EIP-2718 typed envelopes.

use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy_eips::eip2718::Encodable2718;
use alloy_network::TxSignerSync;
use alloy_primitives::{Address, TxKind, B256};
use alloy_signer_local::PrivateKeySigner;
use custos_core::secret::SecretBytes;

use crate::{
    error::{Error, Result},
    unsigned::CheckedTx,
};

/// A signed transaction, ready to broadcast.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedTx {
    /// Position in the set.
    pub index: usize,
    /// Transaction hash (keccak256 of the raw bytes).
    pub hash: B256,
    /// EIP-2718 encoding (`0x02 ‖ rlp(...)`), what `eth_sendRawTransaction` takes.
    pub raw: Vec<u8>,
    /// The address that signed (recovered from the signature as a self-check).
    pub signer: Address,
}

/// The EIP-1559 transaction of a checked entry on `chain_id`.
pub fn to_eip1559(chain_id: u64, t: &CheckedTx) -> TxEip1559 {
    TxEip1559 {
        chain_id,
        nonce: t.nonce,
        gas_limit: t.gas_limit,
        max_fee_per_gas: t.max_fee_per_gas,
        max_priority_fee_per_gas: t.max_priority_fee_per_gas,
        to: TxKind::Call(t.to),
        value: t.value,
        access_list: Default::default(),
        input: t.data.clone(),
    }
}

/// The payload a QR signer signs: `0x02 ‖ rlp(unsigned fields)` (EIP-1559's signing payload).
pub fn signing_payload(chain_id: u64, t: &CheckedTx) -> Vec<u8> {
    to_eip1559(chain_id, t).encoded_for_signing()
}

/// A local signer from a 32-byte private key.
pub fn signer_from_key(key: &SecretBytes) -> Result<PrivateKeySigner> {
    PrivateKeySigner::from_slice(key.expose_secret()).map_err(|_| Error::Signing {
        subject: "key".into(),
        reason: "not a valid secp256k1 private key".into(),
    })
}

/// Signs a checked transaction with `signer`, which must be the transaction's sender.
pub fn sign(chain_id: u64, t: &CheckedTx, signer: &PrivateKeySigner) -> Result<SignedTx> {
    if signer.address() != t.from {
        return Err(Error::Signing {
            subject: t.subject(),
            reason: format!(
                "the key given is for {}",
                signer.address().to_checksum(None)
            ),
        });
    }
    let mut tx = to_eip1559(chain_id, t);
    let sig = signer
        .sign_transaction_sync(&mut tx)
        .map_err(|e| Error::Signing {
            subject: t.subject(),
            reason: e.to_string(),
        })?;
    let signed = tx.into_signed(sig);
    let recovered = signed.recover_signer().map_err(|e| Error::Signing {
        subject: t.subject(),
        reason: e.to_string(),
    })?;
    if recovered != t.from {
        return Err(Error::Signing {
            subject: t.subject(),
            reason: format!("signature recovers to {recovered}"),
        });
    }
    let hash = *signed.hash();
    let envelope = TxEnvelope::Eip1559(signed);
    Ok(SignedTx {
        index: t.index,
        hash,
        raw: envelope.encoded_2718(),
        signer: recovered,
    })
}
