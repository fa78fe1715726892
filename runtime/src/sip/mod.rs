//! SIP for flowd: Tok's own message parser, transports, transactions and
//! the UAS core the call layer plugs into.

pub mod digest;
pub mod endpoint;
pub mod header;
pub mod message;
pub mod parse;
#[cfg(test)]
mod tests;
pub mod transaction;
pub mod transport;
pub mod uac;
pub mod uas;
