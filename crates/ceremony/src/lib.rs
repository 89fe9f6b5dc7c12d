//! # custos-ceremony
//!
//! The custody key ceremony: entropy from the OS CSPRNG mixed with dice rolls, mnemonic
//! generation and verification, keyholder key records with proof of possession, k-of-n custody
//! descriptor assembly and its exports (descriptor, Coldcard multisig text, BSMS 1.0, SeedQR,
//! UR account/output descriptors), and the custody policy file.
//!
//! Not for: signing spends (see `custos-tx`), anything online. Offline side of the air gap.
//!
//! Features: none.
