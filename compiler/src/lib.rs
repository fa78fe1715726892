//! `flowc`: the checker, compiler, formatter and bytecode tools of Tok's
//! flow language.
//!
//! The library does no I/O of its own: callers hand it source texts, the
//! deployment config and the list of prompt files, and it hands back
//! diagnostics and bytecode. The CLI in `cli` is the only module that reads
//! or writes files.

pub mod bytecode;
pub mod check;
pub mod codegen;
pub mod config;
pub mod diag;
pub mod fmt;
pub mod number;
pub mod project;
pub mod sim;
pub mod syntax;
pub mod vm;
