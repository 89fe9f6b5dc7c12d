//! SLIP-0039 Shamir backups (Trezor Model T / Safe 3 and 5 "Shamir" and "multi-share"
//! backups): share mnemonics → encrypted master secret → master secret, which is the BIP32
//! seed (SLIP-0039, "Master secret" and "Passphrase").
//!
//! Any k of n shares of the one-level form, groups of the two-level form, the extendable form
//! (flag set: the salt leaves the identifier out), with or without a passphrase. Every check of
//! the specification is made, each fault named with the share (its input line) it is in:
//! word list, length, padding, RS1024 checksum, parameters that differ between shares, member
//! indices, missing groups or members, and the digest of the shared secret. Shares beyond a
//! threshold are accepted when they lie on the same polynomial (checked), so a technician can
//! feed every share found.
//!
//! Specification: <https://github.com/satoshilabs/slips/blob/master/slip-0039.md>; vectors:
//! `fixtures/vectors/slip39.json` (all 45 pass, see `crates/keys/tests/slip39.rs`).

use std::{collections::BTreeMap, sync::OnceLock};

use bitcoin::hashes::{hmac, sha256, Hash, HashEngine};
use custos_core::{Secret, SecretString};
use zeroize::Zeroizing;

use crate::Error;

static WORDS: &str = include_str!("../data/slip39-wordlist.txt");

const KIND: &str = "slip-39 share";
const SET: &str = "slip-39 share set";
/// Identifier (15 bits), extendable flag (1), iteration exponent (4): two words.
const ID_EXP_WORDS: usize = 2;
/// Identifier/exponent words, two parameter words and three checksum words.
const METADATA_WORDS: usize = 7;
/// 128-bit secrets need 13 value words: 20 words in all.
const MIN_WORDS: usize = 20;
const SECRET_INDEX: u8 = 255;
const DIGEST_INDEX: u8 = 254;
const DIGEST_LEN: usize = 4;

/// The SLIP-39 word list (1024 words, sorted).
pub fn wordlist() -> &'static [&'static str] {
    static LIST: OnceLock<Vec<&'static str>> = OnceLock::new();
    LIST.get_or_init(|| {
        WORDS
            .lines()
            .map(str::trim)
            .filter(|w| !w.is_empty())
            .collect()
    })
}

fn word_index(w: &str) -> Option<u16> {
    wordlist()
        .binary_search(&w)
        .ok()
        .and_then(|i| u16::try_from(i).ok())
}

/// Whether every word of a phrase is in the SLIP-39 list and it is long enough to be a share.
pub fn looks_like_share(words: &[&str]) -> bool {
    words.len() >= MIN_WORDS && words.iter().all(|w| word_index(w).is_some())
}

/// One decoded share (public parameters; the value is secret).
#[derive(Clone)]
pub struct Share {
    /// Random identifier common to the set (15 bits).
    pub identifier: u16,
    /// Extendable backup flag.
    pub extendable: bool,
    /// Iteration exponent e: PBKDF2 runs 10000·2^e iterations in all.
    pub iteration_exponent: u8,
    /// Group index (0-based).
    pub group_index: u8,
    /// Groups needed.
    pub group_threshold: u8,
    /// Groups made.
    pub group_count: u8,
    /// Member index within the group (0-based).
    pub member_index: u8,
    /// Members of this group needed.
    pub member_threshold: u8,
    /// Input line (1-based) of the share.
    pub line: usize,
    value: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for Share {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Share {{ id {}, group {}/{} of {}, member {} of threshold {}, line {}, value: [redacted] }}",
            self.identifier,
            self.group_index,
            self.group_threshold,
            self.group_count,
            self.member_index,
            self.member_threshold,
            self.line
        )
    }
}

fn share_fault(line: usize, fault: impl Into<String>) -> Error {
    Error::Invalid {
        kind: KIND,
        line: Some(line),
        fault: fault.into(),
    }
}

fn set_fault(fault: impl Into<String>) -> Error {
    Error::Invalid {
        kind: SET,
        line: None,
        fault: fault.into(),
    }
}

fn rs1024_polymod(values: impl Iterator<Item = u32>) -> u32 {
    const GEN: [u32; 10] = [
        0xE0E040, 0x1C1C080, 0x3838100, 0x7070200, 0xE0E0009, 0x1C0C2412, 0x38086C24, 0x3090FC48,
        0x21B1F890, 0x3F3F120,
    ];
    let mut chk: u32 = 1;
    for v in values {
        let b = chk >> 20;
        chk = ((chk & 0xFFFFF) << 10) ^ v;
        for (i, g) in GEN.iter().enumerate() {
            if (b >> i) & 1 == 1 {
                chk ^= g;
            }
        }
    }
    chk
}

