//! What `custos ceremony assemble` writes for the keyholders' devices and software: the BSMS
//! round-2 descriptor record (BIP129), the Coldcard multisig setup text, the UR
//! `output-descriptor` (BCR-2023-010: CBOR map `{1: source text, 3: name}`, single part or
//! animated fountain-coded frames) and the human registration summary.

use crate::assemble::Assembly;
use crate::cbor::{self, Value};
use crate::keys::ScriptKind;
use crate::Error;

/// Fragment length of animated UR frames (Sparrow uses about 250 bytes).
pub const UR_FRAGMENT_LEN: usize = 250;

impl Assembly {
    /// BIP129 round-2 descriptor record: version, template, path restrictions, first address.
    pub fn bsms_round2(&self) -> Result<String, Error> {
        let first = self
            .receive_addresses(1)?
            .into_iter()
            .next()
            .ok_or_else(|| Error::Export {
                what: "bsms".into(),
                reason: "no first address".into(),
            })?;
        Ok(format!(
            "BSMS 1.0\n{}\n/0/*,/1/*\n{first}\n",
            self.bsms_template()
        ))
    }

    /// Coldcard multisig setup text. Coldcard's file format knows only P2SH, P2WSH and
    /// P2SH-P2WSH sortedmulti, so taproot wallets are refused here.
    pub fn coldcard_text(&self) -> Result<String, Error> {
        let format = match self.script {
            ScriptKind::Wsh => "P2WSH",
            ScriptKind::ShWsh => "P2SH-P2WSH",
            ScriptKind::Tr => {
                return Err(Error::Export {
                    what: "coldcard multisig text".into(),
                    reason: "the coldcard multisig file has no taproot format; use the descriptor or bsms record".into(),
                })
            }
        };
        let mut s = String::new();
        s.push_str("# Coldcard multisig setup file (written by custos ceremony assemble)\n");
        s.push_str(&format!("# network: {}\n#\n", self.network));
        s.push_str(&format!("Name: {}\n", self.name));
        s.push_str(&format!(
            "Policy: {} of {}\n",
            self.threshold,
            self.keys.len()
        ));
        s.push_str(&format!("Format: {format}\n\n"));
        for k in &self.keys {
            s.push_str(&format!("Derivation: {}\n", k.path_string()));
            s.push_str(&format!(
                "{}: {}\n\n",
                k.fingerprint.to_string().to_ascii_uppercase(),
                k.xpub
            ));
        }
        Ok(s)
    }

    /// The CBOR payload of the UR `output-descriptor`: the multipath descriptor
    /// (`<0;1>/*`), so the importing wallet watches the change chain as well as receive.
    pub fn ur_payload(&self) -> Result<Vec<u8>, Error> {
        let v = Value::Map(vec![
            (Value::Uint(1), Value::Text(self.multipath_string()?)),
            (Value::Uint(3), Value::Text(self.name.clone())),
        ]);
        let mut out = Vec::new();
        cbor::encode(&v, &mut out);
        Ok(out)
    }

    /// UR `output-descriptor` frames: one single-part UR when the payload fits one fragment,
    /// otherwise `count` fountain-coded parts (the first `seq-len` parts are the pure
    /// fragments; a scanner needs all of them, or more parts past them).
    pub fn ur_output_descriptor(&self, extra_parts: usize) -> Result<Vec<String>, Error> {
        let payload = self.ur_payload()?;
        let err = |e: ur::ur::Error| Error::Export {
            what: "ur output-descriptor".into(),
            reason: e.to_string(),
        };
        if payload.len() <= UR_FRAGMENT_LEN {
            return ur::ur::try_encode(&payload, &ur::ur::Type::Custom("output-descriptor"))
                .map(|s| vec![s])
                .map_err(err);
        }
        let mut enc =
            ur::ur::Encoder::new(&payload, UR_FRAGMENT_LEN, "output-descriptor").map_err(err)?;
        let pure = payload.len().div_ceil(UR_FRAGMENT_LEN);
        (0..pure + extra_parts)
            .map(|_| enc.next_part().map_err(err))
            .collect()
    }

    /// The registration summary every keyholder compares (BIP129's confirmation: M, N, path
    /// restrictions, first address, key list).
    pub fn summary(&self, first_addresses: &[String]) -> String {
        let mut s = String::new();
        s.push_str(&format!("Custody wallet: {}\n", self.name));
        s.push_str(&format!("Network:        {}\n", self.network));
        s.push_str(&format!(
            "Policy:         {} of {} ({})\n",
            self.threshold,
            self.keys.len(),
            self.script.name()
        ));
        s.push_str("Paths:          /0/* receive, /1/* change\n");
        s.push_str("Keys:\n");
        for (i, k) in self.keys.iter().enumerate() {
            s.push_str(&format!(
                "  {}. {} {} {}\n",
                i + 1,
                k.origin(),
                k.xpub,
                if k.label.is_empty() { "" } else { &k.label }
            ));
        }
        s.push_str(&format!("Receive: {}\n", self.receive_string()));
        s.push_str(&format!("Change:  {}\n", self.change_string()));
        s.push_str("First receive addresses:\n");
        for (i, a) in first_addresses.iter().enumerate() {
            s.push_str(&format!("  {i}: {a}\n"));
        }
        s
    }
}
