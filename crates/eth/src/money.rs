//! Integer money on Ethereum: [`Wei`] (ether's base unit) and [`TokenAmount`] (an ERC-20's base
//! units with its decimals), both U256 with checked arithmetic and exact decimal strings. No
//! float is ever involved.

use std::fmt;

use alloy_primitives::U256;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, Result};

/// Wei per ether.
pub const WEI_PER_ETH: u128 = 1_000_000_000_000_000_000;

/// An amount of wei. Serialised as a decimal string (JSON numbers cannot hold 256 bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Wei(pub U256);

/// An amount of an ERC-20 token in base units, with the token's decimals for display.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenAmount {
    /// Base units.
    pub units: U256,
    /// The token's `decimals()`.
    pub decimals: u8,
}

fn overflow(op: &'static str, a: U256, b: U256, unit: &'static str) -> Error {
    Error::Overflow {
        op,
        lhs: a.to_string(),
        rhs: b.to_string(),
        unit,
    }
}

impl Wei {
    /// Zero.
    pub const ZERO: Wei = Wei(U256::ZERO);

    /// From a `u128`.
    pub fn from_u128(v: u128) -> Wei {
        Wei(U256::from(v))
    }

    /// Checked addition.
    pub fn checked_add(self, rhs: Wei) -> Result<Wei> {
        self.0
            .checked_add(rhs.0)
            .map(Wei)
            .ok_or_else(|| overflow("add", self.0, rhs.0, "wei"))
    }

    /// Checked subtraction; fails below zero.
    pub fn checked_sub(self, rhs: Wei) -> Result<Wei> {
        self.0
            .checked_sub(rhs.0)
            .map(Wei)
            .ok_or_else(|| overflow("sub", self.0, rhs.0, "wei"))
    }

    /// Checked multiplication by an integer (gas × fee per gas).
    pub fn checked_mul(self, rhs: u128) -> Result<Wei> {
        let r = U256::from(rhs);
        self.0
            .checked_mul(r)
            .map(Wei)
            .ok_or_else(|| overflow("mul", self.0, r, "wei"))
    }

    /// Exact ether decimal with all 18 fractional digits, e.g. `1.500000000000000000`.
    pub fn to_eth_string(self) -> String {
        format_units(self.0, 18)
    }

    /// Parses an exact ether decimal (at most 18 fractional digits).
    pub fn from_eth_str(s: &str) -> Result<Wei> {
        parse_units(s, 18).map(Wei)
    }

    /// From `custos_core::Wei` (u128).
    pub fn from_core(w: custos_core::Wei) -> Wei {
        Wei::from_u128(w.units())
    }
}

impl TokenAmount {
    /// A token amount.
    pub fn new(units: U256, decimals: u8) -> TokenAmount {
        TokenAmount { units, decimals }
    }

    /// Checked addition (same token; decimals must agree).
    pub fn checked_add(self, rhs: TokenAmount) -> Result<TokenAmount> {
        self.same(rhs)?;
        self.units
            .checked_add(rhs.units)
            .map(|u| TokenAmount::new(u, self.decimals))
            .ok_or_else(|| overflow("add", self.units, rhs.units, "token units"))
    }

    /// Checked subtraction (same token); fails below zero.
    pub fn checked_sub(self, rhs: TokenAmount) -> Result<TokenAmount> {
        self.same(rhs)?;
        self.units
            .checked_sub(rhs.units)
            .map(|u| TokenAmount::new(u, self.decimals))
            .ok_or_else(|| overflow("sub", self.units, rhs.units, "token units"))
    }

    fn same(self, rhs: TokenAmount) -> Result<()> {
        if self.decimals == rhs.decimals {
            Ok(())
        } else {
            Err(Error::malformed(
                "token amount",
                format!("decimals differ ({} and {})", self.decimals, rhs.decimals),
            ))
        }
    }

    /// Exact decimal with `decimals` fractional digits.
    pub fn to_decimal_string(self) -> String {
        format_units(self.units, self.decimals)
    }

    /// Parses an exact decimal with at most `decimals` fractional digits.
    pub fn from_decimal_str(s: &str, decimals: u8) -> Result<TokenAmount> {
        parse_units(s, decimals).map(|u| TokenAmount::new(u, decimals))
    }
}

/// `units` as a decimal with exactly `decimals` fractional digits (none when 0).
pub fn format_units(units: U256, decimals: u8) -> String {
    let digits = units.to_string();
    let d = usize::from(decimals);
    if d == 0 {
        return digits;
    }
    if digits.len() <= d {
        format!("0.{}{digits}", "0".repeat(d - digits.len()))
    } else {
        let (i, f) = digits.split_at(digits.len() - d);
        format!("{i}.{f}")
    }
}

