//! `${VAR}` expansion (docs/configuration.md): every string of the file, before it is read
//! into its shapes, has `${VAR}` and `${VAR:-default}` replaced from the environment; `$${`
//! is a literal `${`. An error names the variable, never the value around it (a secret).

use super::Refusal;

/// Expand `${VAR}` in every string under `key` (`""`: the whole document); a refusal is at
/// the key of the string (`key: message`).
pub(super) fn expand_value(
    value: &mut toml::Value,
    env: &dyn Fn(&str) -> Option<String>,
    key: &str,
) -> Result<(), Refusal> {
    match value {
        toml::Value::String(s) => {
            *s = expand_vars(s, env).map_err(|e| Refusal::new(key, format!("{key}: {e}")))?;
            Ok(())
        }
        toml::Value::Array(items) => items.iter_mut().try_for_each(|v| expand_value(v, env, key)),
        toml::Value::Table(table) => table.iter_mut().try_for_each(|(name, v)| {
            let inner = if key.is_empty() {
                name.clone()
            } else {
                format!("{key}.{name}")
            };
            expand_value(v, env, &inner)
        }),
        _ => Ok(()),
    }
}

/// Why `${...}` could not be expanded. The messages never repeat the value around the
/// reference: it may be a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpandError {
    #[error("an unterminated \"${{\" (write $${{ for a literal ${{)")]
    Unterminated,
    #[error("\"${{{0}}}\" is not a valid variable reference")]
    InvalidName(String),
    #[error("environment variable {0} is not set (referenced as ${{{0}}}); set it, or write ${{{0}:-default}}")]
    Unset(String),
}

/// Replace `${VAR}` and `${VAR:-default}` in a string; `$${` stands for a literal `${`.
///
/// # Errors
/// Names the variable when `${VAR}` has no default and the variable is unset, and describes
/// an unterminated `${`.
pub fn expand_vars(
    input: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, ExpandError> {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos..];
        if let Some(escaped) = after.strip_prefix("$${") {
            out.push_str("${");
            rest = escaped;
        } else if let Some(body) = after.strip_prefix("${") {
            let end = body.find('}').ok_or(ExpandError::Unterminated)?;
            let expr = &body[..end];
            let (name, default) = match expr.split_once(":-") {
                Some((name, default)) => (name, Some(default)),
                None => (expr, None),
            };
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(ExpandError::InvalidName(expr.to_string()));
            }
            match (
                env(name).filter(|v| !v.is_empty() || default.is_none()),
                default,
            ) {
                (Some(v), _) => out.push_str(&v),
                (None, Some(d)) => out.push_str(d),
                (None, None) => return Err(ExpandError::Unset(name.to_string())),
            }
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = &after[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "SET" => Some("value".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn variables_expand_with_defaults_and_escapes() {
        assert_eq!(expand_vars("a${SET}b", &env).unwrap(), "avalueb");
        assert_eq!(expand_vars("${UNSET:-dflt}", &env).unwrap(), "dflt");
        assert_eq!(expand_vars("${EMPTY:-dflt}", &env).unwrap(), "dflt");
        assert_eq!(expand_vars("${UNSET:-}", &env).unwrap(), "");
        assert_eq!(expand_vars("$${SET}", &env).unwrap(), "${SET}");
        assert_eq!(expand_vars("cost $5", &env).unwrap(), "cost $5");
    }

    #[test]
    fn a_missing_variable_is_named() {
        let err = expand_vars("${JELOU_CLIENT_ID}", &env).unwrap_err();
        assert_eq!(err, ExpandError::Unset("JELOU_CLIENT_ID".into()));
        assert!(err.to_string().contains("JELOU_CLIENT_ID"), "{err}");
    }

    #[test]
    fn an_expansion_error_never_repeats_the_value_it_is_in() {
        for (input, expected) in [
            ("topsecret${UNCLOSED", ExpandError::Unterminated),
            (
                "topsecret${bad name}",
                ExpandError::InvalidName("bad name".into()),
            ),
        ] {
            let err = expand_vars(input, &env).unwrap_err();
            assert_eq!(err, expected);
            assert!(!err.to_string().contains("topsecret"), "{err}");
        }
    }

    #[test]
    fn an_unset_variable_is_refused_at_the_key_of_its_string() {
        let mut value: toml::Value = toml::from_str(
            "[sources.a]
secret = [\"s\", \"${UNSET}\"]
",
        )
        .unwrap();
        let refusal = expand_value(&mut value, &env, "").unwrap_err();
        assert_eq!(refusal.key, "sources.a.secret");
        assert_eq!(
            refusal.message,
            "sources.a.secret: environment variable UNSET is not set (referenced as ${UNSET}); set it, or write ${UNSET:-default}"
        );
    }
}
