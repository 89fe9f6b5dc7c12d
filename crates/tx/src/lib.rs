//! # custos-tx
//!
//! Transactions: sweep planning (pure: UTXOs + policy + fee rate → batches), PSBT build, analyse,
//! verify, sign, combine and finalise, the custody-policy checks the signer applies before it
//! signs, and the air-gap transports (PSBT files, BC-UR animated QR, BBQr).
//!
//! Not for: fetching UTXOs (see `custos-chain` / `custos-inspect`), broadcasting. Offline side of
//! the air gap: this crate is linked by `custos-signer` and contains no network code.
//!
//! Modules:
//! - [`weight`]: exact weight / vsize / fee arithmetic per input type (integers only);
//! - [`plan`]: sweep planning into batches under the standard weight limit;
//! - [`custody`]: the parsed custody policy (scripts, key origins, global xpubs);
//! - [`build`]: sweep PSBTs from an inventory, in named phases shared with [`spend`];
//! - [`spend`]: custody spends (to addresses, or a re-custody to a new policy) with change;
//! - [`verify`]: the custody-policy check the signer runs before signing (outputs outside
//!   custody only under a disposal order's [`verify::OrderPermit`]);
//! - [`checks`]: its checks of amounts, dust, output metadata, taproot data, partial
//!   signatures and lock time;
//! - [`classify`]: one classification of each PSBT input (script type and checked script data);
//! - [`keyring`]: the signer's private keys and the one lookup interface (`GetKey`);
//! - [`material`]: seized material (from `custos-keys`) turned into signing keys;
//! - [`sign`]: ECDSA (low R) and BIP340 signing of PSBT inputs;
//! - [`toolbox`]: decode / analyze / combine / finalize / extract, after Bitcoin Core's RPCs;
//! - [`transport`]: BC-UR (`ur:psbt`, `ur:crypto-psbt`, fountain parts), BBQr, QR rendering;
//! - [`psbt_io`]: strict PSBT parsing (binary, base64, hex), Coldcard file names, no-overwrite writes;
//!
//! Features: none.

#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod build;
mod checks;
mod classify;
pub mod custody;
mod error;
pub mod keyring;
pub mod material;
pub mod plan;
pub mod psbt_io;
pub mod sign;
pub mod spend;
pub mod toolbox;
pub mod transport;
pub mod verify;
pub mod weight;

pub use error::{Error, Refusal, Result};
