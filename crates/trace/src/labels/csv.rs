//! CSV label files: a header `address,label,category` optionally followed by `source` and/or
//! `confidence` columns, then one label per row. Quoting follows RFC 4180: a field may be
//! enclosed in double quotes, and then may hold commas, line breaks and doubled quotes (`""`).
//! Rows end with LF or CRLF; empty rows are skipped; a UTF-8 byte-order mark is ignored.

use custos_core::Network;

use super::{check_address, file_error, Label};
use crate::Error;

/// One parsed record: its first line and its fields.
struct Record {
    line: usize,
    fields: Vec<String>,
}

/// Splits CSV text into records (RFC 4180).
fn records(text: &str, file: &str) -> Result<Vec<Record>, Error> {
    let mut out = Vec::new();
    let mut chars = text
        .strip_prefix('\u{feff}')
        .unwrap_or(text)
        .chars()
        .peekable();
    let mut line = 1usize;
    while chars.peek().is_some() {
        let start = line;
        let mut fields = Vec::new();
        loop {
            let mut field = String::new();
            if chars.peek() == Some(&'"') {
                chars.next();
                loop {
                    match chars.next() {
                        Some('"') if chars.peek() == Some(&'"') => {
                            chars.next();
                            field.push('"');
                        }
                        Some('"') => break,
                        Some(c) => {
                            if c == '\n' {
                                line += 1;
                            }
                            field.push(c);
                        }
                        None => {
                            let col = format!("column {}", fields.len() + 1);
                            let problem = "quoted field is never closed";
                            return Err(file_error(file, start, &col, problem));
                        }
                    }
                }
                match chars.peek() {
                    None | Some(',' | '\n' | '\r') => {}
                    Some(c) => {
                        let col = format!("column {}", fields.len() + 1);
                        let problem = format!(
                            "`{c}` after a closing quote (quotes inside a field are doubled)"
                        );
                        return Err(file_error(file, line, &col, &problem));
                    }
                }
            } else {
                while let Some(&c) = chars.peek() {
                    if matches!(c, ',' | '\n' | '\r') {
                        break;
                    }
                    if c == '"' {
                        let col = format!("column {}", fields.len() + 1);
                        return Err(file_error(
                            file,
                            line,
                            &col,
                            "quote inside an unquoted field",
                        ));
                    }
                    field.push(c);
                    chars.next();
                }
            }
            fields.push(field);
            match chars.next() {
                Some(',') => continue,
                Some('\r') => {
                    if chars.peek() == Some(&'\n') {
                        chars.next();
                    }
                    line += 1;
                    break;
                }
                Some('\n') => {
                    line += 1;
                    break;
                }
                _ => break,
            }
        }
        if !(fields.len() == 1 && fields[0].trim().is_empty()) {
            out.push(Record {
                line: start,
                fields,
            });
        }
    }
    Ok(out)
}

/// Column positions from the header row.
struct Columns {
    count: usize,
    source: Option<usize>,
    confidence: Option<usize>,
}

fn columns(header: &Record, file: &str) -> Result<Columns, Error> {
    let names: Vec<String> = header
        .fields
        .iter()
        .map(|f| f.trim().to_ascii_lowercase())
        .collect();
    for (i, want) in ["address", "label", "category"].iter().enumerate() {
        if names.get(i).map(String::as_str) != Some(*want) {
            let problem = format!(
                "the header must start with address,label,category (column {} is `{}`)",
                i + 1,
                names.get(i).map_or("", String::as_str)
            );
            return Err(file_error(file, header.line, want, &problem));
        }
    }
    let mut cols = Columns {
        count: names.len(),
        source: None,
        confidence: None,
    };
    for (i, name) in names.iter().enumerate().skip(3) {
        let slot = match name.as_str() {
            "source" => &mut cols.source,
            "confidence" => &mut cols.confidence,
            other => {
                let problem = format!("unknown column `{other}` (expected source or confidence)");
                return Err(file_error(file, header.line, other, &problem));
            }
        };
        if slot.replace(i).is_some() {
            return Err(file_error(file, header.line, name, "column given twice"));
        }
    }
    Ok(cols)
}

/// Parses a CSV label file, checking every address for `network`.
pub fn parse_csv(text: &str, file: &str, network: Network) -> Result<Vec<Label>, Error> {
    let recs = records(text, file)?;
    let Some((header, rows)) = recs.split_first() else {
        return Err(file_error(
            file,
            1,
            "",
            "empty file (expected a header address,label,category)",
        ));
    };
    let cols = columns(header, file)?;
    let mut labels = Vec::with_capacity(rows.len());
    for row in rows {
        if row.fields.len() != cols.count {
            let problem = format!("{} fields, the header has {}", row.fields.len(), cols.count);
            return Err(file_error(file, row.line, "row", &problem));
        }
        let opt = |i: Option<usize>| {
            i.map(|i| row.fields[i].trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let label = row.fields[1].trim();
        if label.is_empty() {
            return Err(file_error(file, row.line, "label", "empty label"));
        }
        labels.push(Label {
            address: check_address(&row.fields[0], network, file, row.line, "address")?,
            label: label.to_string(),
            category: opt(Some(2)),
            source: opt(cols.source),
            confidence: opt(cols.confidence),
            file: file.to_string(),
            line: row.line,
        });
    }
    Ok(labels)
}
