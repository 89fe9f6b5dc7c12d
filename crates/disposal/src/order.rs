//! The disposal order file and its canonical text.
//!
//! An order (`custos-disposal-order-v1`, JSON) names: its id, the case, the network and asset,
//! the exact amount in satoshis, the destination address, a reference (the court order, the
//! exchange's deposit reference), the validity window (`not_before`, `not_after`, UTC, RFC 3339
//! with `Z`, whole seconds) and the issuer. Authorities sign the **canonical text**, never the
//! JSON:
//!
//! ```text
//! custos disposal order v1
//! order_id: ord-4f1c…
//! case_id: CASE-2026-0042
//! network: regtest
//! asset: BTC
//! amount_sat: 1500000
//! destination: bcrt1q…
//! reference: court order 12/2026, exchange deposit 7781
//! not_before: 2026-11-26T00:00:00Z
//! not_after: 2026-11-27T00:00:00Z
//! issuer: public prosecutor, case desk
//! ```
//!
//! Every line ends in `\n`; every value is non-empty, at most 200 characters, without control
//! characters and without leading or trailing spaces, so the text has one form only. The order id
//! is the caller's or, by default, `ord-` and the first 16 hex digits of the SHA-256 of the
//! canonical text without its `order_id` line. Signatures are BIP-322 *simple* signatures by
//! P2WPKH addresses (`custos_ceremony::bip322`).

use bitcoin::{
    address::NetworkUnchecked,
    hashes::{sha256, Hash},
    secp256k1::{Secp256k1, Signing, Verification},
    Address, Amount, CompressedPublicKey, ScriptBuf,
};
use chrono::{DateTime, SecondsFormat, Utc};
use custos_ceremony::{bip322, keys::ZKey};
use custos_core::{
    inventory::{Authority, CustodyPolicy},
    Network, Secret,
};
use custos_tx::verify::OrderPermit;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Format tag of an order file.
pub const ORDER_FORMAT: &str = "custos-disposal-order-v1";
/// First line of the canonical text.
pub const CANONICAL_HEADER: &str = "custos disposal order v1";
/// Longest value of a field.
pub const MAX_FIELD: usize = 200;
/// Most signatures an order may carry.
pub const MAX_SIGNATURES: usize = 16;

/// The fields of an order, as an issuer fills them in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderFields {
    /// The order id; `None`: derived from the other fields.
    pub order_id: Option<String>,
    /// The case.
    pub case_id: String,
    /// Network of the destination.
    pub network: Network,
    /// Asset (`BTC`).
    pub asset: String,
    /// Exact amount.
    pub amount_sat: u64,
    /// Destination address.
    pub destination: String,
    /// Reference.
    pub reference: String,
    /// Start of the window (RFC 3339, UTC).
    pub not_before: String,
    /// End of the window (RFC 3339, UTC).
    pub not_after: String,
    /// Issuer.
    pub issuer: String,
}

/// One authority's signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderSignature {
    /// The signing authority's P2WPKH address.
    pub address: String,
    /// BIP-322 simple signature (base64) over the canonical text.
    pub signature: String,
}

/// A disposal order file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisposalOrder {
    /// Always [`ORDER_FORMAT`].
    pub format: String,
    /// Order id.
    pub order_id: String,
    /// Case id.
    pub case_id: String,
    /// Network.
    pub network: Network,
    /// Asset (`BTC`).
    pub asset: String,
    /// Exact amount in satoshis.
    pub amount_sat: u64,
    /// Destination address.
    pub destination: String,
    /// Reference.
    pub reference: String,
    /// Start of the validity window (RFC 3339 UTC, `Z`).
    pub not_before: String,
    /// End of the validity window (RFC 3339 UTC, `Z`).
    pub not_after: String,
    /// Issuer.
    pub issuer: String,
    /// Authorities' signatures over the canonical text.
    #[serde(default)]
    pub signatures: Vec<OrderSignature>,
}

