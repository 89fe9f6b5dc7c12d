//! Seized material: what it is ([`Material`]) and how it is recognised ([`classify`]).

use std::str::FromStr;

use bitcoin::{
    bip32::{DerivationPath, Fingerprint, Xpub},
    secp256k1::Secp256k1,
    Address, NetworkKind, PrivateKey, PublicKey,
};
use custos_core::{Network, Secret, SecretString};
use miniscript::{
    descriptor::{Descriptor, DescriptorPublicKey},
    ForEachKey,
};

use crate::{
    electrum::ElectrumSeedKind,
    electrum_wallet::{self, ElectrumWallet},
    slip132::{self, Decoded, ScriptHint},
    slip39::EncryptedMasterSecret,
    Error,
};

/// A key origin `[fingerprint/path]` written in front of an extended key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyOrigin {
    /// Master fingerprint.
    pub fingerprint: Fingerprint,
    /// Path from the master to the key.
    pub path: DerivationPath,
}

/// An extended public key from the input.
#[derive(Debug, Clone)]
pub struct ExtendedPublicKey {
    /// The key, re-encoded with BIP32 `xpub`/`tpub` version bytes.
    pub xpub: Xpub,
    /// The SLIP-132 prefix it was written with ("zpub", ...).
    pub prefix: &'static str,
    /// The script type that prefix announces.
    pub hint: ScriptHint,
    /// Key origin, when written as `[fp/path]xpub`.
    pub origin: Option<KeyOrigin>,
    /// Input line (1-based).
    pub line: usize,
}

/// An extended private key from the input.
#[derive(Debug, Clone)]
pub struct ExtendedPrivateKey {
    /// The key as BIP32 `xprv`/`tprv` base58 (SLIP-132 prefix removed).
    pub xprv: SecretString,
    /// Its extended public key (public, safe to print).
    pub xpub: Xpub,
    /// The SLIP-132 prefix it was written with ("zprv", ...).
    pub prefix: &'static str,
    /// The script type that prefix announces.
    pub hint: ScriptHint,
    /// Key origin, when written as `[fp/path]xprv`.
    pub origin: Option<KeyOrigin>,
    /// Input line (1-based).
    pub line: usize,
}

/// An output descriptor from the input.
#[derive(Debug, Clone)]
pub struct DescriptorItem {
    /// The public descriptor (private keys replaced by their public keys).
    pub descriptor: Descriptor<DescriptorPublicKey>,
    /// The input text when it contained private keys (needed later for signing).
    pub secret: Option<SecretString>,
    /// Input line (1-based).
    pub line: usize,
}

/// A WIF private key from the input.
#[derive(Debug, Clone)]
pub struct WifKey {
    /// The WIF text.
    pub wif: SecretString,
    /// Its public key (compression flag included).
    pub public_key: PublicKey,
    /// Input line (1-based).
    pub line: usize,
}

/// A bare address from the input.
#[derive(Debug, Clone)]
pub struct AddressItem {
    /// The address, checked against the network.
    pub address: Address,
    /// Input line (1-based).
    pub line: usize,
}

/// Seized material, classified. Secret variants keep their secrets in [`custos_core::Secret`];
/// `Debug` never prints them.
#[derive(Debug, Clone)]
pub enum Material {
    /// A valid BIP39 mnemonic (checksum verified).
    Bip39 {
        /// The normalised phrase (NFKD, lower case, single spaces, numbering removed).
        phrase: SecretString,
        /// Number of words.
        words: usize,
        /// Word-list language.
        language: &'static str,
        /// Set when the same phrase is also a valid Electrum seed (Electrum before 4.0 did not
        /// exclude BIP39-valid phrases): both interpretations are then scanned.
        also_electrum: Option<ElectrumSeedKind>,
    },
    /// An Electrum native seed.
    ElectrumSeed {
        /// Seed type.
        kind: ElectrumSeedKind,
        /// The phrase as given (Electrum normalises at use).
        phrase: SecretString,
        /// Number of words (0 for the hex form of an old seed).
        words: usize,
    },
    /// A SLIP-39 share set (Trezor Shamir backup), combined: the encrypted master secret. The
    /// passphrase (if any) is applied when deriving; the master secret is the BIP32 seed.
    Slip39 {
        /// The encrypted master secret and the set's public parameters.
        ems: EncryptedMasterSecret,
    },
    /// An Electrum wallet file whose storage is encrypted: [`unlock`] it with its password.
    ElectrumWalletEncrypted {
        /// The file's text (base64 of the encrypted storage).
        raw: SecretString,
    },
    /// An Electrum wallet file, read into its public parts.
    ElectrumWallet(ElectrumWallet),
    /// Extended public keys (one per line).
    ExtendedPublic {
        /// The keys.
        keys: Vec<ExtendedPublicKey>,
    },
    /// Extended private keys (one per line).
    ExtendedPrivate {
        /// The keys.
        keys: Vec<ExtendedPrivateKey>,
    },
    /// Output descriptors (one per line).
    Descriptors(Vec<DescriptorItem>),
    /// WIF private keys (one per line).
    Wif(Vec<WifKey>),
    /// Bare addresses (one per line).
    Addresses(Vec<AddressItem>),
}

