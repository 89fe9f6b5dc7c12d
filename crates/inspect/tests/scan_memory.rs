//! Discovery scans against an in-process regtest chain of real blocks (custos-chain's
//! MemoryChain): gap limits, account discovery, totals, and lying sources.

use std::str::FromStr;

use bitcoin::{
    bip32::{DerivationPath, Xpriv, Xpub},
    block::Header,
    consensus::serialize,
    hashes::Hash,
    secp256k1::Secp256k1,
    Network as BNet, ScriptBuf, TxMerkleNode, Txid,
};
use custos_chain::MemoryChain;
use custos_core::{
    exit::Classify,
    inventory::{WatchOnly, WatchSource, WATCH_ONLY_FORMAT},
    source::{BitcoinSource, HistoryItem, MerkleProof, SatPerKvb, SourceError, Tip, Unspent},
    Network, Sat,
};
use custos_inspect::{scan, Accounts, ScanOptions};
use miniscript::{descriptor::DescriptorPublicKey, Descriptor};

/// A test wallet: BIP32 master from a fixed seed (test-only material).
struct Wallet {
    master: Xpriv,
}

impl Wallet {
    fn new(seed: u8) -> Self {
        Wallet {
            master: Xpriv::new_master(BNet::Regtest, &[seed; 32]).unwrap(),
        }
    }

    fn account(&self, purpose: u32, account: u32) -> (String, Xpub) {
        let secp = Secp256k1::new();
        let path = DerivationPath::from_str(&format!("m/{purpose}'/1'/{account}'")).unwrap();
        let xprv = self.master.derive_priv(&secp, &path).unwrap();
        let fp = self.master.fingerprint(&secp);
        (
            format!("[{fp}/{purpose}'/1'/{account}']"),
            Xpub::from_priv(&secp, &xprv),
        )
    }

    fn descriptor(&self, purpose: u32, account: u32, change: u32) -> String {
        let (origin, xpub) = self.account(purpose, account);
        let inner = format!("{origin}{xpub}/{change}/*");
        let d = match purpose {
            44 => format!("pkh({inner})"),
            49 => format!("sh(wpkh({inner}))"),
            86 => format!("tr({inner})"),
            _ => format!("wpkh({inner})"),
        };
        Descriptor::<DescriptorPublicKey>::from_str(&d)
            .unwrap()
            .to_string()
    }

    fn script(&self, purpose: u32, account: u32, change: u32, index: u32) -> ScriptBuf {
        Descriptor::<DescriptorPublicKey>::from_str(&self.descriptor(purpose, account, change))
            .unwrap()
            .at_derivation_index(index)
            .unwrap()
            .script_pubkey()
    }
}

fn source(
    label: &str,
    descriptor: String,
    cat: &str,
    account: Option<u32>,
    change: bool,
) -> WatchSource {
    WatchSource {
        label: label.to_string(),
        descriptor,
        change,
        catalogue_id: Some(cat.to_string()),
        account,
        wallets: vec![],
    }
}

fn watch(w: &Wallet, accounts: u32) -> WatchOnly {
    let mut sources = Vec::new();
    for (purpose, cat) in [(44, "bip44"), (49, "bip49"), (84, "bip84"), (86, "bip86")] {
        for a in 0..accounts {
            for change in 0..2u32 {
                sources.push(source(
                    &format!("{cat}/{a}/{change}"),
                    w.descriptor(purpose, a, change),
                    cat,
                    Some(a),
                    change == 1,
                ));
            }
        }
    }
    WatchOnly {
        format: WATCH_ONLY_FORMAT.into(),
        network: Network::Regtest,
        created: "2026-01-01T00:00:00Z".into(),
        material: "test wallet".into(),
        fingerprint: "00".into(),
        sources,
        coverage: None,
    }
}

fn quiet() -> impl FnMut(custos_inspect::Progress) {
    |_| {}
}

