//! # custos-index
//!
//! The chain-wide index: reads Bitcoin Core's block files (`blocks/blk*.dat`, XOR-obfuscated
//! with `blocks/xor.dat`, ordered by following previous-block links from the best tip) and
//! writes them as Parquet tables — `blocks`, `transactions`, `outputs`, `inputs` (each input
//! resolved to the value and address of the output it spends) — partitioned by height range,
//! with a manifest of row counts and file hashes. The tables feed the Spark clustering job in
//! `scripts/spark/cluster.py`, whose cluster table this crate reads back ([`clusters`]).
//!
//! For: a whole-chain, columnar copy of a node's block files on one machine, in bounded memory
//! (the UTXO map spills sorted runs to disk, see [`utxo`]), resumable by height.
//!
//! Not for: validating blocks (the files are trusted to be what the node accepted; only the
//! chain's shape is checked), talking to a node or the network, or clustering itself (that is
//! the Spark job's; custos-trace clusters the few transactions of one trace in memory).
//! No features.

#![deny(unsafe_code)]

mod error;

pub mod blocks;
pub mod clusters;
pub mod export;
pub mod manifest;
pub mod tables;
pub mod utxo;

pub use error::Error;
pub use export::{export, ExportOptions, ExportReport, Progress};
pub use manifest::Manifest;
