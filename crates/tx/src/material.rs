//! Seized material (as `custos-keys` classifies it) turned into [`SigningKeys`].
//!
//! BIP39 mnemonics give their BIP32 master (and, when the phrase is also a valid Electrum seed,
//! the Electrum master too); Electrum standard and segwit seeds their master; xprvs are added
//! with their key origin when the material names one; descriptors with private keys give their
//! key map; WIF lists their keys. Watch-only material and old (pre-2.0) Electrum seeds are
//! refused. Errors name the material line, never the secret.

use std::str::FromStr;

use bitcoin::{bip32::Xpriv, PrivateKey};
use custos_core::SecretString;
use custos_keys::Material;
use miniscript::descriptor::DescriptorSecretKey;

use crate::{
    error::{Error, Result},
    keyring::SigningKeys,
};

/// A material key that cannot be used, with its cause kept as the source.
fn key_err(what: impl Into<String>, e: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::MaterialKey {
        what: what.into(),
        source: Box::new(e),
    }
}

fn master(network: bitcoin::Network, seed: &[u8]) -> Result<Xpriv> {
    Xpriv::new_master(network, seed).map_err(|e| key_err("bip32 master", e))
}

fn add_descriptor_keys(keys: &mut SigningKeys, line: usize, text: &str) -> Result<()> {
    let secp = bitcoin::secp256k1::Secp256k1::new();
    let (_, keymap) =
        miniscript::Descriptor::<miniscript::DescriptorPublicKey>::parse_descriptor(&secp, text)
            .map_err(|_| {
                Error::Material(format!(
                    "line {line}: descriptor with private keys does not parse"
                ))
            })?;
    for (_, sk) in keymap {
        let (xkey, origin) = match &sk {
            DescriptorSecretKey::Single(s) => {
                keys.add_private_key(s.key);
                continue;
            }
            DescriptorSecretKey::XPrv(x) => (x.xkey, &x.origin),
            DescriptorSecretKey::MultiXPrv(x) => (x.xkey, &x.origin),
        };
        match origin {
            Some((fp, path)) => keys.add_xpriv_with_origin(xkey, *fp, path.clone()),
            None => keys.add_master(xkey),
        }
    }
    Ok(())
}