#[test]
fn finds_every_funded_index_within_the_gap_and_nothing_beyond() {
    let w = Wallet::new(1);
    let mut chain = MemoryChain::regtest();
    chain.mine();
    chain.fund(&[
        (w.script(84, 0, 0, 0), 10_000),
        (w.script(84, 0, 0, 15), 20_000),
        (w.script(84, 0, 0, 30), 30_000),
        (w.script(84, 0, 1, 3), 4_000),
        (w.script(86, 0, 0, 2), 5_000),
        // Beyond the gap: index 30 is the last used, so 51 and later are never asked about.
        (w.script(84, 0, 0, 60), 99_000),
        // Change beyond its gap of 10 from index 3.
        (w.script(84, 0, 1, 14), 99_000),
    ]);
    chain.mine();
    let wo = watch(&w, 2);
    let r = scan(&wo, &chain, None, &ScanOptions::default(), &mut quiet()).unwrap();
    let inv = &r.inventory;
    assert!(inv.complete, "{:?}", inv.warnings);
    let found: Vec<(String, u32)> = inv
        .addresses
        .iter()
        .map(|a| (a.source.clone(), a.index))
        .collect();
    assert_eq!(
        found,
        vec![
            ("bip84/0/0".to_string(), 0),
            ("bip84/0/0".to_string(), 15),
            ("bip84/0/0".to_string(), 30),
            ("bip84/0/1".to_string(), 3),
            ("bip86/0/0".to_string(), 2),
        ]
    );
    assert_eq!(inv.confirmed, Sat(10_000 + 20_000 + 30_000 + 4_000 + 5_000));
    assert_eq!(inv.unconfirmed, Sat::ZERO);
    assert!(inv.utxos.iter().all(|u| u.verified && u.height == 2));
    // Rounds: 0..20 finds 15; the window doubles (40 past index 15): 20..56 finds 30, and
    // 51..56 lie past the gap of 30 and are dropped: 60 stays unfound.
    assert_eq!(r.rounds, 2);
    // tip + header chain + 2 windows + transactions, proofs, unspents (an in-memory source
    // does not pipeline them; an Electrum server answers the three in one round trip).
    assert_eq!(r.round_trips, 1 + 1 + 2 + 3);
    // Account 1 of bip84/bip86 scanned (account 0 used), of bip44/bip49 not.
    let s = |l: &str| r.sources.iter().find(|s| s.label == l).unwrap().clone();
    assert!(s("bip84/1/0").scanned && s("bip86/1/1").scanned);
    assert!(!s("bip44/1/0").scanned && s("bip44/0/0").scanned);
    assert_eq!(s("bip84/0/0").first_height, Some(2));
    // Descriptors carry the full key origin and prev_tx is the funding transaction.
    let u = &inv.utxos[0];
    assert!(u.descriptor.starts_with("wpkh(["), "{}", u.descriptor);
    assert!(u.descriptor.contains("/84'/1'/0'/0/0]"), "{}", u.descriptor);
    assert!(
        u.prev_tx.is_empty(),
        "v2: the transaction is stored once, not per output"
    );
    let prev: bitcoin::Transaction =
        bitcoin::consensus::deserialize(&hex::decode(inv.prev_tx_hex(u).unwrap()).unwrap())
            .unwrap();
    assert_eq!(
        inv.transactions.len(),
        1,
        "one funding transaction for all five outputs"
    );
    assert_eq!(
        prev.compute_txid().to_string(),
        u.outpoint.split(':').next().unwrap()
    );
}

#[test]
fn discovers_accounts_one_after_another_and_flags_a_missing_next_account() {
    let w = Wallet::new(2);
    let mut chain = MemoryChain::regtest();
    chain.fund(&[
        (w.script(84, 0, 0, 0), 1_000),
        (w.script(84, 1, 0, 4), 2_000),
    ]);
    chain.mine();
    let r = scan(
        &watch(&w, 3),
        &chain,
        None,
        &ScanOptions::default(),
        &mut quiet(),
    )
    .unwrap();
    assert!(r.inventory.complete, "{:?}", r.inventory.warnings);
    assert_eq!(r.inventory.confirmed, Sat(3_000));
    let scanned: Vec<&str> = r
        .sources
        .iter()
        .filter(|s| s.scanned)
        .map(|s| s.label.as_str())
        .collect();
    assert!(scanned.contains(&"bip84/2/0"), "{scanned:?}");
    // With only accounts 0 and 1 in the file, account 1's history cannot be followed further.
    let r = scan(
        &watch(&w, 2),
        &chain,
        None,
        &ScanOptions::default(),
        &mut quiet(),
    )
    .unwrap();
    assert!(!r.inventory.complete);
    assert!(r
        .inventory
        .warnings
        .iter()
        .any(|w| w.contains("bip84") && w.contains("account 1 has history")));
    // --accounts 1 scans account 0 only and misses nothing it was asked for.
    let opts = ScanOptions {
        accounts: Accounts::Fixed(1),
        ..ScanOptions::default()
    };
    let r = scan(&watch(&w, 3), &chain, None, &opts, &mut quiet()).unwrap();
    assert_eq!(r.inventory.confirmed, Sat(1_000));
}

