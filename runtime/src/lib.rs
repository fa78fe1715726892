//! `flowd`: the telephony runtime that answers SIP calls and runs compiled
//! Tok flows over RTP.

pub mod media;
