//! Property tests: the four fuzz targets of `fuzz/` (signature verification, every decoder,
//! config parsing, the rule API's argument conversion) as proptest properties, so every
//! `cargo test` exercises them. The properties themselves live in `fuzz/src/oracle.rs`,
//! shared with the fuzz targets; this file only generates their inputs. Regressions found
//! by fuzzing are plain tests at the end.

#[path = "../fuzz/src/oracle.rs"]
mod oracle;

use oracle::{Arg, Call, EventUser, Json, Lit, RuleHarness, Tamper, Toml, TomlDoc, TomlTable};
use proptest::prelude::*;

const CASES: u32 = 256;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: CASES,
        // Shrinking a panic inside Switchboard can take long; a few hundred steps suffice.
        max_shrink_iters: 512,
        ..ProptestConfig::default()
    }
}

fn one_of(list: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop::sample::select(list).prop_map(str::to_string)
}

/// Strings biased towards the awkward: NUL, newlines, BOM, non-ASCII, long, and arbitrary.
fn awkward_text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("\0".to_string()),
        Just("line\nbreak\r\n".to_string()),
        Just("\u{feff}bom".to_string()),
        Just("ñ€𝄞\u{202e}".to_string()),
        (0usize..70_000).prop_map(|n| "x".repeat(n)),
        any::<String>(),
        "\\PC{0,40}",
    ]
}

fn word(list: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![7 => one_of(list), 1 => awkward_text()]
}

// ---- signature verification ------------------------------------------------------------

const HEADER_NAMES: &[&str] = &[
    "x-jelou-signature",
    "X-Webhook-Signature",
    "x-webhook-token",
    "authorization",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
];

const HEADER_VALUES: &[&str] = &[
    "sha256=",
    "sha256=zz",
    "v1,",
    "v1, v1,AAAA",
    "Bearer ",
    "Bearer fuzz-uchat-token",
    "fuzz-uchat-token",
    " ",
    "-9223372036854775808",
    "9223372036854775807",
    "1764720000",
    "+1764720000",
    "=",
    "====",
    "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
];

fn clock() -> impl Strategy<Value = i64> {
    prop_oneof![
        Just(oracle::NOW),
        Just(i64::MIN),
        Just(i64::MAX),
        any::<i64>()
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn verification_never_panics_on_arbitrary_headers_and_bodies(
        selector in any::<u8>(),
        headers in prop::collection::vec((word(HEADER_NAMES), word(HEADER_VALUES)), 0..8),
        body in prop::collection::vec(any::<u8>(), 0..512),
        now in clock(),
        on_signed in any::<bool>(),
    ) {
        oracle::check_verify_never_panics(selector, &headers, &body, now, on_signed);
    }

    #[test]
    fn a_body_signed_with_the_right_secret_always_verifies(
        selector in any::<u8>(),
        body in prop::collection::vec(any::<u8>(), 0..512),
        id in awkward_text(),
    ) {
        oracle::check_signed_roundtrip(selector, &body, &id, Tamper::Nothing);
    }

    #[test]
    fn any_single_byte_change_to_a_signed_body_fails_verification(
        selector in any::<u8>(),
        body in prop::collection::vec(any::<u8>(), 1..512),
        index in any::<usize>(),
        mask in 1..=u8::MAX,
    ) {
        oracle::check_signed_roundtrip(selector, &body, "msg_1", Tamper::Body { index, mask });
    }

    #[test]
    fn any_single_byte_change_to_a_signature_fails_verification(
        selector in any::<u8>(),
        body in prop::collection::vec(any::<u8>(), 0..512),
        index in any::<usize>(),
        mask in 1..=u8::MAX,
    ) {
        oracle::check_signed_roundtrip(selector, &body, "msg_1", Tamper::Signature { index, mask });
    }
}

// ---- every decoder ---------------------------------------------------------------------

fn json_leaf() -> impl Strategy<Value = Json> {
    prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::Bool),
        prop_oneof![
            Just(i128::from(u64::MAX) + 1),
            Just(i128::from(i64::MIN) - 1),
            Just(i128::MAX),
            Just(i128::MIN),
            any::<i128>(),
        ]
        .prop_map(Json::Int),
        one_of(&[
            "1e400",
            "-1e400",
            "-0",
            "-0.0",
            "0e0",
            "1E-400",
            "123456789012345678901234567890",
            "4.9e-324",
            "1.7976931348623157e308",
            "18446744073709551616",
        ])
        .prop_map(Json::Number),
        any::<f64>().prop_map(Json::Float),
        awkward_text().prop_map(Json::Str),
        one_of(oracle::JSON_KEYS).prop_map(Json::Str),
    ]
}

