//! The discovery scan: the server's chain checked from genesis before any script is sent, then
//! every source of a watch-only file at once, one batched round trip per window across all
//! paths (windows growing while a chain keeps being used), BIP44 account discovery, then one
//! pipelined round for transactions, merkle proofs and unspent lists, SPV verification of
//! everything found and (optionally) a cross-check against a second server.

use std::{
    cell::Cell,
    collections::{BTreeMap, BTreeSet, HashMap},
};

use bitcoin::{block::Header, consensus::serialize, OutPoint, ScriptBuf, Transaction, Txid};
use custos_chain::{
    crosscheck::{cross_check, CheckItem, CrossCheck},
    spv, VerifiedChain,
};
use custos_core::{
    inventory::{
        Inventory, InventoryUtxo, UsedAddress, WatchOnly, INVENTORY_FORMAT, WATCH_ONLY_FORMAT,
    },
    ledger,
    source::{
        BitcoinSource, Bundle, BundleAnswer, HistoryItem, MerkleProof, SatPerKvb, SourceError, Tip,
        Unspent,
    },
    Sat,
};
use serde::Serialize;

use crate::{
    derive::{address_of, ParsedDescriptor},
    Error,
};

/// Default receive-chain gap limit (BIP44's 20).
pub const DEFAULT_GAP: u32 = 20;
/// Default change-chain gap limit (Electrum's `gap_limit_for_change`).
pub const DEFAULT_CHANGE_GAP: u32 = 10;
/// Largest discovery window per chain and round: a chain in use has its window doubled each
/// round (gap, 2·gap, 4·gap…) up to this many scripts.
pub const MAX_WINDOW: u32 = 4096;

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
    /// Header chain validated from genesis (before any script is sent).
    Network {
        /// Headers validated.
        headers: u32,
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
    /// Receive gap, change gap and account setting the scan ran with.
    pub settings: ScanSettings,
    /// Sources of the watch-only file (or chains of them) not scanned, with the reason.
    pub skipped: Vec<Skipped>,
}

/// The limits a scan ran with, for its summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScanSettings {
    /// Receive-chain gap.
    pub gap: u32,
    /// Change-chain gap.
    pub change_gap: u32,
    /// `auto` or the number of accounts.
    pub accounts: String,
    /// Highest account number the watch-only file holds, plus one (0 when no source has one).
    pub accounts_in_file: u32,
}

/// A source (or one chain of it) that was not scanned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// Label.
    pub label: String,
    /// Why.
    pub reason: String,
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
    fn pipelines_bundles(&self) -> bool {
        self.inner.pipelines_bundles()
    }
    fn bundle(&self, b: &Bundle) -> BundleAnswer {
        if self.inner.pipelines_bundles() {
            self.bump();
        } else {
            self.n.set(self.n.get() + b.unpipelined_calls());
        }
        self.inner.bundle(b)
    }
}

