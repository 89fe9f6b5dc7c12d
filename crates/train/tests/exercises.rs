//! Acceptance of the exercises: a scripted "perfect student" runs each exercise through the real
//! `custos` and `custos-signer` binaries against the lab chain and scores 100 %; planted mistakes
//! (a missed path, a wrong fee, a signed malicious PSBT, a tampered ledger, a case of another
//! scenario) lose exactly the points of their item, with the reason named. The ground truth is
//! the lab's own (`custos-lab truth`), never a value written here.
//!
//! Each run needs a fresh chain (a sweep spends the seized coins), so each test starts its own
//! in-process lab on 127.0.0.1 (the exercise scenarios are small: a few blocks after the premine).

use std::path::{Path, PathBuf};
use std::process::Command;

use custos_lab::class::Roster;
use custos_lab::{Lab, LabConfig};
use custos_testkit::{
    custos_command, fixtures, run, run_in, s, scratch, signer_command, workspace_bin,
};
use custos_train::{grade, Exercise, ItemId, ScoreSheet, Truth, Verdict};

fn bins() -> (PathBuf, PathBuf) {
    (
        workspace_bin("custos", "custos-cli"),
        workspace_bin("custos-signer", "custos-signer"),
    )
}

fn scenario_dir(name: &str) -> PathBuf {
    fixtures().join("lab").join(name)
}

/// A student's working directory, case and lab connection.
struct Student {
    work: PathBuf,
    case: PathBuf,
    url: String,
    custos: PathBuf,
    signer: PathBuf,
    scenario: &'static str,
    /// Where the student's material is (the scenario's folder, or their own in a class).
    material_dir: PathBuf,
}

/// How the scripted student goes wrong (if at all).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mistake {
    None,
    /// Inspects only the native segwit layout (`--paths bip84`).
    MissedPath,
    /// Sweeps at 50 sat/vB (the exercise allows 2–10).
    WrongFee,
    /// Signs the compromised workstation's PSBT with the policy it supplied, and finalizes it.
    SignedMalicious,
    /// One keyholder never verifies the assembled wallet.
    KeyholderSkipsVerify,
}

impl Student {
    fn new(name: &str, scenario: &'static str, lab: &Lab) -> Student {
        let (custos, signer) = bins();
        let work = scratch("train", name);
        Student {
            case: work.join("case"),
            work,
            url: lab.url(),
            custos,
            signer,
            scenario,
            material_dir: scenario_dir(scenario),
        }
    }

    /// A student of a class (`custos-lab class up`): their own material folder and lab, their
    /// case at `cases/<id>`.
    fn in_class(roster: &Roster, class: &Path, id: &str, cases: &Path) -> Student {
        let (custos, signer) = bins();
        let me = roster.students.iter().find(|s| s.id == id).unwrap();
        let work = scratch("train-class", id);
        Student {
            case: cases.join(id),
            work,
            url: format!("tcp://127.0.0.1:{}", me.port),
            custos,
            signer,
            scenario: "ex-01-passphrase-decoys",
            material_dir: class.join(&me.material),
        }
    }

    fn custos(&self, args: &[&str]) -> String {
        let mut c = custos_command(s(&self.custos));
        c.current_dir(&self.work)
            .arg("--case")
            .arg(&self.case)
            .args(args);
        let (code, out, err) = run(&mut c);
        assert_eq!(code, 0, "custos {args:?}: {out}{err}");
        out
    }

    fn signer(&self, args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
        let mut c = signer_command(&self.signer);
        c.current_dir(&self.work).args(args);
        run_in(&mut c, stdin)
    }

    fn material(&self, file: &str) -> String {
        s(&self.material_dir.join(file)).to_string()
    }

    fn open_case(&self) {
        let mut c = custos_command(s(&self.custos));
        c.current_dir(&self.work).args([
            "--network",
            "regtest",
            "case",
            "new",
            s(&self.case),
            "--case-id",
            "TRAIN-1",
            "--examiner",
            "student",
        ]);
        let (code, out, err) = run(&mut c);
        assert_eq!(code, 0, "{out}{err}");
    }

