//! FX reference rates in the ECB's daily shapes: `eurofxref-daily.xml`
//! (`<Cube time='2026-01-05'><Cube currency='USD' rate='1.0850'/>…`) and `eurofxref.csv`
//! (`Date, USD, JPY, …` / `05 January 2026, 1.0850, 162.10, …`). A rate is the units of the
//! currency one euro buys; the euro itself is 1.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::Serialize;

use crate::{quote::minor_units, time, Dec, Error, Round};

/// The rates of one day against the euro.
#[derive(Debug, Clone, Serialize)]
pub struct FxTable {
    /// File name as given.
    pub file: String,
    /// Reference date.
    pub date: NaiveDate,
    /// Currency → units per euro.
    pub rates: BTreeMap<String, Dec>,
}

fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let mut rest = tag;
    while let Some(pos) = rest.find(name) {
        let after = &rest[pos + name.len()..];
        let before_ok = pos == 0 || rest[..pos].ends_with(char::is_whitespace);
        let after = after.trim_start();
        if before_ok {
            if let Some(v) = after.strip_prefix('=') {
                let v = v.trim_start();
                let q = v.chars().next()?;
                if q == '\'' || q == '"' {
                    let body = &v[1..];
                    return body.find(q).map(|end| &body[..end]);
                }
            }
        }
        rest = &rest[pos + name.len()..];
    }
    None
}

impl FxTable {
    /// Reads an ECB XML or CSV rate file.
    pub fn parse(file: &str, text: &str) -> Result<FxTable, Error> {
        let t = text.trim_start_matches('\u{feff}').trim();
        let table = if t.starts_with('<') {
            Self::parse_xml(file, t)?
        } else {
            Self::parse_csv(file, t)?
        };
        if table.rates.is_empty() {
            return Err(Error::malformed(file, None, "no rates in the fx file"));
        }
        Ok(table)
    }

