//! The checks of `build`, as `Settings::parse` reports them: every refusal worded as
//! docs/configuration.md says and placed at its key's line and column; defaults that depend on
//! other keys; secrets kept out of messages and `Debug` output.

use super::*;

fn env(name: &str) -> Option<String> {
    match name {
        "SET" => Some("value".into()),
        "EMPTY" => Some(String::new()),
        _ => None,
    }
}

/// The error `Settings::parse` gives for `text` in `x.toml`.
fn error_of(text: &str) -> String {
    Settings::parse(text, Path::new("x.toml"), &env)
        .map(|_| "accepted".to_string())
        .unwrap_or_else(|e| e.to_string())
}

#[test]
fn absurd_values_are_refused_at_their_line_and_column() {
    let source = "[sources.a]\nkind = \"jelou\"\n";
    let cases = [
        ("[delivery]\ntimeout_ms = 0\n", "x.toml:2:1: delivery.timeout_ms must be at least 1"),
        ("[delivery]\nbackoff_base_ms = 0\n", "x.toml:2:1: delivery.backoff_base_ms must be at least 1"),
        ("[delivery]\nmax_attempts = 0\n", "x.toml:2:1: delivery.max_attempts must be at least 1"),
        ("[delivery]\nmax_in_flight = 0\n", "x.toml:2:1: delivery.max_in_flight must be at least 1"),
        ("\n[delivery]\nbackoff_base_ms = 5000\nbackoff_max_ms = 1000\n", "x.toml:3:1: delivery.backoff_base_ms: 5000 is more than backoff_max_ms (1000)"),
        ("[storage]\nretention_days = 0\n", "x.toml:2:1: storage.retention_days must be at least 1"),
        ("[server]\nlisten = \"8080\"\n", "x.toml:2:1: server.listen: \"8080\" is not an address like 127.0.0.1:8080, [::1]:8080 or localhost:8080"),
        ("[server]\nlisten = \"localhost:99999\"\n", "x.toml:2:1: server.listen"),
        ("[server]\nmax_body_bytes = 1000000000000000\n", "x.toml:2:1: server.max_body_bytes: 1000000000000000 is over the limit"),
        ("[server]\nbody_timeout_ms = 0\n", "x.toml:2:1: server.body_timeout_ms must be at least 1"),
        (&format!("{source}token = \"t\"\nack_status = 204\n"), "x.toml:4:1: sources.a.ack_status: 204 is not one of 200, 201, 202"),
        (&format!("{source}secret = \"\"\n"), "x.toml:3:1: sources.a.secret: is empty"),
        (&format!("{source}token = \"\"\n"), "x.toml:3:1: sources.a.token: is empty"),
        ("[sources.g]\nkind = \"generic\"\nsecret = \"whsec_\"\n", "x.toml:3:1: sources.g.secret: this Standard Webhooks secret has an empty key"),
        ("[providers.u]\nkind = \"uchat\"\ntoken = \"t\"\nretry_on = [200]\n", "x.toml:4:1: providers.u.retry_on: 200 is not an HTTP error status"),
        ("[providers.u]\nkind = \"uchat\"\ntoken = \"t\"\nmax_attempts = 0\n", "x.toml:4:1: providers.u.max_attempts: must be at least 1"),
        ("[providers.u]\nkind = \"uchat\"\ntoken = \"t\"\nbreaker_failures = 0\n", "x.toml:4:1: providers.u.breaker_failures: must be at least 1"),
        ("\n[providers.wa]\nkind = \"whatsapp\"\ntoken = \"t\"\n", "x.toml:2:12: providers.wa: a whatsapp provider needs phone_number_id"),
        ("[providers.wa]\nkind = \"whatsapp\"\nphone_number_id = \"1065\"\n", "x.toml:1:12: providers.wa: a whatsapp provider needs token"),
        ("[providers.wa]\nkind = \"whatsapp\"\ntoken = \"t\"\nphone_number_id = \"+1 555\"\n", "x.toml:4:1: providers.wa.phone_number_id: \"+1 555\" is not a phone number id"),
        ("[providers.wa]\nkind = \"whatsapp\"\ntoken = \"t\"\nphone_number_id = \"1\"\ncall_phone = \"call us\"\n", "x.toml:5:1: providers.wa.call_phone: \"call us\" is not a phone number in E.164"),
        ("[providers.wa]\nkind = \"whatsapp\"\nclient_id = \"i\"\nclient_secret = \"s\"\n", "x.toml:1:12: providers.wa: a whatsapp provider uses token, not client_id/client_secret"),
        ("[providers.u]\nkind = \"uchat\"\ntoken = \"t\"\nphone_number_id = \"1\"\n", "x.toml:4:1: providers.u.phone_number_id: only whatsapp providers have phone_number_id"),
        ("[providers.u]\nkind = \"uchat\"\ntoken = \"t\"\ncall_phone = \"+573001234567\"\n", "x.toml:4:1: providers.u.call_phone: only whatsapp providers have call_phone"),
        ("\n\n[server]\nlisten_port = 3\n", "x.toml:4:1: unknown field `listen_port`"),
        ("[server]\nmax_body_bytes = \"big\"\n", "x.toml:2:18: invalid type: string \"big\""),
        ("[server]\nlisten = \"${NOT_SET}\"\n", "x.toml:2:1: server.listen: "),
        ("[server\nlisten = 1\n", "x.toml:1:8: invalid table header; expected `.`, `]`"),
        ("[server]\nlisten = \n", "x.toml:2:10: invalid string; expected `\"`, `'`"),
    ];
    for (text, expected) in cases {
        let error = error_of(text);
        assert!(
            error.starts_with(expected),
            "{text:?}\n got: {error}\nwant: {expected}"
        );
    }
    for accepted in [
        "[server]\nlisten = \"localhost:8080\"\n",
        "[server]\nlisten = \"[::1]:8080\"\n",
        "[server]\nlisten = \"0.0.0.0:0\"\n",
    ] {
        assert_eq!(error_of(accepted), "accepted", "{accepted}");
    }
}