    /// Watch-only file of one piece of material on the signer, then an SPV-checked inventory.
    fn inspect(
        &self,
        tag: &str,
        material: &str,
        passphrase: Option<&str>,
        paths: &str,
    ) -> (i32, String) {
        let watch = format!("{tag}-watch.json");
        let mut args = vec![
            "material",
            "watch-only",
            "--input",
            material,
            "--network",
            "regtest",
            "--out",
            &watch,
        ];
        if let Some(p) = passphrase {
            args.extend(["--passphrase-file", p]);
        }
        let (code, out, err) = self.signer(&args, None);
        if code != 0 {
            return (code, format!("{out}{err}"));
        }
        let inv = format!("{tag}-inventory.json");
        self.custos(&[
            "--json", "inspect", &watch, "--server", &self.url, "--paths", paths, "--out", &inv,
        ]);
        (0, inv)
    }

    /// One keyholder's key (training entropy from a fixed string) in `dir`.
    fn keyholder(&self, dir: &str, label: &str) -> PathBuf {
        let d = self.work.join(dir);
        std::fs::create_dir_all(&d).unwrap();
        let entropy: [u8; 16] = sha16(&format!("{}-{dir}", self.work.display()));
        let mnemonic = bip39::Mnemonic::from_entropy(&entropy).unwrap().to_string();
        let ef = d.join("TRAINING-ONLY-entropy.hex");
        std::fs::write(&ef, hex::encode(entropy)).unwrap();
        let (code, out, err) = self.signer(
            &[
                "key",
                "generate",
                "--batch",
                "--words",
                "12",
                "--entropy-file",
                s(&ef),
                "--network",
                "regtest",
                "--out-dir",
                s(&d),
                "--label",
                label,
                "--challenge-file",
                "challenge.txt",
            ],
            Some(&format!("{mnemonic}\n")),
        );
        assert_eq!(code, 0, "{out}{err}");
        std::fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| {
                p.file_name().unwrap().to_string_lossy().starts_with("key-")
                    && p.extension().is_some_and(|x| x == "json")
            })
            .expect("a key record")
    }

    /// Three keyholders, 2-of-3; `in_case` records the assembly in the student's case (the
    /// attacker's assembly on the compromised workstation is not).
    fn ceremony(&self, prefix: &str, in_case: bool) -> (Vec<PathBuf>, PathBuf) {
        if !self.work.join("challenge.txt").exists() {
            std::fs::write(
                self.work.join("challenge.txt"),
                "custos custody ceremony TRAIN-1",
            )
            .unwrap();
        }
        let keys: Vec<PathBuf> = (1..=3)
            .map(|i| self.keyholder(&format!("{prefix}-keyholder-{i}"), &format!("{prefix} {i}")))
            .collect();
        let out_dir = format!("{prefix}-custody");
        let mut args = vec![
            "ceremony",
            "assemble",
            "--threshold",
            "2",
            "--out-dir",
            &out_dir,
            "--challenge-file",
            "challenge.txt",
            "--name",
            "lab-custody",
        ];
        args.extend(keys.iter().map(|k| s(k)));
        if in_case {
            self.custos(&args);
        } else {
            let mut c = custos_command(s(&self.custos));
            c.current_dir(&self.work)
                .args(["--network", "regtest"])
                .args(&args);
            let (code, out, err) = run(&mut c);
            assert_eq!(code, 0, "{out}{err}");
        }
        (keys, self.work.join(out_dir).join("custody-policy.json"))
    }

    /// Each keyholder verifies the assembled wallet on their signer; the examiner imports the
    /// transcripts.
    fn keyholders_verify(&self, keys: &[PathBuf], policy: &Path) {
        for (i, k) in keys.iter().enumerate() {
            let t = self.work.join(format!("verify-{i}.jsonl"));
            let who = format!("keyholder-{i}");
            let (code, out, err) = self.signer(
                &[
                    "ceremony",
                    "verify",
                    s(policy),
                    "--key-record",
                    s(k),
                    "--transcript",
                    s(&t),
                    "--who",
                    &who,
                ],
                None,
            );
            assert_eq!(code, 0, "{out}{err}");
            self.custos(&["ceremony", "import-transcript", s(&t)]);
        }
    }

    /// `custos sweep build`; returns the PSBT files.
    fn sweep(
        &self,
        inventory: &str,
        policy: &Path,
        fee_rate: &str,
        out_dir: &str,
        in_case: bool,
    ) -> Vec<String> {
        let args = [
            "--json",
            "sweep",
            "build",
            "--inventory",
            inventory,
            "--custody",
            s(policy),
            "--fee-rate",
            fee_rate,
            "--server",
            &self.url,
            "--out-dir",
            out_dir,
        ];
        let out = if in_case {
            self.custos(&args)
        } else {
            let mut c = custos_command(s(&self.custos));
            c.current_dir(&self.work)
                .args(["--network", "regtest"])
                .args(args);
            let (code, out, err) = run(&mut c);
            assert_eq!(code, 0, "{out}{err}");
            out
        };
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        v["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap().to_string())
            .collect()
    }

    /// Signs, finalizes, broadcasts, mines and watches each PSBT.
    fn sign_and_send(&self, lab: &Lab, psbts: &[String], seed: &str, policy: &Path) {
        let mut txids = Vec::new();
        for p in psbts {
            let (code, out, err) = self.signer(
                &["sign", p, "--material", seed, "--policy", s(policy)],
                None,
            );
            assert_eq!(code, 0, "{out}{err}");
            let signed = p.trim_end_matches(".psbt").to_string() + "-signed.psbt";
            self.custos(&["psbt", "finalize", &signed]);
            let fin = p.trim_end_matches(".psbt").to_string() + "-final.txn";
            let v: serde_json::Value = serde_json::from_str(&self.custos(&[
                "--json",
                "broadcast",
                &fin,
                "--server",
                &self.url,
            ]))
            .unwrap();
            txids.push(v["txid"].as_str().unwrap().to_string());
        }
        lab.mine(1).unwrap();
        for t in &txids {
            self.custos(&[
                "watch",
                t,
                "--confirmations",
                "1",
                "--interval",
                "1",
                "--give-up-after",
                "60",
                "--server",
                &self.url,
            ]);
        }
    }

    fn grade(&self, truth: &Truth) -> ScoreSheet {
        let ex = Exercise::load(&scenario_dir(self.scenario)).unwrap();
        grade(&self.case, truth, &ex).unwrap()
    }
}