fn customization(extendable: bool) -> &'static [u8] {
    if extendable {
        b"shamir_extendable"
    } else {
        b"shamir"
    }
}

/// Decodes one share mnemonic (`line` is its input line, for errors).
pub fn parse_share(words: &[&str], line: usize) -> Result<Share, Error> {
    let mut idx = Vec::with_capacity(words.len());
    for (i, w) in words.iter().enumerate() {
        let n = word_index(w).ok_or_else(|| {
            share_fault(
                line,
                format!("word {} is not in the slip-39 word list", i + 1),
            )
        })?;
        idx.push(u32::from(n));
    }
    if idx.len() < MIN_WORDS {
        return Err(share_fault(
            line,
            format!("{} words; a share has at least {MIN_WORDS}", idx.len()),
        ));
    }
    let padding = (10 * (idx.len() - METADATA_WORDS)) % 16;
    if padding > 8 {
        return Err(share_fault(
            line,
            format!("{} words is not a valid share length", idx.len()),
        ));
    }
    let id_exp = (idx[0] << 10) | idx[1];
    let extendable = (id_exp >> 4) & 1 == 1;
    let custom = customization(extendable).iter().map(|&b| u32::from(b));
    if rs1024_polymod(custom.chain(idx.iter().copied())) != 1 {
        return Err(share_fault(
            line,
            "checksum does not match (a word is wrong or missing)",
        ));
    }
    let params = (idx[ID_EXP_WORDS] << 10) | idx[ID_EXP_WORDS + 1];
    // Masked to 4 bits: the casts are exact.
    let nibble = |shift: u32| ((params >> shift) & 0xF) as u8;
    let share = Share {
        // id_exp has 20 bits: the identifier is its top 15, the exponent its low 4.
        identifier: (id_exp >> 5) as u16,
        extendable,
        iteration_exponent: (id_exp & 0xF) as u8,
        group_index: nibble(16),
        group_threshold: nibble(12) + 1,
        group_count: nibble(8) + 1,
        member_index: nibble(4),
        member_threshold: nibble(0) + 1,
        line,
        value: decode_value(&idx[ID_EXP_WORDS + 2..idx.len() - 3], padding, line)?,
    };
    if share.group_threshold > share.group_count {
        return Err(share_fault(
            line,
            format!(
                "group threshold {} is greater than the group count {}",
                share.group_threshold, share.group_count
            ),
        ));
    }
    Ok(share)
}

/// The share value from its words: `padding` leading bits must be zero; the rest are bytes.
fn decode_value(words: &[u32], padding: usize, line: usize) -> Result<Zeroizing<Vec<u8>>, Error> {
    let total_bits = 10 * words.len();
    let mut bits = Zeroizing::new(Vec::with_capacity(total_bits));
    for w in words {
        for i in (0..10).rev() {
            bits.push(u8::from((w >> i) & 1 == 1));
        }
    }
    if bits[..padding].contains(&1) {
        return Err(share_fault(line, "padding bits are not zero"));
    }
    let mut value = Zeroizing::new(Vec::with_capacity((total_bits - padding) / 8));
    for chunk in bits[padding..].chunks(8) {
        value.push(chunk.iter().fold(0u8, |acc, &b| (acc << 1) | b));
    }
    if value.len() < 16 || !value.len().is_multiple_of(2) {
        return Err(share_fault(
            line,
            format!(
                "a {}-byte secret; a master secret has an even number of bytes, at least 16",
                value.len()
            ),
        ));
    }
    Ok(value)
}

/// GF(256) with the AES polynomial x^8 + x^4 + x^3 + x + 1, generator 3: exp and log tables.
struct Field {
    exp: [u8; 255],
    log: [u8; 256],
}

fn field() -> &'static Field {
    static F: OnceLock<Field> = OnceLock::new();
    F.get_or_init(|| {
        let mut f = Field {
            exp: [0; 255],
            log: [0; 256],
        };
        let mut poly: u16 = 1;
        for i in 0..255u8 {
            f.exp[usize::from(i)] = poly as u8;
            f.log[usize::from(poly)] = i;
            poly = (poly << 1) ^ poly;
            if poly & 0x100 != 0 {
                poly ^= 0x11B;
            }
        }
        f
    })
}

/// f(x) of the polynomials through `points` (x, y-bytes): Lagrange interpolation in GF(256).
/// The x coordinates are distinct (checked by the callers).
fn interpolate(points: &[(u8, &[u8])], x: u8) -> Zeroizing<Vec<u8>> {
    if let Some((_, y)) = points.iter().find(|(px, _)| *px == x) {
        return Zeroizing::new(y.to_vec());
    }
    let f = field();
    let log = |v: u8| u32::from(f.log[usize::from(v)]);
    let log_prod: u32 = points.iter().map(|(px, _)| log(px ^ x)).sum();
    let len = points.first().map_or(0, |(_, y)| y.len());
    let mut out = Zeroizing::new(vec![0u8; len]);
    for (px, y) in points {
        let others: u32 = points.iter().map(|(ox, _)| log(px ^ ox)).sum::<u32>();
        // log of the basis polynomial at x, kept non-negative modulo 255.
        let basis = (log_prod % 255 + 2 * 255 - log(px ^ x) - others % 255) % 255;
        for (o, &v) in out.iter_mut().zip(y.iter()) {
            if v != 0 {
                *o ^= f.exp[((log(v) + basis) % 255) as usize];
            }
        }
    }
    out
}

