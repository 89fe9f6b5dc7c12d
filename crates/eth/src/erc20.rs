//! ERC-20 `transfer(address,uint256)` calldata: encoding for the sweep builder, and a strict
//! decoding for the signer (exact length, selector, clean address word), so the recipient the
//! signer checks is the one the token contract will read.

use alloy_primitives::{Address, U256};
use alloy_sol_types::{sol, SolCall};

use crate::error::{Error, Result};

sol! {
    /// ERC-20 `transfer`. Tokens like USDT return nothing instead of `bool`; the call data is
    /// the same.
    function transfer(address to, uint256 amount) external returns (bool);
}

/// The 4-byte selector of `transfer(address,uint256)` (`a9059cbb`).
pub const TRANSFER_SELECTOR: [u8; 4] = transferCall::SELECTOR;

/// `transfer(to, amount)` call data.
pub fn encode_transfer(to: Address, amount: U256) -> Vec<u8> {
    transferCall { to, amount }.abi_encode()
}

/// Decodes `transfer` call data: exactly 4 + 2·32 bytes, the `transfer` selector, and an address
/// word whose top 12 bytes are zero. Anything else is an error naming `what`.
pub fn decode_transfer(data: &[u8], what: &str) -> Result<(Address, U256)> {
    if data.len() < 4 || data[..4] != TRANSFER_SELECTOR {
        return Err(Error::malformed(
            what,
            format!(
                "call data is not an erc-20 transfer (selector {})",
                hex::encode(&data[..data.len().min(4)])
            ),
        ));
    }
    if data.len() != 68 {
        return Err(Error::malformed(
            what,
            format!(
                "erc-20 transfer call data is {} bytes; exactly 68 expected",
                data.len()
            ),
        ));
    }
    let call = transferCall::abi_decode_validate(data)
        .map_err(|e| Error::malformed(what, format!("erc-20 transfer call data: {e}")))?;
    Ok((call.to, call.amount))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::address;

    #[test]
    fn selector_is_the_well_known_one() {
        assert_eq!(hex::encode(TRANSFER_SELECTOR), "a9059cbb");
    }

    #[test]
    fn encodes_the_abi_layout_and_decodes_it_back() {
        let to = address!("00000000000000000000000000000000000000aa");
        let data = encode_transfer(to, U256::from(1_000_000u64));
        assert_eq!(
            hex::encode(&data),
            concat!(
                "a9059cbb",
                "00000000000000000000000000000000000000000000000000000000000000aa",
                "00000000000000000000000000000000000000000000000000000000000f4240"
            )
        );
        assert_eq!(
            decode_transfer(&data, "t").unwrap(),
            (to, U256::from(1_000_000u64))
        );
    }

    #[test]
    fn refuses_other_selectors_trailing_bytes_and_dirty_address_words() {
        let to = address!("00000000000000000000000000000000000000aa");
        let mut data = encode_transfer(to, U256::from(1u8));
        let mut approve = data.clone();
        approve[..4].copy_from_slice(&[0x09, 0x5e, 0xa7, 0xb3]);
        assert!(decode_transfer(&approve, "t")
            .unwrap_err()
            .to_string()
            .contains("095ea7b3"));
        let mut long = data.clone();
        long.push(0);
        assert!(decode_transfer(&long, "t")
            .unwrap_err()
            .to_string()
            .contains("69 bytes"));
        data[4] = 1; // a high byte in the address word
        assert!(decode_transfer(&data, "t").is_err());
        assert!(decode_transfer(&[], "t").is_err());
    }
}
