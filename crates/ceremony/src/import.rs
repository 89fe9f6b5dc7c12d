//! Keys exported by hardware wallets, turned into (unproven) key records:
//!
//! - **Coldcard JSON**: the generic wallet export (`bip48_1` / `bip48_2` objects with `deriv`
//!   and `xpub`, top-level `xfp`) and the multisig xpub export (`p2wsh_deriv` / `p2wsh`,
//!   `p2sh_p2wsh_deriv` / `p2sh_p2wsh`, `xfp`). SLIP-132 prefixes (Zpub, Vpub, ...) are
//!   converted to xpub/tpub.
//! - **UR** `crypto-account` (BCR-2020-015, tags 303/304/305) and `account-descriptor`
//!   (BCR-2023-019, tags 40303/40304/40305): the account key whose origin path is the BIP48
//!   path of the chosen script type and network is taken.
//!
//! Such keys have no proof of possession: the record says so (`proof: null`) and `assemble`
//! accepts them only with `--allow-unproven`.

use std::str::FromStr;

use bitcoin::bip32::{ChainCode, ChildNumber, DerivationPath, Fingerprint, Xpub};
use bitcoin::NetworkKind;
use custos_core::Network;

use crate::cbor::{self, Value};
use crate::keys::ScriptKind;
use crate::record::{KeyRecord, KEY_RECORD_FORMAT};
use crate::Error;

/// Imports a Coldcard JSON export or a `ur:` string.
pub fn import_text(
    text: &str,
    file: &str,
    network: Network,
    script: ScriptKind,
    label: &str,
    created: &str,
) -> Result<KeyRecord, Error> {
    let t = text.trim();
    if t.to_ascii_lowercase().starts_with("ur:") {
        import_ur(t, file, network, script, label, created)
    } else {
        import_coldcard_json(t, file, network, script, label, created)
    }
}

/// Converts SLIP-132 version bytes to xpub (mainnet) or tpub (test networks).
pub fn normalize_slip132(s: &str, file: &str) -> Result<Xpub, Error> {
    let mut data = bitcoin::base58::decode_check(s.trim())
        .map_err(|_| Error::malformed(file, "extended key is not valid base58check"))?;
    if data.len() != 78 {
        return Err(Error::malformed(file, "extended key is not 78 bytes"));
    }
    let version: [u8; 4] = [data[0], data[1], data[2], data[3]];
    let main: [[u8; 4]; 5] = [
        [0x04, 0x88, 0xb2, 0x1e],
        [0x04, 0x9d, 0x7c, 0xb2],
        [0x04, 0xb2, 0x47, 0x46],
        [0x02, 0x95, 0xb4, 0x3f],
        [0x02, 0xaa, 0x7e, 0xd3],
    ];
    let test: [[u8; 4]; 5] = [
        [0x04, 0x35, 0x87, 0xcf],
        [0x04, 0x4a, 0x52, 0x62],
        [0x04, 0x5f, 0x1c, 0xf6],
        [0x02, 0x42, 0x89, 0xef],
        [0x02, 0x57, 0x54, 0x83],
    ];
    let target = if main.contains(&version) {
        main[0]
    } else if test.contains(&version) {
        test[0]
    } else {
        return Err(Error::malformed(
            file,
            format!(
                "unknown extended public key version {}",
                hex::encode(version)
            ),
        ));
    };
    data[..4].copy_from_slice(&target);
    Xpub::decode(&data).map_err(|e| Error::malformed(file, format!("bad extended key: {e}")))
}

/// What the imported record is for.
struct Target<'a> {
    network: Network,
    script: ScriptKind,
    label: &'a str,
    created: &'a str,
}

fn record(
    t: &Target<'_>,
    fingerprint: Fingerprint,
    path: &DerivationPath,
    xpub: Xpub,
    origin: &str,
) -> KeyRecord {
    KeyRecord {
        format: KEY_RECORD_FORMAT.to_string(),
        network: t.network,
        script: t.script,
        fingerprint: fingerprint.to_string(),
        path: format!("m/{}", path.to_string().trim_start_matches("m/")),
        xpub: xpub.to_string(),
        label: t.label.to_string(),
        created: t.created.to_string(),
        origin: origin.to_string(),
        proof: None,
        ethereum: None,
    }
}

