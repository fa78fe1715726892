//! flowd, the Tok telephony runtime: answers SIP calls and runs the
//! compiled flows of `flowc`.

pub mod agents;
pub mod call;
pub mod config;
pub mod crm;
pub mod hooks;
pub mod http;
pub mod media;
pub mod outbox;
pub mod queue;
pub mod sip;
pub mod store;
