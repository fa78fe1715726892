//! Any text given to the parser yields a tree and diagnostics, never a
//! panic, and every diagnostic points inside the text.

#![no_main]

use flowc::diag::FileId;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let (_, diagnostics) = flowc::syntax::parse(text, FileId(0));
    for diagnostic in diagnostics {
        for label in diagnostic.labels {
            assert!(label.span.end as usize <= text.len(), "label past the end: {label:?}");
        }
    }
});
