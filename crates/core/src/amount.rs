//! Integer money. [`Sat`] counts satoshis in a `u64`, [`Wei`] counts wei (or any token base unit)
//! in a `u128`. All arithmetic is checked and returns [`Error::AmountOverflow`] instead of
//! wrapping; formatting and parsing of decimal strings is exact (no floats are ever involved).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::Error;

/// Satoshis per bitcoin.
pub const SAT_PER_BTC: u64 = 100_000_000;

/// An amount of satoshis.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Sat(pub u64);

/// An amount of wei (10^-18 ether), or of an ERC-20 token's base unit.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Wei(#[serde(with = "u128_string")] pub u128);

mod u128_string {
    //! JSON numbers cannot hold 128-bit integers portably: serialise wei as decimal strings.
    use serde::{de::Error as _, Deserialize, Deserializer, Serializer};
    pub(super) fn serialize<S: Serializer>(v: &u128, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }
    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u128, D::Error> {
        let s = String::deserialize(d)?;
        s.parse::<u128>().map_err(D::Error::custom)
    }
}

macro_rules! checked_ops {
    ($t:ident, $inner:ty, $unit:literal) => {
        impl $t {
            /// Zero.
            pub const ZERO: $t = $t(0);

            /// Checked addition.
            pub fn checked_add(self, rhs: $t) -> Result<$t, Error> {
                self.0
                    .checked_add(rhs.0)
                    .map($t)
                    .ok_or_else(|| Error::AmountOverflow {
                        op: "add",
                        lhs: self.0.to_string(),
                        rhs: rhs.0.to_string(),
                        unit: $unit,
                    })
            }

            /// Checked subtraction; fails below zero.
            pub fn checked_sub(self, rhs: $t) -> Result<$t, Error> {
                self.0
                    .checked_sub(rhs.0)
                    .map($t)
                    .ok_or_else(|| Error::AmountOverflow {
                        op: "sub",
                        lhs: self.0.to_string(),
                        rhs: rhs.0.to_string(),
                        unit: $unit,
                    })
            }

            /// Checked multiplication by an integer.
            pub fn checked_mul(self, rhs: $inner) -> Result<$t, Error> {
                self.0
                    .checked_mul(rhs)
                    .map($t)
                    .ok_or_else(|| Error::AmountOverflow {
                        op: "mul",
                        lhs: self.0.to_string(),
                        rhs: rhs.to_string(),
                        unit: $unit,
                    })
            }

            /// Checked sum of many amounts.
            pub fn checked_sum<I: IntoIterator<Item = $t>>(iter: I) -> Result<$t, Error> {
                iter.into_iter()
                    .try_fold($t::ZERO, |acc, x| acc.checked_add(x))
            }

            /// The raw number of base units.
            pub const fn units(self) -> $inner {
                self.0
            }
        }
    };
}

checked_ops!(Sat, u64, "sat");
checked_ops!(Wei, u128, "wei");

impl Sat {
    /// Formats as bitcoin with exactly 8 decimals, e.g. `0.00012345`.
    pub fn to_btc_string(self) -> String {
        format_decimal(u128::from(self.0), 8)
    }

    /// Parses an exact BTC decimal (at most 8 fractional digits), e.g. `"0.5"` → 50,000,000 sat.
    pub fn from_btc_str(s: &str) -> Result<Sat, Error> {
        let v = parse_decimal(s, 8)?;
        u64::try_from(v).map(Sat).map_err(|_| Error::AmountParse {
            input: s.to_string(),
            reason: "too large for a satoshi amount",
        })
    }
}

impl Wei {
    /// Formats as ether with exactly 18 decimals.
    pub fn to_eth_string(self) -> String {
        format_decimal(self.0, 18)
    }

    /// Formats with `decimals` fractional digits (ERC-20 tokens).
    pub fn to_decimal_string(self, decimals: u8) -> String {
        format_decimal(self.0, u32::from(decimals))
    }

    /// Parses an exact decimal with at most `decimals` fractional digits.
    pub fn from_decimal_str(s: &str, decimals: u8) -> Result<Wei, Error> {
        parse_decimal(s, u32::from(decimals)).map(Wei)
    }
}

impl fmt::Display for Sat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} sat", self.0)
    }
}

impl fmt::Display for Wei {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} wei", self.0)
    }
}

impl From<bitcoin::Amount> for Sat {
    fn from(a: bitcoin::Amount) -> Self {
        Sat(a.to_sat())
    }
}

impl From<Sat> for bitcoin::Amount {
    fn from(s: Sat) -> Self {
        bitcoin::Amount::from_sat(s.0)
    }
}

