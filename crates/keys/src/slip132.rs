//! SLIP-132 extended-key version bytes (xpub/ypub/zpub/Ypub/Zpub and their test-network and
//! private forms). Keys are re-encoded with the BIP32 `xpub`/`tpub` (`xprv`/`tprv`) versions for
//! rust-bitcoin and descriptors; the SLIP-132 prefix is kept as a script-type hint.
//!
//! Source: SLIP-0132 "Registered HD version bytes for BIP-0032"
//! (github.com/satoshilabs/slips/blob/master/slip-0132.md).

use bitcoin::{
    base58,
    bip32::{Xpriv, Xpub},
};

/// Script type a SLIP-132 prefix announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScriptHint {
    /// `xpub`/`tpub`: BIP32 generic — P2PKH by SLIP-132, but used by many wallets for any type.
    Generic,
    /// `ypub`/`upub`: P2WPKH nested in P2SH.
    ShWpkh,
    /// `zpub`/`vpub`: native P2WPKH.
    Wpkh,
    /// `Ypub`/`Upub`: multisig P2WSH nested in P2SH (cosigner key).
    ShWshMulti,
    /// `Zpub`/`Vpub`: multisig native P2WSH (cosigner key).
    WshMulti,
}

impl ScriptHint {
    /// Short description for summaries.
    pub fn describe(self) -> &'static str {
        match self {
            ScriptHint::Generic => "generic (p2pkh by SLIP-132; any single-key type in practice)",
            ScriptHint::ShWpkh => "p2sh-p2wpkh",
            ScriptHint::Wpkh => "p2wpkh",
            ScriptHint::ShWshMulti => "p2sh-p2wsh multisig cosigner",
            ScriptHint::WshMulti => "p2wsh multisig cosigner",
        }
    }
}

/// One row of the SLIP-132 table.
#[derive(Debug, Clone, Copy)]
pub struct Version {
    /// Four-letter prefix, e.g. "zpub".
    pub prefix: &'static str,
    /// Version bytes.
    pub bytes: [u8; 4],
    /// Mainnet (`true`) or test networks.
    pub mainnet: bool,
    /// Private key version.
    pub private: bool,
    /// Script type.
    pub hint: ScriptHint,
}

const fn v(
    prefix: &'static str,
    b: u32,
    mainnet: bool,
    private: bool,
    hint: ScriptHint,
) -> Version {
    Version {
        prefix,
        bytes: b.to_be_bytes(),
        mainnet,
        private,
        hint,
    }
}

/// The SLIP-132 versions custos reads.
pub const VERSIONS: &[Version] = &[
    v("xpub", 0x0488_b21e, true, false, ScriptHint::Generic),
    v("xprv", 0x0488_ade4, true, true, ScriptHint::Generic),
    v("ypub", 0x049d_7cb2, true, false, ScriptHint::ShWpkh),
    v("yprv", 0x049d_7878, true, true, ScriptHint::ShWpkh),
    v("zpub", 0x04b2_4746, true, false, ScriptHint::Wpkh),
    v("zprv", 0x04b2_430c, true, true, ScriptHint::Wpkh),
    v("Ypub", 0x0295_b43f, true, false, ScriptHint::ShWshMulti),
    v("Yprv", 0x0295_b005, true, true, ScriptHint::ShWshMulti),
    v("Zpub", 0x02aa_7ed3, true, false, ScriptHint::WshMulti),
    v("Zprv", 0x02aa_7a99, true, true, ScriptHint::WshMulti),
    v("tpub", 0x0435_87cf, false, false, ScriptHint::Generic),
    v("tprv", 0x0435_8394, false, true, ScriptHint::Generic),
    v("upub", 0x044a_5262, false, false, ScriptHint::ShWpkh),
    v("uprv", 0x044a_4e28, false, true, ScriptHint::ShWpkh),
    v("vpub", 0x045f_1cf6, false, false, ScriptHint::Wpkh),
    v("vprv", 0x045f_18bc, false, true, ScriptHint::Wpkh),
    v("Upub", 0x0242_89ef, false, false, ScriptHint::ShWshMulti),
    v("Uprv", 0x0242_85b5, false, true, ScriptHint::ShWshMulti),
    v("Vpub", 0x0257_5483, false, false, ScriptHint::WshMulti),
    v("Vprv", 0x0257_5048, false, true, ScriptHint::WshMulti),
];

/// Whether `s` starts like an extended key of the table.
pub fn looks_like_extended_key(s: &str) -> bool {
    s.len() > 100 && VERSIONS.iter().any(|v| s.starts_with(v.prefix))
}

/// A decoded extended key.
#[derive(Debug)]
pub enum Decoded {
    /// Public.
    Public(Xpub, &'static Version),
    /// Private (caller wraps it in a secret immediately).
    Private(Xpriv, &'static Version),
}

/// Why an extended key did not decode (no key material in any variant).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeFault {
    /// Base58 or checksum error.
    Base58(String),
    /// Not 78 bytes.
    Length(usize),
    /// Version bytes not in the table.
    UnknownVersion([u8; 4]),
    /// BIP32 structure invalid (bad key, bad depth).
    Bip32(String),
}

impl std::fmt::Display for DecodeFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeFault::Base58(e) => write!(f, "base58check: {e}"),
            DecodeFault::Length(n) => write!(f, "{n} bytes after base58 decoding, expected 78"),
            DecodeFault::UnknownVersion(b) => write!(f, "unknown version bytes {}", hex::encode(b)),
            DecodeFault::Bip32(e) => write!(f, "invalid bip32 key: {e}"),
        }
    }
}

/// Decodes any SLIP-132 extended key.
pub fn decode(s: &str) -> Result<Decoded, DecodeFault> {
    let mut data = base58::decode_check(s).map_err(|e| DecodeFault::Base58(e.to_string()))?;
    if data.len() != 78 {
        return Err(DecodeFault::Length(data.len()));
    }
    let ver = [data[0], data[1], data[2], data[3]];
    let version = VERSIONS
        .iter()
        .find(|v| v.bytes == ver)
        .ok_or(DecodeFault::UnknownVersion(ver))?;
    let bip32_version: [u8; 4] = match (version.mainnet, version.private) {
        (true, false) => [0x04, 0x88, 0xb2, 0x1e],
        (true, true) => [0x04, 0x88, 0xad, 0xe4],
        (false, false) => [0x04, 0x35, 0x87, 0xcf],
        (false, true) => [0x04, 0x35, 0x83, 0x94],
    };
    data[..4].copy_from_slice(&bip32_version);
    let out = if version.private {
        Xpriv::decode(&data).map(|k| Decoded::Private(k, version))
    } else {
        Xpub::decode(&data).map(|k| Decoded::Public(k, version))
    };
    zeroize::Zeroize::zeroize(&mut data);
    out.map_err(|e| DecodeFault::Bip32(e.to_string()))
}

/// Encodes a public key with the SLIP-132 version of `prefix` (e.g. "zpub").
pub fn encode_public(xpub: &Xpub, prefix: &str) -> Option<String> {
    let version = VERSIONS.iter().find(|v| v.prefix == prefix && !v.private)?;
    let mut data = xpub.encode();
    data[..4].copy_from_slice(&version.bytes);
    Some(base58::encode_check(&data))
}
