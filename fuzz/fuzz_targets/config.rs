//! Config parsing: arbitrary text, and generated TOML documents shaped like
//! switchboard.toml, give Ok or Err from `Settings::parse`, never a panic.
#![no_main]

use arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;
use switchboard_fuzz::{env, oracle, toml_doc};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut u = Unstructured::new(rest);
    let Ok(env) = env(&mut u) else { return };
    if mode % 4 == 0 {
        oracle::check_config(&String::from_utf8_lossy(u.take_rest()), &env);
    } else {
        let Ok(doc) = toml_doc(&mut u) else { return };
        oracle::check_config(&oracle::render_toml(&doc), &env);
    }
});
