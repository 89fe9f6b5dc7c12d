//! SeedQR (SeedSigner's format, also read by Jade, Krux, Sparrow and others).
//!
//! - **Standard**: each word's 0-based BIP39 index as 4 digits, concatenated (48 or 96 digits),
//!   encoded in QR numeric mode, error correction L: 25×25 (12 words) or 29×29 (24 words).
//! - **Compact**: the raw entropy (16 or 32 bytes) in QR byte mode, error correction L: 21×21
//!   or 25×25. Decoders must cope with NUL, CR and LF bytes in the payload.
//!
//! Rendering: terminal text (Unicode half blocks, two rows per line) and SVG for printing.
//! Everything produced here is secret.

use bip39::{Language, Mnemonic};
use custos_core::secret::SecretBytes;
use custos_core::{Secret, SecretString};
use qrcode::bits::Bits;
use qrcode::render::{svg, unicode};
use qrcode::{EcLevel, QrCode, Version};

use crate::mnemonic::SecretMnemonic;
use crate::Error;

/// Which SeedQR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Digits.
    Standard,
    /// Entropy bytes.
    Compact,
}

/// The standard SeedQR digit stream.
pub fn standard_digits(m: &SecretMnemonic) -> SecretString {
    let mut s = Secret::new(String::with_capacity(96));
    for i in m.expose_secret().word_indices() {
        s.expose_secret_mut().push_str(&format!("{i:04}"));
    }
    s
}

/// The compact SeedQR payload (the entropy).
pub fn compact_bytes(m: &SecretMnemonic) -> SecretBytes {
    Secret::new(m.expose_secret().to_entropy())
}

/// Decodes a standard SeedQR digit stream.
pub fn decode_standard(digits: &SecretString) -> Result<SecretMnemonic, Error> {
    let d = digits.expose_secret().trim();
    if !(d.len() == 48 || d.len() == 96) || !d.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::SeedQr(format!(
            "standard seedqr must be 48 or 96 digits, got {} characters",
            d.len()
        )));
    }
    let list = Language::English.word_list();
    let mut phrase = Secret::new(String::with_capacity(216));
    for chunk in d.as_bytes().chunks(4) {
        let idx: usize = chunk
            .iter()
            .fold(0usize, |acc, b| acc * 10 + usize::from(b - b'0'));
        let w = list
            .get(idx)
            .ok_or_else(|| Error::SeedQr(format!("word index {idx} out of range")))?;
        if !phrase.is_empty() {
            phrase.expose_secret_mut().push(' ');
        }
        phrase.expose_secret_mut().push_str(w);
    }
    Mnemonic::parse_in_normalized(Language::English, phrase.expose_secret())
        .map(Secret::new)
        .map_err(|e| Error::SeedQrMnemonic(Box::new(Error::Bip39(e))))
}

/// Decodes a compact SeedQR payload.
pub fn decode_compact(bytes: &SecretBytes) -> Result<SecretMnemonic, Error> {
    crate::mnemonic::from_entropy(bytes).map_err(|e| Error::SeedQrMnemonic(Box::new(e)))
}

/// Builds the QR code with the explicit mode SeedSigner uses (numeric for standard, byte for
/// compact) at the smallest version that fits at error correction L.
pub fn qr(m: &SecretMnemonic, kind: Kind) -> Result<QrCode, Error> {
    for v in 1..=10 {
        let mut bits = Bits::new(Version::Normal(v));
        let pushed = match kind {
            Kind::Standard => bits.push_numeric_data(standard_digits(m).expose_secret().as_bytes()),
            Kind::Compact => bits.push_byte_data(compact_bytes(m).expose_secret()),
        };
        if pushed.is_err() || bits.push_terminator(EcLevel::L).is_err() {
            continue;
        }
        return QrCode::with_bits(bits, EcLevel::L).map_err(|e| Error::Qr(e.to_string()));
    }
    Err(Error::Qr("payload does not fit in version 10".into()))
}

/// Renders a QR code for the terminal (dark modules as full/half blocks, with quiet zone).
pub fn render_terminal(code: &QrCode) -> SecretString {
    Secret::new(
        code.render::<unicode::Dense1x2>()
            .dark_color(unicode::Dense1x2::Light)
            .light_color(unicode::Dense1x2::Dark)
            .quiet_zone(true)
            .build(),
    )
}

/// Renders a QR code as an SVG document for printing.
pub fn render_svg(code: &QrCode) -> SecretString {
    Secret::new(
        code.render::<svg::Color<'_>>()
            .min_dimensions(400, 400)
            .quiet_zone(true)
            .build(),
    )
}
