//! Reading the cluster table the Spark job (`scripts/spark/cluster.py`) writes: a directory of
//! Parquet files with columns `address` (text), `cluster_id` (text: the cluster's smallest
//! address, as custos-trace names clusters) and `cluster_size` (INT64), plus `job.json` (the
//! job's parameters and the export manifest's hash it ran on).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;

use crate::Error;

/// One address's cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterRow {
    /// The address.
    pub address: String,
    /// Its cluster's id (the smallest address of the cluster).
    pub cluster_id: String,
    /// Addresses in the cluster (all of them, also those not loaded).
    pub cluster_size: u64,
}

/// The Parquet files of a table directory (`part-*.parquet`, or any `*.parquet`), sorted.
pub fn parquet_files(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let rd = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, "cannot read cluster table directory", e))?;
    let mut files: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(Error::BadTable {
            path: dir.to_path_buf(),
            reason: "no .parquet files".to_string(),
        });
    }
    Ok(files)
}

/// Reads the cluster table in `dir`, keeping only the rows whose address is in `only` (all
/// rows when `None`); sorted by address.
pub fn read_clusters(
    dir: &Path,
    only: Option<&BTreeSet<String>>,
) -> Result<Vec<ClusterRow>, Error> {
    let mut rows = BTreeMap::new();
    for path in parquet_files(dir)? {
        read_file(&path, only, &mut rows)?;
    }
    Ok(rows.into_values().collect())
}

fn read_file(
    path: &Path,
    only: Option<&BTreeSet<String>>,
    rows: &mut BTreeMap<String, ClusterRow>,
) -> Result<(), Error> {
    let pq = |source| Error::Parquet {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, "cannot open", e))?;
    let reader = SerializedFileReader::new(file).map_err(pq)?;
    let iter = reader.get_row_iter(None).map_err(pq)?;
    for row in iter {
        let row = row.map_err(pq)?;
        let (mut address, mut cluster_id, mut cluster_size) = (None, None, None);
        for (name, field) in row.get_column_iter() {
            match (name.as_str(), field) {
                ("address", Field::Str(s)) => address = Some(s.clone()),
                ("cluster_id", Field::Str(s)) => cluster_id = Some(s.clone()),
                ("cluster_size", Field::Long(n)) => cluster_size = u64::try_from(*n).ok(),
                ("cluster_size", Field::Int(n)) => cluster_size = u64::try_from(*n).ok(),
                _ => {}
            }
        }
        let (Some(address), Some(cluster_id), Some(cluster_size)) =
            (address, cluster_id, cluster_size)
        else {
            return Err(Error::BadTable {
                path: path.to_path_buf(),
                reason: "a row lacks address, cluster_id or cluster_size (text, text, integer)"
                    .to_string(),
            });
        };
        if only.is_some_and(|o| !o.contains(&address)) {
            continue;
        }
        rows.insert(
            address.clone(),
            ClusterRow {
                address,
                cluster_id,
                cluster_size,
            },
        );
    }
    Ok(())
}