impl Material {
    /// Short stable name of the kind.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Material::Bip39 { .. } => "bip39 mnemonic",
            Material::ElectrumSeed { .. } => "electrum seed",
            Material::Slip39 { .. } => "slip-39 shares",
            Material::ElectrumWalletEncrypted { .. } | Material::ElectrumWallet(_) => {
                "electrum wallet file"
            }
            Material::ExtendedPublic { .. } => "extended public keys",
            Material::ExtendedPrivate { .. } => "extended private keys",
            Material::Descriptors(_) => "output descriptors",
            Material::Wif(_) => "wif keys",
            Material::Addresses(_) => "addresses",
        }
    }

    /// Whether the material is a seed (BIP39, Electrum): a passphrase applies, and every
    /// catalogue layout is derived from it.
    pub fn has_seed(&self) -> bool {
        matches!(
            self,
            Material::Bip39 { .. } | Material::ElectrumSeed { .. } | Material::Slip39 { .. }
        )
    }

    /// Whether the material contains secrets (can spend).
    pub fn is_secret(&self) -> bool {
        match self {
            Material::Bip39 { .. }
            | Material::ElectrumSeed { .. }
            | Material::Slip39 { .. }
            | Material::ElectrumWalletEncrypted { .. }
            | Material::ExtendedPrivate { .. }
            | Material::Wif(_) => true,
            Material::Descriptors(d) => d.iter().any(|d| d.secret.is_some()),
            Material::ElectrumWallet(w) => w.has_private,
            Material::ExtendedPublic { .. } | Material::Addresses(_) => false,
        }
    }

    /// A one-line description without any secret, e.g. "bip39 mnemonic, 12 words (english)".
    pub fn describe(&self) -> String {
        match self {
            Material::Bip39 {
                words,
                language,
                also_electrum,
                ..
            } => {
                let mut s = format!("bip39 mnemonic, {words} words ({language})");
                if let Some(k) = also_electrum {
                    s.push_str(&format!("; also a valid electrum {} seed", k.name()));
                }
                s
            }
            Material::ElectrumSeed { kind, words, .. } => {
                if *words == 0 {
                    format!("electrum {} seed (hex form)", kind.name())
                } else {
                    format!("electrum {} seed, {words} words", kind.name())
                }
            }
            Material::Slip39 { ems } => format!(
                "slip-39 shares: {} share(s) combined, {} of {} group(s), {}-bit secret{}, identifier {}",
                ems.shares,
                ems.group_threshold,
                ems.group_count,
                ems.len() * 8,
                if ems.extendable { ", extendable" } else { "" },
                ems.identifier
            ),
            Material::ElectrumWalletEncrypted { .. } => {
                "electrum wallet file, storage encrypted (the password opens it)".to_string()
            }
            Material::ElectrumWallet(w) => format!(
                "electrum wallet file: {} wallet, {}, seed version {}{}{}",
                w.wallet_type,
                w.script,
                w.seed_version,
                if w.was_encrypted { ", storage encrypted" } else { "" },
                if w.has_private {
                    ", holds private keys"
                } else {
                    ", watch-only"
                }
            ),
            Material::ExtendedPublic { keys } => format!(
                "{} extended public key(s) ({})",
                keys.len(),
                prefixes(keys.iter().map(|k| k.prefix))
            ),
            Material::ExtendedPrivate { keys } => format!(
                "{} extended private key(s) ({})",
                keys.len(),
                prefixes(keys.iter().map(|k| k.prefix))
            ),
            Material::Descriptors(d) => {
                let secret = d.iter().filter(|d| d.secret.is_some()).count();
                format!(
                    "{} output descriptor(s), {secret} with private keys",
                    d.len()
                )
            }
            Material::Wif(k) => {
                let c = k.iter().filter(|k| k.public_key.compressed).count();
                format!(
                    "{} wif key(s): {c} compressed, {} uncompressed",
                    k.len(),
                    k.len() - c
                )
            }
            Material::Addresses(a) => format!("{} address(es)", a.len()),
        }
    }

    /// Script types the material points at (for `classify` output), without secrets.
    pub fn script_hints(&self) -> Vec<String> {
        let mut v: Vec<String> = match self {
            Material::Bip39 { also_electrum, .. } => {
                let mut v =
                    vec!["every catalogue path (bip44/49/84/86 and wallet-specific)".to_string()];
                if let Some(k) = also_electrum {
                    v.push(format!("electrum {} paths", k.name()));
                }
                v
            }
            Material::Slip39 { .. } => {
                vec!["every catalogue path (the master secret is a bip32 seed)".to_string()]
            }
            Material::ElectrumWalletEncrypted { .. } => vec!["unknown until opened".to_string()],
            Material::ElectrumWallet(w) => vec![w.script.clone()],
            Material::ElectrumSeed { kind, .. } => vec![match kind {
                ElectrumSeedKind::Standard | ElectrumSeedKind::Old => "p2pkh".to_string(),
                ElectrumSeedKind::Segwit => "p2wpkh".to_string(),
                ElectrumSeedKind::TwoFactor => "2-of-3 p2sh (trustedcoin)".to_string(),
                ElectrumSeedKind::TwoFactorSegwit => "2-of-3 p2wsh (trustedcoin)".to_string(),
            }],
            Material::ExtendedPublic { keys } => {
                keys.iter().map(|k| k.hint.describe().to_string()).collect()
            }
            Material::ExtendedPrivate { keys } => {
                keys.iter().map(|k| k.hint.describe().to_string()).collect()
            }
            Material::Descriptors(d) => d
                .iter()
                .map(|d| format!("{:?}", d.descriptor.desc_type()).to_lowercase())
                .collect(),
            Material::Wif(k) => k
                .iter()
                .map(|k| {
                    if k.public_key.compressed {
                        "p2pkh, p2wpkh, p2sh-p2wpkh, p2tr".to_string()
                    } else {
                        "p2pkh (uncompressed)".to_string()
                    }
                })
                .collect(),
            Material::Addresses(a) => a
                .iter()
                .map(|a| {
                    a.address
                        .address_type()
                        .map(|t| t.to_string())
                        .unwrap_or_else(|| "unknown".into())
                })
                .collect(),
        };
        v.sort();
        v.dedup();
        v
    }
}

