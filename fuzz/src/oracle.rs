//! The four properties, shared by the cargo-fuzz targets (`fuzz/fuzz_targets/`) and by
//! `tests/properties.rs` (which includes this file with `#[path]`). Only `switchboard` and
//! crates it already depends on are used here, so the test crate needs nothing new.
//!
//! Each `check_*` function is one property: it panics (through `assert!`) when the property
//! does not hold, and a panic inside Switchboard is a failure too. The inputs are plain
//! models (`Json`, `TomlDoc`, `Lit`, `Call`) that each side generates its own way: the fuzz
//! targets from libFuzzer bytes, the tests from proptest strategies.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use bytes::Bytes;
use switchboard::config::{Settings, SourceCredential, SourceKind, SourceSettings};
use switchboard::domain::event::{Event, EventKind, User};
use switchboard::inbound::decode::{decode_all, DecodeError};
use switchboard::inbound::verify::{self, Verified};
use switchboard::rules::{build_engine, compile_dir, RuleEnv, RuleSet};

// ---- the configuration every property runs against ------------------------------------

pub const JELOU_SECRET: &str = "fuzz-jelou-secret";
pub const AELYST_SECRET: &str = "fuzz-aelyst-key";
pub const UCHAT_SECRET: &str = "fuzz-uchat-key";
/// `whsec_` + base64 of `fuzz-generic-key-0123456789`.
pub const GENERIC_SECRET: &str = "whsec_ZnV6ei1nZW5lcmljLWtleS0wMTIzNDU2Nzg5";
pub const UCHAT_TOKEN: &str = "fuzz-uchat-token";
pub const WHATSAPP_SECRET: &str = "fuzz-whatsapp-app-secret";
/// The server's clock in the properties (unix seconds).
pub const NOW: i64 = 1_764_720_000;

/// One source of every kind and credential, the three providers, and a full `[routing]`.
pub const CONFIG: &str = r#"
[providers.jelou]
kind = "jelou"
client_id = "fuzz-client"
client_secret = "fuzz-client-secret"
bot_id = "bot-fuzz"

[providers.uchat]
kind = "uchat"
token = "fuzz-uchat-api"

[providers.aelyst]
kind = "aelyst"
token = "fuzz-aelyst-api"

[sources.jelou]
kind = "jelou"
secret = ["fuzz-jelou-secret", "fuzz-jelou-old"]

[sources.aelyst]
kind = "aelyst"
secret = "fuzz-aelyst-key"

[sources.uchat]
kind = "uchat"
secret = "fuzz-uchat-key"

[sources.crm]
kind = "generic"
secret = ["whsec_ZnV6ei1nZW5lcmljLWtleS0wMTIzNDU2Nzg5", "whsec_b2xkLWtleQ=="]
provider = "jelou"

[sources.uchat_token]
kind = "uchat"
token = "fuzz-uchat-token"

[sources.whatsapp]
kind = "whatsapp"
secret = "fuzz-whatsapp-app-secret"
verify_token = "fuzz-verify-token"

[routing]
tag = "uchat"
label = "aelyst"
conversation = "aelyst"
state = "jelou"
message = "jelou"
"#;

/// The source names, in the order a selector byte picks them.
pub const SOURCES: [&str; 6] = ["jelou", "aelyst", "uchat", "crm", "uchat_token", "whatsapp"];

pub fn settings() -> &'static Settings {
    static SETTINGS: OnceLock<Settings> = OnceLock::new();
    SETTINGS.get_or_init(|| {
        Settings::parse(CONFIG, Path::new("fuzz.toml"), &|_| None)
            .expect("the fuzz configuration is valid")
    })
}

pub fn source(selector: u8) -> &'static SourceSettings {
    &settings().sources[SOURCES[usize::from(selector) % SOURCES.len()]]
}

/// The correct secret (or token) of a source, as its platform would hold it.
fn secret_of(source: &SourceSettings) -> &'static str {
    match (&source.credential, source.kind) {
        (SourceCredential::Token(_), _) => UCHAT_TOKEN,
        (_, SourceKind::Jelou) => JELOU_SECRET,
        (_, SourceKind::Aelyst) => AELYST_SECRET,
        (_, SourceKind::Uchat) => UCHAT_SECRET,
        (_, SourceKind::Generic) => GENERIC_SECRET,
        (_, SourceKind::Whatsapp) => WHATSAPP_SECRET,
    }
}

