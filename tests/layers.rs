//! The module graph stays a set of layers: every top-level module of `src/` may use only
//! modules below it, read from its `crate::` paths. A new `use` that points upward (and so
//! would make a cycle) fails here with the edge that broke it. The layers, bottom up:
//! `domain`, then `config`, then the pipeline (decode/store/rules/providers/executor),
//! then `http`, `inbound` and `admin`, then `startup` and `cli`.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

/// Bottom up; a module may use any module on a lower line, none on its own line or above.
const LAYERS: &[&[&str]] = &[
    &["domain"],
    &["config"],
    &["metrics", "telemetry", "providers", "store"],
    &["rules", "supervisor", "executor"],
    &["worker", "dryrun"],
    &["backtest"],
    &["http"],
    &["inbound"],
    &["fixture"],
    &["admin"],
    &["startup"],
    &["cli"],
];

/// Every top-level module and the top-level modules its files name through `crate::`.
fn module_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for entry in fs::read_dir(src).unwrap() {
        let path = entry.unwrap().path();
        let stem = path.file_stem().unwrap().to_string_lossy().to_string();
        if stem == "lib" || stem == "main" {
            continue;
        }
        // `worker_tests.rs` holds `worker`'s unit tests: it is part of `worker`.
        let name = stem.strip_suffix("_tests").unwrap_or(&stem).to_string();
        let mut used = BTreeSet::new();
        for file in rust_files(&path) {
            let text = fs::read_to_string(&file).unwrap();
            for target in crate_paths(&text) {
                if target != name {
                    used.insert(target);
                }
            }
        }
        graph.entry(name).or_default().extend(used);
    }
    graph
}

fn rust_files(path: &Path) -> Vec<std::path::PathBuf> {
    if path.is_dir() {
        fs::read_dir(path)
            .unwrap()
            .flat_map(|e| rust_files(&e.unwrap().path()))
            .collect()
    } else if path.extension().is_some_and(|e| e == "rs") {
        vec![path.to_path_buf()]
    } else {
        Vec::new()
    }
}

/// The first segment after each `crate::`, including each item of `crate::{a, b::c}`.
fn crate_paths(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // The items of a group at depth one.
            let mut depth = 1;
            let mut item_start = true;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            rest = &group[i..];
                            break;
                        }
                    }
                    ',' if depth == 1 => item_start = true,
                    c if item_start && depth == 1 && (c.is_alphanumeric() || c == '_') => {
                        found.push(identifier(&group[i..]));
                        item_start = false;
                    }
                    _ => {}
                }
            }
        } else {
            found.push(identifier(rest));
        }
    }
    found.retain(|f| !f.is_empty() && f != "self");
    found
}

fn identifier(text: &str) -> String {
    text.chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

#[test]
fn every_top_level_module_uses_only_the_layers_below_it() {
    let graph = module_graph(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    let mut problems = Vec::new();
    for (module, used) in &graph {
        let Some(own) = layer_of(module) else {
            problems.push(format!("`{module}` is in no layer: add it to LAYERS"));
            continue;
        };
        for target in used {
            match layer_of(target) {
                Some(layer) if layer < own => {}
                Some(_) => problems.push(format!(
                    "`{module}` uses `crate::{target}`, which is not below it"
                )),
                None => problems.push(format!("`{module}` uses `crate::{target}`, in no layer")),
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_domain_layer_depends_on_no_other_module() {
    let graph = module_graph(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    assert_eq!(graph["domain"], BTreeSet::new());
}

#[test]
fn the_layer_check_sees_grouped_and_nested_paths() {
    let text = "use crate::{a, b::{c, d}, e::f};\nlet x = crate::g::h();\nuse crate::{\n    self,\n    i,\n};";
    assert_eq!(crate_paths(text), ["a", "b", "e", "g", "i"]);
}
