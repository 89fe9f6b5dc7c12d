//! The discovery scan: every source of a watch-only file at once, one batched round trip per
//! gap window across all paths, BIP44 account discovery, then SPV verification of everything
//! found and (optionally) a cross-check against a second server.

use std::{
    cell::Cell,
    collections::{BTreeMap, BTreeSet, HashMap},
};

use bitcoin::{
    block::Header, consensus::serialize, secp256k1::Secp256k1, OutPoint, ScriptBuf, Transaction,
    Txid,
};
use custos_chain::{
    crosscheck::{cross_check, CheckItem, CrossCheck},
    spv, VerifiedChain,
};
use custos_core::{
    inventory::{
        Inventory, InventoryUtxo, UsedAddress, WatchOnly, INVENTORY_FORMAT, WATCH_ONLY_FORMAT,
    },
    ledger,
    source::{BitcoinSource, HistoryItem, MerkleProof, SatPerKvb, SourceError, Tip, Unspent},
    Sat,
};
use serde::Serialize;

use crate::{derive::ParsedDescriptor, Error};

/// Default receive-chain gap limit (BIP44's 20).
pub const DEFAULT_GAP: u32 = 20;
/// Default change-chain gap limit (Electrum's `gap_limit_for_change`).
pub const DEFAULT_CHANGE_GAP: u32 = 10;
/// Transactions and proofs asked per round trip.
pub const TX_BATCH: usize = 2000;

/// Which accounts of account-discovering catalogue entries to scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accounts {
    /// BIP44 account discovery: account n+1 only if account n has history.
    Auto,
    /// Accounts 0..n, whatever their history.
    Fixed(u32),
}

/// Which sources of the watch-only file to scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Paths {
    /// Every source.
    All,
    /// Sources whose catalogue id, label, or label up to the first `/` is listed.
    Only(Vec<String>),
}

impl Paths {
    fn selects(&self, label: &str, catalogue: Option<&str>) -> bool {
        match self {
            Paths::All => true,
            Paths::Only(list) => list.iter().any(|p| {
                p == label
                    || Some(p.as_str()) == catalogue
                    || label.split('/').next() == Some(p.as_str())
            }),
        }
    }
}

/// Scan settings.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    /// Gap limit of receive chains and of non-HD ranged descriptors.
    pub gap_receive: u32,
    /// Gap limit of change chains.
    pub gap_change: u32,
    /// Account discovery.
    pub accounts: Accounts,
    /// Source selection.
    pub paths: Paths,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            gap_receive: DEFAULT_GAP,
            gap_change: DEFAULT_CHANGE_GAP,
            accounts: Accounts::Auto,
            paths: Paths::All,
        }
    }
}

/// Progress of a scan, for a progress bar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// Tip read.
    Tip {
        /// Height.
        height: u32,
    },
    /// A discovery round trip done.
    Window {
        /// Round number, from 1.
        round: u32,
        /// Scripts asked in this round.
        scripts: usize,
        /// Used addresses found so far.
        used: usize,
    },
    /// Transactions fetched.
    Transactions {
        /// Count.
        count: usize,
    },
    /// Headers validated.
    Headers {
        /// Validated.
        done: u32,
        /// Target.
        total: u32,
    },
    /// Proofs checked.
    Proofs {
        /// Count.
        count: usize,
    },
    /// Cross-check running.
    CrossCheck {
        /// Second server.
        server: String,
    },
}

/// SPV status of a transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", content = "detail", rename_all = "snake_case")]
pub enum ProofStatus {
    /// Hash, merkle proof and header chain check out.
    Verified,
    /// In the mempool: hashed, no proof possible yet.
    Unconfirmed,
    /// A check failed (the message names txid or height).
    Failed(String),
}