/// Header look-up as actix does it: case-insensitive, first match.
pub fn lookup<'h>(headers: &'h [(String, String)]) -> impl Fn(&str) -> Option<&'h str> {
    move |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The headers a platform sends with `body`, signed with the source's right secret.
/// `id` is the Standard Webhooks `webhook-id` (generic sources only).
pub fn signed_headers(source: &SourceSettings, body: &[u8], id: &str) -> Vec<(String, String)> {
    let secret = secret_of(source);
    let one = |name: &str, value: String| vec![(name.to_string(), value)];
    match (&source.credential, source.kind) {
        (SourceCredential::Token(_), _) => one("X-Webhook-Token", secret.to_string()),
        (_, SourceKind::Jelou) => one("X-Jelou-Signature", verify::sign_jelou(secret, body)),
        (_, SourceKind::Whatsapp) => {
            one("X-Hub-Signature-256", verify::sign_whatsapp(secret, body))
        }
        (_, SourceKind::Aelyst | SourceKind::Uchat) => {
            one("X-Webhook-Signature", verify::sign_aelyst(secret, body))
        }
        (_, SourceKind::Generic) => vec![
            ("webhook-id".to_string(), id.to_string()),
            ("webhook-timestamp".to_string(), NOW.to_string()),
            (
                "webhook-signature".to_string(),
                verify::sign_standard(secret, id, NOW, body).expect("a whsec_ secret"),
            ),
        ],
    }
}

/// A `webhook-id` usable for signing: the given one if it has something to show, else a
/// fixed one (a blank id is `Missing`, which is not what these properties are about).
pub fn usable_id(id: &str) -> &str {
    if id.trim().is_empty() || id.contains('\0') {
        "msg_fuzz"
    } else {
        id
    }
}

// ---- property 1: signature verification -----------------------------------------------

/// Arbitrary headers, body and clock: `verify` answers Ok or Err, and never panics. With
/// `on_signed`, the arbitrary headers come first and a correctly signed set follows, so the
/// look-ups that the arbitrary ones miss still reach the checks further in. Also runs the
/// signing functions on the arbitrary values.
pub fn check_verify_never_panics(
    selector: u8,
    headers: &[(String, String)],
    body: &[u8],
    now: i64,
    on_signed: bool,
) {
    let source = source(selector);
    let mut all = headers.to_vec();
    if on_signed {
        all.extend(signed_headers(source, body, "msg_1"));
    }
    let _ = verify::verify(source, lookup(&all), Bytes::copy_from_slice(body), now);
    let text = headers.first().map(|(_, v)| v.as_str()).unwrap_or("");
    let _ = verify::sign_jelou(text, body);
    let _ = verify::sign_aelyst(text, body);
    let _ = switchboard::config::secrets::standard_webhooks_key(text);
    let _ = verify::sign_standard(text, text, now, body);
}

/// Which single byte a signed request has changed, if any.
#[derive(Debug, Clone, Copy)]
pub enum Tamper {
    Nothing,
    /// XOR the body byte at `index % len` with `mask` (non-zero).
    Body {
        index: usize,
        mask: u8,
    },
    /// XOR a byte of the signature (the MAC bytes, or the token's text) with `mask`.
    Signature {
        index: usize,
        mask: u8,
    },
}

/// A body signed with the right secret verifies; change one byte of the body or of the
/// signature, and it does not.
pub fn check_signed_roundtrip(selector: u8, body: &[u8], id: &str, tamper: Tamper) {
    let source = source(selector);
    let id = usable_id(id);
    let mut body = body.to_vec();
    let mut headers = signed_headers(source, &body, id);
    let changed = match tamper {
        Tamper::Nothing => false,
        Tamper::Body { index, mask } => {
            if body.is_empty()
                || mask == 0
                || matches!(source.credential, SourceCredential::Token(_))
            {
                false // a token does not cover the body
            } else {
                let i = index % body.len();
                body[i] ^= mask;
                true
            }
        }
        Tamper::Signature { index, mask } => tamper_signature(source, &mut headers, index, mask),
    };
    let result = verify::verify(source, lookup(&headers), Bytes::from(body.clone()), NOW);
    if changed {
        assert!(
            result.is_err(),
            "source {}: a changed request ({tamper:?}) still verified",
            source.name
        );
    } else {
        let verified = result.unwrap_or_else(|e| {
            panic!(
                "source {}: a correctly signed body was refused: {e}",
                source.name
            )
        });
        assert_eq!(verified.body().as_ref(), body.as_slice());
    }
}