fn sha16(text: &str) -> [u8; 16] {
    use sha2::Digest;
    let d = sha2::Sha256::digest(text.as_bytes());
    let mut out = [0u8; 16];
    out.copy_from_slice(&d[..16]);
    out
}

fn truth_of(lab: &Lab) -> Truth {
    Truth::from_toml(&lab.ground_truth().to_toml().unwrap()).unwrap()
}

/// The whole of exercise 4, with one planted mistake (or none).
fn run_ex04(name: &str, mistake: Mistake) -> (Student, Truth) {
    let lab = Lab::start(LabConfig::scenario("ex-04-compromised-workstation")).unwrap();
    let st = Student::new(name, "ex-04-compromised-workstation", &lab);
    st.open_case();
    let seed = st.material("seed.txt");
    let paths = if mistake == Mistake::MissedPath {
        "bip84"
    } else {
        "all"
    };
    let (code, inv) = st.inspect("seized", &seed, None, paths);
    assert_eq!(code, 0, "{inv}");
    let (_, policy) = st.ceremony("custody", true);
    // The compromised workstation: its own "custody" wallet and a sweep paying it.
    let (_, evil_policy) = st.ceremony("attacker", false);
    let evil = st.sweep(&inv, &evil_policy, "5", "incoming", false);
    let fee = if mistake == Mistake::WrongFee {
        "50"
    } else {
        "5"
    };
    let genuine = st.sweep(&inv, &policy, fee, "sweep", true);
    for p in &evil {
        if mistake == Mistake::SignedMalicious {
            // The student trusts the policy file the workstation handed over.
            let (code, out, err) = st.signer(
                &["sign", p, "--material", &seed, "--policy", s(&evil_policy)],
                None,
            );
            assert_eq!(code, 0, "{out}{err}");
            st.custos(&[
                "psbt",
                "finalize",
                &(p.trim_end_matches(".psbt").to_string() + "-signed.psbt"),
            ]);
        } else {
            let (code, out, err) = st.signer(
                &[
                    "--json",
                    "sign",
                    p,
                    "--material",
                    &seed,
                    "--policy",
                    s(&policy),
                ],
                None,
            );
            assert_eq!(
                code, 1,
                "the signer must refuse the attacker's PSBT: {out}{err}"
            );
            let refusal = st.work.join("refusal.json");
            std::fs::write(&refusal, &out).unwrap();
            let script = fixtures().join("../scripts/train/record-refusal.sh");
            let (code, out, err) = run(Command::new("bash")
                .arg(&script)
                .args([s(&st.case), p.as_str(), s(&refusal), "student"])
                .current_dir(&st.work)
                .env("CUSTOS", &st.custos)
                .env("CUSTOS_LOG", "error"));
            assert_eq!(code, 0, "{out}{err}");
        }
    }
    st.sign_and_send(&lab, &genuine, &seed, &policy);
    let truth = truth_of(&lab);
    (st, truth)
}