/// Per-source findings (one HD chain, one key, one address).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceSummary {
    /// Source label (`#change` appended for the change half of a multipath descriptor).
    pub label: String,
    /// Catalogue entry.
    pub catalogue_id: Option<String>,
    /// Account.
    pub account: Option<u32>,
    /// Change chain.
    pub change: bool,
    /// Wallets known to use the path.
    pub wallets: Vec<String>,
    /// Whether the scan reached it (account discovery may leave accounts unscanned).
    pub scanned: bool,
    /// Indices scanned (0..scanned_to).
    pub scanned_to: u32,
    /// Used addresses.
    pub used: u32,
    /// Unspent outputs.
    pub utxos: u32,
    /// Confirmed balance.
    pub confirmed: Sat,
    /// Unconfirmed balance.
    pub unconfirmed: Sat,
    /// First confirmed activity.
    pub first_height: Option<u32>,
    /// Last confirmed activity.
    pub last_height: Option<u32>,
}

/// The evidence behind an inventory, for the case store.
#[derive(Debug, Clone, Default)]
pub struct Evidence {
    /// Raw transactions as received, with whether they hashed to their txid.
    pub raw_txs: Vec<(Txid, Vec<u8>, bool)>,
    /// Merkle proofs as received, with their status.
    pub proofs: Vec<(MerkleProof, ProofStatus)>,
    /// Validated headers at the heights the proofs and the tip refer to.
    pub headers: Vec<(u32, Header)>,
}

/// A scan's full result.
#[derive(Debug, Clone)]
pub struct ScanReport {
    /// The inventory (the file `custos sweep build` reads).
    pub inventory: Inventory,
    /// Per-source findings, in watch-only order.
    pub sources: Vec<SourceSummary>,
    /// SPV status per transaction found.
    pub tx_status: BTreeMap<Txid, ProofStatus>,
    /// Round trips to the primary server.
    pub round_trips: u64,
    /// Round trips to the second server.
    pub verify_round_trips: u64,
    /// Discovery rounds (one batched history request each).
    pub rounds: u32,
    /// Scripts asked about.
    pub scripts_scanned: usize,
    /// Cross-check result.
    pub cross_check: Option<CrossCheck>,
    /// Evidence.
    pub evidence: Evidence,
}

/// Counts the round trips made through a source.
struct Counting<'a> {
    inner: &'a dyn BitcoinSource,
    n: Cell<u64>,
}

impl Counting<'_> {
    fn bump(&self) {
        self.n.set(self.n.get() + 1);
    }
}

impl BitcoinSource for Counting<'_> {
    fn name(&self) -> String {
        self.inner.name()
    }
    fn tip(&self) -> Result<Tip, SourceError> {
        self.bump();
        self.inner.tip()
    }
    fn headers(&self, start: u32, count: u32) -> Result<Vec<Header>, SourceError> {
        self.bump();
        self.inner.headers(start, count)
    }
    fn histories(&self, s: &[ScriptBuf]) -> Result<Vec<Vec<HistoryItem>>, SourceError> {
        self.bump();
        self.inner.histories(s)
    }
    fn unspents(&self, s: &[ScriptBuf]) -> Result<Vec<Vec<Unspent>>, SourceError> {
        self.bump();
        self.inner.unspents(s)
    }
    fn raw_transactions(&self, t: &[Txid]) -> Result<Vec<Vec<u8>>, SourceError> {
        self.bump();
        self.inner.raw_transactions(t)
    }
    fn merkle_proofs(&self, r: &[(Txid, u32)]) -> Result<Vec<MerkleProof>, SourceError> {
        self.bump();
        self.inner.merkle_proofs(r)
    }
    fn broadcast(&self, raw: &[u8]) -> Result<Txid, SourceError> {
        self.bump();
        self.inner.broadcast(raw)
    }
    fn relay_fee(&self) -> Result<SatPerKvb, SourceError> {
        self.bump();
        self.inner.relay_fee()
    }
    fn estimate_fee(&self, b: u16) -> Result<Option<SatPerKvb>, SourceError> {
        self.bump();
        self.inner.estimate_fee(b)
    }
}

