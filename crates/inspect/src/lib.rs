//! # custos-inspect
//!
//! Discovery scans over every known wallet path and the inventories they produce (used
//! addresses, balances, UTXOs, first and last activity), written against the `custos-core`
//! chain-source traits so they are tested with in-memory chains and the lab.
//!
//! Not for: parsing seized material (see `custos-keys`), network transport (see `custos-chain`).
//!
//! Features: none.
