//! [`Dec`]: an exact decimal, `units × 10^-scale` on `i128`, with every rounding explicit.
//!
//! Parsing is exact (no exponent, at most [`MAX_SCALE`] fractional digits). Addition and
//! multiplication are exact or fail with [`Error::Overflow`]; division and rescaling to fewer
//! digits take a [`Round`] mode. Equal values at different scales compare equal.

use std::cmp::Ordering;
use std::fmt;

use crate::Error;

/// Most fractional digits a [`Dec`] carries.
pub const MAX_SCALE: u32 = 18;

/// Rounding direction when digits are dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Round {
    /// Toward negative infinity.
    Floor,
    /// Toward positive infinity.
    Ceil,
}

/// An exact decimal number.
#[derive(Debug, Clone, Copy)]
pub struct Dec {
    units: i128,
    scale: u32,
}

fn pow10(n: u32) -> Result<i128, Error> {
    10i128.checked_pow(n).ok_or(Error::Overflow("power of ten"))
}

fn div_round(n: i128, d: i128, round: Round) -> Result<i128, Error> {
    if d == 0 {
        return Err(Error::Overflow("division by zero"));
    }
    let q = n.checked_div(d).ok_or(Error::Overflow("division"))?;
    let r = n % d;
    if r == 0 {
        return Ok(q);
    }
    let negative = (r < 0) != (d < 0);
    Ok(match (round, negative) {
        (Round::Floor, true) => q - 1,
        (Round::Ceil, false) => q + 1,
        _ => q,
    })
}

impl Dec {
    /// Zero.
    pub const ZERO: Dec = Dec { units: 0, scale: 0 };

    /// `units × 10^-scale`.
    pub fn new(units: i128, scale: u32) -> Result<Dec, Error> {
        if scale > MAX_SCALE {
            return Err(Error::Overflow("scale above 18"));
        }
        Ok(Dec { units, scale })
    }

    /// An integer.
    pub fn from_int(n: i128) -> Dec {
        Dec { units: n, scale: 0 }
    }

    /// The raw units at [`Dec::scale`].
    pub fn units(self) -> i128 {
        self.units
    }

    /// Number of fractional digits.
    pub fn scale(self) -> u32 {
        self.scale
    }

