//! Electrum server replies (JSON), from a server we do not trust. The JSON-RPC framing and the
//! typed decoding are electrum-client's; fuzzed here are those decodings (reached by every reply)
//! and our conversions after them: fee values (`btc_per_kvb_to_sat`), merkle proofs
//! (`verify_merkle_proof`), raw transactions (`check_tx_bytes`) and header chains
//! (`VerifiedChain::extend`).
use bitcoin::Network;
use bitcoin::{block::Header, consensus::deserialize, hashes::Hash, Transaction, TxMerkleNode};
use custos_chain::{electrum::btc_per_kvb_to_sat, spv, VerifiedChain};
use custos_core::source::MerkleProof;
use custos_fuzz::{main as fuzz_main, Target};
use electrum_client::{GetHistoryRes, GetMerkleRes, HeaderNotification, ListUnspentRes};

fn merkle(m: GetMerkleRes) -> String {
    let (Ok(block_height), Ok(pos)) = (u32::try_from(m.block_height), u32::try_from(m.pos)) else {
        return "merkle out of range".into();
    };
    let proof = MerkleProof {
        txid: bitcoin::Txid::all_zeros(),
        block_height,
        pos,
        branch: m
            .merkle
            .into_iter()
            .map(|mut b| {
                b.reverse();
                TxMerkleNode::from_byte_array(b)
            })
            .collect(),
    };
    let genesis = spv::genesis_header(Network::Regtest);
    match spv::verify_merkle_proof(&proof, block_height, &genesis) {
        Ok(()) => "merkle ok".into(),
        Err(e) => format!("merkle err {e}"),
    }
}

/// A hex string reply: a raw transaction (`blockchain.transaction.get`) or concatenated headers
/// (`blockchain.block.headers`).
fn hex_reply(h: &str) -> String {
    let Ok(bytes) = hex::decode(h) else {
        return "hex bad".into();
    };
    let mut s = String::new();
    if let Ok(tx) = deserialize::<Transaction>(&bytes) {
        s.push_str(&format!(
            "tx {} ",
            spv::check_tx_bytes(&tx.compute_txid(), &bytes).is_ok()
        ));
    } else {
        s.push_str(&format!(
            "tx err {} ",
            spv::check_tx_bytes(&bitcoin::Txid::all_zeros(), &bytes).is_ok()
        ));
    }
    if bytes.len() % 80 == 0 && !bytes.is_empty() {
        let headers: Vec<Header> = bytes
            .chunks(80)
            .filter_map(|c| deserialize::<Header>(c).ok())
            .collect();
        for net in [Network::Regtest, Network::Bitcoin] {
            let mut chain = VerifiedChain::new(net);
            let mut all = vec![spv::genesis_header(net)];
            all.extend(headers.iter().copied());
            match chain.extend(0, &all) {
                Ok(()) => s.push_str(&format!("headers ok {}", chain.len().min(3))),
                Err(e) => s.push_str(&format!("headers err {e}")),
            }
        }
    }
    s
}

fn run(data: &[u8]) -> String {
    let v: serde_json::Value = match serde_json::from_slice(data) {
        Ok(v) => v,
        Err(e) => return format!("json {:?}", e.classify()),
    };
    let mut s = format!("fee {}", btc_per_kvb_to_sat(&v).is_some());
    if let Ok(h) = serde_json::from_value::<Vec<Vec<GetHistoryRes>>>(v.clone()) {
        s.push_str(&format!(" history {}", h.len().min(2)));
    }
    if let Ok(u) = serde_json::from_value::<Vec<Vec<ListUnspentRes>>>(v.clone()) {
        let ok = u
            .iter()
            .flatten()
            .all(|i| u32::try_from(i.tx_pos).is_ok() && u32::try_from(i.height).is_ok());
        s.push_str(&format!(" unspent {ok}"));
    }
    if let Ok(m) = serde_json::from_value::<GetMerkleRes>(v.clone()) {
        s.push(' ');
        s.push_str(&merkle(m));
    }
    if let Ok(n) = serde_json::from_value::<HeaderNotification>(v.clone()) {
        s.push_str(&format!(" tip {}", u32::try_from(n.height).is_ok()));
    }
    if let Some(h) = v.as_str() {
        s.push(' ');
        s.push_str(&hex_reply(h));
    }
    s
}

fn main() {
    fuzz_main(Target {
        name: "electrum",
        tokens: &[
            "\"tx_hash\"",
            "\"height\"",
            "\"fee\"",
            "\"tx_pos\"",
            "\"value\"",
            "\"block_height\"",
            "\"pos\"",
            "\"merkle\"",
            "\"hex\"",
            "0.00001",
            "1e-8",
            "1E+30",
            "-1",
            "0.000000001",
            "[[",
            "]]",
            "\"0000000000000000000000000000000000000000000000000000000000000000\"",
            "ffffffff",
            "00000000",
        ],
        run,
    });
}
