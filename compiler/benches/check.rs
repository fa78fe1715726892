//! Time of a full `flowc check` (parse and every static check) on a
//! generated 5,000-line flow.

#![allow(missing_docs)]

mod large_flow;

use criterion::{Criterion, criterion_group, criterion_main};
use flowc::project::{Project, PromptInventory};
use std::hint::black_box;

fn prompts() -> PromptInventory {
    let mut inventory = PromptInventory {
        listed: true,
        ..PromptInventory::default()
    };
    for language in ["en", "sl"] {
        for name in large_flow::PROMPTS {
            inventory
                .files
                .insert((language.to_string(), name.to_string()));
        }
    }
    inventory
}

fn check_large_flow(c: &mut Criterion) {
    let text = large_flow::generate(5_000);
    let prompts = prompts();
    c.bench_function("check 5000-line flow", |b| {
        b.iter(|| {
            let mut project = Project::new(Some(("tok.yaml", large_flow::CONFIG)), prompts.clone());
            project.add_flow("large.flow", black_box(&text));
            black_box(flowc::check::check(&project))
        })
    });
    c.bench_function("parse 5000-line flow", |b| {
        b.iter(|| {
            black_box(flowc::syntax::parse(
                black_box(&text),
                flowc::diag::FileId(0),
            ))
        })
    });
}

criterion_group!(benches, check_large_flow);
criterion_main!(benches);