    /// Parses `-?digits(.digits)?` exactly. `None` names no reason; the caller adds the file.
    pub fn parse(s: &str) -> Result<Dec, &'static str> {
        let t = s.trim();
        let (neg, body) = match t.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, t.strip_prefix('+').unwrap_or(t)),
        };
        let (int, frac) = body.split_once('.').unwrap_or((body, ""));
        if int.is_empty() && frac.is_empty() {
            return Err("not a decimal number");
        }
        if !int.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return Err("not a decimal number (digits and one '.' only; no exponent)");
        }
        if frac.len() > MAX_SCALE as usize {
            return Err("more than 18 fractional digits");
        }
        if int.len() + frac.len() > 36 {
            return Err("too many digits");
        }
        let mut units: i128 = 0;
        for b in int.bytes().chain(frac.bytes()) {
            units = units * 10 + i128::from(b - b'0');
        }
        Ok(Dec {
            units: if neg { -units } else { units },
            scale: frac.len() as u32,
        })
    }

    /// True when the value is above zero.
    pub fn is_positive(self) -> bool {
        self.units > 0
    }

    /// True when the value is below zero.
    pub fn is_negative(self) -> bool {
        self.units < 0
    }

    /// The same value with `scale` digits, rounded as asked when digits are dropped.
    pub fn rescale(self, scale: u32, round: Round) -> Result<Dec, Error> {
        if scale > MAX_SCALE {
            return Err(Error::Overflow("scale above 18"));
        }
        let units = if scale >= self.scale {
            self.units
                .checked_mul(pow10(scale - self.scale)?)
                .ok_or(Error::Overflow("rescale"))?
        } else {
            div_round(self.units, pow10(self.scale - scale)?, round)?
        };
        Ok(Dec { units, scale })
    }

    fn aligned(self, other: Dec) -> Result<(i128, i128, u32), Error> {
        let s = self.scale.max(other.scale);
        let a = self.rescale(s, Round::Floor)?.units;
        let b = other.rescale(s, Round::Floor)?.units;
        Ok((a, b, s))
    }

    /// Exact sum.
    pub fn checked_add(self, other: Dec) -> Result<Dec, Error> {
        let (a, b, s) = self.aligned(other)?;
        Ok(Dec {
            units: a.checked_add(b).ok_or(Error::Overflow("addition"))?,
            scale: s,
        })
    }

    /// Exact difference.
    pub fn checked_sub(self, other: Dec) -> Result<Dec, Error> {
        let (a, b, s) = self.aligned(other)?;
        Ok(Dec {
            units: a.checked_sub(b).ok_or(Error::Overflow("subtraction"))?,
            scale: s,
        })
    }

    /// Product rounded to `scale` digits.
    pub fn mul(self, other: Dec, scale: u32, round: Round) -> Result<Dec, Error> {
        let units = self
            .units
            .checked_mul(other.units)
            .ok_or(Error::Overflow("multiplication"))?;
        let exact_scale = self.scale + other.scale;
        // The exact product has up to 36 digits of scale; bring it to `scale` in one step.
        let units = if scale >= exact_scale {
            units
                .checked_mul(pow10(scale - exact_scale)?)
                .ok_or(Error::Overflow("multiplication"))?
        } else {
            div_round(units, pow10(exact_scale - scale)?, round)?
        };
        Dec::new(units, scale)
    }

    /// Quotient rounded to `scale` digits.
    pub fn div(self, other: Dec, scale: u32, round: Round) -> Result<Dec, Error> {
        if other.units == 0 {
            return Err(Error::Overflow("division by zero"));
        }
        // self/other = (a·10^-sa)/(b·10^-sb); want q·10^-scale: q = a·10^(scale+sb-sa) / b.
        let shift = i64::from(scale) + i64::from(other.scale) - i64::from(self.scale);
        let (n, d) = if shift >= 0 {
            let n = self
                .units
                .checked_mul(pow10(shift as u32)?)
                .ok_or(Error::Overflow("division"))?;
            (n, other.units)
        } else {
            let d = other
                .units
                .checked_mul(pow10((-shift) as u32)?)
                .ok_or(Error::Overflow("division"))?;
            (self.units, d)
        };
        Dec::new(div_round(n, d, round)?, scale)
    }

    /// `self × m / d` rounded once, to `scale` digits (exact before the one rounding).
    pub fn mul_div(self, m: Dec, d: Dec, scale: u32, round: Round) -> Result<Dec, Error> {
        if d.units == 0 {
            return Err(Error::Overflow("division by zero"));
        }
        let n = self
            .units
            .checked_mul(m.units)
            .ok_or(Error::Overflow("multiplication"))?;
        let shift =
            i64::from(scale) + i64::from(d.scale) - i64::from(self.scale) - i64::from(m.scale);
        let (n, den) = if shift >= 0 {
            (
                n.checked_mul(pow10(shift as u32)?)
                    .ok_or(Error::Overflow("multiplication"))?,
                d.units,
            )
        } else {
            (
                n,
                d.units
                    .checked_mul(pow10((-shift) as u32)?)
                    .ok_or(Error::Overflow("division"))?,
            )
        };
        Dec::new(div_round(n, den, round)?, scale)
    }

    /// The decimal text at the number's own scale (`1.50` stays `1.50`).
    pub fn to_fixed(self, scale: u32, round: Round) -> Result<String, Error> {
        Ok(self.rescale(scale, round)?.to_string())
    }
}

