//! Market quotes: the shapes exchanges publish, read into one [`Quote`] type.
//!
//! Accepted files (the shape is recognised from the content):
//!
//! - **CSV**: header `venue,pair,bid,ask,last,volume,timestamp`, one quote a line; `#` comments
//!   and blank lines ignored; timestamp RFC 3339 or Unix seconds.
//! - **Kraken** `GET /0/public/Ticker`: `{"error":[],"result":{"XXBTZEUR":{"a":[ask,…],
//!   "b":[bid,…],"c":[last,…],"v":[today,last24h],…}}}`. The body carries no time, so the file
//!   must be the whole HTTP response as `curl -si` saves it: its `Date:` header is the quote time.
//! - **Coinbase Exchange** `GET /products/{id}/ticker`: `{"ask","bid","volume","trade_id","price",
//!   "size","time"}`. The body does not name the product: give it as `BTC-EUR=FILE`.
//! - **Bitstamp** `GET /api/v2/ticker/{pair}/`: `{"timestamp","last","bid","ask","volume","vwap",…}`
//!   (newer responses add `"pair":"BTC/EUR"`; otherwise give it as `BTC/EUR=FILE`).
//!
//! Any of the JSON shapes may also be saved with `curl -si` (status line and headers first); a
//! status other than 200 is refused. Prices must be decimal strings or integers, never
//! floating-point JSON numbers. Volumes are in the base asset, over the last 24 hours.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::{time, Dec, Error};

/// A crypto asset that can be valued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Asset {
    /// Bitcoin (8 decimals: satoshi).
    #[serde(rename = "BTC")]
    Btc,
    /// Ether (18 decimals: wei).
    #[serde(rename = "ETH")]
    Eth,
}

impl Asset {
    /// Ticker symbol.
    pub fn symbol(self) -> &'static str {
        match self {
            Asset::Btc => "BTC",
            Asset::Eth => "ETH",
        }
    }

    /// Decimals of the smallest unit (sat, wei).
    pub fn decimals(self) -> u32 {
        match self {
            Asset::Btc => 8,
            Asset::Eth => 18,
        }
    }
}

/// The ISO 4217 currencies the ECB publishes reference rates for, plus the euro, with their
/// minor units.
pub const CURRENCIES: &[(&str, u32)] = &[
    ("EUR", 2),
    ("USD", 2),
    ("JPY", 0),
    ("BGN", 2),
    ("CZK", 2),
    ("DKK", 2),
    ("GBP", 2),
    ("HUF", 2),
    ("PLN", 2),
    ("RON", 2),
    ("SEK", 2),
    ("CHF", 2),
    ("ISK", 0),
    ("NOK", 2),
    ("TRY", 2),
    ("AUD", 2),
    ("BRL", 2),
    ("CAD", 2),
    ("CNY", 2),
    ("HKD", 2),
    ("IDR", 2),
    ("ILS", 2),
    ("INR", 2),
    ("KRW", 0),
    ("MXN", 2),
    ("MYR", 2),
    ("NZD", 2),
    ("PHP", 2),
    ("SGD", 2),
    ("THB", 2),
    ("ZAR", 2),
];

/// Minor-unit digits of a known currency.
pub fn minor_units(currency: &str) -> Option<u32> {
    CURRENCIES
        .iter()
        .find(|(c, _)| *c == currency)
        .map(|(_, m)| *m)
}

/// A trading pair: a crypto asset priced in a fiat currency.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Pair {
    /// What is priced.
    pub base: Asset,
    /// ISO 4217 currency it is priced in.
    pub quote: String,
}

impl std::fmt::Display for Pair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.base.symbol(), self.quote)
    }
}

impl Pair {
    /// Reads `BTC/EUR`, `BTC-EUR`, `btceur`, `XBTEUR`, `XXBTZEUR`, `XETHZUSD`. `None` when the
    /// base or the currency is unknown.
    pub fn parse(s: &str) -> Option<Pair> {
        let t: String = s
            .trim()
            .chars()
            .filter(|c| !matches!(c, '/' | '-' | '_'))
            .collect::<String>()
            .to_ascii_uppercase();
        for (prefix, base) in [
            ("XXBT", Asset::Btc),
            ("XETH", Asset::Eth),
            ("BTC", Asset::Btc),
            ("XBT", Asset::Btc),
            ("ETH", Asset::Eth),
        ] {
            if let Some(rest) = t.strip_prefix(prefix) {
                let rest = if rest.len() == 4 {
                    rest.strip_prefix('Z').unwrap_or(rest)
                } else {
                    rest
                };
                if minor_units(rest).is_some() {
                    return Some(Pair {
                        base,
                        quote: rest.to_string(),
                    });
                }
            }
        }
        None
    }
}

