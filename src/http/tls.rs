//! HTTPS for `serve` (`[server] tls_cert` and `tls_key`, docs/http-api.md): the PEM files are
//! read at start and again on SIGHUP. The certificate in use sits behind a resolver that a
//! reload swaps whole, so connections being set up see either the old pair or the new one;
//! a reload that fails (a missing file, a key that does not match) is logged and leaves the
//! old pair serving.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;

/// Why a certificate and key cannot be used; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("server.tls_cert: cannot read certificates from {path}: {reason}")]
    Cert { path: String, reason: String },
    #[error("server.tls_cert: {path} holds no certificate (expected PEM `BEGIN CERTIFICATE`)")]
    NoCert { path: String },
    #[error("server.tls_key: cannot read a private key from {path}: {reason}")]
    Key { path: String, reason: String },
    #[error("server.tls_key: {path} does not match the certificate in {cert}: {reason}")]
    Mismatch {
        path: String,
        cert: String,
        reason: String,
    },
    #[error("TLS set-up failed: {0}")]
    Setup(String),
}

impl TlsError {
    /// The config key the problem is about, which its message starts with (`check` places the
    /// problem there); none for a set-up failure.
    pub fn key(&self) -> Option<&'static str> {
        match self {
            TlsError::Cert { .. } | TlsError::NoCert { .. } => Some("server.tls_cert"),
            TlsError::Key { .. } | TlsError::Mismatch { .. } => Some("server.tls_key"),
            TlsError::Setup(_) => None,
        }
    }
}

/// The certificate and key files, and the pair loaded from them.
#[derive(Debug)]
pub struct Certificates {
    cert: PathBuf,
    key: PathBuf,
    current: ArcSwap<CertifiedKey>,
}

impl Certificates {
    /// Read both files now.
    ///
    /// # Errors
    /// A file cannot be read, holds no certificate or key, or the key does not match.
    pub fn load(cert: &Path, key: &Path) -> Result<Arc<Certificates>, TlsError> {
        let pair = read_pair(cert, key)?;
        Ok(Arc::new(Certificates {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            current: ArcSwap::from_pointee(pair),
        }))
    }

    /// Read both files again and serve the new pair from the next handshake on.
    ///
    /// # Errors
    /// As `load`; the pair in use stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        let pair = read_pair(&self.cert, &self.key)?;
        self.current.store(Arc::new(pair));
        Ok(())
    }

    /// A rustls server configuration that asks this set for its certificate.
    ///
    /// # Errors
    /// When rustls refuses the protocol versions (does not happen with ring's defaults).
    pub fn server_config(self: &Arc<Self>) -> Result<ServerConfig, TlsError> {
        let config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Setup(e.to_string()))?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(Resolver(self.clone())));
        Ok(config)
    }
}

#[derive(Debug)]
struct Resolver(Arc<Certificates>);

impl ResolvesServerCert for Resolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.current.load_full())
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read_pair(cert: &Path, key: &Path) -> Result<CertifiedKey, TlsError> {
    let cert_name = cert.display().to_string();
    let key_name = key.display().to_string();
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| TlsError::Cert {
            path: cert_name.clone(),
            reason: e.to_string(),
        })?;
    if chain.is_empty() {
        return Err(TlsError::NoCert { path: cert_name });
    }
    let private = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::Key {
        path: key_name.clone(),
        reason: e.to_string(),
    })?;
    CertifiedKey::from_der(chain, private, &provider()).map_err(|e| TlsError::Mismatch {
        path: key_name,
        cert: cert_name,
        reason: e.to_string(),
    })
}

/// Reload `certificates` on every SIGHUP until the process ends; a failed reload is logged
/// and the old pair keeps serving.
pub fn reload_on_sighup(certificates: Arc<Certificates>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let Ok(mut hangup) = signal(SignalKind::hangup()) else {
                tracing::error!("cannot listen for SIGHUP; TLS certificates will not reload");
                return;
            };
            while hangup.recv().await.is_some() {
                match certificates.reload() {
                    Ok(()) => tracing::info!(
                        cert = %certificates.cert.display(),
                        "SIGHUP: TLS certificate and key reloaded"
                    ),
                    Err(e) => {
                        tracing::error!("SIGHUP: {e}; still serving the previous certificate")
                    }
                }
            }
        }
        #[cfg(not(unix))]
        drop(certificates);
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_certificate_problem_names_the_key_it_is_placed_at() {
        let (path, cert, reason) = ("k.pem".to_string(), "c.pem".to_string(), "r".to_string());
        let errors = [
            TlsError::Cert {
                path: path.clone(),
                reason: reason.clone(),
            },
            TlsError::NoCert { path: path.clone() },
            TlsError::Key {
                path: path.clone(),
                reason: reason.clone(),
            },
            TlsError::Mismatch { path, cert, reason },
        ];
        for error in &errors {
            let key = error.key().expect("a file problem has a key");
            assert!(
                error.to_string().starts_with(&format!("{key}: ")),
                "{error}"
            );
        }
        assert_eq!(TlsError::Setup("x".into()).key(), None);
    }
}