/// A time that is not a strict `YYYY-MM-DDTHH:MM:SSZ` (an order's window, `--now`): bad input.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TimeError {
    /// Not an RFC 3339 time at all.
    #[error("{what} {text:?} is not an RFC 3339 time")]
    NotRfc3339 {
        /// Which time (a field name, or the option it came from).
        what: String,
        /// The text given.
        text: String,
        /// Why it does not parse.
        #[source]
        source: chrono::ParseError,
    },
    /// An RFC 3339 time, but not UTC in whole seconds written with `Z`.
    #[error("{what} {text:?} must be UTC in whole seconds, written YYYY-MM-DDTHH:MM:SSZ")]
    NotCanonical {
        /// Which time.
        what: String,
        /// The text given.
        text: String,
    },
}

impl custos_core::exit::Classify for TimeError {
    /// A malformed time is always bad input (2).
    fn exit_class(&self) -> custos_core::exit::ExitClass {
        custos_core::exit::ExitClass::Input
    }
}

/// Parses a strict `YYYY-MM-DDTHH:MM:SSZ` time into unix seconds; `what` names the time in the
/// error.
pub fn parse_time(what: &str, text: &str) -> std::result::Result<i64, TimeError> {
    let t: DateTime<Utc> = DateTime::parse_from_rfc3339(text)
        .map_err(|source| TimeError::NotRfc3339 {
            what: what.to_string(),
            text: text.to_string(),
            source,
        })?
        .with_timezone(&Utc);
    if t.to_rfc3339_opts(SecondsFormat::Secs, true) != text {
        return Err(TimeError::NotCanonical {
            what: what.to_string(),
            text: text.to_string(),
        });
    }
    Ok(t.timestamp())
}

/// Formats unix seconds as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn format_time(secs: i64) -> String {
    DateTime::<Utc>::from_timestamp(secs, 0)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
        .unwrap_or_else(|| secs.to_string())
}

pub(crate) fn check_value(name: &str, v: &str) -> std::result::Result<(), String> {
    if v.is_empty() {
        return Err(format!("{name} is empty"));
    }
    if v.chars().count() > MAX_FIELD {
        return Err(format!("{name} is longer than {MAX_FIELD} characters"));
    }
    if v.chars().any(char::is_control) {
        return Err(format!("{name} holds a control character"));
    }
    if v.trim() != v {
        return Err(format!("{name} has leading or trailing spaces"));
    }
    Ok(())
}

impl DisposalOrder {
    /// A new unsigned order from `fields`, checked; the id derived when none is given.
    pub fn new(fields: OrderFields) -> Result<DisposalOrder> {
        let mut o = DisposalOrder {
            format: ORDER_FORMAT.into(),
            order_id: fields.order_id.clone().unwrap_or_default(),
            case_id: fields.case_id,
            network: fields.network,
            asset: fields.asset,
            amount_sat: fields.amount_sat,
            destination: fields.destination,
            reference: fields.reference,
            not_before: fields.not_before,
            not_after: fields.not_after,
            issuer: fields.issuer,
            signatures: Vec::new(),
        };
        if fields.order_id.is_none() {
            let h = sha256::Hash::hash(o.text_without_id().as_bytes());
            o.order_id = format!("ord-{}", &h.to_string()[..16]);
        }
        o.check_fields()?;
        Ok(o)
    }

    /// Parses an order file and checks its fields (not its signatures).
    pub fn parse(bytes: &[u8], what: &str) -> Result<DisposalOrder> {
        let o: DisposalOrder = serde_json::from_slice(bytes).map_err(|e| Error::Malformed {
            order: what.to_string(),
            reason: format!("not a disposal order file: {e}"),
        })?;
        o.check_fields()?;
        Ok(o)
    }

    fn malformed(&self, reason: String) -> Error {
        Error::Malformed {
            order: self.order_id.clone(),
            reason,
        }
    }

