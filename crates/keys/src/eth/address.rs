//! EIP-55 mixed-case checksum addresses. A mixed-case address whose checksum fails is an error
//! (it is a typo until proven otherwise); an address written in one case only (all lower or all
//! upper hex letters) carries no checksum and is accepted. Addresses are shown checksummed.

use alloy_primitives::Address;

use super::EthKeyError;

/// Parses an Ethereum address (`0x` + 40 hex digits), checking the EIP-55 checksum when the
/// letters are of mixed case. `line` is named in the error.
pub fn parse_address(text: &str, line: Option<usize>) -> Result<Address, EthKeyError> {
    let t = text.trim();
    let err = |fault| EthKeyError::Address {
        text: t.to_string(),
        line,
        fault,
    };
    let hex = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .ok_or_else(|| err("does not start with 0x"))?;
    if hex.len() != 40 {
        return Err(err("is not 40 hex digits"));
    }
    if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(err("contains a character that is not hex"));
    }
    let mut bytes = [0u8; 20];
    for (i, b) in bytes.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)
            .map_err(|_| err("contains a character that is not hex"))?;
    }
    let addr = Address::from(bytes);
    let has_lower = hex.bytes().any(|b| b.is_ascii_lowercase());
    let has_upper = hex.bytes().any(|b| b.is_ascii_uppercase());
    if has_lower && has_upper && checksummed(&addr)[2..] != *hex {
        return Err(err("mixed-case eip-55 checksum does not match (a typo?)"));
    }
    Ok(addr)
}

/// The EIP-55 form of an address: `0x` + hex with the letters' case set by keccak256 of the
/// lower-case hex (a letter is upper case where the hash's nibble at its position is ≥ 8).
pub fn checksummed(addr: &Address) -> String {
    let lower = alloy_primitives::hex::encode(addr.as_slice());
    let hash = alloy_primitives::keccak256(lower.as_bytes());
    let mut out = String::with_capacity(42);
    out.push_str("0x");
    for (i, c) in lower.chars().enumerate() {
        let byte = hash[i / 2];
        let nibble = if i % 2 == 0 { byte >> 4 } else { byte & 0x0f };
        if c.is_ascii_alphabetic() && nibble >= 8 {
            out.push(c.to_ascii_uppercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test cases of EIP-55 itself (eips.ethereum.org/EIPS/eip-55, "Test Cases").
    const EIP55: [&str; 4] = [
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
        "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
        "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
        "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
    ];

    #[test]
    fn eip55_examples_round_trip() {
        for s in EIP55 {
            let a = parse_address(s, None).unwrap();
            assert_eq!(checksummed(&a), s);
            // alloy's own implementation agrees
            assert_eq!(a.to_checksum(None), s);
        }
    }

    #[test]
    fn all_lower_case_is_accepted_and_shown_checksummed() {
        for s in EIP55 {
            let lower = s.to_ascii_lowercase();
            let a = parse_address(&lower, Some(3)).unwrap();
            assert_eq!(checksummed(&a), s);
            let upper = format!("0x{}", s[2..].to_ascii_uppercase());
            assert_eq!(checksummed(&parse_address(&upper, None).unwrap()), s);
        }
    }

    #[test]
    fn mixed_case_with_wrong_checksum_is_an_error_naming_the_line() {
        // flip the case of one letter of a valid checksummed address
        let bad = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD";
        let e = parse_address(bad, Some(7)).unwrap_err().to_string();
        assert!(e.contains("checksum") && e.contains("line 7"), "{e}");
        assert!(e.contains(bad), "{e}");
    }

    #[test]
    fn malformed_addresses_are_errors() {
        for (s, want) in [
            ("5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0x"),
            ("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeA", "40 hex"),
            ("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAzz", "not hex"),
        ] {
            let e = parse_address(s, None).unwrap_err().to_string();
            assert!(e.contains(want), "{s}: {e}");
        }
    }
}
