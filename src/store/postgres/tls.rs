//! TLS to PostgreSQL, chosen in `storage.url` the way `libpq` reads it: `sslmode` =
//! `disable`, `prefer` (the default: TLS when the server offers it, no certificate check),
//! `require` (TLS or no connection; no certificate check unless `sslrootcert` is given, then
//! as `verify-ca`), `verify-ca` (the server's chain must lead to a trusted root) or
//! `verify-full` (and name the host connected to). `sslrootcert` is a PEM file of trusted
//! roots; without it the Mozilla roots (`webpki-roots`) are trusted.
//!
//! `tokio-postgres` knows only `disable`, `prefer` and `require`, and no `sslrootcert`: the
//! URL is rewritten for it, and the checks it cannot ask for are made by the rustls
//! verifier given to the connector.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio_postgres_rustls::MakeRustlsConnect;

/// How much of the server's certificate is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verify {
    /// Encrypted, but any certificate is taken (libpq's `prefer` and `require`).
    Nothing,
    /// The chain must lead to a trusted root; the name is not checked (`verify-ca`).
    Chain,
    /// The chain and the host name (`verify-full`).
    Full,
}

/// `storage.url` split into what `tokio-postgres` reads and what the connector checks.
#[derive(Debug)]
pub struct Connection {
    /// The URL without `sslrootcert`, with `verify-*` as `require`.
    pub url: String,
    pub verify: Verify,
    pub root_cert: Option<PathBuf>,
}

/// Why TLS to PostgreSQL cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum PgTlsError {
    #[error(
        "storage.url: sslmode={0} is not one of disable, prefer, require, verify-ca, verify-full"
    )]
    Mode(String),
    #[error("storage.url: sslrootcert {path}: {reason}")]
    RootCert { path: String, reason: String },
    #[error("storage.url: TLS set-up failed: {0}")]
    Setup(String),
}

/// Read `sslmode` and `sslrootcert` out of a `postgres://` URL.
///
/// # Errors
/// An `sslmode` libpq does not know.
pub fn parse(url: &str) -> Result<Connection, PgTlsError> {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut mode = None;
    let mut root_cert = None;
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "sslmode" => mode = Some(value.to_string()),
            "sslrootcert" => {
                let decoded = percent_encoding::percent_decode_str(value).decode_utf8_lossy();
                root_cert = Some(PathBuf::from(decoded.as_ref()));
            }
            _ => kept.push(pair.to_string()),
        }
    }
    let (pg_mode, verify) = match mode.as_deref() {
        None | Some("prefer") => ("prefer", Verify::Nothing),
        Some("disable") => ("disable", Verify::Nothing),
        Some("require") if root_cert.is_some() => ("require", Verify::Chain),
        Some("require") => ("require", Verify::Nothing),
        Some("verify-ca") => ("require", Verify::Chain),
        Some("verify-full") => ("require", Verify::Full),
        Some(other) => return Err(PgTlsError::Mode(other.to_string())),
    };
    kept.push(format!("sslmode={pg_mode}"));
    Ok(Connection {
        url: format!("{base}?{}", kept.join("&")),
        verify,
        root_cert,
    })
}

impl Connection {
    /// The connector `tokio-postgres` hands the TLS handshake to (unused with `disable`).
    ///
    /// # Errors
    /// `sslrootcert` cannot be read or holds no certificate.
    pub fn connector(&self) -> Result<MakeRustlsConnect, PgTlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| PgTlsError::Setup(e.to_string()))?;
        let config = match self.verify {
            Verify::Nothing => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
                .with_no_client_auth(),
            Verify::Chain | Verify::Full => {
                let roots = Arc::new(self.roots()?);
                let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider)
                    .build()
                    .map_err(|e| PgTlsError::Setup(e.to_string()))?;
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(Checked {
                        webpki,
                        names: self.verify == Verify::Full,
                    }))
                    .with_no_client_auth()
            }
        };
        Ok(MakeRustlsConnect::new(config))
    }

    fn roots(&self) -> Result<RootCertStore, PgTlsError> {
        let mut roots = RootCertStore::empty();
        match &self.root_cert {
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
            Some(path) => {
                let failed = |reason: String| PgTlsError::RootCert {
                    path: path.display().to_string(),
                    reason,
                };
                let certs = CertificateDer::pem_file_iter(path)
                    .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                    .map_err(|e| failed(e.to_string()))?;
                let (added, _) = roots.add_parsable_certificates(certs);
                if added == 0 {
                    return Err(failed("holds no usable certificate".into()));
                }
            }
        }
        Ok(roots)
    }
}

/// `prefer` and `require` without a root: the connection is encrypted and the handshake's
/// signatures are checked, but any certificate is taken (as libpq does).
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
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
            &self.0.signature_verification_algorithms,
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
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca` and `verify-full`: the chain is checked by webpki; for `verify-ca` a
/// certificate valid for another name is still taken.
#[derive(Debug)]
struct Checked {
    webpki: Arc<WebPkiServerVerifier>,
    names: bool,
}

impl ServerCertVerifier for Checked {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.webpki.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.names => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sslmode_and_sslrootcert_are_read_the_way_libpq_reads_them() {
        let cases = [
            (
                "postgres://u@h/db",
                "postgres://u@h/db?sslmode=prefer",
                Verify::Nothing,
                None,
            ),
            (
                "postgres://u@h/db?sslmode=disable",
                "postgres://u@h/db?sslmode=disable",
                Verify::Nothing,
                None,
            ),
            (
                "postgres://u@h/db?sslmode=require&application_name=sb",
                "postgres://u@h/db?application_name=sb&sslmode=require",
                Verify::Nothing,
                None,
            ),
            (
                "postgres://u@h/db?sslmode=require&sslrootcert=/etc/ca.pem",
                "postgres://u@h/db?sslmode=require",
                Verify::Chain,
                Some("/etc/ca.pem"),
            ),
            (
                "postgres://u@h/db?sslmode=verify-ca&sslrootcert=%2Fetc%2Fca.pem",
                "postgres://u@h/db?sslmode=require",
                Verify::Chain,
                Some("/etc/ca.pem"),
            ),
            (
                "postgres://u@h/db?sslmode=verify-full",
                "postgres://u@h/db?sslmode=require",
                Verify::Full,
                None,
            ),
        ];
        for (url, rewritten, verify, root) in cases {
            let c = parse(url).unwrap();
            assert_eq!(c.url, rewritten, "{url}");
            assert_eq!(c.verify, verify, "{url}");
            assert_eq!(c.root_cert, root.map(PathBuf::from), "{url}");
        }
    }

    #[test]
    fn an_unknown_sslmode_is_refused_with_the_modes_there_are() {
        let e = parse("postgres://u@h/db?sslmode=verify").unwrap_err();
        assert_eq!(
            e.to_string(),
            "storage.url: sslmode=verify is not one of disable, prefer, require, verify-ca, verify-full"
        );
    }
}
