//! The keyholder's key record: JSON (`custos-key-record-v1`) with a BIP-322 proof of possession,
//! and the BSMS 1.0 round-1 key record (BIP129) with its legacy signature.
//!
//! **Proof of possession.** The key at the record's path signs, with BIP-322 *simple*, the
//! message
//!
//! ```text
//! custos key ceremony proof of possession
//! challenge: <the ceremony challenge>
//! key: [<fingerprint>/<path>]<xpub>
//! label: <the keyholder label>
//! ```
//!
//! for the P2WPKH address of the account public key (the xpub's own key) on the record's
//! network. The message binds the challenge (freshness: the coordinator's text for this
//! ceremony), the whole key expression including the chain code, and the label.
//!
//! **The label is covered by the proof or not carried.** The label ends up in the custody
//! policy and the registration summary, where keyholders read it to tell whose key is whose;
//! an unsigned label would let whoever passes the file along rename a key. A record whose
//! proof signs the message without the `label:` line (records made before the label was
//! covered) still proves possession of the key, but its label loads as empty, so it is not
//! carried into the policy; nor is the label of a record without a proof (an imported
//! hardware-wallet key). A label edited after signing fails the proof (refused). BSMS
//! round-1 records are unaffected: their legacy signature covers the description line.
//!
//! **BSMS round 1.** `BSMS 1.0` / TOKEN / `[xfp/path]xpub` / description / legacy signature of
//! the first four lines joined with `\n`, by the same key. TOKEN is the challenge when the
//! challenge is a 16- or 32-digit hex nonce (what a BIP129 coordinator hands out), otherwise
//! `00` (no encryption).

use std::path::Path;
use std::str::FromStr;

use bitcoin::bip32::{DerivationPath, Fingerprint, Xpub};
use bitcoin::secp256k1::{Secp256k1, Signing, Verification};
use bitcoin::{Address, CompressedPublicKey, NetworkKind};
use custos_core::Network;
use serde::{Deserialize, Serialize};

use crate::bip322;
use crate::eth::{make_eth_key, EthKeyRecord};
use crate::keys::{key_expression, AccountKey, ScriptKind};
use crate::Error;

/// Format tag of key record JSON files.
pub const KEY_RECORD_FORMAT: &str = "custos-key-record-v1";

/// First line of a BSMS record.
pub const BSMS_VERSION: &str = "BSMS 1.0";

/// A keyholder key record (no secrets).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    /// Always [`KEY_RECORD_FORMAT`].
    pub format: String,
    /// Network the key is for.
    pub network: Network,
    /// Script type the key was made for (it fixes the path).
    pub script: ScriptKind,
    /// Master fingerprint, 8 lower-case hex digits.
    pub fingerprint: String,
    /// Path from the master, `m/48'/1'/0'/2'`.
    pub path: String,
    /// Account xpub (tpub on test networks).
    pub xpub: String,
    /// Keyholder label.
    #[serde(default)]
    pub label: String,
    /// UTC creation time.
    pub created: String,
    /// Where the record comes from: `custos-signer`, `coldcard-json`, `ur:crypto-account`,
    /// `ur:account-descriptor`.
    pub origin: String,
    /// Proof of possession, absent for imported keys.
    #[serde(default)]
    pub proof: Option<Proof>,
    /// The keyholder's Ethereum key with its own proof (records made by `custos-signer key
    /// generate`; see [`crate::eth`]). When present, the BIP-322 proof also covers its address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ethereum: Option<EthKeyRecord>,
}

/// A BIP-322 proof of possession.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proof {
    /// Always `bip322-simple`.
    pub kind: String,
    /// The P2WPKH address of the account key that signed.
    pub address: String,
    /// The ceremony challenge.
    pub challenge: String,
    /// The exact message signed (see the module docs).
    pub message: String,
    /// Base64 BIP-322 simple signature.
    pub signature: String,
}