/// Formats `units` as a decimal with exactly `decimals` fractional digits.
pub fn format_decimal(units: u128, decimals: u32) -> String {
    if decimals == 0 {
        return units.to_string();
    }
    let digits = units.to_string();
    let d = decimals as usize;
    if digits.len() <= d {
        format!("0.{}{}", "0".repeat(d - digits.len()), digits)
    } else {
        let (int, frac) = digits.split_at(digits.len() - d);
        format!("{int}.{frac}")
    }
}

/// Parses a non-negative decimal string exactly into base units with `decimals` fractional digits.
pub fn parse_decimal(s: &str, decimals: u32) -> Result<u128, Error> {
    let err = |reason| Error::AmountParse {
        input: s.to_string(),
        reason,
    };
    let t = s.trim();
    if t.is_empty() {
        return Err(err("empty"));
    }
    let (int, frac) = match t.split_once('.') {
        Some((i, f)) => (i, f),
        None => (t, ""),
    };
    if int.is_empty() && frac.is_empty() {
        return Err(err("no digits"));
    }
    if !int.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err("only digits and one decimal point are allowed"));
    }
    if frac.len() > decimals as usize {
        return Err(err("more fractional digits than the unit allows"));
    }
    let scale = 10u128
        .checked_pow(decimals)
        .ok_or_else(|| err("too many decimals"))?;
    let int_v: u128 = if int.is_empty() {
        0
    } else {
        int.parse().map_err(|_| err("integer part too large"))?
    };
    let mut frac_v: u128 = if frac.is_empty() {
        0
    } else {
        frac.parse().map_err(|_| err("fraction too large"))?
    };
    for _ in frac.len()..decimals as usize {
        frac_v = frac_v
            .checked_mul(10)
            .ok_or_else(|| err("fraction too large"))?;
    }
    int_v
        .checked_mul(scale)
        .and_then(|v| v.checked_add(frac_v))
        .ok_or_else(|| err("too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sat_addition_refuses_overflow() {
        assert!(Sat(u64::MAX).checked_add(Sat(1)).is_err());
        assert_eq!(Sat(1).checked_add(Sat(2)).unwrap(), Sat(3));
    }

    #[test]
    fn sat_subtraction_refuses_negative() {
        let e = Sat(1).checked_sub(Sat(2)).unwrap_err();
        assert!(e.to_string().contains("sub of 1 and 2 sat"), "{e}");
    }

    #[test]
    fn wei_multiplication_refuses_overflow() {
        assert!(Wei(u128::MAX / 2 + 1).checked_mul(2).is_err());
        assert_eq!(Wei(21_000).checked_mul(3).unwrap(), Wei(63_000));
    }

    #[test]
    fn checked_sum_detects_overflow() {
        assert!(Sat::checked_sum([Sat(u64::MAX - 1), Sat(1), Sat(1)]).is_err());
        assert_eq!(Sat::checked_sum([Sat(5), Sat(6)]).unwrap(), Sat(11));
    }

    #[test]
    fn formats_exact_decimals() {
        assert_eq!(Sat(1).to_btc_string(), "0.00000001");
        assert_eq!(
            Sat(2_100_000_000_000_000).to_btc_string(),
            "21000000.00000000"
        );
        assert_eq!(Sat(123_456_789).to_btc_string(), "1.23456789");
        assert_eq!(Wei(1).to_eth_string(), "0.000000000000000001");
        assert_eq!(Wei(1_500_000).to_decimal_string(6), "1.500000");
        assert_eq!(Wei(42).to_decimal_string(0), "42");
    }

    #[test]
    fn parses_exact_decimals() {
        assert_eq!(Sat::from_btc_str("0.5").unwrap(), Sat(50_000_000));
        assert_eq!(
            Sat::from_btc_str("21000000").unwrap(),
            Sat(2_100_000_000_000_000)
        );
        assert_eq!(Sat::from_btc_str(".00000001").unwrap(), Sat(1));
        assert!(Sat::from_btc_str("0.000000001").is_err());
        assert!(Sat::from_btc_str("1e5").is_err());
        assert!(Sat::from_btc_str("-1").is_err());
        assert!(Sat::from_btc_str("").is_err());
        assert!(Sat::from_btc_str("99999999999999999999").is_err());
        assert_eq!(
            Wei::from_decimal_str("1.000000000000000001", 18).unwrap(),
            Wei(10u128.pow(18) + 1)
        );
    }

    #[test]
    fn round_trips_through_strings() {
        for v in [0u64, 1, 99, 100_000_000, 123_456_789_012, u64::MAX] {
            let s = Sat(v).to_btc_string();
            assert_eq!(Sat::from_btc_str(&s).unwrap(), Sat(v));
        }
    }

    #[test]
    fn wei_serialises_as_decimal_string() {
        let j = serde_json::to_string(&Wei(u128::MAX)).unwrap();
        assert_eq!(j, format!("\"{}\"", u128::MAX));
        let back: Wei = serde_json::from_str(&j).unwrap();
        assert_eq!(back, Wei(u128::MAX));
    }
}
