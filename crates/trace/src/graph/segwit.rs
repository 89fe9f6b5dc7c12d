//! The address of a segwit output script (P2WPKH, P2WSH, P2TR), written straight from its
//! witness program: BIP173 bech32 for version 0, BIP350 bech32m for version 1.
//!
//! A trace labels every output it meets with its address, and for the common script types this
//! is most of the work of building a graph node. `Address::from_script(..).to_string()` gives
//! the same text (tested on every network and on random programs) through generic iterators and
//! a formatter; this writes the characters into one pre-sized string. Every other script goes
//! the general way ([`super::script_label`]).

use bitcoin::Script;
use custos_core::Network;

/// The bech32 alphabet, by 5-bit value.
const CHARSET: &[u8; 32] = b"qpzry9x8gf2tvdw0s3jn54khce6mua7l";
/// BIP173 generator of the checksum's BCH code.
const GENERATOR: [u32; 5] = [
    0x3b6a_57b2,
    0x2650_8e6d,
    0x1ea1_19fa,
    0x3d42_33dd,
    0x2a14_62b3,
];
/// The constant the checksum is XORed with: bech32 (version 0) and bech32m (version 1 and up).
const BECH32: u32 = 1;
const BECH32M: u32 = 0x2bc8_30a3;

/// The human-readable part of segwit addresses on `network`.
fn hrp(network: Network) -> &'static str {
    match network {
        Network::Bitcoin => "bc",
        Network::Testnet | Network::Testnet4 | Network::Signet => "tb",
        Network::Regtest => "bcrt",
    }
}

/// For each value of the five bits shifted out of the checksum, the XOR of the generators they
/// select (BIP173's `polymod`, five conditional XORs per step, done once here).
const SHIFTED_OUT: [u32; 32] = {
    let mut t = [0u32; 32];
    let mut top = 0;
    while top < 32 {
        let mut i = 0;
        while i < 5 {
            if (top >> i) & 1 == 1 {
                t[top] ^= GENERATOR[i];
            }
            i += 1;
        }
        top += 1;
    }
    t
};

fn polymod_step(chk: u32, value: u8) -> u32 {
    SHIFTED_OUT[(chk >> 25) as usize] ^ ((chk & 0x01ff_ffff) << 5) ^ u32::from(value)
}

/// The checksum state after the expanded human-readable part (BIP173: the high bits of each
/// character, a zero, the low bits), the same for every address of a network.
fn hrp_state(hrp: &str) -> u32 {
    let mut chk = 1u32;
    for c in hrp.bytes() {
        chk = polymod_step(chk, c >> 5);
    }
    chk = polymod_step(chk, 0);
    for c in hrp.bytes() {
        chk = polymod_step(chk, c & 31);
    }
    chk
}

/// The address of `script` when it is P2WPKH, P2WSH or P2TR; `None` for any other script.
pub(super) fn address(script: &Script, network: Network) -> Option<String> {
    let (version, program) = if script.is_p2wpkh() || script.is_p2wsh() {
        (0u8, script.as_bytes().get(2..)?)
    } else if script.is_p2tr() {
        (1u8, script.as_bytes().get(2..)?)
    } else {
        return None;
    };
    let hrp = hrp(network);
    // The witness version, then the program regrouped from 8-bit to 5-bit values (padded).
    let mut data: Vec<u8> = Vec::with_capacity(1 + (program.len() * 8).div_ceil(5));
    data.push(version);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &b in program {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            data.push(u8::try_from((acc >> bits) & 31).expect("five bits"));
        }
        acc &= (1 << bits) - 1;
    }
    if bits > 0 {
        data.push(u8::try_from((acc << (5 - bits)) & 31).expect("five bits"));
    }
    let mut chk = hrp_state(hrp);
    for &d in &data {
        chk = polymod_step(chk, d);
    }
    for _ in 0..6 {
        chk = polymod_step(chk, 0);
    }
    chk ^= if version == 0 { BECH32 } else { BECH32M };

    let mut out = Vec::with_capacity(hrp.len() + 1 + data.len() + 6);
    out.extend_from_slice(hrp.as_bytes());
    out.push(b'1');
    out.extend(data.iter().map(|&d| CHARSET[usize::from(d)]));
    out.extend((0..6u32).map(|i| CHARSET[((chk >> (5 * (5 - i))) & 31) as usize]));
    Some(String::from_utf8(out).expect("the bech32 alphabet is ASCII"))
}

#[cfg(test)]
mod tests {
    use bitcoin::{Address, ScriptBuf};

    use super::*;

    use super::super::fixtures::{bytes, NETWORKS};

    fn general(script: &ScriptBuf, network: Network) -> String {
        Address::from_script(script, network.to_bitcoin())
            .unwrap()
            .to_string()
    }

    #[test]
    fn writes_what_the_bitcoin_crate_writes_for_random_segwit_programs_on_every_network() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for round in 0..600 {
            let scripts = [
                ScriptBuf::from_bytes([&[0x00, 0x14][..], &bytes(&mut state, 20)].concat()),
                ScriptBuf::from_bytes([&[0x00, 0x20][..], &bytes(&mut state, 32)].concat()),
                ScriptBuf::from_bytes([&[0x51, 0x20][..], &bytes(&mut state, 32)].concat()),
            ];
            for script in &scripts {
                let network = NETWORKS[round % NETWORKS.len()];
                assert_eq!(
                    address(script, network).as_deref(),
                    Some(general(script, network).as_str()),
                    "{script:?} on {network:?}"
                );
            }
        }
    }

    #[test]
    fn matches_the_bip173_and_bip350_test_vectors() {
        // BIP173: P2WPKH of the generator point's key on mainnet and testnet.
        let p2wpkh = ScriptBuf::from_hex("0014751e76e8199196d454941c45d1b3a323f1433bd6").unwrap();
        assert_eq!(
            address(&p2wpkh, Network::Bitcoin).unwrap(),
            "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"
        );
        assert_eq!(
            address(&p2wpkh, Network::Testnet).unwrap(),
            "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx"
        );
        // BIP173: P2WSH on testnet.
        let p2wsh = ScriptBuf::from_hex(
            "00201863143c14c5166804bd19203356da136c985678cd4d27a1b8c6329604903262",
        )
        .unwrap();
        assert_eq!(
            address(&p2wsh, Network::Testnet).unwrap(),
            "tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7"
        );
        // BIP350: a version 1 program (P2TR) on mainnet.
        let p2tr = ScriptBuf::from_hex(
            "512079be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798",
        )
        .unwrap();
        assert_eq!(
            address(&p2tr, Network::Bitcoin).unwrap(),
            "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0"
        );
    }

    #[test]
    fn leaves_other_scripts_to_the_general_way() {
        for hex in [
            "76a914751e76e8199196d454941c45d1b3a323f1433bd688ac", // p2pkh
            "a914751e76e8199196d454941c45d1b3a323f1433bd687",     // p2sh
            "5210751e76e8199196d454941c45d1b3a323",               // v2 program
            "0013751e76e8199196d454941c45d1b3a323f1433b",         // v0, 19 bytes
            "6a04deadbeef",                                       // op_return
            "",
        ] {
            let script = ScriptBuf::from_hex(hex).unwrap();
            assert_eq!(address(&script, Network::Bitcoin), None, "{hex}");
        }
    }
}
