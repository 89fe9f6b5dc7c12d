//! Lab scenario files: `Scenario::load` on a `scenario.toml` (read from a file, as
//! `custos-lab up --scenario` does) and `GroundTruth::from_toml` on a `ground-truth.toml`.
use std::{path::PathBuf, sync::OnceLock};

use custos_fuzz::{main as fuzz_main, outcome, text, Target};
use custos_lab::{GroundTruth, Scenario};

/// A file of this process in the temporary directory (Scenario::load reads a path).
fn scratch() -> &'static PathBuf {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("custos-fuzz-scenario-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir is writable");
        dir.join("scenario.toml")
    })
}

fn run(data: &[u8]) -> String {
    let path = scratch();
    if let Err(e) = std::fs::write(path, data) {
        return format!("write {e}");
    }
    let s = outcome(&Scenario::load(path), |s| s.steps.len().min(3).to_string());
    let Some(t) = text(data) else {
        return format!("{s} / not utf-8");
    };
    let g = outcome(&GroundTruth::from_toml(t), |_| String::new());
    format!("{s} / {g}")
}

fn main() {
    fuzz_main(Target {
        name: "scenario",
        tokens: &[
            "[[steps]]",
            "[[wallets]]",
            "premine = ",
            "name = ",
            "fund = ",
            "pay = ",
            "join = ",
            "mine = ",
            "flow = ",
            "peel = ",
            "coinjoin = ",
            "amount = ",
            "\"",
            "[",
            "]",
            "= 4294967295",
            "= -1",
            "= 1e400",
            "{",
            "}",
            "'''",
        ],
        run,
    });
}