fn json_value() -> impl Strategy<Value = Json> {
    json_leaf().prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Json::Array),
            prop::collection::vec((word(oracle::JSON_KEYS), inner.clone()), 0..7)
                .prop_map(Json::Object),
            (1usize..=200, any::<bool>(), inner).prop_map(|(depth, objects, inner)| {
                Json::Nested {
                    depth,
                    objects,
                    inner: Box::new(inner),
                }
            }),
        ]
    })
}

/// Mostly objects (the decoders' input), sometimes any JSON.
fn json_document() -> impl Strategy<Value = Json> {
    prop_oneof![
        3 => prop::collection::vec((word(oracle::JSON_KEYS), json_value()), 0..8)
            .prop_map(Json::Object),
        1 => json_value(),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn decoding_arbitrary_bytes_never_panics(
        selector in any::<u8>(),
        body in prop::collection::vec(any::<u8>(), 0..512),
    ) {
        let _ = oracle::check_decode(selector, &body, "msg_1");
    }

    #[test]
    fn decoding_arbitrary_json_never_panics_and_the_event_serialises(
        selector in any::<u8>(),
        doc in json_document(),
        id in awkward_text(),
    ) {
        let _ = oracle::check_decode(selector, oracle::json_text(&doc).as_bytes(), &id);
    }
}

// ---- config parsing --------------------------------------------------------------------

fn toml_value() -> impl Strategy<Value = Toml> {
    let leaf = prop_oneof![
        2 => word(oracle::TOML_STRINGS).prop_map(Toml::Str),
        1 => prop_oneof![
            Just(i64::MAX),
            Just(i64::MIN),
            Just(0),
            Just(-1),
            Just(i64::from(u32::MAX) + 1),
            any::<i64>()
        ]
        .prop_map(Toml::Int),
        1 => any::<f64>().prop_map(Toml::Float),
        1 => any::<bool>().prop_map(Toml::Bool),
        1 => one_of(&["", "\"unterminated", "[1, ", "{a = }", "0x10", "1979-05-27", "'''", "=="])
            .prop_map(Toml::Raw),
    ];
    leaf.prop_recursive(2, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Toml::Array),
            prop::collection::vec((word(oracle::TOML_KEYS), inner), 0..4).prop_map(Toml::Inline),
        ]
    })
}

fn toml_doc() -> impl Strategy<Value = TomlDoc> {
    let table = (
        prop::option::weighted(0.9, word(oracle::TOML_TABLES)),
        prop::bool::weighted(0.06),
        prop::collection::vec((word(oracle::TOML_KEYS), toml_value()), 0..7),
    )
        .prop_map(|(header, array, entries)| TomlTable {
            header,
            array,
            entries,
        });
    prop::collection::vec(table, 0..9).prop_map(|tables| TomlDoc { tables })
}

fn environment() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec(
        (one_of(oracle::ENV_NAMES), word(oracle::TOML_STRINGS)),
        0..4,
    )
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn config_parsing_never_panics_on_arbitrary_text(
        text in prop_oneof![any::<String>(), "\\PC{0,200}", "[\\[\\]a-z=\"${}:\\- \n0-9.]{0,200}"],
        env in environment(),
    ) {
        oracle::check_config(&text, &env);
    }

    #[test]
    fn config_parsing_never_panics_on_toml_documents_like_switchboard_toml(
        doc in toml_doc(),
        env in environment(),
    ) {
        oracle::check_config(&oracle::render_toml(&doc), &env);
    }
}

// ---- the rule API's argument conversion ------------------------------------------------

fn int_lit() -> impl Strategy<Value = Lit> {
    prop_oneof![
        Just(i64::MIN),
        Just(i64::MAX),
        Just(0),
        Just(-1),
        Just(i64::MAX / 1000 + 1),
        any::<i64>()
    ]
    .prop_map(Lit::Int)
}

fn lit() -> impl Strategy<Value = Lit> {
    let leaf = prop_oneof![
        Just(Lit::Unit),
        any::<bool>().prop_map(Lit::Bool),
        int_lit(),
        prop_oneof![
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            Just(-0.0),
            any::<f64>()
        ]
        .prop_map(Lit::Float),
        any::<char>().prop_map(Lit::Char),
        awkward_text().prop_map(Lit::Str),
        one_of(oracle::RULE_KEYS).prop_map(Lit::Str),
    ];
    leaf.prop_recursive(3, 24, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Lit::Array),
            prop::collection::vec((word(oracle::RULE_KEYS), inner), 0..6).prop_map(Lit::Map),
        ]
    })
}

fn contact_map() -> impl Strategy<Value = Lit> {
    let value = prop_oneof![3 => awkward_text().prop_map(Lit::Str), 1 => lit()];
    prop::collection::vec((word(oracle::RULE_KEYS), value), 0..6).prop_map(Lit::Map)
}