/// The message a proof of possession signs: challenge, key expression and label.
pub fn proof_message(challenge: &str, key_expr: &str, label: &str) -> String {
    format!(
        "{}\nlabel: {label}",
        legacy_proof_message(challenge, key_expr)
    )
}

/// The message of a proof that also covers the keyholder's Ethereum address (EIP-55).
pub fn proof_message_with_eth(
    challenge: &str,
    key_expr: &str,
    label: &str,
    eth: Option<&str>,
) -> String {
    match eth {
        Some(a) => format!(
            "{}\nethereum: {a}",
            proof_message(challenge, key_expr, label)
        ),
        None => proof_message(challenge, key_expr, label),
    }
}

/// The message of proofs that do not cover the label (the label of such a record is dropped).
pub fn legacy_proof_message(challenge: &str, key_expr: &str) -> String {
    format!("custos key ceremony proof of possession\nchallenge: {challenge}\nkey: {key_expr}")
}

/// The P2WPKH address of an xpub's own public key.
pub fn proof_address(xpub: &Xpub, network: Network) -> Address {
    Address::p2wpkh(&CompressedPublicKey(xpub.public_key), network.to_bitcoin())
}

/// BIP129 TOKEN for a challenge: the challenge itself when it is a 64- or 128-bit hex nonce,
/// else `00`.
pub fn bsms_token(challenge: &str) -> String {
    let c = challenge.trim();
    if (c.len() == 16 || c.len() == 32) && c.bytes().all(|b| b.is_ascii_hexdigit()) {
        c.to_ascii_lowercase()
    } else {
        "00".to_string()
    }
}

/// What a keyholder writes at the end of `key generate`.
#[derive(Debug, Clone)]
pub struct GeneratedRecord {
    /// The JSON record.
    pub record: KeyRecord,
    /// The BSMS round-1 text.
    pub bsms: String,
}

/// Makes the key record and BSMS round-1 record for an account key (no Ethereum key).
pub fn make_record<C: Signing>(
    secp: &Secp256k1<C>,
    account: &AccountKey,
    network: Network,
    script: ScriptKind,
    label: &str,
    challenge: &str,
    created: &str,
) -> Result<GeneratedRecord, Error> {
    make_record_inner(
        secp, account, network, script, label, challenge, created, None,
    )
}

/// Makes the key record with the keyholder's Ethereum key from the same seed
/// ([`crate::eth::ETH_KEY_PATH`], EIP-191 proof), and the BSMS round-1 record.
#[allow(clippy::too_many_arguments)]
pub fn make_record_with_eth<C: Signing>(
    secp: &Secp256k1<C>,
    account: &AccountKey,
    seed: &custos_core::Secret<[u8; 64]>,
    network: Network,
    script: ScriptKind,
    label: &str,
    challenge: &str,
    created: &str,
) -> Result<GeneratedRecord, Error> {
    let key_expr = key_expression(&account.fingerprint, &account.path, &account.xpub);
    let eth = make_eth_key(seed, challenge, &key_expr, label)?;
    make_record_inner(
        secp,
        account,
        network,
        script,
        label,
        challenge,
        created,
        Some(eth),
    )
}

#[allow(clippy::too_many_arguments)]
fn make_record_inner<C: Signing>(
    secp: &Secp256k1<C>,
    account: &AccountKey,
    network: Network,
    script: ScriptKind,
    label: &str,
    challenge: &str,
    created: &str,
    ethereum: Option<EthKeyRecord>,
) -> Result<GeneratedRecord, Error> {
    let key_expr = key_expression(&account.fingerprint, &account.path, &account.xpub);
    let message = proof_message_with_eth(
        challenge,
        &key_expr,
        label,
        ethereum.as_ref().map(|e| e.address.as_str()),
    );
    let signature = bip322::sign_simple_p2wpkh(secp, &account.secret, message.as_bytes())?;
    let address = proof_address(&account.xpub, network);
    let record = KeyRecord {
        format: KEY_RECORD_FORMAT.to_string(),
        network,
        script,
        fingerprint: account.fingerprint.to_string(),
        path: format!("m/{}", strip_m(&account.path.to_string())),
        xpub: account.xpub.to_string(),
        label: label.to_string(),
        created: created.to_string(),
        origin: "custos-signer".to_string(),
        proof: Some(Proof {
            kind: "bip322-simple".to_string(),
            address: address.to_string(),
            challenge: challenge.to_string(),
            message,
            signature,
        }),
        ethereum,
    };
    let description: String = label.chars().take(80).collect();
    let first4 = format!(
        "{BSMS_VERSION}\n{}\n{key_expr}\n{description}",
        bsms_token(challenge)
    );
    let sig = bip322::sign_legacy(secp, &account.secret, &first4);
    Ok(GeneratedRecord {
        record,
        bsms: format!("{first4}\n{sig}\n"),
    })
}

