//! Media of a call: SDP offer/answer, RTP, G.711, RFC 4733 events, prompt
//! playback, spoken numbers and recording.

pub mod bridge;
pub mod dtmf;
pub mod g711;
pub mod ports;
pub mod prompt;
pub mod record;
pub mod rtp;
pub mod say;
pub mod sdp;
pub mod session;
