//! Parsing and checking any text as a flow with the shipped config never
//! panics.

#![no_main]

use flowc::project::{Project, PromptInventory};
use libfuzzer_sys::fuzz_target;

const CONFIG: &str = include_str!("../../../flows/tok.yaml");

fuzz_target!(|text: &str| {
    let mut project = Project::new(Some(("tok.yaml", CONFIG)), PromptInventory::default());
    project.add_flow("fuzz.flow", text);
    let _ = flowc::check::check(&project);
});
