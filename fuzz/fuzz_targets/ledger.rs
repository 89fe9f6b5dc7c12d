//! Ledger rows from outside: a case export's `ledger.jsonl` (one `Event` per line) through the
//! hash-chain check `verify_chain` and its diagnosis of a broken chain, and `event_hash` /
//! `canonical_json` on each row.
use custos_core::ledger::{canonical_json, event_hash, verify_chain, Event};
use custos_fuzz::{main as fuzz_main, text, Target};

fn run(data: &[u8]) -> String {
    let Some(t) = text(data) else {
        return "not utf-8".into();
    };
    let mut rows: Vec<Event> = Vec::new();
    for (i, line) in t.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        match serde_json::from_str::<Event>(line) {
            Ok(e) => {
                let _ = event_hash(&e);
                let _ = canonical_json(&e.payload);
                rows.push(e);
            }
            Err(e) => return format!("line {i}: {:?}", e.classify()),
        }
    }
    match verify_chain(&rows) {
        Ok(()) => format!("ok {}", rows.len().min(3)),
        Err(f) => format!("fault {f} at {}", f.seq()),
    }
}

fn main() {
    fuzz_main(Target {
        name: "ledger",
        tokens: &[
            "\"seq\":",
            "\"prev_hash\":",
            "\"hash\":",
            "\"payload\":",
            "\"artifacts\":",
            "\"kind\":",
            "0000000000000000000000000000000000000000000000000000000000000000",
            "18446744073709551615",
            "0",
            "\n",
            "{\"a\":[1,{\"b\":null}]}",
        ],
        run,
    });
}
