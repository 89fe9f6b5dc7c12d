//! Test inputs shared by the address writers' tests (`base58`, `segwit`): every network, and
//! replayable pseudo-random bytes.

use custos_core::Network;

/// Every network an address is written for.
pub(super) const NETWORKS: [Network; 5] = [
    Network::Bitcoin,
    Network::Testnet,
    Network::Testnet4,
    Network::Signet,
    Network::Regtest,
];

/// Deterministic pseudo-random bytes (xorshift), so a failure can be replayed.
pub(super) fn bytes(state: &mut u64, n: usize) -> Vec<u8> {
    (0..n)
        .map(|_| {
            *state ^= *state << 13;
            *state ^= *state >> 7;
            *state ^= *state << 17;
            (*state >> 24) as u8
        })
        .collect()
}