/// One market quote.
#[derive(Debug, Clone, Serialize)]
pub struct Quote {
    /// Venue (`kraken`, `coinbase`, `bitstamp`, or the CSV's venue column).
    pub venue: String,
    /// The pair, normalised.
    pub pair: Pair,
    /// The pair as the file wrote it.
    pub pair_text: String,
    /// Best bid.
    pub bid: Dec,
    /// Best ask.
    pub ask: Dec,
    /// Last trade price.
    pub last: Dec,
    /// 24-hour volume in the base asset.
    pub volume: Dec,
    /// When the quote was observed.
    pub time: DateTime<Utc>,
    /// File it came from.
    pub file: String,
    /// Line in a CSV file.
    pub line: Option<usize>,
}

/// Raw fields before validation.
struct Raw<'a> {
    venue: String,
    pair: &'a str,
    bid: &'a str,
    ask: &'a str,
    last: &'a str,
    volume: &'a str,
    time: DateTime<Utc>,
    line: Option<usize>,
}

fn build(file: &str, r: Raw<'_>) -> Result<Quote, Error> {
    let pair = Pair::parse(r.pair).ok_or_else(|| Error::UnknownPair {
        file: file.to_string(),
        pair: r.pair.to_string(),
    })?;
    let num = |field: &'static str, v: &str, allow_zero: bool| -> Result<Dec, Error> {
        let d = Dec::parse(v)
            .map_err(|why| Error::malformed(file, r.line, format!("{field} {v:?}: {why}")))?;
        if d.is_negative() || (!allow_zero && !d.is_positive()) {
            return Err(Error::BadPrice {
                file: file.to_string(),
                venue: r.venue.clone(),
                pair: r.pair.to_string(),
                field,
                value: v.trim().to_string(),
            });
        }
        Ok(d)
    };
    Ok(Quote {
        bid: num("bid", r.bid, false)?,
        ask: num("ask", r.ask, false)?,
        last: num("last", r.last, false)?,
        volume: num("volume", r.volume, true)?,
        venue: r.venue.clone(),
        pair,
        pair_text: r.pair.to_string(),
        time: r.time,
        file: file.to_string(),
        line: r.line,
    })
}

/// The body of a file and the `Date:` of its HTTP response, when it is a `curl -si` capture.
fn split_http(file: &str, text: &str) -> Result<(String, Option<DateTime<Utc>>), Error> {
    let t = text.trim_start_matches('\u{feff}');
    if !t.starts_with("HTTP/") {
        return Ok((t.to_string(), None));
    }
    let norm = t.replace("\r\n", "\n");
    // curl -si after a redirect or a 100-continue holds several header blocks: use the last.
    let mut rest = norm.as_str();
    loop {
        let (head, body) = rest.split_once("\n\n").ok_or_else(|| {
            Error::malformed(
                file,
                None,
                "http capture without an empty line after the headers",
            )
        })?;
        let mut lines = head.lines();
        let status = lines.next().unwrap_or_default();
        let code = status.split_whitespace().nth(1).unwrap_or_default();
        let mut date = None;
        for l in lines {
            if let Some((k, v)) = l.split_once(':') {
                if k.trim().eq_ignore_ascii_case("date") {
                    date = time::parse_http_date(v);
                }
            }
        }
        if body.starts_with("HTTP/") && (code.starts_with('1') || code.starts_with('3')) {
            rest = body;
            continue;
        }
        if code != "200" {
            return Err(Error::malformed(
                file,
                Some(1),
                format!("http status {status:?}: not a successful response"),
            ));
        }
        return Ok((body.to_string(), date));
    }
}

/// Reads one quote file. `name` is used in messages and in each quote; `pair_hint` names the
/// pair for shapes whose body does not (Coinbase, older Bitstamp).
pub fn parse_file(name: &str, text: &str, pair_hint: Option<&str>) -> Result<Vec<Quote>, Error> {
    let (body, http_date) = split_http(name, text)?;
    let b = body.trim();
    if custos_core::file::is_json_object(b) || b.starts_with('[') {
        let v: Value = serde_json::from_str(b)
            .map_err(|e| Error::malformed(name, Some(e.line()), format!("not JSON: {e}")))?;
        parse_json(name, &v, http_date, pair_hint)
    } else {
        if pair_hint.is_some() {
            return Err(Error::malformed(
                name,
                None,
                "a CSV quote file names its pairs itself; drop the PAIR= prefix",
            ));
        }
        parse_csv(name, b)
    }
}