/// Change one byte of the signature in `headers`. Returns whether anything changed.
fn tamper_signature(
    source: &SourceSettings,
    headers: &mut [(String, String)],
    index: usize,
    mask: u8,
) -> bool {
    let slot = headers
        .iter_mut()
        .find(|(k, _)| {
            [
                "x-webhook-token",
                "x-jelou-signature",
                "x-hub-signature-256",
                "x-webhook-signature",
                "webhook-signature",
            ]
            .iter()
            .any(|n| k.eq_ignore_ascii_case(n))
        })
        .expect("a signature header");
    let value = &mut slot.1;
    if let SourceCredential::Token(_) = source.credential {
        // Stay within ASCII so the header remains a string; any change differs after trim.
        let mask = mask & 0x7f;
        if mask == 0 {
            return false;
        }
        let mut bytes = value.clone().into_bytes();
        let i = index % bytes.len();
        bytes[i] ^= mask;
        *value = String::from_utf8(bytes).expect("ASCII");
        return true;
    }
    if mask == 0 {
        return false;
    }
    let flip = |mac: &mut Vec<u8>| {
        let i = index % mac.len();
        mac[i] ^= mask;
    };
    match source.kind {
        SourceKind::Jelou | SourceKind::Whatsapp => {
            let mut mac = hex::decode(&value["sha256=".len()..]).expect("hex");
            flip(&mut mac);
            *value = format!("sha256={}", hex::encode(mac));
        }
        SourceKind::Aelyst | SourceKind::Uchat => {
            let mut mac = BASE64.decode(value.as_bytes()).expect("base64");
            flip(&mut mac);
            *value = BASE64.encode(mac);
        }
        SourceKind::Generic => {
            let mut mac = BASE64.decode(&value["v1,".len()..]).expect("base64");
            flip(&mut mac);
            *value = format!("v1,{}", BASE64.encode(mac));
        }
    }
    true
}

// ---- property 2: every decoder ---------------------------------------------------------

/// Sign `body` for the source, verify it (the only way to a `Verified`), and decode it:
/// `Ok(event)` or a `DecodeError`, never a panic; an event serialises to JSON, and that JSON
/// reads back as an `Event`.
pub fn check_decode(selector: u8, body: &[u8], id: &str) -> Result<(), DecodeError> {
    let source = source(selector);
    let id = usable_id(id);
    let headers = signed_headers(source, body, id);
    let verified: Verified =
        verify::verify(source, lookup(&headers), Bytes::copy_from_slice(body), NOW)
            .expect("a correctly signed body verifies");
    let events = decode_all(
        source,
        lookup(&headers),
        &verified,
        || "evt_fuzz".parse().unwrap(),
        NOW * 1000,
    )?;
    assert!(!events.is_empty(), "a body gives at least one event");
    for event in events {
        assert_eq!(event.source, source.name);
        assert_eq!(event.provider, source.kind);
        assert!(
            event.raw.is_object(),
            "an event's raw body is the JSON object"
        );
        let json = serde_json::to_vec(&event).expect("a decoded event serialises to JSON");
        let back: Event = serde_json::from_slice(&json)
            .unwrap_or_else(|e| panic!("a decoded event's JSON does not read back: {e}"));
        assert_eq!(back.id, event.id);
        assert_eq!(back.user, event.user);
        assert_eq!(back.message, event.message);
    }
    Ok(())
}