/// An argument of the given kind (mostly; sometimes anything, to miss the signature).
fn arg(kind: Arg) -> BoxedStrategy<Lit> {
    let typed = match kind {
        Arg::Str => prop_oneof![word(oracle::RULE_STRINGS), word(oracle::RULE_KEYS)]
            .prop_map(Lit::Str)
            .boxed(),
        Arg::Int => int_lit().boxed(),
        Arg::Map => contact_map().boxed(),
        Arg::Array => prop::collection::vec(contact_map(), 0..4)
            .prop_map(Lit::Array)
            .boxed(),
        Arg::Any => lit().boxed(),
    };
    prop_oneof![15 => typed, 1 => lit()].boxed()
}

fn call() -> impl Strategy<Value = Call> {
    let provider = || prop::option::weighted(0.25, word(oracle::PROVIDER_NAMES));
    let typed = (provider(), prop::sample::select(oracle::RULE_SIGNATURES)).prop_flat_map(
        |(provider, (function, kinds))| {
            let args: Vec<BoxedStrategy<Lit>> = kinds.iter().map(|k| arg(*k)).collect();
            args.prop_map(move |args| Call {
                provider: provider.clone(),
                function: function.to_string(),
                args,
            })
        },
    );
    let untyped = (
        provider(),
        word(oracle::RULE_FUNCTIONS),
        prop::collection::vec(lit(), 0..4),
    )
        .prop_map(|(provider, function, args)| Call {
            provider,
            function,
            args,
        });
    prop_oneof![typed, untyped]
}

fn event_user() -> impl Strategy<Value = EventUser> {
    fn maybe(list: &'static [&'static str]) -> impl Strategy<Value = Option<String>> {
        prop::option::of(word(list))
    }
    (
        maybe(&["5215550001111", "user-1", "", "ñ"]),
        maybe(&["+5215550001111", "+1", "abc"]),
        maybe(&["f12345u678", ""]),
        maybe(&["bot-1", ""]),
        maybe(&["conv-1", ""]),
    )
        .prop_map(|(id, phone, ns, bot_id, conversation_id)| EventUser {
            id,
            phone,
            ns,
            bot_id,
            conversation_id,
        })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn rule_api_calls_with_arbitrary_arguments_give_actions_or_a_rule_error_never_a_panic(
        selector in any::<u8>(),
        user in event_user(),
        calls in prop::collection::vec(call(), 1..5),
    ) {
        thread_local! {
            static HARNESS: RuleHarness = RuleHarness::default();
        }
        HARNESS.with(|h| h.check(selector, &user, &calls));
    }
}

// ---- regressions found by fuzzing (fuzz/README.md, fuzz/regressions/) --------------------
// Each calls Switchboard directly: the two panics fuzzing found, fixed since.

/// KNOWN BUG 1: src/inbound/verify.rs:132, `(now_secs - ts).abs()` overflows.
#[test]
fn webhook_timestamp_far_from_the_clock_is_refused_not_a_panic() {
    let source = oracle::source(3);
    let headers = vec![
        ("webhook-id".to_string(), "msg_1".to_string()),
        (
            "webhook-timestamp".to_string(),
            "-9223372036854775808".to_string(),
        ),
        ("webhook-signature".to_string(), "v1,AAAA".to_string()),
    ];
    let result = switchboard::inbound::verify::verify(
        source,
        oracle::lookup(&headers),
        bytes::Bytes::from_static(b"{}"),
        oracle::NOW,
    );
    assert!(result.is_err());
}

/// KNOWN BUG 2: src/rules/api.rs:338, `ctx.event.received_at + t * 1000` overflows.
#[test]
fn memory_set_with_a_huge_ttl_is_a_rule_error_or_kept_not_a_panic() {
    let settings = oracle::settings();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("10-ttl.rhai"),
        "memory_set(\"k\", 1, 9223372036854775807);",
    )
    .unwrap();
    let engine = switchboard::rules::build_engine();
    let rules = switchboard::rules::compile_dir(&engine, dir.path()).unwrap();
    let env = std::sync::Arc::new(switchboard::rules::RuleEnv::from_settings(settings));
    let event = std::sync::Arc::new(switchboard::domain::event::Event {
        id: "e1".into(),
        event_id: "evt_1".parse().unwrap(),
        source: "jelou".into(),
        provider: switchboard::config::SourceKind::Jelou,
        kind: switchboard::domain::event::EventKind::MessageReceived,
        user: switchboard::domain::event::User {
            id: Some("5215550001111".into()),
            ..Default::default()
        },
        bot_id: None,
        conversation_id: None,
        message: None,
        text: String::new(),
        tags: Vec::new(),
        raw: serde_json::json!({}),
        received_at: oracle::NOW * 1000,
    });
    let verdict = rules.run(&engine, &env, &event, serde_json::Map::new());
    assert_eq!(verdict.runs.len(), 1);
}
