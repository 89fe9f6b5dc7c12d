//! A forward trace over 11,111 in-memory transactions in real regtest blocks: a seed
//! transaction fanning out tenfold for three hops (10, 100, 1,000 transactions), then 10,000
//! single-output spends left unspent. The source is an indexed in-memory chain (answers from
//! hash maps, merkle branches precomputed), so the time measured is the walk's: hashing every
//! transaction to its txid, checking every merkle proof, building the graph.
//!
//! Run: `cargo bench -p custos-trace --bench walk -- --warm-up-time 1 --measurement-time 5`.

use std::collections::HashMap;

use bitcoin::{
    absolute::LockTime,
    block::{Header, Version},
    blockdata::constants::genesis_block,
    consensus::serialize,
    hashes::{sha256d, Hash, HashEngine},
    merkle_tree,
    params::Params,
    transaction, Amount, CompactTarget, OutPoint, ScriptBuf, Sequence, Transaction, TxIn,
    TxMerkleNode, TxOut, Txid, WPubkeyHash, Witness,
};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use custos_core::{
    source::{BitcoinSource, HistoryItem, MerkleProof, SatPerKvb, SourceError, Tip, Unspent},
    Network,
};
use custos_trace::walk::{trace, Direction, Limits, Start};

/// An indexed regtest chain.
struct Indexed {
    headers: Vec<Header>,
    raw: HashMap<Txid, Vec<u8>>,
    place: HashMap<Txid, (u32, u32)>,
    branches: HashMap<Txid, Vec<TxMerkleNode>>,
    history: HashMap<ScriptBuf, Vec<HistoryItem>>,
}

fn err(method: &str, detail: String) -> SourceError {
    SourceError::Server {
        server: "bench://indexed".into(),
        method: method.into(),
        detail,
    }
}

impl BitcoinSource for Indexed {
    fn name(&self) -> String {
        "bench://indexed".into()
    }
    fn tip(&self) -> Result<Tip, SourceError> {
        let header = *self
            .headers
            .last()
            .ok_or_else(|| err("tip", "empty".into()))?;
        Ok(Tip {
            height: u32::try_from(self.headers.len() - 1).unwrap(),
            header,
        })
    }
    fn headers(&self, start: u32, count: u32) -> Result<Vec<Header>, SourceError> {
        Ok(self
            .headers
            .iter()
            .skip(start as usize)
            .take(count as usize)
            .copied()
            .collect())
    }
    fn histories(&self, scripts: &[ScriptBuf]) -> Result<Vec<Vec<HistoryItem>>, SourceError> {
        Ok(scripts
            .iter()
            .map(|s| self.history.get(s).cloned().unwrap_or_default())
            .collect())
    }
    fn unspents(&self, _scripts: &[ScriptBuf]) -> Result<Vec<Vec<Unspent>>, SourceError> {
        Err(err("unspents", "not served".into()))
    }
    fn raw_transactions(&self, txids: &[Txid]) -> Result<Vec<Vec<u8>>, SourceError> {
        txids
            .iter()
            .map(|t| {
                self.raw
                    .get(t)
                    .cloned()
                    .ok_or_else(|| err("transaction.get", format!("no transaction {t}")))
            })
            .collect()
    }
    fn merkle_proofs(&self, requests: &[(Txid, u32)]) -> Result<Vec<MerkleProof>, SourceError> {
        requests
            .iter()
            .map(|(t, _)| {
                let (block_height, pos) = self.place[t];
                Ok(MerkleProof {
                    txid: *t,
                    block_height,
                    pos,
                    branch: self.branches[t].clone(),
                })
            })
            .collect()
    }
    fn broadcast(&self, _raw_tx: &[u8]) -> Result<Txid, SourceError> {
        Err(err("broadcast", "not served".into()))
    }
    fn relay_fee(&self) -> Result<SatPerKvb, SourceError> {
        Ok(SatPerKvb(1000))
    }
    fn estimate_fee(&self, _blocks: u16) -> Result<Option<SatPerKvb>, SourceError> {
        Ok(None)
    }
}

fn script(n: u32) -> ScriptBuf {
    let mut h = [0u8; 20];
    h[..4].copy_from_slice(&n.to_le_bytes());
    ScriptBuf::new_p2wpkh(&WPubkeyHash::from_byte_array(h))
}

fn tx(input: OutPoint, outputs: Vec<TxOut>, tag: u32) -> Transaction {
    Transaction {
        version: transaction::Version::TWO,
        lock_time: LockTime::from_consensus(tag),
        input: vec![TxIn {
            previous_output: input,
            script_sig: ScriptBuf::new(),
            sequence: Sequence::MAX,
            witness: Witness::new(),
        }],
        output: outputs,
    }
}

/// Every merkle branch of a block's transactions, computed level by level.
fn all_branches(txids: &[Txid]) -> Vec<Vec<TxMerkleNode>> {
    let mut level: Vec<sha256d::Hash> = txids.iter().map(|t| t.to_raw_hash()).collect();
    let mut out = vec![Vec::new(); txids.len()];
    let mut index: Vec<usize> = (0..txids.len()).collect();
    while level.len() > 1 {
        if level.len() % 2 == 1 {
            level.push(level[level.len() - 1]);
        }
        for (i, idx) in index.iter_mut().enumerate() {
            out[i].push(TxMerkleNode::from_raw_hash(level[*idx ^ 1]));
            *idx /= 2;
        }
        level = level
            .chunks(2)
            .map(|p| {
                let mut e = sha256d::Hash::engine();
                e.input(p[0].as_ref());
                e.input(p[1].as_ref());
                sha256d::Hash::from_engine(e)
            })
            .collect();
    }
    out
}

