//! Reading `tok.yaml` into [`Config`].

use super::Config;
use super::reader::{Entry, Reader};
use super::sections::SECTIONS;
use super::yaml::{self, SyntaxError};
use crate::diag::{Code, Diagnostic, FileId};

/// Parses the config text. Problems are returned as diagnostics in file
/// order. The config contains every value that could be read, and defaults
/// for the rest.
pub fn parse(text: &str, file: FileId) -> (Config, Vec<Diagnostic>) {
    let mut config = Config {
        file: Some(file),
        ..Config::default()
    };
    let root = match yaml::load(text) {
        Ok(root) => root,
        Err(error) => return (config, vec![syntax_diagnostic(&error, file)]),
    };
    let mut reader = Reader::new(file);
    read_sections(&mut reader, &Entry::root(&root), &mut config);
    config.locations = reader.locations;
    let mut diagnostics = reader.diagnostics;
    diagnostics.sort_by_key(|d| d.primary_label().map(|l| l.span.start));
    (config, diagnostics)
}

/// Reads each known section in the order of [`SECTIONS`], after reporting
/// unknown top-level keys.
fn read_sections(reader: &mut Reader, root: &Entry, config: &mut Config) {
    let names = SECTIONS.map(|(name, _)| name);
    let entries = reader.fields(root, &names);
    for (name, read) in SECTIONS {
        if let Some(entry) = entries.iter().find(|e| e.key == name) {
            read(reader, entry, config);
        }
    }
}

fn syntax_diagnostic(error: &SyntaxError, file: FileId) -> Diagnostic {
    Diagnostic::new(Code::ConfigInvalid, format!("invalid YAML: {}", error.message))
        .primary(file, error.span, "the YAML parser stopped here")
        .help(
            "check this line and the lines before it for wrong indentation or a missing colon, quote or bracket",
        )
}
