//! Zeroizing holders for private keys, so they can live inside [`custos_core::Secret`], and the
//! BIP32 derivation of a keyholder's account key.

use bitcoin::bip32::{ChainCode, ChildNumber, DerivationPath, Fingerprint, Xpriv, Xpub};
use bitcoin::secp256k1::{Secp256k1, SecretKey, Signing};
use custos_core::{Network, Secret};
use zeroize::Zeroize;

use crate::Error;

/// A secp256k1 secret key that is overwritten on drop (inside a `Secret`).
pub struct ZKey(pub SecretKey);

impl std::fmt::Debug for ZKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ZKey([REDACTED])")
    }
}

impl Zeroize for ZKey {
    fn zeroize(&mut self) {
        self.0.non_secure_erase();
    }
}

/// An extended private key that is overwritten on drop (inside a `Secret`).
pub struct ZXpriv(pub Xpriv);

impl std::fmt::Debug for ZXpriv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ZXpriv([REDACTED])")
    }
}

impl Zeroize for ZXpriv {
    fn zeroize(&mut self) {
        self.0.private_key.non_secure_erase();
        self.0.chain_code = ChainCode::from([0u8; 32]);
    }
}

/// Script type of the custody wallet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScriptKind {
    /// Native segwit multisig, `wsh(sortedmulti(...))`.
    Wsh,
    /// Nested segwit multisig, `sh(wsh(sortedmulti(...)))`.
    ShWsh,
    /// Taproot, `tr(NUMS, multi_a(...))` (keys in canonical order).
    Tr,
}

impl ScriptKind {
    /// BIP48 script-type level: 1 nested segwit, 2 native segwit, and 3 for taproot (the
    /// extension Sparrow and Nunchuk use for taproot multisig; BIP48 itself stops at 2).
    pub fn bip48_script_type(self) -> u32 {
        match self {
            ScriptKind::ShWsh => 1,
            ScriptKind::Wsh => 2,
            ScriptKind::Tr => 3,
        }
    }

    /// `m/48'/coin'/0'/script'` for the network.
    pub fn account_path(self, network: Network) -> DerivationPath {
        let h = |i: u32| ChildNumber::Hardened { index: i };
        DerivationPath::from(vec![
            h(48),
            h(network.coin_type()),
            h(0),
            h(self.bip48_script_type()),
        ])
    }

    /// Stable name (`wsh`, `sh-wsh`, `tr`).
    pub fn name(self) -> &'static str {
        match self {
            ScriptKind::Wsh => "wsh",
            ScriptKind::ShWsh => "sh-wsh",
            ScriptKind::Tr => "tr",
        }
    }
}

impl std::str::FromStr for ScriptKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s.to_ascii_lowercase().as_str() {
            "wsh" | "p2wsh" => Ok(ScriptKind::Wsh),
            "sh-wsh" | "p2sh-p2wsh" | "sh_wsh" => Ok(ScriptKind::ShWsh),
            "tr" | "p2tr" | "taproot" => Ok(ScriptKind::Tr),
            other => Err(Error::malformed(
                "script",
                format!("unknown script type {other:?}"),
            )),
        }
    }
}

/// The account key of a keyholder: master fingerprint, path, xpub, and the account private key
/// (kept secret) for the proof of possession.
pub struct AccountKey {
    /// Master key fingerprint.
    pub fingerprint: Fingerprint,
    /// Path from the master.
    pub path: DerivationPath,
    /// Account extended public key.
    pub xpub: Xpub,
    /// Account private key.
    pub secret: Secret<ZKey>,
}

impl std::fmt::Debug for AccountKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountKey")
            .field("fingerprint", &self.fingerprint)
            .field("path", &self.path)
            .field("xpub", &self.xpub)
            .finish_non_exhaustive()
    }
}

/// Derives the account key at `path` from a BIP39 seed.
pub fn derive_account<C: Signing>(
    secp: &Secp256k1<C>,
    seed: &Secret<[u8; 64]>,
    network: Network,
    path: &DerivationPath,
) -> Result<AccountKey, Error> {
    let master = Secret::new(ZXpriv(
        Xpriv::new_master(network.to_bitcoin(), seed.expose_secret()).map_err(Error::Bip32)?,
    ));
    let fingerprint = master.expose_secret().0.fingerprint(secp);
    let account = Secret::new(ZXpriv(
        master
            .expose_secret()
            .0
            .derive_priv(secp, path)
            .map_err(Error::Bip32)?,
    ));
    let xpub = Xpub::from_priv(secp, &account.expose_secret().0);
    Ok(AccountKey {
        fingerprint,
        path: path.clone(),
        xpub,
        secret: Secret::new(ZKey(account.expose_secret().0.private_key)),
    })
}

/// `[fingerprint/path]xpub` with `'` for hardened steps, as descriptors and BIP129 write it.
pub fn key_expression(fingerprint: &Fingerprint, path: &DerivationPath, xpub: &Xpub) -> String {
    let p = path.to_string();
    let p = p.trim_start_matches('m').trim_start_matches('/');
    if p.is_empty() {
        format!("[{fingerprint}]{xpub}")
    } else {
        format!("[{fingerprint}/{p}]{xpub}")
    }
}
