//! Harness for Switchboard's fuzz targets: `oracle` holds the properties (shared with
//! `tests/properties.rs`), this file turns libFuzzer's bytes into their inputs.

pub mod oracle;

use arbitrary::{Result, Unstructured};

use oracle::{Arg, Call, Json, Lit, Toml, TomlDoc, TomlTable};

/// One of `list`, or (rarely) an arbitrary string.
pub fn word(u: &mut Unstructured, list: &[&str]) -> Result<String> {
    if u.ratio(1, 8)? {
        text(u)
    } else {
        Ok((*u.choose(list)?).to_string())
    }
}

/// A string biased towards the awkward: NUL, newlines, BOM, non-ASCII, very long.
pub fn text(u: &mut Unstructured) -> Result<String> {
    Ok(match u.int_in_range(0..=9u8)? {
        0 => String::new(),
        1 => "\0".into(),
        2 => "line\nbreak\r\n".into(),
        3 => "\u{feff}bom".into(),
        4 => "ñ€𝄞\u{202e}".into(),
        5 => "x".repeat(usize::from(u.arbitrary::<u16>()?) % 70_000),
        6 => "123456789012".into(),
        _ => u.arbitrary::<String>()?,
    })
}

pub fn json(u: &mut Unstructured, depth: u32) -> Result<Json> {
    let leaf = depth == 0 || u.is_empty();
    let choice = if leaf {
        u.int_in_range(0..=6u8)?
    } else {
        u.int_in_range(0..=9u8)?
    };
    Ok(match choice {
        0 => Json::Null,
        1 => Json::Bool(u.arbitrary()?),
        2 => Json::Int(match u.int_in_range(0..=4u8)? {
            0 => i128::from(u64::MAX) + 1,
            1 => i128::from(i64::MIN) - 1,
            2 => i128::MAX,
            3 => i128::MIN,
            _ => u.arbitrary()?,
        }),
        3 => Json::Number(
            (*u.choose(&[
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
            ])?)
            .to_string(),
        ),
        4 => Json::Float(u.arbitrary()?),
        5 => Json::Str(text(u)?),
        6 => Json::Str(word(u, oracle::JSON_KEYS)?),
        7 => {
            let n = u.int_in_range(0..=4usize)?;
            let mut items = Vec::with_capacity(n);
            for _ in 0..n {
                items.push(json(u, depth - 1)?);
            }
            Json::Array(items)
        }
        8 => {
            let n = u.int_in_range(0..=6usize)?;
            let mut entries = Vec::with_capacity(n);
            for _ in 0..n {
                entries.push((word(u, oracle::JSON_KEYS)?, json(u, depth - 1)?));
            }
            Json::Object(entries)
        }
        _ => Json::Nested {
            depth: u.int_in_range(1..=200usize)?,
            objects: u.arbitrary()?,
            inner: Box::new(json(u, depth - 1)?),
        },
    })
}

pub fn toml_value(u: &mut Unstructured, depth: u32) -> Result<Toml> {
    let leaf = depth == 0 || u.is_empty();
    let choice = if leaf {
        u.int_in_range(0..=5u8)?
    } else {
        u.int_in_range(0..=7u8)?
    };
    Ok(match choice {
        0 | 1 => Toml::Str(word(u, oracle::TOML_STRINGS)?),
        2 => Toml::Int(match u.int_in_range(0..=5u8)? {
            0 => i64::MAX,
            1 => i64::MIN,
            2 => 0,
            3 => -1,
            4 => i64::from(u32::MAX) + 1,
            _ => u.arbitrary()?,
        }),
        3 => Toml::Float(u.arbitrary()?),
        4 => Toml::Bool(u.arbitrary()?),
        5 => Toml::Raw(
            (*u.choose(&[
                "",
                "\"unterminated",
                "[1, ",
                "{a = }",
                "0x10",
                "1979-05-27",
                "'''",
                "==",
            ])?)
            .to_string(),
        ),
        6 => {
            let n = u.int_in_range(0..=3usize)?;
            let mut items = Vec::with_capacity(n);
            for _ in 0..n {
                items.push(toml_value(u, depth - 1)?);
            }
            Toml::Array(items)
        }
        _ => {
            let n = u.int_in_range(0..=3usize)?;
            let mut entries = Vec::with_capacity(n);
            for _ in 0..n {
                entries.push((word(u, oracle::TOML_KEYS)?, toml_value(u, depth - 1)?));
            }
            Toml::Inline(entries)
        }
    })
}

pub fn toml_doc(u: &mut Unstructured) -> Result<TomlDoc> {
    let n = u.int_in_range(0..=8usize)?;
    let mut tables = Vec::with_capacity(n);
    for i in 0..n {
        let header = if i == 0 && u.arbitrary()? {
            None
        } else {
            Some(word(u, oracle::TOML_TABLES)?)
        };
        let m = u.int_in_range(0..=6usize)?;
        let mut entries = Vec::with_capacity(m);
        for _ in 0..m {
            entries.push((word(u, oracle::TOML_KEYS)?, toml_value(u, 2)?));
        }
        tables.push(TomlTable {
            header,
            array: u.ratio(1, 16)?,
            entries,
        });
    }
    Ok(TomlDoc { tables })
}