#[test]
fn whatsapp_sources_need_an_app_secret_and_a_verify_token_at_their_place() {
    let wa = "[sources.w]\nkind = \"whatsapp\"\n";
    let cases = [
        (
            format!("{wa}secret = \"s\"\n"),
            "x.toml:1:10: sources.w: a whatsapp source needs `verify_token`",
        ),
        (
            format!("{wa}verify_token = \"v\"\n"),
            "x.toml:1:10: sources.w: a whatsapp source needs `secret`",
        ),
        (
            format!("{wa}secret = \"s\"\nverify_token = \"\"\n"),
            "x.toml:4:1: sources.w.verify_token: is empty",
        ),
        (
            format!("{wa}secret = \"\"\nverify_token = \"v\"\n"),
            "x.toml:3:1: sources.w.secret: is empty",
        ),
        (
            format!("{wa}token = \"t\"\nverify_token = \"v\"\n"),
            "x.toml:3:1: sources.w.token: a whatsapp source is verified by X-Hub-Signature-256",
        ),
        (
            "[sources.j]\nkind = \"jelou\"\nsecret = \"s\"\nverify_token = \"v\"\n".to_string(),
            "x.toml:4:1: sources.j.verify_token: only whatsapp sources take verify_token",
        ),
    ];
    for (text, expected) in &cases {
        let error = error_of(text);
        assert!(
            error.starts_with(expected),
            "{text:?}\n got: {error}\nwant: {expected}"
        );
    }
    let env = |_: &str| None;
    let settings = Settings::parse(
        &format!("{wa}secret = \"app-secret\"\nverify_token = \"vt\"\n"),
        Path::new("x.toml"),
        &env,
    )
    .unwrap();
    let w = &settings.sources["w"];
    assert_eq!(w.kind, SourceKind::Whatsapp);
    assert_eq!(
        w.verify_token
            .as_ref()
            .map(|t| t.expose_secret().to_string())
            .as_deref(),
        Some("vt")
    );
    assert!(
        !format!("{settings:?}").contains("vt\""),
        "the verify token is a secret"
    );
}