fn json_str<'a>(file: &str, v: &'a Value, key: &str) -> Result<std::borrow::Cow<'a, str>, Error> {
    match v.get(key) {
        Some(Value::String(s)) => Ok(std::borrow::Cow::Borrowed(s.as_str())),
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => {
            Ok(std::borrow::Cow::Owned(n.to_string()))
        }
        Some(Value::Number(_)) => Err(Error::malformed(
            file,
            None,
            format!(
                "field {key:?} is a floating-point JSON number; prices must be decimal strings"
            ),
        )),
        _ => Err(Error::malformed(
            file,
            None,
            format!("field {key:?} is missing or not a string"),
        )),
    }
}

fn first_of<'a>(
    file: &str,
    pair: &str,
    v: &'a Value,
    key: &str,
    idx: usize,
) -> Result<&'a str, Error> {
    v.get(key)
        .and_then(|a| a.get(idx))
        .and_then(Value::as_str)
        .ok_or_else(|| {
            Error::malformed(
                file,
                None,
                format!("kraken ticker {pair}: field {key:?}[{idx}] is missing or not a string"),
            )
        })
}

fn pair_from(
    file: &str,
    in_body: Option<&str>,
    hint: Option<&str>,
    venue: &str,
) -> Result<String, Error> {
    match (in_body, hint) {
        (Some(b), Some(h)) if Pair::parse(b) != Pair::parse(h) => Err(Error::malformed(
            file,
            None,
            format!("the file says pair {b:?} but it was given as {h:?}"),
        )),
        (Some(b), _) => Ok(b.to_string()),
        (None, Some(h)) => Ok(h.to_string()),
        (None, None) => Err(Error::malformed(
            file,
            None,
            format!("a {venue} ticker does not name its pair: give it as PAIR=FILE (e.g. BTC-EUR={file})"),
        )),
    }
}

fn parse_json(
    file: &str,
    v: &Value,
    http_date: Option<DateTime<Utc>>,
    hint: Option<&str>,
) -> Result<Vec<Quote>, Error> {
    let has = |k: &str| v.get(k).is_some();
    if has("result") && has("error") {
        if let Some(errs) = v.get("error").and_then(Value::as_array) {
            if !errs.is_empty() {
                return Err(Error::malformed(
                    file,
                    None,
                    format!("kraken reported errors: {}", Value::Array(errs.clone())),
                ));
            }
        }
        let time = http_date.ok_or_else(|| {
            Error::malformed(
                file,
                None,
                "a kraken ticker carries no time: save the whole response with `curl -si` so its Date header says when it was fetched",
            )
        })?;
        let result = v
            .get("result")
            .and_then(Value::as_object)
            .ok_or_else(|| Error::malformed(file, None, "kraken \"result\" is not an object"))?;
        let mut out = Vec::new();
        for (pair, t) in result {
            if let Some(h) = hint {
                if Pair::parse(h) != Pair::parse(pair) {
                    return Err(Error::malformed(
                        file,
                        None,
                        format!("the file holds pair {pair:?} but it was given as {h:?}"),
                    ));
                }
            }
            out.push(build(
                file,
                Raw {
                    venue: "kraken".into(),
                    pair,
                    bid: first_of(file, pair, t, "b", 0)?,
                    ask: first_of(file, pair, t, "a", 0)?,
                    last: first_of(file, pair, t, "c", 0)?,
                    volume: first_of(file, pair, t, "v", 1)?,
                    time,
                    line: None,
                },
            )?);
        }
        return Ok(out);
    }
    if has("trade_id") && has("price") && has("bid") {
        let t = json_str(file, v, "time")?;
        let time = time::parse_instant(&t)
            .ok_or_else(|| Error::malformed(file, None, format!("time {t:?} is not RFC 3339")))?;
        let pair = pair_from(file, None, hint, "coinbase")?;
        return Ok(vec![build(
            file,
            Raw {
                venue: "coinbase".into(),
                pair: &pair,
                bid: &json_str(file, v, "bid")?,
                ask: &json_str(file, v, "ask")?,
                last: &json_str(file, v, "price")?,
                volume: &json_str(file, v, "volume")?,
                time,
                line: None,
            },
        )?]);
    }
    if has("vwap") && has("timestamp") && has("last") {
        let t = json_str(file, v, "timestamp")?;
        let time = time::parse_instant(&t).ok_or_else(|| {
            Error::malformed(file, None, format!("timestamp {t:?} is not Unix seconds"))
        })?;
        let pair = pair_from(
            file,
            v.get("pair").and_then(Value::as_str),
            hint,
            "bitstamp",
        )?;
        return Ok(vec![build(
            file,
            Raw {
                venue: "bitstamp".into(),
                pair: &pair,
                bid: &json_str(file, v, "bid")?,
                ask: &json_str(file, v, "ask")?,
                last: &json_str(file, v, "last")?,
                volume: &json_str(file, v, "volume")?,
                time,
                line: None,
            },
        )?]);
    }
    Err(Error::malformed(
        file,
        None,
        "JSON in no known quote shape (Kraken Ticker, Coinbase Exchange ticker, Bitstamp v2 ticker)",
    ))
}