/// A JSON document, including what `serde_json::Value` cannot hold: integers past u64,
/// duplicate keys, arbitrary number text.
#[derive(Debug, Clone)]
pub enum Json {
    Null,
    Bool(bool),
    Int(i128),
    /// Number text as written (`1e400`, `-0.0`, 40 digits…).
    Number(String),
    Float(f64),
    Str(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
    /// `depth` arrays/objects around `inner` (deep nesting without deep recursion here).
    Nested {
        depth: usize,
        objects: bool,
        inner: Box<Json>,
    },
}

/// Object keys the decoders look at, so structured inputs reach their branches.
pub const JSON_KEYS: &[&str] = &[
    "object",
    "message_event",
    "value",
    "id",
    "content",
    "body",
    "type",
    "contact",
    "name",
    "bot",
    "conversation",
    "event",
    "conversation.start",
    "conversation.close",
    "userId",
    "user",
    "eventId",
    "event_id",
    "names",
    "botId",
    "conversationId",
    "room_id",
    "messageId",
    "bubble",
    "text",
    "owner",
    "event_type",
    "contact.updated",
    "message.received",
    "firstName",
    "lastName",
    "phone",
    "email",
    "tags",
    "message",
    "_id",
    "mid",
    "msg_type",
    "sender_id",
    "meta",
    "user_ns",
    "in",
    "out",
    "kind",
    "ns",
    "bot_id",
    "conversation_id",
    "",
];

pub fn render_json(value: &Json, out: &mut String) {
    match value {
        Json::Null => out.push_str("null"),
        Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Json::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Json::Number(text) => out.push_str(text),
        Json::Float(f) if f.is_finite() => {
            let _ = write!(out, "{f:e}");
        }
        Json::Float(_) => out.push_str("1e999"),
        Json::Str(s) => out.push_str(&serde_json::to_string(s).expect("a string serialises")),
        Json::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                render_json(item, out);
            }
            out.push(']');
        }
        Json::Object(entries) => {
            out.push('{');
            for (i, (key, item)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::to_string(key).expect("a string serialises"));
                out.push(':');
                render_json(item, out);
            }
            out.push('}');
        }
        Json::Nested {
            depth,
            objects,
            inner,
        } => {
            for _ in 0..*depth {
                out.push_str(if *objects { "{\"value\":" } else { "[" });
            }
            render_json(inner, out);
            for _ in 0..*depth {
                out.push(if *objects { '}' } else { ']' });
            }
        }
    }
}

pub fn json_text(value: &Json) -> String {
    let mut out = String::new();
    render_json(value, &mut out);
    out
}

// ---- property 3: configuration parsing -------------------------------------------------

