//! The lab's bookkeeping of balances: what the scenario's transactions must have left on each
//! address, computed from the amounts sent, the fee token's rule and the gas each receipt says
//! was paid — never read from the node (the node is compared against it afterwards).

use std::collections::BTreeMap;

use alloy_primitives::{Address, U256};

use super::EthError;

/// ETH per address and token units per (token index, address).
#[derive(Debug, Default, Clone)]
pub(crate) struct Ledger {
    eth: BTreeMap<Address, U256>,
    tokens: BTreeMap<(usize, Address), U256>,
}

fn overflow(who: Address, asset: &str, step: usize) -> EthError {
    EthError::Overflow {
        account: who.to_checksum(None),
        asset: asset.to_string(),
        step,
    }
}

impl Ledger {
    pub(crate) fn eth(&self, who: Address) -> U256 {
        self.eth.get(&who).copied().unwrap_or_default()
    }

    pub(crate) fn token(&self, token: usize, who: Address) -> U256 {
        self.tokens.get(&(token, who)).copied().unwrap_or_default()
    }

    pub(crate) fn credit_eth(
        &mut self,
        who: Address,
        v: U256,
        step: usize,
    ) -> Result<(), EthError> {
        let e = self.eth.entry(who).or_default();
        *e = e.checked_add(v).ok_or_else(|| overflow(who, "ETH", step))?;
        Ok(())
    }

    pub(crate) fn debit_eth(&mut self, who: Address, v: U256, step: usize) -> Result<(), EthError> {
        let e = self.eth.entry(who).or_default();
        *e = e.checked_sub(v).ok_or_else(|| overflow(who, "ETH", step))?;
        Ok(())
    }

    pub(crate) fn move_eth(
        &mut self,
        from: Address,
        to: Address,
        v: U256,
        step: usize,
    ) -> Result<(), EthError> {
        self.debit_eth(from, v, step)?;
        self.credit_eth(to, v, step)
    }

    pub(crate) fn mint(&mut self, token: usize, who: Address, v: U256) -> Result<(), EthError> {
        let e = self.tokens.entry((token, who)).or_default();
        *e = e.checked_add(v).ok_or_else(|| overflow(who, "token", 0))?;
        Ok(())
    }

    pub(crate) fn move_token(
        &mut self,
        token: usize,
        from: Address,
        to: Address,
        v: U256,
        step: usize,
    ) -> Result<(), EthError> {
        let f = self.tokens.entry((token, from)).or_default();
        *f = f
            .checked_sub(v)
            .ok_or_else(|| overflow(from, "token", step))?;
        let t = self.tokens.entry((token, to)).or_default();
        *t = t
            .checked_add(v)
            .ok_or_else(|| overflow(to, "token", step))?;
        Ok(())
    }
}

/// The fee a fee-on-transfer token keeps: `value * bps / 10000`, rounded down, as the contract
/// computes it; none when the collector pays or is paid.
pub(crate) fn transfer_fee(value: U256, bps: u16, collector_involved: bool) -> U256 {
    if collector_involved {
        return U256::ZERO;
    }
    value.saturating_mul(U256::from(bps)) / U256::from(10_000u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fee_rounds_down_and_is_waived_for_the_collector() {
        assert_eq!(
            transfer_fee(U256::from(199u32), 100, false),
            U256::from(1u32)
        );
        assert_eq!(transfer_fee(U256::from(99u32), 100, false), U256::ZERO);
        assert_eq!(transfer_fee(U256::from(10_000u32), 100, true), U256::ZERO);
    }

    #[test]
    fn spending_more_than_held_is_an_error_not_a_wrap() {
        let mut l = Ledger::default();
        let a = Address::repeat_byte(1);
        l.credit_eth(a, U256::from(5u8), 1).unwrap();
        assert!(l.debit_eth(a, U256::from(6u8), 2).is_err());
        assert!(l
            .move_token(0, a, Address::ZERO, U256::from(1u8), 3)
            .is_err());
    }
}