/// The CSV header, in order.
pub const CSV_HEADER: [&str; 7] = ["venue", "pair", "bid", "ask", "last", "volume", "timestamp"];

fn parse_csv(file: &str, text: &str) -> Result<Vec<Quote>, Error> {
    let mut out = Vec::new();
    let mut header_seen = false;
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let l = line.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let cols: Vec<&str> = l.split(',').map(str::trim).collect();
        if !header_seen {
            let ok = cols.len() == CSV_HEADER.len()
                && cols
                    .iter()
                    .zip(CSV_HEADER)
                    .all(|(c, h)| c.eq_ignore_ascii_case(h));
            if !ok {
                return Err(Error::malformed(
                    file,
                    Some(n),
                    format!(
                        "not a quote file: expected the CSV header {:?}",
                        CSV_HEADER.join(",")
                    ),
                ));
            }
            header_seen = true;
            continue;
        }
        if cols.len() != CSV_HEADER.len() {
            return Err(Error::malformed(
                file,
                Some(n),
                format!("{} columns, expected {}", cols.len(), CSV_HEADER.len()),
            ));
        }
        if cols[0].is_empty() {
            return Err(Error::malformed(file, Some(n), "empty venue"));
        }
        let time = time::parse_instant(cols[6]).ok_or_else(|| {
            Error::malformed(
                file,
                Some(n),
                format!(
                    "timestamp {:?} is neither RFC 3339 nor Unix seconds",
                    cols[6]
                ),
            )
        })?;
        out.push(build(
            file,
            Raw {
                venue: cols[0].to_ascii_lowercase(),
                pair: cols[1],
                bid: cols[2],
                ask: cols[3],
                last: cols[4],
                volume: cols[5],
                time,
                line: Some(n),
            },
        )?);
    }
    if !header_seen {
        return Err(Error::malformed(file, None, "empty quote file"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_pairs_in_every_venue_spelling() {
        for s in [
            "BTC/EUR", "btc-eur", "btceur", "XBTEUR", "XXBTZEUR", "XBT/EUR",
        ] {
            assert_eq!(Pair::parse(s).unwrap().to_string(), "BTC/EUR", "{s}");
        }
        assert_eq!(Pair::parse("XETHZUSD").unwrap().to_string(), "ETH/USD");
        assert!(Pair::parse("DOGEEUR").is_none());
        assert!(Pair::parse("BTCUSDT").is_none());
    }

    #[test]
    fn reads_a_kraken_capture_with_its_date_header() {
        let text = "HTTP/2 200\r\ndate: Mon, 05 Jan 2026 10:00:00 GMT\r\ncontent-type: application/json\r\n\r\n\
{\"error\":[],\"result\":{\"XXBTZEUR\":{\"a\":[\"80010.00000\",\"1\",\"1.000\"],\"b\":[\"80000.00000\",\"2\",\"2.000\"],\
\"c\":[\"80005.10000\",\"0.001\"],\"v\":[\"100.5\",\"1200.25\"],\"p\":[\"1\",\"1\"],\"t\":[1,2],\"l\":[\"1\",\"1\"],\"h\":[\"1\",\"1\"],\"o\":\"1\"}}}";
        let q = parse_file("k.http", text, None).unwrap();
        assert_eq!(q.len(), 1);
        assert_eq!(q[0].venue, "kraken");
        assert_eq!(q[0].bid.to_string(), "80000.00000");
        assert_eq!(q[0].volume.to_string(), "1200.25");
        assert_eq!(time::fmt(&q[0].time), "2026-01-05T10:00:00.000Z");
        let bare = text.split_once("\r\n\r\n").unwrap().1;
        assert!(parse_file("k.json", bare, None)
            .unwrap_err()
            .to_string()
            .contains("curl -si"));
    }

    #[test]
    fn refuses_negative_price_naming_file_and_field() {
        let csv = "venue,pair,bid,ask,last,volume,timestamp\nx,BTC/EUR,-1,2,2,1,1767607200\n";
        let e = parse_file("q.csv", csv, None).unwrap_err();
        assert!(matches!(e, Error::BadPrice { field: "bid", .. }), "{e}");
        assert!(e.to_string().contains("q.csv"));
    }

    #[test]
    fn refuses_float_json_numbers() {
        let j = r#"{"trade_id":1,"price":80000.5,"bid":"1","ask":"1","volume":"1","size":"1","time":"2026-01-05T10:00:00Z"}"#;
        let e = parse_file("c.json", j, Some("BTC-EUR")).unwrap_err();
        assert!(e.to_string().contains("floating-point"), "{e}");
    }
}