/// Arbitrary text: `Settings::parse` answers Ok or Err, never panics; an accepted
/// configuration is consistent (every named provider exists, every ack status is 2xx).
pub fn check_config(text: &str, env: &[(String, String)]) {
    let lookup_env = |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    match Settings::parse(text, Path::new("fuzz/switchboard.toml"), &lookup_env) {
        Ok(settings) => {
            for (name, source) in &settings.sources {
                assert_eq!(&source.name, name);
                assert!((200..300).contains(&source.ack_status));
                if let Some(p) = &source.provider {
                    assert!(
                        settings.providers.contains_key(p),
                        "source {name}: provider {p}"
                    );
                }
            }
            for target in settings.routing.values() {
                assert!(settings.providers.contains_key(target));
            }
            let _ = format!("{settings:?}");
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
}

/// A TOML document shaped like `switchboard.toml`.
#[derive(Debug, Clone)]
pub struct TomlDoc {
    pub tables: Vec<TomlTable>,
}

#[derive(Debug, Clone)]
pub struct TomlTable {
    /// `None`: keys at the top, before any header.
    pub header: Option<String>,
    /// `[[header]]` instead of `[header]`.
    pub array: bool,
    pub entries: Vec<(String, Toml)>,
}

#[derive(Debug, Clone)]
pub enum Toml {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Array(Vec<Toml>),
    Inline(Vec<(String, Toml)>),
    /// Written as is: a malformed value.
    Raw(String),
}

pub const TOML_TABLES: &[&str] = &[
    "server",
    "storage",
    "rules",
    "delivery",
    "providers",
    "providers.jelou",
    "providers.uchat",
    "providers.aelyst",
    "providers.x",
    "sources",
    "sources.jelou",
    "sources.aelyst",
    "sources.uchat",
    "sources.crm",
    "sources.x",
    "routing",
    "logging",
    "server.listen",
    "providers.\"a b\"",
    "sources.\"\"",
];

pub const TOML_KEYS: &[&str] = &[
    "listen",
    "max_body_bytes",
    "admin_token",
    "url",
    "retention_days",
    "synchronous",
    "dir",
    "max_attempts",
    "backoff_base_ms",
    "backoff_max_ms",
    "timeout_ms",
    "max_in_flight",
    "kind",
    "base_url",
    "client_id",
    "client_secret",
    "token",
    "bot_id",
    "pause_minutes",
    "rate_per_second",
    "secret",
    "provider",
    "ack_status",
    "tag",
    "label",
    "conversation",
    "state",
    "message",
    "format",
    "jelou",
    "uchat",
    "aelyst",
    "generic",
    "x",
];

pub const TOML_STRINGS: &[&str] = &[
    "jelou",
    "uchat",
    "aelyst",
    "generic",
    "other",
    "normal",
    "full",
    "text",
    "json",
    "sqlite://data/x.db",
    "sqlite://",
    "sqlite:///abs/x.db",
    "postgres://u:p@h/db",
    "postgresql://h",
    "mysql://h",
    "https://api.example.com/",
    "http://h",
    "ftp://h",
    "",
    " ",
    "rules",
    "/abs/rules",
    "../up",
    "127.0.0.1:8080",
    "whsec_ZGV2LWNybQ==",
    "whsec_",
    "whsec_!!!",
    "whsec_ZGV2",
    "${X}",
    "${X:-d}",
    "${UNSET}",
    "${UNSET:-}",
    "$${X}",
    "${",
    "${}",
    "${X:-${Y}}",
    "${a b}",
    "$",
    "$$",
    "${X}${Y}",
    "crm",
    "x",
    "dev-secret",
];

/// Environment variables the generated documents refer to.
pub const ENV_NAMES: &[&str] = &["X", "Y", "UNSET", "a b", "SWITCHBOARD_LISTEN"];

fn toml_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\U{:08X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn toml_key(k: &str, out: &mut String) {
    if !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        out.push_str(k);
    } else {
        toml_string(k, out);
    }
}

fn render_toml_value(v: &Toml, out: &mut String) {
    match v {
        Toml::Str(s) => toml_string(s, out),
        Toml::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Toml::Float(f) if f.is_nan() => out.push_str("nan"),
        Toml::Float(f) if f.is_infinite() => out.push_str(if *f > 0.0 { "inf" } else { "-inf" }),
        Toml::Float(f) => {
            let _ = write!(out, "{f:e}");
        }
        Toml::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Toml::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                render_toml_value(item, out);
            }
            out.push(']');
        }
        Toml::Inline(entries) => {
            out.push('{');
            for (i, (k, item)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                toml_key(k, out);
                out.push_str(" = ");
                render_toml_value(item, out);
            }
            out.push('}');
        }
        Toml::Raw(text) => out.push_str(text),
    }
}

pub fn render_toml(doc: &TomlDoc) -> String {
    let mut out = String::new();
    for table in &doc.tables {
        if let Some(header) = &table.header {
            let (open, close) = if table.array {
                ("[[", "]]")
            } else {
                ("[", "]")
            };
            let _ = writeln!(out, "{open}{header}{close}");
        }
        for (k, v) in &table.entries {
            toml_key(k, &mut out);
            out.push_str(" = ");
            render_toml_value(v, &mut out);
            out.push('\n');
        }
    }
    out
}

// ---- property 4: the rule API's argument conversion ------------------------------------

/// A Rhai value written as a literal (or, for values with no literal, a short expression).
#[derive(Debug, Clone)]
pub enum Lit {
    Unit,
    Bool(bool),
    Int(i64),
    Float(f64),
    Char(char),
    Str(String),
    Array(Vec<Lit>),
    Map(Vec<(String, Lit)>),
}