#[test]
fn excludes_spent_outputs_and_counts_mempool_separately() {
    let w = Wallet::new(3);
    let mut chain = MemoryChain::regtest();
    let a0 = w.script(84, 0, 0, 0);
    let fund = chain.fund(&[(a0, 50_000)]);
    chain.mine();
    // Spend it to change index 0 of the same wallet, confirmed.
    let spend = custos_test_tx(fund.compute_txid(), 0, &w.script(84, 0, 1, 0), 49_000);
    chain.submit(spend);
    chain.mine();
    // And an unconfirmed payment.
    chain.fund(&[(w.script(84, 0, 0, 1), 7_000)]);
    let r = scan(
        &watch(&w, 2),
        &chain,
        None,
        &ScanOptions::default(),
        &mut quiet(),
    )
    .unwrap();
    let inv = &r.inventory;
    assert!(inv.complete, "{:?}", inv.warnings);
    assert_eq!(inv.confirmed, Sat(49_000));
    assert_eq!(inv.unconfirmed, Sat(7_000));
    assert_eq!(inv.addresses.len(), 3);
    let a = inv
        .addresses
        .iter()
        .find(|a| a.index == 0 && a.source == "bip84/0/0")
        .unwrap();
    assert_eq!((a.tx_count, a.confirmed), (2, Sat::ZERO));
    let pending = inv.utxos.iter().find(|u| u.height == 0).unwrap();
    assert!(!pending.verified);
}

fn custos_test_tx(prev: Txid, vout: u32, to: &ScriptBuf, value: u64) -> bitcoin::Transaction {
    bitcoin::Transaction {
        version: bitcoin::transaction::Version::TWO,
        lock_time: bitcoin::absolute::LockTime::ZERO,
        input: vec![bitcoin::TxIn {
            previous_output: bitcoin::OutPoint::new(prev, vout),
            ..Default::default()
        }],
        output: vec![bitcoin::TxOut {
            value: bitcoin::Amount::from_sat(value),
            script_pubkey: to.clone(),
        }],
    }
}

/// What a lying wrapper falsifies.
#[derive(Clone, Copy, PartialEq)]
enum Lie {
    TxBytes(Txid),
    MerkleBranch(Txid),
    HeaderPow(u32),
    OmitHistory(Txid),
}

struct Liar<'a> {
    inner: &'a MemoryChain,
    lie: Lie,
}

impl BitcoinSource for Liar<'_> {
    fn name(&self) -> String {
        "liar".into()
    }
    fn tip(&self) -> Result<Tip, SourceError> {
        self.inner.tip()
    }
    fn headers(&self, start: u32, count: u32) -> Result<Vec<Header>, SourceError> {
        let mut h = self.inner.headers(start, count)?;
        if let Lie::HeaderPow(height) = self.lie {
            if let Some(x) = h.get_mut((height - start) as usize) {
                while x.target().is_met_by(x.block_hash()) {
                    x.nonce = x.nonce.wrapping_add(1);
                }
            }
        }
        Ok(h)
    }
    fn histories(&self, s: &[ScriptBuf]) -> Result<Vec<Vec<HistoryItem>>, SourceError> {
        let mut h = self.inner.histories(s)?;
        if let Lie::OmitHistory(t) = self.lie {
            for x in &mut h {
                x.retain(|i| i.txid != t);
            }
        }
        Ok(h)
    }
    fn unspents(&self, s: &[ScriptBuf]) -> Result<Vec<Vec<Unspent>>, SourceError> {
        let mut u = self.inner.unspents(s)?;
        if let Lie::OmitHistory(t) = self.lie {
            for x in &mut u {
                x.retain(|i| i.outpoint.txid != t);
            }
        }
        Ok(u)
    }
    fn raw_transactions(&self, t: &[Txid]) -> Result<Vec<Vec<u8>>, SourceError> {
        let mut raws = self.inner.raw_transactions(t)?;
        if let Lie::TxBytes(bad) = self.lie {
            for (id, raw) in t.iter().zip(raws.iter_mut()) {
                if *id == bad {
                    let mut tx: bitcoin::Transaction =
                        bitcoin::consensus::deserialize(raw).unwrap();
                    tx.output[0].value =
                        bitcoin::Amount::from_sat(tx.output[0].value.to_sat() * 10);
                    *raw = serialize(&tx);
                }
            }
        }
        Ok(raws)
    }
    fn merkle_proofs(&self, r: &[(Txid, u32)]) -> Result<Vec<MerkleProof>, SourceError> {
        let mut p = self.inner.merkle_proofs(r)?;
        if let Lie::MerkleBranch(bad) = self.lie {
            for x in &mut p {
                if x.txid == bad {
                    x.branch[0] = TxMerkleNode::from_byte_array([9; 32]);
                }
            }
        }
        Ok(p)
    }
    fn broadcast(&self, raw: &[u8]) -> Result<Txid, SourceError> {
        self.inner.broadcast(raw)
    }
    fn relay_fee(&self) -> Result<SatPerKvb, SourceError> {
        self.inner.relay_fee()
    }
    fn estimate_fee(&self, b: u16) -> Result<Option<SatPerKvb>, SourceError> {
        self.inner.estimate_fee(b)
    }
}