fn check_xpub(xpub: &Xpub, network: Network, file: &str) -> Result<(), Error> {
    let want = if network == Network::Bitcoin {
        NetworkKind::Main
    } else {
        NetworkKind::Test
    };
    if xpub.network != want {
        return Err(Error::malformed(
            file,
            format!("extended key is for another network than {network}"),
        ));
    }
    Ok(())
}

/// Coldcard generic JSON or multisig xpub export.
pub fn import_coldcard_json(
    text: &str,
    file: &str,
    network: Network,
    script: ScriptKind,
    label: &str,
    created: &str,
) -> Result<KeyRecord, Error> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|source| Error::Json {
        file: file.to_string(),
        what: "not json",
        source,
    })?;
    let xfp = v
        .get("xfp")
        .and_then(|x| x.as_str())
        .ok_or_else(|| Error::malformed(file, "no \"xfp\" (master fingerprint)"))?;
    let fingerprint = Fingerprint::from_str(&xfp.to_ascii_lowercase())
        .map_err(|_| Error::malformed(file, format!("bad xfp {xfp:?}")))?;
    let (generic, deriv_key, xpub_key) = match script {
        ScriptKind::Wsh => ("bip48_2", "p2wsh_deriv", "p2wsh"),
        ScriptKind::ShWsh => ("bip48_1", "p2sh_p2wsh_deriv", "p2sh_p2wsh"),
        ScriptKind::Tr => {
            return Err(Error::malformed(
                file,
                "coldcard exports carry no taproot multisig key; use a ur account-descriptor",
            ))
        }
    };
    let (deriv, xpub) = if let Some(obj) = v.get(generic) {
        (
            obj.get("deriv").and_then(|d| d.as_str()),
            obj.get("xpub").and_then(|d| d.as_str()),
        )
    } else {
        (
            v.get(deriv_key).and_then(|d| d.as_str()),
            v.get(xpub_key).and_then(|d| d.as_str()),
        )
    };
    let (Some(deriv), Some(xpub)) = (deriv, xpub) else {
        return Err(Error::malformed(
            file,
            format!(
                "no {} key: neither \"{generic}\" nor \"{xpub_key}\"",
                script.name()
            ),
        ));
    };
    let path = DerivationPath::from_str(deriv)
        .map_err(|_| Error::malformed(file, format!("bad derivation {deriv:?}")))?;
    let expected = script.account_path(network);
    if path != expected {
        return Err(Error::malformed(
            file,
            format!(
                "key path {deriv} is not m/{} for {network}",
                expected.to_string().trim_start_matches("m/")
            ),
        ));
    }
    let xpub = normalize_slip132(xpub, file)?;
    check_xpub(&xpub, network, file)?;
    Ok(record(
        &Target {
            network,
            script,
            label,
            created,
        },
        fingerprint,
        &path,
        xpub,
        "coldcard-json",
    ))
}

struct HdKey {
    key: Xpub,
    path: DerivationPath,
}

fn path_of(v: &Value, file: &str) -> Result<Option<(DerivationPath, Option<u32>)>, Error> {
    let Some(origin) = v.get(6) else {
        return Ok(None);
    };
    let origin = origin.untagged();
    let Some(Value::Array(comps)) = origin.get(1).map(|c| c.untagged()) else {
        return Err(Error::malformed(file, "hdkey origin has no components"));
    };
    let mut path = Vec::new();
    for pair in comps.chunks(2) {
        match pair {
            [Value::Uint(i), Value::Bool(h)] => {
                let i = u32::try_from(*i)
                    .map_err(|_| Error::malformed(file, "path index too large"))?;
                let c = if *h {
                    ChildNumber::from_hardened_idx(i)
                } else {
                    ChildNumber::from_normal_idx(i)
                }
                .map_err(|_| Error::malformed(file, "path index out of range"))?;
                path.push(c);
            }
            _ => {
                return Err(Error::malformed(
                    file,
                    "unsupported keypath component (wildcard or pair)",
                ))
            }
        }
    }
    let source = match origin.get(2) {
        Some(Value::Uint(f)) => u32::try_from(*f).ok(),
        _ => None,
    };
    Ok(Some((DerivationPath::from(path), source)))
}