/// The secret shared by `points` under `threshold`, with SLIP-39's checks: at least
/// `threshold` points, distinct x, equal lengths, points beyond the threshold on the same
/// polynomial, and (threshold > 1) the digest. `what` names the level for errors.
fn recover_secret(
    threshold: u8,
    points: &[(u8, &[u8], usize)],
    what: &str,
) -> Result<Zeroizing<Vec<u8>>, Error> {
    let t = usize::from(threshold);
    if points.len() < t {
        return Err(set_fault(format!(
            "{what}: {} share(s) given, {t} needed",
            points.len()
        )));
    }
    let len = points[0].1.len();
    if let Some(p) = points.iter().find(|p| p.1.len() != len) {
        return Err(share_fault(
            p.2,
            format!("{what}: its value length differs from the other shares'"),
        ));
    }
    let base: Vec<(u8, &[u8])> = points[..t].iter().map(|p| (p.0, p.1)).collect();
    for extra in &points[t..] {
        if *interpolate(&base, extra.0) != *extra.1 {
            return Err(share_fault(
                extra.2,
                format!("{what}: share beyond the threshold does not lie on the polynomial of the others"),
            ));
        }
    }
    if t == 1 {
        return Ok(Zeroizing::new(points[0].1.to_vec()));
    }
    let secret = interpolate(&base, SECRET_INDEX);
    let digest_share = interpolate(&base, DIGEST_INDEX);
    let mut e = hmac::HmacEngine::<sha256::Hash>::new(&digest_share[DIGEST_LEN..]);
    e.input(&secret);
    let mac = hmac::Hmac::<sha256::Hash>::from_engine(e).to_byte_array();
    if mac[..DIGEST_LEN] != digest_share[..DIGEST_LEN] {
        return Err(set_fault(format!(
            "{what}: the digest of the shared secret does not match (shares of different backups, or a wrong share)"
        )));
    }
    Ok(secret)
}

/// An encrypted master secret with what its decryption needs (no passphrase).
#[derive(Clone)]
pub struct EncryptedMasterSecret {
    /// Identifier of the set.
    pub identifier: u16,
    /// Extendable backup flag.
    pub extendable: bool,
    /// Iteration exponent.
    pub iteration_exponent: u8,
    /// Groups needed / made.
    pub group_threshold: u8,
    /// Groups made.
    pub group_count: u8,
    /// Shares used.
    pub shares: usize,
    value: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for EncryptedMasterSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "EncryptedMasterSecret {{ id {}, extendable {}, e {}, groups {} of {}, value: [redacted] }}",
            self.identifier, self.extendable, self.iteration_exponent, self.group_threshold, self.group_count
        )
    }
}

impl EncryptedMasterSecret {
    /// Length of the master secret in bytes (16 or 32 in practice).
    pub fn len(&self) -> usize {
        self.value.len()
    }

    /// Always false: a recovered secret has at least 16 bytes.
    pub fn is_empty(&self) -> bool {
        self.value.is_empty()
    }
}

/// Checks that every share has the set's common parameters (those of the first share).
fn check_common(shares: &[Share]) -> Result<(), Error> {
    let Some(first) = shares.first() else {
        return Err(set_fault("no shares"));
    };
    for s in &shares[1..] {
        let differs = [
            (s.identifier != first.identifier, "identifier"),
            (s.extendable != first.extendable, "extendable flag"),
            (
                s.iteration_exponent != first.iteration_exponent,
                "iteration exponent",
            ),
            (
                s.group_threshold != first.group_threshold,
                "group threshold",
            ),
            (s.group_count != first.group_count, "group count"),
        ];
        if let Some((_, what)) = differs.iter().find(|(d, _)| *d) {
            return Err(share_fault(
                s.line,
                format!(
                    "its {what} differs from that of the share on line {}: not the same backup",
                    first.line
                ),
            ));
        }
    }
    Ok(())
}

