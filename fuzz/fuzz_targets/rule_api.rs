//! The rule API's argument conversion: a rule of generated calls (`send_contact_card(#{…})`,
//! `memory_set(k, v, ttl)`, …) with arbitrary Rhai literal arguments runs through the public
//! rule path to actions or a rule error, never a panic; every action serialises.
#![no_main]

use std::sync::OnceLock;

use arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;
use switchboard_fuzz::oracle::RuleHarness;
use switchboard_fuzz::{call, event_user};

fn harness() -> &'static RuleHarness {
    static HARNESS: OnceLock<RuleHarness> = OnceLock::new();
    HARNESS.get_or_init(RuleHarness::default)
}

fn run(u: &mut Unstructured) -> arbitrary::Result<()> {
    let selector: u8 = u.arbitrary()?;
    let user = event_user(u)?;
    let n = u.int_in_range(1..=4usize)?;
    let mut calls = Vec::with_capacity(n);
    for _ in 0..n {
        calls.push(call(u)?);
    }
    harness().check(selector, &user, &calls);
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});