/// Parses a non-negative decimal exactly into base units.
pub fn parse_units(s: &str, decimals: u8) -> Result<U256> {
    let err = |reason| Error::AmountParse {
        input: s.to_string(),
        reason,
    };
    let t = s.trim();
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    if int.is_empty() && frac.is_empty() {
        return Err(err("no digits"));
    }
    if !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return Err(err("only digits and one decimal point are allowed"));
    }
    if frac.len() > usize::from(decimals) {
        return Err(err("more fractional digits than the unit allows"));
    }
    let padded = format!(
        "{int}{frac}{}",
        "0".repeat(usize::from(decimals) - frac.len())
    );
    let digits = padded.trim_start_matches('0');
    if digits.is_empty() {
        return Ok(U256::ZERO);
    }
    U256::from_str_radix(digits, 10).map_err(|_| err("too large for 256 bits"))
}

impl fmt::Display for Wei {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} wei", self.0)
    }
}

impl Serialize for Wei {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.to_string())
    }
}

impl<'de> Deserialize<'de> for Wei {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Wei, D::Error> {
        use serde::de::Error as _;
        let s = String::deserialize(d)?;
        parse_units(&s, 0).map(Wei).map_err(D::Error::custom)
    }
}

/// Serde helper: a U256 as a decimal string.
pub mod u256_decimal {
    use super::*;
    /// Serialises as a decimal string.
    pub fn serialize<S: Serializer>(v: &U256, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }
    /// Deserialises a decimal string (digits only).
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<U256, D::Error> {
        use serde::de::Error as _;
        let s = String::deserialize(d)?;
        parse_units(&s, 0).map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wei_arithmetic_refuses_overflow_and_negative() {
        assert!(Wei(U256::MAX).checked_add(Wei::from_u128(1)).is_err());
        let e = Wei::from_u128(1)
            .checked_sub(Wei::from_u128(2))
            .unwrap_err();
        assert!(e.to_string().contains("sub of 1 and 2 wei"), "{e}");
        assert!(Wei(U256::MAX).checked_mul(2).is_err());
        assert_eq!(
            Wei::from_u128(21_000).checked_mul(3).unwrap(),
            Wei::from_u128(63_000)
        );
    }

    #[test]
    fn formats_and_parses_exact_decimals() {
        assert_eq!(Wei::from_u128(1).to_eth_string(), "0.000000000000000001");
        assert_eq!(
            Wei::from_u128(WEI_PER_ETH * 3 / 2).to_eth_string(),
            "1.500000000000000000"
        );
        assert_eq!(
            Wei::from_eth_str("1.5").unwrap(),
            Wei::from_u128(WEI_PER_ETH * 3 / 2)
        );
        assert_eq!(
            Wei::from_eth_str(".000000000000000001").unwrap(),
            Wei::from_u128(1)
        );
        assert!(Wei::from_eth_str("0.0000000000000000001").is_err());
        assert!(Wei::from_eth_str("1e18").is_err());
        assert!(Wei::from_eth_str("-1").is_err());
        let t = TokenAmount::from_decimal_str("12.5", 6).unwrap();
        assert_eq!(t.units, U256::from(12_500_000u64));
        assert_eq!(t.to_decimal_string(), "12.500000");
        assert_eq!(
            TokenAmount::new(U256::from(42u8), 0).to_decimal_string(),
            "42"
        );
        // the largest U256 round-trips
        let max = format_units(U256::MAX, 18);
        assert_eq!(parse_units(&max, 18).unwrap(), U256::MAX);
        assert!(parse_units(&format!("{}0", U256::MAX), 0).is_err());
    }

    #[test]
    fn token_amounts_of_different_decimals_do_not_mix() {
        let a = TokenAmount::new(U256::from(1u8), 6);
        let b = TokenAmount::new(U256::from(1u8), 18);
        assert!(a.checked_add(b).is_err());
        assert!(a.checked_sub(TokenAmount::new(U256::from(2u8), 6)).is_err());
    }

    #[test]
    fn wei_serialises_as_a_decimal_string() {
        let j = serde_json::to_string(&Wei(U256::MAX)).unwrap();
        assert_eq!(j, format!("\"{}\"", U256::MAX));
        let back: Wei = serde_json::from_str(&j).unwrap();
        assert_eq!(back, Wei(U256::MAX));
        assert!(serde_json::from_str::<Wei>("\"0x10\"").is_err());
    }
}
