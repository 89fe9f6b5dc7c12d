//! TLS to Electrum servers the way Electrum itself does it: a server is trusted through the CA
//! roots, through a certificate fingerprint the operator pinned (`--tls-fingerprint`), or through
//! the fingerprint a case recorded on the first connection (trust on first use).
//!
//! A fingerprint is the SHA-256 of the end-entity certificate's DER bytes. A pin replaces the CA
//! check (self-signed certificates, which most Electrum servers present, have no chain), but the
//! handshake signatures are still verified, so the server must hold the certificate's key.
//! There is no mode that accepts any certificate without recording it.

use std::{
    fmt,
    net::TcpStream,
    str::FromStr,
    sync::{Arc, Mutex},
};

use bitcoin::hashes::{sha256, Hash};
use custos_case::Case;
use rustls::{
    client::{
        danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
        WebPkiServerVerifier,
    },
    crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider},
    pki_types::{CertificateDer, ServerName, UnixTime},
    ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, SignatureScheme,
    StreamOwned,
};

/// Case cache namespace holding the recorded fingerprints, keyed by `host:port`.
pub const CASE_NAMESPACE: &str = "tls";

/// SHA-256 of a certificate's DER bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    /// The fingerprint of a DER-encoded certificate.
    pub fn of_der(der: &[u8]) -> Self {
        Fingerprint(sha256::Hash::hash(der).to_byte_array())
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

/// A fingerprint that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("certificate fingerprint {given:?}: {detail}")]
pub struct FingerprintError {
    /// The text given.
    pub given: String,
    /// What is wrong.
    pub detail: &'static str,
}

impl FromStr for Fingerprint {
    type Err = FingerprintError;

    /// 64 hex digits, upper or lower case, optionally colon-separated (`AB:CD:…`, as
    /// `openssl x509 -fingerprint -sha256` prints it) and optionally prefixed `sha256:`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |detail| FingerprintError {
            given: s.to_string(),
            detail,
        };
        let t = s.trim();
        let t = t
            .strip_prefix("sha256:")
            .or_else(|| t.strip_prefix("SHA256:"))
            .or_else(|| t.strip_prefix("sha256="))
            .or_else(|| t.strip_prefix("SHA256="))
            .unwrap_or(t);
        let digits: String = t.chars().filter(|c| *c != ':').collect();
        if digits.len() != 64 {
            return Err(bad("expected 64 hex digits (a SHA-256), colons allowed"));
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(&digits, &mut out).map_err(|_| bad("not hexadecimal"))?;
        Ok(Fingerprint(out))
    }
}

/// How a TLS server's certificate is trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsTrust {
    /// Against the CA roots (webpki-roots) and the host name: what a browser does.
    CaRoots,
    /// Only a certificate with this fingerprint, given by the operator (`--tls-fingerprint`).
    Pinned(Fingerprint),
    /// Only a certificate with this fingerprint, recorded in the case on an earlier connection.
    Recorded(Fingerprint),
    /// No pin yet: the certificate presented is accepted and its fingerprint must be recorded
    /// (the case stores it); later connections are [`TlsTrust::Recorded`].
    FirstUse,
}

/// A TLS connection could not be set up or the certificate is not the trusted one.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The certificate fails the CA check (a self-signed certificate does).
    #[error("the certificate of {server} is not trusted by the CA roots ({detail}); it has SHA256 fingerprint {presented}: if the server's operator confirms it, pass --tls-fingerprint {presented} (or open a case to pin it on first use)")]
    Untrusted {
        /// `host:port`.
        server: String,
        /// The verifier's reason.
        detail: String,
        /// Fingerprint of the certificate presented.
        presented: Fingerprint,
    },
    /// The certificate is not the one `--tls-fingerprint` pins.
    #[error("the certificate of {server} has SHA256 fingerprint {presented}, not the {pinned} given with --tls-fingerprint")]
    PinMismatch {
        /// `host:port`.
        server: String,
        /// The pin given.
        pinned: Fingerprint,
        /// What the server presented.
        presented: Fingerprint,
    },
    /// The certificate differs from the one the case recorded.
    #[error("certificate of {server} changed: was SHA256 {was}, now {now}; if the operator rotated it, pass --tls-fingerprint {now}")]
    Changed {
        /// `host:port`.
        server: String,
        /// Fingerprint recorded in the case.
        was: Fingerprint,
        /// Fingerprint presented now.
        now: Fingerprint,
    },
    /// The handshake failed for another reason (the connection dropped, no common cipher…).
    #[error("tls handshake with {server} failed: {detail}")]
    Handshake {
        /// `host:port`.
        server: String,
        /// What happened.
        detail: String,
        /// Whether a retry can help (an I/O failure, not a protocol refusal).
        retryable: bool,
    },
    /// The fingerprint recorded in the case does not parse.
    #[error("case cache {CASE_NAMESPACE}/{server}: the recorded certificate fingerprint")]
    Recorded {
        /// `host:port`.
        server: String,
        /// Parse error.
        source: FingerprintError,
    },
    /// Reading or writing the case failed.
    #[error("case store")]
    Case(#[from] custos_case::Error),
}