fn strip_m(p: &str) -> &str {
    p.trim_start_matches('m').trim_start_matches('/')
}

/// Whether and how a key's possession was proven.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ProofStatus {
    /// BIP-322 simple signature over the ceremony challenge, verified.
    Bip322 {
        /// The challenge signed.
        challenge: String,
    },
    /// BIP129 legacy signature over the BSMS record, verified.
    Bsms {
        /// The TOKEN line.
        token: String,
    },
    /// No proof (imported from a hardware wallet export).
    Unproven,
}

/// A key as the ceremony uses it, loaded from a file and checked.
#[derive(Debug, Clone)]
pub struct CeremonyKey {
    /// File it came from.
    pub source: String,
    /// Master fingerprint.
    pub fingerprint: Fingerprint,
    /// Path.
    pub path: DerivationPath,
    /// Account xpub.
    pub xpub: Xpub,
    /// Label.
    pub label: String,
    /// Declared network (JSON records; BSMS records only tell main vs test).
    pub network: Option<Network>,
    /// Declared script (JSON records).
    pub script: Option<ScriptKind>,
    /// Proof status (verified when loading; a failing proof refuses the file).
    pub proof: ProofStatus,
    /// The keyholder's Ethereum address, when the record carries one whose proof verified.
    pub eth: Option<alloy_primitives::Address>,
}

impl CeremonyKey {
    /// `[fp/path]xpub`.
    pub fn key_expr(&self) -> String {
        key_expression(&self.fingerprint, &self.path, &self.xpub)
    }

    /// `[fp/path]` for messages.
    pub fn origin(&self) -> String {
        format!("[{}/{}]", self.fingerprint, strip_m(&self.path.to_string()))
    }

    /// `m/...` path string.
    pub fn path_string(&self) -> String {
        format!("m/{}", strip_m(&self.path.to_string()))
    }
}

/// Parses `[fingerprint/path]xpub`.
pub fn parse_key_expr(s: &str, file: &str) -> Result<(Fingerprint, DerivationPath, Xpub), Error> {
    let s = s.trim();
    let rest = s
        .strip_prefix('[')
        .ok_or_else(|| Error::malformed(file, "key must start with [fingerprint/path]"))?;
    let (origin, key) = rest
        .split_once(']')
        .ok_or_else(|| Error::malformed(file, "key origin is not closed with ]"))?;
    let (fp, path) = origin.split_once('/').unwrap_or((origin, ""));
    let fingerprint = Fingerprint::from_str(fp)
        .map_err(|_| Error::malformed(file, format!("bad fingerprint {fp:?}")))?;
    let path = DerivationPath::from_str(&format!("m/{path}").replace('h', "'"))
        .map_err(|_| Error::malformed(file, format!("bad derivation path {path:?}")))?;
    let xpub = Xpub::from_str(key)
        .map_err(|e| Error::malformed(file, format!("bad extended public key: {e}")))?;
    Ok((fingerprint, path, xpub))
}