    /// Checks every field: format, values, asset, amount, address of the network, window.
    pub fn check_fields(&self) -> Result<()> {
        if self.format != ORDER_FORMAT {
            return Err(self.malformed(format!(
                "format {:?}, expected {ORDER_FORMAT:?}",
                self.format
            )));
        }
        for (name, v) in [
            ("order_id", &self.order_id),
            ("case_id", &self.case_id),
            ("asset", &self.asset),
            ("destination", &self.destination),
            ("reference", &self.reference),
            ("not_before", &self.not_before),
            ("not_after", &self.not_after),
            ("issuer", &self.issuer),
        ] {
            check_value(name, v).map_err(|r| self.malformed(r))?;
        }
        if self.asset != "BTC" {
            return Err(self.malformed(format!(
                "asset {:?}: only BTC orders are supported",
                self.asset
            )));
        }
        if self.amount_sat == 0 || Amount::from_sat(self.amount_sat) > Amount::MAX_MONEY {
            return Err(self.malformed(format!(
                "amount {} sat is not between 1 sat and 21 million btc",
                self.amount_sat
            )));
        }
        self.destination_script()?;
        let (nb, na) = self.window()?;
        if na <= nb {
            return Err(self.malformed(format!(
                "not_after {} is not after not_before {}",
                self.not_after, self.not_before
            )));
        }
        if self.signatures.len() > MAX_SIGNATURES {
            return Err(self.malformed(format!("more than {MAX_SIGNATURES} signatures")));
        }
        Ok(())
    }

    /// The window as unix seconds.
    pub fn window(&self) -> Result<(i64, i64)> {
        let time_error = |source| Error::Time {
            order: self.order_id.clone(),
            source,
        };
        let nb = parse_time("not_before", &self.not_before).map_err(time_error)?;
        let na = parse_time("not_after", &self.not_after).map_err(time_error)?;
        Ok((nb, na))
    }

    /// The destination's output script (the address must be of the order's network).
    pub fn destination_script(&self) -> Result<ScriptBuf> {
        let a = self
            .destination
            .parse::<Address<NetworkUnchecked>>()
            .map_err(|e| self.malformed(format!("destination {}: {e}", self.destination)))?
            .require_network(self.network.to_bitcoin())
            .map_err(|_| {
                self.malformed(format!(
                    "destination {} is not an address for {}",
                    self.destination, self.network
                ))
            })?;
        Ok(a.script_pubkey())
    }

    fn text_without_id(&self) -> String {
        format!(
            "{CANONICAL_HEADER}\ncase_id: {}\nnetwork: {}\nasset: {}\namount_sat: {}\ndestination: {}\nreference: {}\nnot_before: {}\nnot_after: {}\nissuer: {}\n",
            self.case_id,
            self.network,
            self.asset,
            self.amount_sat,
            self.destination,
            self.reference,
            self.not_before,
            self.not_after,
            self.issuer
        )
    }

    /// The canonical text authorities sign.
    pub fn canonical_text(&self) -> String {
        let rest = self.text_without_id();
        let body = rest
            .strip_prefix(CANONICAL_HEADER)
            .unwrap_or(&rest)
            .trim_start_matches('\n');
        format!("{CANONICAL_HEADER}\norder_id: {}\n{body}", self.order_id)
    }

    /// The JSON file (pretty, with a final newline).
    pub fn to_json(&self) -> Result<Vec<u8>> {
        let mut v = serde_json::to_vec_pretty(self).map_err(|e| self.malformed(e.to_string()))?;
        v.push(b'\n');
        Ok(v)
    }

    /// Signs the canonical text with `key` (its P2WPKH address signs); returns that address.
    /// A second signature by the same address replaces nothing: it is refused.
    pub fn sign<C: Signing>(&mut self, secp: &Secp256k1<C>, key: &Secret<ZKey>) -> Result<String> {
        let pk = CompressedPublicKey::from_private_key(
            secp,
            &bitcoin::PrivateKey::new(key.expose_secret().0, bitcoin::NetworkKind::Main),
        )
        .map_err(|e| Error::Key(e.to_string()))?;
        let address = Address::p2wpkh(&pk, self.network.to_bitcoin()).to_string();
        if self.signatures.iter().any(|s| s.address == address) {
            return Err(self.malformed(format!("already signed by {address}")));
        }
        let signature = bip322::sign_simple_p2wpkh(secp, key, self.canonical_text().as_bytes())
            .map_err(|source| Error::Signature {
                order: self.order_id.clone(),
                source: Box::new(source),
            })?;
        self.signatures.push(OrderSignature {
            address: address.clone(),
            signature,
        });
        Ok(address)
    }

