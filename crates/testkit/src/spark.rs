//! Running the PySpark jobs of `scripts/spark/` in local mode for tests. Spark needs `python3`
//! with `pyspark` and a Java runtime; without them the tests skip (saying so), unless
//! `CUSTOS_REQUIRE_LIVE=1`, when they fail.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Whether `python3 -c "import pyspark"` works and `java` runs; panics when they do not and
/// `CUSTOS_REQUIRE_LIVE=1`.
pub fn spark_available() -> bool {
    let py = Command::new("python3")
        .args(["-c", "import pyspark"])
        .output()
        .is_ok_and(|o| o.status.success());
    let java = Command::new("java")
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success());
    if py && java {
        return true;
    }
    crate::live_missing(&format!(
        "pyspark ({py}) or java ({java}) (scripts/install-deps.sh installs them)"
    ));
    false
}

/// `scripts/spark/<name>` in the repository.
pub fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scripts/spark")
        .join(name)
}

/// Runs `python3 scripts/spark/<name> ARGS… --master local[2] --shuffle-partitions 4`
/// (small data: Spark's default of 200 shuffle partitions costs more than the work); returns
/// exit code, stdout, stderr.
pub fn run_job(name: &str, args: &[&Path]) -> (i32, String, String) {
    let mut c = Command::new("python3");
    c.arg(script(name));
    c.args(args);
    c.args(["--master", "local[2]", "--shuffle-partitions", "4"]);
    crate::run(&mut c)
}