    fn insert(
        file: &str,
        rates: &mut BTreeMap<String, Dec>,
        cur: &str,
        rate: &str,
        line: Option<usize>,
    ) -> Result<(), Error> {
        let cur = cur.trim().to_ascii_uppercase();
        if cur.len() != 3 || !cur.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(Error::malformed(
                file,
                line,
                format!("currency {cur:?} is not an ISO 4217 code"),
            ));
        }
        let r = Dec::parse(rate).map_err(|why| {
            Error::malformed(file, line, format!("rate of {cur} {rate:?}: {why}"))
        })?;
        if !r.is_positive() {
            return Err(Error::malformed(
                file,
                line,
                format!("rate of {cur} {rate:?} is not positive"),
            ));
        }
        rates.insert(cur, r);
        Ok(())
    }

    fn parse_xml(file: &str, t: &str) -> Result<FxTable, Error> {
        let mut date = None;
        let mut rates = BTreeMap::new();
        for seg in t.split("<Cube").skip(1) {
            let tag = seg.split('>').next().unwrap_or_default();
            if let Some(d) = attr(tag, "time") {
                if date.is_some() {
                    return Err(Error::malformed(
                        file,
                        None,
                        "the fx file holds more than one day (use eurofxref-daily.xml, not the history)",
                    ));
                }
                date = Some(time::parse_day(d).ok_or_else(|| {
                    Error::malformed(file, None, format!("date {d:?} is not YYYY-MM-DD"))
                })?);
            }
            if let (Some(c), Some(r)) = (attr(tag, "currency"), attr(tag, "rate")) {
                Self::insert(file, &mut rates, c, r, None)?;
            }
        }
        let date = date.ok_or_else(|| {
            Error::malformed(
                file,
                None,
                "not an ECB rate file: no <Cube time='…'> element",
            )
        })?;
        Ok(FxTable {
            file: file.to_string(),
            date,
            rates,
        })
    }

    fn parse_csv(file: &str, t: &str) -> Result<FxTable, Error> {
        let mut lines = t.lines().filter(|l| !l.trim().is_empty());
        let head: Vec<&str> = lines
            .next()
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .collect();
        if !head.first().is_some_and(|h| h.eq_ignore_ascii_case("date")) {
            return Err(Error::malformed(
                file,
                Some(1),
                "not an ECB rate file: the first column must be Date (eurofxref.csv)",
            ));
        }
        let row: Vec<&str> = lines
            .next()
            .ok_or_else(|| Error::malformed(file, Some(2), "no rate row"))?
            .split(',')
            .map(str::trim)
            .collect();
        if lines.next().is_some() {
            return Err(Error::malformed(
                file,
                Some(3),
                "the fx file holds more than one day (use eurofxref.csv, not the history)",
            ));
        }
        let date = time::parse_day(row.first().copied().unwrap_or_default()).ok_or_else(|| {
            Error::malformed(
                file,
                Some(2),
                "the date is neither YYYY-MM-DD nor '05 January 2026'",
            )
        })?;
        let mut rates = BTreeMap::new();
        for (cur, rate) in head.iter().zip(row.iter()).skip(1) {
            if cur.is_empty() || rate.is_empty() || rate.eq_ignore_ascii_case("N/A") {
                continue;
            }
            Self::insert(file, &mut rates, cur, rate, Some(2))?;
        }
        Ok(FxTable {
            file: file.to_string(),
            date,
            rates,
        })
    }

    /// Units of `currency` per euro.
    pub fn rate(&self, currency: &str) -> Option<Dec> {
        if currency == "EUR" {
            return Some(Dec::from_int(1));
        }
        self.rates.get(currency).copied()
    }

    /// Converts `amount` of `from` into `to` with one rounding to `scale` digits:
    /// `amount × rate(to) / rate(from)`.
    pub fn convert(
        &self,
        amount: Dec,
        from: &str,
        to: &str,
        scale: u32,
        round: Round,
        needed_for: &str,
    ) -> Result<Dec, Error> {
        if from == to {
            return amount.rescale(scale, round);
        }
        let missing = |c: &str| Error::MissingFx {
            file: self.file.clone(),
            currency: c.to_string(),
            needed_for: needed_for.to_string(),
        };
        if minor_units(to).is_none() {
            return Err(Error::Param(format!("unknown reporting currency {to:?}")));
        }
        let r_from = self.rate(from).ok_or_else(|| missing(from))?;
        let r_to = self.rate(to).ok_or_else(|| missing(to))?;
        amount.mul_div(r_to, r_from, scale, round)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const XML: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<gesmes:Envelope xmlns:gesmes=\"http://www.gesmes.org/xml/2002-08-01\" xmlns=\"http://www.ecb.int/vocabulary/2002-08-01/eurofxref\">\n<gesmes:subject>Reference rates</gesmes:subject>\n<Cube>\n<Cube time='2026-01-05'>\n<Cube currency='USD' rate='1.0850'/>\n<Cube currency='GBP' rate='0.83500'/>\n</Cube>\n</Cube>\n</gesmes:Envelope>\n";

    #[test]
    fn reads_ecb_daily_xml() {
        let t = FxTable::parse("fx.xml", XML).unwrap();
        assert_eq!(t.date.to_string(), "2026-01-05");
        assert_eq!(t.rate("USD").unwrap().to_string(), "1.0850");
        assert_eq!(t.rate("EUR").unwrap().to_string(), "1");
        assert!(t.rate("CHF").is_none());
    }

    #[test]
    fn reads_ecb_csv() {
        let csv = "Date, USD, JPY, GBP, \n05 January 2026, 1.0850, 162.10, 0.83500, \n";
        let t = FxTable::parse("fx.csv", csv).unwrap();
        assert_eq!(t.date.to_string(), "2026-01-05");
        assert_eq!(t.rate("JPY").unwrap().to_string(), "162.10");
    }

    #[test]
    fn converts_across_two_rates_with_one_rounding() {
        let t = FxTable::parse("fx.xml", XML).unwrap();
        // 1000 GBP -> USD: 1000 * 1.0850 / 0.835 = 1299.4011976... -> 1299.40
        let v = t
            .convert(Dec::from_int(1000), "GBP", "USD", 2, Round::Floor, "x")
            .unwrap();
        assert_eq!(v.to_string(), "1299.40");
        let e = t
            .convert(
                Dec::from_int(1),
                "CHF",
                "EUR",
                2,
                Round::Floor,
                "bitstamp BTC/CHF",
            )
            .unwrap_err();
        assert!(matches!(e, Error::MissingFx { .. }), "{e}");
    }
}
