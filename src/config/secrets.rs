//! Signing secrets: what a Standard Webhooks `whsec_` secret means as key bytes, and which
//! secrets are refused because they would let anyone sign (docs/configuration.md).

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;

/// Why a Standard Webhooks secret cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("a Standard Webhooks secret is `whsec_` followed by base64")]
    NotBase64,
    #[error("this Standard Webhooks secret has an empty key (anyone could sign with it)")]
    EmptyKey,
}

/// The key bytes of a Standard Webhooks secret: the base64 after `whsec_`.
///
/// # Errors
/// When the part after `whsec_` is not base64, or decodes to no bytes at all.
pub fn standard_webhooks_key(secret: &str) -> Result<Vec<u8>, SecretError> {
    let encoded = secret.strip_prefix("whsec_").unwrap_or(secret);
    let key = BASE64.decode(encoded).map_err(|_| SecretError::NotBase64)?;
    if key.is_empty() {
        return Err(SecretError::EmptyKey);
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_webhooks_secrets_decode_or_are_refused() {
        let cases: &[(&str, Result<&[u8], SecretError>)] = &[
            ("whsec_c2VjcmV0", Ok(b"secret")),
            ("c2VjcmV0", Ok(b"secret")),
            ("whsec_", Err(SecretError::EmptyKey)),
            ("", Err(SecretError::EmptyKey)),
            ("whsec_!!!", Err(SecretError::NotBase64)),
            ("whsec_c2VjcmV0=", Err(SecretError::NotBase64)),
        ];
        for (secret, expected) in cases {
            let got = standard_webhooks_key(secret);
            assert_eq!(got.as_deref().map_err(|e| *e), *expected, "{secret:?}");
        }
    }
}
