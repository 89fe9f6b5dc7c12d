//! The index of the lab's active chain, for the Electrum server: headers, transactions with
//! their block positions, per-script histories and unspent outputs. Built block by block as
//! the kernel connects them; knows nothing of the mempool or the protocol.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use bitcoin::block::Header;
use bitcoin::hashes::{sha256, Hash};
use bitcoin::{Block, OutPoint, Transaction, TxOut, Txid};

use crate::Error;

/// Coinbase outputs can be spent after this many confirmations.
pub(crate) const COINBASE_MATURITY: u32 = 100;

/// Electrum's script hash: SHA256 of an output script, in internal byte order. Not
/// `bitcoin::ScriptHash` (HASH160 of a P2SH redeem script).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ElectrumScriptHash(pub [u8; 32]);

impl ElectrumScriptHash {
    /// Electrum's hex form (byte-reversed, like txids).
    pub fn to_electrum_hex(&self) -> String {
        let mut r = self.0;
        r.reverse();
        hex::encode(r)
    }

    /// Parses Electrum's hex form; `None` unless it is 32 bytes of hex.
    pub fn from_electrum_hex(s: &str) -> Option<Self> {
        let mut b: [u8; 32] = hex::decode(s).ok()?.try_into().ok()?;
        b.reverse();
        Some(ElectrumScriptHash(b))
    }
}

/// The Electrum script hash of a script.
pub fn script_hash(script: &bitcoin::Script) -> ElectrumScriptHash {
    ElectrumScriptHash(sha256::Hash::hash(script.as_bytes()).to_byte_array())
}

/// Output `vout` of transaction `txid`.
pub(crate) fn outpoint(txid: Txid, vout: usize) -> OutPoint {
    let vout = u32::try_from(vout).expect("a transaction has fewer than 2^32 outputs");
    OutPoint::new(txid, vout)
}

/// An unspent output in the chain.
#[derive(Debug, Clone)]
pub(crate) struct Coin {
    pub(crate) txout: TxOut,
    pub(crate) height: u32,
    pub(crate) coinbase: bool,
}

/// A confirmed transaction's location.
#[derive(Debug, Clone)]
pub(crate) struct TxLoc {
    pub(crate) height: u32,
    pub(crate) pos: u32,
    pub(crate) tx: Arc<Transaction>,
}

/// Index of the active chain.
#[derive(Debug, Default)]
pub(crate) struct Index {
    pub(crate) headers: Vec<Header>,
    pub(crate) block_txids: Vec<Vec<Txid>>,
    pub(crate) txs: HashMap<Txid, TxLoc>,
    pub(crate) history: HashMap<ElectrumScriptHash, Vec<(u32, Txid)>>,
    pub(crate) utxos: HashMap<OutPoint, Coin>,
    pub(crate) by_script: HashMap<ElectrumScriptHash, BTreeSet<OutPoint>>,
}

impl Index {
    fn push_history(&mut self, sh: ElectrumScriptHash, height: u32, txid: Txid) {
        let h = self.history.entry(sh).or_default();
        if h.last() != Some(&(height, txid)) {
            h.push((height, txid));
        }
    }

    /// Adds a connected block at the next height.
    pub(crate) fn connect(&mut self, block: &Block) -> Result<(), Error> {
        let height = u32::try_from(self.headers.len()).map_err(|e| Error::Kernel(e.to_string()))?;
        let mut txids = Vec::with_capacity(block.txdata.len());
        for (pos, tx) in block.txdata.iter().enumerate() {
            let txid = tx.compute_txid();
            let coinbase = tx.is_coinbase();
            if !coinbase {
                for inp in &tx.input {
                    let coin = self.utxos.remove(&inp.previous_output).ok_or_else(|| {
                        Error::Kernel(format!(
                            "index: {txid} spends unknown {}",
                            inp.previous_output
                        ))
                    })?;
                    let sh = script_hash(&coin.txout.script_pubkey);
                    if let Some(set) = self.by_script.get_mut(&sh) {
                        set.remove(&inp.previous_output);
                    }
                    self.push_history(sh, height, txid);
                }
            }
            for (vout, out) in tx.output.iter().enumerate() {
                if out.script_pubkey.is_op_return() {
                    continue;
                }
                let op = outpoint(txid, vout);
                let sh = script_hash(&out.script_pubkey);
                self.utxos.insert(
                    op,
                    Coin {
                        txout: out.clone(),
                        height,
                        coinbase,
                    },
                );
                self.by_script.entry(sh).or_default().insert(op);
                self.push_history(sh, height, txid);
            }
            let pos = u32::try_from(pos).expect("a block holds fewer than 2^32 transactions");
            self.txs.insert(
                txid,
                TxLoc {
                    height,
                    pos,
                    tx: Arc::new(tx.clone()),
                },
            );
            txids.push(txid);
        }
        self.headers.push(block.header);
        self.block_txids.push(txids);
        Ok(())
    }

    /// Height of the tip.
    pub(crate) fn tip_height(&self) -> u32 {
        let tip = self
            .headers
            .len()
            .checked_sub(1)
            .expect("the index always holds the genesis block");
        u32::try_from(tip).expect("the index's heights were checked to fit u32 on connect")
    }

    /// The header at `height`, if the chain is that long.
    pub(crate) fn header(&self, height: u32) -> Option<&Header> {
        self.headers.get(usize::try_from(height).ok()?)
    }

    /// Txids of the block at `height`, in block order.
    pub(crate) fn block_txids(&self, height: u32) -> Option<&[Txid]> {
        self.block_txids
            .get(usize::try_from(height).ok()?)
            .map(Vec::as_slice)
    }

    /// Median time past of the tip (median of the last 11 block times).
    pub(crate) fn median_time_past(&self) -> u32 {
        self.median_time_past_at(self.tip_height())
    }

    /// Median time past of the block at `height` (the last 11 blocks up to it).
    pub(crate) fn median_time_past_at(&self, height: u32) -> u32 {
        let end = (height as usize + 1).min(self.headers.len());
        let mut times: Vec<u32> = self.headers[end.saturating_sub(11)..end]
            .iter()
            .map(|h| h.time)
            .collect();
        times.sort_unstable();
        times
            .get(times.len() / 2)
            .copied()
            .expect("the index always holds the genesis block")
    }
}
