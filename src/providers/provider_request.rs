//! `provider(name).request(method, path, body)` (docs/providers.md): a request the rule writes
//! itself, sent with the provider's base URL and credentials. The method must be a plain
//! HTTP verb and the path a plain path below `base_url`: no scheme, no host, no `.`/`..`
//! segment (also percent-encoded, once or several times), no backslash or encoded
//! separator. Anything else is a rule error naming it, so a rule can never reach a host
//! that is not configured.

use percent_encoding::percent_decode_str;

/// The methods a rule may use.
pub const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE"];

/// Why a method or path given to `request(...)` is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("request: method {0:?} is not one of GET, POST, PUT, PATCH, DELETE")]
    Method(String),
    #[error("request: path {0:?} must start with / (it is joined to the provider's base_url)")]
    NotAbsolute(String),
    #[error("request: path {0:?} names a scheme or a host; only a path below the provider's base_url is allowed")]
    SchemeOrHost(String),
    #[error("request: path {0:?} has a `.` or `..` segment (also when percent-encoded); it could leave the provider's base_url")]
    DotSegment(String),
    #[error("request: path {0:?} has a backslash or a percent-encoded / or \\; write plain / between segments")]
    Separator(String),
    #[error("request: path {0:?} has a space, a control character or a #")]
    Character(String),
    #[error("request: path {path:?} would leave the provider's base_url ({base_url})")]
    LeavesBase { path: String, base_url: String },
}

/// The method, upper-cased, when it is one a rule may use.
///
/// # Errors
/// Any other word.
pub fn method(method: &str) -> Result<String, RequestError> {
    let upper = method.trim().to_ascii_uppercase();
    if METHODS.contains(&upper.as_str()) {
        Ok(upper)
    } else {
        Err(RequestError::Method(method.to_string()))
    }
}

/// `s` percent-decoded until nothing changes (so `%252e` is seen as `.`), at most 8 times.
fn fully_decoded(s: &str) -> String {
    let mut current = s.to_string();
    for _ in 0..8 {
        let next = percent_decode_str(&current).decode_utf8_lossy().to_string();
        if next == current {
            break;
        }
        current = next;
    }
    current
}

/// Whether `path` is a plain path that stays below `base_url` once joined to it.
///
/// # Errors
/// The first problem found, naming the path.
pub fn path(path: &str) -> Result<(), RequestError> {
    let refuse = |e: fn(String) -> RequestError| Err(e(path.to_string()));
    if path
        .chars()
        .any(|c| c.is_control() || c.is_whitespace() || c == '#')
    {
        return refuse(RequestError::Character);
    }
    if !path.starts_with('/') {
        return refuse(RequestError::NotAbsolute);
    }
    // The query may hold anything printable; only the path part can move the request.
    let only_path = path.split('?').next().unwrap_or(path);
    let decoded = fully_decoded(only_path);
    if only_path.starts_with("//") || decoded.starts_with("//") || decoded.contains("://") {
        return refuse(RequestError::SchemeOrHost);
    }
    if decoded.contains('\\') {
        return refuse(RequestError::Separator);
    }
    for segment in only_path.split('/') {
        let plain = fully_decoded(segment);
        if plain.contains('/') {
            return refuse(RequestError::Separator);
        }
        if plain == "." || plain == ".." {
            return refuse(RequestError::DotSegment);
        }
        if plain.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return refuse(RequestError::Character);
        }
    }
    Ok(())
}