/// The signing keys of classified seized material (or of a keyholder's key material).
pub fn signing_keys(
    material: &Material,
    passphrase: Option<&SecretString>,
    network: bitcoin::Network,
) -> Result<SigningKeys> {
    let mut keys = SigningKeys::new();
    match material {
        Material::Bip39 {
            phrase,
            also_electrum,
            ..
        } => {
            let seed = custos_keys::bip39_seed(phrase, passphrase)
                .map_err(|e| key_err("bip39 seed", e))?;
            keys.add_master(master(network, seed.expose_secret())?);
            if also_electrum.is_some() {
                let seed = custos_keys::electrum::electrum_seed(phrase, passphrase);
                keys.add_master(master(network, seed.expose_secret())?);
            }
        }
        Material::ElectrumSeed { kind, phrase, .. } => {
            if kind.name() == "old" {
                return Err(Error::Material(
                    "signing with old (pre-2.0) electrum seeds is not supported".into(),
                ));
            }
            let seed = custos_keys::electrum::electrum_seed(phrase, passphrase);
            keys.add_master(master(network, seed.expose_secret())?);
        }
        Material::ExtendedPrivate { keys: xs } => {
            for x in xs {
                let xp = Xpriv::from_str(x.xprv.expose_secret()).map_err(|e| {
                    key_err(
                        format!("line {}: extended private key does not parse", x.line),
                        e,
                    )
                })?;
                match &x.origin {
                    Some(o) => keys.add_xpriv_with_origin(xp, o.fingerprint, o.path.clone()),
                    None => keys.add_master(xp),
                }
            }
        }
        Material::Descriptors(ds) => {
            for d in ds {
                if let Some(text) = &d.secret {
                    add_descriptor_keys(&mut keys, d.line, text.expose_secret())?;
                }
            }
        }
        Material::Wif(ws) => {
            for w in ws {
                let k = PrivateKey::from_wif(w.wif.expose_secret())
                    .map_err(|e| key_err(format!("line {}: wif does not parse", w.line), e))?;
                keys.add_private_key(k);
            }
        }
        Material::Slip39 { ems } => {
            let seed = custos_keys::slip39::decrypt(ems, passphrase)
                .map_err(|e| key_err("slip-39 shares", e))?;
            keys.add_master(master(network, seed.expose_secret())?);
        }
        Material::ElectrumWalletEncrypted { .. } | Material::ElectrumWallet(_) => {
            return Err(Error::Material(
                "signing from an electrum wallet file is not supported: give its seed or keys"
                    .into(),
            ));
        }
        Material::ExtendedPublic { .. } | Material::Addresses(_) => {
            return Err(Error::Material(format!(
                "the material ({}) holds no private key",
                material.kind_name()
            )));
        }
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    //! On the public test keys of crates/tx/tests/common (seized master seed 32 × 0x42, WIF
    //! secrets 32 × 0x07 / 0x08) and the interop fixtures built from them.
    use super::*;
    use crate::sign::sign_psbt;
    use custos_core::Secret;
    use custos_keys::classify;

    fn fixture(name: &str) -> bitcoin::Psbt {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures/psbt/interop")
            .join(name);
        crate::psbt_io::parse_any(&std::fs::read(p).expect("fixture")).expect("psbt")
    }

    fn keys_from(text: &str) -> SigningKeys {
        let m = classify(
            &Secret::new(text.to_string()),
            custos_core::Network::Regtest,
        )
        .expect("classify");
        signing_keys(&m, None, bitcoin::Network::Regtest).expect("keys")
    }

    #[test]
    fn account_xprv_with_origin_signs_its_inputs() {
        // [fp/84'/1'/0'] account key of the seized master: signs the 20 p2wpkh inputs.
        let k = keys_from("[2de67592/84'/1'/0']tprv8fnGNKmxXA7Y6kuipdmMTkgKwWvRNb6PR6T3mgmR5QhmT8c9hdNXxtrzqmoYYJhpwGxrFXjCeeYzXGGGcEWToGreAaawPmGgenvg2gB1s5s");
        let mut p = fixture("sweep-p2wpkh-20.psbt");
        let o = sign_psbt(&mut p, &k).expect("sign");
        assert_eq!(o.signatures, 20);
    }

    #[test]
    fn wif_list_signs_only_the_inputs_of_its_keys() {
        let k = keys_from(
            "91e1fpA4xxnUq5jwFxvKkk37nMNPVw1HKf7zGES2gHrV3uSs7pU\ncMrK98iKJu7aYAB4xUAvH8rua5KL8ejTVKJwTke2Ga92T2gMTLvo\n",
        );
        let mut p = fixture("sweep-mixed-wsh.psbt");
        let o = sign_psbt(&mut p, &k).expect("sign");
        // the uncompressed WIF's p2pkh input; the compressed WIF has no input in this sweep.
        assert_eq!(o.signatures, 1);
        assert_eq!(o.unsigned_inputs.len(), 5);
    }

    #[test]
    fn descriptor_with_private_keys_signs_its_input() {
        // wpkh of the seized master's first p2wpkh key, given as a descriptor with an xprv.
        let k = keys_from("wpkh([2de67592/84'/1'/0']tprv8fnGNKmxXA7Y6kuipdmMTkgKwWvRNb6PR6T3mgmR5QhmT8c9hdNXxtrzqmoYYJhpwGxrFXjCeeYzXGGGcEWToGreAaawPmGgenvg2gB1s5s/0/*)");
        let mut p = fixture("sweep-p2wpkh-20.psbt");
        let o = sign_psbt(&mut p, &k).expect("sign");
        assert_eq!(o.signatures, 20);
    }

    #[test]
    fn watch_only_material_is_refused() {
        let m = classify(
            &Secret::new(
                "bcrt1qyr23fa7gca60ujew2ekj50y8emjakryqe653h9llw3sjp0ynwwmsd9087j".to_string(),
            ),
            custos_core::Network::Regtest,
        )
        .expect("classify");
        let e = signing_keys(&m, None, bitcoin::Network::Regtest).unwrap_err();
        assert!(e.to_string().contains("no private key"), "{e}");
    }
}
