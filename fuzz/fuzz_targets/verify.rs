//! Signature verification: arbitrary headers, body and clock never panic; a correctly
//! signed body verifies; one changed byte of body or signature does not.
#![no_main]

use arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;
use switchboard_fuzz::oracle::{self, Tamper};
use switchboard_fuzz::{text, word};

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

fn run(u: &mut Unstructured) -> arbitrary::Result<()> {
    let selector: u8 = u.arbitrary()?;
    if u.arbitrary()? {
        let body: Vec<u8> = u.arbitrary()?;
        let id = text(u)?;
        let tamper = match u.int_in_range(0..=2u8)? {
            0 => Tamper::Nothing,
            1 => Tamper::Body {
                index: u.arbitrary()?,
                mask: u.arbitrary()?,
            },
            _ => Tamper::Signature {
                index: u.arbitrary()?,
                mask: u.arbitrary()?,
            },
        };
        oracle::check_signed_roundtrip(selector, &body, &id, tamper);
    } else {
        let n = u.int_in_range(0..=8usize)?;
        let mut headers = Vec::with_capacity(n);
        for _ in 0..n {
            headers.push((word(u, HEADER_NAMES)?, word(u, HEADER_VALUES)?));
        }
        let now = match u.int_in_range(0..=3u8)? {
            0 => oracle::NOW,
            1 => i64::MIN,
            2 => i64::MAX,
            _ => u.arbitrary()?,
        };
        let body: Vec<u8> = u.arbitrary()?;
        let on_signed: bool = u.arbitrary()?;
        oracle::check_verify_never_panics(selector, &headers, &body, now, on_signed);
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});
