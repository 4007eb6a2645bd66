//! The Rhai `Engine`: built once, every limit pinned (Rhai's defaults differ between debug
//! and release builds, so nothing is left to them), `eval` and `import` disabled, no module
//! resolver, strict variables. The per-rule wall-clock deadline is checked from
//! `on_progress` against the running rule's context (see `api`).

use rhai::Engine;

use super::api;

/// The limits of docs/rule-api.md, per rule per event.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub operations: u64,
    pub wall_clock_ms: u64,
    pub call_depth: usize,
    pub expression_depth: usize,
    pub string_bytes: usize,
    pub array_items: usize,
    pub map_keys: usize,
}

pub const LIMITS: Limits = Limits {
    operations: 1_000_000,
    wall_clock_ms: 1_000,
    call_depth: 32,
    expression_depth: 64,
    string_bytes: 64 * 1024,
    array_items: 10_000,
    map_keys: 1_000,
};

pub fn build_engine() -> Engine {
    let mut engine = Engine::new();
    engine.set_max_operations(LIMITS.operations);
    engine.set_max_call_levels(LIMITS.call_depth);
    engine.set_max_expr_depths(LIMITS.expression_depth, LIMITS.expression_depth);
    engine.set_max_string_size(LIMITS.string_bytes);
    engine.set_max_array_size(LIMITS.array_items);
    engine.set_max_map_size(LIMITS.map_keys);
    engine.set_strict_variables(true);
    engine.set_module_resolver(rhai::module_resolvers::DummyModuleResolver::new());
    engine.disable_symbol("eval");
    engine.disable_symbol("import");
    engine.on_print(api::log_line);
    engine.on_debug(|text, _source, _pos| api::log_line(text));
    engine.on_progress(|_operations| api::past_deadline().then(|| "wall clock".into()));
    api::register(&mut engine);
    refuse_text_number_comparisons(&mut engine);
    engine
}

/// Rhai answers `false` when text is compared with a number (`event.text > 5`), which hides
/// the mistake; these overloads make it a rule error in plain words instead. Fast operators
/// are off so that overloads of built-in types are consulted (operators on two values of
/// the same type still take Rhai's built-in path).
fn refuse_text_number_comparisons(engine: &mut Engine) {
    use rhai::{EvalAltResult, ImmutableString, Position, FLOAT, INT};
    fn refuse(op: &str, text: &str, number: String) -> Result<bool, Box<EvalAltResult>> {
        Err(Box::new(EvalAltResult::ErrorRuntime(
            format!(
                "text ({text:?}) was compared with a number ({number}) using {op}: text and numbers never match; \
                 turn the text into a number with parse_int(...), or the number into text with to_string()"
            )
            .into(),
            Position::NONE,
        )))
    }
    engine.set_fast_operators(false);
    for op in ["==", "!=", "<", ">", "<=", ">="] {
        engine.register_fn(op, move |t: ImmutableString, n: INT| {
            refuse(op, &t, n.to_string())
        });
        engine.register_fn(op, move |n: INT, t: ImmutableString| {
            refuse(op, &t, n.to_string())
        });
        engine.register_fn(op, move |t: ImmutableString, n: FLOAT| {
            refuse(op, &t, n.to_string())
        });
        engine.register_fn(op, move |n: FLOAT, t: ImmutableString| {
            refuse(op, &t, n.to_string())
        });
    }
}
