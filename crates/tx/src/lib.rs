//! # custos-tx
//!
//! Transactions: sweep planning (pure: UTXOs + policy + fee rate → batches), PSBT build, analyse,
//! verify, sign, combine and finalise, the custody-policy checks the signer applies before it
//! signs, and the air-gap transports (PSBT files, BC-UR animated QR, BBQr).
//!
//! Not for: fetching UTXOs (see `custos-chain` / `custos-inspect`), broadcasting. Offline side of
//! the air gap.
//!
//! Features: none.