#[test]
fn a_storage_url_password_never_appears_in_a_message() {
    let error = error_of("[storage]\nurl = \"mysql://admin:hunter2@db/x?password=hunter3\"\n");
    assert!(!error.contains("hunter"), "{error}");
    assert!(
        error.contains("mysql://admin:<redacted>@db/x?password=<redacted>"),
        "{error}"
    );
    assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
    assert_eq!(
        redact_url("postgres://h/db?user=u&password=p&x=1"),
        "postgres://h/db?user=u&password=<redacted>&x=1"
    );
}

#[test]
fn a_whatsapp_provider_defaults_to_the_graph_api_and_keeps_its_number_id() {
    let text = "[providers.wa]\nkind = \"whatsapp\"\ntoken = \"t\"\nphone_number_id = \" 106540352242922 \"\ncall_phone = \"+57 (300) 123-4567\"\n";
    let settings = Settings::parse(text, Path::new("x.toml"), &|_| None).unwrap();
    let wa = &settings.providers["wa"];
    assert_eq!(wa.kind, ProviderKind::Whatsapp);
    assert_eq!(wa.base_url, "https://graph.facebook.com/v21.0");
    assert_eq!(wa.phone_number_id.as_deref(), Some("106540352242922"));
    assert_eq!(wa.call_phone.as_deref(), Some("+573001234567"));
    assert!(matches!(wa.auth, ProviderAuth::Bearer(_)));
}

#[test]
fn a_source_with_secret_and_token_is_rejected() {
    let text = "[sources.a]\nkind = \"jelou\"\nsecret = \"s\"\ntoken = \"t\"\n";
    let err = Settings::parse(text, Path::new("x.toml"), &env)
        .unwrap_err()
        .to_string();
    assert!(err.contains("both"), "{err}");
}

#[test]
fn secrets_do_not_appear_in_debug_output() {
    let text = "[server]\nadmin_token = \"topsecret-admin\"\n[providers.u]\nkind = \"uchat\"\ntoken = \"topsecret-token\"\n[sources.a]\nkind = \"uchat\"\ntoken = \"topsecret-source\"\n";
    let settings = Settings::parse(text, Path::new("x.toml"), &env).unwrap();
    let debug = format!("{settings:?}");
    assert!(!debug.contains("topsecret"), "{debug}");
}

#[test]
fn routing_or_a_source_naming_an_unknown_provider_is_rejected_with_its_name() {
    let provider = "[providers.j]\nkind = \"jelou\"\nclient_id = \"i\"\nclient_secret = \"s\"\n";
    let routing = format!("{provider}[routing]\ntag = \"nowhere\"\n");
    let err = Settings::parse(&routing, Path::new("x.toml"), &env)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("routing.tag") && err.contains("\"nowhere\""),
        "{err}"
    );
    let source = format!(
        "{provider}[sources.a]\nkind = \"jelou\"\nsecret = \"s\"\nprovider = \"elsewhere\"\n"
    );
    let err = Settings::parse(&source, Path::new("x.toml"), &env)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("sources.a.provider") && err.contains("\"elsewhere\""),
        "{err}"
    );
}

#[test]
fn a_source_defaults_to_the_one_provider_of_its_kind() {
    let text = "[providers.j]\nkind = \"jelou\"\nclient_id = \"i\"\nclient_secret = \"s\"\n[sources.a]\nkind = \"jelou\"\nsecret = \"s\"\n";
    let settings = Settings::parse(text, Path::new("x.toml"), &env).unwrap();
    assert_eq!(settings.sources["a"].provider.as_deref(), Some("j"));
}

#[test]
fn a_refusal_is_placed_at_its_key_even_when_a_name_is_quoted() {
    // The place comes from the refusal's key, not from re-reading the message: a name with a
    // space or a colon is found whole.
    let cases = [
        (
            "[sources.\"my crm\"]\nkind = \"generic\"\ntoken = \"\"\n",
            "x.toml:3:1: sources.my crm.token: is empty",
        ),
        (
            "[providers.\"eu:west\"]\nkind = \"uchat\"\ntoken = \"t\"\nmax_attempts = 0\n",
            "x.toml:4:1: providers.eu:west.max_attempts: must be at least 1",
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(error_of(text), expected, "{text:?}");
    }
}