fn assert_full_marks_except(sheet: &ScoreSheet, lost: Option<ItemId>, reason_has: &str) {
    assert_eq!(sheet.verdict, Verdict::Graded, "{}", sheet.to_text());
    for i in &sheet.items {
        if Some(i.id) == lost {
            assert_eq!(i.points, 0, "{}", sheet.to_text());
            assert!(
                i.reason.contains(reason_has),
                "reason {:?} lacks {reason_has:?}",
                i.reason
            );
        } else {
            assert_eq!(i.points, i.max, "{}", sheet.to_text());
        }
    }
    let lost_points = lost.and_then(|id| sheet.item(id)).map_or(0, |i| i.max);
    assert_eq!(sheet.total, sheet.max - lost_points, "{}", sheet.to_text());
}

#[test]
fn ex04_perfect_student_scores_full_marks_and_a_tampered_export_scores_zero() {
    let (st, truth) = run_ex04("ex04-perfect", Mistake::None);
    let sheet = st.grade(&truth);
    assert_full_marks_except(&sheet, None, "");
    assert_eq!(sheet.percent(), 100);
    assert!(sheet
        .item(ItemId::Refusal)
        .unwrap()
        .reason
        .contains("refused on the signer"));
    assert!(
        sheet
            .item(ItemId::Sweep)
            .unwrap()
            .reason
            .contains("left out"),
        "{}",
        sheet.to_text()
    );

    // The same case exported grades the same; its ledger edited, it scores zero, naming why.
    let export = st.work.join("export");
    st.custos(&["case", "export", s(&export)]);
    let ex = Exercise::load(&scenario_dir(st.scenario)).unwrap();
    assert_eq!(grade(&export, &truth, &ex).unwrap().total, sheet.max);
    let ledger = export.join("ledger.jsonl");
    let text = std::fs::read_to_string(&ledger).unwrap();
    let tampered = text.replacen(
        "\"fee_rate_sat_per_kvb\":5000",
        "\"fee_rate_sat_per_kvb\":4000",
        1,
    );
    assert_ne!(tampered, text, "the sweep event carries its fee rate");
    std::fs::write(&ledger, tampered).unwrap();
    let bad = grade(&export, &truth, &ex).unwrap();
    assert_eq!(
        (bad.verdict, bad.total),
        (Verdict::LedgerFails, 0),
        "{}",
        bad.to_text()
    );
    assert!(bad
        .items
        .iter()
        .all(|i| i.points == 0 && i.reason.starts_with("case verify fails")));

    // The same case graded against another exercise's scenario is named as such and scores zero.
    let other = Truth::from_toml(
        &std::fs::read_to_string(scenario_dir("ex-03-three-keyholders").join("ground-truth.toml"))
            .unwrap(),
    )
    .unwrap();
    let foreign = grade(
        &st.case,
        &other,
        &Exercise::load(&scenario_dir("ex-03-three-keyholders")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        (foreign.verdict, foreign.total),
        (Verdict::OtherScenario, 0)
    );
    assert!(
        foreign.items[0].reason.contains("another scenario"),
        "{}",
        foreign.to_text()
    );

    // Through the lab binary: text, JSON and HTML; a missing export and an unknown student exit 2.
    let lab_bin = workspace_bin("custos-lab", "custos-lab");
    let truth_file = st.work.join("truth.toml");
    std::fs::write(
        &truth_file,
        std::fs::read_to_string(scenario_dir(st.scenario).join("ground-truth.toml")).unwrap(),
    )
    .unwrap();
    let html = st.work.join("sheet.html");
    let (code, out, err) = run(Command::new(&lab_bin).args([
        "grade",
        "--scenario",
        st.scenario,
        "--truth",
        s(&truth_file),
        s(&st.case),
        "--json",
        "--html",
        s(&html),
    ]));
    assert_eq!(code, 0, "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["percent"], 100, "{out}");
    assert!(std::fs::read_to_string(&html)
        .unwrap()
        .contains("malicious PSBT refused"));
    let (code, _, err) = run(Command::new(&lab_bin).args([
        "grade",
        "--scenario",
        st.scenario,
        "--truth",
        s(&truth_file),
        s(&st.work.join("no-such-export")),
    ]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no-such-export"), "{err}");
    let (code, _, err) = run(Command::new(&lab_bin).args([
        "grade",
        "--scenario",
        st.scenario,
        "--student",
        "nobody",
        s(&st.case),
    ]));
    assert_eq!(code, 2, "{err}");
    let (code, out, _) = run(Command::new(&lab_bin).args([
        "grade",
        "--scenario",
        st.scenario,
        "--truth",
        s(&truth_file),
        s(&export),
    ]));
    assert_eq!(code, 1, "a tampered export is a finding: {out}");
}

#[test]
fn ex04_missed_legacy_path_loses_only_the_paths_item() {
    let (st, truth) = run_ex04("ex04-missed-path", Mistake::MissedPath);
    let sheet = st.grade(&truth);
    assert_full_marks_except(&sheet, Some(ItemId::Paths), "m/44'/1'/0'/0/0");
}

#[test]
fn ex04_wrong_fee_loses_only_the_fee_item() {
    let (st, truth) = run_ex04("ex04-wrong-fee", Mistake::WrongFee);
    let sheet = st.grade(&truth);
    assert_full_marks_except(&sheet, Some(ItemId::Fee), "50.000 sat/vB");
}

#[test]
fn ex04_signed_malicious_psbt_loses_only_the_refusal_item() {
    let (st, truth) = run_ex04("ex04-signed-malicious", Mistake::SignedMalicious);
    let sheet = st.grade(&truth);
    assert_full_marks_except(&sheet, Some(ItemId::Refusal), "outside the custody wallet");
}

fn run_ex03(name: &str, mistake: Mistake) -> (Student, Truth) {
    let lab = Lab::start(LabConfig::scenario("ex-03-three-keyholders")).unwrap();
    let st = Student::new(name, "ex-03-three-keyholders", &lab);
    st.open_case();
    let seed = st.material("seed.txt");
    let (code, inv) = st.inspect("seized", &seed, None, "all");
    assert_eq!(code, 0, "{inv}");
    let (keys, policy) = st.ceremony("custody", true);
    let verifying = if mistake == Mistake::KeyholderSkipsVerify {
        &keys[..2]
    } else {
        &keys[..]
    };
    st.keyholders_verify(verifying, &policy);
    let psbts = st.sweep(&inv, &policy, "3", "sweep", true);
    st.sign_and_send(&lab, &psbts, &seed, &policy);
    let truth = truth_of(&lab);
    (st, truth)
}

#[test]
fn ex03_three_keyholders_perfect_run_scores_full_marks() {
    let (st, truth) = run_ex03("ex03-perfect", Mistake::None);
    assert_full_marks_except(&st.grade(&truth), None, "");
}

#[test]
fn ex03_keyholder_who_never_verified_loses_only_the_keyholders_item() {
    let (st, truth) = run_ex03("ex03-skip", Mistake::KeyholderSkipsVerify);
    assert_full_marks_except(
        &st.grade(&truth),
        Some(ItemId::Keyholders),
        "2 of 3 keyholders",
    );
}

#[test]
fn ex01_perfect_student_finds_the_passphrase_wallet_and_the_electrum_seed() {
    let lab = Lab::start(LabConfig::scenario("ex-01-passphrase-decoys")).unwrap();
    let st = Student::new("ex01-perfect", "ex-01-passphrase-decoys", &lab);
    st.open_case();
    let seed = st.material("seed.txt");
    let pass = st.material("passphrase.txt");
    assert_eq!(st.inspect("card", &seed, None, "all").0, 0);
    assert_eq!(st.inspect("hidden", &seed, Some(&pass), "all").0, 0);
    assert_eq!(
        st.inspect("electrum", &st.material("electrum-seed.txt"), None, "all")
            .0,
        0
    );
    assert_eq!(
        st.inspect("decoy", &st.material("decoy-seed.txt"), None, "all")
            .0,
        0
    );
    let (code, why) = st.inspect("receipt", &st.material("decoy-words.txt"), None, "all");
    assert_eq!(
        code, 2,
        "twelve words that are no seed are refused as input: {why}"
    );
    let truth = truth_of(&lab);
    assert_full_marks_except(&st.grade(&truth), None, "");
}

#[test]
fn ex01_student_who_ignores_the_passphrase_misses_the_hidden_wallet() {
    let lab = Lab::start(LabConfig::scenario("ex-01-passphrase-decoys")).unwrap();
    let st = Student::new("ex01-nopass", "ex-01-passphrase-decoys", &lab);
    st.open_case();
    let seed = st.material("seed.txt");
    assert_eq!(st.inspect("card", &seed, None, "all").0, 0);
    assert_eq!(
        st.inspect("electrum", &st.material("electrum-seed.txt"), None, "all")
            .0,
        0
    );
    let sheet = st.grade(&truth_of(&lab));
    let m = sheet.item(ItemId::Material).unwrap();
    assert_eq!(m.points, 0);
    assert!(
        m.reason.contains("with its passphrase"),
        "{}",
        sheet.to_text()
    );
    assert_eq!(sheet.item(ItemId::Totals).unwrap().points, 0);
    assert!(sheet.item(ItemId::Paths).unwrap().reason.contains("missed"));
}

/// The committed ground truth of every exercise scenario is what a fresh build of its chain
/// (validated by Bitcoin Core's kernel) gives.
#[test]
fn exercise_scenarios_match_their_committed_ground_truth() {
    for name in [
        "ex-01-passphrase-decoys",
        "ex-03-three-keyholders",
        "ex-04-compromised-workstation",
        "ex-06-theft-to-exchange",
        "ex-07-second-examiner",
    ] {
        let lab = Lab::start(LabConfig::scenario(name)).unwrap();
        let committed =
            std::fs::read_to_string(scenario_dir(name).join("ground-truth.toml")).unwrap();
        assert_eq!(
            lab.ground_truth().to_toml().unwrap(),
            committed,
            "{name}: regenerate with custos-lab truth"
        );
        Exercise::load(&scenario_dir(name)).unwrap();
    }
}

#[test]
fn ex07_reviewer_who_finds_the_altered_sweep_summary_scores_full_marks() {
    let (custos, _) = bins();
    let lab_bin = workspace_bin("custos-lab", "custos-lab");
    let work = scratch("train", "ex07");
    let scripts = fixtures().join("../scripts/train");
    let handed = work.join("handed-over");
    let (code, out, err) = run(Command::new("bash")
        .arg(scripts.join("make-handover.sh"))
        .args([s(&handed), "ex-07-second-examiner"])
        .env("CUSTOS_LAB", &lab_bin));
    assert_eq!(code, 0, "{out}{err}");
    let name = "ex-07-second-examiner";
    let truth = Truth::from_toml(
        &std::fs::read_to_string(scenario_dir(name).join("ground-truth.toml")).unwrap(),
    )
    .unwrap();
    let ex = Exercise::load(&scenario_dir(name)).unwrap();

    // The handed-over case itself, graded as if it were a student's, fails verification.
    let handed_sheet = grade(&handed.join("case"), &truth, &ex).unwrap();
    assert_eq!(
        (handed_sheet.verdict, handed_sheet.total),
        (Verdict::LedgerFails, 0)
    );
    assert!(
        handed_sheet.items[0].reason.contains("altered"),
        "{}",
        handed_sheet.to_text()
    );

    let review = work.join("review");
    let lazy = work.join("lazy-review");
    for dir in [&review, &lazy] {
        let mut c = custos_command(s(&custos));
        c.args([
            "--network",
            "regtest",
            "case",
            "new",
            s(dir),
            "--case-id",
            "REVIEW-1",
            "--examiner",
            "reviewer",
        ]);
        assert_eq!(run(&mut c).0, 0);
    }
    let (code, out, err) = run(Command::new("bash")
        .arg(scripts.join("record-review.sh"))
        .args([s(&review), s(&handed.join("case")), "reviewer"])
        .env("CUSTOS", &custos)
        .env("CUSTOS_LOG", "error"));
    assert_eq!(code, 0, "{out}{err}");
    let sheet = grade(&review, &truth, &ex).unwrap();
    assert_full_marks_except(&sheet, None, "");
    assert!(sheet
        .item(ItemId::Review)
        .unwrap()
        .reason
        .contains("sweep.build"));

    // A reviewer who records nothing loses exactly the review item.
    let lazy_sheet = grade(&lazy, &truth, &ex).unwrap();
    assert_full_marks_except(&lazy_sheet, Some(ItemId::Review), "no review finding");
}

/// The ex-01 work of a student who finds everything (`with_passphrase`) or ignores the
/// passphrase found in the notebook.
fn ex01_inspections(st: &Student, with_passphrase: bool) {
    st.open_case();
    let seed = st.material("seed.txt");
    assert_eq!(st.inspect("card", &seed, None, "all").0, 0);
    if with_passphrase {
        let pass = st.material("passphrase.txt");
        assert_eq!(st.inspect("hidden", &seed, Some(&pass), "all").0, 0);
    }
    let electrum = st.material("electrum-seed.txt");
    assert_eq!(st.inspect("electrum", &electrum, None, "all").0, 0);
}

/// A class of three on their own variants and labs (`class up` as a process): a perfect
/// student, one who ignores the passphrase, one without a case. `class report` grades all three
/// into one table (CSV parsed here); a case graded against another student's variant scores
/// zero and is named as such; an id off the roster and a missing case exit 2.
#[test]
fn class_report_grades_every_student_of_a_class_on_their_own_variant() {
    let lab_bin = workspace_bin("custos-lab", "custos-lab");
    let work = scratch("train", "class");
    let class = work.join("class");
    let _class = custos_testkit::lab::start_class(&lab_bin, "ex-01-passphrase-decoys", 3, &class);
    let roster = Roster::load(&class).unwrap();
    let ids: Vec<&str> = roster.students.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["s01", "s02", "s03"]);
    let ports: std::collections::BTreeSet<u16> = roster.students.iter().map(|s| s.port).collect();
    assert_eq!(ports.len(), 3, "one lab each");
    let cases = work.join("cases");
    std::fs::create_dir_all(&cases).unwrap();
    ex01_inspections(&Student::in_class(&roster, &class, "s01", &cases), true);
    ex01_inspections(&Student::in_class(&roster, &class, "s02", &cases), false);

    let (csv, html) = (work.join("report.csv"), work.join("report.html"));
    let report = |extra: &[&str]| {
        let mut c = Command::new(&lab_bin);
        c.args(["class", "report", "--dir", s(&class), "--cases", s(&cases)])
            .args(extra);
        run(&mut c)
    };
    let (code, out, err) = report(&["--csv", s(&csv), "--html", s(&html)]);
    assert_eq!(code, 0, "{out}{err}");
    let text = std::fs::read_to_string(&csv).unwrap();
    let rows: Vec<Vec<&str>> = text
        .lines()
        .map(|l| l.split(',').collect::<Vec<_>>())
        .collect();
    assert_eq!(
        rows[0][..9],
        ["student", "verdict", "score", "max", "ledger", "material", "paths", "totals", "spv"]
    );
    assert_eq!(rows.len(), 4, "{text}");
    assert_eq!(
        rows[1][..9],
        ["s01", "graded", "100", "100", "10", "30", "25", "25", "10"]
    );
    assert_eq!(
        rows[2][..9],
        ["s02", "graded", "20", "100", "10", "0", "0", "0", "10"]
    );
    assert!(rows[2][9].contains("with its passphrase"), "{text}");
    assert_eq!(rows[3][..4], ["s03", "no case", "0", "100"]);
    assert!(std::fs::read_to_string(&html)
        .unwrap()
        .contains("<td>s03</td>"));
    // Never overwritten: the second report writes neither file.
    let other_html = work.join("other.html");
    let (code, _, err) = report(&["--csv", s(&csv), "--html", s(&other_html)]);
    assert_eq!(code, 2, "{err}");
    assert!(!other_html.exists());

    let grade = |student: &str, case: &Path| {
        let mut c = Command::new(&lab_bin);
        c.args([
            "grade",
            "--scenario",
            "ex-01-passphrase-decoys",
            "--student",
            student,
        ])
        .args(["--class", s(&class), s(case)]);
        run(&mut c)
    };
    // s01's case is perfect on s01's variant, and a case of another variant on s02's.
    let (code, out, err) = grade("s01", &cases.join("s01"));
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, _) = grade("s02", &cases.join("s01"));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("another student's variant"), "{out}");
    let (code, _, err) = grade("s99", &cases.join("s01"));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("unknown student"), "{err}");
    let (code, _, err) = grade("s03", &cases.join("s03"));
    assert_eq!(code, 2, "a missing case: {err}");
}

