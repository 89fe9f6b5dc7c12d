//! The address of a legacy output script (P2PKH, P2SH), written straight from its 20-byte hash:
//! Base58Check of the network's version byte, the hash and the first four bytes of the double
//! SHA-256 of both.
//!
//! `Address::from_script(..).to_string()` gives the same text (tested on every network, on
//! random hashes and on hashes with leading zero bytes) through a generic base-58 conversion
//! one digit at a time; this converts the 25 bytes in limbs of five base-58 digits (58^5 fits in
//! 32 bits), about a tenth of the work. Every other script goes the general way
//! ([`super::script_label`]).

use bitcoin::{
    hashes::{sha256d, Hash},
    Script,
};
use custos_core::Network;

/// The base-58 alphabet, by value.
const ALPHABET: &[u8; 58] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
/// 58^5, the base of a limb.
const LIMB: u64 = 656_356_768;
/// Limbs enough for 25 bytes: 200 bits / log2(58^5) ≈ 6.8.
const LIMBS: usize = 7;

/// The version bytes of P2PKH and P2SH addresses on `network`.
fn versions(network: Network) -> (u8, u8) {
    match network {
        Network::Bitcoin => (0x00, 0x05),
        Network::Testnet | Network::Testnet4 | Network::Signet | Network::Regtest => (0x6f, 0xc4),
    }
}

/// The address of `script` when it is P2PKH or P2SH; `None` for any other script.
pub(super) fn address(script: &Script, network: Network) -> Option<String> {
    let (p2pkh, p2sh) = versions(network);
    let bytes = script.as_bytes();
    let (version, hash) = if script.is_p2pkh() {
        (p2pkh, bytes.get(3..23)?)
    } else if script.is_p2sh() {
        (p2sh, bytes.get(2..22)?)
    } else {
        return None;
    };
    let mut payload = [0u8; 25];
    payload[0] = version;
    payload[1..21].copy_from_slice(hash);
    let check = sha256d::Hash::hash(&payload[..21]);
    payload[21..].copy_from_slice(&check.as_byte_array()[..4]);
    Some(encode(&payload))
}

/// Base58 of 25 bytes (leading zero bytes become leading `1`s).
fn encode(payload: &[u8; 25]) -> String {
    // The number, little-endian in limbs of base 58^5.
    let mut limbs = [0u32; LIMBS];
    let mut used = 0usize;
    for &b in payload {
        let mut carry = u64::from(b);
        for limb in &mut limbs[..used] {
            let x = u64::from(*limb) * 256 + carry;
            *limb = u32::try_from(x % LIMB).expect("below 58^5");
            carry = x / LIMB;
        }
        while carry > 0 {
            limbs[used] = u32::try_from(carry % LIMB).expect("below 58^5");
            carry /= LIMB;
            used += 1;
        }
    }
    // Digits, most significant first, without leading zeros.
    let mut digits = [0u8; LIMBS * 5];
    for (i, limb) in limbs.iter().rev().enumerate() {
        let mut v = *limb;
        for d in (0..5).rev() {
            digits[i * 5 + d] = u8::try_from(v % 58).expect("below 58");
            v /= 58;
        }
    }
    let first = digits.iter().position(|&d| d != 0).unwrap_or(digits.len());
    let zeros = payload.iter().take_while(|&&b| b == 0).count();
    let mut out = Vec::with_capacity(zeros + digits.len() - first);
    out.resize(zeros, b'1');
    out.extend(digits[first..].iter().map(|&d| ALPHABET[usize::from(d)]));
    String::from_utf8(out).expect("the base-58 alphabet is ASCII")
}

#[cfg(test)]
mod tests {
    use bitcoin::{Address, ScriptBuf};

    use super::*;

    use super::super::fixtures::{bytes, NETWORKS};

    fn scripts(hash: &[u8]) -> [ScriptBuf; 2] {
        [
            ScriptBuf::from_bytes([&[0x76, 0xa9, 0x14][..], hash, &[0x88, 0xac][..]].concat()),
            ScriptBuf::from_bytes([&[0xa9, 0x14][..], hash, &[0x87][..]].concat()),
        ]
    }

    fn general(script: &ScriptBuf, network: Network) -> String {
        Address::from_script(script, network.to_bitcoin())
            .unwrap()
            .to_string()
    }

    #[test]
    fn writes_what_the_bitcoin_crate_writes_for_random_hashes_on_every_network() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for round in 0..1000 {
            let mut hash = bytes(&mut state, 20);
            // Leading zero bytes (mainnet P2PKH then starts with several '1's).
            let zeros = round % 7;
            hash[..zeros].iter_mut().for_each(|b| *b = 0);
            for script in &scripts(&hash) {
                let network = NETWORKS[round % NETWORKS.len()];
                assert_eq!(
                    address(script, network).as_deref(),
                    Some(general(script, network).as_str()),
                    "{script:?} on {network:?}"
                );
            }
        }
        for hash in [[0u8; 20], [0xff; 20]] {
            for script in &scripts(&hash) {
                for network in NETWORKS {
                    assert_eq!(address(script, network).unwrap(), general(script, network));
                }
            }
        }
    }

    #[test]
    fn matches_known_addresses() {
        // The generator point's key hash (as in BIP173), as P2PKH on mainnet.
        let hash = hex::decode("751e76e8199196d454941c45d1b3a323f1433bd6").unwrap();
        let [p2pkh, _] = scripts(&hash);
        assert_eq!(
            address(&p2pkh, Network::Bitcoin).unwrap(),
            "1BgGZ9tcN4rm9KBzDn7KprQz87SZ26SAMH"
        );
        // The all-zero hash: the version byte 0 and twenty zero bytes are 21 '1's.
        let [p2pkh, _] = scripts(&[0u8; 20]);
        assert_eq!(
            address(&p2pkh, Network::Bitcoin).unwrap(),
            "1111111111111111111114oLvT2"
        );
    }

    #[test]
    fn leaves_other_scripts_to_the_general_way() {
        for hex in [
            "0014751e76e8199196d454941c45d1b3a323f1433bd6", // p2wpkh
            "76a913751e76e8199196d454941c45d1b3a323f1433b88ac", // 19-byte push
            "a914751e76e8199196d454941c45d1b3a323f1433bd688", // wrong last opcode
            "6a04deadbeef",
            "",
        ] {
            let script = ScriptBuf::from_hex(hex).unwrap();
            assert_eq!(address(&script, Network::Bitcoin), None, "{hex}");
        }
    }
}