fn collect_hdkeys(v: &Value, file: &str, out: &mut Vec<HdKey>) -> Result<(), Error> {
    match v {
        Value::Tag(303 | 40303, inner) => {
            let m = inner.as_ref();
            let (Some(Value::Bytes(key)), Some(Value::Bytes(cc))) = (m.get(3), m.get(4)) else {
                return Ok(());
            };
            let Some((path, _)) = path_of(m, file)? else {
                return Ok(());
            };
            let network = match m.get(5).map(|u| u.untagged()).and_then(|u| u.get(2)) {
                Some(Value::Uint(1)) => NetworkKind::Test,
                _ => NetworkKind::Main,
            };
            let parent = match m.get(8) {
                Some(Value::Uint(f)) => u32::try_from(*f).unwrap_or(0),
                _ => 0,
            };
            let comps: Vec<ChildNumber> = path.clone().into();
            let public_key = bitcoin::secp256k1::PublicKey::from_slice(key)
                .map_err(|_| Error::malformed(file, "hdkey key-data is not a public key"))?;
            let chain: [u8; 32] = cc
                .as_slice()
                .try_into()
                .map_err(|_| Error::malformed(file, "hdkey chain code is not 32 bytes"))?;
            let xpub = Xpub {
                network,
                depth: u8::try_from(comps.len()).unwrap_or(u8::MAX),
                parent_fingerprint: Fingerprint::from(parent.to_be_bytes()),
                child_number: comps
                    .last()
                    .copied()
                    .unwrap_or(ChildNumber::Normal { index: 0 }),
                public_key,
                chain_code: ChainCode::from(chain),
            };
            out.push(HdKey { key: xpub, path });
            Ok(())
        }
        Value::Tag(_, inner) => collect_hdkeys(inner, file, out),
        Value::Array(items) => items.iter().try_for_each(|i| collect_hdkeys(i, file, out)),
        Value::Map(entries) => entries
            .iter()
            .try_for_each(|(_, v)| collect_hdkeys(v, file, out)),
        _ => Ok(()),
    }
}

/// UR `crypto-account` / `account-descriptor` (single part).
pub fn import_ur(
    text: &str,
    file: &str,
    network: Network,
    script: ScriptKind,
    label: &str,
    created: &str,
) -> Result<KeyRecord, Error> {
    let lower = text.trim().to_ascii_lowercase();
    let kind = lower
        .strip_prefix("ur:")
        .and_then(|r| r.split('/').next())
        .unwrap_or("");
    if kind != "crypto-account" && kind != "account-descriptor" {
        return Err(Error::malformed(
            file,
            format!("ur type {kind:?} is not crypto-account or account-descriptor"),
        ));
    }
    let (k, payload) =
        ur::ur::decode(&lower).map_err(|e| Error::malformed(file, format!("ur: {e}")))?;
    if !matches!(k, ur::ur::Kind::SinglePart) {
        return Err(Error::malformed(
            file,
            "multi-part ur: join the parts first",
        ));
    }
    let v = cbor::decode(&payload, file)?;
    let top = v.untagged();
    let master = match top.get(1) {
        Some(Value::Uint(f)) => {
            u32::try_from(*f).map_err(|_| Error::malformed(file, "master fingerprint too large"))?
        }
        _ => return Err(Error::malformed(file, "no master fingerprint (key 1)")),
    };
    let mut keys = Vec::new();
    collect_hdkeys(top, file, &mut keys)?;
    let expected = script.account_path(network);
    let hit = keys
        .into_iter()
        .find(|k| k.path == expected)
        .ok_or_else(|| {
            Error::malformed(
                file,
                format!(
                    "no account key at m/{} in the {kind} export",
                    expected.to_string().trim_start_matches("m/")
                ),
            )
        })?;
    check_xpub(&hit.key, network, file)?;
    let origin = format!("ur:{kind}");
    Ok(record(
        &Target {
            network,
            script,
            label,
            created,
        },
        Fingerprint::from(master.to_be_bytes()),
        &hit.path,
        hit.key,
        &origin,
    ))
}