fn lying_setup() -> (Wallet, MemoryChain, Txid, Txid) {
    let w = Wallet::new(4);
    let mut chain = MemoryChain::regtest();
    let a = chain.fund(&[(w.script(84, 0, 0, 0), 11_000)]);
    chain.mine();
    let b = chain.fund(&[(w.script(84, 0, 0, 1), 22_000)]);
    chain.mine();
    chain.mine();
    (w, chain, a.compute_txid(), b.compute_txid())
}

fn assert_only_honest_verified(r: &custos_inspect::ScanReport, bad: Txid, needle: &str) {
    let inv = &r.inventory;
    assert!(!inv.complete);
    assert!(
        inv.warnings.iter().any(|w| w.contains(needle)),
        "no warning naming {needle}: {:?}",
        inv.warnings
    );
    for u in &inv.utxos {
        if u.outpoint.starts_with(&bad.to_string()) {
            assert!(!u.verified, "{} marked verified", u.outpoint);
        }
    }
}

#[test]
fn reports_a_transaction_that_does_not_hash_to_its_txid() {
    let (w, chain, a, b) = lying_setup();
    let liar = Liar {
        inner: &chain,
        lie: Lie::TxBytes(b),
    };
    let r = scan(
        &watch(&w, 2),
        &liar,
        None,
        &ScanOptions::default(),
        &mut quiet(),
    )
    .unwrap();
    assert_only_honest_verified(&r, b, &b.to_string());
    assert!(r
        .inventory
        .utxos
        .iter()
        .all(|u| !u.outpoint.starts_with(&b.to_string())));
    let good = r
        .inventory
        .utxos
        .iter()
        .find(|u| u.outpoint.starts_with(&a.to_string()))
        .unwrap();
    assert!(good.verified);
}

#[test]
fn reports_a_wrong_merkle_branch_with_txid_and_height() {
    let (w, chain, _a, b) = lying_setup();
    let liar = Liar {
        inner: &chain,
        lie: Lie::MerkleBranch(b),
    };
    let r = scan(
        &watch(&w, 2),
        &liar,
        None,
        &ScanOptions::default(),
        &mut quiet(),
    )
    .unwrap();
    assert_only_honest_verified(&r, b, &format!("transaction {b} at height 3"));
}

#[test]
fn reports_a_header_with_bad_proof_of_work_by_height() {
    let (w, chain, a, b) = lying_setup();
    let liar = Liar {
        inner: &chain,
        lie: Lie::HeaderPow(3),
    };
    let r = scan(
        &watch(&w, 2),
        &liar,
        None,
        &ScanOptions::default(),
        &mut quiet(),
    )
    .unwrap();
    assert_only_honest_verified(&r, b, "header at height 3");
    // Below the bad header everything still verifies.
    let good = r
        .inventory
        .utxos
        .iter()
        .find(|u| u.outpoint.starts_with(&a.to_string()))
        .unwrap();
    assert!(good.verified);
}

#[test]
fn catches_an_omitted_history_entry_with_a_second_server() {
    let (w, chain, _a, b) = lying_setup();
    let liar = Liar {
        inner: &chain,
        lie: Lie::OmitHistory(b),
    };
    // Alone, the liar's story is consistent: nothing to see.
    let r = scan(
        &watch(&w, 2),
        &liar,
        None,
        &ScanOptions::default(),
        &mut quiet(),
    )
    .unwrap();
    assert!(r.inventory.complete);
    assert_eq!(r.inventory.confirmed, Sat(11_000));
    // With --verify-with the omission is named.
    let r = scan(
        &watch(&w, 2),
        &liar,
        Some(&chain),
        &ScanOptions::default(),
        &mut quiet(),
    )
    .unwrap();
    assert!(!r.inventory.complete);
    let cc = r.cross_check.as_ref().unwrap();
    assert!(!cc.disagreements.is_empty());
    assert!(
        r.inventory
            .warnings
            .iter()
            .any(|x| x.contains(&b.to_string()) && x.contains("omitted by liar")),
        "{:?}",
        r.inventory.warnings
    );
    assert_eq!(r.verify_round_trips, 3);
}

