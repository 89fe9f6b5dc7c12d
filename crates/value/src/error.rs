//! Valuation errors. Each names the file (and line or pair) that is wrong.

/// Errors of quote and FX parsing and of the valuation rule.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file that is not in any accepted shape, or a bad field in it.
    #[error("{file}{}: {reason}", line.map(|l| format!(" line {l}")).unwrap_or_default())]
    Malformed {
        /// File name as given.
        file: String,
        /// 1-based line, when known.
        line: Option<usize>,
        /// What is wrong.
        reason: String,
    },
    /// A price that is zero or negative, or a negative volume.
    #[error("{file}: {pair} at {venue}: {field} {value} is not positive")]
    BadPrice {
        /// File.
        file: String,
        /// Venue.
        venue: String,
        /// Pair as written.
        pair: String,
        /// `bid`, `ask`, `last` or `volume`.
        field: &'static str,
        /// The value as written.
        value: String,
    },
    /// A pair whose base is not a known asset or whose quote is not a known currency.
    #[error("{file}: unknown pair {pair:?} (known: BTC or ETH against an ISO 4217 currency the ECB publishes, e.g. BTC/EUR, XXBTZUSD, btcusd, BTC-USD)")]
    UnknownPair {
        /// File.
        file: String,
        /// Pair as written.
        pair: String,
    },
    /// The FX file has no rate for a currency the valuation needs.
    #[error("fx file {file} has no rate for {currency} (needed to convert {needed_for})")]
    MissingFx {
        /// FX file.
        file: String,
        /// Currency.
        currency: String,
        /// What needed it.
        needed_for: String,
    },
    /// The FX file is older than the valuation allows.
    #[error(
        "fx file {file} is dated {date}, more than {max_days} days before the valuation time {at}"
    )]
    StaleFx {
        /// FX file.
        file: String,
        /// Its date.
        date: String,
        /// Valuation time.
        at: String,
        /// Allowed age.
        max_days: i64,
    },
    /// No usable quote for an asset in the window.
    #[error(
        "no quote for {asset} inside the window {from} .. {to} (stale or excluded: {excluded})"
    )]
    NoFreshQuote {
        /// Asset.
        asset: String,
        /// Window start.
        from: String,
        /// Window end.
        to: String,
        /// How many quotes were left out.
        excluded: usize,
    },
    /// A parameter is out of range.
    #[error("{0}")]
    Param(String),
    /// Arithmetic overflow (absurd figures).
    #[error("arithmetic overflow in {0}")]
    Overflow(&'static str),
}

impl custos_core::exit::Classify for Error {
    /// Every valuation error is about the files or options the user gave: exit 2.
    fn exit_class(&self) -> custos_core::exit::ExitClass {
        custos_core::exit::ExitClass::Input
    }
}

impl Error {
    pub(crate) fn malformed(file: &str, line: Option<usize>, reason: impl Into<String>) -> Error {
        Error::Malformed {
            file: file.to_string(),
            line,
            reason: reason.into(),
        }
    }
}