/// ex-06: the student inspects the thief's seed and traces forward from its first address with
/// the label pack; `coinjoin_detection` off is the planted mistake (a trace that walks through
/// the CoinJoin as if it were an ordinary payment).
fn run_ex06(name: &str, coinjoin_detection: bool) -> (Student, Truth) {
    let lab = Lab::start(LabConfig::scenario("ex-06-theft-to-exchange")).unwrap();
    let st = Student::new(name, "ex-06-theft-to-exchange", &lab);
    st.open_case();
    let (code, inv) = st.inspect("thief", &st.material("seed.txt"), None, "bip84");
    assert_eq!(code, 0, "{inv}");
    let truth = truth_of(&lab);
    let first = &truth
        .wallets
        .iter()
        .find(|w| w.id == "thief")
        .unwrap()
        .addresses
        .iter()
        .find(|a| a.path.ends_with("/0/0"))
        .unwrap()
        .address;
    let labels = st.material("labels.yaml");
    let mut args = vec![
        "trace", "forward", first, "--server", &st.url, "--labels", &labels, "--taint", "haircut",
    ];
    if !coinjoin_detection {
        args.extend([
            "--no-heuristic",
            "coinjoin-joinmarket",
            "--no-heuristic",
            "coinjoin-equal-output",
            "--no-heuristic",
            "coinjoin-wasabi",
            "--no-heuristic",
            "coinjoin-whirlpool",
        ]);
    }
    st.custos(&args);
    (st, truth)
}

#[test]
fn ex06_perfect_tracer_reaches_the_exchange_reports_the_coinjoin_and_the_exact_taint() {
    let (st, truth) = run_ex06("ex06-perfect", true);
    let sheet = st.grade(&truth);
    assert_full_marks_except(&sheet, None, "");
    assert!(sheet
        .item(ItemId::TraceTaint)
        .unwrap()
        .reason
        .contains("70000000 sat, exact"));
}

#[test]
fn ex06_tracer_with_coinjoin_detection_off_loses_only_the_coinjoin_item() {
    let (st, truth) = run_ex06("ex06-nocj", false);
    assert_full_marks_except(
        &st.grade(&truth),
        Some(ItemId::TraceCoinjoin),
        "does not report the CoinJoin",
    );
}