#[test]
fn counts_a_script_listed_under_two_sources_once() {
    let w = Wallet::new(5);
    let mut chain = MemoryChain::regtest();
    let s = w.script(84, 0, 0, 0);
    chain.fund(&[(s.clone(), 12_345)]);
    chain.mine();
    let mut wo = watch(&w, 2);
    let addr = bitcoin::Address::from_script(&s, BNet::Regtest).unwrap();
    wo.sources.push(WatchSource {
        label: "addr/0".into(),
        descriptor: format!("addr({addr})"),
        change: false,
        catalogue_id: None,
        account: None,
        wallets: vec![],
    });
    let r = scan(&wo, &chain, None, &ScanOptions::default(), &mut quiet()).unwrap();
    assert_eq!(r.inventory.confirmed, Sat(12_345));
    assert_eq!(r.inventory.utxos.len(), 1);
}

#[test]
fn refuses_a_watch_only_file_with_a_bad_descriptor_naming_the_label() {
    let w = Wallet::new(6);
    let mut wo = watch(&w, 1);
    wo.sources[2].descriptor = "wpkh(xpubgarbage/0/*)".into();
    let chain = MemoryChain::regtest();
    let e = scan(&wo, &chain, None, &ScanOptions::default(), &mut quiet()).unwrap_err();
    assert!(e.to_string().contains(&wo.sources[2].label), "{e}");
}

/// Records which calls a scan makes, in order.
struct Recorder<'a> {
    inner: &'a MemoryChain,
    calls: std::cell::RefCell<Vec<&'static str>>,
}

impl Recorder<'_> {
    fn note(&self, c: &'static str) {
        self.calls.borrow_mut().push(c);
    }
}

impl BitcoinSource for Recorder<'_> {
    fn name(&self) -> String {
        "recorder".into()
    }
    fn tip(&self) -> Result<Tip, SourceError> {
        self.note("tip");
        self.inner.tip()
    }
    fn headers(&self, start: u32, count: u32) -> Result<Vec<Header>, SourceError> {
        self.note("headers");
        self.inner.headers(start, count)
    }
    fn histories(&self, s: &[ScriptBuf]) -> Result<Vec<Vec<HistoryItem>>, SourceError> {
        self.note("histories");
        self.inner.histories(s)
    }
    fn unspents(&self, s: &[ScriptBuf]) -> Result<Vec<Vec<Unspent>>, SourceError> {
        self.note("unspents");
        self.inner.unspents(s)
    }
    fn raw_transactions(&self, t: &[Txid]) -> Result<Vec<Vec<u8>>, SourceError> {
        self.note("transactions");
        self.inner.raw_transactions(t)
    }
    fn merkle_proofs(&self, r: &[(Txid, u32)]) -> Result<Vec<MerkleProof>, SourceError> {
        self.note("proofs");
        self.inner.merkle_proofs(r)
    }
    fn broadcast(&self, raw: &[u8]) -> Result<Txid, SourceError> {
        self.inner.broadcast(raw)
    }
    fn relay_fee(&self) -> Result<SatPerKvb, SourceError> {
        self.inner.relay_fee()
    }
    fn estimate_fee(&self, b: u16) -> Result<Option<SatPerKvb>, SourceError> {
        self.inner.estimate_fee(b)
    }
}

#[test]
fn a_server_on_another_network_is_refused_before_any_script_is_sent() {
    let w = Wallet::new(7);
    let mut chain = MemoryChain::regtest();
    chain.fund(&[(w.script(84, 0, 0, 0), 10_000)]);
    chain.mine();
    let mut wo = watch(&w, 1);
    wo.network = Network::Bitcoin; // a mainnet watch-only file against a regtest server
    let rec = Recorder {
        inner: &chain,
        calls: Default::default(),
    };
    let e = scan(&wo, &rec, None, &ScanOptions::default(), &mut quiet()).unwrap_err();
    let m = e.to_string();
    assert!(
        m.contains("recorder")
            && m.contains("is not on bitcoin")
            && m.contains("no script was sent"),
        "{m}"
    );
    assert_eq!(e.exit_class().code(), 2);
    assert_eq!(
        *rec.calls.borrow(),
        vec!["tip", "headers"],
        "nothing but the chain was asked"
    );

    // On the right network the same file is scanned, the chain first.
    wo.network = Network::Regtest;
    let rec = Recorder {
        inner: &chain,
        calls: Default::default(),
    };
    let r = scan(&wo, &rec, None, &ScanOptions::default(), &mut quiet()).unwrap();
    assert_eq!(r.inventory.confirmed, Sat(10_000));
    assert_eq!(rec.calls.borrow()[..3], ["tip", "headers", "histories"]);
}