    /// The signatures that verify over the canonical text, by address (in file order). A
    /// signature that does not verify is listed in the second vector with the reason.
    pub fn verified_signers<C: Verification>(
        &self,
        secp: &Secp256k1<C>,
    ) -> (Vec<String>, Vec<(String, String)>) {
        let text = self.canonical_text();
        let mut good = Vec::new();
        let mut bad = Vec::new();
        for s in &self.signatures {
            let checked = s
                .address
                .parse::<Address<NetworkUnchecked>>()
                .map_err(|e| e.to_string())
                .and_then(|a| {
                    if !a.is_valid_for_network(self.network.to_bitcoin()) {
                        return Err(format!("not an address for {}", self.network));
                    }
                    bip322::verify_simple(secp, &a, text.as_bytes(), &s.signature)
                        .map_err(|e| e.to_string())
                });
            match checked {
                Ok(()) => good.push(s.address.clone()),
                Err(e) => bad.push((s.address.clone(), e)),
            }
        }
        (good, bad)
    }

    /// Why this order does not authorise a payment under `policy` at `now` (unix seconds),
    /// or `None` when it does: same network, signed (verifiably) by at least one of the
    /// policy's authorities, `not_before <= now <= not_after`.
    pub fn problem<C: Verification>(
        &self,
        secp: &Secp256k1<C>,
        policy: &CustodyPolicy,
        now: i64,
    ) -> Result<Option<String>> {
        if self.network != policy.network {
            return Ok(Some(format!(
                "the order is for {}, the custody policy for {}",
                self.network, policy.network
            )));
        }
        let (nb, na) = self.window()?;
        if now < nb {
            return Ok(Some(format!(
                "not valid before {} (now {})",
                self.not_before,
                format_time(now)
            )));
        }
        if now > na {
            return Ok(Some(format!(
                "expired at {} (now {})",
                self.not_after,
                format_time(now)
            )));
        }
        if policy.authorities.is_empty() {
            return Ok(Some(format!(
                "the custody policy \"{}\" names no authority that may sign disposal orders",
                policy.name
            )));
        }
        let (good, bad) = self.verified_signers(secp);
        let listed: Vec<&Authority> = policy
            .authorities
            .iter()
            .filter(|p| good.contains(&p.address))
            .collect();
        if listed
            .iter()
            .any(|p| crate::authority::problem(secp, p, policy.network).is_none())
        {
            return Ok(None);
        }
        if let Some(p) = listed.first() {
            let why = crate::authority::problem(secp, p, policy.network).unwrap_or_default();
            return Ok(Some(format!(
                "signed by {}, an authority of the custody policy \"{}\" that cannot be used: {why}",
                p.address, policy.name
            )));
        }
        let mut why = if self.signatures.is_empty() {
            "not signed".to_string()
        } else if good.is_empty() {
            "no signature verifies".to_string()
        } else {
            format!(
                "signed by {}, which is not an authority of the custody policy \"{}\"",
                good.join(", "),
                policy.name
            )
        };
        for (a, e) in bad {
            why.push_str(&format!("; the signature of {a} does not verify ({e})"));
        }
        Ok(Some(why))
    }

    /// The permit a signer matches outputs against (with the problem, if any).
    pub fn permit<C: Verification>(
        &self,
        secp: &Secp256k1<C>,
        policy: &CustodyPolicy,
        now: i64,
    ) -> Result<OrderPermit> {
        Ok(OrderPermit {
            order_id: self.order_id.clone(),
            script_pubkey: self.destination_script()?,
            address: self.destination.clone(),
            amount: Amount::from_sat(self.amount_sat),
            problem: self.problem(secp, policy, now)?,
        })
    }

