//! Every decoder: the first byte picks the source (jelou, aelyst, uchat, generic, and a
//! token-authenticated uchat); the second picks raw bytes or a generated JSON document.
//! The body is signed and verified, then decoded: never a panic, and an event serialises.
#![no_main]

use arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;
use switchboard_fuzz::{json, oracle, text};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let Some((&mode, rest)) = rest.split_first() else {
        return;
    };
    if mode % 4 == 0 {
        let _ = oracle::check_decode(selector, rest, "msg_fuzz");
    } else {
        let mut u = Unstructured::new(rest);
        let Ok(id) = text(&mut u) else { return };
        let Ok(doc) = json(&mut u, 5) else { return };
        let _ = oracle::check_decode(selector, oracle::json_text(&doc).as_bytes(), &id);
    }
});
