//! GraphSense TagPack YAML (graphsense-tagpack-tool `tagpack_schema.yaml`).
//!
//! The header carries `title` and `creator` (required), `description`, `is_public`, and any tag
//! field as a default for every tag: `label`, `category`, `source`, `confidence`, `currency`,
//! `lastmod`, `context`, `abuse`, `actor`, `network`. A tag's own field overrides the header's.
//! After inheritance every tag needs `label`, `source`, `currency` and an `address` (or a
//! `tx_hash`: transaction tags are skipped and listed, as are tags of another currency than BTC).
//! `confidence` is a TagPack confidence level name (`ownership`, `web_crawl`…) and optional here.
//! `is_public` must be a boolean wherever it appears.
//!
//! YAML syntax errors report serde_yaml's line. Field errors report the line of the field in
//! block-style YAML (what TagPacks use); in flow style they fall back to the tag's first line or
//! the `tags:` line.

use std::collections::BTreeMap;

use custos_core::Network;
use serde::{Deserialize, Serialize};
use serde_yaml::{Mapping, Value};

use super::{check_address, file_error, Label};
use crate::Error;

/// Tag fields a header may set as defaults.
const INHERITED: [&str; 10] = [
    "label",
    "category",
    "source",
    "confidence",
    "currency",
    "lastmod",
    "context",
    "abuse",
    "actor",
    "network",
];

/// A parsed TagPack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagPack {
    /// Its title.
    pub title: String,
    /// Its creator.
    pub creator: String,
    /// Its description, when given.
    pub description: Option<String>,
    /// Header `lastmod`, when given.
    pub lastmod: Option<String>,
    /// Header `is_public`, when given.
    pub is_public: Option<bool>,
    /// The address labels, in file order.
    pub labels: Vec<Label>,
    /// Tags not turned into labels, with why.
    pub skipped: Vec<SkippedTag>,
}

/// A tag that is valid TagPack but not an address label for Bitcoin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedTag {
    /// 1-based line of the tag.
    pub line: usize,
    /// Why it was skipped.
    pub reason: String,
}

/// Where things are in the text, for error messages.
#[derive(Debug, Default)]
struct LineMap {
    header: BTreeMap<String, usize>,
    tags_line: usize,
    items: Vec<(usize, BTreeMap<String, usize>)>,
}

impl LineMap {
    fn header(&self, field: &str) -> usize {
        self.header.get(field).copied().unwrap_or(1)
    }

    fn item(&self, n: usize) -> usize {
        self.items
            .get(n)
            .map_or(self.tags_line.max(1), |(line, _)| *line)
    }

    fn field(&self, n: usize, field: &str) -> usize {
        self.items
            .get(n)
            .and_then(|(_, f)| f.get(field).copied())
            .unwrap_or_else(|| self.item(n))
    }
}

/// The key of a `key: value` line (quotes stripped), if it is one.
fn key_of(text: &str) -> Option<String> {
    let colon = text.find(':')?;
    if !text[colon + 1..].is_empty() && !text[colon + 1..].starts_with([' ', '\t']) {
        return None;
    }
    let key = text[..colon].trim().trim_matches(|c| c == '"' || c == '\'');
    (!key.is_empty()).then(|| key.to_string())
}

fn map_lines(text: &str) -> LineMap {
    let mut map = LineMap::default();
    let mut in_tags = false;
    let mut item_indent: Option<usize> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let trimmed = raw.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let indent = raw.len() - trimmed.len();
        let item = trimmed
            .strip_prefix("- ")
            .or((trimmed == "-").then_some(""));
        if indent == 0 && item.is_none() {
            if let Some(k) = key_of(trimmed) {
                in_tags = k == "tags";
                if in_tags {
                    map.tags_line = line;
                }
                map.header.entry(k).or_insert(line);
            }
            continue;
        }
        if !in_tags {
            continue;
        }
        match item {
            Some(rest) if item_indent.is_none_or(|w| w == indent) => {
                item_indent = Some(indent);
                let mut fields = BTreeMap::new();
                if let Some(k) = key_of(rest) {
                    fields.insert(k, line);
                }
                map.items.push((line, fields));
            }
            _ => {
                if let (Some((_, fields)), Some(k)) = (map.items.last_mut(), key_of(trimmed)) {
                    fields.entry(k).or_insert(line);
                }
            }
        }
    }
    map
}

/// A text field: strings as they are, numbers printed; `None` when absent or null.
fn text(map: &Mapping, field: &str, at: usize, file: &str) -> Result<Option<String>, Error> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim().to_string())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(Value::Bool(b)) => Ok(Some(b.to_string())),
        Some(_) => Err(file_error(
            file,
            at,
            field,
            "expected text, found a list or mapping",
        )),
    }
}