/// A call in a rule: `name(args)`, or `provider("p").name(args)`.
#[derive(Debug, Clone)]
pub struct Call {
    pub provider: Option<String>,
    pub function: String,
    pub args: Vec<Lit>,
}

/// The functions scripts call (src/rules/api.rs), with a few that do not exist.
pub const RULE_FUNCTIONS: &[&str] = &[
    "send_contact_card",
    "send_contacts",
    "set_manual",
    "set_auto",
    "send_text",
    "send_call_button",
    "add_tag",
    "remove_tag",
    "add_label",
    "remove_label",
    "close_conversation",
    "open_conversation",
    "memory_set",
    "memory_get",
    "within_hours",
    "log",
    "stop",
    "provider",
    "set_field",
    "send_flow",
    "send_message",
    "request",
    "no_such_function",
];

/// The kind of argument a rule function takes, for calls that type-check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arg {
    Str,
    Int,
    Map,
    Array,
    Any,
}

/// Every registered signature (src/rules/api.rs `register`).
pub const RULE_SIGNATURES: &[(&str, &[Arg])] = &[
    ("send_contact_card", &[Arg::Map]),
    ("send_contacts", &[Arg::Array]),
    ("set_manual", &[]),
    ("set_manual", &[Arg::Int]),
    ("set_auto", &[]),
    ("send_text", &[Arg::Str]),
    ("send_call_button", &[Arg::Str, Arg::Str]),
    ("send_call_button", &[Arg::Str, Arg::Str, Arg::Str]),
    ("add_tag", &[Arg::Str]),
    ("remove_tag", &[Arg::Str]),
    ("add_label", &[Arg::Str]),
    ("remove_label", &[Arg::Str]),
    ("close_conversation", &[]),
    ("close_conversation", &[Arg::Str, Arg::Str]),
    ("open_conversation", &[]),
    ("memory_set", &[Arg::Str, Arg::Any]),
    ("memory_set", &[Arg::Str, Arg::Any, Arg::Int]),
    ("memory_get", &[Arg::Str]),
    ("within_hours", &[Arg::Str, Arg::Str]),
    ("log", &[Arg::Any]),
    ("stop", &[]),
    ("set_field", &[Arg::Str, Arg::Any]),
    ("send_flow", &[Arg::Str]),
    ("send_message", &[Arg::Map]),
    // Only as a method of `provider(...)`; called bare it is a rule error.
    ("request", &[Arg::Str, Arg::Str, Arg::Any]),
];

/// Strings for `Arg::Str`: schedules, time zones, names.
pub const RULE_STRINGS: &[&str] = &[
    "mon-fri 09:00-18:00",
    "sat,sun 10:00-14:00; mon 00:00-24:00",
    "mon 22:00-02:00",
    "sun-mon 25:00-26:00",
    "mon 09:00-",
    "x 1",
    "; ;",
    "mon-sun 00:00-00:00,12:00-12:00",
    "America/Mexico_City",
    "UTC",
    "Europe/Madrid",
    "Nowhere/City",
    "vip",
    " ",
    "k",
    "+52 1 555 000 1111",
    "billing",
];

/// Map keys the API looks at.
pub const RULE_KEYS: &[&str] = &[
    "name",
    "phone",
    "email",
    "company",
    "address",
    "formatted_name",
    "first_name",
    "last_name",
    "phones",
    "wa_id",
    "type",
    "org",
    "x",
    "",
    "a b",
    "ñ",
];

pub const PROVIDER_NAMES: &[&str] = &["jelou", "uchat", "aelyst", "nowhere", ""];

pub fn rhai_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        if c.is_ascii_alphanumeric() || " _-.,:;!?@%&*()[]{}<>=+/'|~^".contains(c) {
            out.push(c);
        } else {
            let _ = write!(out, "\\U{:08X}", u32::from(c));
        }
    }
    out.push('"');
}

