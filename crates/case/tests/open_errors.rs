//! Opening something that is not a usable case fails with a clear message and changes nothing.

use custos_case::{Case, Error};

fn snapshot(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap_or_default(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn missing_directory_is_named() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("nope");
    let e = Case::open(&d).unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }));
    assert!(e.to_string().contains("nope"), "{e}");
}

#[test]
fn directory_without_case_file_is_named() {
    let t = tempfile::tempdir().unwrap();
    let e = Case::open(t.path()).unwrap_err();
    assert!(e.to_string().contains("case.sqlite"), "{e}");
}

#[test]
fn corrupt_database_is_reported_and_left_alone() {
    let t = tempfile::tempdir().unwrap();
    std::fs::write(t.path().join("case.sqlite"), b"this is not an sqlite database at all, just text....................................................").unwrap();
    let before = snapshot(t.path());
    let e = Case::open(t.path()).unwrap_err();
    assert!(matches!(e, Error::Corrupt { .. }), "{e:?}");
    assert!(e.to_string().contains("case.sqlite"), "{e}");
    assert_eq!(snapshot(t.path()), before);
}

#[test]
fn foreign_sqlite_file_is_not_a_case() {
    let t = tempfile::tempdir().unwrap();
    let p = t.path().join("case.sqlite");
    rusqlite::Connection::open(&p)
        .unwrap()
        .execute_batch("CREATE TABLE t(x); INSERT INTO t VALUES (1);")
        .unwrap();
    let before = snapshot(t.path());
    let e = Case::open(t.path()).unwrap_err();
    assert!(matches!(e, Error::NotACase { .. }), "{e:?}");
    assert_eq!(snapshot(t.path()), before);
}

#[test]
fn case_id_mismatch_is_named() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("c");
    Case::create(
        &d,
        &custos_core::ids::CaseId::new("A-1").unwrap(),
        &custos_core::ids::ExaminerId::new("x").unwrap(),
        custos_core::Network::Regtest,
        "test",
    )
    .unwrap();
    let e = Case::open_expecting(&d, "B-2").unwrap_err();
    let s = e.to_string();
    assert!(s.contains("A-1") && s.contains("B-2"), "{s}");
}

#[test]
fn create_refuses_to_overwrite() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("c");
    let id = custos_core::ids::CaseId::new("A-1").unwrap();
    let ex = custos_core::ids::ExaminerId::new("x").unwrap();
    Case::create(&d, &id, &ex, custos_core::Network::Regtest, "t").unwrap();
    let e = Case::create(&d, &id, &ex, custos_core::Network::Regtest, "t").unwrap_err();
    assert!(matches!(e, Error::AlreadyExists { .. }));
    assert_eq!(Case::open(&d).unwrap().events().unwrap().len(), 1);
}
