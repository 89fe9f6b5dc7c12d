//! The signer's checks beyond "every output pays custody" (issue 10 item 2), each a
//! [`Refusal`] naming the input, output or field: amounts above 21 million BTC and sums past
//! it; outputs below their script type's dust limit; output metadata (witness / redeem script,
//! `bip32_derivation`, `tap_bip32_derivation`, taproot internal key and tree) that is not what
//! the custody policy derives for that output; taproot script data (merkle root, leaf scripts,
//! leaf hashes) that contradicts the spent output key; partial signatures of other cosigners
//! that do not verify; and an nLockTime far beyond the PSBT's own context.

use bitcoin::{
    absolute::LockTime,
    hashes::Hash,
    key::{TapTweak, XOnlyPublicKey},
    psbt::{Input, Output},
    secp256k1::{Message, Secp256k1, Verification},
    sighash::{Prevouts, SighashCache},
    taproot::TapLeafHash,
    Amount, Psbt, Script, ScriptBuf, Transaction, TxOut,
};
use miniscript::{descriptor::DefiniteDescriptorKey, psbt::PsbtOutputExt, Descriptor};

use crate::{classify::Spend, error::Refusal};

/// How far above the PSBT's context height an nLockTime may be.
pub(crate) const LOCKTIME_HEIGHT_WINDOW: u32 = 1_000;
/// How far ahead of the signer's clock a time-based nLockTime may be (one day).
pub(crate) const LOCKTIME_TIME_WINDOW_SECS: u64 = 86_400;

/// Refuses an amount above 21 million BTC; `what` names it ("input 3", "output 0").
pub(crate) fn amount_in_range(what: String, value: Amount) -> Result<(), Refusal> {
    if value > Amount::MAX_MONEY {
        return Err(Refusal::AmountOutOfRange { what, value });
    }
    Ok(())
}

/// Adds `value` to `total`, refusing a sum above 21 million BTC.
pub(crate) fn add_amount(
    total: Amount,
    value: Amount,
    what: &'static str,
) -> Result<Amount, Refusal> {
    total
        .checked_add(value)
        .filter(|t| *t <= Amount::MAX_MONEY)
        .ok_or(Refusal::AmountSumOutOfRange { what })
}

/// The dust limit of an output script at the 3 sat/vB dust-relay fee (Bitcoin Core's
/// `GetDustThreshold`): P2PKH 546, P2SH 540, P2WPKH 294, P2WSH and P2TR 330 sat; nothing for
/// OP_RETURN.
pub(crate) fn dust_limit(script: &Script) -> Amount {
    if script.is_op_return() {
        Amount::ZERO
    } else if script.is_p2pkh() {
        Amount::from_sat(546)
    } else if script.is_p2sh() {
        Amount::from_sat(540)
    } else if script.is_p2wpkh() {
        Amount::from_sat(294)
    } else if script.is_p2wsh() || script.is_p2tr() {
        Amount::from_sat(330)
    } else {
        script.minimal_non_dust()
    }
}

/// Refuses output `index` when it pays less than its script type's dust limit.
pub(crate) fn not_dust(index: usize, out: &TxOut) -> Result<(), Refusal> {
    let limit = dust_limit(&out.script_pubkey);
    if out.value < limit {
        return Err(Refusal::OutputBelowDust {
            index,
            value: out.value,
            limit,
        });
    }
    Ok(())
}

fn meta(index: usize, field: &'static str, reason: String) -> Refusal {
    Refusal::OutputMetadata {
        index,
        field,
        reason,
    }
}

/// Refuses output metadata that is not what `expected` (the custody descriptor at the
/// output's claimed chain/index) gives: scripts must hash to the output script and be the
/// custody scripts; every listed derivation must be one the policy makes for this output.
pub(crate) fn output_metadata(
    index: usize,
    out: &TxOut,
    po: &Output,
    expected: &Descriptor<DefiniteDescriptorKey>,
    at: &str,
) -> Result<(), Refusal> {
    let mut exp = Output::default();
    exp.update_with_descriptor_unchecked(expected)
        .map_err(|e| meta(index, "descriptor", e.to_string()))?;
    let spk = &out.script_pubkey;
    if let Some(rs) = &po.redeem_script {
        if ScriptBuf::new_p2sh(&rs.script_hash()) != *spk {
            return Err(meta(
                index,
                "redeem_script",
                "does not hash to the output script".into(),
            ));
        }
    }
    if let Some(ws) = &po.witness_script {
        let wsh = ScriptBuf::new_p2wsh(&ws.wscript_hash());
        if wsh != *spk && po.redeem_script.as_ref() != Some(&wsh) {
            return Err(meta(
                index,
                "witness_script",
                "does not hash to the output script".into(),
            ));
        }
    }
    let differs =
        |field: &'static str| meta(index, field, format!("is not the custody policy's at {at}"));
    if po.redeem_script.is_some() && po.redeem_script != exp.redeem_script {
        return Err(differs("redeem_script"));
    }
    if po.witness_script.is_some() && po.witness_script != exp.witness_script {
        return Err(differs("witness_script"));
    }
    if po.tap_internal_key.is_some() && po.tap_internal_key != exp.tap_internal_key {
        return Err(differs("tap_internal_key"));
    }
    if po.tap_tree.is_some() && po.tap_tree != exp.tap_tree {
        return Err(differs("tap_tree"));
    }
    for (pk, (fp, path)) in &po.bip32_derivation {
        if exp.bip32_derivation.get(pk) != Some(&(*fp, path.clone())) {
            return Err(meta(
                index,
                "bip32_derivation",
                format!("key {pk} at [{fp}/{path}] is not a custody key of {at}"),
            ));
        }
    }
    for (x, entry) in &po.tap_key_origins {
        if exp.tap_key_origins.get(x) != Some(entry) {
            let (_, (fp, path)) = entry;
            return Err(meta(
                index,
                "tap_bip32_derivation",
                format!("key {x} at [{fp}/{path}] is not a custody key of {at}"),
            ));
        }
    }
    Ok(())
}