impl PartialEq for Dec {
    fn eq(&self, other: &Dec) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Dec {}

impl PartialOrd for Dec {
    fn partial_cmp(&self, other: &Dec) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Dec {
    fn cmp(&self, other: &Dec) -> Ordering {
        match self.aligned(*other) {
            Ok((a, b, _)) => a.cmp(&b),
            // Only when one side cannot be widened: compare by magnitude of the integer part.
            Err(_) => {
                let a = self.units / 10i128.pow(self.scale);
                let b = other.units / 10i128.pow(other.scale);
                a.cmp(&b)
            }
        }
    }
}

impl fmt::Display for Dec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let neg = self.units < 0;
        let digits = self.units.unsigned_abs().to_string();
        let s = self.scale as usize;
        let body = if s == 0 {
            digits
        } else if digits.len() <= s {
            format!("0.{}{}", "0".repeat(s - digits.len()), digits)
        } else {
            let (i, fr) = digits.split_at(digits.len() - s);
            format!("{i}.{fr}")
        };
        if neg {
            write!(f, "-{body}")
        } else {
            f.write_str(&body)
        }
    }
}

impl serde::Serialize for Dec {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Dec {
        Dec::parse(s).unwrap()
    }

    #[test]
    fn parses_exactly_and_prints_at_its_scale() {
        assert_eq!(d("30300.10000").to_string(), "30300.10000");
        assert_eq!(d("-0.05").to_string(), "-0.05");
        assert_eq!(d(".5").to_string(), "0.5");
        assert_eq!(d("1.50"), d("1.5"));
        assert!(Dec::parse("1e5").is_err());
        assert!(Dec::parse("1.2.3").is_err());
        assert!(Dec::parse("").is_err());
        assert!(Dec::parse("0.1234567890123456789").is_err());
    }

    #[test]
    fn rounds_in_the_direction_asked() {
        assert_eq!(
            d("1.005").rescale(2, Round::Floor).unwrap().to_string(),
            "1.00"
        );
        assert_eq!(
            d("1.001").rescale(2, Round::Ceil).unwrap().to_string(),
            "1.01"
        );
        assert_eq!(
            d("-1.001").rescale(2, Round::Floor).unwrap().to_string(),
            "-1.01"
        );
        assert_eq!(
            d("-1.001").rescale(2, Round::Ceil).unwrap().to_string(),
            "-1.00"
        );
        assert_eq!(
            d("2").rescale(3, Round::Floor).unwrap().to_string(),
            "2.000"
        );
    }

    #[test]
    fn divides_with_rounding() {
        let third = d("1").div(d("3"), 4, Round::Floor).unwrap();
        assert_eq!(third.to_string(), "0.3333");
        let third_up = d("1").div(d("3"), 4, Round::Ceil).unwrap();
        assert_eq!(third_up.to_string(), "0.3334");
        // 60000 USD / 1.0850 USD per EUR = 55299.539170506... EUR
        let eur = d("60000").div(d("1.0850"), 8, Round::Floor).unwrap();
        assert_eq!(eur.to_string(), "55299.53917050");
    }

    #[test]
    fn mul_div_rounds_once() {
        // 80000 USD * 1 EUR / 1.0850 USD, to cents, down: 73732.71889400... -> 73732.71
        let v = d("80000")
            .mul_div(d("1"), d("1.0850"), 2, Round::Floor)
            .unwrap();
        assert_eq!(v.to_string(), "73732.71");
        let v = d("0.00000001")
            .mul_div(d("3"), d("1"), 8, Round::Ceil)
            .unwrap();
        assert_eq!(v.to_string(), "0.00000003");
    }

    #[test]
    fn multiplies_exactly_then_rounds() {
        let p = d("55000.12").mul(d("0.5"), 2, Round::Floor).unwrap();
        assert_eq!(p.to_string(), "27500.06");
        let bond = d("27500.06").mul(d("1.10"), 2, Round::Ceil).unwrap();
        assert_eq!(bond.to_string(), "30250.07");
        assert!(Dec::new(i128::MAX, 0)
            .unwrap()
            .mul(d("2"), 0, Round::Floor)
            .is_err());
    }
}
