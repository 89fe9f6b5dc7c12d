//! `custos-signer sign` refusals end to end (issue 10 item 2): exit 1 naming what is wrong,
//! nothing written; a far lock time passes only with `--allow-locktime`, and the summary always
//! shows the lock time in words.

use std::path::{Path, PathBuf};

use bitcoin::{absolute::LockTime, Amount, Psbt};
use custos_testkit::{interop, scratch, signer_bin};

/// The interop wsh sweep, changed by `f`, written to `dir/name`.
fn psbt_file(dir: &Path, name: &str, f: impl FnOnce(&mut Psbt)) -> PathBuf {
    let bytes = std::fs::read(interop("sweep-mixed-wsh.psbt")).unwrap();
    let mut p = custos_tx::psbt_io::parse_any(&bytes).unwrap();
    f(&mut p);
    let path = dir.join(name);
    std::fs::write(&path, p.serialize()).unwrap();
    path
}

fn verify(psbt: &Path, extra: &[&str]) -> (i32, String, String) {
    let o = signer_bin!()
        .arg("sign")
        .arg(psbt)
        .arg("--policy")
        .arg(interop("custody-wsh.policy.json"))
        .arg("--verify-only")
        .args(extra)
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn far_lock_time_exits_1_until_allowed_and_is_shown_in_words() {
    let d = scratch("sign", "locktime");
    let honest = psbt_file(&d, "honest.psbt", |_| {});
    let (code, out, err) = verify(&honest, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("lock time: not before block height"), "{out}");
    let far = psbt_file(&d, "far.psbt", |p| {
        p.unsigned_tx.lock_time = LockTime::from_height(400_000).unwrap();
    });
    let (code, _, err) = verify(&far, &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("nlocktime") && err.contains("400000"), "{err}");
    let (code, out, err) = verify(&far, &["--allow-locktime"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("not before block height 400000"), "{out}");
    let (code, _, err) = verify(&far, &["--tip-height", "399500"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        std::fs::read_dir(&d).unwrap().count() == 2,
        "nothing written"
    );
}

#[test]
fn dust_output_and_oversized_amount_exit_1_naming_the_output() {
    let d = scratch("sign", "dust");
    let dust = psbt_file(&d, "dust.psbt", |p| {
        p.unsigned_tx.output[0].value = Amount::from_sat(100);
    });
    let (code, _, err) = verify(&dust, &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("output 0") && err.contains("dust"), "{err}");
    let huge = psbt_file(&d, "huge.psbt", |p| {
        p.unsigned_tx.output[0].value = Amount::MAX_MONEY + Amount::from_sat(1);
    });
    let (code, _, err) = verify(&huge, &[]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("output 0") && err.contains("21 million"),
        "{err}"
    );
}
