//! The versioned bytecode format: encode, decode, verify, disassemble.
