//! [`Taint`]: which sats of one coin are tainted, as sorted, disjoint, half-open ranges.

use custos_core::Sat;
use serde::{Deserialize, Serialize};

use super::TaintError;

/// The tainted sats of one coin: sorted, disjoint, non-adjacent, non-empty half-open ranges
/// `[start, end)` of sat positions inside the coin (position 0 is the coin's first sat).
///
/// The form is canonical (touching ranges are merged), so two taints covering the same sats are
/// equal. Serialised as a list of `[start, end]` pairs. A `Taint` does not know its coin's value:
/// [`Taint::end`] tells how large a coin must be to hold it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "Vec<[u64; 2]>", into = "Vec<[u64; 2]>")]
pub struct Taint {
    ranges: Vec<(u64, u64)>,
}

impl Taint {
    /// No tainted sat.
    pub fn none() -> Taint {
        Taint::default()
    }

    /// A coin of value `v` fully tainted: `[0, v)`.
    pub fn full(v: Sat) -> Taint {
        Taint::prefix(v.0)
    }

    /// The first `n` sats tainted: `[0, n)` (nothing when `n` is 0).
    pub fn prefix(n: u64) -> Taint {
        if n == 0 {
            Taint::none()
        } else {
            Taint {
                ranges: vec![(0, n)],
            }
        }
    }

    /// Builds a taint from ranges in any order; overlapping and touching ranges are merged and
    /// empty ones (`start == end`) dropped. Fails on a reversed range (`start > end`).
    pub fn from_ranges(ranges: impl IntoIterator<Item = (u64, u64)>) -> Result<Taint, TaintError> {
        let mut rs = Vec::new();
        for (start, end) in ranges {
            if start > end {
                return Err(TaintError::ReversedRange { start, end });
            }
            if start < end {
                rs.push((start, end));
            }
        }
        rs.sort_unstable();
        Ok(Taint {
            ranges: merge_sorted(rs),
        })
    }

    /// Builds a taint from ranges already sorted by start and non-overlapping (touching allowed),
    /// as the propagation code produces them.
    pub(crate) fn from_sorted(ranges: Vec<(u64, u64)>) -> Taint {
        debug_assert!(ranges.windows(2).all(|w| w[0].1 <= w[1].0));
        Taint {
            ranges: merge_sorted(ranges.into_iter().filter(|(s, e)| s < e).collect()),
        }
    }

    /// The ranges, sorted, disjoint and non-adjacent.
    pub fn ranges(&self) -> &[(u64, u64)] {
        &self.ranges
    }

    /// Total tainted sats.
    pub fn amount(&self) -> Sat {
        // Ranges are disjoint inside [0, u64::MAX), so their lengths sum to at most u64::MAX.
        Sat(self.ranges.iter().map(|(s, e)| e - s).sum())
    }

    /// Whether no sat is tainted.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// One past the last tainted sat (0 when nothing is tainted): the smallest coin value that
    /// can hold this taint.
    pub fn end(&self) -> u64 {
        self.ranges.last().map_or(0, |r| r.1)
    }

    /// The sats tainted in either.
    pub fn union(&self, other: &Taint) -> Taint {
        let mut rs: Vec<(u64, u64)> = self.ranges.iter().chain(&other.ranges).copied().collect();
        rs.sort_unstable();
        Taint {
            ranges: merge_sorted(rs),
        }
    }
}

/// Merges overlapping or touching ranges of a list sorted by start.
fn merge_sorted(rs: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(rs.len());
    for (s, e) in rs {
        match out.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => out.push((s, e)),
        }
    }
    out
}

impl TryFrom<Vec<[u64; 2]>> for Taint {
    type Error = TaintError;
    fn try_from(v: Vec<[u64; 2]>) -> Result<Taint, TaintError> {
        Taint::from_ranges(v.into_iter().map(|[s, e]| (s, e)))
    }
}

impl From<Taint> for Vec<[u64; 2]> {
    fn from(t: Taint) -> Vec<[u64; 2]> {
        t.ranges.into_iter().map(|(s, e)| [s, e]).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_ranges_sorts_merges_and_drops_empty_ranges() {
        let t = Taint::from_ranges([(10, 20), (0, 5), (5, 7), (15, 30), (40, 40)]).unwrap();
        assert_eq!(t.ranges(), &[(0, 7), (10, 30)]);
        assert_eq!(t.amount(), Sat(27));
        assert_eq!(t.end(), 30);
    }

    #[test]
    fn refuses_reversed_range() {
        assert_eq!(
            Taint::from_ranges([(5, 3)]),
            Err(TaintError::ReversedRange { start: 5, end: 3 })
        );
    }

    #[test]
    fn prefix_zero_and_full_zero_are_none() {
        assert_eq!(Taint::prefix(0), Taint::none());
        assert_eq!(Taint::full(Sat(0)), Taint::none());
        assert_eq!(Taint::full(Sat(9)).ranges(), &[(0, 9)]);
    }

    #[test]
    fn union_merges_touching_ranges() {
        let a = Taint::from_ranges([(0, 3), (8, 9)]).unwrap();
        let b = Taint::from_ranges([(3, 5)]).unwrap();
        assert_eq!(a.union(&b).ranges(), &[(0, 5), (8, 9)]);
    }

    #[test]
    fn serialises_as_list_of_pairs_and_validates_on_read() {
        let t = Taint::from_ranges([(0, 3), (8, 9)]).unwrap();
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(json, "[[0,3],[8,9]]");
        assert_eq!(serde_json::from_str::<Taint>(&json).unwrap(), t);
        assert!(serde_json::from_str::<Taint>("[[9,8]]").is_err());
    }
}
