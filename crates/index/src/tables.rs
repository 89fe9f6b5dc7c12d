//! The four Parquet tables of an export, written with the `parquet` crate's low-level column
//! writer (no Arrow): `blocks`, `transactions`, `outputs`, `inputs`. Every column is REQUIRED;
//! strings are UTF-8 byte arrays, sat values INT64 (21 M BTC is far below 2^63 sat). Row groups
//! are flushed every [`ROW_GROUP`] rows, so a writer holds at most that many rows in memory.
//! Files are Snappy-compressed, Spark's own default.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parquet::basic::Compression;
use parquet::column::writer::ColumnWriter;
use parquet::data_type::ByteArray;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;

use crate::Error;

/// Rows buffered before a row group is written.
pub const ROW_GROUP: usize = 65_536;

/// The tables, in the order they are written.
pub const TABLES: [&str; 4] = ["blocks", "transactions", "outputs", "inputs"];

/// The Parquet schema of a table.
pub fn schema(table: &str) -> &'static str {
    match table {
        "blocks" => {
            "message blocks { REQUIRED INT32 height; REQUIRED BYTE_ARRAY hash (UTF8); \
             REQUIRED BYTE_ARRAY prev_hash (UTF8); REQUIRED INT64 time; REQUIRED INT32 tx_count; \
             REQUIRED INT32 size; }"
        }
        "transactions" => {
            "message transactions { REQUIRED INT32 height; REQUIRED INT32 tx_index; \
             REQUIRED BYTE_ARRAY txid (UTF8); REQUIRED INT32 version; REQUIRED INT64 lock_time; \
             REQUIRED BOOLEAN coinbase; REQUIRED INT32 input_count; REQUIRED INT32 output_count; \
             REQUIRED INT64 vsize; REQUIRED INT64 fee; }"
        }
        "outputs" => {
            "message outputs { REQUIRED INT32 height; REQUIRED BYTE_ARRAY txid (UTF8); \
             REQUIRED INT32 vout; REQUIRED INT64 value; REQUIRED BYTE_ARRAY script_type (UTF8); \
             REQUIRED BYTE_ARRAY address (UTF8); }"
        }
        _ => {
            "message inputs { REQUIRED INT32 height; REQUIRED BYTE_ARRAY txid (UTF8); \
             REQUIRED INT32 vin; REQUIRED BYTE_ARRAY prev_txid (UTF8); REQUIRED INT32 prev_vout; \
             REQUIRED INT64 value; REQUIRED BYTE_ARRAY script_type (UTF8); \
             REQUIRED BYTE_ARRAY address (UTF8); REQUIRED INT64 sequence; }"
        }
    }
}

/// Script type codes, in the order custos-trace's `ScriptKind` classifies them.
pub const SCRIPT_TYPES: [&str; 8] = [
    "p2pkh",
    "p2sh",
    "p2wpkh",
    "p2wsh",
    "p2tr",
    "p2pk",
    "op_return",
    "other",
];

/// The code of a script's type (an index into [`SCRIPT_TYPES`]).
pub fn script_type(script: &bitcoin::Script) -> u8 {
    if script.is_p2pkh() {
        0
    } else if script.is_p2sh() {
        1
    } else if script.is_p2wpkh() {
        2
    } else if script.is_p2wsh() {
        3
    } else if script.is_p2tr() {
        4
    } else if script.is_p2pk() {
        5
    } else if script.is_op_return() {
        6
    } else {
        7
    }
}

/// The name of a script type code.
pub fn script_type_name(code: u8) -> &'static str {
    SCRIPT_TYPES.get(code as usize).copied().unwrap_or("other")
}

/// One cell of a row.
#[derive(Debug, Clone, Copy)]
pub enum Val<'a> {
    /// INT32.
    I32(i32),
    /// INT64.
    I64(i64),
    /// UTF-8 text.
    S(&'a str),
    /// BOOLEAN.
    B(bool),
}

enum Col {
    I32(Vec<i32>),
    I64(Vec<i64>),
    S(Vec<ByteArray>),
    B(Vec<bool>),
}

/// A Parquet file being written.
pub struct TableWriter {
    path: PathBuf,
    writer: Option<SerializedFileWriter<File>>,
    cols: Vec<Col>,
    buffered: usize,
    rows: u64,
}

impl std::fmt::Debug for TableWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableWriter")
            .field("path", &self.path)
            .field("rows", &self.rows)
            .finish()
    }
}

fn pq(path: &Path) -> impl Fn(parquet::errors::ParquetError) -> Error + '_ {
    move |source| Error::Parquet {
        path: path.to_path_buf(),
        source,
    }
}