fn prefixes<'a>(it: impl Iterator<Item = &'a str>) -> String {
    let mut v: Vec<&str> = it.collect();
    v.sort();
    v.dedup();
    v.join(", ")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LineKind {
    Descriptor,
    ExtPub,
    ExtPrv,
    Wif,
    Address,
    Words,
}

impl LineKind {
    fn name(self) -> &'static str {
        match self {
            LineKind::Descriptor => "an output descriptor",
            LineKind::ExtPub => "an extended public key",
            LineKind::ExtPrv => "an extended private key",
            LineKind::Wif => "a wif key",
            LineKind::Address => "an address",
            LineKind::Words => "a word phrase",
        }
    }
}

fn split_origin(s: &str) -> (Option<&str>, &str) {
    if let Some(rest) = s.strip_prefix('[') {
        if let Some(end) = rest.find(']') {
            return (Some(&rest[..end]), &rest[end + 1..]);
        }
    }
    (None, s)
}

fn is_base58(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() && !matches!(b, b'0' | b'O' | b'I' | b'l'))
}

fn line_kind(line: &str) -> LineKind {
    if line.contains('(') {
        return LineKind::Descriptor;
    }
    let (_, key) = split_origin(line);
    if slip132::looks_like_extended_key(key) {
        let private = slip132::VERSIONS
            .iter()
            .any(|v| v.private && key.starts_with(v.prefix));
        return if private {
            LineKind::ExtPrv
        } else {
            LineKind::ExtPub
        };
    }
    if (line.len() == 51 || line.len() == 52)
        && is_base58(line)
        && matches!(line.as_bytes()[0], b'5' | b'K' | b'L' | b'9' | b'c')
    {
        return LineKind::Wif;
    }
    if Address::from_str(line).is_ok() || looks_like_address(line) {
        return LineKind::Address;
    }
    LineKind::Words
}