impl KeyRecord {
    /// Checks the record's own consistency and its proof; returns the ceremony key.
    /// Unproven records load with [`ProofStatus::Unproven`]; the caller decides.
    pub fn check<C: Verification>(
        &self,
        secp: &Secp256k1<C>,
        file: &str,
    ) -> Result<CeremonyKey, Error> {
        if self.format != KEY_RECORD_FORMAT {
            return Err(Error::malformed(
                file,
                format!("format {:?} is not {KEY_RECORD_FORMAT}", self.format),
            ));
        }
        let expr = format!(
            "[{}/{}]{}",
            self.fingerprint,
            strip_m(&self.path),
            self.xpub
        );
        let (fingerprint, path, xpub) = parse_key_expr(&expr, file)?;
        let key = CeremonyKey {
            source: file.to_string(),
            fingerprint,
            path,
            xpub,
            label: self.label.clone(),
            network: Some(self.network),
            script: Some(self.script),
            proof: ProofStatus::Unproven,
            eth: None,
        };
        let refuse = |reason: String| Error::ProofRefused {
            key: key.origin(),
            file: file.to_string(),
            reason,
        };
        let Some(proof) = &self.proof else {
            if self.ethereum.is_some() {
                return Err(refuse(
                    "an ethereum key without the bitcoin proof that covers it".into(),
                ));
            }
            // Nothing covers the label of an unproven record: not carried either.
            return Ok(CeremonyKey {
                label: String::new(),
                ..key
            });
        };
        if proof.kind != "bip322-simple" {
            return Err(refuse(format!("unknown proof kind {:?}", proof.kind)));
        }
        let eth = self.ethereum.as_ref();
        let expected_msg = proof_message_with_eth(
            &proof.challenge,
            &key.key_expr(),
            &self.label,
            eth.map(|e| e.address.as_str()),
        );
        // A proof that does not cover the label proves the key, not the label: drop it.
        let label_covered = proof.message == expected_msg;
        if eth.is_some() && !label_covered {
            return Err(refuse(
                "the bitcoin proof of possession does not cover this record's ethereum address \
                 and label"
                    .into(),
            ));
        }
        if !label_covered
            && proof.message != legacy_proof_message(&proof.challenge, &key.key_expr())
        {
            return Err(refuse(
                "proof of possession signs a different message than this key, challenge and \
                 label"
                    .into(),
            ));
        }
        let expected_addr = proof_address(&key.xpub, self.network);
        if proof.address != expected_addr.to_string() {
            return Err(refuse(format!(
                "proof address {} is not the p2wpkh address of the key ({expected_addr})",
                proof.address
            )));
        }
        bip322::verify_simple(
            secp,
            &expected_addr.as_unchecked().clone(),
            proof.message.as_bytes(),
            &proof.signature,
        )
        .map_err(|e| refuse(format!("proof of possession failed: {e}")))?;
        let eth = match eth {
            Some(e) => Some(e.check(
                &proof.challenge,
                &key.key_expr(),
                &self.label,
                &key.origin(),
                file,
            )?),
            None => None,
        };
        Ok(CeremonyKey {
            eth,
            proof: ProofStatus::Bip322 {
                challenge: proof.challenge.clone(),
            },
            label: if label_covered {
                key.label.clone()
            } else {
                String::new()
            },
            ..key
        })
    }
}

/// A parsed BSMS round-1 key record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BsmsKeyRecord {
    /// TOKEN line (hex).
    pub token: String,
    /// KEY line.
    pub key: String,
    /// Description line.
    pub description: String,
    /// SIG line.
    pub signature: String,
}

impl BsmsKeyRecord {
    /// The four signed lines.
    pub fn signed_text(&self) -> String {
        format!(
            "{BSMS_VERSION}\n{}\n{}\n{}",
            self.token, self.key, self.description
        )
    }
}

