//! Export figures: `cargo run --release -p custos-index --example export_blocks -- BLOCKS_DIR
//! OUT_DIR [NETWORK] [UTXO_MEM_MIB]` exports a blocks directory and prints rows, blocks and
//! rows per second (scripts/spark/bench.sh runs it on the lab's tracing-large block files).
#![allow(clippy::print_stdout)]

use std::path::PathBuf;
use std::time::Instant;

use custos_index::{export, ExportOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [blocks, out, rest @ ..] = args.as_slice() else {
        return Err("usage: export_blocks BLOCKS_DIR OUT_DIR [NETWORK] [UTXO_MEM_MIB]".into());
    };
    let network = rest
        .first()
        .map_or(Ok(custos_core::Network::Regtest), |n| n.parse())?;
    let mut opts = ExportOptions::new(PathBuf::from(blocks), PathBuf::from(out), network);
    if let Some(mib) = rest.get(1) {
        opts.utxo_mem_bytes = mib.parse::<usize>()? << 20;
    }
    let started = Instant::now();
    let r = export(&opts, &mut |_| {})?;
    let ms = started.elapsed().as_millis().max(1);
    let rows = r.rows_written;
    let t = &r.manifest.totals;
    println!(
        "{{\"blocks\": {}, \"transactions\": {}, \"outputs\": {}, \"inputs\": {}, \"rows\": {rows}, \"ms\": {ms}, \"rows_per_s\": {}, \"spill_runs\": {}}}",
        t.blocks,
        t.transactions,
        t.outputs,
        t.inputs,
        u128::from(rows) * 1000 / ms,
        r.spill_runs
    );
    Ok(())
}