/// One derivation chain being scanned.
struct Chain {
    src: usize,
    label: String,
    desc: ParsedDescriptor,
    ranged: bool,
    gap: u32,
    next: u32,
    used_until: u32,
    has_history: bool,
    active: bool,
    done: bool,
    catalogue: Option<String>,
    account: Option<u32>,
    change: bool,
}

/// One derived script.
struct Slot {
    chain: usize,
    index: u32,
    script: ScriptBuf,
    address: String,
    history: Vec<HistoryItem>,
    /// Another slot with the same script was scanned first.
    duplicate_of: Option<usize>,
}

/// A locally derived unspent output.
struct LocalUtxo {
    outpoint: OutPoint,
    value: Sat,
    height: u32,
    slot: usize,
}

fn check_format(watch: &WatchOnly) -> Result<(), Error> {
    if watch.format != WATCH_ONLY_FORMAT {
        return Err(Error::WatchOnly(format!(
            "format is {:?}, expected {WATCH_ONLY_FORMAT:?}",
            watch.format
        )));
    }
    if watch.sources.is_empty() {
        return Err(Error::WatchOnly("it lists no source".into()));
    }
    let mut seen = BTreeSet::new();
    for s in &watch.sources {
        if !seen.insert(s.label.as_str()) {
            return Err(Error::WatchOnly(format!(
                "label {:?} appears twice",
                s.label
            )));
        }
    }
    Ok(())
}

fn build_chains(watch: &WatchOnly, opts: &ScanOptions) -> Result<Vec<Chain>, Error> {
    let network = watch.network.to_bitcoin();
    let mut chains = Vec::new();
    for (i, s) in watch.sources.iter().enumerate() {
        if !opts.paths.selects(&s.label, s.catalogue_id.as_deref()) {
            continue;
        }
        let parts = ParsedDescriptor::parse(&s.label, &s.descriptor)?;
        let multi = parts.len() > 1;
        for (k, desc) in parts.into_iter().enumerate() {
            desc.check_network(&s.label, network)?;
            let change = if multi { k == 1 } else { s.change };
            let label = match (multi, k) {
                (false, _) => s.label.clone(),
                (true, 0) => format!("{}#receive", s.label),
                (true, 1) => format!("{}#change", s.label),
                (true, n) => format!("{}#{n}", s.label),
            };
            let ranged = desc.is_ranged();
            chains.push(Chain {
                src: i,
                label,
                desc,
                ranged,
                gap: if change {
                    opts.gap_change
                } else {
                    opts.gap_receive
                }
                .max(1),
                next: 0,
                used_until: 0,
                has_history: false,
                active: false,
                done: false,
                catalogue: s.catalogue_id.clone(),
                account: s.account,
                change,
            });
        }
    }
    if chains.is_empty() {
        let p = match &opts.paths {
            Paths::All => "all".to_string(),
            Paths::Only(l) => l.join(","),
        };
        return Err(Error::NoSources(p));
    }
    // Lowest account present per catalogue entry.
    let mut lowest: HashMap<Option<String>, u32> = HashMap::new();
    for c in &chains {
        if let Some(a) = c.account {
            let e = lowest.entry(c.catalogue.clone()).or_insert(a);
            *e = (*e).min(a);
        }
    }
    for c in &mut chains {
        c.active = match (c.account, opts.accounts) {
            (None, _) => true,
            (Some(a), Accounts::Auto) => lowest.get(&c.catalogue) == Some(&a),
            (Some(a), Accounts::Fixed(n)) => a < n,
        };
    }
    Ok(chains)
}

fn sum(values: impl IntoIterator<Item = Sat>) -> Result<Sat, Error> {
    Ok(Sat::checked_sum(values)?)
}