/// A single token shaped like an address (so a typo in it is reported as a bad address, not as
/// an unknown word phrase).
fn looks_like_address(line: &str) -> bool {
    let lower = line.to_ascii_lowercase();
    if line.contains(char::is_whitespace) {
        return false;
    }
    let bech = ["bc1", "tb1", "bcrt1"].iter().any(|p| lower.starts_with(p))
        && line.len() >= 14
        && line.len() <= 90;
    let base58 = (25..=35).contains(&line.len())
        && is_base58(line)
        && matches!(line.as_bytes()[0], b'1' | b'3' | b'm' | b'n' | b'2');
    bech || base58
}

fn key_network_matches(mainnet: bool, network: Network) -> bool {
    mainnet == (network == Network::Bitcoin)
}

fn net_name(mainnet: bool) -> String {
    if mainnet {
        "mainnet"
    } else {
        "a test network (testnet/signet/regtest)"
    }
    .to_string()
}

fn parse_origin(o: &str, kind: &'static str, line: usize) -> Result<KeyOrigin, Error> {
    let bad = |fault: String| Error::Invalid {
        kind,
        line: Some(line),
        fault,
    };
    let (fp, path) = o.split_once('/').unwrap_or((o, ""));
    let fingerprint = Fingerprint::from_str(fp)
        .map_err(|_| bad(format!("key origin fingerprint {fp:?} is not 8 hex digits")))?;
    let path_text = if path.is_empty() {
        "m".to_string()
    } else {
        format!("m/{}", path.replace('h', "'"))
    };
    let path = DerivationPath::from_str(&path_text)
        .map_err(|e| bad(format!("key origin path {path_text:?}: {e}")))?;
    Ok(KeyOrigin { fingerprint, path })
}

/// Opens a storage-encrypted Electrum wallet file with its password; other material is
/// returned as it is.
pub fn unlock(
    material: Material,
    password: &SecretString,
    network: Network,
) -> Result<Material, Error> {
    match material {
        Material::ElectrumWalletEncrypted { raw } => {
            let plain = electrum_wallet::decrypt(&raw, password)?;
            electrum_wallet::parse(&plain, network, true).map(Material::ElectrumWallet)
        }
        other => Ok(other),
    }
}

