//! The SQLite schema of a case file.

/// Schema version written into `meta`.
pub(crate) const SCHEMA_VERSION: &str = "1";

/// Marker stored in `meta.format` to recognise a custos case.
pub(crate) const FORMAT: &str = "custos-case";

/// Creates the tables of a new case.
pub(crate) const CREATE: &str = "
CREATE TABLE meta (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
) STRICT;
CREATE TABLE ledger (
    seq       INTEGER PRIMARY KEY NOT NULL,
    time      TEXT NOT NULL,
    examiner  TEXT NOT NULL,
    host      TEXT NOT NULL,
    command   TEXT NOT NULL,
    kind      TEXT NOT NULL,
    payload   TEXT NOT NULL,
    artifacts TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
) STRICT;
CREATE TABLE artifacts (
    sha256 TEXT PRIMARY KEY NOT NULL,
    kind   TEXT NOT NULL,
    name   TEXT NOT NULL,
    size   INTEGER NOT NULL,
    data   BLOB NOT NULL
) STRICT;
CREATE TABLE cache (
    ns    TEXT NOT NULL,
    key   TEXT NOT NULL,
    value BLOB NOT NULL,
    PRIMARY KEY (ns, key)
) STRICT;
";
