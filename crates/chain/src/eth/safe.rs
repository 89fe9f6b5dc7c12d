//! What `custos eth safe deploy|propose|execute` asks a node beyond a sweep's calls (send.rs):
//! a Safe's nonce, owners and threshold and an address's code at a pinned block.

use alloy_primitives::{Address, Bytes, U256};
use alloy_sol_types::SolCall;
use serde_json::json;

use super::{EthError, EthSource, PinnedBlock};

alloy_sol_types::sol! {
    /// The Safe v1.4.1 views the online side reads.
    #[derive(Debug)]
    interface ISafeView {
        function nonce() external view returns (uint256);
        function getOwners() external view returns (address[]);
        function getThreshold() external view returns (uint256);
    }
}

/// A Safe's state at a pinned block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SafeState {
    /// The Safe.
    pub safe: Address,
    /// Its transaction nonce.
    pub nonce: U256,
    /// Owners, in the Safe's linked-list order.
    pub owners: Vec<Address>,
    /// Signatures required.
    pub threshold: U256,
}

impl EthSource {
    /// `eth_call` of `data` on `to` at the pinned block.
    pub fn call_at(
        &self,
        pin: &PinnedBlock,
        to: Address,
        data: Vec<u8>,
    ) -> Result<Bytes, EthError> {
        let data = Bytes::from(data);
        self.raw("eth_call", json!([{"to": to, "data": data}, pin.id()]))
    }

    /// The code at `addr` at the pinned block (empty: no contract).
    pub fn code_at(&self, pin: &PinnedBlock, addr: Address) -> Result<Bytes, EthError> {
        self.raw("eth_getCode", json!([addr, pin.id()]))
    }

    /// Nonce, owners and threshold of the Safe at the pinned block; an address without code
    /// or that does not answer as a Safe is an error naming it.
    pub fn safe_state(&self, pin: &PinnedBlock, safe: Address) -> Result<SafeState, EthError> {
        let not_safe = |what: &str, e: String| {
            self.answer(
                "eth_call",
                format!("{} is not a safe: {what}: {e}", safe.to_checksum(None)),
            )
        };
        if self.code_at(pin, safe)?.is_empty() {
            return Err(not_safe(
                "code",
                "no contract at this address at the pinned block".into(),
            ));
        }
        let nonce = self.call_at(pin, safe, ISafeView::nonceCall {}.abi_encode())?;
        let owners = self.call_at(pin, safe, ISafeView::getOwnersCall {}.abi_encode())?;
        let threshold = self.call_at(pin, safe, ISafeView::getThresholdCall {}.abi_encode())?;
        Ok(SafeState {
            safe,
            nonce: ISafeView::nonceCall::abi_decode_returns(&nonce)
                .map_err(|e| not_safe("nonce()", e.to_string()))?,
            owners: ISafeView::getOwnersCall::abi_decode_returns(&owners)
                .map_err(|e| not_safe("getOwners()", e.to_string()))?,
            threshold: ISafeView::getThresholdCall::abi_decode_returns(&threshold)
                .map_err(|e| not_safe("getThreshold()", e.to_string()))?,
        })
    }
}
