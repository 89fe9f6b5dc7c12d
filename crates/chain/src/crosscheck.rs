//! `--verify-with`: the same questions put to a second server, every disagreement reported (a
//! history entry one of them omits, a different height, a different balance, a different tip).
//! Three round trips: tip, histories of every scanned script, unspents of every scanned script.

use std::collections::BTreeMap;

use bitcoin::{BlockHash, ScriptBuf, Txid};
use custos_core::{
    source::{BitcoinSource, HistoryItem, SourceError, Tip},
    Sat,
};
use serde::Serialize;

/// One script as the primary server described it.
#[derive(Debug, Clone)]
pub struct CheckItem {
    /// Label for messages (the address).
    pub label: String,
    /// The script.
    pub script: ScriptBuf,
    /// History from the primary server.
    pub history: Vec<HistoryItem>,
    /// Balance (confirmed + unconfirmed) the primary's data gives.
    pub balance: Sat,
}

/// A disagreement between the primary and the second server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Disagreement {
    /// Different tips.
    Tip {
        /// Primary (height, hash).
        primary: (u32, BlockHash),
        /// Second server (height, hash).
        secondary: (u32, BlockHash),
    },
    /// A history entry only one server reports.
    MissingHistory {
        /// Address.
        address: String,
        /// Transaction.
        txid: Txid,
        /// Height reported by the server that has it.
        height: i64,
        /// The server that omitted it.
        omitted_by: String,
    },
    /// Same transaction, different heights.
    Height {
        /// Address.
        address: String,
        /// Transaction.
        txid: Txid,
        /// Primary's height.
        primary: i64,
        /// Second server's height.
        secondary: i64,
    },
    /// Different balances.
    Balance {
        /// Address.
        address: String,
        /// Primary's balance.
        primary: Sat,
        /// Second server's balance.
        secondary: Sat,
    },
}

impl Disagreement {
    /// The address concerned, if any.
    pub fn address(&self) -> Option<&str> {
        match self {
            Disagreement::Tip { .. } => None,
            Disagreement::MissingHistory { address, .. }
            | Disagreement::Height { address, .. }
            | Disagreement::Balance { address, .. } => Some(address),
        }
    }
}

impl std::fmt::Display for Disagreement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Disagreement::Tip { primary, secondary } => write!(
                f,
                "tips differ: primary at height {} ({}), second server at height {} ({})",
                primary.0, primary.1, secondary.0, secondary.1
            ),
            Disagreement::MissingHistory {
                address,
                txid,
                height,
                omitted_by,
            } => write!(
                f,
                "address {address}: transaction {txid} (height {height}) omitted by {omitted_by}"
            ),
            Disagreement::Height {
                address,
                txid,
                primary,
                secondary,
            } => write!(
                f,
                "address {address}: transaction {txid} at height {primary} on the primary, {secondary} on the second server"
            ),
            Disagreement::Balance {
                address,
                primary,
                secondary,
            } => write!(
                f,
                "address {address}: balance {} sat on the primary, {} sat on the second server",
                primary.0, secondary.0
            ),
        }
    }
}

/// The result of a cross-check.
#[derive(Debug, Clone, Serialize)]
pub struct CrossCheck {
    /// Primary server.
    pub primary: String,
    /// Second server.
    pub secondary: String,
    /// Every disagreement.
    pub disagreements: Vec<Disagreement>,
    /// Round trips to the second server.
    pub round_trips: u64,
}

/// Asks `secondary` about every item and reports each disagreement with the primary.
pub fn cross_check(
    primary_name: &str,
    primary_tip: &Tip,
    items: &[CheckItem],
    secondary: &dyn BitcoinSource,
) -> Result<CrossCheck, SourceError> {
    let mut out = Vec::new();
    let tip = secondary.tip()?;
    let p = (primary_tip.height, primary_tip.header.block_hash());
    let s = (tip.height, tip.header.block_hash());
    if p != s {
        out.push(Disagreement::Tip {
            primary: p,
            secondary: s,
        });
    }
    let scripts: Vec<ScriptBuf> = items.iter().map(|i| i.script.clone()).collect();
    let histories = secondary.histories(&scripts)?;
    let unspents = secondary.unspents(&scripts)?;
    let sname = secondary.name();
    for ((item, hist), unspent) in items.iter().zip(&histories).zip(&unspents) {
        let mine: BTreeMap<Txid, i64> = item.history.iter().map(|h| (h.txid, h.height)).collect();
        let theirs: BTreeMap<Txid, i64> = hist.iter().map(|h| (h.txid, h.height)).collect();
        for (txid, h) in &theirs {
            match mine.get(txid) {
                None => out.push(Disagreement::MissingHistory {
                    address: item.label.clone(),
                    txid: *txid,
                    height: *h,
                    omitted_by: primary_name.to_string(),
                }),
                Some(m) if m != h => out.push(Disagreement::Height {
                    address: item.label.clone(),
                    txid: *txid,
                    primary: *m,
                    secondary: *h,
                }),
                Some(_) => {}
            }
        }
        for (txid, h) in &mine {
            if !theirs.contains_key(txid) {
                out.push(Disagreement::MissingHistory {
                    address: item.label.clone(),
                    txid: *txid,
                    height: *h,
                    omitted_by: sname.clone(),
                });
            }
        }
        let bal = unspent
            .iter()
            .try_fold(Sat::ZERO, |a, u| a.checked_add(u.value))
            .map_err(|e| SourceError::Malformed {
                server: sname.clone(),
                method: "blockchain.scripthash.listunspent".into(),
                detail: e.to_string(),
            })?;
        if bal != item.balance {
            out.push(Disagreement::Balance {
                address: item.label.clone(),
                primary: item.balance,
                secondary: bal,
            });
        }
    }
    Ok(CrossCheck {
        primary: primary_name.to_string(),
        secondary: sname,
        disagreements: out,
        round_trips: 3,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryChain;

    #[test]
    fn reports_an_entry_the_primary_omitted() {
        let mut c = MemoryChain::regtest();
        let s = ScriptBuf::new_op_return([2u8; 3]);
        let tx = c.fund(&[(s.clone(), 7000)]);
        c.mine();
        let tip = c.tip().unwrap();
        let item = CheckItem {
            label: "addr-a".into(),
            script: s,
            history: Vec::new(),
            balance: Sat::ZERO,
        };
        let r = cross_check("primary", &tip, &[item], &c).unwrap();
        assert_eq!(r.disagreements.len(), 2, "{:?}", r.disagreements);
        let text: Vec<String> = r.disagreements.iter().map(ToString::to_string).collect();
        assert!(
            text[0].contains(&tx.compute_txid().to_string())
                && text[0].contains("omitted by primary")
        );
        assert!(text[1].contains("balance 0 sat on the primary, 7000 sat"));
    }

    #[test]
    fn agrees_with_itself() {
        let mut c = MemoryChain::regtest();
        let s = ScriptBuf::new_op_return([3u8; 3]);
        c.fund(&[(s.clone(), 7000)]);
        c.mine();
        let tip = c.tip().unwrap();
        let history = c.histories(std::slice::from_ref(&s)).unwrap().remove(0);
        let item = CheckItem {
            label: "a".into(),
            script: s,
            history,
            balance: Sat(7000),
        };
        assert!(cross_check("p", &tip, &[item], &c)
            .unwrap()
            .disagreements
            .is_empty());
    }
}