pub fn env(u: &mut Unstructured) -> Result<Vec<(String, String)>> {
    let mut env = Vec::new();
    for name in oracle::ENV_NAMES {
        if u.arbitrary()? {
            env.push(((*name).to_string(), word(u, oracle::TOML_STRINGS)?));
        }
    }
    Ok(env)
}

pub fn lit(u: &mut Unstructured, depth: u32) -> Result<Lit> {
    let leaf = depth == 0 || u.is_empty();
    let choice = if leaf {
        u.int_in_range(0..=6u8)?
    } else {
        u.int_in_range(0..=8u8)?
    };
    Ok(match choice {
        0 => Lit::Unit,
        1 => Lit::Bool(u.arbitrary()?),
        2 => lit_int(u)?,
        3 => Lit::Float(match u.int_in_range(0..=4u8)? {
            0 => f64::NAN,
            1 => f64::INFINITY,
            2 => f64::NEG_INFINITY,
            3 => -0.0,
            _ => u.arbitrary()?,
        }),
        4 => Lit::Char(u.arbitrary()?),
        5 => Lit::Str(text(u)?),
        6 => Lit::Str(word(u, oracle::RULE_KEYS)?),
        7 => {
            let n = u.int_in_range(0..=4usize)?;
            let mut items = Vec::with_capacity(n);
            for _ in 0..n {
                items.push(lit(u, depth - 1)?);
            }
            Lit::Array(items)
        }
        _ => {
            let n = u.int_in_range(0..=5usize)?;
            let mut entries = Vec::with_capacity(n);
            for _ in 0..n {
                entries.push((word(u, oracle::RULE_KEYS)?, lit(u, depth - 1)?));
            }
            Lit::Map(entries)
        }
    })
}

/// An argument of the given kind (mostly; sometimes anything, to miss the signature).
pub fn arg(u: &mut Unstructured, kind: Arg) -> Result<Lit> {
    if u.ratio(1, 16)? {
        return lit(u, 3);
    }
    Ok(match kind {
        Arg::Str => Lit::Str(if u.arbitrary()? {
            word(u, oracle::RULE_STRINGS)?
        } else {
            word(u, oracle::RULE_KEYS)?
        }),
        Arg::Int => lit_int(u)?,
        Arg::Map => {
            let n = u.int_in_range(0..=5usize)?;
            let mut entries = Vec::with_capacity(n);
            for _ in 0..n {
                let value = if u.ratio(3, 4)? {
                    Lit::Str(text(u)?)
                } else {
                    lit(u, 2)?
                };
                entries.push((word(u, oracle::RULE_KEYS)?, value));
            }
            Lit::Map(entries)
        }
        Arg::Array => {
            let n = u.int_in_range(0..=3usize)?;
            let mut items = Vec::with_capacity(n);
            for _ in 0..n {
                items.push(arg(u, Arg::Map)?);
            }
            Lit::Array(items)
        }
        Arg::Any => lit(u, 3)?,
    })
}

fn lit_int(u: &mut Unstructured) -> Result<Lit> {
    Ok(Lit::Int(match u.int_in_range(0..=6u8)? {
        0 => i64::MIN,
        1 => i64::MAX,
        2 => 0,
        3 => -1,
        4 => i64::MAX / 1000 + 1,
        _ => u.arbitrary()?,
    }))
}

pub fn call(u: &mut Unstructured) -> Result<Call> {
    let provider = if u.ratio(1, 4)? {
        Some(word(u, oracle::PROVIDER_NAMES)?)
    } else {
        None
    };
    if u.arbitrary()? {
        let (function, kinds) = *u.choose(oracle::RULE_SIGNATURES)?;
        let mut args = Vec::with_capacity(kinds.len());
        for kind in kinds {
            args.push(arg(u, *kind)?);
        }
        return Ok(Call {
            provider,
            function: function.to_string(),
            args,
        });
    }
    let function = word(u, oracle::RULE_FUNCTIONS)?;
    let n = u.int_in_range(0..=3usize)?;
    let mut args = Vec::with_capacity(n);
    for _ in 0..n {
        args.push(lit(u, 3)?);
    }
    Ok(Call {
        provider,
        function,
        args,
    })
}

pub fn event_user(u: &mut Unstructured) -> Result<oracle::EventUser> {
    let maybe = |u: &mut Unstructured, list: &[&str]| -> Result<Option<String>> {
        Ok(if u.arbitrary()? {
            Some(word(u, list)?)
        } else {
            None
        })
    };
    Ok(oracle::EventUser {
        id: maybe(u, &["5215550001111", "user-1", "", "ñ"])?,
        phone: maybe(u, &["+5215550001111", "+1", "abc"])?,
        ns: maybe(u, &["f12345u678", ""])?,
        bot_id: maybe(u, &["bot-1", ""])?,
        conversation_id: maybe(u, &["conv-1", ""])?,
    })
}