fn boolean(map: &Mapping, field: &str, at: usize, file: &str) -> Result<Option<bool>, Error> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(file_error(file, at, field, "expected true or false")),
    }
}

/// Parses a TagPack, checking every address for `network`.
pub fn parse_tagpack(text_in: &str, file: &str, network: Network) -> Result<TagPack, Error> {
    let root: Value = serde_yaml::from_str(text_in).map_err(|e| {
        let line = e.location().map_or(0, |l| l.line());
        file_error(file, line, "yaml", &format!("yaml syntax: {e}"))
    })?;
    let lines = map_lines(text_in);
    let Value::Mapping(header) = root else {
        return Err(file_error(
            file,
            1,
            "",
            "a tagpack is a mapping with a `tags` list",
        ));
    };
    let required = |field: &str| -> Result<String, Error> {
        text(&header, field, lines.header(field), file)?
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                file_error(
                    file,
                    lines.header(field),
                    field,
                    "required header field is missing",
                )
            })
    };
    let title = required("title")?;
    let creator = required("creator")?;
    let description = text(&header, "description", lines.header("description"), file)?;
    let lastmod = text(&header, "lastmod", lines.header("lastmod"), file)?;
    let is_public = boolean(&header, "is_public", lines.header("is_public"), file)?;
    let tags = match header.get("tags") {
        Some(Value::Sequence(tags)) => tags,
        Some(_) => {
            return Err(file_error(
                file,
                lines.header("tags"),
                "tags",
                "expected a list of tags",
            ))
        }
        None => {
            return Err(file_error(
                file,
                1,
                "tags",
                "required header field is missing",
            ))
        }
    };
    let mut pack = TagPack {
        title,
        creator,
        description,
        lastmod,
        is_public,
        labels: Vec::new(),
        skipped: Vec::new(),
    };
    for (n, tag) in tags.iter().enumerate() {
        let Value::Mapping(tag) = tag else {
            return Err(file_error(
                file,
                lines.item(n),
                "tags",
                "a tag must be a mapping",
            ));
        };
        match tag_label(&header, tag, n, &lines, file, network)? {
            Ok(label) => pack.labels.push(label),
            Err(skipped) => pack.skipped.push(skipped),
        }
    }
    Ok(pack)
}

/// One tag: a label, or why it is skipped.
fn tag_label(
    header: &Mapping,
    tag: &Mapping,
    n: usize,
    lines: &LineMap,
    file: &str,
    network: Network,
) -> Result<Result<Label, SkippedTag>, Error> {
    // The tag's own field, else the header's, with the line where it was found.
    let field = |name: &str| -> Result<Option<(String, usize)>, Error> {
        let own = text(tag, name, lines.field(n, name), file)?;
        if let Some(v) = own {
            return Ok(Some((v, lines.field(n, name))));
        }
        if INHERITED.contains(&name) {
            let line = lines.header(name);
            return Ok(text(header, name, line, file)?.map(|v| (v, line)));
        }
        Ok(None)
    };
    let require = |name: &str| -> Result<String, Error> {
        field(name)?
            .map(|(v, _)| v)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| {
                file_error(
                    file,
                    lines.item(n),
                    name,
                    "missing (neither in the tag nor in the header)",
                )
            })
    };
    boolean(tag, "is_public", lines.field(n, "is_public"), file)?;
    let item_line = lines.item(n);
    let currency = require("currency")?;
    if !currency.eq_ignore_ascii_case("btc") {
        let reason = format!("currency {currency}, not btc");
        return Ok(Err(SkippedTag {
            line: item_line,
            reason,
        }));
    }
    let Some((raw_address, address_line)) = field("address")? else {
        if field("tx_hash")?.is_some() {
            let reason = "transaction tag (tx_hash), not an address".to_string();
            return Ok(Err(SkippedTag {
                line: item_line,
                reason,
            }));
        }
        return Err(file_error(
            file,
            item_line,
            "address",
            "a tag needs an address",
        ));
    };
    let address = check_address(&raw_address, network, file, address_line, "address")?;
    Ok(Ok(Label {
        address,
        label: require("label")?,
        category: field("category")?.map(|(v, _)| v).filter(|v| !v.is_empty()),
        source: Some(require("source")?),
        confidence: field("confidence")?
            .map(|(v, _)| v)
            .filter(|v| !v.is_empty()),
        file: file.to_string(),
        line: item_line,
    }))
}