/// Parses a BSMS round-1 key record (plaintext).
pub fn parse_bsms_key(text: &str, file: &str) -> Result<BsmsKeyRecord, Error> {
    let lines: Vec<&str> = text
        .lines()
        .map(|l| l.trim_end_matches('\r'))
        .collect::<Vec<_>>();
    let lines: Vec<&str> = {
        let mut l = lines;
        while l.last().is_some_and(|s| s.trim().is_empty()) {
            l.pop();
        }
        l
    };
    if lines.len() != 5 {
        return Err(Error::malformed(
            file,
            format!("bsms key record must have 5 lines, found {}", lines.len()),
        ));
    }
    if lines[0] != BSMS_VERSION {
        return Err(Error::malformed(
            file,
            format!("line 1: expected {BSMS_VERSION:?}, found {:?}", lines[0]),
        ));
    }
    if lines[1].is_empty() || !lines[1].bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::malformed(file, "line 2: TOKEN must be hex"));
    }
    if lines[3].chars().count() > 80 {
        return Err(Error::malformed(
            file,
            "line 4: description longer than 80 characters",
        ));
    }
    Ok(BsmsKeyRecord {
        token: lines[1].to_string(),
        key: lines[2].to_string(),
        description: lines[3].to_string(),
        signature: lines[4].trim().to_string(),
    })
}

/// The public key a BSMS KEY line names (an xpub's key or a bare hex public key).
pub fn bsms_public_key(key: &str, file: &str) -> Result<bitcoin::secp256k1::PublicKey, Error> {
    let k = key
        .split_once(']')
        .map(|(_, k)| k)
        .ok_or_else(|| Error::malformed(file, "line 3: KEY must carry [fingerprint/path]"))?;
    if let Ok(x) = Xpub::from_str(k) {
        return Ok(x.public_key);
    }
    bitcoin::secp256k1::PublicKey::from_str(k)
        .map_err(|_| Error::malformed(file, "line 3: KEY is neither an xpub nor a public key"))
}

/// Verifies a BSMS round-1 record's signature.
pub fn verify_bsms_key<C: Verification>(
    secp: &Secp256k1<C>,
    rec: &BsmsKeyRecord,
    file: &str,
) -> Result<(), Error> {
    let pk = bsms_public_key(&rec.key, file)?;
    bip322::verify_legacy(secp, &pk, &rec.signed_text(), &rec.signature, file)
}

/// Loads a key file for the ceremony: a JSON key record or a BSMS round-1 record (xpub form).
/// Proofs are verified here; a bad proof is an error naming the key and the file.
pub fn load_key_file<C: Verification>(
    secp: &Secp256k1<C>,
    path: &Path,
) -> Result<CeremonyKey, Error> {
    let file = path.display().to_string();
    let text = custos_core::file::read_text(path, custos_core::file::KEY_RECORD)?;
    load_key_text(secp, &text, &file)
}

/// [`load_key_file`] on text already read.
pub fn load_key_text<C: Verification>(
    secp: &Secp256k1<C>,
    text: &str,
    file: &str,
) -> Result<CeremonyKey, Error> {
    if text.trim_start().starts_with(BSMS_VERSION) {
        let rec = parse_bsms_key(text, file)?;
        let (fingerprint, path, xpub) = parse_key_expr(&rec.key, file)?;
        let key = CeremonyKey {
            source: file.to_string(),
            fingerprint,
            path,
            xpub,
            label: rec.description.clone(),
            network: None,
            script: None,
            proof: ProofStatus::Bsms {
                token: rec.token.clone(),
            },
            eth: None,
        };
        verify_bsms_key(secp, &rec, file).map_err(|e| Error::ProofRefused {
            key: key.origin(),
            file: file.to_string(),
            reason: format!("bsms signature failed: {e}"),
        })?;
        return Ok(key);
    }
    let record: KeyRecord = serde_json::from_str(text).map_err(|source| Error::Json {
        file: file.to_string(),
        what: "not a key record",
        source,
    })?;
    record.check(secp, file)
}

/// Whether an xpub's version bytes match a network (xpub on mainnet, tpub elsewhere).
pub fn xpub_matches_network(xpub: &Xpub, network: Network) -> bool {
    let want = if network == Network::Bitcoin {
        NetworkKind::Main
    } else {
        NetworkKind::Test
    };
    xpub.network == want
}