    /// A human summary: the canonical text and each signature's address.
    pub fn to_text(&self) -> String {
        let mut s = self.canonical_text();
        if self.signatures.is_empty() {
            s.push_str("signatures: none\n");
        }
        for sig in &self.signatures {
            s.push_str(&format!("signed by: {}\n", sig.address));
        }
        s
    }
}

/// An authority's key from a WIF text (one line; surrounding whitespace ignored), for `network`.
pub fn authority_key(wif: &str, network: Network) -> Result<Secret<ZKey>> {
    let mut pk = bitcoin::PrivateKey::from_wif(wif.trim())
        .map_err(|_| Error::Key("the key file does not hold a WIF private key".into()))?;
    let want = bitcoin::NetworkKind::from(network.to_bitcoin());
    if pk.network != want || !pk.compressed {
        pk.inner.non_secure_erase();
        return Err(Error::Key(format!(
            "the WIF key is not a compressed key for {network}"
        )));
    }
    let key = Secret::new(ZKey(pk.inner));
    pk.inner.non_secure_erase();
    Ok(key)
}

/// The P2WPKH address of an authority key: what the custody policy's `authorities` lists.
pub fn authority_address<C: Signing>(
    secp: &Secp256k1<C>,
    key: &Secret<ZKey>,
    network: Network,
) -> String {
    let pk = bitcoin::secp256k1::PublicKey::from_secret_key(secp, &key.expose_secret().0);
    Address::p2wpkh(&CompressedPublicKey(pk), network.to_bitcoin()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_time_is_a_typed_input_error_keeping_its_cause_once() {
        use custos_core::exit::{Classify, ExitClass};
        use std::error::Error as _;
        assert_eq!(
            parse_time("--now", "2026-11-26T12:00:00Z").unwrap(),
            1_795_694_400
        );
        let e = parse_time("--now", "tomorrow").unwrap_err();
        assert!(matches!(e, TimeError::NotRfc3339 { .. }), "{e}");
        assert_eq!(e.exit_class(), ExitClass::Input);
        assert!(e.source().is_some(), "chrono's reason is the source");
        assert_eq!(e.to_string(), "--now \"tomorrow\" is not an RFC 3339 time");
        let e = parse_time("not_before", "2026-11-26T13:00:00+01:00").unwrap_err();
        assert!(matches!(e, TimeError::NotCanonical { .. }), "{e}");
        assert!(e.to_string().contains("YYYY-MM-DDTHH:MM:SSZ"), "{e}");
    }

    fn fields() -> OrderFields {
        OrderFields {
            order_id: None,
            case_id: "CASE-1".into(),
            network: Network::Regtest,
            asset: "BTC".into(),
            amount_sat: 150_000,
            destination: "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080".into(),
            reference: "court order 12/2026".into(),
            not_before: "2026-11-26T00:00:00Z".into(),
            not_after: "2026-11-27T00:00:00Z".into(),
            issuer: "prosecutor".into(),
        }
    }

    fn key(b: u8) -> Secret<ZKey> {
        Secret::new(ZKey(
            bitcoin::secp256k1::SecretKey::from_slice(&[b; 32]).unwrap(),
        ))
    }

    /// A policy whose authorities are the keys `bytes` (with their proofs of possession).
    fn policy_with(bytes: &[u8]) -> CustodyPolicy {
        let secp = Secp256k1::new();
        let p = CustodyPolicy {
            format: custos_core::inventory::CUSTODY_POLICY_FORMAT.into(),
            name: "p".into(),
            network: Network::Regtest,
            threshold: 1,
            keys: vec![],
            receive_descriptor: String::new(),
            change_descriptor: String::new(),
            next_index: 0,
            ceremony_record: None,
            authorities: vec![],
        };
        let records: Vec<_> = bytes
            .iter()
            .map(|b| {
                crate::authority::AuthorityRecord::new(&secp, &key(*b), Network::Regtest, "a")
                    .unwrap()
            })
            .collect();
        crate::authority::add_authorities(&secp, &p, &records).unwrap()
    }

    const NOON: i64 = 1_764_158_400; // 2025-11-26T12:00:00Z is not in the window
    const IN_WINDOW: i64 = 1_795_694_400; // 2026-11-26T12:00:00Z

    #[test]
    fn canonical_text_has_one_line_per_field_and_a_derived_id() {
        let o = DisposalOrder::new(fields()).unwrap();
        let t = o.canonical_text();
        assert!(
            t.starts_with("custos disposal order v1\norder_id: ord-"),
            "{t}"
        );
        assert_eq!(t.lines().count(), 11);
        assert!(t.ends_with("issuer: prosecutor\n"));
        assert_eq!(o.order_id.len(), 4 + 16);
        // the same fields give the same id; another reference another id
        assert_eq!(DisposalOrder::new(fields()).unwrap().order_id, o.order_id);
        let mut f = fields();
        f.reference = "other".into();
        assert_ne!(DisposalOrder::new(f).unwrap().order_id, o.order_id);
    }

    #[test]
    fn refuses_malformed_fields() {
        let mut f = fields();
        f.reference = "two\nlines".into();
        assert!(DisposalOrder::new(f).is_err());
        let mut f = fields();
        f.not_after = "2026-11-25T00:00:00Z".into();
        assert!(DisposalOrder::new(f).is_err());
        let mut f = fields();
        f.not_before = "2026-11-26 00:00:00".into();
        assert!(DisposalOrder::new(f).is_err());
        let mut f = fields();
        f.destination = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4".into();
        assert!(DisposalOrder::new(f).is_err(), "mainnet address on regtest");
        let mut f = fields();
        f.amount_sat = 0;
        assert!(DisposalOrder::new(f).is_err());
        assert!(DisposalOrder::parse(b"{\"format\":1}", "x.json").is_err());
    }

    #[test]
    fn signed_order_is_valid_only_for_a_policy_authority_within_its_window() {
        let secp = Secp256k1::new();
        let mut o = DisposalOrder::new(fields()).unwrap();
        let addr = o.sign(&secp, &key(7)).unwrap();
        assert_eq!(addr, authority_address(&secp, &key(7), Network::Regtest));
        let back = DisposalOrder::parse(&o.to_json().unwrap(), "o.json").unwrap();
        assert_eq!(back, o);
        let good = policy_with(&[7]);
        assert_eq!(o.problem(&secp, &good, IN_WINDOW).unwrap(), None);
        let p = o.problem(&secp, &good, NOON).unwrap().unwrap();
        assert!(p.contains("not valid before"), "{p}");
        let p = o
            .problem(&secp, &good, IN_WINDOW + 86_400)
            .unwrap()
            .unwrap();
        assert!(p.contains("expired"), "{p}");
        let other = policy_with(&[8]);
        let p = o.problem(&secp, &other, IN_WINDOW).unwrap().unwrap();
        assert!(p.contains("not an authority"), "{p}");
        // an authority listed by hand, without a proof of possession, orders nothing
        let mut hand_edited = good.clone();
        hand_edited.authorities[0].proof.clear();
        let p = o.problem(&secp, &hand_edited, IN_WINDOW).unwrap().unwrap();
        assert!(p.contains("cannot be used: no proof of possession"), "{p}");
        // a changed amount breaks the signature
        let mut forged = o.clone();
        forged.amount_sat += 1;
        let p = forged.problem(&secp, &good, IN_WINDOW).unwrap().unwrap();
        assert!(p.contains("does not verify"), "{p}");
    }

    #[test]
    fn reads_only_compressed_wif_keys_of_the_network() {
        let k = bitcoin::PrivateKey::new(
            bitcoin::secp256k1::SecretKey::from_slice(&[3; 32]).unwrap(),
            bitcoin::NetworkKind::Test,
        );
        assert!(authority_key(&k.to_wif(), Network::Regtest).is_ok());
        assert!(authority_key(&k.to_wif(), Network::Bitcoin).is_err());
        assert!(authority_key("not a key", Network::Regtest).is_err());
    }
}