/// Belt and braces: the joined URL has the base URL's scheme, host and port, and its path
/// starts with the base URL's path.
///
/// # Errors
/// The joined URL is not below `base_url`.
pub fn stays_below(base_url: &str, joined: &str, path: &str) -> Result<(), RequestError> {
    let leaves = || RequestError::LeavesBase {
        path: path.to_string(),
        base_url: base_url.to_string(),
    };
    let base = reqwest::Url::parse(base_url).map_err(|_| leaves())?;
    let url = reqwest::Url::parse(joined).map_err(|_| leaves())?;
    let same_origin = base.scheme() == url.scheme()
        && base.host_str() == url.host_str()
        && base.port_or_known_default() == url.port_or_known_default()
        && url.username().is_empty()
        && url.password().is_none();
    let base_path = base.path().trim_end_matches('/');
    let below = url.path() == base_path || url.path().starts_with(&format!("{base_path}/"));
    if same_origin && below {
        Ok(())
    } else {
        Err(leaves())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_paths_and_queries_are_allowed() {
        for ok in [
            "/subscriber/get-info?user_ns=f1u2",
            "/v1/bots/b-1/messages",
            "/contact/email:a@b.co/tag",
            "/a.b/c..d/.well-named",
            "/subscribers?phone=%2B573001112233&next=https://x.test/../y",
            "/",
        ] {
            assert_eq!(path(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn paths_that_could_leave_the_base_url_are_refused_with_their_reason() {
        use RequestError::*;
        type Reason = fn(String) -> RequestError;
        let rows: &[(&str, Reason)] = &[
            ("subscriber/x", NotAbsolute),
            ("https://evil.test/x", NotAbsolute),
            ("//evil.test/x", SchemeOrHost),
            ("/%2fevil.test/x", SchemeOrHost),
            ("/x/https://evil.test", SchemeOrHost),
            ("/x/http%3A%2F%2Fevil.test", SchemeOrHost),
            ("/../admin", DotSegment),
            ("/a/..", DotSegment),
            ("/a/./b", DotSegment),
            ("/%2e%2e/admin", DotSegment),
            ("/%2E%2E/admin", DotSegment),
            ("/%2e%2E/admin", DotSegment),
            ("/.%2e/admin", DotSegment),
            ("/%252e%252e/admin", DotSegment),
            ("/a/%2e", DotSegment),
            ("/a\\..\\b", Separator),
            ("/a/%5c..%5cb", Separator),
            ("/a/..%2fb", Separator),
            ("/a b", Character),
            ("/a\nb", Character),
            ("/a#frag", Character),
            ("/a/%0a", Character),
        ];
        for (bad, reason) in rows {
            assert_eq!(path(bad), Err(reason(bad.to_string())), "{bad}");
        }
    }

    #[test]
    fn methods_are_plain_verbs_in_any_case() {
        assert_eq!(method("post"), Ok("POST".into()));
        assert_eq!(method("Delete"), Ok("DELETE".into()));
        for bad in ["CONNECT", "TRACE", "", "GET /x", "OPTIONS"] {
            assert_eq!(
                method(bad),
                Err(RequestError::Method(bad.into())),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn the_joined_url_must_stay_below_the_base_url() {
        let base = "https://api.test/v1";
        assert!(stays_below(base, "https://api.test/v1/x", "/x").is_ok());
        assert!(stays_below(base, "https://api.test/v1", "/").is_ok());
        for joined in [
            "https://api.test/v2/x",
            "https://api.test/v1x",
            "https://evil.test/v1/x",
            "http://api.test/v1/x",
            "https://api.test:444/v1/x",
            "https://u:p@api.test/v1/x",
        ] {
            assert!(stays_below(base, joined, "/x").is_err(), "{joined}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2_000))]

        /// Whatever a rule writes from the characters that make escapes (dots, percent
        /// signs, hex digits, slashes of both kinds, a scheme's colon), a path the checks
        /// accept stays below the base URL once a URL parser (which resolves `.`, `..` and
        /// `%2e` segments as browsers do) has read it.
        #[test]
        fn an_accepted_path_never_leaves_the_base_url(
            tail in proptest::collection::vec(
                proptest::sample::select(vec![
                    "/", ".", "..", "%", "%2e", "%2E", "%25", "%2f", "%5c", "\\", "2", "e", "f",
                    "c", "a", ":", "//", "?", "@", "evil.test", "http:", ";", "%00",
                ]),
                0..12,
            )
        ) {
            let path = format!("/{}", tail.concat());
            let base = "https://api.test/v1";
            if super::path(&path).is_ok() {
                let joined = format!("{base}/{}", path.trim_start_matches('/'));
                proptest::prop_assert!(
                    stays_below(base, &joined, &path).is_ok(),
                    "{path} was accepted but leaves {base}"
                );
            }
        }
    }
}
