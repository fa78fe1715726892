//! Lookups of contacts by phone in the built-in CRM (written below).

fn main() {}