fn tr_err(index: usize, reason: impl Into<String>) -> Refusal {
    Refusal::TaprootMismatch {
        index,
        reason: reason.into(),
    }
}

/// Refuses a taproot input whose script data contradicts its output key: internal key and
/// merkle root that do not tweak to it, a leaf script whose control block does not commit to
/// it, a leaf hash in `tap_key_origins` that is none of the input's leaf scripts.
pub(crate) fn taproot_script_data<C: Verification>(
    index: usize,
    inp: &Input,
    output_key: XOnlyPublicKey,
    secp: &Secp256k1<C>,
) -> Result<(), Refusal> {
    if let Some(ik) = inp.tap_internal_key {
        let (tweaked, _) = ik.tap_tweak(secp, inp.tap_merkle_root);
        if tweaked.to_x_only_public_key() != output_key {
            return Err(tr_err(
                index,
                "tap_internal_key with tap_merkle_root does not tweak to the output key",
            ));
        }
    } else if inp.tap_merkle_root.is_some() {
        return Err(tr_err(index, "tap_merkle_root without tap_internal_key"));
    }
    let mut leaves: Vec<TapLeafHash> = Vec::with_capacity(inp.tap_scripts.len());
    for (cb, (script, ver)) in &inp.tap_scripts {
        if !cb.verify_taproot_commitment(secp, output_key, script) {
            return Err(tr_err(
                index,
                "a tap_scripts leaf's control block does not commit to the output key",
            ));
        }
        if inp.tap_internal_key.is_some_and(|ik| ik != cb.internal_key) {
            return Err(tr_err(index, "a control block names another internal key"));
        }
        leaves.push(TapLeafHash::from_script(script, *ver));
    }
    for (x, (hashes, _)) in &inp.tap_key_origins {
        if let Some(h) = hashes.iter().find(|h| !leaves.contains(h)) {
            return Err(tr_err(
                index,
                format!("tap_bip32_derivation of {x} names leaf {h}, which is none of the input's tap_scripts"),
            ));
        }
    }
    Ok(())
}

fn bad_sig(index: usize, key: String) -> Refusal {
    Refusal::BadPartialSignature { index, key }
}

/// Refuses partial signatures already in input `index` that do not verify for their key and
/// sighash (another cosigner's signature must not be passed on unchecked).
pub(crate) fn partial_signatures<C: Verification>(
    index: usize,
    inp: &Input,
    spend: &Spend,
    spent: &[TxOut],
    cache: &mut SighashCache<&Transaction>,
    secp: &Secp256k1<C>,
) -> Result<(), Refusal> {
    let out = &spent[index];
    for (pk, sig) in &inp.partial_sigs {
        let ty = sig.sighash_type;
        let digest = match spend {
            Spend::P2pkh(_) => cache
                .legacy_signature_hash(index, &out.script_pubkey, ty.to_u32())
                .map(|h| h.to_byte_array())
                .map_err(drop),
            Spend::P2wpkh(_) => cache
                .p2wpkh_signature_hash(index, &out.script_pubkey, out.value, ty)
                .map(|h| h.to_byte_array())
                .map_err(drop),
            Spend::P2shP2wpkh { redeem, .. } => cache
                .p2wpkh_signature_hash(index, redeem, out.value, ty)
                .map(|h| h.to_byte_array())
                .map_err(drop),
            Spend::P2wsh { witness_script } | Spend::P2shP2wsh { witness_script } => cache
                .p2wsh_signature_hash(index, witness_script, out.value, ty)
                .map(|h| h.to_byte_array())
                .map_err(drop),
            Spend::P2tr { .. } | Spend::Other => return Err(bad_sig(index, pk.to_string())),
        }
        .map_err(|()| bad_sig(index, pk.to_string()))?;
        let msg = Message::from_digest(digest);
        secp.verify_ecdsa(&msg, &sig.signature, &pk.inner)
            .map_err(|_| bad_sig(index, pk.to_string()))?;
    }
    let prevouts = Prevouts::All(spent);
    if let (Some(sig), Spend::P2tr { output_key }) = (&inp.tap_key_sig, spend) {
        let h = cache
            .taproot_key_spend_signature_hash(index, &prevouts, sig.sighash_type)
            .map_err(|_| bad_sig(index, output_key.to_string()))?;
        secp.verify_schnorr(
            &sig.signature,
            &Message::from_digest(h.to_byte_array()),
            output_key,
        )
        .map_err(|_| bad_sig(index, format!("{output_key} (key path)")))?;
    }
    for ((x, leaf), sig) in &inp.tap_script_sigs {
        let h = cache
            .taproot_script_spend_signature_hash(index, &prevouts, *leaf, sig.sighash_type)
            .map_err(|_| bad_sig(index, x.to_string()))?;
        secp.verify_schnorr(&sig.signature, &Message::from_digest(h.to_byte_array()), x)
            .map_err(|_| bad_sig(index, format!("{x} (leaf {leaf})")))?;
    }
    Ok(())
}

