//! The walk's view of the source: each request hands the whole list to the source in one call
//! (the source decides how to split it on the wire: the Electrum source sends the chunks of a
//! large batch pipelined), each call counted as one round trip, answers checked for their
//! count. Failures come back as one lower-case line naming the method and (through the source's
//! error) the server.

use bitcoin::{ScriptBuf, Txid};
use custos_core::source::{BitcoinSource, HistoryItem, MerkleProof, SourceError, Tip};

/// A source with a round-trip counter.
pub(super) struct Fetcher<'a> {
    src: &'a dyn BitcoinSource,
    /// Round trips made so far.
    pub trips: u64,
}

impl<'a> Fetcher<'a> {
    pub(crate) fn new(src: &'a dyn BitcoinSource) -> Self {
        Fetcher { src, trips: 0 }
    }

    /// The source's name (its URL).
    pub(crate) fn name(&self) -> String {
        self.src.name()
    }

    pub(crate) fn tip(&mut self) -> Result<Tip, SourceError> {
        self.trips = self.trips.saturating_add(1);
        self.src.tip()
    }

    /// Histories of `scripts`, in order.
    pub(crate) fn histories(
        &mut self,
        scripts: &[ScriptBuf],
    ) -> Result<Vec<Vec<HistoryItem>>, String> {
        self.batched("script histories", scripts, |s, c| s.histories(c))
    }

    /// Raw transactions of `txids`, in order (unchecked).
    pub(crate) fn raw_transactions(&mut self, txids: &[Txid]) -> Result<Vec<Vec<u8>>, String> {
        self.batched("raw transactions", txids, |s, c| s.raw_transactions(c))
    }

    /// Merkle proofs of `(txid, height)` pairs, in order (unchecked).
    pub(crate) fn merkle_proofs(
        &mut self,
        requests: &[(Txid, u32)],
    ) -> Result<Vec<MerkleProof>, String> {
        self.batched("merkle proofs", requests, |s, c| s.merkle_proofs(c))
    }

    fn batched<I, O>(
        &mut self,
        what: &str,
        items: &[I],
        call: impl Fn(&dyn BitcoinSource, &[I]) -> Result<Vec<O>, SourceError>,
    ) -> Result<Vec<O>, String> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        self.trips = self.trips.saturating_add(1);
        let got = call(self.src, items)
            .map_err(|e| format!("fetching {what} ({} asked) failed: {e}", items.len()))?;
        if got.len() != items.len() {
            return Err(format!(
                "server {} sent {} {what} for {} asked",
                self.src.name(),
                got.len(),
                items.len()
            ));
        }
        Ok(got)
    }
}