impl TableWriter {
    /// Creates `path` (which must not exist) for `table`.
    pub fn create(path: &Path, table: &str) -> Result<TableWriter, Error> {
        let schema = Arc::new(parse_message_type(schema(table)).map_err(pq(path))?);
        let cols = schema
            .get_fields()
            .iter()
            .map(|f| match f.get_physical_type() {
                parquet::basic::Type::INT32 => Col::I32(Vec::new()),
                parquet::basic::Type::INT64 => Col::I64(Vec::new()),
                parquet::basic::Type::BOOLEAN => Col::B(Vec::new()),
                _ => Col::S(Vec::new()),
            })
            .collect();
        let props = Arc::new(
            WriterProperties::builder()
                .set_compression(Compression::SNAPPY)
                .set_created_by("custos-index".to_string())
                .build(),
        );
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|e| Error::io(path, "cannot create parquet file", e))?;
        let writer = SerializedFileWriter::new(file, schema, props).map_err(pq(path))?;
        Ok(TableWriter {
            path: path.to_path_buf(),
            writer: Some(writer),
            cols,
            buffered: 0,
            rows: 0,
        })
    }

    /// Appends a row; the cells must follow the schema's column order and types.
    pub fn push(&mut self, row: &[Val<'_>]) -> Result<(), Error> {
        debug_assert_eq!(row.len(), self.cols.len());
        for (col, v) in self.cols.iter_mut().zip(row) {
            match (col, v) {
                (Col::I32(c), Val::I32(x)) => c.push(*x),
                (Col::I64(c), Val::I64(x)) => c.push(*x),
                (Col::S(c), Val::S(x)) => c.push(ByteArray::from(x.as_bytes().to_vec())),
                (Col::B(c), Val::B(x)) => c.push(*x),
                _ => {
                    return Err(Error::BadTable {
                        path: self.path.clone(),
                        reason: "a row does not match the table's schema".to_string(),
                    })
                }
            }
        }
        self.buffered += 1;
        self.rows += 1;
        if self.buffered >= ROW_GROUP {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), Error> {
        if self.buffered == 0 {
            return Ok(());
        }
        let path = self.path.clone();
        let writer = self
            .writer
            .as_mut()
            .expect("the writer is open until finish");
        let mut rg = writer.next_row_group().map_err(pq(&path))?;
        for col in &mut self.cols {
            let mut cw = rg
                .next_column()
                .map_err(pq(&path))?
                .expect("the schema has a column for every buffer");
            match (cw.untyped(), col) {
                (ColumnWriter::Int32ColumnWriter(w), Col::I32(c)) => {
                    w.write_batch(c, None, None).map_err(pq(&path))?;
                    c.clear();
                }
                (ColumnWriter::Int64ColumnWriter(w), Col::I64(c)) => {
                    w.write_batch(c, None, None).map_err(pq(&path))?;
                    c.clear();
                }
                (ColumnWriter::ByteArrayColumnWriter(w), Col::S(c)) => {
                    w.write_batch(c, None, None).map_err(pq(&path))?;
                    c.clear();
                }
                (ColumnWriter::BoolColumnWriter(w), Col::B(c)) => {
                    w.write_batch(c, None, None).map_err(pq(&path))?;
                    c.clear();
                }
                _ => {
                    return Err(Error::BadTable {
                        path,
                        reason: "column buffer does not match the schema".to_string(),
                    })
                }
            }
            cw.close().map_err(pq(&path))?;
        }
        rg.close().map_err(pq(&path))?;
        self.buffered = 0;
        Ok(())
    }

    /// Writes the last row group and the footer; returns the row count.
    pub fn finish(mut self) -> Result<u64, Error> {
        self.flush()?;
        let path = self.path.clone();
        let writer = self.writer.take().expect("finish is called once");
        let file = writer.into_inner().map_err(pq(&path))?;
        file.sync_all()
            .map_err(|e| Error::io(&path, "cannot sync parquet file", e))?;
        Ok(self.rows)
    }
}

/// Reads every row of every `.parquet` file in `dir` (a table of an export, or a Spark
/// output), in file order. Meant for checks and small tables: it holds all rows in memory.
pub fn read_table(dir: &Path) -> Result<Vec<parquet::record::Row>, Error> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let mut rows = Vec::new();
    for path in crate::clusters::parquet_files(dir)? {
        let file = File::open(&path).map_err(|e| Error::io(&path, "cannot open", e))?;
        let reader = SerializedFileReader::new(file).map_err(pq(&path))?;
        for row in reader.get_row_iter(None).map_err(pq(&path))? {
            rows.push(row.map_err(pq(&path))?);
        }
    }
    Ok(rows)
}