/// The lowest chain height the PSBT itself proves: the height lock of every previous
/// transaction it carries (a transaction is mined above its own height lock).
pub(crate) fn context_height(psbt: &Psbt) -> u32 {
    psbt.inputs
        .iter()
        .filter_map(|i| i.non_witness_utxo.as_ref())
        .filter_map(|t| match t.lock_time {
            LockTime::Blocks(h) => Some(h.to_consensus_u32()),
            LockTime::Seconds(_) => None,
        })
        .max()
        .unwrap_or(0)
}

/// Formats a unix time as `YYYY-MM-DD HH:MM:SS UTC` (proleptic Gregorian, no time zone data).
pub(crate) fn utc(secs: u64) -> String {
    let days = i64::try_from(secs / 86_400).unwrap_or(i64::MAX / 2);
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3_600,
        rem % 3_600 / 60,
        rem % 60
    )
}

/// The transaction's lock time in words.
pub(crate) fn lock_time_words(tx: &Transaction) -> String {
    let enforced = tx
        .input
        .iter()
        .any(|i| i.sequence.enables_absolute_lock_time());
    let what = match tx.lock_time {
        LockTime::Blocks(h) if h.to_consensus_u32() == 0 => "none (0)".to_string(),
        LockTime::Blocks(h) => format!("not before block height {}", h.to_consensus_u32()),
        LockTime::Seconds(t) => format!(
            "not before {} (unix time {})",
            utc(u64::from(t.to_consensus_u32())),
            t.to_consensus_u32()
        ),
    };
    if enforced || tx.lock_time == LockTime::ZERO {
        what
    } else {
        format!("{what}, not enforced (every input's sequence is final)")
    }
}

/// Refuses an enforced nLockTime above `context + 1,000` blocks or more than a day after
/// `now` (unix seconds).
pub(crate) fn lock_time(tx: &Transaction, context: u32, now: u64) -> Result<(), Refusal> {
    if !tx
        .input
        .iter()
        .any(|i| i.sequence.enables_absolute_lock_time())
    {
        return Ok(());
    }
    match tx.lock_time {
        LockTime::Blocks(h) => {
            let bound = context.saturating_add(LOCKTIME_HEIGHT_WINDOW);
            if h.to_consensus_u32() > bound {
                return Err(Refusal::FarLockTime {
                    lock_time: lock_time_words(tx),
                    bound: format!("block height {bound} (context height {context} + {LOCKTIME_HEIGHT_WINDOW})"),
                });
            }
        }
        LockTime::Seconds(t) => {
            let bound = now.saturating_add(LOCKTIME_TIME_WINDOW_SECS);
            if u64::from(t.to_consensus_u32()) > bound {
                return Err(Refusal::FarLockTime {
                    lock_time: lock_time_words(tx),
                    bound: format!("{} (the signer's clock + 1 day)", utc(bound)),
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_unix_times_as_utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(1_764_115_200), "2025-11-26 00:00:00 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC");
    }

    #[test]
    fn dust_limits_match_bitcoin_core_at_3_sat_per_vb() {
        let h = [0u8; 20];
        let pkh = ScriptBuf::new_p2pkh(&bitcoin::PubkeyHash::from_byte_array(h));
        let sh = ScriptBuf::new_p2sh(&bitcoin::ScriptHash::from_byte_array(h));
        let wpkh = ScriptBuf::new_p2wpkh(&bitcoin::WPubkeyHash::from_byte_array(h));
        let wsh = ScriptBuf::new_p2wsh(&bitcoin::WScriptHash::from_byte_array([0; 32]));
        assert_eq!(dust_limit(&pkh).to_sat(), 546);
        assert_eq!(dust_limit(&sh).to_sat(), 540);
        assert_eq!(dust_limit(&wpkh).to_sat(), 294);
        assert_eq!(dust_limit(&wsh).to_sat(), 330);
    }
}