/// Members of each group, duplicates of a whole share dropped, conflicting ones refused.
fn group_members(shares: &[Share]) -> Result<BTreeMap<u8, Vec<&Share>>, Error> {
    let mut groups: BTreeMap<u8, Vec<&Share>> = BTreeMap::new();
    for s in shares {
        let members = groups.entry(s.group_index).or_default();
        if let Some(m) = members
            .first()
            .filter(|m| m.member_threshold != s.member_threshold)
        {
            return Err(share_fault(
                s.line,
                format!(
                    "member threshold {} differs from {} of the share on line {} in group {}",
                    s.member_threshold, m.member_threshold, m.line, s.group_index
                ),
            ));
        }
        match members.iter().find(|m| m.member_index == s.member_index) {
            Some(m) if *m.value == *s.value => {}
            Some(m) => {
                return Err(share_fault(
                    s.line,
                    format!(
                    "member index {} of group {} is also the share on line {}, with another value",
                    s.member_index, s.group_index, m.line
                ),
                ))
            }
            None => members.push(s),
        }
    }
    Ok(groups)
}

/// Combines shares into the encrypted master secret: each group with enough members gives its
/// group share, and enough group shares give the secret.
pub fn recover(shares: &[Share]) -> Result<EncryptedMasterSecret, Error> {
    check_common(shares)?;
    let first = &shares[0];
    let groups = group_members(shares)?;
    let mut group_secrets = Vec::new();
    let mut short = Vec::new();
    for (gi, members) in &groups {
        let t = members[0].member_threshold;
        if members.len() < usize::from(t) {
            short.push(format!("group {gi} has {} of {t} members", members.len()));
            continue;
        }
        let points: Vec<(u8, &[u8], usize)> = members
            .iter()
            .map(|m| (m.member_index, m.value.as_slice(), m.line))
            .collect();
        let secret = recover_secret(t, &points, &format!("group {gi}"))?;
        group_secrets.push((*gi, secret, members[0].line));
    }
    if group_secrets.len() < usize::from(first.group_threshold) {
        let mut fault = format!(
            "{} complete group(s), {} of {} needed",
            group_secrets.len(),
            first.group_threshold,
            first.group_count
        );
        if !short.is_empty() {
            fault.push_str(&format!(" ({})", short.join("; ")));
        }
        return Err(set_fault(fault));
    }
    let points: Vec<(u8, &[u8], usize)> = group_secrets
        .iter()
        .map(|(gi, s, line)| (*gi, s.as_slice(), *line))
        .collect();
    let value = recover_secret(first.group_threshold, &points, "groups")?;
    Ok(EncryptedMasterSecret {
        identifier: first.identifier,
        extendable: first.extendable,
        iteration_exponent: first.iteration_exponent,
        group_threshold: first.group_threshold,
        group_count: first.group_count,
        shares: shares.len(),
        value,
    })
}

/// Decrypts the master secret with the passphrase (printable ASCII per SLIP-39; empty when
/// none): the four-round Feistel network with PBKDF2-HMAC-SHA256 round functions.
pub fn decrypt(
    ems: &EncryptedMasterSecret,
    passphrase: Option<&SecretString>,
) -> Result<Secret<Vec<u8>>, Error> {
    let pass = passphrase.map_or("", |p| p.expose_secret().as_str());
    if !pass.bytes().all(|b| (32..=126).contains(&b)) {
        return Err(Error::Unsupported {
            kind: KIND,
            reason: "a slip-39 passphrase is printable ascii only; this one has other characters"
                .into(),
        });
    }
    let half = ems.value.len() / 2;
    let mut l = Zeroizing::new(ems.value[..half].to_vec());
    let mut r = Zeroizing::new(ems.value[half..].to_vec());
    let mut salt = Vec::new();
    if !ems.extendable {
        salt.extend_from_slice(b"shamir");
        salt.extend_from_slice(&ems.identifier.to_be_bytes());
    }
    let iterations = (10_000u32 << ems.iteration_exponent) / 4;
    for round in (0..4u8).rev() {
        let mut key = Zeroizing::new(vec![round]);
        key.extend_from_slice(pass.as_bytes());
        let mut round_salt = salt.clone();
        round_salt.extend_from_slice(&r);
        let mut f = Zeroizing::new(vec![0u8; r.len()]);
        crate::pbkdf2::pbkdf2_hmac_sha256(&key, &round_salt, iterations, &mut f);
        let next_r: Vec<u8> = l.iter().zip(f.iter()).map(|(a, b)| a ^ b).collect();
        l = std::mem::replace(&mut r, Zeroizing::new(next_r));
    }
    let mut out = r.to_vec();
    out.extend_from_slice(&l);
    Ok(Secret::new(out))
}

/// Parses share lines (each a mnemonic; `lines` are (input line, words)) and recovers the
/// encrypted master secret.
pub fn recover_lines(lines: &[(usize, Vec<&str>)]) -> Result<EncryptedMasterSecret, Error> {
    let shares = lines
        .iter()
        .map(|(n, words)| parse_share(words, *n))
        .collect::<Result<Vec<_>, _>>()?;
    recover(&shares)
}