struct Builder {
    chain: Indexed,
    next_script: u32,
}

impl Builder {
    fn mine(&mut self, txs: Vec<Transaction>) {
        let height = u32::try_from(self.chain.headers.len()).unwrap();
        let coinbase = tx(OutPoint::null(), vec![], height);
        let mut coinbase = coinbase;
        coinbase.input[0].script_sig = bitcoin::script::Builder::new()
            .push_int(i64::from(height))
            .into_script();
        coinbase.output.push(TxOut {
            value: Amount::from_sat(50_0000_0000),
            script_pubkey: script(u32::MAX),
        });
        let mut txdata = vec![coinbase];
        txdata.extend(txs);
        let ids: Vec<Txid> = txdata.iter().map(Transaction::compute_txid).collect();
        let prev = *self.chain.headers.last().unwrap();
        let mut header = Header {
            version: Version::from_consensus(0x2000_0000),
            prev_blockhash: prev.block_hash(),
            merkle_root: merkle_tree::calculate_root(ids.iter().map(|t| t.to_raw_hash()))
                .map(TxMerkleNode::from_raw_hash)
                .unwrap(),
            time: prev.time + 600,
            bits: CompactTarget::from_consensus(0x207f_ffff),
            nonce: 0,
        };
        while !header.target().is_met_by(header.block_hash()) {
            header.nonce += 1;
        }
        self.chain.headers.push(header);
        for ((pos, t), branch) in txdata.iter().enumerate().zip(all_branches(&ids)) {
            let id = ids[pos];
            self.chain.raw.insert(id, serialize(t));
            self.chain
                .place
                .insert(id, (height, u32::try_from(pos).unwrap()));
            self.chain.branches.insert(id, branch);
            let item = HistoryItem {
                txid: id,
                height: i64::from(height),
                fee: None,
            };
            for o in &t.output {
                self.chain
                    .history
                    .entry(o.script_pubkey.clone())
                    .or_default()
                    .push(item.clone());
            }
        }
        // Spenders appear in the history of the script they spend.
        for (t, id) in txdata.iter().zip(&ids) {
            for i in &t.input {
                let Some(parent) = self.chain.raw.get(&i.previous_output.txid) else {
                    continue;
                };
                let parent: Transaction = bitcoin::consensus::deserialize(parent).unwrap();
                let s = parent.output[i.previous_output.vout as usize]
                    .script_pubkey
                    .clone();
                self.chain.history.entry(s).or_default().push(HistoryItem {
                    txid: *id,
                    height: i64::from(height),
                    fee: None,
                });
            }
        }
    }

    fn outputs(&mut self, n: u32, value: u64) -> Vec<TxOut> {
        (0..n)
            .map(|_| {
                self.next_script += 1;
                TxOut {
                    value: Amount::from_sat(value),
                    script_pubkey: script(self.next_script),
                }
            })
            .collect()
    }
}

/// The chain and the seed transaction.
fn build() -> (Indexed, Txid, usize) {
    let genesis = genesis_block(Params::new(bitcoin::Network::Regtest)).header;
    let mut b = Builder {
        chain: Indexed {
            headers: vec![genesis],
            raw: HashMap::new(),
            place: HashMap::new(),
            branches: HashMap::new(),
            history: HashMap::new(),
        },
        next_script: 0,
    };
    b.mine(vec![]);
    let cb = *b.chain.place.iter().find(|(_, p)| p.0 == 1).unwrap().0;
    let mut value = 50_0000_0000u64;
    let outs = b.outputs(10, value / 10 - 1000);
    let seed = tx(OutPoint::new(cb, 0), outs, 0);
    let seed_id = seed.compute_txid();
    let mut level = vec![seed.clone()];
    b.mine(vec![seed]);
    let mut total = 1usize;
    for depth in 0..4u32 {
        value = value / 10 - 1000;
        let fan = if depth < 3 { 10 } else { 1 };
        let mut next = Vec::new();
        for parent in &level {
            let pid = parent.compute_txid();
            for vout in 0..10u32 {
                let outs = b.outputs(fan, value / u64::from(fan) - 1000);
                next.push(tx(OutPoint::new(pid, vout), outs, 0));
            }
        }
        total += next.len();
        b.mine(next.clone());
        level = next;
    }
    (b.chain, seed_id, total)
}

fn bench(c: &mut Criterion) {
    let (chain, seed, total) = build();
    assert!(total >= 10_000);
    let limits = Limits {
        hops: 6,
        max_txs: 20_000,
        ..Limits::default()
    };
    let mut g = c.benchmark_group("walk");
    g.sample_size(10);
    g.throughput(Throughput::Elements(total as u64));
    g.bench_function("forward_11111_txs", |bch| {
        bch.iter(|| {
            let t = trace(
                &chain,
                Network::Regtest,
                Direction::Forward,
                &[Start::Tx(seed)],
                &limits,
                &[],
                &mut |_| {},
            )
            .unwrap();
            assert_eq!(t.graph.len(), total);
            assert!(t.is_complete(), "{:?}", t.partial);
            t
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