/// Recognises seized material and checks it (checksums, word lists, network). Lines that are
/// empty or start with `#` are ignored. Line-oriented kinds (extended keys, descriptors, WIF
/// keys, addresses) take one item per line, all of one kind; anything else is read as a word
/// phrase (BIP39 in any of its languages, Electrum standard/segwit/2FA, Electrum old).
///
/// Errors name the kind, the fault and the line, and never contain the secret.
pub fn classify(text: &SecretString, network: Network) -> Result<Material, Error> {
    if crate::eth::keystore::looks_like_keystore(text.expose_secret()) {
        return Err(Error::Unsupported {
            kind: "ethereum keystore",
            reason: "a web3 secret storage (keystore v3) file; read it with --network ethereum"
                .into(),
        });
    }
    let body = text.expose_secret().trim_start_matches('\u{feff}');
    if electrum_wallet::is_encrypted_wallet(body) {
        return Ok(Material::ElectrumWalletEncrypted { raw: text.clone() });
    }
    if electrum_wallet::is_plain_wallet(body) {
        return electrum_wallet::parse(text, network, false).map(Material::ElectrumWallet);
    }
    let lines: Vec<(usize, &str)> = text
        .expose_secret()
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_start_matches('\u{feff}').trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
        .collect();
    if lines.is_empty() {
        return Err(Error::Empty);
    }
    let kinds: Vec<LineKind> = lines.iter().map(|(_, l)| line_kind(l)).collect();
    let (first_line, first) = (lines[0].0, kinds[0]);
    if let Some(i) = kinds.iter().position(|k| *k != first) {
        return Err(Error::Mixed {
            first_kind: first.name(),
            first_line,
            kind: kinds[i].name(),
            line: lines[i].0,
        });
    }
    match first {
        LineKind::Words => crate::phrase::classify_phrase(text),
        LineKind::Descriptor => lines
            .iter()
            .map(|&(n, l)| parse_descriptor(l, n, network))
            .collect::<Result<_, _>>()
            .map(Material::Descriptors),
        LineKind::ExtPub => {
            let keys = lines
                .iter()
                .map(|&(n, l)| parse_xpub(l, n, network))
                .collect::<Result<_, _>>()?;
            Ok(Material::ExtendedPublic { keys })
        }
        LineKind::ExtPrv => {
            let keys = lines
                .iter()
                .map(|&(n, l)| parse_xprv(l, n, network))
                .collect::<Result<_, _>>()?;
            Ok(Material::ExtendedPrivate { keys })
        }
        LineKind::Wif => lines
            .iter()
            .map(|&(n, l)| parse_wif(l, n, network))
            .collect::<Result<_, _>>()
            .map(Material::Wif),
        LineKind::Address => lines
            .iter()
            .map(|&(n, l)| parse_address(l, n, network))
            .collect::<Result<_, _>>()
            .map(Material::Addresses),
    }
}

fn parse_xpub(l: &str, line: usize, network: Network) -> Result<ExtendedPublicKey, Error> {
    const KIND: &str = "extended public key";
    let (origin, key) = split_origin(l);
    let origin = origin.map(|o| parse_origin(o, KIND, line)).transpose()?;
    match slip132::decode(key) {
        Ok(Decoded::Public(xpub, v)) => {
            if !key_network_matches(v.mainnet, network) {
                return Err(Error::WrongNetwork {
                    kind: KIND,
                    line: Some(line),
                    found: net_name(v.mainnet),
                    expected: network,
                });
            }
            Ok(ExtendedPublicKey {
                xpub,
                prefix: v.prefix,
                hint: v.hint,
                origin,
                line,
            })
        }
        Ok(Decoded::Private(..)) => Err(Error::Invalid {
            kind: KIND,
            line: Some(line),
            fault: "version bytes are those of a private key".into(),
        }),
        Err(f) => Err(Error::Invalid {
            kind: KIND,
            line: Some(line),
            fault: f.to_string(),
        }),
    }
}

fn parse_xprv(l: &str, line: usize, network: Network) -> Result<ExtendedPrivateKey, Error> {
    const KIND: &str = "extended private key";
    let (origin, key) = split_origin(l);
    let origin = origin.map(|o| parse_origin(o, KIND, line)).transpose()?;
    match slip132::decode(key) {
        Ok(Decoded::Private(xprv, v)) => {
            if !key_network_matches(v.mainnet, network) {
                return Err(Error::WrongNetwork {
                    kind: KIND,
                    line: Some(line),
                    found: net_name(v.mainnet),
                    expected: network,
                });
            }
            let secp = Secp256k1::signing_only();
            let xpub = Xpub::from_priv(&secp, &xprv);
            Ok(ExtendedPrivateKey {
                xprv: Secret::new(xprv.to_string()),
                xpub,
                prefix: v.prefix,
                hint: v.hint,
                origin,
                line,
            })
        }
        Ok(Decoded::Public(..)) => Err(Error::Invalid {
            kind: KIND,
            line: Some(line),
            fault: "version bytes are those of a public key".into(),
        }),
        Err(f) => Err(Error::Invalid {
            kind: KIND,
            line: Some(line),
            fault: f.to_string(),
        }),
    }
}