impl TlsError {
    /// Whether trying again can help.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            TlsError::Handshake {
                retryable: true,
                ..
            }
        )
    }
}

/// A rustls TLS stream over TCP.
pub type TlsStream = StreamOwned<ClientConnection, TcpStream>;

/// Checks the certificate by the [`TlsTrust`] and records the fingerprint of what was presented.
#[derive(Debug)]
struct Verifier {
    trust: TlsTrust,
    seen: Mutex<Option<Fingerprint>>,
    provider: Arc<CryptoProvider>,
    ca: Option<Arc<WebPkiServerVerifier>>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let presented = Fingerprint::of_der(end_entity.as_ref());
        // `seen` is only ever replaced whole: a poisoned lock still holds a consistent value.
        *self.seen.lock().unwrap_or_else(|p| p.into_inner()) = Some(presented);
        let mismatch = || {
            Err(rustls::Error::General(
                "certificate fingerprint mismatch".into(),
            ))
        };
        match (&self.trust, &self.ca) {
            (TlsTrust::CaRoots, Some(ca)) => {
                ca.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            }
            (TlsTrust::CaRoots, None) => Err(rustls::Error::General("no CA roots loaded".into())),
            (TlsTrust::Pinned(p) | TlsTrust::Recorded(p), _) if *p != presented => mismatch(),
            (TlsTrust::Pinned(_) | TlsTrust::Recorded(_) | TlsTrust::FirstUse, _) => {
                Ok(ServerCertVerified::assertion())
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Runs the TLS handshake over `tcp` to `host` (`server` = `host:port`, for messages) and
/// checks the certificate by `trust`. Returns the stream and the fingerprint presented.
pub fn handshake(
    tcp: TcpStream,
    host: &str,
    server: &str,
    trust: &TlsTrust,
) -> Result<(TlsStream, Fingerprint), TlsError> {
    let setup = |detail: String| TlsError::Handshake {
        server: server.to_string(),
        detail,
        retryable: false,
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let ca = match trust {
        TlsTrust::CaRoots => {
            let roots = RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            };
            Some(
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .build()
                    .map_err(|e| setup(format!("ca roots: {e}")))?,
            )
        }
        _ => None,
    };
    let verifier = Arc::new(Verifier {
        trust: trust.clone(),
        seen: Mutex::new(None),
        provider: provider.clone(),
        ca,
    });
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| setup(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier.clone())
        .with_no_client_auth();
    let name = ServerName::try_from(host.trim_start_matches('[').trim_end_matches(']'))
        .map_err(|e| setup(format!("host name {host:?}: {e}")))?
        .to_owned();
    let mut conn =
        ClientConnection::new(Arc::new(config), name).map_err(|e| setup(e.to_string()))?;
    let mut tcp = tcp;
    let mut outcome = Ok(());
    while conn.is_handshaking() {
        if let Err(e) = conn.complete_io(&mut tcp) {
            outcome = Err(e);
            break;
        }
    }
    let seen = *verifier.seen.lock().unwrap_or_else(|p| p.into_inner());
    match (outcome, seen) {
        (Ok(()), Some(fp)) => Ok((StreamOwned::new(conn, tcp), fp)),
        (Ok(()), None) => Err(setup("the server presented no certificate".into())),
        (Err(e), seen) => Err(classify_failure(e, seen, trust, server)),
    }
}

/// Names why a handshake failed: a pin or a recorded certificate that differs, a certificate
/// the CA roots do not vouch for, or anything else.
fn classify_failure(
    e: std::io::Error,
    seen: Option<Fingerprint>,
    trust: &TlsTrust,
    server: &str,
) -> TlsError {
    let server = server.to_string();
    let rustls_error = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    match (trust, seen) {
        (TlsTrust::Pinned(pinned), Some(presented)) if *pinned != presented => {
            TlsError::PinMismatch {
                server,
                pinned: *pinned,
                presented,
            }
        }
        (TlsTrust::Recorded(was), Some(now)) if *was != now => TlsError::Changed {
            server,
            was: *was,
            now,
        },
        (TlsTrust::CaRoots, Some(presented))
            if matches!(rustls_error, Some(rustls::Error::InvalidCertificate(_))) =>
        {
            TlsError::Untrusted {
                server,
                detail: e.to_string(),
                presented,
            }
        }
        _ => TlsError::Handshake {
            server,
            detail: e.to_string(),
            retryable: rustls_error.is_none(),
        },
    }
}

/// The `host:port` of a normalised server URL (`ssl://host:port`): the key a case records a
/// fingerprint under.
pub fn server_key(url: &str) -> &str {
    url.split_once("://").map_or(url, |(_, rest)| rest)
}

/// Chooses the trust for a connection to `url` (normalised, see
/// [`crate::electrum::normalize_url`]): a fingerprint given by the operator wins; else, with a
/// case open, the fingerprint the case recorded, or first use when it recorded none; else the
/// CA roots. Only `ssl://` URLs use TLS; for the others this returns [`TlsTrust::CaRoots`],
/// which is then unused.
pub fn trust_for(
    case: Option<&Case>,
    url: &str,
    given: Option<Fingerprint>,
) -> Result<TlsTrust, TlsError> {
    if let Some(fp) = given {
        return Ok(TlsTrust::Pinned(fp));
    }
    let Some(case) = case else {
        return Ok(TlsTrust::CaRoots);
    };
    let key = server_key(url);
    match case.cache_get(CASE_NAMESPACE, key)? {
        None => Ok(TlsTrust::FirstUse),
        Some(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let fp = text.parse().map_err(|source| TlsError::Recorded {
                server: key.to_string(),
                source,
            })?;
            Ok(TlsTrust::Recorded(fp))
        }
    }
}

/// Records `fp` in the case as the certificate of `url`'s server, unless it is already the one
/// recorded. Returns whether anything was written.
pub fn remember(case: &Case, url: &str, fp: Fingerprint) -> Result<bool, TlsError> {
    let key = server_key(url);
    let text = fp.to_string();
    if case.cache_get(CASE_NAMESPACE, key)?.as_deref() == Some(text.as_bytes()) {
        return Ok(false);
    }
    case.cache_put(CASE_NAMESPACE, key, text.as_bytes())?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fingerprints_in_plain_and_colon_separated_hex() {
        let plain = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";
        let fp: Fingerprint = plain.parse().unwrap();
        assert_eq!(fp.to_string(), plain);
        let colons = plain
            .to_uppercase()
            .as_bytes()
            .chunks(2)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect::<Vec<_>>()
            .join(":");
        assert_eq!(colons.parse::<Fingerprint>().unwrap(), fp);
        assert_eq!(
            format!("sha256:{plain}").parse::<Fingerprint>().unwrap(),
            fp
        );
    }

    #[test]
    fn refuses_fingerprints_of_wrong_length_or_alphabet() {
        let short = "a1b2".parse::<Fingerprint>().unwrap_err();
        assert!(short.to_string().contains("64 hex digits"), "{short}");
        let bad = "z".repeat(64).parse::<Fingerprint>().unwrap_err();
        assert!(bad.to_string().contains("not hexadecimal"), "{bad}");
    }

    #[test]
    fn fingerprint_is_sha256_of_the_der_bytes() {
        // SHA-256("abc"), FIPS 180-2 appendix B.1.
        assert_eq!(
            Fingerprint::of_der(b"abc").to_string(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn names_host_and_port_as_the_case_key() {
        assert_eq!(
            server_key("ssl://electrum.example:50002"),
            "electrum.example:50002"
        );
        assert_eq!(
            server_key("electrum.example:50002"),
            "electrum.example:50002"
        );
    }

    #[test]
    fn a_bad_recorded_fingerprint_keeps_its_cause_as_the_source_not_in_the_message() {
        let cause = "a1b2".parse::<Fingerprint>().unwrap_err();
        let e = TlsError::Recorded {
            server: "electrum.example:50002".into(),
            source: cause,
        };
        let shown = e.to_string();
        assert!(!shown.contains("64 hex digits"), "{shown}");
        let source = std::error::Error::source(&e).expect("the parse error is the source");
        assert!(source.to_string().contains("64 hex digits"), "{source}");
    }
}