/// Runs the scan. `verify_with` is a second server to cross-check every answer with.
///
/// Fails only when nothing can be reported (no tip, an unusable watch-only file); any later
/// failure ends in a report with `complete: false` and a warning naming what failed.
pub fn scan(
    watch: &WatchOnly,
    source: &dyn BitcoinSource,
    verify_with: Option<&dyn BitcoinSource>,
    opts: &ScanOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<ScanReport, Error> {
    check_format(watch)?;
    let network = watch.network.to_bitcoin();
    let mut chains = build_chains(watch, opts)?;
    let src = Counting {
        inner: source,
        n: Cell::new(0),
    };
    let tip = src.tip()?;
    progress(Progress::Tip { height: tip.height });

    let mut warnings: Vec<String> = Vec::new();
    let mut discovery_finished = true;
    let mut slots: Vec<Slot> = Vec::new();
    let mut by_script: HashMap<ScriptBuf, usize> = HashMap::new();
    let mut rounds = 0u32;
    let mut missing_accounts: BTreeSet<(String, u32)> = BTreeSet::new();

    // Discovery: one batched history request per round across every active chain.
    loop {
        let mut batch: Vec<usize> = Vec::new();
        for (ci, c) in chains.iter_mut().enumerate() {
            if !c.active || c.done {
                continue;
            }
            let end = if c.ranged {
                c.used_until.saturating_add(c.gap)
            } else {
                1
            };
            for index in c.next..end {
                let (script, address) = c.desc.script_at(&c.label, index, network)?;
                let address = address.map_or_else(
                    || format!("script:{}", script.to_hex_string()),
                    |a| a.to_string(),
                );
                let duplicate_of = by_script.get(&script).copied();
                if duplicate_of.is_none() {
                    by_script.insert(script.clone(), slots.len());
                }
                batch.push(slots.len());
                slots.push(Slot {
                    chain: ci,
                    index,
                    script,
                    address,
                    history: Vec::new(),
                    duplicate_of,
                });
            }
            c.next = end;
        }
        if batch.is_empty() {
            break;
        }
        rounds += 1;
        let scripts: Vec<ScriptBuf> = batch.iter().map(|&s| slots[s].script.clone()).collect();
        let answer = src.histories(&scripts).and_then(|h| {
            if h.len() == scripts.len() {
                Ok(h)
            } else {
                Err(SourceError::Malformed {
                    server: src.name(),
                    method: "blockchain.scripthash.get_history".into(),
                    detail: format!("{} answers to {} requests", h.len(), scripts.len()),
                })
            }
        });
        let histories = match answer {
            Ok(h) => h,
            Err(e) => {
                warnings.push(format!("discovery stopped in round {rounds}: {e}"));
                discovery_finished = false;
                break;
            }
        };
        let mut newly_used: Vec<usize> = Vec::new();
        for (&si, hist) in batch.iter().zip(histories) {
            if hist.is_empty() {
                continue;
            }
            let ci = slots[si].chain;
            let c = &mut chains[ci];
            c.used_until = c.used_until.max(slots[si].index.saturating_add(1));
            if !c.has_history {
                c.has_history = true;
                newly_used.push(ci);
            }
            slots[si].history = hist;
        }
        for c in chains.iter_mut() {
            if c.active && (!c.ranged || c.next >= c.used_until.saturating_add(c.gap)) {
                c.done = true;
            }
        }
        if opts.accounts == Accounts::Auto {
            for ci in newly_used {
                let (Some(a), cat) = (chains[ci].account, chains[ci].catalogue.clone()) else {
                    continue;
                };
                let next = a.saturating_add(1);
                let mut found = false;
                for c in chains.iter_mut() {
                    if c.catalogue == cat && c.account == Some(next) {
                        found = true;
                        c.active = true;
                    }
                }
                if !found {
                    missing_accounts.insert((cat.unwrap_or_else(|| "(no catalogue id)".into()), a));
                }
            }
        }
        progress(Progress::Window {
            round: rounds,
            scripts: scripts.len(),
            used: slots.iter().filter(|s| !s.history.is_empty()).count(),
        });
    }
    for (cat, a) in &missing_accounts {
        warnings.push(format!(
            "catalogue entry {cat}: account {a} has history but the watch-only file holds no account {}; export more accounts to continue account discovery",
            a.saturating_add(1)
        ));
        discovery_finished = false;
    }

    // The used scripts (first occurrence of each script only).
    let used: Vec<usize> = (0..slots.len())
        .filter(|&i| !slots[i].history.is_empty() && slots[i].duplicate_of.is_none())
        .collect();
    for &i in &used {
        // A script scanned under two sources: report it once, say where else it appears.
        let dups: Vec<String> = slots
            .iter()
            .filter(|s| s.duplicate_of == Some(i))
            .map(|s| format!("{}/{}", chains[s.chain].label, s.index))
            .collect();
        if !dups.is_empty() {
            tracing::info!(target: "custos::inspect", address = %slots[i].address, also = ?dups, "script appears under several sources; counted once");
        }
    }

    let mut tx_height: BTreeMap<Txid, i64> = BTreeMap::new();
    for &i in &used {
        for h in &slots[i].history {
            let e = tx_height.entry(h.txid).or_insert(h.height);
            if *e != h.height {
                warnings.push(format!(
                    "transaction {}: the server gives heights {} and {} in different histories",
                    h.txid, *e, h.height
                ));
                *e = (*e).max(h.height);
            }
        }
    }

    // Transactions: hashed against their txids.
    let mut evidence = Evidence::default();
    let mut txs: HashMap<Txid, Transaction> = HashMap::new();
    let mut status: BTreeMap<Txid, ProofStatus> = BTreeMap::new();
    let txids: Vec<Txid> = tx_height.keys().copied().collect();
    let mut fetch_failed = false;
    for chunk in txids.chunks(TX_BATCH) {
        match src.raw_transactions(chunk) {
            Ok(raws) if raws.len() == chunk.len() => {
                for (txid, raw) in chunk.iter().zip(raws) {
                    match spv::check_tx_bytes(txid, &raw) {
                        Ok(tx) => {
                            txs.insert(*txid, tx);
                            evidence.raw_txs.push((*txid, raw, true));
                        }
                        Err(e) => {
                            warnings.push(e.to_string());
                            status.insert(*txid, ProofStatus::Failed(e.to_string()));
                            evidence.raw_txs.push((*txid, raw, false));
                        }
                    }
                }
            }
            Ok(raws) => {
                warnings.push(format!(
                    "server sent {} transactions for {} requested",
                    raws.len(),
                    chunk.len()
                ));
                fetch_failed = true;
            }
            Err(e) => {
                warnings.push(format!("fetching transactions failed: {e}"));
                fetch_failed = true;
            }
        }
    }
    progress(Progress::Transactions { count: txs.len() });

    // Header chain from genesis to the tip.
    let mut chain = VerifiedChain::new(network);
    let mut header_fault = false;
    if let Err(e) = chain.sync(&src, &tip, &mut |done, total| {
        progress(Progress::Headers { done, total })
    }) {
        warnings.push(format!("header chain: {e}"));
        header_fault = true;
    }

    // Merkle proofs of the confirmed transactions we hold.
    let requests: Vec<(Txid, u32)> = tx_height
        .iter()
        .filter(|(t, _)| txs.contains_key(*t))
        .filter_map(|(t, h)| u32::try_from(*h).ok().filter(|h| *h > 0).map(|h| (*t, h)))
        .collect();
    for (t, h) in &tx_height {
        if *h <= 0 && txs.contains_key(t) {
            status.insert(*t, ProofStatus::Unconfirmed);
        }
    }
    let mut proof_heights = BTreeSet::new();
    for chunk in requests.chunks(TX_BATCH) {
        match src.merkle_proofs(chunk) {
            Ok(proofs) if proofs.len() == chunk.len() => {
                for (proof, (txid, height)) in proofs.into_iter().zip(chunk) {
                    let st = if proof.txid != *txid {
                        ProofStatus::Failed(format!(
                            "transaction {txid}: server sent a proof for {}",
                            proof.txid
                        ))
                    } else {
                        match chain.verify_proof(&proof, *height) {
                            Ok(()) => {
                                proof_heights.insert(*height);
                                ProofStatus::Verified
                            }
                            Err(e) => ProofStatus::Failed(match e {
                                custos_chain::SpvError::HeaderUnavailable { height: hh } => format!(
                                    "transaction {txid} at height {height}: no validated header at height {hh}"
                                ),
                                other => other.to_string(),
                            }),
                        }
                    };
                    if let ProofStatus::Failed(m) = &st {
                        warnings.push(m.clone());
                    }
                    status.insert(*txid, st.clone());
                    evidence.proofs.push((proof, st));
                }
            }
            Ok(proofs) => {
                warnings.push(format!(
                    "server sent {} merkle proofs for {} requested",
                    proofs.len(),
                    chunk.len()
                ));
                fetch_failed = true;
            }
            Err(e) => {
                warnings.push(format!("fetching merkle proofs failed: {e}"));
                fetch_failed = true;
            }
        }
    }
    for (t, h) in &requests {
        status.entry(*t).or_insert_with(|| {
            ProofStatus::Failed(format!("transaction {t} at height {h}: no merkle proof"))
        });
    }
    progress(Progress::Proofs {
        count: evidence.proofs.len(),
    });
    proof_heights.insert(tip.height);
    for h in proof_heights {
        if let Some(hd) = chain.header(h) {
            evidence.headers.push((h, *hd));
        }
    }

    // Unspent outputs derived from the transactions themselves.
    let owner: HashMap<&ScriptBuf, usize> = used.iter().map(|&i| (&slots[i].script, i)).collect();
    let mut spent: BTreeSet<OutPoint> = BTreeSet::new();
    for tx in txs.values() {
        for i in &tx.input {
            spent.insert(i.previous_output);
        }
    }
    let mut local: Vec<LocalUtxo> = Vec::new();
    for (txid, tx) in &txs {
        let height = tx_height.get(txid).copied().unwrap_or(0);
        for (vout, o) in tx.output.iter().enumerate() {
            let Some(&slot) = owner.get(&o.script_pubkey) else {
                continue;
            };
            let outpoint = OutPoint::new(*txid, u32::try_from(vout).unwrap_or(u32::MAX));
            if spent.contains(&outpoint) {
                continue;
            }
            local.push(LocalUtxo {
                outpoint,
                value: Sat(o.value.to_sat()),
                height: u32::try_from(height).unwrap_or(0),
                slot,
            });
        }
    }

    // A slot is tainted when some transaction of its history could not be checked: its
    // unspent outputs are then listed but not marked verified.
    let mut tainted: BTreeSet<usize> = BTreeSet::new();
    for &i in &used {
        if slots[i].history.iter().any(|h| {
            !txs.contains_key(&h.txid)
                || matches!(status.get(&h.txid), Some(ProofStatus::Failed(_)))
        }) {
            tainted.insert(i);
        }
    }

    // The server's own unspent list, compared with the one derived from its transactions.
    let used_scripts: Vec<ScriptBuf> = used.iter().map(|&i| slots[i].script.clone()).collect();
    match src.unspents(&used_scripts) {
        Ok(lists) if lists.len() == used.len() => {
            for (&slot, list) in used.iter().zip(&lists) {
                let theirs: BTreeMap<OutPoint, Sat> =
                    list.iter().map(|u| (u.outpoint, u.value)).collect();
                let mine: BTreeMap<OutPoint, Sat> = local
                    .iter()
                    .filter(|u| u.slot == slot)
                    .map(|u| (u.outpoint, u.value))
                    .collect();
                if theirs != mine {
                    tainted.insert(slot);
                    for (op, v) in &theirs {
                        if mine.get(op) != Some(v) {
                            warnings.push(format!(
                                "address {}: server lists unspent output {op} of {} sat that its transactions do not show",
                                slots[slot].address, v.0
                            ));
                        }
                    }
                    for (op, v) in &mine {
                        if theirs.get(op) != Some(v) {
                            warnings.push(format!(
                                "address {}: transactions show unspent output {op} of {} sat that the server does not list",
                                slots[slot].address, v.0
                            ));
                        }
                    }
                }
            }
        }
        Ok(_) => {
            warnings.push("server sent a wrong number of unspent lists".into());
            fetch_failed = true;
        }
        Err(e) => {
            warnings.push(format!("listing unspent outputs failed: {e}"));
            fetch_failed = true;
        }
    }

    // Balances per slot.
    let mut slot_conf: HashMap<usize, Sat> = HashMap::new();
    let mut slot_unconf: HashMap<usize, Sat> = HashMap::new();
    for u in &local {
        let m = if u.height > 0 {
            &mut slot_conf
        } else {
            &mut slot_unconf
        };
        let e = m.entry(u.slot).or_insert(Sat::ZERO);
        *e = e.checked_add(u.value)?;
    }

    // Second server.
    let mut verify_round_trips = 0;
    let mut cc = None;
    if let Some(second) = verify_with {
        progress(Progress::CrossCheck {
            server: second.name(),
        });
        let items: Vec<CheckItem> = (0..slots.len())
            .filter(|&i| slots[i].duplicate_of.is_none())
            .map(|i| {
                let bal = slot_conf
                    .get(&i)
                    .copied()
                    .unwrap_or(Sat::ZERO)
                    .checked_add(slot_unconf.get(&i).copied().unwrap_or(Sat::ZERO))?;
                Ok(CheckItem {
                    label: slots[i].address.clone(),
                    script: slots[i].script.clone(),
                    history: slots[i].history.clone(),
                    balance: bal,
                })
            })
            .collect::<Result<_, Error>>()?;
        match cross_check(&src.name(), &tip, &items, second) {
            Ok(r) => {
                verify_round_trips = r.round_trips;
                for d in &r.disagreements {
                    warnings.push(format!("cross-check with {}: {d}", r.secondary));
                    if let Some(a) = d.address() {
                        for &i in &used {
                            if slots[i].address == a {
                                tainted.insert(i);
                            }
                        }
                    }
                }
                cc = Some(r);
            }
            Err(e) => {
                warnings.push(format!("cross-check with {} failed: {e}", second.name()));
                fetch_failed = true;
            }
        }
    }

    // The inventory.
    let secp = Secp256k1::verification_only();
    let mut addresses = Vec::new();
    let mut used_sorted = used.clone();
    used_sorted.sort_by_key(|&i| (chains[slots[i].chain].src, slots[i].chain, slots[i].index));
    let mut descriptors: HashMap<usize, String> = HashMap::new();
    for &i in &used_sorted {
        let s = &slots[i];
        let c = &chains[s.chain];
        let definite = c.desc.definite_string(&c.label, s.index, &secp)?;
        descriptors.insert(i, definite.clone());
        let heights: Vec<u32> = s
            .history
            .iter()
            .filter_map(HistoryItem::confirmed_height)
            .collect();
        addresses.push(UsedAddress {
            source: c.label.clone(),
            index: s.index,
            address: s.address.clone(),
            descriptor: definite,
            tx_count: u32::try_from(s.history.len()).unwrap_or(u32::MAX),
            confirmed: slot_conf.get(&i).copied().unwrap_or(Sat::ZERO),
            unconfirmed: slot_unconf.get(&i).copied().unwrap_or(Sat::ZERO),
            first_height: heights.iter().min().copied(),
            last_height: heights.iter().max().copied(),
        });
    }
    local.sort_by_key(|u| {
        let s = &slots[u.slot];
        (chains[s.chain].src, s.chain, s.index, u.outpoint)
    });
    let mut utxos = Vec::new();
    let mut unverified_confirmed = 0usize;
    for u in &local {
        let s = &slots[u.slot];
        let tx = txs.get(&u.outpoint.txid);
        let verified = !tainted.contains(&u.slot)
            && !header_fault_affects(header_fault, &chain, u.height)
            && matches!(status.get(&u.outpoint.txid), Some(ProofStatus::Verified));
        if u.height > 0 && !verified {
            unverified_confirmed += 1;
        }
        utxos.push(InventoryUtxo {
            outpoint: u.outpoint.to_string(),
            value: u.value,
            height: u.height,
            address: s.address.clone(),
            script_pubkey: s.script.to_hex_string(),
            descriptor: descriptors.get(&u.slot).cloned().unwrap_or_default(),
            source: chains[s.chain].label.clone(),
            verified,
            prev_tx: tx.map(|t| hex::encode(serialize(t))).unwrap_or_default(),
        });
    }
    if unverified_confirmed > 0 {
        warnings.push(format!(
            "{unverified_confirmed} confirmed unspent output(s) could not be verified; the totals are not final"
        ));
    }
    let confirmed = sum(utxos.iter().filter(|u| u.height > 0).map(|u| u.value))?;
    let unconfirmed = sum(utxos.iter().filter(|u| u.height == 0).map(|u| u.value))?;
    let any_fault = status.values().any(|s| matches!(s, ProofStatus::Failed(_)));
    let disagreements = cc.as_ref().is_some_and(|c| !c.disagreements.is_empty());
    let complete = discovery_finished
        && !fetch_failed
        && !header_fault
        && !any_fault
        && !disagreements
        && unverified_confirmed == 0
        && tainted.is_empty();

    // Per-source summaries.
    let mut sources = Vec::new();
    for (ci, c) in chains.iter().enumerate() {
        let ws = &watch.sources[c.src];
        let mine: Vec<&UsedAddress> = addresses.iter().filter(|a| a.source == c.label).collect();
        let my_utxos: Vec<&InventoryUtxo> = utxos.iter().filter(|u| u.source == c.label).collect();
        let _ = ci;
        sources.push(SourceSummary {
            label: c.label.clone(),
            catalogue_id: c.catalogue.clone(),
            account: c.account,
            change: c.change,
            wallets: ws.wallets.clone(),
            scanned: c.active,
            scanned_to: c.next,
            used: u32::try_from(mine.len()).unwrap_or(u32::MAX),
            utxos: u32::try_from(my_utxos.len()).unwrap_or(u32::MAX),
            confirmed: sum(my_utxos.iter().filter(|u| u.height > 0).map(|u| u.value))?,
            unconfirmed: sum(my_utxos.iter().filter(|u| u.height == 0).map(|u| u.value))?,
            first_height: mine.iter().filter_map(|a| a.first_height).min(),
            last_height: mine.iter().filter_map(|a| a.last_height).max(),
        });
    }

    let mut servers = vec![src.name()];
    if let Some(s) = verify_with {
        servers.push(s.name());
    }
    let inventory = Inventory {
        format: INVENTORY_FORMAT.to_string(),
        network: watch.network,
        scanned: ledger::now_utc(),
        servers,
        tip_height: tip.height,
        tip_hash: tip.header.block_hash().to_string(),
        complete,
        addresses,
        utxos,
        confirmed,
        unconfirmed,
        warnings,
    };
    Ok(ScanReport {
        inventory,
        sources,
        tx_status: status,
        round_trips: src.n.get(),
        verify_round_trips,
        rounds,
        scripts_scanned: slots.len(),
        cross_check: cc,
        evidence,
    })
}

/// Whether a header-chain failure leaves `height` unvalidated.
fn header_fault_affects(fault: bool, chain: &VerifiedChain, height: u32) -> bool {
    fault && height > 0 && chain.header(height).is_none()
}
