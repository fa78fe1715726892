//! Compiling checked syntax trees to bytecode.