/// One derivation chain being scanned.
struct Chain {
    src: usize,
    label: String,
    desc: ParsedDescriptor,
    ranged: bool,
    gap: u32,
    /// Scripts past the last used index the next window reaches (grows from `gap`).
    window: u32,
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
    history: Vec<HistoryItem>,
    /// Another slot with the same script was scanned first.
    duplicate_of: Option<usize>,
    /// Asked about by a grown window but past the chain's gap from its last used index: not
    /// part of the scan (its answer is dropped), so results equal a strict gap-limit scan.
    beyond: bool,
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
    if opts.gap_receive == 0 || opts.gap_change == 0 {
        return Err(Error::Options(
            "a gap limit of 0 scans nothing: --gap and --change-gap must be at least 1".into(),
        ));
    }
    if opts.accounts == Accounts::Fixed(0) {
        return Err(Error::Options("--accounts 0 scans nothing".into()));
    }
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
            let gap = if change {
                opts.gap_change
            } else {
                opts.gap_receive
            };
            chains.push(Chain {
                src: i,
                label,
                desc,
                ranged,
                gap,
                window: gap,
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

/// A count as the inventory's `u32`, saturating: no scan holds 2^32 addresses or transactions.
pub(crate) fn count_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Output `vout` of transaction `txid` as an outpoint.
fn outpoint(txid: Txid, vout: usize) -> OutPoint {
    let vout = u32::try_from(vout).expect("a transaction has fewer than 2^32 outputs");
    OutPoint::new(txid, vout)
}

/// The height of a block the server places a transaction in: `None` for mempool heights (0,
/// and -1 for an unconfirmed parent) and for heights no block can have.
fn block_height(height: i64) -> Option<u32> {
    u32::try_from(height).ok().filter(|h| *h > 0)
}

/// The inventory's height of an output: its block's height, or 0 for "unconfirmed".
fn inventory_height(height: i64) -> u32 {
    block_height(height).unwrap_or(0)
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
    let chains = build_chains(watch, opts)?;
    let src = Counting {
        inner: source,
        n: Cell::new(0),
    };
    let tip = src.tip()?;
    progress(Progress::Tip { height: tip.height });

    let mut warnings: Vec<String> = Vec::new();
    // The chain is checked from genesis before any script hash leaves this machine.
    let headers = check_network(&src, network, &tip, &mut warnings)?;
    progress(Progress::Network {
        headers: headers.chain.len(),
    });
    let found = discover(
        &src,
        chains,
        network,
        opts.accounts,
        &mut warnings,
        progress,
    )?;
    let tx_height = transaction_heights(&found, &mut warnings);
    // Transactions, proofs and unspent lists: one pipelined round trip.
    let answer = src.bundle(&Bundle {
        txids: tx_height.keys().copied().collect(),
        proofs: tx_height
            .iter()
            .filter_map(|(t, h)| block_height(*h).map(|h| (*t, h)))
            .collect(),
        unspents: found
            .used
            .iter()
            .map(|&i| found.slots[i].script.clone())
            .collect(),
        headers: None,
    });
    let mut fetched = hash_transactions(
        &src.name(),
        &tx_height,
        answer.raw_transactions,
        &mut warnings,
    );
    progress(Progress::Transactions {
        count: fetched.txs.len(),
    });
    let proven = verify_proofs(
        &headers.chain,
        &tx_height,
        answer.merkle_proofs,
        &mut fetched,
        &mut warnings,
    );
    progress(Progress::Proofs {
        count: fetched.evidence.proofs.len(),
    });
    keep_headers(&headers.chain, proven, tip.height, &mut fetched.evidence);
    let local = derive_utxos(&found, &fetched.txs, &tx_height);
    let mut tainted = tainted_slots(&found, &fetched);
    let unspents_ok =
        compare_unspents(&found, answer.unspents, &local, &mut tainted, &mut warnings);
    let balances = Balances::of(&local)?;
    let second = match verify_with {
        Some(second) => {
            progress(Progress::CrossCheck {
                server: second.name(),
            });
            second_opinion(
                &src,
                second,
                &tip,
                &found,
                &balances,
                &mut tainted,
                &mut warnings,
            )?
        }
        None => SecondOpinion::default(),
    };
    let findings = Findings {
        warnings,
        fetch_failed: fetched.failed || !unspents_ok || second.failed,
        tainted,
    };
    let outcome = Outcome {
        found,
        fetched,
        headers,
        local,
        balances,
        second,
        findings,
        opts: opts.clone(),
    };
    assemble(watch, &src, verify_with, &tip, outcome)
}

/// What discovery found: the chains, every script asked about, and the first slot of every
/// used script.
struct Discovery {
    chains: Vec<Chain>,
    slots: Vec<Slot>,
    /// Slots with history, first occurrence of each script only, in scan order.
    used: Vec<usize>,
    rounds: u32,
    /// False when a round failed or account discovery could not continue.
    finished: bool,
    network: bitcoin::Network,
}

impl Discovery {
    /// The address of a slot's script (formatted on demand: only used scripts need one).
    fn address(&self, slot: usize) -> String {
        address_of(&self.slots[slot].script, self.network)
    }
}

/// Discovery: one batched history request per round across every active chain, until every
/// chain has a full gap of unused scripts; BIP44 account discovery activates account n+1 of a
/// catalogue entry when account n shows history.
fn discover(
    src: &dyn BitcoinSource,
    mut chains: Vec<Chain>,
    network: bitcoin::Network,
    accounts: Accounts,
    warnings: &mut Vec<String>,
    progress: &mut dyn FnMut(Progress),
) -> Result<Discovery, Error> {
    let mut slots: Vec<Slot> = Vec::new();
    let mut by_script: HashMap<ScriptBuf, usize> = HashMap::new();
    let mut rounds = 0u32;
    let mut finished = true;
    let mut missing_accounts: BTreeSet<(String, u32)> = BTreeSet::new();
    loop {
        let batch = derive_window(&mut chains, &mut slots, &mut by_script)?;
        if batch.is_empty() {
            break;
        }
        rounds += 1;
        // The round's scripts are lent to the request and put back, not cloned.
        let scripts: Vec<ScriptBuf> = batch
            .iter()
            .map(|&s| std::mem::take(&mut slots[s].script))
            .collect();
        let answer = fetch_histories(src, &scripts);
        for (&s, script) in batch.iter().zip(scripts) {
            slots[s].script = script;
        }
        let histories = match answer {
            Ok(h) => h,
            Err(e) => {
                warnings.push(format!("discovery stopped in round {rounds}: {e}"));
                finished = false;
                break;
            }
        };
        let newly_used = record_histories(&mut chains, &mut slots, &batch, histories);
        if accounts == Accounts::Auto {
            activate_next_accounts(&mut chains, &newly_used, &mut missing_accounts);
        }
        // Counted as the summary counts them: each used script once.
        progress(Progress::Window {
            round: rounds,
            scripts: batch.len(),
            used: slots
                .iter()
                .filter(|s| !s.history.is_empty() && s.duplicate_of.is_none() && !s.beyond)
                .count(),
        });
    }
    for (cat, a) in &missing_accounts {
        warnings.push(format!(
            "catalogue entry {cat}: account {a} has history but the watch-only file holds no account {}; export more accounts to continue account discovery",
            a.saturating_add(1)
        ));
        finished = false;
    }
    settle_duplicates(&mut slots);
    let used = used_slots(&chains, &slots, network);
    Ok(Discovery {
        chains,
        slots,
        used,
        rounds,
        finished,
        network,
    })
}

/// Derives the next window of every active chain into new slots; returns the slots to ask about.
fn derive_window(
    chains: &mut [Chain],
    slots: &mut Vec<Slot>,
    by_script: &mut HashMap<ScriptBuf, usize>,
) -> Result<Vec<usize>, Error> {
    let mut batch: Vec<usize> = Vec::new();
    for (ci, c) in chains.iter_mut().enumerate() {
        if !c.active || c.done {
            continue;
        }
        let end = if c.ranged {
            c.used_until.saturating_add(c.window).max(c.next)
        } else {
            1
        };
        let scripts = c.desc.scripts_at(&c.label, c.next..end)?;
        for (index, script) in (c.next..end).zip(scripts) {
            let duplicate_of = by_script.get(&script).copied();
            if duplicate_of.is_none() {
                by_script.insert(script.clone(), slots.len());
            }
            batch.push(slots.len());
            slots.push(Slot {
                chain: ci,
                index,
                script,
                history: Vec::new(),
                duplicate_of,
                beyond: false,
            });
        }
        c.next = end;
    }
    Ok(batch)
}

/// One batched history request, refusing an answer of the wrong length.
fn fetch_histories(
    src: &dyn BitcoinSource,
    scripts: &[ScriptBuf],
) -> Result<Vec<Vec<HistoryItem>>, SourceError> {
    let h = src.histories(scripts)?;
    if h.len() == scripts.len() {
        Ok(h)
    } else {
        Err(SourceError::Malformed {
            server: src.name(),
            method: "blockchain.scripthash.get_history".into(),
            detail: format!("{} answers to {} requests", h.len(), scripts.len()),
        })
    }
}

/// Stores a round's histories, moves each chain's gap past its last used index, doubles the
/// window of each chain that showed new use (up to [`MAX_WINDOW`]) and marks finished chains
/// done; returns the chains that showed history for the first time.
///
/// A chain is done once it has `gap` unused scripts after its last used one. The batch holds
/// each chain's scripts in index order; one a grown window reached past the gap (counted from
/// the last used index before it) is marked `beyond` and its answer dropped, so the result is
/// exactly a gap-limit scan's, however the windows grew.
fn record_histories(
    chains: &mut [Chain],
    slots: &mut [Slot],
    batch: &[usize],
    histories: Vec<Vec<HistoryItem>>,
) -> Vec<usize> {
    let mut newly_used: Vec<usize> = Vec::new();
    let mut grew: BTreeSet<usize> = BTreeSet::new();
    for (&si, hist) in batch.iter().zip(histories) {
        let ci = slots[si].chain;
        let c = &mut chains[ci];
        if c.ranged && slots[si].index >= c.used_until.saturating_add(c.gap) {
            slots[si].beyond = true;
            continue;
        }
        if hist.is_empty() {
            continue;
        }
        c.used_until = c.used_until.max(slots[si].index.saturating_add(1));
        grew.insert(ci);
        if !c.has_history {
            c.has_history = true;
            newly_used.push(ci);
        }
        slots[si].history = hist;
    }
    for ci in grew {
        let c = &mut chains[ci];
        c.window = c.window.saturating_mul(2).min(MAX_WINDOW.max(c.gap));
    }
    for c in chains.iter_mut() {
        let frontier = c.used_until.saturating_add(c.gap);
        if c.active && !c.done && (!c.ranged || c.next >= frontier) {
            c.done = true;
            if c.ranged {
                // Scanned: exactly the gap past the last used index.
                c.next = frontier;
            }
        }
    }
    newly_used
}

/// Re-points `duplicate_of` at the first slot of each script that is part of the scan (a
/// `beyond` slot is not).
fn settle_duplicates(slots: &mut [Slot]) {
    if !slots.iter().any(|s| s.beyond) {
        // Every slot is part of the scan: `duplicate_of` already points at the first slot of
        // each script, as derived.
        return;
    }
    let mut first: HashMap<ScriptBuf, usize> = HashMap::new();
    for (i, slot) in slots.iter_mut().enumerate() {
        if slot.beyond {
            slot.duplicate_of = None;
            continue;
        }
        slot.duplicate_of = match first.get(&slot.script) {
            Some(&f) => Some(f),
            None => {
                first.insert(slot.script.clone(), i);
                None
            }
        };
    }
}

/// BIP44 account discovery: activates account n+1 of the catalogue entry of every chain in
/// `newly_used`, or records that the watch-only file lacks it.
fn activate_next_accounts(
    chains: &mut [Chain],
    newly_used: &[usize],
    missing: &mut BTreeSet<(String, u32)>,
) {
    for &ci in newly_used {
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
            missing.insert((cat.unwrap_or_else(|| "(no catalogue id)".into()), a));
        }
    }
}

/// The used scripts (first occurrence of each script only); a script scanned under several
/// sources is reported once, and where else it appears is logged.
fn used_slots(chains: &[Chain], slots: &[Slot], network: bitcoin::Network) -> Vec<usize> {
    let used: Vec<usize> = (0..slots.len())
        .filter(|&i| {
            !slots[i].history.is_empty() && slots[i].duplicate_of.is_none() && !slots[i].beyond
        })
        .collect();
    // Where else each script appears, in one pass over the slots (not one per used script).
    let mut also: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    for s in slots {
        if let Some(first) = s.duplicate_of {
            also.entry(first)
                .or_default()
                .push(format!("{}/{}", chains[s.chain].label, s.index));
        }
    }
    for &i in &used {
        if let Some(dups) = also.get(&i) {
            tracing::info!(target: "custos::inspect", address = %address_of(&slots[i].script, network), also = ?dups, "script appears under several sources; counted once");
        }
    }
    used
}

/// Every transaction in the used scripts' histories with its height; a transaction the
/// server places at two heights is warned about and kept at the higher.
fn transaction_heights(found: &Discovery, warnings: &mut Vec<String>) -> BTreeMap<Txid, i64> {
    let mut tx_height: BTreeMap<Txid, i64> = BTreeMap::new();
    for &i in &found.used {
        for h in &found.slots[i].history {
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
    tx_height
}

/// The transactions fetched and what was checked about them.
#[derive(Default)]
struct Fetched {
    /// Transactions that hashed to their txid.
    txs: HashMap<Txid, Transaction>,
    /// SPV status per transaction.
    status: BTreeMap<Txid, ProofStatus>,
    evidence: Evidence,
    /// A batch failed or came back with the wrong number of answers.
    failed: bool,
}

/// Hashes each fetched transaction against its txid.
fn hash_transactions(
    server: &str,
    tx_height: &BTreeMap<Txid, i64>,
    answer: Result<Vec<Vec<u8>>, SourceError>,
    warnings: &mut Vec<String>,
) -> Fetched {
    let mut f = Fetched::default();
    let raws = match answer {
        Ok(raws) if raws.len() == tx_height.len() => raws,
        Ok(raws) => {
            warnings.push(format!(
                "server {server} sent {} transactions for {} requested",
                raws.len(),
                tx_height.len()
            ));
            f.failed = true;
            return f;
        }
        Err(e) => {
            warnings.push(format!("fetching transactions failed: {e}"));
            f.failed = true;
            return f;
        }
    };
    for (txid, raw) in tx_height.keys().zip(raws) {
        match spv::check_tx_bytes(txid, &raw) {
            Ok(tx) => {
                f.txs.insert(*txid, tx);
                f.evidence.raw_txs.push((*txid, raw, true));
            }
            Err(e) => {
                warnings.push(e.to_string());
                f.status.insert(*txid, ProofStatus::Failed(e.to_string()));
                f.evidence.raw_txs.push((*txid, raw, false));
            }
        }
    }
    f
}

/// The header chain validated from genesis, and whether its sync failed.
struct Headers {
    chain: VerifiedChain,
    fault: bool,
}

impl Headers {
    /// Whether a header-chain failure leaves `height` unvalidated.
    fn fault_affects(&self, height: u32) -> bool {
        self.fault && height > 0 && self.chain.header(height).is_none()
    }
}

/// Fetches the header chain from genesis to the tip (one pipelined round trip) and checks block
/// 0 is the network's genesis before anything else is asked: a server on another network
/// never sees a script hash. A later header that fails is a warning (the valid prefix is kept).
fn check_network(
    src: &dyn BitcoinSource,
    network: bitcoin::Network,
    tip: &Tip,
    warnings: &mut Vec<String>,
) -> Result<Headers, Error> {
    let answer = src.bundle(&Bundle {
        headers: Some((0, tip.height.saturating_add(1))),
        ..Bundle::default()
    });
    let got = answer.headers?;
    let genesis = spv::genesis_header(network);
    match got.first() {
        Some(h) if *h == genesis => {}
        other => {
            return Err(Error::WrongNetwork {
                server: src.name(),
                network: network.to_string(),
                got: other.map_or_else(|| "missing".into(), |h| h.block_hash().to_string()),
                expected: genesis.block_hash().to_string(),
            })
        }
    }
    let mut chain = VerifiedChain::new(network);
    let mut fault = false;
    if let Err(e) = chain.accept(tip, &got) {
        warnings.push(format!("header chain: {e}"));
        fault = true;
    }
    Ok(Headers { chain, fault })
}

/// Checks the merkle proof of every confirmed transaction held against the header chain;
/// mempool transactions are marked unconfirmed, and a confirmed one without a proof failed.
/// Returns the heights of the blocks the verified proofs lead to.
fn verify_proofs(
    chain: &VerifiedChain,
    tx_height: &BTreeMap<Txid, i64>,
    answer: Result<Vec<MerkleProof>, SourceError>,
    f: &mut Fetched,
    warnings: &mut Vec<String>,
) -> BTreeSet<u32> {
    let mut proven = BTreeSet::new();
    let asked: Vec<(Txid, u32)> = tx_height
        .iter()
        .filter_map(|(t, h)| block_height(*h).map(|h| (*t, h)))
        .collect();
    for (t, h) in tx_height {
        if *h <= 0 && f.txs.contains_key(t) {
            f.status.insert(*t, ProofStatus::Unconfirmed);
        }
    }
    match answer {
        Ok(proofs) if proofs.len() == asked.len() => {
            for (proof, (txid, height)) in proofs.into_iter().zip(&asked) {
                if !f.txs.contains_key(txid) {
                    // Its bytes did not hash to the txid (already failed) or never came.
                    continue;
                }
                let st = proof_status(chain, &proof, *txid, *height);
                if st == ProofStatus::Verified {
                    proven.insert(*height);
                }
                if let ProofStatus::Failed(m) = &st {
                    warnings.push(m.clone());
                }
                f.status.insert(*txid, st.clone());
                f.evidence.proofs.push((proof, st));
            }
        }
        Ok(proofs) => {
            warnings.push(format!(
                "server sent {} merkle proofs for {} requested",
                proofs.len(),
                asked.len()
            ));
            f.failed = true;
        }
        Err(e) => {
            warnings.push(format!("fetching merkle proofs failed: {e}"));
            f.failed = true;
        }
    }
    for (t, h) in &asked {
        if f.txs.contains_key(t) {
            f.status.entry(*t).or_insert_with(|| {
                ProofStatus::Failed(format!("transaction {t} at height {h}: no merkle proof"))
            });
        }
    }
    proven
}

/// The status of one transaction given the proof the server sent for it.
fn proof_status(
    chain: &VerifiedChain,
    proof: &MerkleProof,
    txid: Txid,
    height: u32,
) -> ProofStatus {
    if proof.txid != txid {
        return ProofStatus::Failed(format!(
            "transaction {txid}: server sent a proof for {}",
            proof.txid
        ));
    }
    match chain.verify_proof(proof, height) {
        Ok(()) => ProofStatus::Verified,
        Err(custos_chain::SpvError::HeaderUnavailable { height: hh }) => ProofStatus::Failed(
            format!("transaction {txid} at height {height}: no validated header at height {hh}"),
        ),
        Err(other) => ProofStatus::Failed(other.to_string()),
    }
}

/// Keeps the validated headers at the heights the verified proofs and the tip refer to as
/// evidence.
fn keep_headers(
    chain: &VerifiedChain,
    mut heights: BTreeSet<u32>,
    tip_height: u32,
    evidence: &mut Evidence,
) {
    heights.insert(tip_height);
    for h in heights {
        if let Some(hd) = chain.header(h) {
            evidence.headers.push((h, *hd));
        }
    }
}

/// Unspent outputs derived from the transactions themselves: outputs to a used script that no
/// fetched transaction spends.
fn derive_utxos(
    found: &Discovery,
    txs: &HashMap<Txid, Transaction>,
    tx_height: &BTreeMap<Txid, i64>,
) -> Vec<LocalUtxo> {
    let owner: HashMap<&ScriptBuf, usize> = found
        .used
        .iter()
        .map(|&i| (&found.slots[i].script, i))
        .collect();
    let spent: BTreeSet<OutPoint> = txs
        .values()
        .flat_map(|tx| tx.input.iter().map(|i| i.previous_output))
        .collect();
    let mut local: Vec<LocalUtxo> = Vec::new();
    for (txid, tx) in txs {
        let height = tx_height
            .get(txid)
            .copied()
            .expect("every fetched transaction was asked for by its height");
        for (vout, o) in tx.output.iter().enumerate() {
            let Some(&slot) = owner.get(&o.script_pubkey) else {
                continue;
            };
            let outpoint = outpoint(*txid, vout);
            if spent.contains(&outpoint) {
                continue;
            }
            local.push(LocalUtxo {
                outpoint,
                value: Sat(o.value.to_sat()),
                height: inventory_height(height),
                slot,
            });
        }
    }
    local
}

/// Slots some transaction of whose history could not be checked: their unspent outputs are
/// listed but not marked verified.
fn tainted_slots(found: &Discovery, f: &Fetched) -> BTreeSet<usize> {
    found
        .used
        .iter()
        .copied()
        .filter(|&i| {
            found.slots[i].history.iter().any(|h| {
                !f.txs.contains_key(&h.txid)
                    || matches!(f.status.get(&h.txid), Some(ProofStatus::Failed(_)))
            })
        })
        .collect()
}

/// Compares the server's own unspent list with the one derived from its transactions; a slot
/// where they differ is tainted. Returns false when the list could not be had.
fn compare_unspents(
    found: &Discovery,
    answer: Result<Vec<Vec<Unspent>>, SourceError>,
    local: &[LocalUtxo],
    tainted: &mut BTreeSet<usize>,
    warnings: &mut Vec<String>,
) -> bool {
    let used = &found.used;
    let lists = match answer {
        Ok(lists) if lists.len() == used.len() => lists,
        Ok(_) => {
            warnings.push("server sent a wrong number of unspent lists".into());
            return false;
        }
        Err(e) => {
            warnings.push(format!("listing unspent outputs failed: {e}"));
            return false;
        }
    };
    for (&slot, list) in used.iter().zip(&lists) {
        let theirs: BTreeMap<OutPoint, Sat> = list.iter().map(|u| (u.outpoint, u.value)).collect();
        let mine: BTreeMap<OutPoint, Sat> = local
            .iter()
            .filter(|u| u.slot == slot)
            .map(|u| (u.outpoint, u.value))
            .collect();
        if theirs == mine {
            continue;
        }
        tainted.insert(slot);
        let address = found.address(slot);
        for (op, v) in &theirs {
            if mine.get(op) != Some(v) {
                warnings.push(format!(
                    "address {address}: server lists unspent output {op} of {} sat that its transactions do not show",
                    v.0
                ));
            }
        }
        for (op, v) in &mine {
            if theirs.get(op) != Some(v) {
                warnings.push(format!(
                    "address {address}: transactions show unspent output {op} of {} sat that the server does not list",
                    v.0
                ));
            }
        }
    }
    true
}

/// Confirmed and unconfirmed balance per slot, from the derived unspent outputs.
#[derive(Default)]
struct Balances {
    confirmed: HashMap<usize, Sat>,
    unconfirmed: HashMap<usize, Sat>,
}

impl Balances {
    fn of(local: &[LocalUtxo]) -> Result<Balances, Error> {
        let mut b = Balances::default();
        for u in local {
            let m = if u.height > 0 {
                &mut b.confirmed
            } else {
                &mut b.unconfirmed
            };
            let e = m.entry(u.slot).or_insert(Sat::ZERO);
            *e = e.checked_add(u.value)?;
        }
        Ok(b)
    }

    fn confirmed(&self, slot: usize) -> Sat {
        self.confirmed.get(&slot).copied().unwrap_or(Sat::ZERO)
    }

    fn unconfirmed(&self, slot: usize) -> Sat {
        self.unconfirmed.get(&slot).copied().unwrap_or(Sat::ZERO)
    }
}

/// What the second server said.
#[derive(Default)]
struct SecondOpinion {
    report: Option<CrossCheck>,
    round_trips: u64,
    /// The cross-check could not run to the end.
    failed: bool,
}

/// Cross-check: every script asked about, its history and balance, checked with a second
/// server; a used slot it disagrees about is tainted.
fn second_opinion(
    src: &dyn BitcoinSource,
    second: &dyn BitcoinSource,
    tip: &Tip,
    found: &Discovery,
    balances: &Balances,
    tainted: &mut BTreeSet<usize>,
    warnings: &mut Vec<String>,
) -> Result<SecondOpinion, Error> {
    let slots = &found.slots;
    let items: Vec<CheckItem> = (0..slots.len())
        .filter(|&i| slots[i].duplicate_of.is_none() && !slots[i].beyond)
        .map(|i| {
            Ok(CheckItem {
                label: found.address(i),
                script: slots[i].script.clone(),
                history: slots[i].history.clone(),
                balance: balances.confirmed(i).checked_add(balances.unconfirmed(i))?,
            })
        })
        .collect::<Result<_, Error>>()?;
    match cross_check(&src.name(), tip, &items, second) {
        Ok(r) => {
            for d in &r.disagreements {
                warnings.push(format!("cross-check with {}: {d}", r.secondary));
                if let Some(a) = d.address() {
                    tainted.extend(found.used.iter().filter(|&&i| found.address(i) == a));
                }
            }
            Ok(SecondOpinion {
                round_trips: r.round_trips,
                report: Some(r),
                failed: false,
            })
        }
        Err(e) => {
            warnings.push(format!("cross-check with {} failed: {e}", second.name()));
            Ok(SecondOpinion {
                failed: true,
                ..SecondOpinion::default()
            })
        }
    }
}

/// What decides whether the inventory is complete, gathered over the phases.
struct Findings {
    warnings: Vec<String>,
    /// A fetch, the unspent list or the cross-check failed.
    fetch_failed: bool,
    tainted: BTreeSet<usize>,
}

/// Everything the phases produced, for [`assemble`].
struct Outcome {
    found: Discovery,
    fetched: Fetched,
    headers: Headers,
    local: Vec<LocalUtxo>,
    balances: Balances,
    second: SecondOpinion,
    findings: Findings,
    opts: ScanOptions,
}

/// The inventory and the report from everything the phases found.
fn assemble(
    watch: &WatchOnly,
    src: &Counting<'_>,
    verify_with: Option<&dyn BitcoinSource>,
    tip: &Tip,
    outcome: Outcome,
) -> Result<ScanReport, Error> {
    let Outcome {
        found,
        fetched,
        headers,
        mut local,
        balances,
        second,
        mut findings,
        opts,
    } = outcome;
    // A warning met several times (the same fault seen from several sources) is listed once.
    let mut seen = BTreeSet::new();
    findings.warnings.retain(|w| seen.insert(w.clone()));
    let (addresses, descriptors) = used_addresses(&found, &balances)?;
    local.sort_by_key(|u| {
        let s = &found.slots[u.slot];
        (found.chains[s.chain].src, s.chain, s.index, u.outpoint)
    });
    let (utxos, unverified_confirmed) = inventory_utxos(
        &found,
        &local,
        &descriptors,
        &fetched,
        &headers,
        &findings.tainted,
    );
    if unverified_confirmed > 0 {
        findings.warnings.push(format!(
            "{unverified_confirmed} confirmed unspent output(s) could not be verified; the totals are not final"
        ));
    }
    let confirmed = sum(utxos.iter().filter(|u| u.height > 0).map(|u| u.value))?;
    let unconfirmed = sum(utxos.iter().filter(|u| u.height == 0).map(|u| u.value))?;
    let any_fault = fetched
        .status
        .values()
        .any(|s| matches!(s, ProofStatus::Failed(_)));
    let disagreements = second
        .report
        .as_ref()
        .is_some_and(|c| !c.disagreements.is_empty());
    let complete = found.finished
        && !findings.fetch_failed
        && !headers.fault
        && !any_fault
        && !disagreements
        && unverified_confirmed == 0
        && findings.tainted.is_empty();
    let sources = source_summaries(watch, &found.chains, &addresses, &utxos)?;
    let mut servers = vec![src.name()];
    if let Some(s) = verify_with {
        servers.push(s.name());
    }
    let transactions = funding_transactions(&local, &fetched);
    let inventory = Inventory {
        transactions,
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
        warnings: findings.warnings,
    };
    Ok(ScanReport {
        inventory,
        sources,
        tx_status: fetched.status,
        round_trips: src.n.get(),
        verify_round_trips: second.round_trips,
        rounds: found.rounds,
        scripts_scanned: found.slots.iter().filter(|s| !s.beyond).count(),
        cross_check: second.report,
        evidence: fetched.evidence,
        settings: settings(watch, &opts),
        skipped: skipped(watch, &opts, &found.chains),
    })
}

fn settings(watch: &WatchOnly, opts: &ScanOptions) -> ScanSettings {
    ScanSettings {
        gap: opts.gap_receive,
        change_gap: opts.gap_change,
        accounts: match opts.accounts {
            Accounts::Auto => "auto".into(),
            Accounts::Fixed(n) => n.to_string(),
        },
        accounts_in_file: watch
            .sources
            .iter()
            .filter_map(|s| s.account)
            .max()
            .map_or(0, |a| a.saturating_add(1)),
    }
}

/// Sources left out by `--paths`, and chains account discovery or `--accounts` left out.
fn skipped(watch: &WatchOnly, opts: &ScanOptions, chains: &[Chain]) -> Vec<Skipped> {
    let mut out: Vec<Skipped> = watch
        .sources
        .iter()
        .filter(|s| !opts.paths.selects(&s.label, s.catalogue_id.as_deref()))
        .map(|s| Skipped {
            label: s.label.clone(),
            reason: "not selected by --paths".into(),
        })
        .collect();
    for c in chains.iter().filter(|c| !c.active) {
        let a = c.account.unwrap_or(0);
        let reason = match opts.accounts {
            Accounts::Fixed(n) => format!("account {a} is beyond --accounts {n}"),
            Accounts::Auto => format!(
                "account {a}: account discovery stopped at an earlier account with no history; --accounts N or --deep scans it"
            ),
        };
        out.push(Skipped {
            label: c.label.clone(),
            reason,
        });
    }
    out
}

/// The used addresses in watch-only order, and the definite descriptor of each used slot.
fn used_addresses(
    found: &Discovery,
    balances: &Balances,
) -> Result<(Vec<UsedAddress>, HashMap<usize, String>), Error> {
    let (chains, slots) = (&found.chains, &found.slots);
    let mut used_sorted = found.used.clone();
    used_sorted.sort_by_key(|&i| (chains[slots[i].chain].src, slots[i].chain, slots[i].index));
    let mut addresses = Vec::new();
    let mut descriptors: HashMap<usize, String> = HashMap::new();
    for &i in &used_sorted {
        let s = &slots[i];
        let c = &chains[s.chain];
        let definite = c
            .desc
            .definite_string(&c.label, s.index, &crate::derive::SECP)?;
        descriptors.insert(i, definite.clone());
        let heights: Vec<u32> = s
            .history
            .iter()
            .filter_map(HistoryItem::confirmed_height)
            .collect();
        addresses.push(UsedAddress {
            source: c.label.clone(),
            index: s.index,
            address: found.address(i),
            descriptor: definite,
            tx_count: count_u32(s.history.len()),
            confirmed: balances.confirmed(i),
            unconfirmed: balances.unconfirmed(i),
            first_height: heights.iter().min().copied(),
            last_height: heights.iter().max().copied(),
        });
    }
    Ok((addresses, descriptors))
}

/// The inventory's unspent outputs (in `local`'s order), each verified only when its slot is
/// untainted, its height validated and its transaction proven; with the count of confirmed
/// outputs left unverified.
fn inventory_utxos(
    found: &Discovery,
    local: &[LocalUtxo],
    descriptors: &HashMap<usize, String>,
    fetched: &Fetched,
    headers: &Headers,
    tainted: &BTreeSet<usize>,
) -> (Vec<InventoryUtxo>, usize) {
    let mut utxos = Vec::new();
    let mut unverified_confirmed = 0usize;
    for u in local {
        let s = &found.slots[u.slot];
        let verified = !tainted.contains(&u.slot)
            && !headers.fault_affects(u.height)
            && matches!(
                fetched.status.get(&u.outpoint.txid),
                Some(ProofStatus::Verified)
            );
        if u.height > 0 && !verified {
            unverified_confirmed += 1;
        }
        utxos.push(InventoryUtxo {
            outpoint: u.outpoint.to_string(),
            value: u.value,
            height: u.height,
            address: found.address(u.slot),
            script_pubkey: s.script.to_hex_string(),
            descriptor: descriptors
                .get(&u.slot)
                .cloned()
                .expect("every unspent output belongs to a used slot, which has a descriptor"),
            source: found.chains[s.chain].label.clone(),
            verified,
            // v2: the transaction is stored once, in `Inventory::transactions`.
            prev_tx: String::new(),
        });
    }
    (utxos, unverified_confirmed)
}

/// Each funding transaction of `utxos` once, txid → hex.
fn funding_transactions(utxos: &[LocalUtxo], fetched: &Fetched) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for u in utxos {
        let txid = u.outpoint.txid;
        if let Some(tx) = fetched.txs.get(&txid) {
            out.entry(txid.to_string())
                .or_insert_with(|| hex::encode(serialize(tx)));
        }
    }
    out
}

/// Per-source findings, in watch-only order.
fn source_summaries(
    watch: &WatchOnly,
    chains: &[Chain],
    addresses: &[UsedAddress],
    utxos: &[InventoryUtxo],
) -> Result<Vec<SourceSummary>, Error> {
    let mut sources = Vec::new();
    for c in chains {
        let ws = &watch.sources[c.src];
        let mine: Vec<&UsedAddress> = addresses.iter().filter(|a| a.source == c.label).collect();
        let my_utxos: Vec<&InventoryUtxo> = utxos.iter().filter(|u| u.source == c.label).collect();
        sources.push(SourceSummary {
            label: c.label.clone(),
            catalogue_id: c.catalogue.clone(),
            account: c.account,
            change: c.change,
            wallets: ws.wallets.clone(),
            scanned: c.active,
            scanned_to: c.next,
            used: count_u32(mine.len()),
            utxos: count_u32(my_utxos.len()),
            confirmed: sum(my_utxos.iter().filter(|u| u.height > 0).map(|u| u.value))?,
            unconfirmed: sum(my_utxos.iter().filter(|u| u.height == 0).map(|u| u.value))?,
            first_height: mine.iter().filter_map(|a| a.first_height).min(),
            last_height: mine.iter().filter_map(|a| a.last_height).max(),
        });
    }
    Ok(sources)
}

#[cfg(test)]
mod tests {
    use bitcoin::{hashes::Hash, Network};
    use custos_chain::MemoryChain;

    use super::*;

    // BIP84 test vector account 0 (mnemonic "abandon ... about"), from BIP84's text.
    const XPUB: &str = "xpub6CatWdiZiodmUeTDp8LT5or8nmbKNcuyvz7WyksVFkKB4RHwCD3XyuvPEbvqAQY3rAPshWcMLoP2fMFMKHPJ4ZeZXYVUhLv1VMrjPC7PW6V";

    fn chain(gap: u32, account: Option<u32>) -> Chain {
        let text = format!("wpkh([73c5da0a/84'/0'/0']{XPUB}/0/*)");
        let desc = ParsedDescriptor::parse("bip84/0", &text).unwrap().remove(0);
        Chain {
            src: 0,
            label: format!("bip84/{}/0", account.unwrap_or(0)),
            ranged: desc.is_ranged(),
            desc,
            gap,
            window: gap,
            next: 0,
            used_until: 0,
            has_history: false,
            active: true,
            done: false,
            catalogue: Some("bip84".into()),
            account,
            change: false,
        }
    }

    fn slot(script: ScriptBuf, history: Vec<HistoryItem>) -> Slot {
        Slot {
            chain: 0,
            index: 0,
            script,
            history,
            duplicate_of: None,
            beyond: false,
        }
    }

    fn item(txid: Txid, height: i64) -> HistoryItem {
        HistoryItem {
            txid,
            height,
            fee: None,
        }
    }

    fn discovery(slots: Vec<Slot>) -> Discovery {
        let used = (0..slots.len())
            .filter(|&i| !slots[i].history.is_empty())
            .collect();
        Discovery {
            chains: Vec::new(),
            slots,
            used,
            rounds: 1,
            finished: true,
            network: Network::Bitcoin,
        }
    }

    fn script(tag: u8) -> ScriptBuf {
        ScriptBuf::new_p2wpkh(&bitcoin::WPubkeyHash::from_byte_array([tag; 20]))
    }

    #[test]
    fn windows_grow_while_used_but_the_result_is_a_strict_gap_limit_scan() {
        let mut chains = vec![chain(3, None)];
        let mut slots = Vec::new();
        let mut by_script = HashMap::new();
        let used = || vec![item(Txid::all_zeros(), 5)];
        let batch = derive_window(&mut chains, &mut slots, &mut by_script).unwrap();
        assert_eq!(batch, vec![0, 1, 2]);
        let newly = record_histories(
            &mut chains,
            &mut slots,
            &batch,
            vec![vec![], used(), vec![]],
        );
        assert_eq!(newly, vec![0]);
        assert_eq!(chains[0].used_until, 2);
        assert!(!chains[0].done, "index 1 used: the gap runs to index 4");
        let batch = derive_window(&mut chains, &mut slots, &mut by_script).unwrap();
        assert_eq!(
            batch,
            vec![3, 4, 5, 6, 7],
            "the window doubled (3 -> 6 past index 1): indices 3..=7 are new"
        );
        // 4 is within the gap of 1; 7 within the gap of 4.
        let mut h = vec![vec![]; 5];
        h[1] = used();
        h[4] = used();
        record_histories(&mut chains, &mut slots, &batch, h);
        assert_eq!(chains[0].used_until, 8);
        assert_eq!(chains[0].window, 12);
        let batch = derive_window(&mut chains, &mut slots, &mut by_script).unwrap();
        assert_eq!(batch.len(), 12, "indices 8..20");
        // Index 15 is used, but 8..=10 are not: a gap-limit scan stops at 10 and never sees it.
        let mut h = vec![vec![]; 12];
        h[7] = used();
        record_histories(&mut chains, &mut slots, &batch, h);
        assert!(chains[0].done);
        assert_eq!(chains[0].used_until, 8);
        assert_eq!(
            chains[0].next, 11,
            "scanned exactly to the gap past index 7"
        );
        assert!(slots[15].beyond && slots[15].history.is_empty());
        assert!(!slots[10].beyond && slots[11].beyond);
    }

    #[test]
    fn a_zero_gap_is_refused_not_raised_to_one() {
        let watch = WatchOnly {
            format: WATCH_ONLY_FORMAT.into(),
            network: custos_core::Network::Bitcoin,
            created: String::new(),
            material: String::new(),
            fingerprint: String::new(),
            sources: vec![custos_core::inventory::WatchSource {
                label: "bip84/0".into(),
                descriptor: format!("wpkh([73c5da0a/84'/0'/0']{XPUB}/0/*)"),
                change: false,
                catalogue_id: None,
                account: None,
                wallets: vec![],
            }],
            coverage: None,
        };
        for (gap_receive, gap_change) in [(0, 10), (20, 0)] {
            let opts = ScanOptions {
                gap_receive,
                gap_change,
                ..ScanOptions::default()
            };
            let e = build_chains(&watch, &opts).err().expect("gap 0 refused");
            assert!(e.to_string().contains("gap"), "{e}");
        }
    }

    #[test]
    fn account_discovery_activates_the_next_account_or_records_it_missing() {
        let mut chains = vec![chain(3, Some(0)), chain(3, Some(1)), chain(3, Some(2))];
        chains[1].active = false;
        chains[2].active = false;
        let mut missing = BTreeSet::new();
        activate_next_accounts(&mut chains, &[0], &mut missing);
        assert!(chains[1].active && !chains[2].active);
        assert!(missing.is_empty());
        activate_next_accounts(&mut chains, &[2], &mut missing);
        assert_eq!(missing, BTreeSet::from([("bip84".to_string(), 2)]));
    }

    #[test]
    fn a_transaction_at_two_heights_is_warned_about_and_kept_at_the_higher() {
        let t = Txid::from_byte_array([7; 32]);
        let found = discovery(vec![
            slot(script(1), vec![item(t, 5)]),
            slot(script(2), vec![item(t, 9)]),
        ]);
        let mut warnings = Vec::new();
        let heights = transaction_heights(&found, &mut warnings);
        assert_eq!(heights.get(&t), Some(&9));
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains(&t.to_string()), "{warnings:?}");
    }

    #[test]
    fn derived_utxos_leave_out_outputs_spent_by_a_fetched_transaction() {
        let mut mc = MemoryChain::regtest();
        let fund = mc.fund(&[(script(1), 10_000), (script(2), 20_000)]);
        let mut spend = fund.clone();
        spend.input[0].previous_output = OutPoint::new(fund.compute_txid(), 0);
        spend.output = vec![bitcoin::TxOut {
            value: bitcoin::Amount::from_sat(9_000),
            script_pubkey: script(3),
        }];
        let (f, s) = (fund.compute_txid(), spend.compute_txid());
        let found = discovery(vec![
            slot(script(1), vec![item(f, 3), item(s, 0)]),
            slot(script(2), vec![item(f, 3)]),
        ]);
        let txs = HashMap::from([(f, fund), (s, spend)]);
        let heights = BTreeMap::from([(f, 3), (s, -1)]);
        let local = derive_utxos(&found, &txs, &heights);
        assert_eq!(local.len(), 1, "the output to script 1 is spent");
        assert_eq!(local[0].outpoint, OutPoint::new(f, 1));
        assert_eq!(
            (local[0].value, local[0].height, local[0].slot),
            (Sat(20_000), 3, 1)
        );
        let b = Balances::of(&local).unwrap();
        assert_eq!((b.confirmed(1), b.unconfirmed(1)), (Sat(20_000), Sat::ZERO));
    }

    #[test]
    fn a_slot_with_a_failed_or_missing_transaction_is_tainted() {
        let (ok, bad, absent) = (
            Txid::from_byte_array([1; 32]),
            Txid::from_byte_array([2; 32]),
            Txid::from_byte_array([3; 32]),
        );
        let found = discovery(vec![
            slot(script(1), vec![item(ok, 2)]),
            slot(script(2), vec![item(bad, 2)]),
            slot(script(3), vec![item(absent, 2)]),
        ]);
        let mut fetched = Fetched::default();
        let some_tx = MemoryChain::regtest().fund(&[(script(9), 1_000)]);
        fetched.txs.insert(ok, some_tx.clone());
        fetched.txs.insert(bad, some_tx);
        fetched.status.insert(ok, ProofStatus::Verified);
        fetched.status.insert(bad, ProofStatus::Failed("x".into()));
        assert_eq!(tainted_slots(&found, &fetched), BTreeSet::from([1, 2]));
    }

    #[test]
    fn an_unspent_output_the_transactions_do_not_show_taints_its_slot() {
        let mut mc = MemoryChain::regtest();
        let fund = mc.fund(&[(script(1), 10_000)]);
        mc.mine();
        let found = discovery(vec![slot(script(1), vec![item(fund.compute_txid(), 2)])]);
        let mut tainted = BTreeSet::new();
        let mut warnings = Vec::new();
        let lists = mc.unspents(&[script(1)]);
        assert!(compare_unspents(
            &found,
            lists,
            &[],
            &mut tainted,
            &mut warnings
        ));
        assert_eq!(tainted, BTreeSet::from([0]));
        assert_eq!(warnings.len(), 1);
        assert!(
            warnings[0].contains("server lists unspent output")
                && warnings[0].contains("10000 sat"),
            "{warnings:?}"
        );
    }

    #[test]
    fn a_proof_for_another_transaction_fails_naming_both() {
        let chain = VerifiedChain::new(Network::Regtest);
        let (asked, sent) = (
            Txid::from_byte_array([1; 32]),
            Txid::from_byte_array([2; 32]),
        );
        let proof = MerkleProof {
            txid: sent,
            block_height: 1,
            pos: 0,
            branch: Vec::new(),
        };
        let ProofStatus::Failed(m) = proof_status(&chain, &proof, asked, 1) else {
            panic!("a proof for another transaction verified");
        };
        assert!(
            m.contains(&asked.to_string()) && m.contains(&sent.to_string()),
            "{m}"
        );
    }

    #[test]
    fn inventory_heights_are_zero_for_mempool_and_impossible_heights() {
        assert_eq!(inventory_height(7), 7);
        assert_eq!(inventory_height(0), 0);
        assert_eq!(inventory_height(-1), 0);
        assert_eq!(inventory_height(i64::from(u32::MAX) + 1), 0);
        assert_eq!(block_height(-1), None);
    }
}