fn parse_wif(l: &str, line: usize, network: Network) -> Result<WifKey, Error> {
    const KIND: &str = "wif key";
    let key = PrivateKey::from_wif(l).map_err(|e| Error::Invalid {
        kind: KIND,
        line: Some(line),
        fault: match e {
            bitcoin::key::FromWifError::Base58(_) => {
                "base58check checksum or encoding is wrong".to_string()
            }
            bitcoin::key::FromWifError::InvalidBase58PayloadLength(e) => {
                format!("wrong payload length ({e})")
            }
            bitcoin::key::FromWifError::InvalidAddressVersion(e) => {
                format!("unknown version byte ({e})")
            }
            _ => "not a valid private key".to_string(),
        },
    })?;
    let mainnet = key.network == NetworkKind::Main;
    if !key_network_matches(mainnet, network) {
        return Err(Error::WrongNetwork {
            kind: KIND,
            line: Some(line),
            found: net_name(mainnet),
            expected: network,
        });
    }
    let secp = Secp256k1::signing_only();
    let public_key = key.public_key(&secp);
    Ok(WifKey {
        wif: Secret::new(l.to_string()),
        public_key,
        line,
    })
}

fn parse_address(l: &str, line: usize, network: Network) -> Result<AddressItem, Error> {
    const KIND: &str = "address";
    let unchecked = Address::from_str(l).map_err(|e| {
        let lower = l.to_ascii_lowercase();
        let fault = if ["bc1", "tb1", "bcrt1"].iter().any(|p| lower.starts_with(p)) {
            match bitcoin::bech32::segwit::decode(l) {
                Err(be) => format!("bech32 segwit address does not decode: {be}"),
                Ok(_) => e.to_string(),
            }
        } else {
            format!("base58 address: {e}")
        };
        Error::Invalid {
            kind: KIND,
            line: Some(line),
            fault,
        }
    })?;
    if !unchecked.is_valid_for_network(network.to_bitcoin()) {
        let found = [Network::Bitcoin, Network::Testnet, Network::Regtest]
            .into_iter()
            .find(|n| unchecked.is_valid_for_network(n.to_bitcoin()))
            .map(|n| n.to_string())
            .unwrap_or_else(|| "another network".into());
        return Err(Error::WrongNetwork {
            kind: KIND,
            line: Some(line),
            found,
            expected: network,
        });
    }
    Ok(AddressItem {
        address: unchecked.assume_checked(),
        line,
    })
}

/// True when a descriptor line contains something that may be a private key, so library error
/// messages (which can quote the input) must not be shown.
fn may_hold_secret(l: &str) -> bool {
    l.contains("prv")
        || l.split(|c: char| !c.is_ascii_alphanumeric())
            .any(|t| (t.len() == 51 || t.len() == 52) && is_base58(t))
}

fn parse_descriptor(l: &str, line: usize, network: Network) -> Result<DescriptorItem, Error> {
    let secp = Secp256k1::signing_only();
    let secret_like = may_hold_secret(l);
    let (descriptor, keymap) =
        Descriptor::parse_descriptor(&secp, l).map_err(|e| Error::Descriptor {
            line: Some(line),
            reason: if secret_like {
                "does not parse (details withheld: the text may contain private keys)".to_string()
            } else {
                e.to_string()
            },
        })?;
    // Network check on extended keys.
    let mut wrong = None;
    descriptor.for_each_key(|k| {
        let mainnet = match k {
            DescriptorPublicKey::XPub(x) => Some(x.xkey.network == NetworkKind::Main),
            DescriptorPublicKey::MultiXPub(x) => Some(x.xkey.network == NetworkKind::Main),
            DescriptorPublicKey::Single(_) => None,
        };
        if let Some(m) = mainnet {
            if !key_network_matches(m, network) {
                wrong = Some(m);
            }
        }
        true
    });
    if let Some(m) = wrong {
        return Err(Error::WrongNetwork {
            kind: "output descriptor",
            line: Some(line),
            found: net_name(m),
            expected: network,
        });
    }
    let secret = if keymap.is_empty() {
        None
    } else {
        Some(Secret::new(l.to_string()))
    };
    Ok(DescriptorItem {
        descriptor,
        secret,
        line,
    })
}