pub fn render_lit(lit: &Lit, out: &mut String) {
    match lit {
        Lit::Unit => out.push_str("()"),
        Lit::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Lit::Int(i64::MIN) => out.push_str("(-9223372036854775807 - 1)"),
        Lit::Int(i) if *i < 0 => {
            let _ = write!(out, "(-{})", i.unsigned_abs());
        }
        Lit::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Lit::Float(f) if f.is_nan() => out.push_str("parse_float(\"NaN\")"),
        Lit::Float(f) if f.is_infinite() => out.push_str(if *f > 0.0 {
            "parse_float(\"inf\")"
        } else {
            "parse_float(\"-inf\")"
        }),
        Lit::Float(f) if *f < 0.0 || (*f == 0.0 && f.is_sign_negative()) => {
            let _ = write!(out, "(-{:.17e})", -f);
        }
        Lit::Float(f) => {
            let _ = write!(out, "{f:.17e}");
        }
        Lit::Char(c) => {
            let _ = write!(out, "'\\U{:08X}'", u32::from(*c));
        }
        Lit::Str(s) => rhai_string(s, out),
        Lit::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                render_lit(item, out);
            }
            out.push(']');
        }
        Lit::Map(entries) => {
            out.push_str("#{");
            for (i, (k, item)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                rhai_string(k, out);
                out.push_str(": ");
                render_lit(item, out);
            }
            out.push('}');
        }
    }
}

pub fn render_rule(calls: &[Call]) -> String {
    let mut out = String::new();
    for call in calls {
        if let Some(p) = &call.provider {
            out.push_str("provider(");
            rhai_string(p, &mut out);
            out.push_str(").");
        }
        out.push_str(&call.function);
        out.push('(');
        for (i, arg) in call.args.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            render_lit(arg, &mut out);
        }
        out.push_str(");\n");
    }
    out
}

/// Who the rule's event is about (the fields the API and providers read).
#[derive(Debug, Clone, Default)]
pub struct EventUser {
    pub id: Option<String>,
    pub phone: Option<String>,
    pub ns: Option<String>,
    pub bot_id: Option<String>,
    pub conversation_id: Option<String>,
}

/// A rule runner that owns one scratch folder for the rule file.
pub struct RuleHarness {
    engine: rhai::Engine,
    env: Arc<RuleEnv>,
    dir: tempfile::TempDir,
}

impl Default for RuleHarness {
    fn default() -> Self {
        RuleHarness {
            engine: build_engine(),
            env: Arc::new(RuleEnv::from_settings(settings())),
            dir: tempfile::tempdir().expect("a temporary folder"),
        }
    }
}

impl RuleHarness {
    /// Run `script` as the only rule on an event from the chosen source: the rule compiles
    /// or not, runs to actions or a rule error, and never panics; every action (and every
    /// rule run) serialises to JSON, and so does its dry-run request.
    pub fn check(&self, selector: u8, user: &EventUser, calls: &[Call]) {
        let source = source(selector);
        let script = render_rule(calls);
        std::fs::write(self.dir.path().join("10-fuzz.rhai"), script).expect("write the rule");
        let rules: RuleSet = match compile_dir(&self.engine, self.dir.path()) {
            Ok(rules) => rules,
            Err(problems) => {
                assert!(!problems.is_empty());
                return;
            }
        };
        let event = Arc::new(Event {
            id: "fuzz-1".into(),
            event_id: "evt_fuzz".parse().unwrap(),
            source: source.name.clone(),
            provider: source.kind,
            kind: EventKind::MessageReceived,
            user: User {
                id: user.id.clone(),
                phone: user.phone.clone(),
                email: None,
                name: Some("Fuzz".into()),
                ns: user.ns.clone(),
            },
            bot_id: user.bot_id.clone(),
            conversation_id: user.conversation_id.clone(),
            message: None,
            text: "hello".into(),
            tags: Vec::new(),
            raw: serde_json::json!({"id": "fuzz-1"}),
            received_at: NOW * 1000,
        });
        let verdict = rules.run(&self.engine, &self.env, &event, serde_json::Map::new());
        let settings = settings();
        for run in &verdict.runs {
            serde_json::to_string(run).expect("a rule run serialises to JSON");
        }
        for action in verdict.actions() {
            serde_json::to_string(action).expect("an action serialises to JSON");
            let provider = &settings.providers[&action.provider];
            let request = switchboard::dryrun::dry_request(provider, action);
            serde_json::to_string(&request).expect("a dry-run request serialises");
        }
    }
}
